"""Roles from the JWT claims the HTTP API's authorizer passes in: a reader may read (GET), an admin may
do everything, anyone else is refused with 403 and the usual `{error, fields}` body, before the request
is routed or validated. (401 for a missing or bad token is the authorizer's: tests/integration/test_auth.py.)"""
from __future__ import annotations

import json

import pytest

from tests.support.handlers import load_function_module
from tests.support.products_api import Api, Context

authorization = load_function_module("api", "authorization")


@pytest.mark.parametrize("claims, scopes, roles", [
    ({"scope": "catalog/admin"}, None, {"admin"}),
    ({"scope": "catalog/read"}, None, {"reader"}),
    ({"scope": "catalog/read catalog/admin"}, None, {"admin", "reader"}),
    ({"scope": "openid email"}, ["catalog/admin"], {"admin"}),               # the authorizer's list of scopes
    ({"cognito:groups": "[admins]"}, None, {"admin"}),                       # API Gateway's rendering of a list
    ({"cognito:groups": "[readers other]"}, None, {"reader"}),
    ({"cognito:groups": ["admins", "readers"]}, None, {"admin", "reader"}),  # a JSON list
    ({"cognito:groups": "admins,readers"}, None, {"admin", "reader"}),
    ({"cognito:groups": "[administrators]", "scope": "catalog/reader"}, None, set()),   # near misses give nothing
    ({"scope": "openid email"}, None, set()),
    ({}, None, set()),
    (None, None, set()),
])
def test_roles_come_from_groups_and_scopes(claims, scopes, roles):
    assert authorization.roles_of(claims, scopes) == roles


@pytest.mark.parametrize("method, roles, allowed", [
    ("GET", {"reader"}, True), ("HEAD", {"reader"}, True), ("GET", {"admin"}, True),
    ("POST", {"reader"}, False), ("PUT", {"reader"}, False), ("PATCH", {"reader"}, False),
    ("DELETE", {"reader"}, False), ("OPTIONS", {"reader"}, False),
    ("POST", {"admin"}, True), ("DELETE", {"admin"}, True), ("delete", {"admin"}, True),
    ("GET", set(), False), ("POST", set(), False),
])
def test_a_reader_reads_and_an_admin_does_everything(method, roles, allowed):
    assert authorization.allowed(method, roles) is allowed


@pytest.fixture
def api_as(aws, api_app):
    return lambda role: Api(api_app, role=role)


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)
@pytest.mark.parametrize("role", ["reader", "reader-user", "admin", "admin-user"])
def test_readers_and_admins_read(api_as, role):
    status, body = api_as(role)("GET", "/products")
    assert status == 200, body
    assert body["items"] == []


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)
@pytest.mark.parametrize("role", ["admin", "admin-user"])
def test_admins_write(api_as, role):
    status, body = api_as(role)("POST", "/products", {"sku": "AB-1", "name": "Ab"})
    assert status == 201, body
    assert body["sku"] == "AB-1"
    assert api_as(role)("DELETE", "/products/AB-1")[0] == 200


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)
@pytest.mark.parametrize("role", ["reader", "reader-user"])
@pytest.mark.parametrize("method, path, body", [
    ("POST", "/products", {"sku": "AB-1", "name": "Ab"}),
    ("DELETE", "/products", None),
    ("PUT", "/products/AB-1", {"sku": "AB-1", "name": "Ab"}),
    ("POST", "/imports", {"nonsense": True}),          # refused before validation: 403, not 422
    ("POST", "/webhooks", {"url": "https://example.com/hook"}),
])
def test_a_reader_is_refused_every_write_with_403(api_as, role, method, path, body):
    status, answer = api_as(role)(method, path, body)
    assert status == 403
    assert answer["error"] == f"forbidden: {method} {path} needs the admin role"
    assert "group admins or scope catalog/admin" in answer["fields"]["authorization"]
    assert api_as("admin")("GET", "/products")[1]["total"] == 0       # nothing was written


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)
def test_a_caller_without_a_role_may_not_even_read(api_as):
    status, answer = api_as("no-role")("GET", "/products")
    assert status == 403
    assert answer["error"] == "forbidden: GET /products needs the reader or admin role"
    assert answer["fields"]["authorization"].startswith("the token's roles (none)")


@pytest.mark.parametrize("aws", ["dynamodb"], indirect=True)
def test_a_request_without_authorizer_claims_is_refused(api_app, aws):
    """An API deployed without its authorizer passes no claims: nothing is allowed (fail closed)."""
    event = {"version": "2.0", "rawPath": "/products", "rawQueryString": "", "headers": {},
             "requestContext": {"http": {"method": "GET", "path": "/products"}, "stage": "$default"}}
    result = api_app.lambda_handler(event, Context())
    assert result["statusCode"] == 403
    assert json.loads(result["body"])["error"] == "forbidden: GET /products needs the reader or admin role"
