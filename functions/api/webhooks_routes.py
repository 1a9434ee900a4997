"""Routes for /webhooks: endpoints (CRUD, secret rotation), Test, the delivery log and Replay."""
import json
from typing import Annotated, Literal, Optional

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel, Field, field_validator

from catalog import cursors
from catalog.events import EVENT_TYPES
from catalog.webhooks import queue
from catalog.webhooks.config import get_config
from catalog.webhooks.endpoints import ALL, EndpointStore, public_view
from catalog.webhooks.log import DeliveryLog
from catalog.webhooks.urls import UnsafeUrlError, check_url
from catalog.webhooks.worker import attempt, sample_event
from http_errors import ApiError

router = Router()
EventType = Literal[
    "*", "product.created", "product.updated", "product.deleted", "products.deleted_all",
    "upload.completed", "upload.failed"]
assert set(EventType.__args__) == {ALL, *EVENT_TYPES}


def _unique(values: list[str]) -> list[str]:
    return [ALL] if ALL in values else sorted(set(values))


class CreateWebhookRequest(BaseModel):
    url: str = Field(min_length=1, max_length=2048, description="http(s) URL that receives signed POSTs")
    event_types: list[EventType] = Field(default_factory=lambda: [ALL], min_length=1,
                                         description="Event types to send; ['*'] for all")
    description: str = Field(default="", max_length=500)
    enabled: bool = True

    @field_validator("event_types")
    @classmethod
    def unique_types(cls, value: list[str]) -> list[str]:
        return _unique(value)


class UpdateWebhookRequest(BaseModel):
    url: Optional[str] = Field(default=None, min_length=1, max_length=2048)
    event_types: Optional[list[EventType]] = Field(default=None, min_length=1)
    description: Optional[str] = Field(default=None, max_length=500)
    enabled: Optional[bool] = None

    @field_validator("event_types")
    @classmethod
    def unique_types(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        return value if value is None else _unique(value)


class TestWebhookRequest(BaseModel):
    event_type: str = Field(default="webhook.test", max_length=64, description="type of the sample event")


def _store() -> EndpointStore:
    return EndpointStore(get_config().table)


def _found(endpoint_id: str) -> dict:
    endpoint = _store().get(endpoint_id)
    if endpoint is None:
        raise ApiError(404, f"webhook '{endpoint_id}' not found")
    return endpoint


def _check_url(url: str) -> None:
    try:
        check_url(url, get_config().allow_private_targets)
    except UnsafeUrlError as error:
        raise ApiError(422, f"the URL is refused: {error}", {"url": str(error)}) from None


@router.post("/webhooks", summary="Create a webhook endpoint; the signing secret is returned only now")
def create_webhook(request: CreateWebhookRequest):
    _check_url(request.url)
    endpoint = _store().create(request.url, request.event_types, request.description, request.enabled)
    return Response(201, content_types.APPLICATION_JSON, {**public_view(endpoint), "secret": endpoint["secret"]})


@router.get("/webhooks", summary="All webhook endpoints")
def list_webhooks():
    return {"items": [public_view(e) for e in _store().list()]}


@router.get("/webhooks/<endpoint_id>", summary="One webhook endpoint, with its recent deliveries")
def get_webhook(endpoint_id: Annotated[str, Path(max_length=64)]):
    endpoint = public_view(_found(endpoint_id))
    config = get_config()
    endpoint["recent_deliveries"], _ = DeliveryLog(config.table, config.log_ttl_seconds).list(endpoint_id, 20)
    return endpoint


@router.patch("/webhooks/<endpoint_id>", summary="Change URL, event types, description; enable or disable")
def update_webhook(endpoint_id: Annotated[str, Path(max_length=64)], request: UpdateWebhookRequest):
    store = _store()
    _found(endpoint_id)
    changes = request.model_dump(exclude_none=True, exclude={"enabled"})
    if "url" in changes:
        _check_url(changes["url"])
    endpoint = store.update(endpoint_id, changes) if changes else store.get(endpoint_id)
    if endpoint is not None and request.enabled is True and (not endpoint.get("enabled") or endpoint.get("failing")):
        endpoint = store.enable(endpoint_id)
    elif endpoint is not None and request.enabled is False:
        endpoint = store.disable(endpoint_id, "disabled by a user")
    if endpoint is None:
        raise ApiError(404, f"webhook '{endpoint_id}' not found")
    return public_view(endpoint)


@router.delete("/webhooks/<endpoint_id>", summary="Delete a webhook endpoint")
def delete_webhook(endpoint_id: Annotated[str, Path(max_length=64)]):
    if not _store().delete(endpoint_id):
        raise ApiError(404, f"webhook '{endpoint_id}' not found")
    return Response(204, content_types.APPLICATION_JSON, "")


@router.post("/webhooks/<endpoint_id>/rotate-secret",
             summary="New signing secret (returned only now); the old one keeps signing for 24 hours")
def rotate_secret(endpoint_id: Annotated[str, Path(max_length=64)]):
    rotated = _store().rotate_secret(endpoint_id)
    if rotated is None:
        raise ApiError(404, f"webhook '{endpoint_id}' not found")
    endpoint, secret = rotated
    return {**public_view(endpoint), "secret": secret}


@router.post("/webhooks/<endpoint_id>/test",
             summary="Send a signed sample event now; returns the status code and response time")
def test_webhook(endpoint_id: Annotated[str, Path(max_length=64)],
                 request: Annotated[Optional[TestWebhookRequest], Body()] = None):
    endpoint = _found(endpoint_id)
    config = get_config()
    event = sample_event((request or TestWebhookRequest()).event_type, endpoint_id)
    delivery_id = "msg_test_" + event["id"].removeprefix("evt_test_")
    result = attempt(endpoint, delivery_id, event, config)
    log = DeliveryLog(config.table, config.log_ttl_seconds)
    log.record([log.attempt_record(endpoint_id, delivery_id, event, 1, status_code=result.status_code,
                                   response_ms=result.response_ms, error=result.error,
                                   outcome="delivered" if result.ok else "failed", kind="test",
                                   response_excerpt=result.response_excerpt)])
    _store().record_attempt(endpoint_id, status_code=result.status_code, response_ms=result.response_ms,
                            ok=result.ok, error=result.error, counts_as_failure=False)
    return {"ok": result.ok, "status_code": result.status_code, "response_ms": result.response_ms,
            "error": result.error, "webhook_id": delivery_id, "event": event}


@router.get("/webhooks/<endpoint_id>/deliveries", summary="Recent delivery attempts, newest first")
def list_deliveries(endpoint_id: Annotated[str, Path(max_length=64)],
                    limit: Annotated[int, Query(ge=1, le=100)] = 50,
                    next: Annotated[Optional[str], Query(description="Cursor from the previous page")] = None):
    _found(endpoint_id)
    after = None
    if next:
        try:
            after = cursors.decode(next, f"deliveries:{endpoint_id}")
        except cursors.BadCursorError as error:
            raise ApiError(400, str(error), {"next": str(error)}) from None
    config = get_config()
    items, last = DeliveryLog(config.table, config.log_ttl_seconds).list(endpoint_id, limit, after)
    return {"items": items, "next": cursors.encode(last, f"deliveries:{endpoint_id}") if last else None}


@router.post("/webhooks/<endpoint_id>/deliveries/<delivery_id>/replay",
             summary="Send a past delivery again (same webhook-id), through the deliveries queue")
def replay_delivery(endpoint_id: Annotated[str, Path(max_length=64)],
                    delivery_id: Annotated[str, Path(max_length=80)]):
    endpoint = _found(endpoint_id)
    config = get_config()
    record = DeliveryLog(config.table, config.log_ttl_seconds).get_delivery(delivery_id)
    if record is None or record["endpoint_id"] != endpoint_id:
        raise ApiError(404, f"delivery '{delivery_id}' not found for this webhook (records expire)")
    if not endpoint.get("enabled"):
        raise ApiError(409, "the webhook is disabled; enable it to replay deliveries")
    queue.send(config.deliveries_queue_url, [queue.message(delivery_id, endpoint_id, record["event"], kind="replay")])
    return Response(202, content_types.APPLICATION_JSON,
                    json.dumps({"delivery_id": delivery_id, "endpoint_id": endpoint_id, "queued": True}))
