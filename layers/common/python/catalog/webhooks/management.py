"""What people do with endpoints beyond storing them: check a URL before saving it, send a test
event now, replay a past delivery."""
from __future__ import annotations

from catalog.shared.settings import WebhookSettings
from catalog.webhooks import queue
from catalog.webhooks.endpoints import EndpointStore
from catalog.webhooks.errors import DeliveryNotFound, EndpointDisabled, EndpointNotFound, RefusedUrl
from catalog.webhooks.log import DeliveryLog
from catalog.webhooks.urls import UnsafeUrlError, check_url
from catalog.webhooks.worker import attempt, sample_event


def check_endpoint_url(url: str, settings: WebhookSettings) -> None:
    """RefusedUrl when the URL may not receive deliveries (syntax, private targets, metadata)."""
    try:
        check_url(url, settings.allow_private_targets)
    except UnsafeUrlError as error:
        raise RefusedUrl(str(error)) from None


def found(settings: WebhookSettings, endpoint_id: str) -> dict:
    endpoint = EndpointStore(settings.table, settings.secrets_key_arn).get(endpoint_id)
    if endpoint is None:
        raise EndpointNotFound(endpoint_id)
    return endpoint


def send_test(settings: WebhookSettings, endpoint_id: str, event_type: str) -> dict:
    """Sends a signed sample event now, records the attempt, and says how it went."""
    endpoint = found(settings, endpoint_id)
    event = sample_event(event_type, endpoint_id)
    delivery_id = "msg_test_" + event["id"].removeprefix("evt_test_")
    result = attempt(endpoint, delivery_id, event, settings)
    log = DeliveryLog(settings.table, settings.log_ttl_seconds)
    log.record([log.attempt_record(endpoint_id, delivery_id, event, 1, status_code=result.status_code,
                                   response_ms=result.response_ms, error=result.error,
                                   outcome="delivered" if result.ok else "failed", kind="test",
                                   response_excerpt=result.response_excerpt)])
    EndpointStore(settings.table, settings.secrets_key_arn).record_attempt(endpoint_id, status_code=result.status_code,
                                                 response_ms=result.response_ms, ok=result.ok, error=result.error,
                                                 counts_as_failure=False)
    return {"ok": result.ok, "status_code": result.status_code, "response_ms": result.response_ms,
            "error": result.error, "webhook_id": delivery_id, "event": event}


def replay(settings: WebhookSettings, endpoint_id: str, delivery_id: str) -> None:
    """Queues a past delivery again with the same webhook-id."""
    endpoint = found(settings, endpoint_id)
    record = DeliveryLog(settings.table, settings.log_ttl_seconds).get_delivery(delivery_id)
    if record is None or record["endpoint_id"] != endpoint_id:
        raise DeliveryNotFound(delivery_id)
    if not endpoint.get("enabled"):
        raise EndpointDisabled()
    queue.send(settings.deliveries_queue_url,
               [queue.message(delivery_id, endpoint_id, record["event"], kind="replay")])
