"""One error hierarchy for the API: each error carries its HTTP status and a stable code.

Handlers raise; :func:`error_body` is the one builder of the API's error JSON,
``{"error": {"code", "message", "field"?}}``, used for these errors, the HTTP server's own
answers and per-item batch errors alike. Codes are public interface: add, don't rename.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "BadRequest",
    "Conflict",
    "ErrorBody",
    "ErrorReply",
    "Forbidden",
    "GatewayError",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "RateLimited",
    "ShuttingDown",
    "StoreDown",
    "Unauthorized",
    "UnsupportedMediaType",
    "error_body",
]


class ErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What was refused: a stable ``code``, a readable ``message``, the JSON path ``field``."""

    code: str
    message: str
    field: str | None = None


class ErrorReply(msgspec.Struct, kw_only=True):
    """The API's error answer, and a batch item's refusal."""

    error: ErrorBody


def error_body(code: str, message: str, field: str | None = None) -> ErrorReply:
    """``{"error": {"code", "message", "field"}}`` (``field`` left out when None), ready for
    msgspec to encode."""
    return ErrorReply(error=ErrorBody(code=code, message=message, field=field))


class GatewayError(Exception):
    """Base class: ``status`` (HTTP), ``code`` (machine-readable), ``field`` (JSON path)."""

    status = 500
    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        self.headers = headers

    def body(self) -> ErrorReply:
        """This error as the API answers it (:func:`error_body`)."""
        return error_body(self.code, self.message, self.field)


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    """403: the key is known but may not do this (another tenant's data, an admin's act)."""

    status = 403
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class UnsupportedMediaType(GatewayError):
    status = 415
    code = "unsupported_media_type"


class Invalid(GatewayError):
    """422: the request is well-formed JSON but a field's value is refused."""

    status = 422
    code = "invalid"


class RateLimited(GatewayError):
    status = 429
    code = "rate_limited"


class ShuttingDown(GatewayError):
    status = 503
    code = "shutting_down"


class StoreDown(GatewayError):
    """503: the store cannot write just now (disk full, I/O error, read-only, locked)."""

    status = 503
    code = "store_unavailable"
