"""State "MarkFailed": records a readable failure message and emits upload.failed."""
from aws_lambda_powertools import Logger

from catalog.imports import lifecycle
from catalog.shared.settings import get_settings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    summary = lifecycle.fail(get_settings(), event["import_id"], event.get("error"))
    logger.warning("import failed", extra={"summary": summary})
    return summary
