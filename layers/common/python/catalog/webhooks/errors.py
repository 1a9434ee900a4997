"""What the webhooks context refuses."""
from __future__ import annotations

from catalog.shared.errors import Conflict, Invalid, NotFound


class EndpointNotFound(NotFound):
    def __init__(self, endpoint_id: str):
        super().__init__(f"webhook '{endpoint_id}' not found")


class DeliveryNotFound(NotFound):
    def __init__(self, delivery_id: str):
        super().__init__(f"delivery '{delivery_id}' not found for this webhook (records expire)")


class EndpointDisabled(Conflict):
    def __init__(self):
        super().__init__("the webhook is disabled; enable it to replay deliveries")


class RefusedUrl(Invalid):
    def __init__(self, reason: str):
        super().__init__(f"the URL is refused: {reason}", {"url": reason})
