"""Map item "ProcessChunk": validates and upserts one chunk of rows."""
from aws_lambda_powertools import Logger

from catalog.imports.chunks import process_chunk
from catalog.shared.settings import get_settings

logger = Logger()


@logger.inject_lambda_context
def lambda_handler(event, context):
    result = process_chunk(get_settings(), event)
    logger.info("chunk processed", extra={"import_id": event["import_id"], "chunk": result})
    return result
