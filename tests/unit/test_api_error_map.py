"""One error map: every kind of domain error becomes one HTTP status with the documented
`{error, fields?}` body, and the OpenAPI document groups operations by resource."""
from __future__ import annotations

import json

import pytest

from catalog.imports.errors import ImportEnded, ImportNotFound, UploadTooLarge
from catalog.products.errors import BadQueryError, DeleteAllRunning, ProductExists, SkuChanged
from catalog.shared.cursors import BadCursorError
from catalog.webhooks.errors import EndpointNotFound, RefusedUrl


@pytest.mark.parametrize("error, status, fields", [
    (ImportNotFound("imp_1"), 404, None),
    (EndpointNotFound("wh_1"), 404, None),
    (ImportEnded("SUCCEEDED"), 409, None),
    (DeleteAllRunning("del_1"), 409, None),
    (ProductExists("ABC-1"), 409, {"sku"}),
    (BadCursorError("the cursor is malformed", "next"), 400, {"next"}),
    (BadQueryError("limit", "must be between 1 and 200"), 400, {"limit"}),
    (SkuChanged("ABC-1"), 422, {"sku"}),
    (RefusedUrl("the URL has no host"), 422, {"url"}),
    (UploadTooLarge(10, 5), 413, {"size"}),
])
def test_each_kind_of_domain_error_has_one_status_and_names_the_field(api_app, error, status, fields):
    response = api_app.http_errors.domain_error_response(error)
    body = json.loads(response.body)
    assert response.status_code == status
    assert body["error"] == error.message
    assert (set(body["fields"]) if "fields" in body else None) == fields


def test_the_api_maps_domain_errors_through_its_exception_handlers(api):
    status, body = api("GET", "/imports/imp_20240101T000000_000000000000")
    assert (status, body) == (404, {"error": "import 'imp_20240101T000000_000000000000' not found"})
    status, body = api("GET", "/products", query={"cursor": "not-a-cursor"})
    assert status == 400 and set(body["fields"]) == {"cursor"}


def test_operations_are_tagged_by_resource(api):
    status, document = api("GET", "/openapi.json")
    assert status == 200
    tags = {path.split("/")[1]: {tag for op in ops.values() for tag in op.get("tags", ["<none>"])}
            for path, ops in document["paths"].items()}
    assert tags == {"imports": {"Imports"}, "mappings": {"Column mappings"}, "products": {"Products"},
                    "webhooks": {"Webhooks"}}


def test_the_document_states_the_token_and_every_answer(api):
    """What the fuzzing (tests/integration/test_api_fuzz.py) found missing from /openapi.json: the
    bearer token, the non-200 successes (201, 202, 204, 302), the 4xx each route answers, and the
    error body (Powertools documented its own 422 `HTTPValidationError`, which the API never sends)."""
    status, document = api("GET", "/openapi.json")
    assert status == 200
    assert document["components"]["securitySchemes"] == {"bearerAuth": {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"]}}
    assert document["security"] == [{"bearerAuth": []}]
    assert "HTTPValidationError" not in json.dumps(document)
    successes = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert answers["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/GatewayError"}
            for code, answer in answers.items():
                if code.startswith("4") and code != "401":
                    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
            successes[f"{method.upper()} {path}"] = [c for c in answers if c.startswith(("2", "3"))]
            if "parameters" in operation or "requestBody" in operation:
                assert "422" in answers, (method, path)
            if "requestBody" in operation:
                assert {"400", "415"} <= set(answers), (method, path)
    assert successes["POST /products"] == ["201"] and successes["POST /imports"] == ["201"]
    assert successes["DELETE /products"] == ["202"] and sorted(successes["GET /imports/{import_id}/errors"]) == ["200", "302"]
    assert successes["DELETE /webhooks/{endpoint_id}"] == ["204"]
    assert document["paths"]["/webhooks/{endpoint_id}"]["delete"]["responses"]["204"].get("content", {}) == {}
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["error"]
    assert document["components"]["schemas"]["ErrorBody"]["additionalProperties"] is False
