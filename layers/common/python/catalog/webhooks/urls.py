"""Webhook URL safety: http(s) only, and (unless allowed for local development) no target that
resolves to an address that is not plainly public.

The rules are written out here rather than taken from `ipaddress`'s `is_global` / `is_private`,
whose answers differ between Python versions (3.11 and 3.12 call 6to4 `2002::/16` global, and
`fec0::/10` is not private anywhere), so the same address gets the same answer on every Python.
An address is public when it is in no refused range below; an IPv6 address must moreover be in
global unicast `2000::/3` and in none of the ranges that embed or reach an IPv4 address (6to4,
Teredo, NAT64, mapped/compatible forms), whatever the IPv4 address they carry.

Checked when an endpoint is saved and again before every attempt (DNS can change). The HTTP
layer (sender.py) resolves the name once, checks the addresses with `allowed_addresses`, and
connects to a checked address only, so there is no gap between the check and the connection.
Cloud metadata addresses, in any of the forms that reach them, are refused even when private
targets are allowed for local development.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",      # EC2 instance metadata (IMDS)
    "169.254.170.2",        # ECS task metadata and credentials
    "169.254.170.23",       # EKS Pod Identity agent
    "fd00:ec2::254",        # EC2 instance metadata over IPv6
    "fd00:ec2::23",         # EKS Pod Identity agent over IPv6
))

# (network, why it is refused); any address inside is not public.
REFUSED_IPV4 = tuple((ipaddress.IPv4Network(net), why) for net, why in (
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("192.175.48.0/24", "AS112"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),            # includes the broadcast address 255.255.255.255
))
GLOBAL_UNICAST_IPV6 = ipaddress.IPv6Network("2000::/3")
REFUSED_IPV6 = tuple((ipaddress.IPv6Network(net), why) for net, why in (
    # Outside 2000::/3 nothing is public; these are named only to say why.
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::/96", "IPv4-compatible"),
    ("::ffff:0:0:0/96", "IPv4-translated"),
    ("64:ff9b::/96", "NAT64"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
    # Inside 2000::/3.
    ("2001::/23", "IETF protocol assignments"),
    ("2001::/32", "Teredo"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
))
MAX_URL_LENGTH = 2048


class UnsafeUrlError(ValueError):
    pass


def parse_address(address: str) -> IPAddress:
    """An address as getaddrinfo gives it (IPv6 maybe with a %scope)."""
    return ipaddress.ip_address(address.split("%", 1)[0])


def why_not_public(ip: IPAddress) -> str | None:
    """None for a public address, else what kind of address it is."""
    if isinstance(ip, ipaddress.IPv4Address):
        return next((why for net, why in REFUSED_IPV4 if ip in net), None)
    # The most specific range names the reason (Teredo rather than IETF protocol assignments).
    matches = [(net.prefixlen, why) for net, why in REFUSED_IPV6 if ip in net]
    if matches:
        return max(matches)[1]
    if ip not in GLOBAL_UNICAST_IPV6:
        return "not global unicast"
    return None


def is_public_address(address: str | IPAddress) -> bool:
    ip = parse_address(address) if isinstance(address, str) else address
    return why_not_public(ip) is None


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries or reaches: mapped, compatible, translated,
    NAT64 (well-known and local-use prefixes), 6to4, and Teredo (server and client)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    value = int(ip)
    low32 = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    found = []
    for prefix in ("::ffff:0:0/96", "::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48"):
        if ip in ipaddress.IPv6Network(prefix):
            found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip in ipaddress.IPv6Network("2001::/32"):
        server = ipaddress.IPv4Address((value >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address(~value & 0xFFFFFFFF)
        found.extend((server, client))
    return found


def is_metadata_address(address: str | IPAddress) -> bool:
    ip = parse_address(address) if isinstance(address, str) else address
    return ip in METADATA_ADDRESSES or any(v4 in METADATA_ADDRESSES for v4 in embedded_ipv4(ip))


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
    return sorted({info[4][0].split("%", 1)[0] for info in infos})


def check_addresses(host: str, addresses: list[str], allow_private: bool) -> list[str]:
    """The addresses, when every one of them may be called; else UnsafeUrlError naming the first
    that may not (a name with one private address is refused even if others are public)."""
    if not addresses:
        raise UnsafeUrlError(f"the host '{host}' does not resolve")
    for address in addresses:
        if is_metadata_address(address):
            raise UnsafeUrlError(f"the host '{host}' resolves to a cloud metadata address ({address})")
        if not allow_private:
            why = why_not_public(parse_address(address))
            if why:
                raise UnsafeUrlError(f"the host '{host}' resolves to a non-public address ({address}): {why}")
    return addresses


def allowed_addresses(url: str, allow_private: bool) -> tuple[str, int, list[str]]:
    """(host, port, addresses): the URL's host resolved once and every address checked; the caller
    connects to these addresses only. Raises UnsafeUrlError when the URL may not be called."""
    host, port = check_syntax(url)
    if not allow_private:   # refused before any DNS query
        name = host.rstrip(".").lower()
        if name == "localhost" or name.endswith(".localhost"):
            raise UnsafeUrlError("the URL points to this machine (localhost)")
    return host, port, check_addresses(host, resolve(host, port), allow_private)


def check_url(url: str, allow_private: bool) -> None:
    """Raises UnsafeUrlError when the URL may not be called. Resolves the host; sends nothing."""
    allowed_addresses(url, allow_private)
