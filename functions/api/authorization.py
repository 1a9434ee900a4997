"""Who may do what: roles from the JWT claims the HTTP API's authorizer passes in
(`requestContext.authorizer.jwt.claims` / `.scopes`), checked once per request before routing.

The authorizer (API Gateway on AWS, local/http_api.py locally) has already refused a missing, bad or
expired token with 401; this decides between the roles:

- admin: group `admins` (`cognito:groups`, a signed-in user) or scope `catalog/admin` (a machine client);
- reader: group `readers` or scope `catalog/read`.

GET (and HEAD) routes need a reader or an admin; every other method an admin. Anything else is 403 with
the usual error body `{error, fields}`. A request without claims (an API deployed without its authorizer)
has no role, so it is refused too.
"""
from __future__ import annotations

import json
import re

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

ADMIN, READER = "admin", "reader"
GROUP_ROLES = {"admins": ADMIN, "readers": READER}
SCOPE_ROLES = {"catalog/admin": ADMIN, "catalog/read": READER}
READ_METHODS = frozenset({"GET", "HEAD"})


def _words(value) -> set[str]:
    """A multi-valued claim as a set, in any of the forms it arrives in: a JSON list, API Gateway's
    "[a b]" rendering of one, or a space- or comma-separated string."""
    if value is None:
        return set()
    if isinstance(value, (list, tuple, set)):
        return {str(v) for v in value}
    return {w for w in re.split(r"[\s,]+", str(value).strip().strip("[]")) if w}


def roles_of(claims: dict | None, scopes: list[str] | None = None) -> set[str]:
    """The roles a token's claims give: from its groups and from its scopes (the `scope` claim and the
    authorizer's list of scopes)."""
    claims = claims or {}
    groups = _words(claims.get("cognito:groups"))
    granted = _words(claims.get("scope")) | _words(scopes)
    return {GROUP_ROLES[g] for g in groups if g in GROUP_ROLES} | {SCOPE_ROLES[s] for s in granted if s in SCOPE_ROLES}


def required_role(method: str) -> str:
    return READER if method.upper() in READ_METHODS else ADMIN


def allowed(method: str, roles: set[str]) -> bool:
    """An admin may do everything; a reader only read."""
    return ADMIN in roles or (required_role(method) == READER and READER in roles)


def refusal(event: dict) -> dict | None:
    """None when the caller's roles allow the request; else the API's 403 answer (payload 2.0)."""
    request = APIGatewayProxyEventV2(event)
    authorizer = request.request_context.authorizer
    roles = roles_of(authorizer.jwt_claim, authorizer.jwt_scopes) if authorizer.raw_event else set()
    method = request.request_context.http.method
    if allowed(method, roles):
        return None
    needed = required_role(method)
    message = f"forbidden: {method} {request.raw_path} needs the {needed} role" if needed == ADMIN \
        else f"forbidden: {method} {request.raw_path} needs the reader or admin role"
    what = "group admins or scope catalog/admin" if needed == ADMIN \
        else "group readers or admins, or scope catalog/read or catalog/admin"
    body = {"error": message, "fields": {"authorization": f"the token's roles ({', '.join(sorted(roles)) or 'none'})"
                                                          f" do not allow this; it needs {what}"}}
    return {"statusCode": 403, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body),
            "isBase64Encoded": False}
