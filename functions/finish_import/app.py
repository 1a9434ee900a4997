"""State "Finish": checks every chunk reported, joins the error report, emits upload.completed."""
from aws_lambda_powertools import Logger

from catalog.imports import lifecycle
from catalog.shared.settings import get_settings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    summary = lifecycle.finish(get_settings(), event["import_id"])
    logger.info("import finished", extra={"summary": summary})
    return summary
