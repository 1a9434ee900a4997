"""Deliveries queues -> signed POSTs to webhook endpoints (catalog.webhooks.delivery).

A record fails (and SQS redelivers it, via Powertools' partial batch response) only when the
infrastructure did; a receiver's failure is retried by the domain with a delayed message."""
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from catalog.shared.emf import handler_metrics
from catalog.shared.settings import get_settings
from catalog.webhooks.delivery import Received, deliver_batch

logger = Logger()
metrics = handler_metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    received = [Received(r["messageId"], r.get("body", ""), r.get("eventSourceARN", "")) for r in event.get("Records", [])]
    errors = deliver_batch(get_settings().webhooks, received, metrics)

    def record_handler(record: SQSRecord) -> None:
        if errors.get(record.message_id) is not None:
            raise errors[record.message_id]

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
