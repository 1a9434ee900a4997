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
    assert tags == {"imports": {"Imports"}, "products": {"Products"}, "webhooks": {"Webhooks"}}
