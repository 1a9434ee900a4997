"""State "Finish": checks every chunk reported, joins the error report, emits upload.completed."""
from aws_lambda_powertools import Logger

from catalog.imports import lifecycle
from catalog.shared.emf import handler_metrics
from catalog.shared.settings import get_settings

logger = Logger()
metrics = handler_metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    summary = lifecycle.finish(get_settings(), event["import_id"], metrics)
    logger.info("import finished", extra={"summary": summary})
    return summary
