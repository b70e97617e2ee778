"""Server-side fetches of user URLs: only public addresses, unless the allow-list says so."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
    import ipaddress

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
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(ValidationFailed) as caught:
            url_fetch(f"http://127.0.0.1:{port}/x.png", allowlist=LOOPBACK_ALLOWED, timeout=0.5)
    assert caught.value.code == "url_fetch_failed"
