"""Per-request facts (request id, client address) that the audit trail records.

Set by middleware for web requests; management commands and jobs run with an empty context
unless they open one with `request_context_scope`.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip_address: str | None = None


_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "qinglian_request_context",
    default=RequestContext(),  # noqa: B039 - frozen
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_request_context() -> RequestContext:
    return _current.get()


@contextmanager
def request_context_scope(context: RequestContext) -> Iterator[None]:
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


def client_ip(request: HttpRequest) -> str | None:
    if getattr(settings, "TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        with request_context_scope(RequestContext(request_id, client_ip(request))):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ApplicationErrorMiddleware:
    """Pages: a service's NotFound becomes the 404 page and PermissionDenied the 403 page, so
    views stay thin. (The API maps every ApplicationError to its JSON error shape itself.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
        from django.http import Http404

        from .errors import NotFound, PermissionDenied

        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, PermissionDenied):
            raise DjangoPermissionDenied(exception.message) from exception
