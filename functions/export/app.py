"""The export state machine's steps (one function, the step named by `action`):
begin -> write (looped while not done) -> finish; any failure -> fail."""
from aws_lambda_powertools import Logger

from catalog.products import export
from catalog.shared.failures import error_kind_and_cause
from catalog.shared.settings import get_settings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    settings = get_settings()
    action = event.get("action")
    if action == "begin":
        result = export.begin(settings, event["job_id"])
    elif action == "write":
        result = export.write(settings, event, context.get_remaining_time_in_millis)
    elif action == "finish":
        result = export.finish(settings, event)
    elif action == "fail":
        kind, cause = error_kind_and_cause(event.get("error"))
        logger.error("export failed", extra={"job_id": event["job_id"], "error_type": kind, "error_cause": cause})
        result = export.fail(settings, event["job_id"], event.get("error"), context.aws_request_id)
    else:
        raise ValueError(f"unknown action {action!r}")
    logger.info("export step", extra={"action": action, "job_id": event.get("job_id"), "rows": result.get("rows"),
                                      "done": result.get("done")})
    return result
