"""Errors that cross layers, named by what the caller can do about them.

Domain modules raise these (or subclasses); the gRPC edge maps each to its
status code once, in `laurel.grpcutil`, so no handler picks codes by hand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class LaurelError(Exception):
    """Base: `code` names the gRPC status it maps to."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(LaurelError):
    code = "INVALID_ARGUMENT"

    def __init__(self, message: str, violations: list[FieldViolation] | None = None):
        super().__init__(message)
        self.violations = list(violations or [])


class NotFound(LaurelError):
    code = "NOT_FOUND"

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class Hidden(NotFound):
    """NOT_FOUND to a caller who may not see what they asked about (it does
    not exist for them, whatever they asked to do with it); `reason`, the
    real one, goes to the security log only."""

    def __init__(self, message: str, reason: str, field: str = "") -> None:
        super().__init__(message, field)
        self.reason = reason


class AlreadyExists(LaurelError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(LaurelError):
    """A business rule refused the command; `rule` names it for the caller."""

    code = "FAILED_PRECONDITION"

    def __init__(self, rule: str, message: str, subject: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.subject = subject


class ConcurrencyConflict(LaurelError):
    """The stream moved on since the caller read it; re-read and retry."""

    code = "ABORTED"

    def __init__(self, stream_id: str, expected: int | None, actual: int) -> None:
        super().__init__(
            f"{stream_id} was at version {expected} when you read it and is now at "
            f"version {actual}: someone changed it since. Nothing was done; re-read "
            "it and decide again"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class Unauthenticated(LaurelError):
    code = "UNAUTHENTICATED"


class PermissionDenied(LaurelError):
    code = "PERMISSION_DENIED"
