"""Events queue -> one delivery message per subscribed, enabled webhook endpoint (deliveries queue)."""
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from catalog.shared.settings import get_settings
from catalog.webhooks.fanout import fan_out_messages

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
def lambda_handler(event, context):
    errors = fan_out_messages(get_settings().webhooks, {r["messageId"]: r.get("body", "") for r in event.get("Records", [])})

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in errors:
            raise errors[record.message_id]

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
