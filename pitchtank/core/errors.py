"""Domain errors raised by services; pages and the API turn them into responses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    """A rule of the domain refused the request; ``message`` is already translated."""

    status = 400

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Input broke one or more field rules; ``errors`` maps field names to messages."""

    status = 422

    def __init__(self, errors: Mapping[str, Sequence[str]], message: str = "") -> None:
        super().__init__(message)
        self.errors = {field: list(messages) for field, messages in errors.items()}


class NotAuthenticated(DomainError):
    status = 401


class PermissionDenied(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class UnsupportedMediaType(DomainError):
    status = 415


def field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed({field: [message]})
