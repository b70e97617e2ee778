"""Safe server-side fetching of user-given URLs (SSRF guard).

Any URL a user can give us (media URLs, mask URLs of an import) is checked here before the
server fetches it: http or https only, and every address the host resolves to must be a
public one. Loopback, private, link-local, multicast, reserved, unspecified and the cloud
metadata addresses are refused unless `LABELSITE_URL_ALLOWLIST` (host names or CIDRs)
permits them. Redirects are followed by hand so that each hop is checked again, the body
is read up to a size limit, and the whole fetch has one deadline and a minimum rate.

The mask URLs of an Ango CSV import (`formats/mask_sources.py`) are fetched here; URL media
are redirected to, for the browser to fetch. Whatever fetches a user URL must use `url_fetch`.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import quote, urljoin, urlsplit

import certifi
from django.conf import settings

from labelsite.errors import ValidationFailed

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata services; most are link-local already, named here so that no allow-list
#: entry for a wider network lets them through by accident.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_REDIRECTS = 5
#: Once an answer has begun, it must average at least this many bytes a second after its first
#: RATE_GRACE_SECONDS (a server trickling a byte at a time holds a worker; see docs/security.md).
DEFAULT_MIN_BYTES_PER_SECOND = 1024
RATE_GRACE_SECONDS = 2.0
_CHUNK_BYTES = 64 * 1024


def _refused(url: str, reason: str) -> ValidationFailed:
    return ValidationFailed(code="url_refused", message=f"The URL {url!r} cannot be fetched: {reason}.")


@dataclass(frozen=True)
class UrlAllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> UrlAllowList:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def permits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def permits_address(self, address: IPAddress) -> bool:
        return any(address.version == network.version and address in network for network in self.networks)


def url_allowlist() -> UrlAllowList:
    value = getattr(settings, "LABELSITE_URL_ALLOWLIST", ())
    entries = value.split(",") if isinstance(value, str) else value
    return UrlAllowList.parse(entries)


def address_is_public(address: IPAddress) -> bool:
    """Whether an address is one the server may reach for a user: a global unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_is_public(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return False
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise _refused(host, "its host name does not resolve") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        # The scope of a link-local IPv6 address ("fe80::1%eth0") is not part of the address.
        text = str(info[4][0]).split("%", 1)[0]
        addresses.append(ipaddress.ip_address(text))
    return addresses


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host written as an IP means, in any spelling a resolver accepts
    (`2130706433`, `0x7f.1`, `127.1`), or None for a host name."""
    lowered = host.lower().split("%", 1)[0]  # an IPv6 zone ("fe80::1%eth0") is no part of the address
    if not lowered or any(c not in "0123456789abcdefx.:" for c in lowered):
        return None
    try:
        return ipaddress.ip_address(lowered)
    except ValueError:
        pass
    if ":" not in lowered:
        try:
            return ipaddress.IPv4Address(socket.inet_aton(lowered))
        except OSError:
            return None
    return None


def url_shape_problem(url: str, *, allowlist: UrlAllowList | None = None) -> str | None:
    """Why a URL is not one we would ever fetch, judged from its text alone (no DNS lookup);
    None when it passes. For URLs that are stored now and fetched later (URL media of an
    import): `url_check` runs again, with the lookup, at fetch time, when the answer counts."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return "only http and https URLs are fetched"
    host = parts.hostname
    if not host:
        return "it has no host"
    if parts.username or parts.password:
        return "URLs with credentials are not fetched"
    if any(c.isspace() or c in '<>|"' for c in url):
        return 'it holds a space or one of < > | " (encode them, e.g. %20)'
    name = host.rstrip(".").lower()
    local = name == "localhost" or name.endswith(".localhost")
    address = None if local else _ip_literal(host)
    if not local and address is None:
        return None  # a host name: only the lookup at fetch time can judge it
    allowed = allowlist if allowlist is not None else url_allowlist()
    if allowed.permits_host(host):
        return None
    if address is None:
        return "it points at this machine (localhost)"
    if address in METADATA_ADDRESSES:
        return "it points at a cloud metadata address"
    if not address_is_public(address) and not allowed.permits_address(address):
        return f"it points at a non-public address ({address})"
    return None


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    host: str
    addresses: tuple[IPAddress, ...]


def url_check(url: str, *, allowlist: UrlAllowList | None = None) -> CheckedUrl:
    """Refuse a URL that the server must not fetch; return it with the addresses it resolves to.

    The host is resolved here, and every address must be public or allowed: a name that
    resolves to both a public and a private address is refused.
    """
    allowed = allowlist if allowlist is not None else url_allowlist()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refused(url, "it is not a valid URL") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise _refused(url, "only http and https URLs are fetched")
    host = parts.hostname
    if not host:
        raise _refused(url, "it has no host")
    if parts.username or parts.password:
        raise _refused(url, "URLs with credentials are not fetched")
    addresses = _resolve(host, port or (443 if parts.scheme.lower() == "https" else 80))
    if not addresses:
        raise _refused(url, "its host name does not resolve")
    if allowed.permits_host(host):
        return CheckedUrl(url=url, host=host, addresses=tuple(addresses))
    for address in addresses:
        if address in METADATA_ADDRESSES and not allowed.permits_host(str(address)):
            raise _refused(url, "it points at a cloud metadata address")
        if not address_is_public(address) and not allowed.permits_address(address):
            raise _refused(url, f"it points at a non-public address ({address})")
    return CheckedUrl(url=url, host=host, addresses=tuple(addresses))


@dataclass(frozen=True)
class FetchedUrl:
    url: str  # the last hop's URL
    status_code: int
    content_type: str
    content: bytes


class _DeadlinePassed(OSError):
    """The fetch's total time is up (raised from inside a socket call, so http.client lets it through)."""


class _TooSlow(OSError):
    """The answer comes in slower than the minimum rate."""


@dataclass
class _FetchBudget:
    """The time one fetch may take: a deadline for all of it (connecting, TLS, the request, the
    headers, the body, every redirect hop), and, once an answer has begun, a minimum average rate.

    Every socket call of the fetch asks it how long it may wait, so no single read can outlast
    the deadline, however the server spaces its bytes.
    """

    deadline: float
    min_bytes_per_second: float
    grace_seconds: float
    first_byte_at: float | None = None
    received: int = 0
    rate_limits_wait: bool = False

    def new_connection(self) -> None:
        """The rate is measured per hop, from its first byte (a slow start is the deadline's business)."""
        self.first_byte_at = None
        self.received = 0

    def time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _DeadlinePassed
        return left

    def read_timeout(self) -> float:
        """How long the next read may wait: the time left, or less where the rate would fall
        below the minimum sooner."""
        left = self.time_left()
        self.rate_limits_wait = False
        if self.first_byte_at is None or self.min_bytes_per_second <= 0:
            return left
        due = self.first_byte_at + max(self.grace_seconds, self.received / self.min_bytes_per_second)
        wait = due - time.monotonic()
        if wait <= 0:
            raise _TooSlow
        if wait < left:
            self.rate_limits_wait = True
            return wait
        return left

    def waited_too_long(self) -> OSError:
        return _TooSlow() if self.rate_limits_wait else _DeadlinePassed()

    def count(self, size: int) -> None:
        if size and self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        self.received += size


def _budgeted_read(budget: _FetchBudget, read: Callable[[], int]) -> int:
    try:
        size = read()
    except TimeoutError as exc:
        raise budget.waited_too_long() from exc
    budget.count(size)
    return size


def _budgeted_send(budget: _FetchBudget, send: Callable[[], None]) -> None:
    try:
        send()
    except TimeoutError as exc:
        raise _DeadlinePassed from exc


class _BudgetSocket(socket.socket):
    """A TCP socket whose every read and send waits at most what the fetch's budget allows."""

    budget: _FetchBudget

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(self.budget.read_timeout())
        return _budgeted_read(self.budget, lambda: super(_BudgetSocket, self).recv_into(buffer, nbytes, flags))

    def sendall(self, data: ReadableBuffer, flags: int = 0) -> None:
        self.settimeout(self.budget.time_left())
        _budgeted_send(self.budget, lambda: super(_BudgetSocket, self).sendall(data, flags))


class _BudgetSSLSocket(ssl.SSLSocket):
    """The same for TLS (made by `SSLContext.wrap_socket` through `sslsocket_class`)."""

    budget: _FetchBudget

    def recv_into(self, buffer: WriteableBuffer, nbytes: int | None = None, flags: int = 0) -> int:
        self.settimeout(self.budget.read_timeout())
        return _budgeted_read(self.budget, lambda: super(_BudgetSSLSocket, self).recv_into(buffer, nbytes, flags))

    def sendall(self, data: ReadableBuffer, flags: int = 0) -> None:
        self.settimeout(self.budget.time_left())
        _budgeted_send(self.budget, lambda: super(_BudgetSSLSocket, self).sendall(data, flags))


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    context.sslsocket_class = _BudgetSSLSocket
    return context


def _connect(checked: CheckedUrl, *, port: int, tls: bool, budget: _FetchBudget) -> socket.socket:
    """A socket to one of the addresses `url_check` approved (never a second DNS lookup, which
    could answer differently), TLS verified against the host name, all within the budget."""
    failure: OSError = OSError("the host has no address")
    for address in dict.fromkeys(checked.addresses):
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = _BudgetSocket(family, socket.SOCK_STREAM)
        sock.budget = budget
        try:
            sock.settimeout(budget.time_left())
            sock.connect((str(address), port))
        except TimeoutError as exc:
            sock.close()
            raise _DeadlinePassed from exc
        except _DeadlinePassed:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        if not tls:
            return sock
        try:
            secure = cast(
                _BudgetSSLSocket,
                _tls_context().wrap_socket(sock, server_hostname=checked.host, do_handshake_on_connect=False),
            )
        except BaseException:
            sock.close()
            raise
        secure.budget = budget
        try:
            secure.settimeout(budget.time_left())
            secure.do_handshake()
        except TimeoutError as exc:
            secure.close()
            raise _DeadlinePassed from exc
        except BaseException:
            secure.close()
            raise
        return secure
    raise failure


#: Characters left as they are in a request target; anything else is percent-encoded.
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _get(checked: CheckedUrl, *, budget: _FetchBudget) -> http.client.HTTPConnection:
    """Send a GET for a checked URL; the connection, with its response still to be read."""
    return _send(checked, budget=budget, method="GET", body=None, headers={})


def _send(
    checked: CheckedUrl, *, budget: _FetchBudget, method: str, body: bytes | None, headers: dict[str, str]
) -> http.client.HTTPConnection:
    """Send a request for a checked URL; the connection, with its response still to be read."""
    parts = urlsplit(checked.url)
    tls = parts.scheme.lower() == "https"
    port = parts.port or (443 if tls else 80)
    try:
        host = checked.host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise _refused(checked.url, "its host name is not valid") from exc
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    connection = http.client.HTTPConnection(host, port)
    connection.default_port = 443 if tls else 80  # so that the Host header leaves out the usual port
    budget.new_connection()
    connection.sock = _connect(checked, port=port, tls=tls, budget=budget)
    sent = {"User-Agent": "Labelsite", "Accept": "*/*", "Connection": "close", **headers}
    connection.request(method, target, body=body, headers=sent)
    return connection


def url_fetch(
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    min_bytes_per_second: float = DEFAULT_MIN_BYTES_PER_SECOND,
    allowlist: UrlAllowList | None = None,
) -> FetchedUrl:
    """GET a user-given URL safely: each redirect hop checked, the body capped, and one deadline.

    `timeout` bounds the whole fetch, every hop, connection and read included: each socket
    call waits at most the time left. Once an answer has begun it must also average at least
    `min_bytes_per_second` after its first `RATE_GRACE_SECONDS` (0 turns the rate off), so a
    server trickling bytes is cut off early instead of holding a worker until the deadline.

    Raises ValidationFailed (code `url_refused`, `url_too_large`, `url_fetch_failed`) rather
    than fetching what it must not. The connection goes to an address `url_check` approved,
    never to the answer of a second lookup; no proxy from the environment is used.
    """
    allowed = allowlist if allowlist is not None else url_allowlist()
    budget = _FetchBudget(
        deadline=time.monotonic() + timeout,
        min_bytes_per_second=min_bytes_per_second,
        grace_seconds=RATE_GRACE_SECONDS,
    )
    current = url
    for _hop in range(max_redirects + 1):
        checked = url_check(current, allowlist=allowed)
        connection: http.client.HTTPConnection | None = None
        try:
            connection = _get(checked, budget=budget)
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in _REDIRECT_STATUSES and location:
                current = urljoin(current, location)
                continue
            declared = response.getheader("Content-Length") or ""
            if declared.isdigit() and int(declared) > max_bytes:
                raise ValidationFailed(code="url_too_large", message=f"{current!r} is larger than {max_bytes} bytes.")
            body = bytearray()
            while chunk := response.read(min(_CHUNK_BYTES, max_bytes + 1 - len(body))):
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise ValidationFailed(
                        code="url_too_large", message=f"{current!r} is larger than {max_bytes} bytes."
                    )
            return FetchedUrl(
                url=current,
                status_code=response.status,
                content_type=response.getheader("Content-Type") or "",
                content=bytes(body),
            )
        except _DeadlinePassed as exc:
            raise ValidationFailed(
                code="url_fetch_failed",
                message=f"Fetching {current!r} took longer than {timeout:g} s, the limit for one fetch.",
            ) from exc
        except _TooSlow as exc:
            raise ValidationFailed(
                code="url_fetch_failed",
                message=f"Fetching {current!r} was slower than {min_bytes_per_second:g} bytes/s; "
                "the server sends too slowly.",
            ) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ValidationFailed(code="url_fetch_failed", message=f"Fetching {current!r} failed: {exc}") from exc
        finally:
            if connection is not None:
                connection.close()
    raise ValidationFailed(code="url_fetch_failed", message=f"{url!r} redirects more than {max_redirects} times.")


def url_request(
    url: str,
    *,
    method: str = "POST",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    allowlist: UrlAllowList | None = None,
) -> FetchedUrl:
    """One request (a POST with a body, or a GET) to a user-given URL, checked as `url_fetch`
    checks: the address approved, the body capped, one deadline for all of it. A redirect is
    not followed (a POST would have to change into a GET); it comes back as the answer.

    For the servers our users connect (the ML backends of `ml/`): `headers` may carry their
    credentials. Raises ValidationFailed (`url_refused`, `url_too_large`, `url_fetch_failed`).
    """
    allowed = allowlist if allowlist is not None else url_allowlist()
    budget = _FetchBudget(deadline=time.monotonic() + timeout, min_bytes_per_second=0, grace_seconds=0)
    checked = url_check(url, allowlist=allowed)
    connection: http.client.HTTPConnection | None = None
    try:
        connection = _send(checked, budget=budget, method=method, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        declared = response.getheader("Content-Length") or ""
        if declared.isdigit() and int(declared) > max_bytes:
            raise ValidationFailed(
                code="url_too_large", message=f"The answer of {url!r} is larger than {max_bytes} bytes."
            )
        answer = bytearray()
        while chunk := response.read(min(_CHUNK_BYTES, max_bytes + 1 - len(answer))):
            answer.extend(chunk)
            if len(answer) > max_bytes:
                raise ValidationFailed(
                    code="url_too_large", message=f"The answer of {url!r} is larger than {max_bytes} bytes."
                )
        return FetchedUrl(
            url=url,
            status_code=response.status,
            content_type=response.getheader("Content-Type") or "",
            content=bytes(answer),
        )
    except (_DeadlinePassed, _TooSlow) as exc:
        raise ValidationFailed(
            code="url_fetch_failed", message=f"{url!r} did not answer within {timeout:g} s, the limit for one request."
        ) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise ValidationFailed(code="url_fetch_failed", message=f"Requesting {url!r} failed: {exc}") from exc
    finally:
        if connection is not None:
            connection.close()
