"""Tokens for the tests: every API route needs one (the HTTP API's JWT authorizer, local or AWS).

    session = api_session(local_cloud)                    # an admin (machine client local-admin)
    session.get(f"{local_cloud.api_url}/products")
    reader = api_session(local_cloud, role="reader")      # catalog/read only: GET routes

Tokens come from the local issuer's token endpoint (<api url>/local-auth/oauth2/token) by the
client-credentials grant with HTTP Basic client id and secret, as a script gets one from Cognito's
/oauth2/token with the stack's MachineClient. `cloud` is anything with an `api_url` (LocalCloud,
CloudProcess)."""
from __future__ import annotations

import time

import requests

from local.identity import MACHINE_CLIENTS, issuer_of

_cache: dict[tuple[int, str, str], tuple[str, float]] = {}    # (cloud, api url, role) -> (token, expires at)


def token(cloud, role: str = "admin") -> str:
    """An access token of the machine client for `role` ("admin" or "reader"), reused until a minute
    before it expires."""
    if role not in MACHINE_CLIENTS:
        raise ValueError(f"no local machine client for role {role!r}: one of {sorted(MACHINE_CLIENTS)}")
    key = (id(cloud), cloud.api_url, role)
    cached = _cache.get(key)
    if cached and cached[1] > time.time() + 60:
        return cached[0]
    client_id, secret = MACHINE_CLIENTS[role]
    response = requests.post(f"{issuer_of(cloud.api_url)}/oauth2/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret), timeout=30)
    assert response.status_code == 200, f"token endpoint: {response.status_code} {response.text}"
    body = response.json()
    _cache[key] = (body["access_token"], time.time() + body["expires_in"])
    return body["access_token"]


# What the HTTP API's JWT authorizer puts in requestContext.authorizer for each kind of caller (claims
# rendered as API Gateway renders them: strings, lists as "[a b]"), for unit tests that call the API's
# handler directly: {"requestContext": {..., "authorizer": AUTHORIZER["reader"]}}.
AUTHORIZER = {
    "admin": {"jwt": {"claims": {"sub": "local-admin", "client_id": "local-admin", "token_use": "access",
                                 "scope": "catalog/admin"}, "scopes": ["catalog/admin"]}},
    "reader": {"jwt": {"claims": {"sub": "local-reader", "client_id": "local-reader", "token_use": "access",
                                  "scope": "catalog/read"}, "scopes": ["catalog/read"]}},
    "admin-user": {"jwt": {"claims": {"sub": "admin", "username": "admin", "client_id": "local-web",
                                      "token_use": "access", "scope": "openid email",
                                      "cognito:groups": "[admins]"}, "scopes": None}},
    "reader-user": {"jwt": {"claims": {"sub": "reader", "username": "reader", "client_id": "local-web",
                                       "token_use": "access", "scope": "openid email",
                                       "cognito:groups": "[readers]"}, "scopes": None}},
    "no-role": {"jwt": {"claims": {"sub": "someone", "client_id": "local-web", "token_use": "access",
                                   "scope": "openid email"}, "scopes": None}},
}


def with_authorizer(event: dict, role: str = "admin") -> dict:
    """An API Gateway payload 2.0 event with `role`'s authorizer context (see AUTHORIZER)."""
    event.setdefault("requestContext", {})["authorizer"] = AUTHORIZER[role]
    return event


def auth_header(cloud, role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(cloud, role)}"}


def api_session(cloud, role: str = "admin") -> requests.Session:
    """A requests.Session that sends `role`'s token on every request."""
    session = requests.Session()
    session.headers.update(auth_header(cloud, role))
    return session
