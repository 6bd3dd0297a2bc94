"""Errors that services raise and every interface (page, API, import) turns into one shape."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    NOT_AUTHENTICATED = "not_authenticated"
    CONFLICT = "conflict"
    INVALID_TRANSITION = "invalid_transition"


class ApplicationError(Exception):
    """A refusal the user can act on. `fields` maps a field (or "row 3, column B") to messages."""

    status = 400
    default_code: str = ErrorCode.INVALID

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}


class ValidationFailed(ApplicationError):
    status = 422
    default_code = ErrorCode.INVALID


class NotFound(ApplicationError):
    """Missing and out-of-scope look the same: both are "not found"."""

    status = 404
    default_code = ErrorCode.NOT_FOUND


class PermissionDenied(ApplicationError):
    status = 403
    default_code = ErrorCode.PERMISSION_DENIED


class Conflict(ApplicationError):
    status = 409
    default_code = ErrorCode.CONFLICT


class InvalidTransition(Conflict):
    default_code = ErrorCode.INVALID_TRANSITION
