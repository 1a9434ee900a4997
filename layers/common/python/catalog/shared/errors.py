"""The kinds of domain error. Each context raises its own subclasses (in its `errors` module);
the API maps each kind to one HTTP status in one place."""
from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses, with a message for people and, where one field is to blame,
    `fields` naming it."""

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotFound(DomainError):
    """The thing asked for does not exist (HTTP 404)."""


class Conflict(DomainError):
    """The request clashes with the current state (HTTP 409)."""


class BadRequest(DomainError):
    """The request cannot be read, e.g. a tampered cursor (HTTP 400)."""


class Invalid(DomainError):
    """The request is readable but its values are not acceptable (HTTP 422)."""


class TooLarge(DomainError):
    """The request is over a size limit (HTTP 413)."""
