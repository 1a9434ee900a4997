"""URL safety: refused without sending anything (names are resolved, or stubbed to resolve)."""
import re
import socket

import pytest

from catalog.webhooks import sender, urls
from catalog.webhooks.urls import UnsafeUrlError, check_url


def fake_resolver(table):
    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(f"unknown host {host}")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in table[host]]
    return getaddrinfo


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://localhost/",
    "http://LOCALHOST.:8080/hook",
    "http://127.0.0.1:9/",
    "http://[::1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://0.0.0.0/",
    "http://192.168.1.20/",
    "http://172.16.5.4/",
    "http://100.64.0.1/",
    "http://[fd00:ec2::254]/",
])
def test_private_and_metadata_targets_are_refused(url):
    with pytest.raises(UnsafeUrlError):
        check_url(url, allow_private=False)


def test_hostname_resolving_to_private_address_is_refused(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", fake_resolver({
        "internal.example.com": ["10.1.2.3"], "mixed.example.com": ["93.184.215.14", "192.168.0.7"],
        "public.example.com": ["93.184.215.14"]}))
    with pytest.raises(UnsafeUrlError, match="10.1.2.3"):
        check_url("https://internal.example.com/hook", allow_private=False)
    with pytest.raises(UnsafeUrlError, match="192.168.0.7"):
        check_url("https://mixed.example.com/hook", allow_private=False)
    check_url("https://public.example.com/hook", allow_private=False)
    with pytest.raises(UnsafeUrlError, match="does not resolve"):
        check_url("https://nowhere.example.com/hook", allow_private=False)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http://",
                                 "http://user:pw@example.com/", "javascript:alert(1)", "http://exa mple.com/"])
def test_only_plain_http_urls(url):
    with pytest.raises(UnsafeUrlError):
        check_url(url, allow_private=True)


@pytest.mark.parametrize("url, refusal", [
    ("http://127.0.0.1:8080/hook", "non-public address (127.0.0.1)"),
    ("http://localhost:8080/hook", "localhost"),
    ("http://[::1]:8080/hook", "non-public address (::1)"),
])
def test_local_development_allows_loopback(url, refusal):
    assert check_url(url, allow_private=True) is None          # allowed: returns without raising
    with pytest.raises(UnsafeUrlError, match=re.escape(refusal)):
        check_url(url, allow_private=False)                     # the same URL, refused in the cloud


def test_delivery_refuses_private_target_without_connecting(monkeypatch):
    def no_connect(*args, **kwargs):
        raise AssertionError("must not connect")
    monkeypatch.setattr(socket, "create_connection", no_connect)
    result = sender.post("http://10.0.0.1/hook", "{}", {}, timeout=1, allow_private=False)
    assert result.status_code is None and result.error.startswith("refused")


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
                                 "http://169.254.170.2/v2/credentials"])
def test_metadata_addresses_stay_refused_when_private_targets_are_allowed(url):
    with pytest.raises(UnsafeUrlError, match="cloud metadata address"):
        check_url(url, allow_private=True)
    result = sender.post(url, "{}", {}, timeout=1, allow_private=True)
    assert result.status_code is None and result.error.startswith("refused")


def test_a_name_resolving_to_metadata_is_refused_when_private_targets_are_allowed(monkeypatch):
    monkeypatch.setattr(urls, "resolve", lambda host, port: ["169.254.169.254"])
    with pytest.raises(UnsafeUrlError, match="metadata"):
        check_url("http://metadata.example.test/", allow_private=True)
