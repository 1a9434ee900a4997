"""The local OIDC issuer: what Cognito's user pool and hosted UI are on AWS, served by the local cloud
under <api url>/local-auth.

- its own RSA key (made at start, never stored), published as a JWKS; an OpenID discovery document;
- /oauth2/authorize: a sign-in form (users `admin` and `reader`, password `local`), then a redirect
  with an authorization code; a session cookie skips the form on the next visit, as the hosted UI does;
- /oauth2/token: `authorization_code` with PKCE (S256 only) for the public web client, and
  `client_credentials` with HTTP Basic client id and secret for the machine clients, as Cognito does;
- /logout: ends the session, then redirects to `logout_uri`.

Tokens look like Cognito's: RS256 access tokens with `sub`, `iss`, `client_id`, `scope`, `token_use:
access`, `exp`, `iat`, `jti` and, for users, `username` and `cognito:groups`; an ID token (`aud` = client
id) when `openid` is asked for. The HTTP API's JWT authorizer (local/http_api.py) checks them exactly as
API Gateway checks Cognito's.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.wrappers import Request, Response

PATH = "/local-auth"
TOKEN_SECONDS = 3600
CODE_SECONDS = 300
SESSION_COOKIE = "local_auth_session"


@dataclass(frozen=True)
class User:
    username: str
    password: str
    groups: tuple[str, ...]
    email: str


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None          # None: a public client (the page), which must use PKCE
    scopes: tuple[str, ...]     # what it may ask for; a client_credentials token gets all of them by default
    grant: str                  # its one OAuth flow, as the template's clients: authorization_code or client_credentials


USERS = {u.username: u for u in (
    User("admin", "local", ("admins",), "admin@example.com"),
    User("reader", "local", ("readers",), "reader@example.com"),
)}
WEB_CLIENT = "local-web"
CLIENTS = {c.client_id: c for c in (
    # As the template's WebClient: no custom scopes (Cognito would grant them to every signed-in user
    # whatever their group), so a user's role comes from cognito:groups.
    Client(WEB_CLIENT, None, ("openid", "email"), "authorization_code"),
    Client("local-admin", "local-admin-secret", ("catalog/admin",), "client_credentials"),
    Client("local-reader", "local-reader-secret", ("catalog/read",), "client_credentials"),
)}
# The machine client of each role, for scripts and tests: role -> (client id, secret).
MACHINE_CLIENTS = {"admin": ("local-admin", "local-admin-secret"), "reader": ("local-reader", "local-reader-secret")}
AUDIENCE = ",".join(CLIENTS)     # the template's AuthAudience parameter for the local cloud


def issuer_of(api_url: str) -> str:
    return api_url.rstrip("/") + PATH


def page_auth_config(issuer: str) -> dict:
    """The page's `auth` settings (CATALOG_CONFIG.auth) for this issuer, as `make deploy` writes them
    for Cognito's hosted UI."""
    return {"authorizeUrl": f"{issuer}/oauth2/authorize", "tokenUrl": f"{issuer}/oauth2/token",
            "logoutUrl": f"{issuer}/logout", "clientId": WEB_CLIENT,
            "scope": " ".join(CLIENTS[WEB_CLIENT].scopes)}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalIssuer:
    """A WSGI app for the paths under PATH; `issuer` is its public URL (<api url>/local-auth)."""

    path = PATH

    def __init__(self, issuer: str):
        self.issuer = issuer.rstrip("/")
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self._codes: dict[str, dict] = {}       # authorization code -> what it was issued for
        self._sessions: dict[str, str] = {}     # session cookie -> username
        self._lock = threading.Lock()

    # --- tokens --------------------------------------------------------------------------
    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def access_token(self, client_id: str, scopes: list[str], user: User | None = None,
                     lifetime: int = TOKEN_SECONDS) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user.username if user else client_id, "client_id": client_id,
                  "token_use": "access", "scope": " ".join(scopes), "auth_time": now, "iat": now,
                  "exp": now + lifetime, "jti": str(uuid.uuid4())}
        if user:
            claims.update({"username": user.username, "cognito:groups": list(user.groups)})
        return self.sign(claims)

    def id_token(self, client_id: str, user: User, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user.username, "aud": client_id, "token_use": "id",
                  "cognito:username": user.username, "cognito:groups": list(user.groups), "email": user.email,
                  "auth_time": now, "iat": now, "exp": now + TOKEN_SECONDS}
        if nonce:
            claims["nonce"] = nonce
        return self.sign(claims)

    # --- WSGI ----------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        return self.dispatch(Request(environ))(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path[len(PATH):] if request.path.startswith(PATH) else request.path
        routes = {
            ("GET", "/.well-known/openid-configuration"): lambda: self._json(200, self.discovery()),
            ("GET", "/.well-known/jwks.json"): lambda: self._json(200, self.jwks()),
            ("GET", "/oauth2/authorize"): lambda: self._authorize(request),
            ("POST", "/oauth2/authorize"): lambda: self._sign_in(request),
            ("POST", "/oauth2/token"): lambda: self._token(request),
            ("GET", "/logout"): lambda: self._logout(request),
            ("OPTIONS", "/oauth2/token"): lambda: self._cors(Response(status=204)),
        }
        handler = routes.get((request.method, path))
        if handler is None:
            return self._json(404, {"error": "not_found"})
        return handler()

    def discovery(self) -> dict:
        return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/oauth2/authorize",
                "token_endpoint": f"{self.issuer}/oauth2/token", "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
                "end_session_endpoint": f"{self.issuer}/logout", "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "code_challenge_methods_supported": ["S256"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                "scopes_supported": sorted({s for c in CLIENTS.values() for s in c.scopes})}

    # --- sign-in ---------------------------------------------------------------------------
    def _authorize(self, request: Request) -> Response:
        params = request.args.to_dict()
        problem = self._check_authorize(params)
        if problem:
            return self._json(400, {"error": "invalid_request", "error_description": problem})
        username = self._sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if username in USERS:
            return self._redirect_with_code(params, USERS[username])
        return self._form(params)

    def _sign_in(self, request: Request) -> Response:
        params = {k: v for k, v in request.form.items() if k not in ("username", "password")}
        problem = self._check_authorize(params)
        if problem:
            return self._json(400, {"error": "invalid_request", "error_description": problem})
        user = USERS.get(request.form.get("username", ""))
        if user is None or not secrets.compare_digest(user.password, request.form.get("password", "")):
            return self._form(params, error="Incorrect username or password.", status=401)
        session = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session] = user.username
        response = self._redirect_with_code(params, user)
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Lax", path=PATH)
        return response

    @staticmethod
    def _check_authorize(params: dict) -> str | None:
        client = CLIENTS.get(params.get("client_id", ""))
        if client is None:
            return "unknown client_id"
        if client.grant != "authorization_code":
            return "this client may not sign users in"
        if params.get("response_type") != "code":
            return "response_type must be code"
        if not params.get("redirect_uri", "").startswith(("http://", "https://")):
            return "redirect_uri must be an http(s) URL"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "PKCE with code_challenge_method S256 is required"
        unknown = set(params.get("scope", "").split()) - set(client.scopes)
        if unknown:
            return f"scope not allowed for this client: {' '.join(sorted(unknown))}"
        return None

    def _redirect_with_code(self, params: dict, user: User) -> Response:
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.time()
            for stale in [c for c, grant in self._codes.items() if grant["expires"] < now]:
                del self._codes[stale]
            self._codes[code] = {"client_id": params["client_id"], "redirect_uri": params["redirect_uri"],
                                 "challenge": params["code_challenge"], "scope": params.get("scope", ""),
                                 "nonce": params.get("nonce"), "user": user.username,
                                 "expires": time.time() + CODE_SECONDS}
        query = {"code": code, **({"state": params["state"]} if "state" in params else {})}
        separator = "&" if urlsplit(params["redirect_uri"]).query else "?"
        return Response(status=302, headers={"Location": params["redirect_uri"] + separator + urlencode(query)})

    def _form(self, params: dict, error: str = "", status: int = 200) -> Response:
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in params.items())
        message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (local)</title><link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}}label{{display:block;margin:.6rem 0}}
input[type=text],input[type=password]{{width:100%;padding:.4rem}}.error{{color:#b00020}}</style></head>
<body><h1>Sign in</h1><p>Local issuer: users <code>admin</code> and <code>reader</code>, password <code>local</code>.</p>
{message}<form method="post" action="{PATH}/oauth2/authorize">{hidden}
<label>Username <input type="text" name="username" autocomplete="username" autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>"""
        return Response(page, status=status, mimetype="text/html")

    def _logout(self, request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE, "")
        with self._lock:
            self._sessions.pop(session, None)
        target = request.args.get("logout_uri") or request.args.get("post_logout_redirect_uri") \
            or request.args.get("redirect_uri")
        if request.args.get("client_id") not in CLIENTS:
            return self._json(400, {"error": "invalid_request", "error_description": "unknown client_id"})
        if target and not target.startswith(("http://", "https://")):
            return self._json(400, {"error": "invalid_request", "error_description": "logout_uri must be an http(s) URL"})
        response = Response(status=302, headers={"Location": target}) if target \
            else Response("Signed out.", mimetype="text/plain")
        response.delete_cookie(SESSION_COOKIE, path=PATH)
        return response

    # --- token endpoint ------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        grant = request.form.get("grant_type")
        if grant == "client_credentials":
            return self._cors(self._client_credentials(request))
        if grant == "authorization_code":
            return self._cors(self._authorization_code(request))
        return self._cors(self._json(400, {"error": "unsupported_grant_type"}))

    def _client_credentials(self, request: Request) -> Response:
        auth = request.authorization
        client = CLIENTS.get(auth.username if auth else "")
        if client is None or client.secret is None or not secrets.compare_digest(client.secret, auth.password or ""):
            return self._json(401, {"error": "invalid_client"})
        if client.grant != "client_credentials":
            return self._json(400, {"error": "unauthorized_client"})
        asked = request.form.get("scope", "").split()
        if set(asked) - set(client.scopes):
            return self._json(400, {"error": "invalid_scope"})
        scopes = asked or list(client.scopes)
        return self._json(200, {"access_token": self.access_token(client.client_id, scopes),
                                "expires_in": TOKEN_SECONDS, "token_type": "Bearer"})

    def _authorization_code(self, request: Request) -> Response:
        form = request.form
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)     # a code is good once
        if grant is None or grant["expires"] < time.time():
            return self._json(400, {"error": "invalid_grant"})
        if form.get("client_id") != grant["client_id"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return self._json(400, {"error": "invalid_grant"})
        verifier = form.get("code_verifier", "")
        if not verifier or _b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
            return self._json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        user = USERS[grant["user"]]
        scopes = grant["scope"].split()
        body = {"access_token": self.access_token(grant["client_id"], scopes, user),
                "expires_in": TOKEN_SECONDS, "token_type": "Bearer"}
        if "openid" in scopes:
            body["id_token"] = self.id_token(grant["client_id"], user, grant["nonce"])
        return self._json(200, body)

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _json(status: int, body: dict) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json",
                        headers={"Cache-Control": "no-store"})

    @staticmethod
    def _cors(response: Response) -> Response:
        # Cognito's token endpoint answers cross-origin calls from the page; here the page shares the
        # origin, but a page served elsewhere (another port) can still sign in.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "content-type, authorization"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        return response
