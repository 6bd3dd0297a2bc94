"""API building blocks every app uses: one error shape, session-or-token authentication."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import APIKeyCookie

from .errors import ApplicationError, ErrorCode
from .request_context import current_request_context

logger = logging.getLogger(__name__)


class ErrorBody(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}
    request_id: str = ""


class ErrorOut(Schema):
    """Every failure of every endpoint has this shape."""

    error: ErrorBody


ERROR_RESPONSES: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}


def error_response(
    api: NinjaAPI,
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
) -> HttpResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "fields": fields or {},
            "request_id": current_request_context().request_id,
        }
    }
    return api.create_response(request, body, status=status)


class SessionAuth(APIKeyCookie):
    """The browser's signed-in session (CSRF-checked for unsafe methods)."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


def install_error_handlers(api: NinjaAPI) -> None:
    def handler(status: int, code: str, message: Callable[[Exception], str]) -> Any:
        def handle(request: HttpRequest, exc: Exception) -> HttpResponse:
            return error_response(api, request, status, code, message(exc))

        return handle

    @api.exception_handler(ApplicationError)
    def application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
        return error_response(api, request, exc.status, exc.code, exc.message, exc.fields)

    @api.exception_handler(NinjaValidationError)
    def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        fields: dict[str, list[str]] = {}
        for item in exc.errors:
            location = [
                str(part) for part in item.get("loc", ()) if part not in ("body", "payload")
            ]
            fields.setdefault(".".join(location) or "request", []).append(str(item.get("msg")))
        return error_response(
            api, request, 422, ErrorCode.INVALID, _("The request is not valid."), fields
        )

    api.add_exception_handler(
        AuthenticationError,
        handler(401, ErrorCode.NOT_AUTHENTICATED, lambda e: _("Sign in or send an API token.")),
    )
    api.add_exception_handler(Http404, handler(404, ErrorCode.NOT_FOUND, lambda e: _("Not found.")))

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        code = {403: ErrorCode.PERMISSION_DENIED, 404: ErrorCode.NOT_FOUND}.get(
            exc.status_code, ErrorCode.INVALID
        )
        return error_response(api, request, exc.status_code, code, str(exc))

    @api.exception_handler(Exception)
    def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled API error", exc_info=exc)
        return error_response(api, request, 500, "server_error", _("Internal error."))
