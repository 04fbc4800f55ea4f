"""Errors that become Mailgun-shaped HTTP answers: ``{"message": "..."}`` with a status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to a Mailgun client with ``status`` and ``{"message": message, **extra}``."""

    status = 400

    def __init__(self, message: str, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.extra}


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class TooLarge(ApiError):
    status = 413


class Unavailable(ApiError):
    status = 503
