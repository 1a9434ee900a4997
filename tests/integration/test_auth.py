"""Authentication and roles end to end through the local cloud: the HTTP API's JWT authorizer, read
from template.yaml, checks tokens of the local issuer (401 before any function runs); the API function
decides between the roles from the claims it is handed (403).

The routes are read from the template, so a route added later is covered without touching this file."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from local import template as tpl
from local.cloud import ROOT
from local.http_api import route_auth_from_template
from local.identity import LocalIssuer, issuer_of
from tests.support.auth import api_session, token

UNAUTHORIZED = {"message": "Unauthorized"}


def template_routes() -> list[tuple[str, str]]:
    """Every HttpApi route of every function in template.yaml: (method, path)."""
    template = tpl.load(ROOT / "template.yaml")
    routes = []
    for logical in tpl.resources_of(template, "AWS::Serverless::Function"):
        for event in tpl.function_properties(template, logical).get("Events", {}).values():
            if event["Type"] == "HttpApi":
                routes.append((event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    assert routes, "the template declares no HTTP API route"
    return sorted(routes)


ROUTES = template_routes()
WRITE_ROUTES = [r for r in ROUTES if r[0] != "GET"]
READ_ROUTES = [r for r in ROUTES if r[0] == "GET"]


def url_of(cloud, path: str) -> str:
    """The route's path with a made-up value in each parameter."""
    return cloud.api_url + re.sub(r"\{[^}]+\}", "x-1", path)


def call(cloud, method: str, path: str, headers: dict | None = None) -> requests.Response:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return requests.request(method, url_of(cloud, path), json=body, headers=headers or {}, timeout=30,
                            allow_redirects=False)


@pytest.fixture
def bad_tokens(local_cloud) -> dict[str, str]:
    """Tokens the authorizer must refuse, each for one reason."""
    issuer = local_cloud.identity
    stranger = LocalIssuer("http://127.0.0.1:9/other-issuer")           # another issuer, its own key
    impostor = LocalIssuer(issuer.issuer)                                 # the right issuer's name, another key
    now = int(time.time())
    return {
        "garbage": "not-a-jwt",
        "expired": issuer.access_token("local-admin", ["catalog/admin"], lifetime=-120),
        "not yet valid": issuer.sign({"iss": issuer.issuer, "sub": "local-admin", "client_id": "local-admin",
                                      "token_use": "access", "scope": "catalog/admin", "iat": now,
                                      "nbf": now + 3600, "exp": now + 7200}),
        "wrong issuer": stranger.access_token("local-admin", ["catalog/admin"]),
        "unknown signing key": impostor.access_token("local-admin", ["catalog/admin"]),
        "wrong audience": issuer.access_token("some-other-client", ["catalog/admin"]),
        "tampered": _tampered(issuer.access_token("local-reader", ["catalog/read"])),
        "unsigned": jwt.encode({"iss": issuer.issuer, "client_id": "local-admin", "scope": "catalog/admin",
                                "exp": now + 3600}, None, algorithm="none"),
    }


def _tampered(token_text: str) -> str:
    """The token with its scope changed to catalog/admin and the signature kept."""
    header, payload, signature = token_text.split(".")
    claims = jwt.decode(token_text, options={"verify_signature": False})
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "scope": "catalog/admin"}).encode()).rstrip(b"=").decode()
    assert forged != payload
    return f"{header}.{forged}.{signature}"


def test_the_local_cloud_serves_every_template_route_behind_the_authorizer(local_cloud):
    served = sorted((route.method, route.path) for route in local_cloud.routes)
    assert served == ROUTES
    assert len(ROUTES) >= 23
    guarded = route_auth_from_template(local_cloud.template, local_cloud.resolver)
    assert sorted(guarded) == sorted(f"{method} {path}" for method, path in ROUTES)
    assert {key: auth.authorizer.name for key, auth in guarded.items() if auth.authorizer} == \
        {f"{method} {path}": "CatalogAuthorizer" for method, path in ROUTES}          # no route opts out
    assert {auth.authorizer.issuer for auth in guarded.values()} == {issuer_of(local_cloud.api_url)}


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_answers_401_without_a_token(local_cloud, method, path):
    response = call(local_cloud, method, path)
    assert response.status_code == 401, response.text
    assert response.json() == UNAUTHORIZED
    response = call(local_cloud, method, path, {"Authorization": "Bearer "})
    assert response.status_code == 401 and response.json() == UNAUTHORIZED


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_answers_401_to_a_bad_token(local_cloud, bad_tokens, method, path):
    for reason, bad in bad_tokens.items():
        response = call(local_cloud, method, path, {"Authorization": f"Bearer {bad}"})
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED), f"{reason}: {response.text}"


@pytest.mark.parametrize("method, path", WRITE_ROUTES)
def test_every_write_route_answers_403_to_a_reader(local_cloud, method, path):
    response = call(local_cloud, method, path, {"Authorization": f"Bearer {token(local_cloud, 'reader')}"})
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == f"forbidden: {method} {urlsplit(url_of(local_cloud, path)).path} needs the admin role"
    assert set(body["fields"]) == {"authorization"}


@pytest.mark.parametrize("method, path", READ_ROUTES)
def test_every_read_route_lets_a_reader_and_an_admin_through(local_cloud, method, path):
    for role in ("reader", "admin"):
        response = call(local_cloud, method, path, {"Authorization": f"Bearer {token(local_cloud, role)}"})
        assert response.status_code not in (401, 403), f"{role}: {response.status_code} {response.text}"


def test_a_reader_reads_and_an_admin_writes(local_cloud):
    api = local_cloud.api_url
    reader, admin = api_session(local_cloud, "reader"), api_session(local_cloud, "admin")
    for path in ("/products", "/imports", "/webhooks"):
        response = reader.get(f"{api}{path}", timeout=30)
        assert response.status_code == 200, response.text
        assert isinstance(response.json()["items"], list)
    sku = f"AUTH-{secrets.token_hex(4)}"
    created = admin.post(f"{api}/products", json={"sku": sku, "name": "Signed in"}, timeout=30)
    assert created.status_code == 201, created.text
    assert reader.get(f"{api}/products/{sku}", timeout=30).json()["name"] == "Signed in"
    refused = reader.patch(f"{api}/products/{sku}", json={"name": "Not allowed"}, timeout=30)
    assert refused.status_code == 403
    assert admin.get(f"{api}/products/{sku}", timeout=30).json()["name"] == "Signed in"   # unchanged
    assert admin.delete(f"{api}/products/{sku}", timeout=30).status_code == 200
    assert reader.get(f"{api}/products/{sku}", timeout=30).status_code == 404


def test_the_function_gets_the_claims_as_api_gateway_passes_them(local_cloud):
    seen = []

    def capture(invoke, event):
        seen.append(event)
        return invoke(event)

    local_cloud.functions.wrap("ApiFunction", capture)
    try:
        response = api_session(local_cloud, "reader").get(f"{local_cloud.api_url}/imports?limit=1", timeout=30)
    finally:
        local_cloud.functions.wrap("ApiFunction", None)
    assert response.status_code == 200, response.text
    (event,) = seen
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    claims = jwt_context["claims"]
    assert claims["client_id"] == "local-reader" and claims["scope"] == "catalog/read"
    assert claims["iss"] == issuer_of(local_cloud.api_url) and claims["token_use"] == "access"
    assert all(isinstance(value, str) for value in claims.values())      # API Gateway hands every claim as text
    assert int(claims["exp"]) > time.time()
    assert jwt_context["scopes"] == ["catalog/read"]


def test_machine_client_credentials_are_checked(local_cloud):
    url = f"{issuer_of(local_cloud.api_url)}/oauth2/token"
    wrong = requests.post(url, data={"grant_type": "client_credentials"}, auth=("local-admin", "nope"), timeout=30)
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    public = requests.post(url, data={"grant_type": "client_credentials"}, auth=("local-web", ""), timeout=30)
    assert public.status_code == 401
    too_much = requests.post(url, data={"grant_type": "client_credentials", "scope": "catalog/admin"},
                             auth=("local-reader", "local-reader-secret"), timeout=30)
    assert (too_much.status_code, too_much.json()) == (400, {"error": "invalid_scope"})
    good = requests.post(url, data={"grant_type": "client_credentials"}, auth=("local-admin", "local-admin-secret"),
                         timeout=30)
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer"
    assert jwt.decode(good.json()["access_token"], options={"verify_signature": False})["scope"] == "catalog/admin"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_a_user_signs_in_with_code_and_pkce(local_cloud):
    """The page's flow, step by step: the sign-in form, the code, the token exchange with the verifier;
    a second visit in the same session skips the form; a code is good once and only with its verifier."""
    issuer = issuer_of(local_cloud.api_url)
    browser = requests.Session()
    verifier, challenge = _pkce()
    redirect = f"{local_cloud.api_url}/products.html"
    authorize = {"response_type": "code", "client_id": "local-web", "redirect_uri": redirect,
                 "scope": "openid email", "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"}
    form = browser.get(f"{issuer}/oauth2/authorize", params=authorize, timeout=30)
    assert form.status_code == 200 and 'name="password"' in form.text
    wrong = browser.post(f"{issuer}/oauth2/authorize", data={**authorize, "username": "reader", "password": "x"},
                         allow_redirects=False, timeout=30)
    assert wrong.status_code == 401 and "Incorrect username or password" in wrong.text
    signed_in = browser.post(f"{issuer}/oauth2/authorize", data={**authorize, "username": "reader",
                                                                  "password": "local"},
                             allow_redirects=False, timeout=30)
    assert signed_in.status_code == 302
    location = urlsplit(signed_in.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    answer = parse_qs(location.query)
    assert answer["state"] == ["s1"]
    code = answer["code"][0]

    exchange = {"grant_type": "authorization_code", "client_id": "local-web", "code": code, "redirect_uri": redirect}
    bad_verifier = requests.post(f"{issuer}/oauth2/token", data={**exchange, "code_verifier": "x" * 50}, timeout=30)
    assert bad_verifier.status_code == 400
    # The code was spent by that attempt (a code is good once), so sign in again: the session skips the form.
    again = browser.get(f"{issuer}/oauth2/authorize", params=authorize, allow_redirects=False, timeout=30)
    assert again.status_code == 302
    code = parse_qs(urlsplit(again.headers["Location"]).query)["code"][0]
    tokens = requests.post(f"{issuer}/oauth2/token", data={**exchange, "code": code, "code_verifier": verifier},
                           timeout=30)
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    assert claims["cognito:groups"] == ["readers"] and claims["username"] == "reader"
    assert claims["client_id"] == "local-web" and claims["token_use"] == "access"
    assert jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})["aud"] == "local-web"
    reused = requests.post(f"{issuer}/oauth2/token", data={**exchange, "code": code, "code_verifier": verifier},
                           timeout=30)
    assert reused.status_code == 400

    # The user's token works on the API with the user's role: a reader reads, and may not write.
    headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    assert requests.get(f"{local_cloud.api_url}/products", headers=headers, timeout=30).status_code == 200
    assert requests.delete(f"{local_cloud.api_url}/products", headers=headers, timeout=30).status_code == 403

    # Signing out ends the session: the next visit shows the form again.
    out = browser.get(f"{issuer}/logout", params={"client_id": "local-web", "logout_uri": redirect},
                      allow_redirects=False, timeout=30)
    assert out.status_code == 302 and out.headers["Location"] == redirect
    after = browser.get(f"{issuer}/oauth2/authorize", params=authorize, allow_redirects=False, timeout=30)
    assert after.status_code == 200 and 'name="password"' in after.text


def test_sign_in_refuses_what_cognito_refuses(local_cloud):
    issuer = issuer_of(local_cloud.api_url)
    _, challenge = _pkce()
    base = {"response_type": "code", "client_id": "local-web", "redirect_uri": f"{local_cloud.api_url}/",
            "scope": "openid", "code_challenge": challenge, "code_challenge_method": "S256"}
    for change in ({"client_id": "nobody"}, {"client_id": "local-admin"}, {"code_challenge_method": "plain"},
                   {"code_challenge": ""}, {"response_type": "token"}, {"scope": "openid catalog/admin"},
                   {"redirect_uri": "javascript:alert(1)"}):
        response = requests.get(f"{issuer}/oauth2/authorize", params={**base, **change}, timeout=30)
        assert response.status_code == 400, change
        assert response.json()["error"] == "invalid_request"


def test_discovery_and_keys(local_cloud):
    issuer = issuer_of(local_cloud.api_url)
    discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=30).json()
    assert discovery["issuer"] == issuer
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    keys = requests.get(discovery["jwks_uri"], timeout=30).json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    header = jwt.get_unverified_header(token(local_cloud))
    assert header["kid"] == keys[0]["kid"]
