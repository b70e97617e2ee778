"""Server-side fetches of user URLs: only public addresses, unless the allow-list says so."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from labelsite.errors import ValidationFailed
from labelsite.netguard import UrlAllowList, address_is_public, url_check, url_fetch, url_shape_problem

NOTHING_ALLOWED = UrlAllowList.parse([])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://127.1/x.png",
        "http://localhost/x.png",
        "http://[::1]/x.png",
        "http://0.0.0.0/x.png",
        "http://10.1.2.3/x.png",
        "http://172.16.0.1/x.png",
        "http://192.168.1.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/x.png",
        "http://224.0.0.1/x.png",
        "http://240.0.0.1/x.png",
        "http://100.64.0.1/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://2130706433/x.png",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/x.png",
    ],
)
def test_url_check_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        url_check(url, allowlist=NOTHING_ALLOWED)
    assert caught.value.code == "url_refused"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://8.8.8.8/x",
        "gopher://8.8.8.8/",
        "javascript:alert(1)",
        "http:///x",
        "http://u:p@8.8.8.8/",
    ],
)
def test_url_check_refuses_other_schemes_credentials_and_missing_hosts(url: str) -> None:
    with pytest.raises(ValidationFailed):
        url_check(url, allowlist=NOTHING_ALLOWED)


def test_url_check_accepts_a_public_ip_literal() -> None:
    checked = url_check("https://8.8.8.8/image.png", allowlist=NOTHING_ALLOWED)
    assert [str(a) for a in checked.addresses] == ["8.8.8.8"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.jpg",
        "http://2130706433/a.jpg",
        "http://0x7f.1/a.jpg",
        "http://127.1/a.jpg",
        "http://[::1]/a.jpg",
        "http://[::ffff:10.0.0.1]/a.jpg",
        "http://[fe80::1%25eth0]/a.jpg",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.1.20/a.jpg",
        "http://localhost:8000/a.jpg",
        "http://media.localhost/a.jpg",
        "ftp://example.com/a.jpg",
        "https://user:pw@example.com/a.jpg",
        "https:///a.jpg",
        "https://example.com/a b.jpg",
        "https://example.com:port/a.jpg",
    ],
)
def test_url_shape_refuses_without_a_lookup_what_url_check_would_refuse(url: str) -> None:
    assert url_shape_problem(url, allowlist=UrlAllowList.parse([])) is not None


def test_url_shape_accepts_host_names_and_public_addresses_and_honours_the_allow_list() -> None:
    nothing = UrlAllowList.parse([])

    assert url_shape_problem("https://cdn.example.com/a.jpg?sig=1#x", allowlist=nothing) is None
    assert url_shape_problem("https://93.184.216.34/a.jpg", allowlist=nothing) is None
    assert url_shape_problem("http://127.0.0.1/a.jpg", allowlist=UrlAllowList.parse(["127.0.0.0/8"])) is None
    assert url_shape_problem("http://localhost/a.jpg", allowlist=UrlAllowList.parse(["localhost"])) is None


def test_public_address_rules() -> None:
    assert address_is_public(ipaddress.ip_address("1.1.1.1"))
    assert address_is_public(ipaddress.ip_address("2606:4700:4700::1111"))
    assert not address_is_public(ipaddress.ip_address("fc00::1"))


def test_allow_list_by_cidr_and_by_host_permits_loopback() -> None:
    assert url_check("http://127.0.0.1:9/x.png", allowlist=UrlAllowList.parse(["127.0.0.0/8"]))
    assert url_check("http://localhost:9/x.png", allowlist=UrlAllowList.parse(["localhost"]))
    with pytest.raises(ValidationFailed):
        url_check("http://10.0.0.1/x.png", allowlist=UrlAllowList.parse(["127.0.0.0/8"]))


def test_allow_list_of_a_wide_network_does_not_open_the_metadata_address() -> None:
    with pytest.raises(ValidationFailed):
        url_check("http://169.254.169.254/", allowlist=UrlAllowList.parse(["169.254.0.0/16"]))


def test_allow_list_is_read_from_the_setting(settings: Any) -> None:
    settings.LABELSITE_URL_ALLOWLIST = ["127.0.0.1/32"]
    assert url_check("http://127.0.0.1:9/x.png").host == "127.0.0.1"
    settings.LABELSITE_URL_ALLOWLIST = []
    with pytest.raises(ValidationFailed):
        url_check("http://127.0.0.1:9/x.png")


# --- fetching, against a local server -----------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/image.png":
            self._send(200, b"\x89PNG fake")
        elif self.path == "/big":
            self._send(200, b"x" * 5000)
        elif self.path == "/big-undeclared":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"y" * 5000)
            self.close_connection = True
        elif self.path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif self.path == "/to-private":
            self._redirect("http://10.0.0.1/x.png")
        elif self.path == "/to-image":
            self._redirect("/image.png")
        elif self.path == "/loop":
            self._redirect("/loop")
        else:
            self._send(404, b"")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


LOOPBACK_ALLOWED = UrlAllowList.parse(["127.0.0.1/32"])


def test_fetch_refuses_loopback_without_the_allow_list(local_server: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        url_fetch(f"{local_server}/image.png", allowlist=NOTHING_ALLOWED)
    assert caught.value.code == "url_refused"


def test_fetch_reads_an_allowed_url_and_follows_a_checked_redirect(local_server: str) -> None:
    fetched = url_fetch(f"{local_server}/to-image", allowlist=LOOPBACK_ALLOWED)
    assert fetched.status_code == 200
    assert fetched.content == b"\x89PNG fake"
    assert fetched.url.endswith("/image.png")


@pytest.mark.parametrize("path", ["/to-metadata", "/to-private"])
def test_fetch_checks_every_redirect_hop_again(local_server: str, path: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        url_fetch(f"{local_server}{path}", allowlist=LOOPBACK_ALLOWED)
    assert caught.value.code == "url_refused"


def test_fetch_stops_after_too_many_redirects(local_server: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        url_fetch(f"{local_server}/loop", allowlist=LOOPBACK_ALLOWED, max_redirects=3)
    assert caught.value.code == "url_fetch_failed"


@pytest.mark.parametrize("path", ["/big", "/big-undeclared"])
def test_fetch_refuses_a_body_over_the_size_limit(local_server: str, path: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        url_fetch(f"{local_server}{path}", allowlist=LOOPBACK_ALLOWED, max_bytes=1000)
    assert caught.value.code == "url_too_large"


def test_fetch_times_out_on_a_server_that_never_answers() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(ValidationFailed) as caught:
            url_fetch(f"http://127.0.0.1:{port}/x.png", allowlist=LOOPBACK_ALLOWED, timeout=0.5)
    assert caught.value.code == "url_fetch_failed"


# --- slow servers: one deadline for the whole fetch, and a minimum rate -----------------------


class _TrickleHandler(BaseHTTPRequestHandler):
    """Answers a little at a time, until the test ends (the server's `stop` event).

    /body: the status line and headers at once, then the body one byte per `interval`;
    /headers: the status line and headers themselves one byte per `interval`.
    """

    def do_GET(self) -> None:
        server: Any = self.server
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
        try:
            if self.path == "/body":
                self.wfile.write(head)
                dripped = b"x" * 100000
            else:
                dripped = head + b"x" * 100000
            for byte in dripped:
                self.wfile.write(bytes([byte]))
                if server.stop.wait(server.interval):
                    return
        except OSError:
            return  # the client gave up: what the tests want

    def log_message(self, format: str, *args: Any) -> None:
        pass


def trickling_server(interval: float) -> Iterator[str]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _TrickleHandler)
    server.stop = threading.Event()
    server.interval = interval
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def trickle_every_2s() -> Iterator[str]:
    yield from trickling_server(2.0)


@pytest.fixture
def trickle_every_100ms() -> Iterator[str]:
    yield from trickling_server(0.1)


def fetch_failure_within(seconds: float, url: str, **options: Any) -> tuple[ValidationFailed, float]:
    """Run url_fetch in a thread; the error it raised and how long it took, or fail the test
    if it is still fetching after `seconds` (the thread ends when the test stops the server)."""
    outcome: list[BaseException | None] = []

    def fetch() -> None:
        try:
            url_fetch(url, allowlist=LOOPBACK_ALLOWED, **options)
        except BaseException as error:  # handed to the test
            outcome.append(error)
        else:
            outcome.append(None)

    started = time.monotonic()
    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    thread.join(seconds)
    took = time.monotonic() - started
    if thread.is_alive():
        pytest.fail(f"url_fetch({url!r}) was still fetching after {seconds} s")
    error = outcome[0]
    assert isinstance(error, ValidationFailed), f"expected a refusal, got {error!r}"
    return error, took


def test_fetch_of_a_body_trickled_one_byte_every_2s_fails_within_the_deadline(trickle_every_2s: str) -> None:
    url = f"{trickle_every_2s}/body"

    error, took = fetch_failure_within(3.0 + 1.0, url, timeout=3.0)

    assert error.code == "url_fetch_failed"
    assert repr(url) in error.message
    assert took < 3.0 + 1.0


def test_fetch_of_headers_trickled_one_byte_every_2s_fails_within_the_deadline(trickle_every_2s: str) -> None:
    url = f"{trickle_every_2s}/headers"

    error, took = fetch_failure_within(3.0 + 1.0, url, timeout=3.0)

    assert error.code == "url_fetch_failed"
    assert repr(url) in error.message
    assert took < 3.0 + 1.0


def test_the_deadline_counts_connect_headers_and_body_together_and_says_so(trickle_every_2s: str) -> None:
    url = f"{trickle_every_2s}/body"

    error, took = fetch_failure_within(3.0 + 1.0, url, timeout=3.0, min_bytes_per_second=0)

    assert error.message == f"Fetching {url!r} took longer than 3 s, the limit for one fetch."
    assert 3.0 <= took < 3.0 + 0.5


def test_fetch_of_a_body_sent_slower_than_the_minimum_rate_fails_long_before_the_deadline(
    trickle_every_100ms: str,
) -> None:
    # 10 bytes/s: under the timeout of 30 s it would hold a worker for hours; the minimum
    # rate (1 KiB/s after the first 2 s of the answer) ends it at about 2 s.
    url = f"{trickle_every_100ms}/body"

    error, took = fetch_failure_within(5.0, url, timeout=30.0)

    assert error.code == "url_fetch_failed"
    assert error.message == f"Fetching {url!r} was slower than 1024 bytes/s; the server sends too slowly."
    assert took < 2.0 + 1.0


# --- TLS, through the same budgeted connection --------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    authority_pem: Path  # the test's certificate authority, for the client to trust
    chain_pem: Path  # the server's certificate for 127.0.0.1, signed by it
    key_pem: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, *, authority: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True)
        )
        if not authority:
            address = ipaddress.ip_address("127.0.0.1")
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(address)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    authority_key = ec.generate_private_key(ec.SECP256R1())
    server_key = ec.generate_private_key(ec.SECP256R1())
    authority = certificate("Labelsite test CA", authority_key, "Labelsite test CA", authority_key, authority=True)
    server = certificate("127.0.0.1", server_key, "Labelsite test CA", authority_key, authority=False)
    folder = tmp_path_factory.mktemp("tls")
    paths = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths.authority_pem.write_bytes(authority.public_bytes(serialization.Encoding.PEM))
    paths.chain_pem.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths.key_pem.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture
def tls_server(certificates: TlsFiles) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.chain_pem, certificates.key_pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_over_tls_checks_the_certificate_and_reads_the_body(
    tls_server: str, certificates: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("certifi.where", lambda: str(certificates.authority_pem))

    fetched = url_fetch(f"{tls_server}/to-image", allowlist=LOOPBACK_ALLOWED, timeout=5.0)

    assert (fetched.status_code, fetched.content) == (200, b"\x89PNG fake")
    assert fetched.url == f"{tls_server}/image.png"


def test_fetch_over_tls_refuses_a_certificate_no_trusted_authority_signed(tls_server: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        url_fetch(f"{tls_server}/image.png", allowlist=LOOPBACK_ALLOWED, timeout=5.0)

    assert caught.value.code == "url_fetch_failed"
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message


def test_fetch_over_tls_of_a_server_that_never_shakes_hands_fails_within_the_deadline() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"https://127.0.0.1:{silent.getsockname()[1]}/x.png"

        error, took = fetch_failure_within(1.0 + 1.0, url, timeout=1.0)

    assert error.message == f"Fetching {url!r} took longer than 1 s, the limit for one fetch."
    assert took < 1.0 + 0.5
