"""Writes of the handover: open a handoff (hot or cold), deliver or queue it, claim, talk,
hand back, resolve, and turn unclaimed offers cold. One transaction per action; sockets hear of
a row only after it commits, and a reconnecting inbox re-reads the rows."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.db import transaction
from django.utils import timezone

from agents.orchestrator_settings import effective_settings
from conversations import lifecycle
from conversations.decisions import HandoffClaimed, HandoffExpired, HandoffOffered
from conversations.email import is_emailed
from conversations.events import record
from conversations.messages import last_activity_moved, message_json, message_post
from conversations.models import (
    SYNCHRONOUS_CHANNELS,
    Attachment,
    Channel,
    Conversation,
    Message,
    MessageRevision,
    MessageRole,
    State,
)
from conversations.selectors import CONVERSATION_ID, conversation_locked
from conversations.webhook_events import conversation_data
from core.compiled import DATETIME_MARK, CompiledUpdate, Marker
from core.errors import Conflict, Forbidden, Invalid
from core.events import (
    conversation_group,
    conversation_watchers_group,
    group_send_bounded,
    notifications_buffered,
    notify_on_commit,
    person_group,
    tenant_inbox_group,
)
from core.models import Membership, WebhookEventType
from core.outbox import (
    outbox_offer,
    outbox_task,
)
from core.scoping import membership_of
from core.selectors import tenant_by_id, tenant_is_open, tenant_opens_next
from core.webhooks import webhook_event
from handover.groups import asked_group_id, for_person, handoff_group, own_hours
from handover.mentions import mentions_sync
from handover.models import (
    DEFAULT_MAX_CONVERSATIONS,
    HANDOFF_STATES,
    OPEN_STATUSES,
    AgentSetting,
    AgentStatus,
    Handoff,
    Mode,
    PeopleGroup,
    Status,
)
from handover.presence import (
    anyone_online,
    available_agents,
    held_count,
    is_available,
    online_agents,
)
from handover.targets import pause_ended

log = logging.getLogger(__name__)

COLD_FOLLOW_UP_TEXT = (
    "Thanks for your patience. A member of our team will follow up with you as soon as possible."
)
# outside business hours the chat's customer is told when the team is back (``team_back``)
COLD_AWAY_TEXT = (
    "Thanks for your patience. Our team is away right now and back {back}: "
    "someone will follow up with you then."
)
# on e-mail the customer is told one thing, once, when it is handed over (issue 19, point 8)
EMAIL_HANDOVER_TEXT = (
    "Thanks for your message. I'm passing this to a member of our team: someone will follow up "
    "by e-mail as soon as possible."
)
HAND_BACK_TEXT = "I'm back: the assistant will take it from here. Ask me anything."
EMAIL_HAND_BACK_TEXT = (
    "I'm back: the assistant will take it from here. Just reply to this e-mail with anything "
    "else you need."
)


HUMAN_HANDOVER_TEXT = (
    "I'm bringing in a member of our team who can help with this. Someone will be with you shortly."
)

# Celery task names (the tasks live with their code; services name them, never import them)
BUILD_PACK_TASK = "handover.build_pack"
EXPIRE_TASK = "handover.expire_hot_offers"
ASSIGN_TASK = "handover.assign_queue"  # handover.assignment

# how much each risk category raises a handoff's place in the queue
RISK_WEIGHT = {"legal_threat": 40, "churn_risk": 25, "frustration": 20, "human_request": 10}


class HandoffUnavailable(Conflict):
    """The handoff was claimed by someone else, or is no longer open (409)."""


class NotAllowed(Forbidden):
    """The person may not do this: not a member of the tenant, not a human agent (403)."""


class NotTheClaimer(Conflict):
    """Someone else has the conversation, or nobody does (409: as a claim that lost)."""


class AtCapacity(Conflict):
    """The person already holds as many conversations as their limit allows (409,
    ``at_capacity``: the offer is still open, for them once a seat frees)."""

    code = "at_capacity"


class Unavailable(Conflict):
    """The colleague is not online, or is away or busy (409)."""


def _invalid(field: str, reason: str) -> Invalid:
    return Invalid(fields={field: reason})


# --- handing over --------------------------------------------------------------------------------


def priority_for(risks: set[str], sentiment_last: float | None) -> int:
    """A handoff's place in the queue: weighted risks, and how negative the customer sounds."""
    score = sum(RISK_WEIGHT.get(r, 0) for r in risks)
    if sentiment_last is not None and sentiment_last < 0:
        score += round(-sentiment_last * 20)
    return score


def hand_over(
    *,
    conversation: Conversation,
    reason: str,
    detail: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    risk=(),
    sentiment: float | None = None,
) -> tuple[Message, Handoff] | None:
    """Hand a locked conversation to people (SPEC 4.5), the one way it is done: within the
    lifecycle table (a conversation not yet active becomes active first), it waits in
    ``handing_off``, the customer is told, and a handoff is opened (a hot offer or a cold pack).
    Saves and announces what it changed; call inside the transaction that decided it.
    Returns ``(notice, handoff)``, or None when people have it already (handing off, with a
    person, resolved)."""
    if conversation.state == State.TRIAGED:
        lifecycle.conversation_transition(
            conversation=conversation, to=State.ACTIVE, reason=f"before handing over: {reason}"
        )
    if not lifecycle.LIFECYCLE.can(conversation.state, State.HANDING_OFF):
        return None
    lifecycle.conversation_transition(
        conversation=conversation, to=State.HANDING_OFF, reason=reason, detail=detail
    )
    if settings is None:
        settings, _ = effective_settings(
            tenant=conversation.tenant, agent=conversation.current_agent
        )
    # the customer is told one thing: someone is coming (a live offer), or, when it waits in
    # the queue, that someone will follow up (and, out of hours, when the team is back)
    group = handoff_group(conversation)
    mode = handoff_mode(conversation, settings, group=group)
    if conversation.channel == Channel.EMAIL:
        text = EMAIL_HANDOVER_TEXT
    elif mode[0] == Mode.HOT:
        text = HUMAN_HANDOVER_TEXT
    else:
        # when the team is back: the group's own hours while it is asked (handover.groups)
        text = cold_follow_up_text(
            conversation.tenant, hours=None if mode.everyone else own_hours(group)
        )
    notice = message_post(conversation=conversation, role=MessageRole.SYSTEM, text=text)
    # on e-mail the notice is the customer's one mail about this handoff (``customer_emailed_at``)
    emailed_at = notice.created_at if notice.email_message_id else None
    conversation.escalation_fallback = {}  # people have it now
    Conversation.objects.filter(pk=conversation.pk).update(
        last_activity_at=conversation.last_activity_at, escalation_fallback={}
    )
    handoff = handoff_open(
        conversation=conversation,
        reason=reason,
        settings=settings,
        priority=priority_for(set(risk or []), sentiment),
        customer_emailed_at=emailed_at,
        mode=mode,
        group=group,
        customer_told=True,
    )
    return notice, handoff


# --- opening ------------------------------------------------------------------------------------


class ModeChoice(NamedTuple):
    """``handoff_mode``'s answer: hot or cold, why, and whether the group it was meant for had
    nobody available and is open to everyone at once (its ``overflow_after`` is 0)."""

    mode: str
    why: str
    everyone: bool = False


def handoff_mode(
    conversation: Conversation,
    settings: dict[str, Any],
    *,
    now: dt.datetime | None = None,
    group: PeopleGroup | None = None,
) -> ModeChoice:
    """SPEC 4.5: ``handoffMode`` decides; ``auto`` is hot when the channel is synchronous, the
    tenant is within business hours and at least one human agent is online (of ``group``,
    when a group takes it: ``handover.groups``; of anyone when that group has nobody available
    and overflows at once)."""
    chosen = settings.get("handoffMode") or "auto"
    if chosen in (Mode.HOT, Mode.COLD):
        return ModeChoice(chosen, f"handoffMode is {chosen}")
    if conversation.channel not in SYNCHRONOUS_CHANNELS:
        return ModeChoice(Mode.COLD, f"the {conversation.channel} channel is not live")
    of = f" of the group {group.name}" if group else ""
    hours = own_hours(group)  # a group with hours of its own works by them
    if not tenant_is_open(tenant=conversation.tenant, at=now, hours=hours):
        if hours is None:
            return ModeChoice(Mode.COLD, "outside business hours")
        if group.overflow_after == 0:  # the group is away: everyone, at once
            mode, why, _ = handoff_mode(conversation, settings, now=now)
            return ModeChoice(mode, f"outside the hours{of}, so everyone: {why}", True)
        return ModeChoice(Mode.COLD, f"outside the hours{of}")
    group_id = group.pk if group else None
    if not available_agents(conversation.tenant, now=now, group_id=group_id).exists():
        if group is not None and group.overflow_after == 0:
            mode, why, _ = handoff_mode(conversation, settings, now=now)
            return ModeChoice(mode, f"nobody{of} is available, so everyone: {why}", True)
        if not anyone_online(conversation.tenant, now=now, group_id=group_id):
            return ModeChoice(Mode.COLD, f"no human agent{of} is online")
        busy = f"every human agent{of} online is away, busy or at their limit"
        return ModeChoice(Mode.COLD, busy)
    hot = "live channel, business hours, agents online" + (f" ({group.name})" if group else "")
    return ModeChoice(Mode.HOT, hot)


def handoff_open(
    *,
    conversation: Conversation,
    reason: str,
    settings: dict[str, Any],
    priority: int = 0,
    customer_emailed_at: dt.datetime | None = None,
    mode: ModeChoice | None = None,
    group: PeopleGroup | None = None,
    customer_told: bool = False,
) -> Handoff:
    """Create the handoff of a conversation that is ``handing_off`` (call inside the
    transaction that moved it there). A hot one is offered to the online agents after commit;
    a cold one gets its pack built and is queued. ``customer_emailed_at``: when the e-mail
    customer was already told that someone will follow up (they are not told again).
    ``mode`` and ``group``: ``handoff_mode``'s answer and ``handoff_group``'s when the caller
    asked them already; ``customer_told``: the caller's notice told the customer what this
    handoff means for them (no second one)."""
    existing = Handoff.objects.filter(conversation=conversation, status__in=OPEN_STATUSES).first()
    if existing is not None:
        if customer_emailed_at and existing.customer_emailed_at is None:
            Handoff.objects.filter(pk=existing.pk, customer_emailed_at__isnull=True).update(
                customer_emailed_at=customer_emailed_at
            )
            existing.customer_emailed_at = customer_emailed_at
        return existing
    if mode is None:
        group = handoff_group(conversation)
        mode = handoff_mode(conversation, settings, group=group)
    mode, why, everyone = mode
    now = timezone.now()
    handoff = Handoff.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        group=group,
        overflowed_at=now if everyone and group is not None else None,
        mode=mode,
        status=Status.OFFERED if mode == Mode.HOT else Status.QUEUED,
        reason=reason[:200],
        priority=priority,
        offer_expires_at=now + dt.timedelta(seconds=settings["hotClaimTimeout"])
        if mode == Mode.HOT
        else None,
        queued_at=None if mode == Mode.HOT else now,
        customer_emailed_at=customer_emailed_at,
    )
    record(
        conversation=conversation,
        event=HandoffOffered(handoff_id=handoff.pk, mode=mode, why=why, reason=reason),
    )
    if mode == Mode.HOT:
        outbox_offer(tenant_id=handoff.tenant_id, handoff_id=handoff.pk)
    else:
        _queue_cold(handoff, conversation, customer_told=customer_told)
    _handoff_told(handoff, conversation, WebhookEventType.HANDOFF_CREATED)
    return handoff


def _handoff_told(handoff: Handoff, conversation: Conversation, event: str) -> None:
    """The tenant's webhooks that want it hear of the handoff (``core.webhooks``)."""
    webhook_event(
        handoff.tenant_id,
        event,
        lambda: {
            "handoff": {
                "id": handoff.pk,
                "conversationId": str(conversation.pk),
                "mode": handoff.mode,
                "status": handoff.status,
                "reason": handoff.reason,
                "priority": handoff.priority,
                "claimedBy": handoff.claimed_by.get_username() if handoff.claimed_by_id else None,
                "group": handoff.group.name if handoff.group_id else None,
                "overflowedAt": handoff.overflowed_at,
                "createdAt": handoff.created_at,
            },
            "conversation": conversation_data(conversation),
        },
        conversation_id=conversation.pk,
    )


def _tell_customer_waiting(conversation: Conversation, waiting: str) -> None:
    """The customer's chat hears how they wait for a person: ``live`` (an offer is ringing in
    the team's inboxes) or ``queued`` (someone follows up). No handoff id: it is the team's."""
    notify_on_commit(
        [conversation_group(conversation.pk)],
        {
            "type": "conversation.waiting",
            "conversationId": str(conversation.pk),
            "waiting": waiting,
        },
    )


def deliver_offer(handoff_id: int) -> bool:
    """Tell every available agent of the tenant about a hot offer (relayed from the outbox):
    online, not away or busy, under their limit of conversations; each on their own group, so
    the others never hear of it. With nobody available, or when the real-time layer is down,
    the handoff is queued cold instead: it is never lost. Offering twice is harmless: the inbox
    re-reads the handoff, and only one claim wins."""
    handoff = Handoff.objects.filter(pk=handoff_id).first()
    if handoff is None or handoff.status != Status.OFFERED:
        return False
    event = _offered(handoff.pk, handoff.conversation_id)
    tenant = handoff.conversation.tenant
    asked = asked_group_id(handoff)
    people = list(available_agents(tenant, group_id=asked).values_list("user_id", flat=True))
    # nobody of its group now, and it is open to everyone at once (handover.groups)
    at_once = not people and asked is not None and handoff.group.overflow_after == 0
    if at_once and handoff_overflow(handoff, why="nobody of the group is available"):
        people = list(available_agents(tenant).values_list("user_id", flat=True))
    if not people:
        of = " of its group" if asked is not None else ""
        handoff_make_cold(handoff_id=handoff_id, reason=f"no human agent{of} is available")
        return False
    try:
        for user_id in people:
            group_send_bounded(person_group(user_id), event)
    except Exception as exc:
        log.warning("live delivery of handoff %s failed: %s", handoff_id, exc)
        with transaction.atomic():  # the relay's own short transaction (none is open here)
            handoff_make_cold(handoff_id=handoff_id, reason=f"live delivery failed: {exc}"[:200])
        return False
    # told once it rings, not when it is opened: an offer nobody can take goes to the queue
    # first (handoff_make_cold tells "queued"), and the chat must not hear "live" after that
    _tell_customer_waiting(handoff.conversation, "live")
    return True


def handoff_overflow(handoff: Handoff, *, why: str) -> bool:
    """Open a group's waiting handoff to every human agent (``handover.groups``): nobody of
    its group took it within its ``overflow_after``, or that is 0 and nobody of the group is
    available. One conditional UPDATE in a short transaction of its own, so two sweeps, or a
    sweep and a delivery, do it once; the timeline says why, the inboxes re-read it, and where
    the queue is given out it is given to anyone. False when it was done already or the
    handoff no longer waits."""
    now = timezone.now()
    with transaction.atomic():
        done = Handoff.objects.filter(
            pk=handoff.pk,
            group__isnull=False,
            overflowed_at__isnull=True,
            status__in=[Status.OFFERED, Status.QUEUED],
        ).update(overflowed_at=now)
        if not done:
            return False
        handoff.overflowed_at = now
        conversation = handoff.conversation
        record(
            conversation=conversation,
            event=HandoffOffered(
                handoff_id=handoff.pk,
                mode=handoff.mode,
                why=f"{why}: open to every human agent",
                reason=handoff.reason,
            ),
        )
        if handoff.status == Status.QUEUED:
            notify_on_commit(
                [tenant_inbox_group(handoff.tenant_id)],
                {
                    "type": "handoff.queued",
                    "handoffId": handoff.pk,
                    "conversationId": str(conversation.pk),
                },
            )
            assign_queue_soon(handoff.tenant_id)
    return True


def _offered(handoff_id: int, conversation_id) -> dict[str, Any]:
    return {
        "type": "handoff.offered",
        "handoffId": handoff_id,
        "conversationId": str(conversation_id),
    }


SEAT_OFFERS_MAX = 50  # the open offers a freed seat hears of at once (oldest first)


def assign_queue_soon(tenant_id: int) -> None:
    """Where the tenant gives its queue out automatically (``Tenant.assign_queue``), after
    commit the queue is given to whoever is available (``handover.assignment``): called when a
    handoff is queued and when a seat frees. Nothing (no query: the tenant is in memory) where
    people claim from the queue themselves."""
    if tenant_by_id(tenant_id).assign_queue:
        outbox_task(tenant_id=tenant_id, task=ASSIGN_TASK, args=[tenant_id])


def _offers_for_freed_seat(user, tenant_id: int, *, besides=None) -> None:
    """The person's seat freed (they resolved, handed back, passed on or requeued a
    conversation, came back online, or a manager raised their limit): the hot offers still
    open went only to the agents available when they were made, so they reach this person too,
    after commit, oldest first, in one trip to the channel layer. Who gets each one is still
    decided by its claim (one wins). ``besides``: a conversation whose offer they just made
    themselves (a requeue's own)."""
    if not is_available(user, tenant_by_id(tenant_id)):
        return
    assign_queue_soon(tenant_id)
    offers = (
        Handoff.objects.filter(
            tenant_id=tenant_id, status=Status.OFFERED, offer_expires_at__gt=timezone.now()
        )
        .filter(for_person(user))  # of no group, or of one of theirs (handover.groups)
        .exclude(conversation_id=getattr(besides, "pk", None))
        .order_by("created_at", "pk")
        .values_list("pk", "conversation_id")[:SEAT_OFFERS_MAX]
    )
    with notifications_buffered():
        for handoff_id, conversation_id in offers:
            notify_on_commit([person_group(user.pk)], _offered(handoff_id, conversation_id))


def relay_offer(event) -> None:
    """The outbox's relay of a ``handoff_offer`` event (registered in ``HandoverConfig``): a
    failed live delivery queues the handoff cold inside ``deliver_offer``, handled either way."""
    deliver_offer(event.payload["handoffId"])


def team_back(tenant, *, now: dt.datetime | None = None, hours=None) -> str | None:
    """When the tenant's team is back (``hours``: a group's own opening intervals instead of
    the tenant's business hours), in the customer's words ("on Monday at 09:00 (Paris time)":
    today, tomorrow, a weekday, or a date beyond the week), or None while it is open, or when
    it has no business hours to name an opening from."""
    now = now or timezone.now()
    if tenant_is_open(tenant=tenant, at=now, hours=hours):
        return None
    opens = tenant_opens_next(tenant=tenant, at=now, hours=hours)
    if opens is None:
        return None
    today = timezone.localtime(now, tenant.tzinfo).date()
    days = (opens.date() - today).days
    if days == 0:
        when = f"today at {opens:%H:%M}"
    elif days == 1:
        when = f"tomorrow at {opens:%H:%M}"
    elif days < 7:
        when = f"on {opens:%A} at {opens:%H:%M}"
    else:
        when = f"on {opens.day} {opens:%B} at {opens:%H:%M}"
    zone = tenant.time_zone.rsplit("/", 1)[-1].replace("_", " ")
    return f"{when} ({zone} time)"


def cold_follow_up_text(tenant, *, now: dt.datetime | None = None, hours=None) -> str:
    """What the chat's customer is told when their handoff waits in the queue: within business
    hours (``hours``: a group's own) that someone will follow up; outside them, when the team
    is back."""
    back = team_back(tenant, now=now, hours=hours)
    return COLD_FOLLOW_UP_TEXT if back is None else COLD_AWAY_TEXT.format(back=back)


def _queue_cold(handoff: Handoff, conversation: Conversation, *, customer_told=False) -> None:
    """Queue a cold handoff: its pack is built, the inbox hears of it, and the customer is told
    someone will follow up, unless the handover's notice just said so (``customer_told``); on
    e-mail, once per handoff."""
    if conversation.channel == Channel.EMAIL:
        _email_follow_up_once(handoff, conversation)
    elif not customer_told:
        message_post(
            conversation=conversation,
            role=MessageRole.SYSTEM,
            text=cold_follow_up_text(
                conversation.tenant,
                hours=None if handoff.overflowed_at else own_hours(handoff.group),
            ),
        )
    outbox_task(tenant_id=handoff.tenant_id, task=BUILD_PACK_TASK, args=[handoff.pk])
    notify_on_commit(
        [tenant_inbox_group(handoff.tenant_id)],
        {"type": "handoff.queued", "handoffId": handoff.pk, "conversationId": str(conversation.pk)},
    )
    _tell_customer_waiting(conversation, "queued")
    assign_queue_soon(handoff.tenant_id)


def _email_follow_up_once(handoff: Handoff, conversation: Conversation) -> None:
    """On e-mail the customer is told once per handoff that someone will follow up: usually
    the handover's notice said it already (``hand_over`` stamps ``customer_emailed_at``); a
    handoff opened without it (put back in the queue from an older handoff that never told
    them) tells them now. The stamp is taken by a conditional update, so never twice."""
    if not is_emailed(conversation, MessageRole.SYSTEM):
        return  # nobody to e-mail (an API conversation without an address)
    now = timezone.now()
    taken = Handoff.objects.filter(pk=handoff.pk, customer_emailed_at__isnull=True).update(
        customer_emailed_at=now
    )
    if taken:
        handoff.customer_emailed_at = now
        message_post(conversation=conversation, role=MessageRole.SYSTEM, text=COLD_FOLLOW_UP_TEXT)


def handoff_make_cold(*, handoff_id: int, reason: str) -> Handoff | None:
    """An offer nobody claimed in time (or that could not be delivered) goes to the queue."""
    moved = HANDOFF_STATES.transition(
        Handoff.objects.filter(pk=handoff_id),
        to=Status.QUEUED,
        from_=Status.OFFERED,
        mode=Mode.COLD,
        queued_at=timezone.now(),
    )
    if not moved:
        return None
    handoff = Handoff.objects.select_related("conversation__tenant").get(pk=handoff_id)
    record(
        conversation=handoff.conversation,
        event=HandoffExpired(handoff_id=handoff.pk, reason=reason, now="cold"),
    )
    notify_on_commit(
        [tenant_inbox_group(handoff.tenant_id)],
        {
            "type": "handoff.expired",
            "handoffId": handoff.pk,
            "conversationId": str(handoff.conversation_id),
        },
    )
    _queue_cold(handoff, handoff.conversation)
    return handoff


def hot_offers_expire(*, now: dt.datetime | None = None, batch_size: int = 200) -> int:
    """Turn the hot offers whose claim timeout passed cold; safe to run twice or at once."""
    now = now or timezone.now()
    expired = 0
    ids = list(
        Handoff.objects.filter(status=Status.OFFERED, offer_expires_at__lte=now)
        .order_by("offer_expires_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    for handoff_id in ids:
        if handoff_make_cold(handoff_id=handoff_id, reason="nobody claimed it in time"):
            expired += 1
    return expired


# --- people at work -----------------------------------------------------------------------------


def _agent_of(handoff_or_conversation, user) -> None:

    membership = membership_of(user)
    if membership is None or membership.tenant_id != handoff_or_conversation.tenant_id:
        raise NotAllowed("not a member of this tenant")
    if not membership.is_agent:
        raise NotAllowed("only human agents take conversations over")


def _setting_locked(user, tenant_id: int) -> AgentSetting:
    """The person's agent setting, locked for this transaction (made with the defaults)."""
    AgentSetting.objects.get_or_create(user=user, defaults={"tenant_id": tenant_id})
    return AgentSetting.objects.select_for_update().get(user=user)


def _within_limit(user, tenant_id: int, *, who: str = "You") -> None:
    """Refuse when the person holds their limit of conversations already. Decided under the
    lock of their setting row (and, on SQLite, the write lock the caller took first), so two
    claims at once cannot both pass it."""
    setting = _setting_locked(user, tenant_id)
    held = held_count(user.pk)
    if held >= setting.max_conversations:
        mine = who == "You"
        raise AtCapacity(
            f"{who} already {'hold' if mine else 'holds'} {held} conversation"
            f"{'s' if held != 1 else ''}, the limit of {setting.max_conversations}: "
            + (
                "resolve or hand one back first."
                if mine
                else "one must be resolved or handed back first, or their limit raised."
            )
        )


@transaction.atomic
def handoff_claim(*, handoff: Handoff, user, who: str = "You") -> Handoff:
    """Exactly one person wins a claim; the others get HandoffUnavailable. A person at their
    limit of conversations gets AtCapacity (and the handoff stays open; ``who`` names them in
    its words when someone else claims for them)."""
    _agent_of(handoff, user)
    won = HANDOFF_STATES.transition(
        Handoff.objects.filter(pk=handoff.pk),
        to=Status.CLAIMED,
        claimed_by=user,
        claimed_at=timezone.now(),
    )
    if not won:
        raise HandoffUnavailable("This handoff has already been claimed or closed.")
    _within_limit(user, handoff.tenant_id, who=who)  # refused: the update above rolls back
    conversation = Conversation.objects.select_for_update().get(pk=handoff.conversation_id)
    if conversation.state != State.HANDING_OFF:
        lifecycle.conversation_transition(
            conversation=conversation, to=State.HANDING_OFF, reason="claimed by a person"
        )
    lifecycle.conversation_transition(
        conversation=conversation, to=State.WITH_HUMAN, reason=f"claimed by {user.get_username()}"
    )
    Conversation.objects.filter(pk=conversation.pk).update(assignee=user)
    handoff.refresh_from_db()
    record(
        conversation=conversation,
        event=HandoffClaimed(handoff_id=handoff.pk, by=user.get_username(), mode=handoff.mode),
    )
    notify_on_commit(
        [tenant_inbox_group(handoff.tenant_id)],
        {
            "type": "handoff.claimed",
            "handoffId": handoff.pk,
            "conversationId": str(conversation.pk),
            "by": user.get_username(),
        },
    )
    _handoff_told(handoff, conversation, WebhookEventType.HANDOFF_CLAIMED)
    return handoff


def claimed_conversation(conversation: Conversation, user) -> Conversation:
    _agent_of(conversation, user)
    locked = conversation_locked(conversation.pk)
    if locked is None:
        raise Conversation.DoesNotExist
    if locked.state != State.WITH_HUMAN or locked.assignee_id != user.pk:
        raise NotTheClaimer("only the person who claimed the conversation can do this")
    return locked


# compiled once per process (core/compiled.py): compiling it through the ORM cost more CPU
# than running it, on every message of the inbox
# the first response the response targets measure (handover.targets)
_FIRST_RESPONSE = CompiledUpdate(
    lambda conversation, at: (
        Handoff.objects.filter(
            conversation_id=conversation, status=Status.CLAIMED, first_response_at__isnull=True
        ),
        {"first_response_at": at},
    ),
    conversation=CONVERSATION_ID,
    at=Marker(DATETIME_MARK, Handoff._meta.get_field("first_response_at")),
)


@transaction.atomic
def human_send_message(
    *, conversation: Conversation, user, text: str, files: Sequence[Attachment] = ()
) -> Message:
    """The claimer's reply (with ``files``, stored beforehand: conversations.attachments)."""
    locked = claimed_conversation(conversation, user)
    name = user.get_full_name() or user.get_username()
    message = message_post(
        conversation=locked,
        role=MessageRole.HUMAN,
        author=name,
        text=text,
        author_user=user,
        files=files,
    )
    last_activity_moved(locked.pk, message.created_at)
    _FIRST_RESPONSE.run(conversation=locked.pk, at=message.created_at)
    return message


def _close_handoff(conversation: Conversation) -> None:
    """The conversation leaves people's hands: its claimed handoff is resolved, and one that
    nobody claimed expires."""
    now = timezone.now()
    open_ones = Handoff.objects.filter(conversation=conversation)
    HANDOFF_STATES.transition(open_ones, to=Status.RESOLVED, resolved_at=now, **pause_ended(now))
    HANDOFF_STATES.transition(open_ones, to=Status.EXPIRED, resolved_at=now)


@transaction.atomic
def conversation_hand_back(*, conversation: Conversation, user) -> Conversation:
    """The person gives the conversation back to the AI."""
    locked = claimed_conversation(conversation, user)
    _close_handoff(locked)
    lifecycle.conversation_transition(
        conversation=locked, to=State.ACTIVE, reason=f"handed back by {user.get_username()}"
    )
    Conversation.objects.filter(pk=locked.pk).update(
        assignee=None,
        attempts=0,
        turns_without_progress=0,
        runtime_failures=0,
        escalation_fallback={},
    )
    # on e-mail it is mailed, as every notice for the customer is (conversations.email)
    text = EMAIL_HAND_BACK_TEXT if locked.channel == Channel.EMAIL else HAND_BACK_TEXT
    message_post(conversation=locked, role=MessageRole.SYSTEM, text=text)
    _offers_for_freed_seat(user, locked.tenant_id)
    return locked


@transaction.atomic
def conversation_resolve(*, conversation: Conversation, user) -> Conversation:
    locked = claimed_conversation(conversation, user)
    conversation_close(locked, reason=f"resolved by {user.get_username()}", holder=user)
    return locked


def conversation_close(locked: Conversation, *, reason: str, holder=None) -> None:
    """Resolve ``locked`` (a conversation whose row this transaction locked): its handoff
    closes, the inboxes hear it, and the seat of ``holder`` (the person who held it) frees.
    Raises ``lifecycle.ConcurrentChange`` when its state moved meanwhile."""
    _close_handoff(locked)
    lifecycle.conversation_transition(conversation=locked, to=State.RESOLVED, reason=reason)
    notify_on_commit(
        [tenant_inbox_group(locked.tenant_id)],
        {"type": "conversation.updated", "conversationId": str(locked.pk), "state": "resolved"},
    )
    if holder is not None:
        _offers_for_freed_seat(holder, locked.tenant_id)


# --- the tools of the inbox ---------------------------------------------------------------------

NOTE_MAX = 10_000


@transaction.atomic
def note_post(
    *, conversation: Conversation, user, text: str, files: Sequence[Attachment] = ()
) -> Message:
    """A private note on a conversation: shown to colleagues in the inbox, never to the
    customer (not on their socket, in the API's transcript or by e-mail) nor to the AI; with
    ``files`` (stored beforehand: conversations.attachments) they go with it, as privately. The
    colleagues it names (``@ada``) hear of it (handover.mentions)."""
    _agent_of(conversation, user)
    text = _note_text(text)
    name = user.get_full_name() or user.get_username()
    note = message_post(
        conversation=conversation,
        role=MessageRole.NOTE,
        author=name,
        text=text,
        author_user=user,
        files=files,
    )
    mentions_sync(note, user)
    return note


def _note_text(text) -> str:
    """A private note's text, trimmed: 1 to NOTE_MAX characters, without NUL."""
    text = text.strip() if isinstance(text, str) else ""
    if not text or len(text) > NOTE_MAX or "\x00" in text:
        raise _invalid("text", f"must be 1 to {NOTE_MAX} characters, without NUL")
    return text


class NotTheAuthor(Forbidden):
    """Only the person who wrote a private note edits it (403)."""


@transaction.atomic
def note_edit(*, note: Message, user, text: str) -> Message:
    """The author of a private note changes its text. What it said before is kept
    (``MessageRevision``) and the note shows when it was edited; the inbox (never the
    customer) hears of it after commit."""
    _agent_of(note, user)
    locked = Message.objects.select_for_update().filter(pk=note.pk).first()
    if locked is None or locked.role != MessageRole.NOTE:
        raise _invalid("messageId", "is not a private note")
    if locked.author_user_id != user.pk:
        raise NotTheAuthor("only the person who wrote a note can edit it")
    text = _note_text(text)
    if text == locked.text:
        return locked
    MessageRevision.objects.create(
        tenant_id=locked.tenant_id, message=locked, text=locked.text, edited_by=user
    )
    locked.text, locked.edited_at = text, timezone.now()
    locked.save(update_fields=["text", "edited_at"])
    mentions_sync(locked, user, edited=True)
    notify_on_commit(
        [tenant_inbox_group(locked.tenant_id)],
        {
            "type": "message.updated",
            "conversationId": str(locked.conversation_id),
            "messageId": locked.pk,
            "message": message_json(locked),
        },
    )
    return locked


@transaction.atomic
def agent_status_set(*, user, status: str) -> AgentSetting:
    """A human agent sets their status in the inbox; away or busy, they get no live offers."""
    membership = membership_of(user)
    if membership is None or not membership.is_agent:
        raise NotAllowed("only human agents have a status")
    if status not in AgentStatus.values:
        raise _invalid("status", f"must be one of {', '.join(AgentStatus.values)}")
    setting = _setting_locked(user, membership.tenant_id)
    was = setting.status
    setting.status = status
    setting.save(update_fields=["status", "status_changed_at"])
    notify_on_commit(
        [tenant_inbox_group(membership.tenant_id)],
        {"type": "presence"},  # the inboxes re-read who is online, with each one's status
    )
    if was != AgentStatus.ONLINE and status == AgentStatus.ONLINE:
        _offers_for_freed_seat(user, membership.tenant_id)
    return setting


@transaction.atomic
def agent_limit_set(*, setting: AgentSetting, max_conversations: int) -> AgentSetting:
    """A manager sets how many conversations a person may hold at once (the admin). The
    person's inboxes hear of it (``limit.changed``), and a raised limit frees seats at once:
    the hot offers still open reach the person."""
    locked = AgentSetting.objects.select_for_update().get(pk=setting.pk)
    if max_conversations == locked.max_conversations:
        return locked
    raised = max_conversations > locked.max_conversations
    locked.max_conversations = max_conversations
    locked.save(update_fields=["max_conversations"])
    # the person's open inboxes show the new limit ("2 of 5", the line at the limit) at once
    notify_on_commit(
        [person_group(locked.user_id)],
        {"type": "limit.changed", "myLimit": max_conversations},
    )
    if raised:
        _offers_for_freed_seat(locked.user, locked.tenant_id)
    return locked


def agent_limit(user) -> int:
    setting = AgentSetting.objects.filter(user=user).first()
    return setting.max_conversations if setting else DEFAULT_MAX_CONVERSATIONS


def tenant_agent(tenant_id: int, username: Any):
    """The tenant's active human agent of that username; Invalid naming ``to`` when there is
    none (a transfer's and a manager's giving's colleague)."""
    target = (
        Membership.objects.filter(
            tenant_id=tenant_id,
            is_agent=True,
            user__username=username if isinstance(username, str) else "",
            user__is_active=True,
        )
        .select_related("user")
        .first()
    )
    if target is None:
        raise _invalid("to", "no human agent of this team has that username")
    return target.user


@transaction.atomic
def conversation_transfer(*, conversation: Conversation, user, to_username: str) -> Conversation:
    """The claimer passes the conversation to a colleague: a human agent of the tenant who is
    online, not away or busy, and under their limit (decided under the colleague's lock)."""
    locked = claimed_conversation(conversation, user)
    colleague = tenant_agent(locked.tenant_id, to_username)
    if colleague.pk == user.pk:
        raise _invalid("to", "you hold this conversation already")
    if not online_agents(locked.tenant).filter(user=colleague).exists():
        raise Unavailable(f"{colleague.get_username()} is not online.")
    setting = _setting_locked(colleague, locked.tenant_id)
    if setting.status != AgentStatus.ONLINE:
        raise Unavailable(f"{colleague.get_username()} is {setting.status}.")
    _within_limit(colleague, locked.tenant_id, who=colleague.get_username())
    now = timezone.now()
    Conversation.objects.filter(pk=locked.pk).update(assignee=colleague, updated_at=now)
    locked.assignee = colleague
    handoff = Handoff.objects.filter(conversation=locked, status=Status.CLAIMED).first()
    if handoff is not None:
        # a snooze was the giver's: the colleague looks at it now
        Handoff.objects.filter(pk=handoff.pk).update(
            claimed_by=colleague, claimed_at=now, snoozed_until=None, **pause_ended(now)
        )
        record(
            conversation=locked,
            event=HandoffClaimed(
                handoff_id=handoff.pk, by=colleague.get_username(), mode=handoff.mode
            ),
        )
    frm = user.get_full_name() or user.get_username()
    to = colleague.get_full_name() or colleague.get_username()
    _announce_transfer(
        locked, handoff, user, colleague, note=f"{frm} transferred the conversation to {to}."
    )
    _offers_for_freed_seat(user, locked.tenant_id)
    return locked


def _announce_transfer(locked: Conversation, handoff, user, colleague, *, note: str) -> None:
    """Tell the colleagues (a note in the transcript) and every inbox of the tenant that the
    conversation moved from ``user`` to ``colleague`` (None: back to the queue)."""
    message_post(conversation=locked, role=MessageRole.NOTE, author="system", text=note)
    notify_on_commit(
        [tenant_inbox_group(locked.tenant_id)],
        {
            "type": "handoff.transferred",
            "handoffId": handoff.pk if handoff else None,
            "conversationId": str(locked.pk),
            "from": user.get_username(),
            "to": colleague.get_username() if colleague else None,
        },
    )


KEEP_GROUP = object()  # conversation_requeue: the group the handoff had


@transaction.atomic
def conversation_requeue(
    *, conversation: Conversation, user, group: PeopleGroup | object | None = KEEP_GROUP
) -> Handoff:
    """The claimer puts the conversation back in the queue: the claimed handoff is resolved (as
    on a hand back) and a new one is opened (offered live to the available agents, else queued
    cold), for ``group``: the group the handoff had (by default), another of the tenant's
    (passing it on to the billing people), or None, everyone (``handover.groups``)."""
    locked = claimed_conversation(conversation, user)
    old = (
        Handoff.objects.filter(conversation=locked, status=Status.CLAIMED)
        .select_related("group")
        .first()
    )
    if group is KEEP_GROUP:
        group = old.group if old else None
    elif group is not None and getattr(group, "tenant_id", None) != locked.tenant_id:
        raise _invalid("group", "must be one of the team's groups")
    _close_handoff(locked)  # the holder's part is done, as when handing back
    # within SPEC 3's table: with_human -> active -> handing_off, in one transaction
    reason = f"put back in the queue by {user.get_username()}"
    lifecycle.conversation_transition(conversation=locked, to=State.ACTIVE, reason=reason)
    lifecycle.conversation_transition(conversation=locked, to=State.HANDING_OFF, reason=reason)
    Conversation.objects.filter(pk=locked.pk).update(assignee=None)
    locked.assignee = None
    name = user.get_full_name() or user.get_username()
    chosen = group if isinstance(group, PeopleGroup) else None
    for_whom = f" for the group {chosen.name}" if chosen else ""
    _announce_transfer(
        locked, old, user, None, note=f"{name} put the conversation back in the queue{for_whom}."
    )
    settings, _ = effective_settings(tenant=locked.tenant, agent=locked.current_agent)
    handoff = handoff_open(
        conversation=locked,
        reason=f"back in the queue from {user.get_username()}{for_whom}",
        settings=settings,
        mode=handoff_mode(locked, settings, group=chosen),
        group=chosen,
        priority=old.priority if old else 0,
        # the e-mail customer was told someone will follow up: not again for the same wait
        customer_emailed_at=old.customer_emailed_at if old else None,
    )
    _offers_for_freed_seat(user, locked.tenant_id, besides=locked)
    return handoff


def typing_from_human(*, conversation: Conversation, user) -> bool:
    """Tell the customer's widget that the person who holds the conversation is typing (the
    socket coalesces these). False when the person does not hold it."""
    if conversation.state != State.WITH_HUMAN or conversation.assignee_id != user.pk:
        return False
    try:
        group_send_bounded(
            conversation_group(conversation.pk),
            {
                "type": "typing",
                "conversationId": str(conversation.pk),
                "who": "human",
                "name": user.get_full_name() or user.get_username(),
            },
        )
    except Exception:  # a typing indicator is not worth an error: the next one may pass
        log.info("typing indicator not delivered", exc_info=True)
        return False
    return True


def typing_from_customer(*, conversation_id, tenant_id: int) -> None:
    """Tell the inboxes that have the conversation open that its customer is typing."""
    try:
        group_send_bounded(
            conversation_watchers_group(conversation_id),
            {"type": "customer.typing", "conversationId": str(conversation_id)},
        )
    except Exception:
        log.info("typing indicator not delivered", exc_info=True)
