"""The run phase of a turn: a plan of plain data in, an outcome of plain data out.

``run_plan`` makes the agent runtime calls of one turn (SPEC 4.1 step 8): the current agent's
reply, the private consultations of a sequential supervisor (SPEC 4.3), or a workflow's steps
(SPEC 4.4), within the conversation's budgets. It touches neither the database nor the ORM: it
may take seconds (an LLM, a webhook) and runs with no transaction open and no pooled connection
held. What it decided is handed back as an :class:`Outcome` (the decision events to record, the
budget used, the workflow's state, the reply and who gave it) for the apply phase to write.

``plan_of`` builds the plan from a turn loaded from the database (before the run).
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings

from agents.models import AgentRole, Pattern
from agents.orchestrator_settings import render_routing_instructions
from agents.runtimes import AgentReply, AgentSpec, StepCall, TurnContext, run_agent
from agents.workflow_run import Blocked, WorkflowRun, conversation_context
from agents.workflow_run import Step as RunStep
from conversations import decisions
from conversations.attachments import attachment_link
from conversations.decisions import RouteReason
from conversations.models import stored_name
from core.events import timed
from core.json_input import uuid_text
from core.links import absolute_url
from orchestration import orchestrator_model
from orchestration.orchestrator_model import Choice, OrchestratorAsk, Specialist
from orchestration.turn import Turn

MAX_CONSULTATION_DEPTH = 3
# a concurrent consultation's branch is waited for this long (``CONCURRENT_BRANCH_SECONDS``)
CONCURRENT_BRANCH_SECONDS = 20.0
MAX_CONCURRENT_BRANCHES = 8
# the budgets of a conversation (orchestrator settings) and what each counts in budget_used
BUDGETS = (("steps", "stepBudget"), ("tokens", "tokenBudget"), ("cost", "costBudget"))


# --- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speaker:
    """An agent as the run knows it: its id, slug and runtime spec."""

    id: int
    spec: AgentSpec

    @property
    def slug(self) -> str:
        return self.spec.slug


@dataclass(frozen=True)
class Consultation:
    """A sequential supervisor asks ``to`` privately (``inner``: what ``to`` asks in turn);
    ``stopped`` when the chain closes a circle or passes the depth limit."""

    from_slug: str
    to: Speaker
    depth: int
    stopped: str | None = None
    inner: Consultation | None = None


@dataclass(frozen=True)
class FanOut:
    """A concurrent supervisor asks all of ``to`` at once, waiting ``seconds`` for them."""

    from_slug: str
    to: tuple[Speaker, ...]
    seconds: float


@dataclass(frozen=True)
class Step:
    """A workflow step as the run knows it (its agent resolved to a :class:`Speaker`)."""

    index: int
    agent: Speaker
    condition: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def plain(self) -> RunStep:
        """The step as ``agents.workflow_run`` walks it."""
        return RunStep(
            index=self.index,
            agent=self.agent.slug,
            condition=self.condition,
            inputs=self.inputs,
            outputs=self.outputs,
        )


@dataclass(frozen=True)
class WorkflowPlan:
    name: str
    step_budget: int
    steps: tuple[Step, ...]
    state: dict[str, Any]


@dataclass(frozen=True)
class RunPlan:
    conversation_id: str
    turn: int
    message_id: int
    context: TurnContext  # the current agent's, without consultation
    speaker: Speaker  # the current agent
    rule_context: dict[str, Any]  # what workflow conditions read
    limits: dict[str, float]  # budget name -> limit
    used: dict[str, Any]  # the conversation's budget_used before the run
    consultation: Consultation | None = None
    workflow: WorkflowPlan | None = None
    fan_out: FanOut | None = None
    # the model-driven orchestrator, asked before the reply, and whom it may name
    orchestrator: OrchestratorAsk | None = None
    candidates: tuple[Speaker, ...] = ()
    handoff_mode: str = "auto"


# --- the outcome -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """A decision event the apply phase records (with the turn's message)."""

    event: decisions.Decision
    duration_ms: float = 0.0
    rule: str = ""
    agent_slug: str = ""


@dataclass(frozen=True)
class BudgetStop:
    budget: str
    used: float
    limit: float
    agent_slug: str


@dataclass
class Outcome:
    events: list[Recorded] = field(default_factory=list)
    used: dict[str, Any] = field(default_factory=dict)
    workflow_state: dict[str, Any] | None = None  # None: unchanged
    reply: AgentReply | None = None
    speaker: Speaker | None = None
    budget: BudgetStop | None = None
    hand_over: str | None = None  # people take over, for this reason
    choice: Choice | None = None  # the orchestrator model's, for the apply phase to apply


class _BudgetCrossed(Exception):
    def __init__(self, stop: BudgetStop):
        self.stop = stop


# --- building the plan (from a loaded turn; no query) --------------------------------------------


def _speaker(turn: Turn, agent) -> Speaker:
    return Speaker(id=agent.pk, spec=turn.config.specs[agent.pk])


def best_specialist(specialists: list, intent: str | None):
    if not intent:
        return None
    return next((s for s in specialists if intent in (s.domains or [])), None)


def _consultation(turn: Turn, agent, depth: int, seen: set[int]) -> Consultation | None:
    """The chain a sequential supervisor consults: the matching specialist, and on (a
    specialist that is itself a sequential supervisor asks on), at most MAX_CONSULTATION_DEPTH
    deep, never in a circle."""
    specialist = best_specialist(turn.config.specialists_of(agent), turn.context["intent"])
    if specialist is None:
        return None
    to = _speaker(turn, specialist)
    if specialist.pk in seen or depth >= MAX_CONSULTATION_DEPTH:
        stopped = "cycle" if specialist.pk in seen else "depth limit"
        return Consultation(from_slug=agent.slug, to=to, depth=depth, stopped=stopped)
    seen.add(specialist.pk)
    inner = None
    if specialist.role == AgentRole.SUPERVISOR and specialist.pattern == Pattern.SEQUENTIAL:
        inner = _consultation(turn, specialist, depth + 1, seen)
    return Consultation(from_slug=agent.slug, to=to, depth=depth, inner=inner)


def _fan_out(turn: Turn, agent) -> FanOut | None:
    """The specialists a concurrent supervisor consults at once: those whose domains hold the
    intent, else all of them (at most MAX_CONCURRENT_BRANCHES)."""
    specialists = turn.config.specialists_of(agent)
    intent = turn.context.get("intent")
    matching = [s for s in specialists if intent and intent in (s.domains or [])]
    chosen = (matching or specialists)[:MAX_CONCURRENT_BRANCHES]
    if not chosen:
        return None
    seconds = float(
        getattr(django_settings, "CONCURRENT_BRANCH_SECONDS", CONCURRENT_BRANCH_SECONDS)
    )
    return FanOut(
        from_slug=agent.slug, to=tuple(_speaker(turn, s) for s in chosen), seconds=seconds
    )


def _files(tenant_id: int, attachments: Any) -> tuple[dict[str, Any], ...]:
    """The files kept with the customer's message (not one listed by its name only), for the
    runtimes: each by its storage name (no row to read) and its signed link."""
    return tuple(
        {
            "filename": entry.get("filename") or "file",
            "contentType": entry.get("contentType") or "",
            "size": entry.get("size"),
            "path": stored_name(tenant_id, entry["id"]),
            "url": absolute_url(attachment_link(entry) or ""),
        }
        for entry in attachments or ()
        if isinstance(entry, dict) and uuid_text(entry.get("id"))
    )


def plan_of(turn: Turn, ai_turn: int, steps: list[Step] | None = None) -> RunPlan:
    """The run of ``turn`` as plain data. ``steps``: the workflow's steps when one runs."""
    conv = turn.conversation
    agent = turn.agent
    speaker = _speaker(turn, agent)
    context = TurnContext(
        tenant_name=conv.tenant.name,
        agent=speaker.spec,
        conversation_id=str(conv.pk),
        channel=conv.channel,
        message=turn.message.text,
        signals={k: turn.context[k] for k in ("intent", "sentiment", "risk")},
        customer={
            "id": conv.customer_ref,
            "name": conv.customer_name,
            "email": conv.customer_email,
            "attributes": conv.customer_attributes,
            # the tenant's website signed who they are (handover.identity)
            "verified": conv.customer_verified,
        },
        transcript=turn.transcript,
        routing_instructions=render_routing_instructions(
            turn.settings.get("routingInstructions") or "", conv.tenant
        ),
        model=turn.settings.get("model") or "",
        specialists=tuple(
            {"agent": s.slug, "name": s.name, "domains": list(s.domains or ())}
            for s in (
                turn.config.specialists_of(agent) if agent.role == AgentRole.SUPERVISOR else ()
            )
        ),
        files=_files(conv.tenant_id, turn.message.attachments),
    )
    workflow = None
    consultation = None
    fan_out = None
    if conv.workflow is not None and not (conv.workflow_state or {}).get("done"):
        workflow = WorkflowPlan(
            name=conv.workflow.name,
            step_budget=conv.workflow.step_budget,
            steps=tuple(steps or ()),
            state=dict(conv.workflow_state or {}),
        )
    elif agent.role == AgentRole.SUPERVISOR and agent.pattern == Pattern.SEQUENTIAL:
        consultation = _consultation(turn, agent, 0, {agent.pk})
    elif agent.role == AgentRole.SUPERVISOR and agent.pattern == Pattern.CONCURRENT:
        fan_out = _fan_out(turn, agent)
    orchestrator = None
    candidates: tuple[Speaker, ...] = ()
    if workflow is None and (conv.ai_turn_detail or {}).get("orchestrator"):
        others = [a for a in turn.config.specialists_of(agent) if a.pk != agent.pk]
        candidates = tuple(_speaker(turn, a) for a in others)
        orchestrator = OrchestratorAsk(
            base_url=turn.settings.get("orchestratorEndpoint") or "",
            key_token=turn.config.orchestrator_key_for(agent),
            model=turn.settings.get("model") or "",
            routing_instructions=context.routing_instructions,
            current=agent.slug,
            specialists=tuple(
                Specialist(slug=a.slug, name=a.name, domains=tuple(a.domains or ())) for a in others
            ),
        )
    limits = {
        name: turn.settings[setting]
        for name, setting in BUDGETS
        if turn.settings.get(setting) is not None
    }
    return RunPlan(
        conversation_id=str(conv.pk),
        turn=ai_turn,
        message_id=turn.message.pk,
        context=context,
        speaker=speaker,
        rule_context=dict(turn.context),
        limits=limits,
        used=dict(conv.budget_used or {}),
        consultation=consultation,
        workflow=workflow,
        fan_out=fan_out,
        orchestrator=orchestrator,
        candidates=candidates,
        handoff_mode=turn.settings.get("handoffMode") or "auto",
    )


# --- running it (no database) --------------------------------------------------------------------


class _Run:
    def __init__(self, plan: RunPlan):
        self.plan = plan
        self.outcome = Outcome(used=dict(plan.used))

    def record(self, event, *, duration_ms=0.0, rule="", agent_slug="") -> None:
        self.outcome.events.append(
            Recorded(event=event, duration_ms=duration_ms, rule=rule, agent_slug=agent_slug)
        )

    def account(self, reply, speaker) -> None:
        """Add a runtime call's tokens and cost to the turn's use; record its error, if any."""
        used = self.outcome.used
        if reply.tokens:
            used["tokens"] = used.get("tokens", 0) + reply.tokens
        if reply.cost:
            used["cost"] = round(used.get("cost", 0.0) + reply.cost, 6)
        if reply.error:
            self.record(
                decisions.AgentError(
                    error=reply.error, attempts=reply.attempts, runtime=dict(reply.detail)
                ),
                duration_ms=reply.duration_ms,
                agent_slug=speaker.slug,
            )

    def check_budget(self, speaker: Speaker, *, before_run: bool) -> None:
        """Before a run, when one more step would pass the step budget; after it, when the
        reported tokens or cost passed theirs."""
        used = self.outcome.used
        for name, _ in BUDGETS:
            limit = self.plan.limits.get(name)
            if limit is None:
                continue
            value = used.get(name, 0)
            if (before_run and name == "steps" and value + 1 > limit) or (
                not before_run and name != "steps" and value > limit
            ):
                raise _BudgetCrossed(BudgetStop(name, value, limit, speaker.slug))

    def run(self, speaker: Speaker, consultation=(), step: StepCall | None = None) -> AgentReply:
        """One agent run (a reply, a consultation or a workflow step, ``step``: what the step
        receives and must give): one step of the budget, plus the tokens and cost the runtime
        reports."""
        self.check_budget(speaker, before_run=True)
        ctx = dataclasses.replace(
            self.plan.context, agent=speaker.spec, consultation=tuple(consultation), step=step
        )
        reply = run_agent(ctx)
        used = self.outcome.used
        used["steps"] = used.get("steps", 0) + 1
        self.account(reply, speaker)
        self.check_budget(speaker, before_run=False)
        return reply

    def consult(self, c: Consultation | None) -> list[dict[str, Any]]:
        if c is None:
            return []
        if c.stopped:
            self.record(
                decisions.AgentRouted(
                    mode=decisions.CONSULTATION,
                    reason_code=RouteReason.CONSULTATION,
                    from_=c.from_slug,
                    to=c.to.slug,
                    stopped=c.stopped,
                    depth=c.depth,
                ),
                agent_slug=c.from_slug,
            )
            return []
        inner = self.consult(c.inner)
        with timed() as t:
            reply = self.run(c.to, inner)
        self.record(
            decisions.AgentRouted(
                mode=decisions.CONSULTATION,
                reason_code=RouteReason.CONSULTATION,
                from_=c.from_slug,
                to=c.to.slug,
                depth=c.depth + 1,
                answered=reply.answered,
            ),
            duration_ms=t[0],
            agent_slug=c.to.slug,
        )
        if reply.error or not reply.text:
            return []
        return [{"agent": c.to.slug, "text": reply.text, "answered": reply.answered}]

    def fan_out(self, fan: FanOut | None) -> list[dict[str, Any]]:
        """A concurrent consultation: each branch is one step of the budget, reserved before
        any starts (a branch past the step budget is not made, and the supervisor's own reply
        keeps its step); the branches run at once, each waited for at most ``fan.seconds``; the
        tokens and cost they report count after. One event per branch, with its timing."""
        if fan is None:
            return []
        used = self.outcome.used
        limit = self.plan.limits.get("steps")
        admitted: list[tuple[int, Speaker]] = []
        for index, speaker in enumerate(fan.to):
            if limit is not None and used.get("steps", 0) + 2 > limit:
                self.record(
                    self._branch(fan, index, speaker, stopped="step budget"),
                    agent_slug=fan.from_slug,
                )
                continue
            used["steps"] = used.get("steps", 0) + 1
            admitted.append((index, speaker))
        if not admitted:
            return []
        start = time.monotonic()

        def branch(speaker: Speaker) -> tuple[AgentReply, float, float]:
            began = time.monotonic()
            ctx = dataclasses.replace(self.plan.context, agent=speaker.spec, consultation=())
            reply = run_agent(ctx)
            return reply, (began - start) * 1000, (time.monotonic() - began) * 1000

        pool = ThreadPoolExecutor(max_workers=len(admitted), thread_name_prefix="consult")
        try:
            futures = [pool.submit(branch, speaker) for _, speaker in admitted]
            wait_futures(futures, timeout=fan.seconds)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        answers: list[dict[str, Any]] = []
        for (index, speaker), future in zip(admitted, futures, strict=True):
            if not future.done() or future.exception() is not None:
                why = "time limit" if not future.done() else f"failed: {future.exception()}"
                self.record(
                    self._branch(fan, index, speaker, stopped=why),
                    duration_ms=(time.monotonic() - start) * 1000,
                    agent_slug=speaker.slug,
                )
                continue
            reply, started_ms, took_ms = future.result()
            self.account(reply, speaker)
            self.record(
                self._branch(
                    fan, index, speaker, answered=reply.answered, started_ms=round(started_ms, 1)
                ),
                duration_ms=took_ms,
                agent_slug=speaker.slug,
            )
            if not reply.error and reply.text:
                answers.append(
                    {"agent": speaker.slug, "text": reply.text, "answered": reply.answered}
                )
        self.check_budget(self.plan.speaker, before_run=False)
        return answers

    def orchestrate(self) -> tuple[Speaker, FanOut | None, bool]:
        """Ask the orchestrator model (one step of the budget, its tokens and cost): who
        answers, whom it consults first, and whether the agent answers at all (not when people
        take over). A choice that is not followed (``orchestrator_model.ignored``) changes
        nothing; the apply phase records it either way."""
        plan, ask = self.plan, self.plan.orchestrator
        assert ask is not None
        self.check_budget(plan.speaker, before_run=True)
        choice = orchestrator_model.decide(ask, plan.context)
        used = self.outcome.used
        used["steps"] = used.get("steps", 0) + 1
        if choice.tokens:
            used["tokens"] = used.get("tokens", 0) + choice.tokens
        if choice.cost:
            used["cost"] = round(used.get("cost", 0.0) + choice.cost, 6)
        self.outcome.choice = choice
        self.check_budget(plan.speaker, before_run=False)
        by_slug = {c.slug: c for c in plan.candidates}
        if orchestrator_model.ignored(
            choice, current=ask.current, candidates=set(by_slug), handoff_mode=plan.handoff_mode
        ):
            return plan.speaker, None, True
        if choice.action == orchestrator_model.REROUTE and choice.to:
            return by_slug[choice.to], None, True
        if choice.action == orchestrator_model.HAND_OVER:
            return plan.speaker, None, False
        if choice.action == orchestrator_model.CONSULT:
            seconds = float(
                getattr(django_settings, "CONCURRENT_BRANCH_SECONDS", CONCURRENT_BRANCH_SECONDS)
            )
            fan = FanOut(
                from_slug=ask.current,
                to=tuple(by_slug[a] for a in dict.fromkeys(choice.agents)),
                seconds=seconds,
            )
            return plan.speaker, fan, True
        return plan.speaker, None, True

    @staticmethod
    def _branch(fan: FanOut, index: int, speaker: Speaker, **extra) -> decisions.AgentRouted:
        return decisions.AgentRouted(
            mode=decisions.CONSULTATION,
            reason_code=RouteReason.CONCURRENT,
            from_=fan.from_slug,
            to=speaker.slug,
            depth=1,
            branch=index + 1,
            **extra,
        )

    def workflow(self, workflow: WorkflowPlan) -> tuple[AgentReply | None, Speaker | None]:
        """SPEC 4.4: the entry step, then each later step whose condition holds over the outputs
        gathered so far, within the workflow's step budget (counted over the conversation).
        Each step gets exactly the inputs it names and gives the outputs it declares
        (``agents.workflow_run``). A step whose condition can never hold is an event, not a
        crash; when no step answered, the conversation's own agent answers (the fallback)."""
        state = workflow.state
        taken = int(state.get("stepsTaken") or 0)
        context = self.plan.context
        run = WorkflowRun(
            name=workflow.name,
            steps=[step.plain() for step in workflow.steps],
            conversation=self.plan.rule_context,
            context=conversation_context(
                transcript=context.transcript,
                customer=context.customer,
                signals=self.plan.rule_context,
            ),
            outputs=dict(state.get("outputs") or {}),
        )
        last: tuple[AgentReply | None, Speaker | None] = (None, None)  # the last with text
        answered: tuple[AgentReply | None, Speaker | None] = (None, None)  # the last answered
        ran: set[int] = set()
        for step, planned in zip(run.steps, workflow.steps, strict=True):
            rule = f"workflow {workflow.name} step {step.index + 1}"
            due = run.check(step)
            if isinstance(due, Blocked):
                self.record(
                    decisions.WorkflowStep(
                        agent=step.agent,
                        condition=step.condition,
                        stopped="cannot proceed",
                        why=due.why,
                        step=step.index + 1,
                    ),
                    rule=rule,
                    agent_slug=step.agent,
                )
                continue
            if not due:
                continue
            if taken >= workflow.step_budget:
                self.record(
                    decisions.WorkflowStep(
                        stopped="step budget", budget=workflow.step_budget, taken=taken
                    ),
                    rule=f"workflow {workflow.name}",
                )
                self.outcome.workflow_state = {
                    **state,
                    "outputs": run.outputs,
                    "stepsTaken": taken,
                    "done": True,
                }
                self.outcome.hand_over = "workflow step budget exhausted"
                return None, None
            call = run.call(step)
            with timed() as t:
                reply = self.run(planned.agent, step=call)
            taken += 1
            ran.add(planned.agent.id)
            produced = run.collect(step, reply.outputs)
            self.record(
                decisions.WorkflowStep(
                    agent=step.agent,
                    condition=step.condition,
                    outputs=produced,
                    inputs=sorted(call.inputs),
                    step=step.index + 1,
                ),
                duration_ms=t[0],
                rule=rule,
                agent_slug=step.agent,
            )
            if reply.error:
                self.outcome.workflow_state = {
                    "outputs": run.outputs,
                    "stepsTaken": taken,
                    "done": False,
                }
                return reply, planned.agent
            if reply.text:
                last = (reply, planned.agent)
                if reply.answered:
                    answered = last
        self.outcome.workflow_state = {"outputs": run.outputs, "stepsTaken": taken, "done": False}
        if answered[0] is not None:
            return answered
        speaker = self.plan.speaker
        if last[0] is None or speaker.id not in ran:
            # no step answered: the conversation's own agent does (unless it just did, as a step)
            self.record(
                decisions.WorkflowStep(
                    stopped="no step answered", fallback=speaker.slug, taken=taken
                ),
                rule=f"workflow {workflow.name}",
                agent_slug=speaker.slug,
            )
            return self.run(speaker), speaker
        return last


def run_plan(plan: RunPlan) -> Outcome:
    """Make the turn's agent runs. Never touches the database; never raises for a runtime's
    failure (``run_agent`` does not)."""
    run = _Run(plan)
    try:
        if plan.workflow is not None:
            reply, speaker = run.workflow(plan.workflow)
        elif plan.orchestrator is not None:
            speaker, fan, answers = run.orchestrate()
            if not answers:
                return run.outcome  # people take over (the apply phase hands over)
            if fan is not None:
                consultation = run.fan_out(fan)
            elif speaker.id == plan.speaker.id:
                consultation = run.consult(plan.consultation) or run.fan_out(plan.fan_out)
            else:
                consultation = []
            reply = run.run(speaker, consultation)
        else:
            consultation = run.consult(plan.consultation) or run.fan_out(plan.fan_out)
            reply, speaker = run.run(plan.speaker, consultation), plan.speaker
    except _BudgetCrossed as crossed:
        run.outcome.budget = crossed.stop
        return run.outcome
    run.outcome.reply, run.outcome.speaker = reply, speaker
    return run.outcome
