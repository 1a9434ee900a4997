"""The HTTP API Gateway (payload format 2.0) and the static web page, on one local port."""
from __future__ import annotations

import base64
import json
import mimetypes
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request, Response

from .lambdas import FunctionRegistry
from .template import ACCOUNT

TEXT_TYPES = ("application/json", "text/", "application/javascript", "application/xml")


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
                 config_js: str, cors: dict | None = None):
        self.routes = routes
        self.functions = functions
        self.web_dir = web_dir.resolve()
        self.config_js = config_js
        self.cors = cors or {}

    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if request.method == "OPTIONS":
            return self._cors(Response(status=204))
        path_matched = False
        for route in self.routes:
            match = route.pattern.match(path)
            if not match:
                continue
            path_matched = True
            if route.method in (request.method, "ANY"):
                return self._cors(self._invoke(route, match.groupdict(), request))
        if request.method in ("GET", "HEAD"):
            static = self._static(path)
            if static is not None:
                return static
        if path_matched:
            return self._json(405, {"error": f"method {request.method} not allowed on {path}"})
        return self._json(404, {"message": "Not Found"})

    # --- API Gateway -------------------------------------------------------------------
    def _invoke(self, route: Route, path_params: dict, request: Request) -> Response:
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
    def _json(status: int, body) -> Response:
        return Response(json.dumps(body, default=str), status=status, mimetype="application/json")
