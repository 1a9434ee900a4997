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


def unsupported_body(event: dict) -> dict | None:
    """The answer (payload 2.0) to a request whose body is not JSON, before any route reads it; None
    for a JSON body or none. The API reads JSON only, as its document says: left to itself Powertools'
    validation would also read form bodies, and answer 500 to a multipart body without a boundary."""
    content_type = (event.get("headers") or {}).get("content-type", "")
    if not event.get("body") or not content_type or content_type.strip().lower().startswith("application/json"):
        return None
    body = {"error": f"the request body must be JSON (Content-Type: application/json), not {content_type[:80]}",
            "fields": {"body": "must be application/json"}}
    return {"statusCode": 415, "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps(body), "isBase64Encoded": False}


def no_route_response(method: str, path: str) -> Response:
    """A request the router finds no route for (API Gateway passes on only the template's routes, so
    only a path the routes here match differently gets this)."""
    return error_response(404, f"no route for {method} {path[:200]}")


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
