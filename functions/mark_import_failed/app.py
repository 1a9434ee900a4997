"""State "MarkFailed": records a readable failure message and a request id, emits upload.failed.

The raw error (a Lambda error's message can name roles, accounts and ARNs) goes to this log only,
under this invocation's request id, which users see beside the message."""
from aws_lambda_powertools import Logger

from catalog.imports import lifecycle
from catalog.shared.emf import handler_metrics
from catalog.shared.failures import error_kind_and_cause
from catalog.shared.settings import get_settings

logger = Logger()
metrics = handler_metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    kind, cause = error_kind_and_cause(event.get("error"))
    logger.error("import failed", extra={"import_id": event["import_id"], "error_type": kind, "error_cause": cause})
    summary = lifecycle.fail(get_settings(), event["import_id"], event.get("error"), context.aws_request_id, metrics)
    logger.info("import marked failed", extra={"summary": summary})
    return summary
