"""The delete-all state machine's steps (one function, the step named by `action`):
plan -> segment (Map item, looped while not done) -> finish; any failure -> fail."""
from aws_lambda_powertools import Logger

from catalog.products import delete_all
from catalog.shared.failures import error_kind_and_cause
from catalog.shared.settings import get_settings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    settings = get_settings()
    action = event.get("action")
    if action == "plan":
        result = delete_all.plan(settings, event["job_id"])
    elif action == "segment":
        result = delete_all.delete_segment(settings, event, context.get_remaining_time_in_millis)
    elif action == "finish":
        result = delete_all.finish(settings, event["job_id"])
    elif action == "fail":
        kind, cause = error_kind_and_cause(event.get("error"))
        logger.error("delete-all failed", extra={"job_id": event["job_id"], "error_type": kind, "error_cause": cause})
        result = delete_all.fail(settings, event["job_id"], event.get("error"), context.aws_request_id)
    else:
        raise ValueError(f"unknown action {action!r}")
    logger.info("delete-all step", extra={"action": action, "job_id": event.get("job_id"),
                                          "done": result.get("done") if isinstance(result, dict) else None})
    return result
