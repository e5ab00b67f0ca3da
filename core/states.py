"""State machines as tables, and the one way a state field is written.

A ``StateTable`` lists the allowed ``from -> to`` moves of one model's state field. Its
``transition()`` does a conditional ``UPDATE ... WHERE pk = ? AND <field> IN (<allowed
froms>)`` and says whether the row moved, so two writers racing for the same row cannot both
win (the database decides, with no lock held beyond the statement).

A model whose state is guarded inherits ``StateGuarded`` (its ``state_field`` names the field):
``save()`` of a row whose state changed since it was read, and ``QuerySet.update()`` or
``bulk_update()`` naming the field, raise ``StateWriteRefused``. Only ``StateTable.transition``
(called by the model's service: ``conversation_transition``, ``approvals.services``,
``handover.services``) writes it. Creating a row in a state is not a transition and is allowed.

(django-oscar's order status pipeline; Wagtail's ``TaskState`` refuses a move from a state
that is no longer in progress.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from django.db import models

from core.errors import Conflict


class StateWriteRefused(RuntimeError):
    """A state field written outside its state table: a bug in the caller, not bad input."""


class InvalidTransition(Conflict):
    """The table does not allow this move (HTTP 409)."""

    code = "invalid_transition"

    def __init__(self, table: StateTable, current: str, target: str):
        self.current, self.target = current, target
        allowed = ", ".join(sorted(table.moves.get(current, ()))) or "none"
        super().__init__(
            f"A {table.name} cannot go from {current} to {target} (from {current}: {allowed})."
        )


class StateQuerySet(models.QuerySet):
    """Refuses writes of the model's state field; ``StateTable`` writes through
    ``_state_update``."""

    def update(self, **kwargs: Any) -> int:
        field = self.model.state_field
        if field in kwargs:
            raise StateWriteRefused(
                f"{self.model.__name__}.{field} is written only by its state table's "
                f"transition() (the {self.model._meta.app_label} services), not update()."
            )
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None) -> int:
        if self.model.state_field in fields:
            raise StateWriteRefused(
                f"{self.model.__name__}.{self.model.state_field} is written only by its state "
                "table's transition(), not bulk_update()."
            )
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def _state_update(self, **kwargs: Any) -> int:
        return super().update(**kwargs)


_UNREAD = object()


class StateGuarded(models.Model):
    """A model with a state field that only its ``StateTable`` writes."""

    state_field: ClassVar[str] = "status"
    _state_read: Any  # the state as last read or written (not a field)

    objects = StateQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        field = self.state_field
        if not self._state.adding:
            update_fields = kwargs.get("update_fields")
            read = getattr(self, "_state_read", _UNREAD)
            written = update_fields is None or field in update_fields
            if written and read is not _UNREAD and self.__dict__.get(field, read) != read:
                raise StateWriteRefused(
                    f"{type(self).__name__}.{field} changed from {read} to "
                    f"{self.__dict__.get(field)} by save(); only its state table's transition() "
                    "writes it."
                )
        super().save(*args, **kwargs)
        self._state_read = self.__dict__.get(field, _UNREAD)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._state_read = instance.__dict__.get(cls.state_field, _UNREAD)
        return instance

    def refresh_from_db(self, using=None, fields=None, from_queryset=None) -> None:
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        if fields is None or self.state_field in fields:
            self._state_read = self.__dict__.get(self.state_field, _UNREAD)


class StateTable:
    """The allowed moves of one state field: ``{from: {to, ...}}``."""

    def __init__(self, name: str, moves: Mapping[str, frozenset[str] | set[str]]):
        self.name = name
        self.moves: dict[str, frozenset[str]] = {
            str(k): frozenset(str(t) for t in v) for k, v in moves.items()
        }

    def can(self, current: str, target: str) -> bool:
        return target in self.moves.get(current, frozenset())

    def sources(self, target: str) -> frozenset[str]:
        """The states a row may be in to move to ``target``."""
        return frozenset(s for s, targets in self.moves.items() if target in targets)

    def transition(
        self,
        target: models.Model | models.QuerySet,
        *,
        to: str,
        from_: str | None = None,
        **also: Any,
    ) -> int:
        """Move ``target`` (one row, or every row of a queryset) to ``to`` with one conditional
        UPDATE, writing the fields in ``also`` with it. Only rows in a state the table lets go
        to ``to`` move (or, with ``from_``, only rows still in that state: the one the caller
        read). Returns how many rows moved: 0 or 1 for a row, whose attributes are then
        updated. Raises InvalidTransition when the table allows no such move at all."""
        if from_ is not None:
            if not self.can(from_, to):
                raise InvalidTransition(self, from_, to)
            froms = frozenset({from_})
        else:
            froms = self.sources(to)
            if not froms:
                raise InvalidTransition(self, "any state", to)
        instance = target if isinstance(target, models.Model) else None
        queryset: Any = (
            type(instance)._default_manager.filter(pk=instance.pk)
            if instance is not None
            else target
        )
        field = queryset.model.state_field
        moved = queryset.filter(**{f"{field}__in": froms})._state_update(**{field: to}, **also)
        if instance is not None and moved:
            for name, value in {field: to, **also}.items():
                setattr(instance, name, value)
            cast(StateGuarded, instance)._state_read = to
        return moved
