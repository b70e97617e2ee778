"""The native API's JSON parser: the nesting is measured before `json` recurses into it."""

from __future__ import annotations

import codecs
import contextlib
import io
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from labelsite.jsondepth import json_depth_check


class DepthLimitedJSONParser(JSONParser):
    """DRF's strict JSON parser, refusing (400 `json_too_deep`) what nests beyond `MAX_JSON_DEPTH`.

    Without it, `[` x 100,000 raised RecursionError inside `json.load`: a 500 on every route.
    """

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        raw = stream.read()
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        scanned = raw
        # The scan reads UTF-8 (no multi-byte character of it holds a bracket, quote or backslash).
        # A charset that is no text encoding, or does not decode the body, is left to DRF's parser,
        # which refuses it before `json` sees anything.
        with contextlib.suppress(LookupError, UnicodeError):
            if codecs.lookup(encoding).name != "utf-8":
                scanned = raw.decode(encoding).encode()
        json_depth_check(scanned)
        return super().parse(io.BytesIO(raw), media_type, parser_context)
