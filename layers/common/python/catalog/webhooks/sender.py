"""One HTTP attempt: POST, per-attempt timeout, redirects not followed, response body read bounded,
and (in the cloud) the address actually connected to re-checked, so a DNS answer that changed
between the URL check and the connection cannot reach a private address.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from catalog.webhooks.urls import UnsafeUrlError, check_url, is_public_address

USER_AGENT = "catalog-importer-webhooks/1.0"


@dataclass
class AttemptResult:
    status_code: int | None
    response_ms: int
    error: str | None = None
    timed_out: bool = False
    response_excerpt: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PeerCheck:
    def _new_conn(self):  # noqa: D401 - urllib3 hook
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not is_public_address(peer):
            sock.close()
            raise UnsafeUrlError(f"refused to connect to a non-public address ({peer})")
        return sock


class _SafeHTTPConnection(_PeerCheck, HTTPConnection):
    pass


class _SafeHTTPSConnection(_PeerCheck, HTTPSConnection):
    pass


class _SafeHTTPPool(HTTPConnectionPool):
    ConnectionCls = _SafeHTTPConnection


class _SafeHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _SafeHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _SafeHTTPPool, "https": _SafeHTTPSPool}


_local = threading.local()


def _session(allow_private: bool) -> requests.Session:
    key = "private" if allow_private else "public"
    session = getattr(_local, key, None)
    if session is None:
        session = requests.Session()
        session.trust_env = False          # no proxies or .netrc from the environment
        session.max_redirects = 0
        if not allow_private:
            adapter = _PublicOnlyAdapter(pool_maxsize=4)
        else:
            adapter = HTTPAdapter(pool_maxsize=4)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        setattr(_local, key, session)
    return session


def post(url: str, body: str, headers: dict[str, str], *, timeout: float, allow_private: bool,
         max_response_bytes: int = 4096) -> AttemptResult:
    """Sends one signed POST. Never raises for the receiver's behaviour; the result says what happened."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_url(url, allow_private)
    except UnsafeUrlError as error:
        return AttemptResult(None, elapsed(), f"refused: {error}")
    try:
        response = _session(allow_private).post(url, data=body.encode(), headers=headers, timeout=timeout,
                                                allow_redirects=False, stream=True)
    except UnsafeUrlError as error:     # raised by the connection's peer-address check
        return AttemptResult(None, elapsed(), f"refused: {error}")
    except requests.exceptions.Timeout:
        return AttemptResult(None, elapsed(), f"timed out after {timeout:g}s", timed_out=True)
    except requests.exceptions.ConnectionError as error:
        return AttemptResult(None, elapsed(), f"connection failed: {_short(error)}")
    except requests.exceptions.RequestException as error:
        return AttemptResult(None, elapsed(), f"request failed: {_short(error)}")
    try:
        excerpt = _read_bounded(response, max_response_bytes, started + timeout)
    except Exception as error:  # noqa: BLE001 - the status counts; a broken body only adds a note
        excerpt = f"(response body unreadable: {_short(error)})"
    finally:
        response.close()
    result = AttemptResult(response.status_code, elapsed(), response_excerpt=excerpt)
    if not result.ok:
        result.error = f"HTTP {response.status_code}"
        if 300 <= response.status_code < 400:
            result.error += " (redirects are not followed)"
    return result


def _read_bounded(response: requests.Response, limit: int, deadline: float) -> str:
    data = b""
    for chunk in response.iter_content(chunk_size=1024):
        data += chunk
        if len(data) >= limit or time.monotonic() > deadline:
            break
    return data[:limit].decode("utf-8", "replace")[:512]


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:200] + "…"
