"""The HTTP side of the command-line client: the API with a bearer token, tokens by client
credentials, the presigned POST upload (streamed, with a byte callback) and the error report's
signed link. No Rich here: cli/main.py decides what people see."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote, urlsplit

import requests

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
EXPORT_ENDED = ("SUCCEEDED", "FAILED")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
POLL_RETRIES = 5           # reads of a followed import that may fail in a row (network, 429, 5xx)


class ApiError(Exception):
    """A non-2xx answer, with what the API said: `{error, fields}` from the API function, or API
    Gateway's `{message}` (401) or a plain text body."""

    def __init__(self, method: str, url: str, status: int, message: str, fields: dict | None = None):
        self.method, self.url, self.status, self.message, self.fields = method, url, status, message, fields or {}
        super().__init__(f"{method} {url}: {status} {message}")

    @classmethod
    def of(cls, response: requests.Response) -> "ApiError":
        message, fields = response.reason or "error", {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = str(body.get("error") or body.get("message") or message)
            fields = body.get("fields") if isinstance(body.get("fields"), dict) else {}
        elif response.text.strip():
            message = response.text.strip()[:300]
        return cls(response.request.method, response.url, response.status_code, message, fields)

    def hint(self) -> str | None:
        """What to do next, for the statuses a person can act on."""
        if self.status == 401:
            return ("the token is missing, expired or not for this API: get a new one "
                    "(catalog token, or --client-id/--client-secret)")
        if self.status == 403:
            return "this token's role may not do that: writes need an admin token (scope catalog/admin)"
        return None


class ClientError(Exception):
    """Something other than an API answer went wrong (no connection, a failed upload)."""


def default_token_url(api: str) -> str | None:
    """The local cloud's issuer (`make run`): <api>/local-auth/oauth2/token, for a loopback API only.
    On AWS the token URL is the stack output TokenUrl (Cognito's /oauth2/token)."""
    host = urlsplit(api).hostname or ""
    return f"{api.rstrip('/')}/local-auth/oauth2/token" if host in LOOPBACK else None


def client_credentials_token(token_url: str, client_id: str, client_secret: str, scope: str | None = None,
                             timeout: float = 30) -> str:
    """An access token by the OAuth 2.0 client-credentials grant, client id and secret in HTTP Basic
    (Cognito's /oauth2/token and the local issuer alike)."""
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    try:
        response = requests.post(token_url, data=data, auth=(client_id, client_secret), timeout=timeout)
    except requests.RequestException as error:
        raise ClientError(f"token endpoint {token_url}: {error}") from None
    if response.status_code != 200:
        raise ApiError.of(response)
    try:
        return response.json()["access_token"]
    except (ValueError, KeyError):
        raise ClientError(f"token endpoint {token_url} answered without an access_token") from None


@dataclass
class Api:
    """The HTTP API at `base`, with a bearer token from `token` (called on first use, and again after a
    401 when `refresh`)."""
    base: str
    token: Callable[[], str]
    timeout: float = 30
    refresh: bool = False       # token() can make a new token (client credentials): once more on a 401
    session: requests.Session = field(default_factory=requests.Session)
    _bearer: str | None = field(default=None, repr=False)     # never in a repr or a traceback

    def url(self, path: str) -> str:
        return f"{self.base.rstrip('/')}{path}"

    def request(self, method: str, path: str, expected: tuple[int, ...] = (200,), **kwargs) -> requests.Response:
        headers, timeout = kwargs.pop("headers", {}), kwargs.pop("timeout", self.timeout)
        for attempt in (1, 2):
            if self._bearer is None:
                self._bearer = self.token()
            try:
                response = self.session.request(method, self.url(path), timeout=timeout, **kwargs,
                                                headers={"Authorization": f"Bearer {self._bearer}", **headers})
            except requests.RequestException as error:
                raise ClientError(f"{method} {self.url(path)}: {error}") from None
            if response.status_code == 401 and self.refresh and attempt == 1 and 401 not in expected:
                self._bearer = None     # expired (tokens last an hour): a new one, and the request again
                continue
            break
        if response.status_code not in expected:
            raise ApiError.of(response)
        return response

    def get(self, path: str, **params) -> dict:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None}).json()

    def post(self, path: str, body: dict | None = None, expected: tuple[int, ...] = (200,)) -> dict:
        response = self.request("POST", path, expected, json=body if body is not None else {})
        return response.json() if response.content else {}

    # --- imports ------------------------------------------------------------------------------
    def create_import(self, file_name: str, size: int, mode: str = "import", preset: str | None = None) -> dict:
        body = {"file_name": file_name, "size": size, "mode": mode}
        if preset is not None:
            body["preset"] = preset        # a saved column mapping (GET /mappings)
        return self.post("/imports", body, expected=(201,))

    def start_from(self, import_id: str, mode: str = "import", preset: str | None = None) -> dict:
        """A new import (or preview) of the file an earlier import uploaded: started at once, no upload."""
        body = {"from_import": import_id, "mode": mode}
        if preset is not None:
            body["preset"] = preset
        return self.post("/imports", body, expected=(201,))

    def get_import(self, import_id: str) -> dict:
        return self.get(f"/imports/{quote(import_id, safe='')}")

    def wait_for_import(self, import_id: str, on_poll: Callable[[dict], None], interval: float = 1.0,
                        timeout: float | None = None) -> dict:
        """Polls GET /imports/{id} until the import ends (or `timeout` seconds pass: ClientError),
        calling on_poll(item) after each read."""
        return self._poll(lambda: self.get_import(import_id), TERMINAL, f"import {import_id}", on_poll,
                          interval, timeout)

    def _poll(self, read: Callable[[], dict], ended: tuple[str, ...], what: str, on_poll: Callable[[dict], None],
              interval: float, timeout: float | None) -> dict:
        """Reads until the status is one of `ended`, calling on_poll after each read. A dropped
        connection, throttling or a passing server error is read again, up to POLL_RETRIES in a row."""
        deadline = None if timeout is None else time.monotonic() + timeout
        misses = 0
        while True:
            try:
                current = read()
                misses = 0
            except (ClientError, ApiError) as error:
                transient = isinstance(error, ClientError) or error.status == 429 or error.status >= 500
                misses += 1
                if not transient or misses > POLL_RETRIES:
                    raise
                time.sleep(interval * 2 ** misses)
                continue
            on_poll(current)
            if current.get("status") in ended:
                return current
            if deadline is not None and time.monotonic() > deadline:
                raise ClientError(f"{what} still {current.get('status')} after {timeout:g} s")
            time.sleep(interval)

    def error_report(self, import_id: str) -> Iterator[bytes]:
        """The bad-rows report's bytes, through the API's 302 to a signed URL (fetched without the
        bearer token: the URL carries its own signature)."""
        # 302 with Location; a client that accepts JSON only gets 200 {url} (the page's fetch): either will do.
        response = self.request("GET", f"/imports/{quote(import_id, safe='')}/errors", expected=(200, 302),
                                allow_redirects=False)
        location = response.headers.get("Location") or response.json()["url"]
        try:
            report = requests.get(location, stream=True, timeout=self.timeout)
        except requests.RequestException as error:
            raise ClientError(f"error report: {error}") from None
        if report.status_code != 200:
            raise ClientError(f"error report: {report.status_code} {report.text[:300]}")
        yield from report.iter_content(64 * 1024)

    # --- products -----------------------------------------------------------------------------
    def product_pages(self, *, sku: str | None, name: str | None, active: bool | None,
                      page_size: int = 200) -> Iterator[dict]:
        """Every page of GET /products with these filters, following `next` cursors."""
        params = {"sku": sku, "q": name, "active": None if active is None else str(active).lower(),
                  "limit": page_size}
        cursor = None
        while True:
            page = self.get("/products", **params, cursor=cursor)
            yield page
            cursor = page.get("next")
            if not cursor:
                return

    # --- export -------------------------------------------------------------------------------
    def start_export(self, *, sku: str | None, name: str | None, active: bool | None) -> dict:
        """GET /products/export: the export job (202), with `url` to poll."""
        params = {"sku": sku, "q": name, "active": None if active is None else str(active).lower()}
        return self.request("GET", "/products/export", expected=(202,),
                            params={k: v for k, v in params.items() if v is not None}).json()

    def wait_for_export(self, job: dict, on_poll: Callable[[dict], None], interval: float = 0.5,
                        timeout: float | None = None) -> dict:
        """Polls the job's `url` until it is SUCCEEDED or FAILED (or `timeout` seconds pass: ClientError),
        calling on_poll(job) after each read; a passing network or server error is read again."""
        return self._poll(lambda: self.get(job["url"]), EXPORT_ENDED, f"export {job['id']}", on_poll,
                          interval, timeout)

    def download(self, url: str) -> Iterator[bytes]:
        """A finished export's file from its signed link (without the bearer token: the link is signed)."""
        try:
            response = requests.get(url, stream=True, timeout=self.timeout)
        except requests.RequestException as error:
            raise ClientError(f"export download: {error}") from None
        if response.status_code != 200:
            raise ClientError(f"export download: {response.status_code} {response.text[:300]}")
        yield from response.iter_content(256 * 1024)


class MultipartUpload:
    """A multipart/form-data body for a presigned POST: the policy's fields, then the file, read in
    blocks as the connection sends them (never whole into memory). It has a length, so requests
    sends a Content-Length (S3 refuses chunked uploads); on_bytes(n) is called as blocks go out."""

    BLOCK = 256 * 1024

    def __init__(self, fields: dict[str, str], path: Path, file_name: str, on_bytes: Callable[[int], None]):
        boundary = f"catalog-{uuid.uuid4().hex}"
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items())
        safe_name = file_name.replace('"', "%22").replace("\r", "").replace("\n", "")
        head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
                 f"Content-Type: text/csv\r\n\r\n").encode()
        self._parts = [head, path, f"\r\n--{boundary}--\r\n".encode()]
        self._length = len(head) + path.stat().st_size + len(self._parts[2])
        self._on_bytes = on_bytes
        self._iter = self._blocks()

    def __len__(self) -> int:
        return self._length

    def _blocks(self) -> Iterator[bytes]:
        yield self._parts[0]
        with open(self._parts[1], "rb") as f:
            while block := f.read(self.BLOCK):
                self._on_bytes(len(block))
                yield block
        yield self._parts[2]

    def __iter__(self) -> Iterator[bytes]:
        return self._iter

    def read(self, size: int = -1) -> bytes:
        return next(self._iter, b"")


def upload(form: dict, path: Path, on_bytes: Callable[[int], None], timeout: float = 600) -> None:
    """POSTs the file to the presigned form (`{url, fields}`), streaming it."""
    body = MultipartUpload(form["fields"], path, path.name, on_bytes)
    try:
        response = requests.post(form["url"], data=body, headers={"Content-Type": body.content_type},
                                 timeout=timeout)
    except requests.RequestException as error:
        raise ClientError(f"upload to {urlsplit(form['url']).netloc}: {error}") from None
    if response.status_code not in (200, 201, 204):
        raise ClientError(f"upload refused: {response.status_code} {response.text[:300]}")
