"""Put a row in a state the way the product does: along the moves its state table allows
(tests set up rows in a state without writing the state field directly, which is refused)."""

from __future__ import annotations

from collections import deque

from django.db import models

from core.states import StateTable


def path(table: StateTable, start: str, goal: str) -> list[str]:
    """The shortest list of moves from ``start`` to ``goal`` the table allows."""
    came_from: dict[str, str | None] = {start: None}
    todo = deque([start])
    while todo:
        state = todo.popleft()
        if state == goal:
            steps = []
            while state != start:
                steps.append(state)
                state = came_from[state]
            return steps[::-1]
        for target in sorted(table.moves.get(state, ())):
            if target not in came_from:
                came_from[target] = state
                todo.append(target)
    raise AssertionError(f"the {table.name} table has no way from {start} to {goal}")


def walk(table: StateTable, row: models.Model, goal: str) -> None:
    """Move ``row`` to ``goal`` one allowed transition at a time."""
    for step in path(table, getattr(row, row.state_field), goal):
        assert table.transition(row, to=step)
