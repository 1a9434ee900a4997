"""Error responses: always JSON, always naming what was wrong."""
import json

from aws_lambda_powertools.event_handler import Response, content_types


class ApiError(Exception):
    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.fields = status, message, fields

    def response(self) -> Response:
        body = {"error": self.message}
        if self.fields:
            body["fields"] = self.fields
        return Response(self.status, content_types.APPLICATION_JSON, json.dumps(body))


def _field_name(location) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_response(errors: list[dict]) -> Response:
    fields: dict[str, str] = {}
    for error in errors:
        message = error.get("msg", "is invalid")
        if error.get("type") == "missing":
            message = "is required"
        elif error.get("type") == "json_invalid":
            return ApiError(400, "the request body is not valid JSON").response()
        fields.setdefault(_field_name(error.get("loc", ())), message.removeprefix("Value error, "))
    summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return ApiError(422, f"invalid request ({summary})", fields).response()
