"""Upload limits: an upload is refused by its declared size before its body is read, and every
file part streams through a counter that stops it at the limit, so no upload is held whole in
memory (docs/security.md, issue 15 item 10).

Django reads a multipart body the first time anything asks for `request.POST` or `FILES`, and
CsrfViewMiddleware does so before a page's view runs (as DRF's session authentication does before
an API view's method): a limit checked in the view came after the body had been spooled. So:

- page views take `upload_limited(limit, refused=...)`: the declared size is judged and the
  limiting handler put in place before the CSRF check, which then runs on the limited parse;
- API views subclass `labelsite.api.UploadLimitedApi`: the same in `initial()`, before
  authentication (it lives there: importing DRF's views here would load the authentication
  classes, which import the services that import this module);
- a raw body (DataGym's upload) is copied by `upload_body_spool` to a temporary file, counted.

A file part past the limit is never buffered: `SizeLimitedUploadHandler` (first of the request's
upload handlers) drops it at the limit and Django reads past the rest of the part without keeping
it. A single-file upload is then refused whole (`TooLarge`, 413); a many-file upload (the native
API) lists that file as failed and keeps the others.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import IO, Any, TypeVar

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponseBase, QueryDict
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from labelsite.errors import ErrorDetail, TooLarge

#: Room for the multipart envelope (boundaries, part headers, small form fields) around the files
#: when a request is judged by its declared size.
MULTIPART_SLACK = 1024 * 1024
#: Bytes read from a raw body at a time.
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class UploadLimit:
    """A size limit of uploaded files: the setting that holds it, what it limits, how to fix a refusal."""

    setting: str
    noun: str
    fix: str

    @property
    def max_bytes(self) -> int:
        return int(getattr(settings, self.setting))

    def _error(self, message: str) -> TooLarge:
        return TooLarge(
            code="file_too_large",
            message=message,
            details=[ErrorDetail(path="file", code="too_large", message=f"At most {self.max_bytes:,} bytes.")],
            params=(self.max_bytes,),
        )

    def file_too_large(self, *, name: str = "", size: int | None = None) -> TooLarge:
        subject = f"The file {name!r}" if name else "The file"
        has = f"has {size:,} bytes" if size is not None else f"is larger than {self.max_bytes:,} bytes"
        return self._error(
            f"{subject} {has}; {self.noun} may have at most {self.max_bytes:,} bytes ({self.setting}). {self.fix}"
        )

    def request_too_large(self, *, declared: int, files: int) -> TooLarge:
        each = f"{self.noun} of at most {self.max_bytes:,} bytes ({self.setting})"
        takes = each if files == 1 else f"at most {files} files, each {each}"
        return self._error(
            f"The request declares {declared:,} bytes (Content-Length); an upload here takes {takes}. {self.fix}"
        )


IMAGE_UPLOAD = UploadLimit(
    setting="LABELSITE_MAX_IMAGE_BYTES",
    noun="an image",
    fix="Scale the image down or save it compressed (JPEG or WebP), then upload it again.",
)
IMPORT_UPLOAD = UploadLimit(
    setting="LABELSITE_MAX_IMPORT_BYTES",
    noun="an import file",
    fix="Split the file into several imports.",
)


def content_length(request: HttpRequest) -> int:
    """The declared size of the body, as Django reads it (0 when missing or not a number)."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


class SizeLimitedUploadHandler(FileUploadHandler):
    """First of a request's upload handlers: counts each file part's bytes as they stream past and
    drops the part at the limit (`SkipFile`: Django closes what the next handlers wrote of it and
    reads past the rest of it without keeping it). Passes every chunk on to the next handlers."""

    def __init__(self, request: HttpRequest, *, limit: UploadLimit, many: bool) -> None:
        super().__init__(request)
        self.limit = limit
        self.max_bytes = limit.max_bytes
        self.many = many
        #: The names of the file parts dropped for their size, in the order of the request.
        self.refused: list[str] = []
        self._received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._received += len(raw_data)
        if self._received > self.max_bytes:
            self.refused.append(self.file_name or "")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) makes the file

    def upload_complete(self) -> None:
        if self.refused and not self.many:
            # The whole body has been read (at most MULTIPART_SLACK past the limit): the client
            # gets the answer on a connection in good order. Nothing of the request is kept.
            request: Any = self.request
            request._post, request._files = QueryDict(), MultiValueDict()
            raise self.limit.file_too_large(name=self.refused[0])


def upload_limit_install(request: HttpRequest, *, limit: UploadLimit, many: bool = False) -> SizeLimitedUploadHandler:
    """Refuse (`TooLarge`) a request that declares more than its files may have; else put the
    limiting handler first, before anything parses the body. `many`: the request may carry up to
    DATA_UPLOAD_MAX_NUMBER_FILES files, each up to the limit, and one past it fails on its own."""
    files = (settings.DATA_UPLOAD_MAX_NUMBER_FILES or 0) if many else 1
    declared = content_length(request)
    if files and declared > limit.max_bytes * files + MULTIPART_SLACK:
        raise limit.request_too_large(declared=declared, files=files)
    handler = SizeLimitedUploadHandler(request, limit=limit, many=many)
    request.upload_handlers = [handler, *request.upload_handlers]
    return handler


View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def upload_limited(limit: UploadLimit, *, refused: Callable[..., HttpResponseBase]) -> Callable[[View], View]:
    """For a page view that takes one uploaded file: the declared size is judged and the limit put
    in place before the CSRF check reads the body (the view is exempt from the middleware's check
    and protected inside). `refused(request, error, *args, **kwargs)` answers a `TooLarge`."""

    def decorate(view: View) -> View:
        protected = csrf_protect(view)

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                if request.method == "POST":
                    upload_limit_install(request, limit=limit)
                return protected(request, *args, **kwargs)
            except TooLarge as error:
                return refused(request, error, *args, **kwargs)

        return csrf_exempt(wrapper)  # type: ignore[return-value]

    return decorate


def upload_body_spool(request: HttpRequest, *, limit: UploadLimit) -> IO[bytes]:
    """A raw request body (the file itself) in a temporary file, or `TooLarge`: judged by its
    declared size before it is read, and counted as it is read. Small bodies stay in memory."""
    declared = content_length(request)
    if declared > limit.max_bytes:
        raise limit.file_too_large(size=declared)
    spool: IO[bytes] = (
        tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115 (the caller closes it)
        if declared > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
        else io.BytesIO()
    )
    received = 0
    while chunk := request.read(READ_CHUNK):
        received += len(chunk)
        if received > limit.max_bytes:
            spool.close()
            raise limit.file_too_large()
        spool.write(chunk)
    spool.seek(0)
    return spool
