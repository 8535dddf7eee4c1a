"""One error hierarchy; `dam.app` maps it to `{"error": code, "detail": ...}` once."""

from __future__ import annotations

from typing import Any


class DamError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, detail: Any = None, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail if detail is not None else self.code.replace("_", " ")
        if code is not None:
            self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class BadRequest(DamError):
    status_code = 400
    code = "bad_request"


class Unauthorized(DamError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DamError):
    status_code = 403
    code = "forbidden"


class NotFound(DamError):
    status_code = 404
    code = "not_found"


class Conflict(DamError):
    status_code = 409
    code = "conflict"


class Gone(DamError):
    status_code = 410
    code = "gone"


class Locked(DamError):
    status_code = 423
    code = "locked"


class PreconditionFailed(DamError):
    status_code = 412
    code = "precondition_failed"


class PayloadTooLarge(DamError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DamError):
    status_code = 415
    code = "unsupported_media_type"


class Invalid(DamError):
    """Well-formed request whose content is wrong (bad metadata, corrupt file)."""

    status_code = 422
    code = "invalid"


class PolicyViolation(DamError):
    """Blocking governance violations; carries the full list."""

    status_code = 422
    code = "policy_violation"

    def __init__(self, detail: Any, *, violations: list[dict[str, Any]]) -> None:
        super().__init__(detail, violations=violations)
        self.violations = violations


class RangeNotSatisfiable(DamError):
    status_code = 416
    code = "range_not_satisfiable"


class TooManyRequests(DamError):
    status_code = 429
    code = "too_many_requests"


class ServiceUnavailable(DamError):
    status_code = 503
    code = "unavailable"
