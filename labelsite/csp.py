"""What the Content-Security-Policy lets a page load, asked before showing it.

A page that would put an `<img>` of another origin (an attachment's thumbnail) asks
`img_src_allows` first, so that an operator's narrowed `LABELSITE_CSP_IMG_SRC` gives a link
instead of a broken image.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings


def img_src_allows(url: str) -> bool:
    """Whether the policy's `img-src` allows an image from `url` (an absolute http(s) URL):
    scheme sources (`https:`), host sources (`https://cdn.example.com`, `*.example.com`,
    `cdn.example.com:8443`) and `*`; `'self'` never matches, the URL being of another origin."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return False
    port = parts.port or (443 if scheme == "https" else 80)
    sources = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"].get("img-src", [])
    return any(_source_allows(str(source).lower(), scheme, host, port) for source in sources)


def _source_allows(source: str, scheme: str, host: str, port: int) -> bool:
    if source == "*":
        return True
    if source.endswith(":") and "/" not in source:
        # A scheme source; CSP lets http: also allow https:.
        return source[:-1] == scheme or (source == "http:" and scheme == "https")
    if source.startswith("'"):
        return False
    if "://" in source:
        source_scheme, source = source.split("://", 1)
        if source_scheme != scheme and not (source_scheme == "http" and scheme == "https"):
            return False
    source = source.split("/", 1)[0]
    source_host, _, source_port = source.partition(":")
    if source_port and source_port != "*" and source_port != str(port):
        return False
    if not source_port and port not in (80, 443):
        return False
    if source_host.startswith("*."):
        return host.endswith(source_host[1:])
    return host == source_host
