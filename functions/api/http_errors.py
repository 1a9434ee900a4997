"""Error responses, mapped in one place: always JSON `{error, fields?}`, naming what was wrong."""
import json

from aws_lambda_powertools.event_handler import Response, content_types

from catalog.shared.errors import BadRequest, Conflict, DomainError, Invalid, NotFound, TooLarge

STATUS_OF = {NotFound: 404, Conflict: 409, BadRequest: 400, Invalid: 422, TooLarge: 413}


def error_response(status: int, message: str, fields: dict[str, str] | None = None) -> Response:
    body = {"error": message}
    if fields:
        body["fields"] = fields
    return Response(status, content_types.APPLICATION_JSON, json.dumps(body))


def domain_error_response(error: DomainError) -> Response:
    status = next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 500)
    return error_response(status, error.message, error.fields)


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
            return error_response(400, "the request body is not valid JSON")
        fields.setdefault(_field_name(error.get("loc", ())), message.removeprefix("Value error, "))
    summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return error_response(422, f"invalid request ({summary})", fields)
