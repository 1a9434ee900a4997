"""Webhook URL safety: http(s) only, and (unless allowed for local development) no target that
resolves to a private, loopback, link-local, metadata or otherwise non-public address.

Checked when an endpoint is saved and again before every attempt (DNS can change); the HTTP
layer (sender.py) additionally checks the address it actually connected to.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("169.254.170.2")}
MAX_URL_LENGTH = 2048


class UnsafeUrlError(ValueError):
    pass


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return False
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


def check_syntax(url: str) -> tuple[str, int]:
    """Returns (host, port) of an http(s) URL, or raises UnsafeUrlError."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrlError(f"the URL is not valid ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrlError("the URL must start with http:// or https://")
    if not parts.hostname:
        raise UnsafeUrlError("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrlError("the URL must not contain credentials")
    if any(c.isspace() for c in url):
        raise UnsafeUrlError("the URL must not contain spaces")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUrlError(f"the host '{host}' does not resolve ({error})") from None
    return sorted({info[4][0] for info in infos})


def check_url(url: str, allow_private: bool) -> None:
    """Raises UnsafeUrlError when the URL may not be called. Resolves the host; sends nothing."""
    host, port = check_syntax(url)
    if allow_private:
        # Local development: this machine and private networks may receive, cloud metadata never.
        for address in resolve(host, port):
            if ipaddress.ip_address(address.split("%", 1)[0]) in METADATA_ADDRESSES:
                raise UnsafeUrlError(f"the host '{host}' resolves to a cloud metadata address ({address})")
        return
    if host.rstrip(".").lower() == "localhost" or host.rstrip(".").lower().endswith(".localhost"):
        raise UnsafeUrlError("the URL points to this machine (localhost)")
    for address in resolve(host, port):
        if not is_public_address(address):
            raise UnsafeUrlError(f"the host '{host}' resolves to a non-public address ({address})")
