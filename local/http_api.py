"""The HTTP API Gateway (payload format 2.0, with its JWT authorizer) and the static web page, on one
local port. The local OIDC issuer (local/identity.py) is served on the same port under /local-auth."""
from __future__ import annotations

import base64
import json
import logging
import mimetypes
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl

import jwt
import requests
from werkzeug.wrappers import Request, Response

from . import template as tpl
from .lambdas import FunctionRegistry
from .template import ACCOUNT

log = logging.getLogger("local.http_api")

TEXT_TYPES = ("application/json", "text/", "application/javascript", "application/xml")


UNAUTHORIZED = {"message": "Unauthorized"}
FORBIDDEN = {"message": "Forbidden"}
JWKS_SECONDS = 3600        # how long a fetched JWKS is trusted before it is fetched again


class Unauthorized(Exception):
    """The request is refused by the authorizer; the message says why (logged, never returned)."""


@dataclass
class JwtAuthorizer:
    """An HTTP API JWT authorizer, as API Gateway applies it: the token from the identity source
    (`Bearer ` prefix optional), RS256 signed by a key of the issuer's JWKS (found through its OpenID
    discovery document, cached), `iss` equal to the issuer, `aud` (or, without `aud`, `client_id`) one
    of the audiences, `exp`/`nbf`/`iat` checked."""
    name: str
    issuer: str
    audience: list[str]
    identity_source: str = "$request.header.Authorization"
    scopes: list[str] = field(default_factory=list)    # the authorizer's AuthorizationScopes (SAM)
    fetch: Callable[[str], dict] = field(default=lambda url: _get_json(url), repr=False)
    _jwks: jwt.PyJWKSet | None = field(default=None, repr=False)
    _jwks_at: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def token_of(self, request: Request) -> str | None:
        source = self.identity_source.split(",")[0].strip()
        if not source.startswith("$request.header."):
            raise ValueError(f"authorizer {self.name}: identity source {source} is not a header")
        value = request.headers.get(source[len("$request.header."):], "").strip()
        if value.lower().startswith("bearer "):
            value = value[7:].strip()
        return value or None

    def claims_of(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthorized(f"not a JWT: {error}") from None
        if header.get("alg") not in ("RS256", "RS384", "RS512"):
            raise Unauthorized(f"algorithm {header.get('alg')} is not accepted")
        key = self._key(header.get("kid"))
        try:
            claims = jwt.decode(token, key.key, algorithms=[header["alg"]], issuer=self.issuer,
                                options={"verify_aud": False, "require": ["exp", "iss"]})
        except jwt.PyJWTError as error:
            raise Unauthorized(str(error)) from None
        audiences = claims.get("aud") if "aud" in claims else claims.get("client_id")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if not set(audiences) & set(self.audience):
            raise Unauthorized(f"audience {audiences} is not one of {self.audience}")
        return claims

    def _key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            for attempt in range(2):
                stale = time.monotonic() - self._jwks_at > JWKS_SECONDS
                if self._jwks is None or stale or attempt == 1:   # an unknown kid: the keys may have rotated
                    try:
                        discovery = self.fetch(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
                        self._jwks = jwt.PyJWKSet.from_dict(self.fetch(discovery["jwks_uri"]))
                    except (requests.RequestException, ValueError, KeyError, jwt.PyJWTError) as error:
                        raise Unauthorized(f"cannot read the issuer's keys: {error}") from None
                    self._jwks_at = time.monotonic()
                for key in self._jwks.keys:
                    if key.key_id == kid:
                        return key
            raise Unauthorized(f"no key {kid} in the issuer's JWKS")


def _get_json(url: str) -> dict:
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.json()


def api_gateway_claims(claims: dict) -> dict[str, str]:
    """Claims as the HTTP API hands them to the function: every value a string, a list as
    "[a b]"."""
    def render(value) -> str:
        if isinstance(value, list):
            return "[" + " ".join(render(v) for v in value) + "]"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict):
            return json.dumps(value)
        return str(value)
    return {key: render(value) for key, value in claims.items()}


@dataclass
class RouteAuth:
    """What a route needs: its authorizer (None: open) and the scopes it asks for (any one of them)."""
    authorizer: JwtAuthorizer | None
    scopes: list[str] = field(default_factory=list)


def route_auth_from_template(template: dict, resolver: tpl.Resolver) -> dict[str, RouteAuth]:
    """Each HttpApi route's authorization, as SAM configures it: the API's `Auth` (DefaultAuthorizer,
    Authorizers.<name>.JwtConfiguration issuer/audience, IdentitySource, AuthorizationScopes) and a
    route's own `Auth` (`Authorizer: NONE` or another authorizer's name, `AuthorizationScopes`).
    Returns {"METHOD /path": RouteAuth}."""
    apis = tpl.resources_of(template, "AWS::Serverless::HttpApi")
    authorizers: dict[str, dict[str, JwtAuthorizer]] = {}
    defaults: dict[str, str | None] = {}
    for logical, res in apis.items():
        auth = resolver.resolve(res.get("Properties", {}).get("Auth")) or {}
        authorizers[logical] = {}
        for name, spec in (auth.get("Authorizers") or {}).items():
            jwt_config = spec.get("JwtConfiguration")
            if jwt_config is None:
                raise ValueError(f"template: {logical} authorizer {name}: the local cloud supports JWT authorizers only")
            audience = jwt_config.get("audience") or []
            # A CommaDelimitedList parameter (AuthAudience) may reach here as its text "a,b,c".
            audience = [a.strip() for a in (audience.split(",") if isinstance(audience, str) else audience)
                        if a.strip()]
            authorizers[logical][name] = JwtAuthorizer(
                name=name, issuer=str(jwt_config["issuer"]), audience=audience,
                identity_source=spec.get("IdentitySource", "$request.header.Authorization"),
                scopes=list(spec.get("AuthorizationScopes") or []))
        defaults[logical] = auth.get("DefaultAuthorizer")
    routes: dict[str, RouteAuth] = {}
    for logical in tpl.resources_of(template, "AWS::Serverless::Function"):
        for event in tpl.function_properties(template, logical).get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties", {})
            api_ref = props.get("ApiId", {})
            api = api_ref.get("Ref") if isinstance(api_ref, dict) else None
            if api not in apis:
                raise ValueError(f"template: {logical}'s route {props.get('Path')} is on no HttpApi resource")
            route_auth = resolver.resolve(props.get("Auth")) or {}
            name = route_auth.get("Authorizer", defaults[api])
            key = f"{props['Method'].upper()} {props['Path']}"
            if name in (None, "NONE"):
                routes[key] = RouteAuth(None)
                continue
            if name not in authorizers[api]:
                raise ValueError(f"template: route {key} names authorizer {name}, which {api} does not declare")
            authorizer = authorizers[api][name]
            routes[key] = RouteAuth(authorizer, list(route_auth.get("AuthorizationScopes") or authorizer.scopes))
    return routes


@dataclass
class Route:
    method: str
    path: str              # as in the template, e.g. /imports/{id}
    function: str          # logical id
    pattern: re.Pattern

    @classmethod
    def of(cls, method: str, path: str, function: str) -> "Route":
        regex = re.sub(r"\\\{([^}\\+]+)(?:\\\+)?\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path))
        regex = regex.replace(r"(?P<proxy>[^/]+)", "(?P<proxy>.+)")
        return cls(method.upper(), path, function, re.compile(f"^{regex}$"))


class HttpApiApp:
    def __init__(self, routes: list[Route], functions: FunctionRegistry, web_dir: Path,
                 config_js: str, cors: dict | None = None, auth: dict[str, RouteAuth] | None = None,
                 identity=None):
        self.routes = routes
        self.functions = functions
        self.web_dir = web_dir.resolve()
        self.config_js = config_js
        self.cors = cors or {}
        self.auth = auth or {}          # "METHOD /path" -> RouteAuth (a route missing here is open)
        self.identity = identity        # the local issuer's WSGI app, served under its path prefix

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if self.identity is not None and (path == self.identity.path or path.startswith(self.identity.path + "/")):
            return self.identity.dispatch(request)
        if request.method == "OPTIONS":
            return self._cors(Response(status=204))
        path_matched = False
        for route in self.routes:
            match = route.pattern.match(path)
            if not match:
                continue
            path_matched = True
            if route.method in (request.method, "ANY"):
                authorizer, refusal = self._authorize(route, request)
                if refusal is not None:
                    return self._cors(refusal)
                return self._cors(self._invoke(route, match.groupdict(), request, authorizer))
        if request.method in ("GET", "HEAD"):
            static = self._static(path)
            if static is not None:
                return static
        if path_matched:
            return self._json(405, {"error": f"method {request.method} not allowed on {path}"})
        return self._json(404, {"message": "Not Found"})

    # --- API Gateway -------------------------------------------------------------------
    def _authorize(self, route: Route, request: Request) -> tuple[dict | None, Response | None]:
        """(requestContext.authorizer, None) when the route lets the request through, else (None, the
        authorizer's answer): 401 for a missing or invalid token, 403 when it lacks the route's scopes."""
        route_auth = self.auth.get(f"{route.method} {route.path}")
        if route_auth is None or route_auth.authorizer is None:
            return None, None
        authorizer = route_auth.authorizer
        token = authorizer.token_of(request)
        if token is None:
            return None, self._json(401, UNAUTHORIZED, {"www-authenticate": "Bearer"})
        try:
            claims = authorizer.claims_of(token)
        except Unauthorized as error:
            log.info("%s %s: refused by %s: %s", request.method, request.path, authorizer.name, error)
            return None, self._json(401, UNAUTHORIZED, {"www-authenticate": 'Bearer error="invalid_token"'})
        scopes = str(claims.get("scope", "")).split()
        if route_auth.scopes and not set(route_auth.scopes) & set(scopes):
            return None, self._json(403, FORBIDDEN)
        return {"jwt": {"claims": api_gateway_claims(claims), "scopes": scopes or None}}, None

    def _invoke(self, route: Route, path_params: dict, request: Request, authorizer: dict | None = None) -> Response:
        body = request.get_data()
        content_type = request.headers.get("content-type", "")
        is_text = not body or any(t in content_type for t in TEXT_TYPES)
        query: dict[str, str] = {}
        for key, value in parse_qsl(request.query_string.decode(), keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        now = time.time()
        event = {
            "version": "2.0",
            "routeKey": f"{route.method} {route.path}",
            "rawPath": request.path,
            "rawQueryString": request.query_string.decode(),
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "queryStringParameters": query or None,
            "pathParameters": path_params or None,
            "requestContext": {
                "accountId": ACCOUNT, "apiId": "local", "domainName": request.host,
                "http": {"method": request.method, "path": request.path, "protocol": "HTTP/1.1",
                         "sourceIp": request.remote_addr or "127.0.0.1",
                         "userAgent": request.headers.get("user-agent", "")},
                "requestId": str(uuid.uuid4()), "routeKey": f"{route.method} {route.path}",
                "stage": "$default", "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
                **({"authorizer": authorizer} if authorizer else {}),
            },
            "body": (body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode()) if body else None,
            "isBase64Encoded": bool(body) and not is_text,
        }
        try:
            result = self.functions.invoke(route.function, event)
        except Exception as error:  # noqa: BLE001 - API Gateway answers 500 for a crashed function
            return self._json(500, {"message": "Internal Server Error", "detail": str(error)})
        if not isinstance(result, dict) or "statusCode" not in result:
            return self._json(200, result)
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        response = Response(data, status=result["statusCode"])
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = value
        for key, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(key, value)
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        return response

    def _cors(self, response: Response) -> Response:
        if self.cors:
            origins = self.cors.get("AllowOrigins", ["*"])
            response.headers["Access-Control-Allow-Origin"] = origins[0] if origins else "*"
            response.headers["Access-Control-Allow-Methods"] = ",".join(self.cors.get("AllowMethods", []))
            response.headers["Access-Control-Allow-Headers"] = ",".join(self.cors.get("AllowHeaders", []))
        return response

    # --- static site -------------------------------------------------------------------
    def _static(self, path: str) -> Response | None:
        if path == "/config.js":
            return Response(self.config_js, mimetype="text/javascript", headers={"Cache-Control": "no-store"})
        relative = path.lstrip("/") or "index.html"
        target = (self.web_dir / relative).resolve()
        if self.web_dir not in target.parents and target != self.web_dir:
            return None
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return None
        mimetype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".js":
            mimetype = "text/javascript"
        return Response(target.read_bytes(), mimetype=mimetype, headers={"Cache-Control": "no-cache"})

    @staticmethod
    def _json(status: int, body, headers: dict | None = None) -> Response:
        return Response(json.dumps(body, default=str), status=status, mimetype="application/json", headers=headers)
