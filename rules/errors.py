"""The one error the condition language raises."""

from __future__ import annotations


class ConditionError(ValueError):
    """A condition that cannot be parsed, validated or compiled.

    ``position`` is the 1-based column in the condition text the problem points at and
    ``message`` says what was expected there; ``str(error)`` is ``"column 11: <message>"``.
    """

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(f"column {position}: {message}")

    def __reduce__(self):  # keep the exception picklable (Celery results, caches)
        return (type(self), (self.message, self.position))
