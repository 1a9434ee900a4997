"""One HTTP attempt: POST, per-attempt timeout, redirects not followed, response body read bounded.

The URL's host is resolved once, every address is checked (urls.allowed_addresses), and the
connection goes to a checked address only: urllib3 is given the IP address itself, so nothing
resolves the name again between the check and the connect (no DNS-rebinding gap). The request
still carries the URL's `Host` header, and HTTPS sends the host name as TLS SNI and verifies the
certificate against the host name (not the IP).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError, SSLError

from catalog.webhooks.urls import UnsafeUrlError, allowed_addresses

USER_AGENT = "catalog-importer-webhooks/1.0"
CA_BUNDLE = certifi.where()
MAX_POOLS = 64              # connection pools kept for keep-alive, least recently used dropped


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


_pools: OrderedDict[tuple, HTTPConnectionPool] = OrderedDict()
_pools_lock = threading.Lock()


def _pool(scheme: str, address: str, port: int, host: str) -> HTTPConnectionPool:
    """A keep-alive pool for one checked address; it connects to `address` and nothing else."""
    key = (scheme, address, port, host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            _pools.move_to_end(key)
            return pool
        if scheme == "https":
            pool = HTTPSConnectionPool(address, port, maxsize=10, retries=False, cert_reqs="CERT_REQUIRED",
                                       ca_certs=CA_BUNDLE, server_hostname=host, assert_hostname=host)
        else:
            pool = HTTPConnectionPool(address, port, maxsize=10, retries=False)
        _pools[key] = pool
        while len(_pools) > MAX_POOLS:
            _, dropped = _pools.popitem(last=False)
            dropped.close()
        return pool


def post(url: str, body: str, headers: dict[str, str], *, timeout: float, allow_private: bool,
         max_response_bytes: int = 4096) -> AttemptResult:
    """Sends one signed POST. Never raises for the receiver's behaviour; the result says what happened."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        host, port, addresses = allowed_addresses(url, allow_private)
    except UnsafeUrlError as error:
        return AttemptResult(None, elapsed(), f"refused: {error}")
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request_headers = {"User-Agent": USER_AGENT, **headers, "Host": parts.netloc}
    response = None
    for i, address in enumerate(addresses):      # each one checked; the next only if this one cannot be reached
        try:
            response = _pool(parts.scheme, address, port, host).urlopen(
                "POST", target, body=body.encode(), headers=request_headers, redirect=False, retries=False,
                assert_same_host=False, preload_content=False, timeout=Timeout(connect=timeout, read=timeout))
            break
        except NewConnectionError as error:     # (a subclass of ConnectTimeoutError: caught first)
            if i + 1 < len(addresses) and time.monotonic() - started < timeout:
                continue
            return AttemptResult(None, elapsed(), f"connection failed: {_short(error)}")
        except (ConnectTimeoutError, ReadTimeoutError, TimeoutError):
            return AttemptResult(None, elapsed(), f"timed out after {timeout:g}s", timed_out=True)
        except SSLError as error:
            return AttemptResult(None, elapsed(), f"connection failed (TLS): {_short(error)}")
        except (HTTPError, OSError) as error:
            return AttemptResult(None, elapsed(), f"request failed: {_short(error)}")
    complete = False
    try:
        excerpt, complete = _read_bounded(response, max_response_bytes, started + timeout)
    except Exception as error:  # noqa: BLE001 - the status counts; a broken body only adds a note
        excerpt = f"(response body unreadable: {_short(error)})"
    finally:
        if not complete:
            response.close()        # the rest of the body is not wanted: the connection is not reused
        response.release_conn()
    result = AttemptResult(response.status, elapsed(), response_excerpt=excerpt)
    if not result.ok:
        result.error = f"HTTP {response.status}"
        if 300 <= response.status < 400:
            result.error += " (redirects are not followed)"
    return result


def _read_bounded(response, limit: int, deadline: float) -> tuple[str, bool]:
    """(the start of the body, whether the whole body was read)."""
    data, complete = b"", True
    for chunk in response.stream(1024):
        data += chunk
        if len(data) >= limit or time.monotonic() > deadline:
            complete = False
            break
    return data[:limit].decode("utf-8", "replace")[:512], complete


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 200 else text[:200] + "…"
