"""State "Plan": checks the file, counts its rows and writes the chunk manifest to S3."""
from aws_lambda_powertools import Logger

from catalog.imports import lifecycle
from catalog.shared.settings import get_settings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    plan = lifecycle.run_plan(get_settings(), event["import_id"])
    logger.info("planned", extra={"plan": plan})
    return plan
