"""Starts an import for each object created under incoming/ (S3 -> SQS -> here)."""
import json
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from catalog.imports import lifecycle
from catalog.shared.emf import handler_metrics
from catalog.shared.settings import get_settings

logger = Logger()
metrics = handler_metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if body.get("Event") == "s3:TestEvent":
        return
    for s3_record in S3Event(body).records:
        s3_object = s3_record.s3.get_object
        outcome = lifecycle.start_from_object(
            get_settings(),
            bucket=s3_record.s3.bucket.name,
            key=unquote_plus(s3_object.key),
            size=s3_object.get("size"),
            version=s3_object.get("versionId") or s3_object.get("sequencer") or s3_object.get("eTag") or "",
            event_time=s3_record.event_time,
            metrics=metrics,
        )
        logger.info("import start", extra={"import_id": outcome.import_id, "started": outcome.started,
                                           "reason": outcome.reason})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
