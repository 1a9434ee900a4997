"""Events queue -> one delivery message per subscribed, enabled webhook endpoint (deliveries queue)."""
import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from catalog.webhooks import fanout
from catalog.webhooks.config import get_config
from catalog.webhooks.endpoints import EndpointStore

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
def lambda_handler(event, context):
    """The whole batch is fanned out together (a few SendMessageBatch calls instead of one per event);
    if that fails, every record is reported failed and retried, which is safe: delivery ids are stable."""
    config = get_config()
    envelopes, unreadable = {}, {}
    for record in event.get("Records", []):
        try:
            envelopes[record["messageId"]] = json.loads(record["body"])
        except ValueError as error:
            unreadable[record["messageId"]] = error
    failure = None
    try:
        if envelopes:
            endpoints = EndpointStore(config.table).list()
            queued = fanout.fan_out(list(envelopes.values()), endpoints, config)
            logger.debug("fanned out", extra={"events": len(envelopes), "deliveries": queued})
    except Exception as error:  # noqa: BLE001 - reported per record below
        logger.exception("fan-out failed")
        failure = error

    def record_handler(record: SQSRecord) -> None:
        error = unreadable.get(record.message_id) or failure
        if error is not None:
            raise error

    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
