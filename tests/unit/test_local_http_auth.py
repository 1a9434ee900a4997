"""The local HTTP API's JWT authorizer, as API Gateway's: read from a template's `Auth` (default
authorizer, a route's `Authorizer: NONE` or another authorizer, AuthorizationScopes), tokens checked
against the issuer's JWKS (fetched through its discovery document, cached), claims handed to the
function as payload 2.0 does. The end-to-end checks against template.yaml are in
tests/integration/test_auth.py; these cover what the template does not use today."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from werkzeug.test import Client, EnvironBuilder

from local import template as tpl
from local.http_api import HttpApiApp, JwtAuthorizer, Route, api_gateway_claims, route_auth_from_template
from local.identity import LocalIssuer

ISSUER = "http://127.0.0.1:9/local-auth"


def template(api_auth: dict, route_auth: dict | None = None) -> dict:
    open_event = {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}, "Method": "GET", "Path": "/health",
                                                    **({"Auth": route_auth} if route_auth else {})}}
    return {
        "Parameters": {"Issuer": {"Type": "String", "Default": ISSUER},
                       "Audience": {"Type": "CommaDelimitedList", "Default": "web,machine"}},
        "Resources": {
            "Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {"Auth": api_auth}},
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.handler", "Events": {
                "List": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "Api"}, "Method": "get",
                                                           "Path": "/things"}},
                "Health": open_event}}},
        },
    }


JWT_AUTH = {"DefaultAuthorizer": "Main", "Authorizers": {"Main": {
    "IdentitySource": "$request.header.Authorization",
    "JwtConfiguration": {"issuer": {"Ref": "Issuer"}, "audience": {"Ref": "Audience"}}}}}


def resolve(t: dict) -> dict:
    return route_auth_from_template(t, tpl.Resolver(t, "stack"))


def test_the_default_authorizer_guards_every_route_and_none_opens_one():
    routes = resolve(template(JWT_AUTH, {"Authorizer": "NONE"}))
    assert routes["GET /health"].authorizer is None
    main = routes["GET /things"].authorizer
    assert (main.name, main.issuer, main.audience) == ("Main", ISSUER, ["web", "machine"])
    assert routes["GET /things"].scopes == []


def test_route_scopes_and_a_route_naming_its_authorizer():
    auth = {**JWT_AUTH, "Authorizers": {**JWT_AUTH["Authorizers"], "Other": {
        "JwtConfiguration": {"issuer": "https://other.example", "audience": ["x"]}, "AuthorizationScopes": ["a/b"]}}}
    routes = resolve(template(auth, {"Authorizer": "Other"}))
    assert routes["GET /health"].authorizer.name == "Other" and routes["GET /health"].scopes == ["a/b"]
    routes = resolve(template(JWT_AUTH, {"AuthorizationScopes": ["catalog/read"]}))
    assert routes["GET /health"].authorizer.name == "Main" and routes["GET /health"].scopes == ["catalog/read"]


def test_no_auth_block_leaves_the_routes_open():
    assert {key: auth.authorizer for key, auth in resolve(template({})).items()} == \
        {"GET /things": None, "GET /health": None}


@pytest.mark.parametrize("api_auth, route_auth, message", [
    (JWT_AUTH, {"Authorizer": "Missing"}, "names authorizer Missing"),
    ({"DefaultAuthorizer": "Lambda", "Authorizers": {"Lambda": {"FunctionArn": "arn"}}}, None, "JWT authorizers only"),
])
def test_what_the_local_cloud_cannot_apply_is_refused(api_auth, route_auth, message):
    with pytest.raises(ValueError, match=message):
        resolve(template(api_auth, route_auth))


class Functions:
    """Records the events the API hands to the function."""

    def __init__(self):
        self.events = []

    def invoke(self, name, event):
        self.events.append(event)
        return {"statusCode": 200, "body": json.dumps({"ok": True})}


@pytest.fixture
def served():
    issuer = LocalIssuer(ISSUER)
    fetched = []

    def fetch(url):
        fetched.append(url)
        path = url[len("http://127.0.0.1:9"):]
        return json.loads(issuer.dispatch(EnvironBuilder(path=path).get_request()).get_data())
    t = template(JWT_AUTH, {"Authorizer": "NONE"})
    routes = resolve(t)
    for auth in routes.values():
        if auth.authorizer:
            auth.authorizer.fetch = fetch
    functions = Functions()
    app = HttpApiApp([Route.of("GET", "/things", "Fn"), Route.of("GET", "/health", "Fn")], functions,
                     web_dir=Path("/nonexistent"), config_js="", auth=routes)
    return Client(app), issuer, functions, fetched


def test_a_good_token_reaches_the_function_with_its_claims(served):
    client, issuer, functions, fetched = served
    token = issuer.access_token("machine", ["catalog/read", "catalog/admin"])
    for header in (f"Bearer {token}", token, f"bearer  {token}"):      # the Bearer prefix is optional
        response = client.get("/things", headers={"Authorization": header})
        assert response.status_code == 200, response.get_data(as_text=True)
    context = functions.events[-1]["requestContext"]["authorizer"]["jwt"]
    assert context["scopes"] == ["catalog/read", "catalog/admin"]
    assert context["claims"]["client_id"] == "machine" and isinstance(context["claims"]["exp"], str)
    assert fetched == [f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/.well-known/jwks.json"]   # once


def test_an_open_route_needs_no_token_and_gets_no_claims(served):
    client, _, functions, _ = served
    assert client.get("/health").status_code == 200
    assert "authorizer" not in functions.events[-1]["requestContext"]


def test_refusals_are_401_and_never_reach_the_function(served):
    client, issuer, functions, _ = served
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"},
                    {"Authorization": f"Bearer {issuer.access_token('someone-else', [])}"},
                    {"Authorization": f"Bearer {issuer.access_token('machine', [], lifetime=-60)}"}):
        response = client.get("/things", headers=headers)
        assert response.status_code == 401 and response.json == {"message": "Unauthorized"}, headers
    assert functions.events == []


def test_a_rotated_key_is_found_by_fetching_the_keys_again():
    old, new = LocalIssuer(ISSUER), LocalIssuer(ISSUER)
    serving = [old]

    def fetch(url):
        if url.endswith("openid-configuration"):
            return serving[0].discovery()
        return serving[0].jwks()
    authorizer = JwtAuthorizer("Main", ISSUER, ["machine"], fetch=fetch)
    assert authorizer.claims_of(old.access_token("machine", []))["client_id"] == "machine"
    serving[0] = new
    assert authorizer.claims_of(new.access_token("machine", []))["client_id"] == "machine"


def test_claims_are_rendered_as_api_gateway_renders_them():
    assert api_gateway_claims({"cognito:groups": ["admins", "readers"], "exp": 17, "email_verified": True,
                               "scope": "a b"}) == \
        {"cognito:groups": "[admins readers]", "exp": "17", "email_verified": "true", "scope": "a b"}
