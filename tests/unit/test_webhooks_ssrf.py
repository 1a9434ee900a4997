"""SSRF: which addresses a webhook may reach (a table, the same answer on every Python version),
and the connection going only to the address that was checked (DNS answers changing between the
check and the connect cannot reach a private address; HTTPS still checks the host name)."""
from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from catalog.webhooks import sender
from catalog.webhooks.urls import UnsafeUrlError, check_url, is_metadata_address, is_public_address

PUBLIC = [
    "93.184.215.14", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
    "192.167.255.255", "192.169.0.0", "169.253.255.255", "198.17.255.255", "198.20.0.0",
    "2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "2001:4860:4860::8888", "2600::",
]
NOT_PUBLIC = [
    # IPv4
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.1.2.3",
    "169.254.0.1", "169.254.169.254", "169.254.170.2", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.0.2.1",
    "192.88.99.1", "192.168.1.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255",
    # IPv6 outside global unicast
    "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:93.184.215.14", "::127.0.0.1", "::10.0.0.1",
    "::ffff:0:10.0.0.1", "64:ff9b::10.0.0.1", "64:ff9b::93.184.215.14", "64:ff9b:1::a00:1", "100::1",
    "fc00::1", "fd00::1", "fd00:ec2::254", "fe80::1", "fe80::1%eth0", "febf::1", "fec0::1", "feff::1",
    "ff02::1", "ff0e::1",
    # IPv6 in 2000::/3 that embeds or reaches an IPv4 address, or is not routable
    "2002:a00:1::", "2002:7f00:1::1", "2002:c0a8:101::", "2002:5db8:d70e::1", "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:2::1", "2001:10::1", "2001:db8::1", "3fff::1",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address):
    assert is_public_address(address)


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_addresses_that_are_not_public_or_embed_one(address):
    assert not is_public_address(address)


def test_the_rules_do_not_lean_on_ipaddress_is_global():
    """`ipaddress` calls site-local fec0::/10 global on every version, and 6to4 global on 3.11 and
    3.12 (private on 3.13): the rules refuse both on every version."""
    assert ipaddress.ip_address("fec0::1").is_global          # what `is_global` alone would let through
    for address in ("fec0::1", "2002:a00:1::", "2002:808:808::1"):
        assert not is_public_address(address)


@pytest.mark.parametrize("address", [
    "169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254", "fd00:ec2::23",
    "::ffff:169.254.169.254", "::169.254.169.254", "64:ff9b::169.254.169.254", "64:ff9b:1::a9fe:a9fe",
    "2002:a9fe:a9fe::1",                                    # 6to4 of 169.254.169.254
    "2001:0:a9fe:a9fe::1",                                  # Teredo whose server is the metadata address
    "2001:0:4136:e378:8000:63bf:5601:5601",                 # Teredo whose client is 169.254.169.254 (bits inverted)
])
def test_metadata_in_every_form_is_refused_even_when_private_targets_are_allowed(address, monkeypatch):
    assert is_metadata_address(address)
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))])
    with pytest.raises(UnsafeUrlError, match="cloud metadata address"):
        check_url("http://metadata.example.test/", allow_private=True)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "fd12::1", "::1", "192.168.0.7"])
def test_private_targets_allowed_for_local_development_only(address, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))])
    check_url("http://receiver.example.test/", allow_private=True)
    with pytest.raises(UnsafeUrlError, match="non-public address"):
        check_url("http://receiver.example.test/", allow_private=False)


# --- connecting only to the checked address -------------------------------------------------------
class _Server:
    """An HTTP(S) server on 127.0.0.1 that records each request's Host header (and TLS SNI)."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.requests: list[dict] = []
        self.sni: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.requests.append({"host": self.headers["Host"], "path": self.path})
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def resolver(monkeypatch):
    """socket.getaddrinfo answering `answers[name]` (a list of answers, one per query, the last
    repeating) for the names given, and the real resolver for everything else; `queries` counts."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    queries: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            n = queries[host] = queries.get(host, 0) + 1
            address = answers[host][min(n, len(answers[host])) - 1]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, queries


def test_a_dns_answer_that_changes_after_the_check_cannot_reach_a_private_address(resolver, monkeypatch):
    """DNS rebinding: the name answers a public address for the check and loopback afterwards.
    The connection goes to the checked public address; the private receiver gets nothing."""
    receiver = _Server()
    answers, queries = resolver
    answers["rebind.example.test"] = ["93.184.215.14", "127.0.0.1"]
    connects: list[tuple] = []

    def create_connection(address, *args, **kwargs):
        connects.append(address)
        if address[0] == "93.184.215.14":          # no real traffic leaves the machine in a unit test
            raise ConnectionRefusedError("refused (test)")
        return real_create_connection(address, *args, **kwargs)

    real_create_connection = urllib3.util.connection.create_connection
    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    try:
        result = sender.post(f"http://rebind.example.test:{receiver.port}/hook", "{}", {}, timeout=2,
                             allow_private=False)
    finally:
        receiver.stop()
    assert connects == [("93.184.215.14", receiver.port)]
    assert queries["rebind.example.test"] == 1       # resolved once: the checked answer is the one used
    assert result.status_code is None and result.error.startswith("connection failed")
    assert receiver.requests == []


def test_the_pinned_connection_keeps_the_host_header(resolver):
    receiver = _Server()
    answers, queries = resolver
    answers["receiver.example.test"] = ["127.0.0.1"]
    try:
        result = sender.post(f"http://receiver.example.test:{receiver.port}/hook?a=1", "{}", {}, timeout=2,
                             allow_private=True)
    finally:
        receiver.stop()
    assert result.status_code == 200
    assert receiver.requests == [{"host": f"receiver.example.test:{receiver.port}", "path": "/hook?a=1"}]


def _certificate(tmp_path, name: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_https_to_the_pinned_address_sends_sni_and_checks_the_certificate_against_the_name(
        resolver, monkeypatch, tmp_path):
    cert, key = _certificate(tmp_path, "hooks.example.test")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    receiver = _Server(tls)
    answers, _ = resolver
    answers["hooks.example.test"] = ["127.0.0.1"]
    answers["impostor.example.test"] = ["127.0.0.1"]
    monkeypatch.setattr(sender, "CA_BUNDLE", cert)       # the test's certificate is the one trusted
    try:
        good = sender.post(f"https://hooks.example.test:{receiver.port}/hook", "{}", {}, timeout=5,
                           allow_private=True)
        wrong_name = sender.post(f"https://impostor.example.test:{receiver.port}/hook", "{}", {}, timeout=5,
                                 allow_private=True)
    finally:
        receiver.stop()
    assert good.status_code == 200, good.error
    assert receiver.sni[0] == "hooks.example.test"
    assert receiver.requests[0]["host"] == f"hooks.example.test:{receiver.port}"
    assert wrong_name.status_code is None and "TLS" in wrong_name.error     # the certificate names another host
    assert len(receiver.requests) == 1
