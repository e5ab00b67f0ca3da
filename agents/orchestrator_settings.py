"""Orchestrator settings inherited global -> tenant -> stack (SPEC 2): names, validation, reads
and writes, in one place for the API, the admin and the orchestrator.

Settings are named here by their API names (``checkInterval``); the model's columns are
snake_case. Each level sets some names (null = not set); a name's effective value comes from
the most specific level that sets it: the agent's stack, then its tenant, then the global
defaults (which set every name).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from agents.detectors import BUILTIN_RULES, DEFAULT_THRESHOLD, normalise
from agents.models import (
    Agent,
    HandoffMode,
    OrchestratorSettings,
    RiskCategory,
    SettingsLevel,
    Workflow,
)
from core.config_version import config_changed
from core.models import Tenant
from core.secret_store import seal

if TYPE_CHECKING:
    from agents.models import Agent

MAX_SECONDS = 86_400  # a day: the longest check interval or hot claim timeout
MAX_TURNS = 1_000
MAX_MODEL_LENGTH = OrchestratorSettings._meta.get_field("model").max_length
MAX_INSTRUCTIONS_LENGTH = 10_000
MAX_STEPS = 10_000  # agent runs per conversation
MAX_TOKENS = 100_000_000
MAX_COST = 1_000_000.0
MAX_ENDPOINT_LENGTH = 500
MAX_KEY_LENGTH = 500
# the orchestrator endpoint's key: written by name like a setting, kept sealed on the level's
# row, inherited like the others, never read back (not one of SETTINGS)
API_KEY_NAME = "orchestratorApiKey"
LEVEL_ORDER = (SettingsLevel.GLOBAL, SettingsLevel.TENANT, SettingsLevel.STACK)


# --- Names and validation ---------------------------------------------------------------------


def _shown(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _whole_number(maximum: int) -> Callable[[Any], int]:
    def clean(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Enter a whole number.", code="invalid")
        if value < 1:
            raise ValidationError("Ensure this value is greater than or equal to 1.", "min_value")
        if value > maximum:
            raise ValidationError(
                f"Ensure this value is less than or equal to {maximum}.", code="max_value"
            )
        return value

    return clean


def _one_of(choices: list[str]) -> Callable[[Any], str]:
    def clean(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValidationError(
                f"{_shown(value)} is not one of {', '.join(choices)}.", code="invalid_choice"
            )
        return value

    return clean


def _clean_model(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("Enter the model name as a string.", code="invalid")
    value = value.strip()
    if not value:
        raise ValidationError("Enter a model name, e.g. gpt-4o-mini.", code="blank")
    if len(value) > MAX_MODEL_LENGTH:
        raise ValidationError(
            f"Ensure this value has at most {MAX_MODEL_LENGTH} characters (it has {len(value)}).",
            code="max_length",
        )
    return value


def _clean_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("Must be true or false.", code="invalid")
    return value


def _clean_risk_categories(value: Any) -> list[str]:
    allowed = RiskCategory.values
    if not isinstance(value, list | tuple):
        raise ValidationError(
            f"Must be a list of risk categories among {', '.join(allowed)}.", code="invalid"
        )
    seen: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in allowed:
            raise ValidationError(
                f"{_shown(item)} is not one of {', '.join(allowed)}.", code="invalid_choice"
            )
        if item in seen:
            raise ValidationError(f"{_shown(item)} is listed twice.", code="duplicate")
        seen.append(item)
    return seen


def _clean_instructions(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("Must be text.", code="invalid")
    if len(value) > MAX_INSTRUCTIONS_LENGTH:
        raise ValidationError(
            f"Ensure this value has at most {MAX_INSTRUCTIONS_LENGTH} characters "
            f"(it has {len(value)}).",
            code="max_length",
        )
    return value


def _clean_endpoint(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("Enter the endpoint's base URL as a string.", code="invalid")
    value = value.strip()
    if len(value) > MAX_ENDPOINT_LENGTH:
        raise ValidationError(
            f"Ensure this value has at most {MAX_ENDPOINT_LENGTH} characters.", code="max_length"
        )
    if value and not re.match(r"^https?://[^\s/]+", value):
        raise ValidationError(
            "Enter an http(s) base URL, e.g. https://api.openai.com/v1.", code="invalid"
        )
    return value


def _clean_key(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Enter the API key as a non-empty string.", code="invalid")
    if len(value.strip()) > MAX_KEY_LENGTH:
        raise ValidationError(
            f"Ensure this value has at most {MAX_KEY_LENGTH} characters.", code="max_length"
        )
    return value.strip()


def _clean_cost(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("Enter a number.", code="invalid")
    if not value > 0:
        raise ValidationError("Ensure this value is greater than 0.", code="min_value")
    if value > MAX_COST:
        raise ValidationError(
            f"Ensure this value is less than or equal to {MAX_COST}.", code="max_value"
        )
    return float(value)


# --- Risk detection (issue 20 point 4) -----------------------------------------------------------
#
# ``riskDetection`` by level: ``{category: {"add": [phrase], "remove": [name], "threshold":
# 0..1}}``, every key optional. The built-in rules of each category (``BUILTIN_RULES``, by
# name) are the base; the levels apply in order, global -> tenant -> stack: ``remove`` switches
# off a built-in rule or drops a phrase a level above added, ``add`` adds a phrase (or switches
# a built-in rule a level above removed back on, when it names one), ``threshold`` replaces
# the threshold. The effective value has every category with its net ``add``, ``remove`` and
# ``threshold``. Which categories hand over is ``riskCategories``, as before.

MAX_PHRASES = 200
MAX_PHRASE_LENGTH = 200
RISK_KEYS = ("add", "remove", "threshold")


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _clean_phrases(category: str, key: str, value: Any) -> list[str]:
    where = f"{category}.{key}"
    if not isinstance(value, list | tuple):
        raise ValidationError(f"{where}: must be a list of phrases.", code="invalid")
    if len(value) > MAX_PHRASES:
        raise ValidationError(f"{where}: at most {MAX_PHRASES} phrases.", code="max_length")
    cleaned: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ValidationError(f"{where}[{i}]: a phrase must be text.", code="invalid")
        phrase = " ".join(item.split())
        if not phrase:
            raise ValidationError(f"{where}[{i}]: a phrase cannot be empty.", code="blank")
        if len(phrase) > MAX_PHRASE_LENGTH:
            raise ValidationError(
                f"{where}[{i}]: at most {MAX_PHRASE_LENGTH} characters.", code="max_length"
            )
        if phrase not in BUILTIN_RULES[category] and not normalise(phrase):
            raise ValidationError(
                f"{where}[{i}]: {_shown(item)} has no words to match.", code="invalid"
            )
        if phrase in cleaned:
            raise ValidationError(f"{where}: {_shown(phrase)} is listed twice.", code="duplicate")
        cleaned.append(phrase)
    return cleaned


def _clean_threshold(category: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{category}.threshold: enter a number from 0 to 1.", "invalid")
    if not 0 <= value <= 1:
        raise ValidationError(
            f"{category}.threshold: {_shown(value)} is outside 0..1.", code="out_of_range"
        )
    return float(value)


def _clean_risk_detection(value: Any) -> dict[str, dict[str, Any]]:
    """One level's risk-detection settings, by category (see above); ``{}`` sets nothing."""
    categories = list(RiskCategory.values)
    if not isinstance(value, Mapping):
        raise ValidationError(
            'Must be an object by risk category, e.g. {"legal_threat": {"add": ["small '
            'claims"], "threshold": 0.5}}.',
            code="invalid",
        )
    cleaned: dict[str, dict[str, Any]] = {}
    for category, entry in value.items():
        if category not in categories:
            raise ValidationError(
                f"unknown risk category {_shown(category)}"
                f"{_did_you_mean(str(category), categories)}; known: {', '.join(categories)}.",
                code="unknown",
            )
        if not isinstance(entry, Mapping):
            raise ValidationError(
                f'{category}: must be an object with "add", "remove" and/or "threshold".',
                code="invalid",
            )
        unknown = [key for key in entry if key not in RISK_KEYS]
        if unknown:
            raise ValidationError(
                f"{category}: unknown key {_shown(unknown[0])}"
                f"{_did_you_mean(str(unknown[0]), list(RISK_KEYS))}; known: add, remove, "
                "threshold.",
                code="unknown",
            )
        own: dict[str, Any] = {}
        for key in ("add", "remove"):
            if entry.get(key) is not None:
                own[key] = _clean_phrases(category, key, entry[key])
        if entry.get("threshold") is not None:
            own["threshold"] = _clean_threshold(category, entry["threshold"])
        both = set(own.get("add", ())) & set(own.get("remove", ()))
        if both:
            raise ValidationError(
                f"{category}: {_shown(sorted(both)[0])} is both added and removed.",
                code="invalid",
            )
        cleaned[category] = own
    return {c: cleaned[c] for c in categories if c in cleaned}


def default_risk_detection() -> dict[str, dict[str, Any]]:
    """The built-in detector as an effective value: nothing added or removed, the default
    threshold for every category."""
    return {
        category: {"add": [], "remove": [], "threshold": DEFAULT_THRESHOLD}
        for category in RiskCategory.values
    }


def fold_risk_detection(
    documents: list[tuple[str, Mapping[str, Any] | None]],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The effective risk-detection settings of levels applied in order (``[(level,
    document)]``), and where each part comes from: ``{category: {"threshold": level, "add":
    {phrase: level}, "remove": {name: level}}}``."""
    effective = default_risk_detection()
    origin: dict[str, dict[str, Any]] = {
        c: {"threshold": str(SettingsLevel.GLOBAL), "add": {}, "remove": {}} for c in effective
    }
    for level, document in documents:
        for category, entry in (document or {}).items():
            if category not in effective or not isinstance(entry, Mapping):
                continue
            now, where = effective[category], origin[category]
            builtin = BUILTIN_RULES.get(category, ())
            for phrase in entry.get("remove") or ():
                if phrase in now["add"]:
                    now["add"].remove(phrase)
                    where["add"].pop(phrase, None)
                elif phrase in builtin and phrase not in now["remove"]:
                    now["remove"].append(phrase)
                    where["remove"][phrase] = level
            for phrase in entry.get("add") or ():
                if phrase in builtin:
                    if phrase in now["remove"]:
                        now["remove"].remove(phrase)
                        where["remove"].pop(phrase, None)
                elif phrase not in now["add"]:
                    now["add"].append(phrase)
                    where["add"][phrase] = level
            if entry.get("threshold") is not None:
                now["threshold"], where["threshold"] = entry["threshold"], level
    return effective, origin


def risk_detection_rows(
    levels: Mapping[str, Mapping[str, Any]], *, level: str = SettingsLevel.STACK
) -> list[dict[str, Any]]:
    """Each category's risk-detection settings as the admin shows them: the effective
    threshold and where it comes from, the phrases added and the built-in rules switched off
    (each with its level), the built-in rules, ``level``'s own entry and what the category
    would be with it cleared (``inherited_threshold`` and its source)."""
    order = LEVEL_ORDER[: LEVEL_ORDER.index(SettingsLevel(level)) + 1]
    documents = [(str(lvl), levels.get(str(lvl), {}).get("riskDetection")) for lvl in order]
    effective, origin = fold_risk_detection(documents)
    above, above_origin = fold_risk_detection(documents[:-1])
    own_document = documents[-1][1] or {}
    labels = dict(RiskCategory.choices)
    return [
        {
            "category": category,
            "label": labels[category],
            "threshold": effective[category]["threshold"],
            "threshold_source": origin[category]["threshold"],
            "added": [(p, origin[category]["add"][p]) for p in effective[category]["add"]],
            "removed": [
                (name, origin[category]["remove"][name]) for name in effective[category]["remove"]
            ],
            "builtin": BUILTIN_RULES[category],
            "inherited_added": above[category]["add"],
            "inherited_removed": above[category]["remove"],
            "inherited_threshold": above[category]["threshold"],
            "inherited_threshold_source": above_origin[category]["threshold"],
            "own": own_document.get(category),
        }
        for category in RiskCategory.values
    ]


def describe_risk_detection(rows: list[dict[str, Any]]) -> str:
    """One line per category: its threshold, the phrases added, the rules switched off, each
    with where it comes from."""
    lines = []
    for row in rows:
        parts = [f"threshold {row['threshold']:g} ({row['threshold_source']})"]
        parts += [f'+"{phrase}" ({source})' for phrase, source in row["added"]]
        parts += [f"-{name} ({source})" for name, source in row["removed"]]
        lines.append(f"{row['category']}: {', '.join(parts)}")
    return "; ".join(lines)


def risk_detection_with(
    current: Mapping[str, Any] | None, category: str, entry: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """A level's ``riskDetection`` with one category's entry replaced (``None`` or empty:
    removed, so the category inherits); ``None`` when nothing is left."""
    document = {k: v for k, v in (current or {}).items() if k != category}
    if entry:
        document[category] = dict(entry)
    ordered = {c: document[c] for c in RiskCategory.values if c in document}
    return ordered or None


def check_risk_removals(changes: Mapping[str, Any], inherited: dict[str, tuple[Any, str]]) -> None:
    """A name to remove is a built-in rule of its category or a phrase a level above adds;
    anything else would silently do nothing."""
    document = changes.get("riskDetection")
    if not document:
        return
    above = inherited["riskDetection"][0]
    for category, entry in document.items():
        known = [*BUILTIN_RULES[category], *above.get(category, {}).get("add", [])]
        for i, name in enumerate(entry.get("remove") or ()):
            if name not in known:
                raise ValidationError(
                    {
                        "riskDetection": [
                            f"{category}.remove[{i}]: {_shown(name)} is neither a built-in "
                            f"rule of {category} nor a phrase added above"
                            f"{_did_you_mean(name, known)}."
                        ]
                    }
                )


# A handoff's priority (a score, handover.services.priority_for) falls in a band; each band
# has its response targets. The lowest score of each band, most urgent first (the inbox's
# badges use the same bands).
PRIORITY_BANDS: tuple[tuple[str, int], ...] = (("urgent", 40), ("high", 20), ("medium", 10))
LOWEST_BAND = "low"
BANDS: tuple[str, ...] = (*(band for band, _ in PRIORITY_BANDS), LOWEST_BAND)
TARGET_KINDS = ("firstResponse", "resolution")
MAX_TARGET_SECONDS = 30 * 86_400  # a month
DEFAULT_RESPONSE_TARGETS = {
    "urgent": {"firstResponse": 300, "resolution": 4 * 3600},
    "high": {"firstResponse": 900, "resolution": 8 * 3600},
    "medium": {"firstResponse": 1800, "resolution": 24 * 3600},
    "low": {"firstResponse": 3600, "resolution": 48 * 3600},
}


def priority_band(priority: int) -> str:
    """The band of a handoff's priority score."""
    for band, lowest in PRIORITY_BANDS:
        if priority >= lowest:
            return band
    return LOWEST_BAND


def _clean_response_targets(value: Any) -> dict[str, dict[str, int]]:
    """Every band with both targets, in whole seconds (1 s to a month)."""
    shape = (
        "Must be an object with urgent, high, medium and low, each "
        '{"firstResponse": seconds, "resolution": seconds}.'
    )
    if not isinstance(value, Mapping) or set(value) != set(BANDS):
        raise ValidationError(shape, code="invalid")
    seconds = _whole_number(MAX_TARGET_SECONDS)
    cleaned: dict[str, dict[str, int]] = {}
    for band in BANDS:
        targets = value[band]
        if not isinstance(targets, Mapping) or set(targets) != set(TARGET_KINDS):
            raise ValidationError(f"{band}: {shape}", code="invalid")
        try:
            cleaned[band] = {kind: seconds(targets[kind]) for kind in TARGET_KINDS}
        except ValidationError as exc:
            raise ValidationError(f"{band}: {' '.join(exc.messages)}", code="invalid") from None
        if cleaned[band]["resolution"] < cleaned[band]["firstResponse"]:
            raise ValidationError(
                f"{band}: the resolution target cannot be shorter than the first response's.",
                code="invalid",
            )
    return cleaned


MAX_WORKFLOW_NAME = 200


def _clean_workflow_name(value: Any) -> str:
    """A workflow's name ("" for none); that the tenant has it is checked on write."""
    if not isinstance(value, str):
        raise ValidationError('Enter a workflow\'s name, or "" for none.', code="invalid")
    if len(value.strip()) > MAX_WORKFLOW_NAME:
        raise ValidationError(
            f"Ensure this value has at most {MAX_WORKFLOW_NAME} characters.", code="max_length"
        )
    return value.strip()


@dataclass(frozen=True)
class Setting:
    name: str  # the API's name
    field: str  # the model's column
    default: Any
    clean: Callable[[Any], Any]


SETTINGS: tuple[Setting, ...] = (
    Setting("model", "model", "gpt-4o-mini", _clean_model),
    Setting("checkInterval", "check_interval", 60, _whole_number(MAX_SECONDS)),
    Setting("stallThreshold", "stall_threshold", 3, _whole_number(MAX_TURNS)),
    Setting("riskAutoEscalation", "risk_auto_escalation", True, _clean_bool),
    Setting("riskCategories", "risk_categories", RiskCategory.values, _clean_risk_categories),
    # issue 20 point 4: the detector's phrases and thresholds, by category
    Setting("riskDetection", "risk_detection", default_risk_detection(), _clean_risk_detection),
    Setting("handoffMode", "handoff_mode", HandoffMode.AUTO.value, _one_of(HandoffMode.values)),
    Setting("hotClaimTimeout", "hot_claim_timeout", 120, _whole_number(MAX_SECONDS)),
    Setting("routingInstructions", "routing_instructions", "", _clean_instructions),
    Setting("orchestratorEndpoint", "orchestrator_endpoint", "", _clean_endpoint),
    Setting("stepBudget", "step_budget", 100, _whole_number(MAX_STEPS)),
    Setting("tokenBudget", "token_budget", 200_000, _whole_number(MAX_TOKENS)),
    Setting("costBudget", "cost_budget", 5.0, _clean_cost),
    Setting(
        "responseTargets", "response_targets", DEFAULT_RESPONSE_TARGETS, _clean_response_targets
    ),
    # issue 18 point 5: the workflow new web chats start in (a tenant's or a stack's)
    Setting("chatWorkflow", "chat_workflow", "", _clean_workflow_name),
)
BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def defaults() -> dict[str, Any]:
    """The built-in defaults of SPEC 2 (the global row starts with these)."""
    return {s.name: copy.deepcopy(s.default) for s in SETTINGS}


def validate_changes(*, level: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Check a set of changes by API name (``None`` clears a name at ``level``) and return them
    cleaned. Raises ``ValidationError`` keyed by the API names, every bad name at once."""
    if not isinstance(changes, Mapping):
        raise ValidationError("Expected an object of settings by name.", code="invalid")
    errors: dict[str, list[ValidationError]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        setting = BY_NAME.get(name)
        if name == API_KEY_NAME:
            try:
                cleaned[name] = None if value is None else _clean_key(value)
            except ValidationError as exc:
                errors[name] = [exc]
        elif setting is None:
            errors[str(name)] = [ValidationError("unknown setting", code="unknown")]
        elif value is None:
            if level == SettingsLevel.GLOBAL:
                errors[name] = [
                    ValidationError(
                        "The global default cannot be cleared; set another value.",
                        code="required",
                    )
                ]
            else:
                cleaned[name] = None
        else:
            try:
                cleaned[name] = setting.clean(value)
            except ValidationError as exc:
                errors[name] = [exc]
    if errors:
        raise ValidationError(errors)
    return cleaned


def render_routing_instructions(text: str, tenant: Tenant) -> str:
    """The routing instructions as the routing prompt uses them: ``{{TENANT_NAME}}`` replaced."""
    return re.sub(r"\{\{\s*TENANT_NAME\s*\}\}", lambda _: tenant.name, text or "")


# --- Reads ------------------------------------------------------------------------------------


def stack_root(agent: Agent) -> Agent:
    """The top of ``agent``'s supervisor chain (an agent without a supervisor is its own root).

    One query for any depth (none for a root): the tenant's supervisor links are read at once
    and walked in memory. A cycle, which the agent services refuse, ends the walk at the agent
    where it closes instead of looping.
    """
    if agent.supervisor_id is None:
        return agent

    agents = {
        other.pk: other
        for other in Agent.objects.filter(tenant_id=agent.tenant_id).only(
            "id", "tenant_id", "supervisor_id", "slug", "name", "role"
        )
    }
    current, seen = agent, {agent.pk}
    while current.supervisor_id is not None:
        parent = agents.get(current.supervisor_id)
        if parent is None or parent.pk in seen:
            break
        seen.add(parent.pk)
        current = parent
    return agent if current.pk == agent.pk else current


def _values(row: OrchestratorSettings | None) -> dict[str, Any]:
    if row is None:
        return {}
    values = {}
    for setting in SETTINGS:
        value = getattr(row, setting.field)
        if value is not None:
            values[setting.name] = list(value) if isinstance(value, list) else value
    return values


@dataclass(frozen=True)
class SettingsOverview:
    """Every level's own values (only the names it sets) and what they add up to."""

    effective: dict[str, Any]
    sources: dict[str, str]
    levels: dict[str, dict[str, Any]]
    stack: Agent | None
    # the orchestrator endpoint's key, sealed, by the levels that set one (never shown)
    sealed_keys: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def orchestrator_key(self) -> str:
        """The sealed key of the most specific level that sets one ("" when none does)."""
        for level in reversed(LEVEL_ORDER):
            if self.sealed_keys.get(str(level)):
                return self.sealed_keys[str(level)]
        return ""

    def inherited(self, level: str) -> dict[str, tuple[Any, str]]:
        """What ``level`` would get for each name if it set nothing: ``{name: (value,
        source)}`` from the levels above it."""
        above = LEVEL_ORDER[: LEVEL_ORDER.index(SettingsLevel(level))]
        effective, sources = _merge({str(lvl): self.levels.get(str(lvl), {}) for lvl in above})
        return {name: (effective[name], sources[name]) for name in NAMES}


def _merge(levels: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    effective: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for level in LEVEL_ORDER:
        for name, value in levels.get(str(level), {}).items():
            effective[name], sources[name] = value, str(level)
    for name, value in defaults().items():  # only when the global row is missing
        if name not in effective:
            effective[name], sources[name] = value, str(SettingsLevel.GLOBAL)
    # risk detection adds up level by level (a stack adds to its tenant's phrases)
    effective["riskDetection"], _ = fold_risk_detection(
        [(str(level), levels.get(str(level), {}).get("riskDetection")) for level in LEVEL_ORDER]
    )
    return {name: effective[name] for name in NAMES}, {name: sources[name] for name in NAMES}


def settings_overview(*, tenant: Tenant | None, agent: Agent | None = None) -> SettingsOverview:
    """The settings of ``tenant`` (and of ``agent``'s stack when given), level by level;
    ``tenant=None`` reads the global defaults alone.

    At most two queries whatever the data: the stack's root (none when ``agent`` is a root or
    absent) and the three level rows together.
    """
    if agent is not None and (tenant is None or agent.tenant_id != tenant.pk):
        raise ValueError("The agent belongs to another tenant.")
    root = stack_root(agent) if agent is not None else None
    wanted = Q(level=SettingsLevel.GLOBAL)
    if tenant is not None:
        wanted |= Q(level=SettingsLevel.TENANT, tenant=tenant)
    if root is not None:
        wanted |= Q(level=SettingsLevel.STACK, tenant=tenant, stack_id=root.pk)
    rows = {row.level: row for row in OrchestratorSettings.objects.filter(wanted)}
    levels = {
        str(SettingsLevel.GLOBAL): _values(rows.get(SettingsLevel.GLOBAL)) or defaults(),
        str(SettingsLevel.TENANT): _values(rows.get(SettingsLevel.TENANT)),
    }
    if root is not None:
        levels[str(SettingsLevel.STACK)] = _values(rows.get(SettingsLevel.STACK))
    effective, sources = _merge(levels)
    sealed_keys = {str(level): row.orchestrator_api_key or "" for level, row in rows.items()}
    return SettingsOverview(
        effective=effective, sources=sources, levels=levels, stack=root, sealed_keys=sealed_keys
    )


def effective_settings(
    *, tenant: Tenant, agent: Agent | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(effective, sources)`` by API name: each value from the most specific level that sets
    it, and ``sources[name]`` in ``"global"``, ``"tenant"``, ``"stack"``."""
    overview = settings_overview(tenant=tenant, agent=agent)
    return overview.effective, overview.sources


# --- Writes -----------------------------------------------------------------------------------


def _owner(level: SettingsLevel, tenant: Tenant | None, stack: Agent | None) -> dict[str, Any]:
    if level == SettingsLevel.GLOBAL:
        if tenant is not None or stack is not None:
            raise ValueError("The global defaults belong to no tenant and no stack.")
        return {}
    if level == SettingsLevel.TENANT:
        if tenant is None or stack is not None:
            raise ValueError("Tenant settings need a tenant and no stack.")
        return {"tenant": tenant}
    if stack is None:
        raise ValueError("Stack settings need the stack's agent.")
    if tenant is not None and stack.tenant_id != tenant.pk:
        raise ValidationError({"stack": "This agent belongs to another tenant."})
    if stack.supervisor_id is not None:
        raise ValidationError(
            {
                "stack": f"{stack.slug} reports to a supervisor; settings belong to the top "
                f"of its stack ({stack_root(stack).slug})."
            }
        )
    return {"tenant": stack.tenant if tenant is None else tenant, "stack": stack}


@transaction.atomic
def check_chat_workflow(level: str, tenant: Tenant | None, name: str | None) -> None:
    """``chatWorkflow`` names one of the tenant's workflows; the global level names none
    (workflows belong to a tenant)."""
    if not name:
        return
    if level == SettingsLevel.GLOBAL or tenant is None:
        raise ValidationError(
            {"chatWorkflow": ["Workflows belong to a tenant: set it for a tenant or a stack."]}
        )
    if not Workflow.objects.filter(tenant=tenant, name=name).exists():
        raise ValidationError({"chatWorkflow": [f"No workflow named {_shown(name)}."]})


def chat_workflow(agent: Agent) -> Workflow | None:
    """The workflow a new web chat with ``agent`` (the tenant's entry agent) starts in: the
    ``chatWorkflow`` setting of its stack or tenant, None when it names none (or a workflow
    renamed or deleted since)."""
    effective, _ = effective_settings(tenant=agent.tenant, agent=agent)
    name = effective.get("chatWorkflow")
    if not name:
        return None
    return Workflow.objects.filter(tenant_id=agent.tenant_id, name=name).first()


@transaction.atomic
def settings_update(
    *,
    level: str,
    tenant: Tenant | None = None,
    stack: Agent | None = None,
    changes: Mapping[str, Any],
) -> OrchestratorSettings:
    """Set or clear (``None``) settings by API name at one level; returns that level's row.

    ``level="global"`` takes neither tenant nor stack and refuses clearing; ``"tenant"`` takes
    the tenant; ``"stack"`` takes the stack's top agent (its tenant is the stack's). Invalid
    changes raise ``ValidationError`` keyed by API name, and nothing is written.
    """
    level = SettingsLevel(level)
    owner = _owner(level, tenant, stack)
    cleaned = validate_changes(level=level, changes=changes)
    check_chat_workflow(level, owner.get("tenant"), cleaned.get("chatWorkflow"))
    if cleaned.get("riskDetection"):
        above = settings_overview(tenant=owner.get("tenant"), agent=owner.get("stack"))
        check_risk_removals(cleaned, above.inherited(level))
    locked = OrchestratorSettings.objects.select_for_update()
    if level == SettingsLevel.GLOBAL:
        initial = {BY_NAME[name].field: value for name, value in defaults().items()}
        row, _ = locked.get_or_create(level=level, defaults=initial)
    elif level == SettingsLevel.TENANT:
        row, _ = locked.get_or_create(level=level, tenant=owner["tenant"], stack=None)
    else:
        row, _ = locked.get_or_create(
            level=level, stack=owner["stack"], defaults={"tenant": owner["tenant"]}
        )
    for name, value in cleaned.items():
        if name == API_KEY_NAME:
            row.orchestrator_api_key = "" if value is None else seal(value)
        else:
            setattr(row, BY_NAME[name].field, value)
    row.save()
    config_changed(None if level == SettingsLevel.GLOBAL else owner["tenant"].pk)
    return row
