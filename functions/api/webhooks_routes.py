"""Routes for /webhooks: endpoints (CRUD, secret rotation), Test, the delivery log and Replay."""
import json
from typing import Annotated, Literal, Optional

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel, Field, field_validator
from schemas import DeliveryPage, ReplayQueued, TestResult, Webhook, WebhookDetail, WebhookList, WebhookWithSecret, responses

from catalog.shared import cursors
from catalog.shared.events import EVENT_TYPES
from catalog.shared.settings import WebhookSettings, get_settings
from catalog.webhooks import management
from catalog.webhooks.endpoints import ALL, EndpointStore, public_view
from catalog.webhooks.errors import EndpointNotFound
from catalog.webhooks.log import DeliveryLog

router = Router()
TAGS = ["Webhooks"]   # groups the operations on the docs page
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


def _settings() -> WebhookSettings:
    return get_settings().webhooks


def _store() -> EndpointStore:
    return EndpointStore(_settings().table, _settings().secrets_key_arn)


def _log() -> DeliveryLog:
    return DeliveryLog(_settings().table, _settings().log_ttl_seconds)


@router.post("/webhooks", summary="Create a webhook endpoint; the signing secret is returned only now", tags=TAGS,
             responses=responses(201, WebhookWithSecret, "Created, with its signing secret", 400, 415, 422))
def create_webhook(request: CreateWebhookRequest):
    management.check_endpoint_url(request.url, _settings())
    endpoint = _store().create(request.url, request.event_types, request.description, request.enabled)
    return Response(201, content_types.APPLICATION_JSON, {**public_view(endpoint), "secret": endpoint["secret"]})


@router.get("/webhooks", summary="All webhook endpoints", tags=TAGS,
            responses=responses(200, WebhookList, "Every endpoint"))
def list_webhooks():
    return {"items": [public_view(e) for e in _store().list()]}


@router.get("/webhooks/<endpoint_id>", summary="One webhook endpoint, with its recent deliveries", tags=TAGS,
            responses=responses(200, WebhookDetail, "The endpoint", 404, 422))
def get_webhook(endpoint_id: Annotated[str, Path(max_length=64)]):
    endpoint = public_view(management.found(_settings(), endpoint_id))
    endpoint["recent_deliveries"], _ = _log().list(endpoint_id, 20)
    return endpoint


@router.patch("/webhooks/<endpoint_id>", summary="Change URL, event types, description; enable or disable", tags=TAGS,
              responses=responses(200, Webhook, "The endpoint as stored", 400, 404, 415, 422))
def update_webhook(endpoint_id: Annotated[str, Path(max_length=64)], request: UpdateWebhookRequest):
    store = _store()
    management.found(_settings(), endpoint_id)
    changes = request.model_dump(exclude_none=True, exclude={"enabled"})
    if "url" in changes:
        management.check_endpoint_url(changes["url"], _settings())
    endpoint = store.update(endpoint_id, changes) if changes else store.get(endpoint_id)
    if endpoint is not None and request.enabled is True and (not endpoint.get("enabled") or endpoint.get("failing")):
        endpoint = store.enable(endpoint_id)
    elif endpoint is not None and request.enabled is False:
        endpoint = store.disable(endpoint_id, "disabled by a user")
    if endpoint is None:
        raise EndpointNotFound(endpoint_id)
    return public_view(endpoint)


@router.delete("/webhooks/<endpoint_id>", summary="Delete a webhook endpoint", tags=TAGS,
               responses=responses(204, None, "Deleted", 404, 422))
def delete_webhook(endpoint_id: Annotated[str, Path(max_length=64)]):
    if not _store().delete(endpoint_id):
        raise EndpointNotFound(endpoint_id)
    return Response(204)


@router.post("/webhooks/<endpoint_id>/rotate-secret",
             summary="New signing secret (returned only now); the old one keeps signing for 24 hours", tags=TAGS,
             responses=responses(200, WebhookWithSecret, "The endpoint, with its new secret", 404, 422))
def rotate_secret(endpoint_id: Annotated[str, Path(max_length=64)]):
    rotated = _store().rotate_secret(endpoint_id)
    if rotated is None:
        raise EndpointNotFound(endpoint_id)
    endpoint, secret = rotated
    return {**public_view(endpoint), "secret": secret}


@router.post("/webhooks/<endpoint_id>/test",
             summary="Send a signed sample event now; returns the status code and response time", tags=TAGS,
             responses=responses(200, TestResult, "How the receiver answered", 400, 404, 415, 422))
def test_webhook(endpoint_id: Annotated[str, Path(max_length=64)],
                 request: Annotated[Optional[TestWebhookRequest], Body()] = None):
    return management.send_test(_settings(), endpoint_id, (request or TestWebhookRequest()).event_type)


@router.get("/webhooks/<endpoint_id>/deliveries", summary="Recent delivery attempts, newest first", tags=TAGS,
            responses=responses(200, DeliveryPage, "One page of attempts", 400, 404, 422))
def list_deliveries(endpoint_id: Annotated[str, Path(max_length=64)],
                    limit: Annotated[int, Query(ge=1, le=100)] = 50,
                    next: Annotated[Optional[str], Query(description="Cursor from the previous page")] = None):
    management.found(_settings(), endpoint_id)
    purpose = f"deliveries:{endpoint_id}"
    after = cursors.decode(next, purpose, param="next") if next else None
    items, last = _log().list(endpoint_id, limit, after)
    return {"items": items, "next": cursors.encode(last, purpose) if last else None}


@router.post("/webhooks/<endpoint_id>/deliveries/<delivery_id>/replay",
             summary="Send a past delivery again (same webhook-id), through the deliveries queue", tags=TAGS,
             responses=responses(202, ReplayQueued, "Queued", 404, 409, 422))
def replay_delivery(endpoint_id: Annotated[str, Path(max_length=64)],
                    delivery_id: Annotated[str, Path(max_length=80)]):
    management.replay(_settings(), endpoint_id, delivery_id)
    return Response(202, content_types.APPLICATION_JSON,
                    json.dumps({"delivery_id": delivery_id, "endpoint_id": endpoint_id, "queued": True}))
