"""Running a workflow (SPEC 4.4): the agent layer's half, with no database and no network.

The conductor walks a workflow's steps with :class:`WorkflowRun`: it asks which steps run now
(:meth:`WorkflowRun.due`), gives each the :class:`~agents.runtimes.StepCall` built here (the
inputs the step names, the outputs it declares), runs the agent, and hands the reply back
(:meth:`WorkflowRun.collect`), which keeps the outputs the step declares for later steps.

A step's condition reads the conversation names and the outputs of earlier steps. An output
that no step has produced yet reads as null (so ``answered == false`` is false until the step
that declares ``answered`` ran), and a condition that cannot be compiled at all (a step saved
before an output it reads was removed) is false, never a crash: :meth:`WorkflowRun.due` reports
it as a :class:`Blocked` step for the conductor's event, and the workflow goes on without it.

Inputs a step may name (``inputs``), documented in the README:

- ``all`` (alone; the default): ``context``, every conversation name and every output so far;
- ``context``: the conversation so far, ``{"transcript": [...], "customer": {...},
  "signals": {"intent", "sentiment", "risk"}}``;
- a conversation name: ``intent``, ``sentiment``, ``risk``, ``channel``, ``attempts``,
  ``turns``, ``language``, ``customer``;
- an output of an earlier step (null while that step has not produced it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from agents.runtimes.base import StepCall
from rules import CompiledCondition, ConditionError, compile_condition, workflow_schema

START = "start"
ALL = "all"
CONTEXT = "context"
CONVERSATION_KEYS = (
    "intent",
    "sentiment",
    "risk",
    "channel",
    "attempts",
    "turns",
    "language",
    "verified",
)


@dataclass(frozen=True)
class Step:
    """A step as the run sees it: plain values (the conductor maps its rows to these)."""

    index: int  # 0-based position in the workflow
    agent: str
    condition: str
    inputs: tuple[str, ...] = (ALL,)
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Blocked:
    """A step that cannot run: its condition does not compile against what earlier steps
    declare (``why`` is the compiler's message)."""

    step: Step
    why: str


@lru_cache(maxsize=1024)
def _compiled(condition: str, declared: tuple[str, ...]) -> CompiledCondition:
    return compile_condition(condition, workflow_schema(declared))


def condition_holds(
    condition: str, *, declared: Iterable[str], values: Mapping[str, Any]
) -> tuple[bool, str | None]:
    """Whether a later step's ``condition`` holds over ``values`` (conversation names and
    outputs so far), compiled against the outputs ``declared`` by earlier steps. Never raises:
    a condition that cannot be compiled is ``(False, why)``."""
    try:
        compiled = _compiled(condition, tuple(declared))
    except ConditionError as exc:
        return False, str(exc)
    return compiled(values), None


def conversation_context(
    *, transcript: Sequence[Mapping[str, Any]], customer: Mapping[str, Any], signals: Mapping
) -> dict[str, Any]:
    """The ``context`` input: the transcript so far (the last 20 messages, oldest first), the
    customer and the current message's signals."""
    return {
        "transcript": [
            {"role": m.get("role"), "author": m.get("author"), "text": m.get("text")}
            for m in transcript
            if isinstance(m, Mapping)
        ][-20:],
        "customer": dict(customer),
        "signals": {k: signals.get(k) for k in ("intent", "sentiment", "risk")},
    }


def step_inputs(
    names: Sequence[str],
    *,
    outputs: Mapping[str, Any],
    conversation: Mapping[str, Any],
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """Exactly the values a step names in ``inputs`` (see the module's list). ``conversation``
    is the rule context of the turn (``rules.rule_context``)."""
    known = {key: conversation.get(key) for key in CONVERSATION_KEYS}
    known["customer"] = conversation.get("customer") or {}
    if not names or ALL in names:
        return {CONTEXT: dict(context), **known, **outputs}
    chosen: dict[str, Any] = {}
    for name in names:
        if name == CONTEXT:
            chosen[name] = dict(context)
        elif name in known:
            chosen[name] = known[name]
        else:
            chosen[name] = outputs.get(name)
    return chosen


@dataclass
class WorkflowRun:
    """One turn's pass over a workflow: which steps are due, what each receives, what they
    produced. ``outputs`` starts from the conversation's earlier turns."""

    name: str
    steps: Sequence[Step]
    conversation: Mapping[str, Any]
    context: Mapping[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)

    def declared_before(self, step: Step) -> tuple[str, ...]:
        names: list[str] = []
        for earlier in self.steps:
            if earlier.index >= step.index:
                break
            names.extend(n for n in earlier.outputs if n not in names)
        return tuple(names)

    def check(self, step: Step) -> bool | Blocked:
        """True when ``step`` runs now (the entry step always does), False when its condition
        is false, :class:`Blocked` when it can never hold."""
        if step.index == 0 or step.condition == START:
            return True
        holds, why = condition_holds(
            step.condition,
            declared=self.declared_before(step),
            values={**self.conversation, **self.outputs},
        )
        if why is not None:
            return Blocked(step, why)
        return holds

    def call(self, step: Step) -> StepCall:
        """What the runtime receives for ``step``."""
        return StepCall(
            workflow=self.name,
            step=step.index + 1,
            inputs=step_inputs(
                step.inputs,
                outputs=self.outputs,
                conversation=self.conversation,
                context=self.context,
            ),
            outputs=tuple(step.outputs),
        )

    def collect(self, step: Step, produced: Mapping[str, Any] | None) -> dict[str, Any]:
        """Keep the outputs ``step`` declares from what its runtime ``produced`` (a declared
        output it did not give is null); returns them."""
        kept = {name: (produced or {}).get(name) for name in step.outputs}
        self.outputs.update(kept)
        return kept


__all__ = [
    "ALL",
    "CONTEXT",
    "START",
    "Blocked",
    "Step",
    "WorkflowRun",
    "condition_holds",
    "conversation_context",
    "step_inputs",
]
