"""One exception tree for the whole product, and the API's error shape.

Services raise these; the DRF exception handler and the WebSocket consumer turn them
into `{"error": {"code", "detail", "fields"}}` (REST) or `error {code, detail}` frames.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response


class TeamchatError(Exception):
    """Base of every error a user or client can be shown."""

    code = "error"
    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.fields = fields or {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "fields": self.fields}


class InvalidInput(TeamchatError):
    code = "invalid"
    status_code = status.HTTP_400_BAD_REQUEST

    @classmethod
    def for_field(cls, field: str, message: str, *, code: str | None = None) -> InvalidInput:
        return cls(f"{field}: {message}", code=code, fields={field: [message]})

    @classmethod
    def of_field(cls, field: str, detail: str, *, code: str | None = None) -> InvalidInput:
        """A refusal of one field whose detail is a whole sentence naming it."""
        return cls(detail, code=code, fields={field: [detail]})


def require_field(data: dict[str, Any], field: str, kind: type | tuple[type, ...]) -> Any:
    """`data[field]`, of `kind` (a bool is not an int); `data` is a WebSocket frame, whose
    type the refusal names."""
    what = data.get("type")
    value = data.get(field)
    if value is None:
        raise InvalidInput.of_field(field, f"'{field}' is required for {what}.")
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidInput.of_field(field, f"'{field}' has the wrong type for {what}.")
    return value


class NotAuthenticated(TeamchatError):
    code = "not_authenticated"
    status_code = status.HTTP_401_UNAUTHORIZED


class Forbidden(TeamchatError):
    code = "forbidden"
    status_code = status.HTTP_403_FORBIDDEN


class NotFound(TeamchatError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND

    def __init__(self, detail: str = "Not found.", **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)


class Conflict(TeamchatError):
    code = "conflict"
    status_code = status.HTTP_409_CONFLICT


class RateLimited(TeamchatError):
    code = "rate_limited"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(self, detail: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


def _flatten_drf_detail(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub": ["message", ...]}."""
    fields: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix or "non_field_errors"
            for field, messages in _flatten_drf_detail(value, name).items():
                fields.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list) and not all(isinstance(i, str) for i in item):
                name = f"{prefix}.{index}" if prefix else str(index)
                for field, messages in _flatten_drf_detail(item, name).items():
                    fields.setdefault(field, []).extend(messages)
            else:
                fields.setdefault(prefix or "non_field_errors", []).append(str(item))
    else:
        fields.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return fields


def _summary(fields: dict[str, list[str]]) -> str:
    parts = [f"{name}: {' '.join(messages)}" for name, messages in fields.items()]
    return "; ".join(parts) or "Invalid input."


def error_response(error: TeamchatError) -> Response:
    response = Response({"error": error.as_dict()}, status=error.status_code)
    if isinstance(error, RateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response


def as_teamchat_error(exc: Exception) -> TeamchatError | None:
    """Map framework exceptions onto our tree; None for anything unexpected."""
    if isinstance(exc, TeamchatError):
        return exc
    if isinstance(exc, Http404):
        return NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return Forbidden(str(exc) or "You may not do that.")
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        else:
            fields = {"non_field_errors": list(exc.messages)}
        return InvalidInput(_summary(fields), fields=fields)
    if isinstance(exc, RequestDataTooBig):
        return InvalidInput("The request body is too large.", code="too_large")
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return InvalidInput(str(exc) or "The request has too many fields or files.")
    if isinstance(exc, drf_exceptions.ParseError):
        return InvalidInput(str(exc.detail))
    if isinstance(exc, DataError):
        # The database refused a value (e.g. a NUL character in text); nothing was stored.
        return InvalidInput("Some text contains characters that cannot be stored (such as NUL).",
                            code="invalid_characters")
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _flatten_drf_detail(exc.detail)
        return InvalidInput(_summary(fields), fields=fields)
    if isinstance(exc, drf_exceptions.Throttled):
        return RateLimited(str(exc.detail), retry_after=int(exc.wait or 1))
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return NotAuthenticated(str(exc.detail), code=exc.default_code)
    if isinstance(exc, drf_exceptions.APIException):
        error = TeamchatError(str(exc.detail), code=exc.get_codes() if isinstance(
            exc.get_codes(), str) else exc.default_code)
        error.status_code = exc.status_code
        return error
    return None


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views reads the API settings, which name our
    # authentication classes, which import services that import this module.
    from rest_framework.views import exception_handler as drf_default_handler

    error = as_teamchat_error(exc)
    if error is None:
        return drf_default_handler(exc, context)
    response = error_response(error)
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
