"""Safe server-side fetching of user-given URLs (SSRF guard).

Any URL a user can give us (media URLs, mask URLs of an import) is checked here before the
server fetches it: http or https only, and every address the host resolves to must be a
public one. Loopback, private, link-local, multicast, reserved, unspecified and the cloud
metadata addresses are refused unless `LABELSITE_URL_ALLOWLIST` (host names or CIDRs)
permits them. Redirects are followed by hand so that each hop is checked again, the body
is read up to a size limit, and every request has a timeout.

The mask URLs of an Ango CSV import (`formats/mask_sources.py`) are fetched here; URL media
are redirected to, for the browser to fetch. Whatever fetches a user URL must use `url_fetch`.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from labelsite.errors import ValidationFailed

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


def url_fetch(
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    allowlist: UrlAllowList | None = None,
) -> FetchedUrl:
    """GET a user-given URL safely: each redirect hop checked, the body capped, a timeout.

    Raises ValidationFailed (code `url_refused`, `url_too_large`, `url_fetch_failed`) rather
    than fetching what it must not. A check-then-connect race with DNS (rebinding) remains
    for host names; IP literals and allow-listed hosts are exact.
    """
    allowed = allowlist if allowlist is not None else url_allowlist()
    current = url
    # requests' timeout bounds each read, not the whole body: a slow drip is cut here.
    deadline = time.monotonic() + timeout
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment may relay us elsewhere
        for _hop in range(max_redirects + 1):
            url_check(current, allowlist=allowed)
            try:
                response = session.get(current, allow_redirects=False, stream=True, timeout=timeout)
            except requests.RequestException as exc:
                raise ValidationFailed(code="url_fetch_failed", message=f"Fetching {current!r} failed: {exc}") from exc
            with response:
                if response.is_redirect:
                    location = response.headers.get("Location", "")
                    current = urljoin(current, location)
                    continue
                declared = response.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise ValidationFailed(
                        code="url_too_large", message=f"{current!r} is larger than {max_bytes} bytes."
                    )
                body = bytearray()
                try:
                    for chunk in response.iter_content(_CHUNK_BYTES):
                        body.extend(chunk)
                        if time.monotonic() > deadline:
                            raise ValidationFailed(
                                code="url_fetch_failed", message=f"Fetching {current!r} took longer than {timeout}s."
                            )
                        if len(body) > max_bytes:
                            raise ValidationFailed(
                                code="url_too_large", message=f"{current!r} is larger than {max_bytes} bytes."
                            )
                except requests.RequestException as exc:
                    raise ValidationFailed(
                        code="url_fetch_failed", message=f"Fetching {current!r} failed: {exc}"
                    ) from exc
                return FetchedUrl(
                    url=current,
                    status_code=response.status_code,
                    content_type=response.headers.get("Content-Type", ""),
                    content=bytes(body),
                )
    raise ValidationFailed(code="url_fetch_failed", message=f"{url!r} redirects more than {max_redirects} times.")
