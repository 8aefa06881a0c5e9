"""One error hierarchy for the API: each error carries its HTTP status and a stable code.

Handlers raise; one place (:func:`smsgw.gateway.api.Api.handle`) renders
``{"error": {"code", "message", "field"?}}``. Codes are public interface: add, don't rename.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "Conflict",
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
]


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

    def body(self) -> dict[str, object]:
        err: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


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
