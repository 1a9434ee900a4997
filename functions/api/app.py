"""The HTTP API: routes live in routers per resource; this module wires them together. Every request
is checked against the caller's role (authorization.py) before it is routed or validated."""
import authorization
import http_errors
import imports_routes
import products_routes
import webhooks_routes
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from catalog.shared.errors import DomainError

logger = Logger()
app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(imports_routes.router)
app.include_router(products_routes.router)
app.include_router(webhooks_routes.router)
app.enable_swagger(path="/docs", title="Product catalog importer API", version="1.0.0",
                   description="Imports, products and webhooks. Errors are JSON: {error, fields?}.")


@app.get("/openapi.json", include_in_schema=False)
def openapi_document():
    return Response(200, content_types.APPLICATION_JSON,
                    app.get_openapi_json_schema(title="Product catalog importer API", version="1.0.0"))


@app.exception_handler(RequestValidationError)
def invalid_request(error: RequestValidationError):
    return http_errors.validation_response(error.errors())


@app.exception_handler(list(http_errors.STATUS_OF))
def domain_error(error: DomainError):
    """Each kind of domain error -> its one status (http_errors.STATUS_OF); any other error is a 500."""
    return http_errors.domain_error_response(error)


@logger.inject_lambda_context
def lambda_handler(event, context):
    return authorization.refusal(event) or app.resolve(event, context)
