"""The HTTP API: routes live in routers per resource; this module wires them together. Every request
is checked against the caller's role (authorization.py) before it is routed or validated."""
import json
import re

import authorization
import export_routes
import http_errors
import imports_routes
import mappings_routes
import products_routes
import webhooks_routes
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, OpenAPI

from catalog.shared.errors import DomainError

logger = Logger()
FRAMEWORK_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


class Resolver(APIGatewayHttpResolver):
    """Powertools' resolver, with path parameters as API Gateway has them and an OpenAPI document
    that keeps only what this API answers."""

    @staticmethod
    def _compile_regex(rule: str, base_regex: str = "^{}$"):
        """A path parameter is any run of characters but `/`, as `{name}` is to API Gateway, which hands
        the function the path decoded. Powertools' own pattern allows only URI and word characters: a
        product whose SKU holds `€`, `"` or `★` could be created, but then matched no route."""
        return re.compile(base_regex.format(re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", rule)))

    def get_openapi_schema(self, **kwargs) -> OpenAPI:
        """Powertools adds a 422 `HTTPValidationError` to every operation, but every 422 here is an
        `ErrorBody` (http_errors.validation_response), which each route that can answer 422 declares
        itself (schemas.responses): the framework's entries go."""
        document = super().get_openapi_schema(**kwargs).model_dump(by_alias=True, exclude_none=True)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                answers = operation.get("responses", {}) if isinstance(operation, dict) else {}
                kept = {status: answer for status, answer in answers.items()
                        if not any(f"/{name}" in json.dumps(answer) for name in FRAMEWORK_SCHEMAS)}
                if answers:
                    operation["responses"] = dict(sorted(kept.items(), key=lambda item: str(item[0])))
        for name in FRAMEWORK_SCHEMAS:
            document.get("components", {}).get("schemas", {}).pop(name, None)
        return OpenAPI.model_validate(document)


app = Resolver(enable_validation=True)
app.include_router(imports_routes.router)
app.include_router(mappings_routes.router)
app.include_router(products_routes.router)
app.include_router(export_routes.router)
app.include_router(webhooks_routes.router)
# The document /openapi.json and /docs serve: every operation needs a bearer token (a JWT of the
# stack's issuer: Cognito, or the local cloud's), checked by API Gateway before the function runs.
OPENAPI = {
    "title": "Product catalog importer API", "version": "1.0.0",
    "description": "Imports, products and webhooks. Every call needs `Authorization: Bearer <access token>`: "
                   "reads the reader or admin role, writes the admin role. Errors are JSON `{error, fields?}` "
                   "(`fields`: field name -> what is wrong), except API Gateway's own 401 `{message}`.",
    "security_schemes": {"bearerAuth": HTTPBearer(bearerFormat="JWT", description=(
        "An access token of the stack's issuer (Cognito user pool, or AuthIssuer): a signed-in user's "
        "(groups admins/readers) or a machine client's (scopes catalog/admin, catalog/read)"))},
    "security": [{"bearerAuth": []}],
}
app.enable_swagger(path="/docs", **OPENAPI)


@app.get("/openapi.json", include_in_schema=False)
def openapi_document():
    return Response(200, content_types.APPLICATION_JSON, app.get_openapi_json_schema(**OPENAPI))


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError):
    return http_errors.validation_response(error.errors())


@app.not_found
def no_route(_error):
    return http_errors.no_route_response(app.current_event.http_method, app.current_event.path)


@app.exception_handler(list(http_errors.STATUS_OF))
def domain_error(error: DomainError):
    """Each kind of domain error -> its one status (http_errors.STATUS_OF); any other error is a 500."""
    return http_errors.domain_error_response(error)


@logger.inject_lambda_context
def lambda_handler(event, context):
    return authorization.refusal(event) or http_errors.unsupported_body(event) or app.resolve(event, context)
