"""Risk categories from phrase rules: frustration, legal_threat, churn_risk, human_request.

Each rule is a regular expression over one normalised clause (lowercase, contractions expanded,
misspellings fixed, punctuation removed: see ``text.normalise``), with word boundaries. A match
is dropped when a negation governs it ("I don't want to cancel", "no need for a human", "I'm not
threatening to sue"; see ``text.negated``). Inability is not negation ("why can't I talk to a
person" is still a request), nor is "don't make me" ("don't make me get a lawyer involved" is a
threat).

A few signals work on the raw text because they need case or punctuation: shouting (mostly
capitals), emphatic "!!!"/"?!" or a capitalised word together with a negative sentiment or a
sign of repetition, a word repeated three times, "Where. Is. My. Order.", and a capitalised name
after "speak to" / "switching to".

``detect_risk`` returns the sorted categories and, for explanations, every rule that matched.

Per-stack settings (issue 20 point 4, ``RiskSettings``): each category's built-in rules (by
name, ``BUILTIN_RULES``) can be switched off, the tenant's own phrases added (matched as whole
words in a normalised clause, negation-aware like the rules), and a threshold set. Every match
carries a weight (how sure the signal is on its own: a phrase rule 0.9, a signal that needs
the sentiment or the typography less, a manager's own phrase 1.0); a category's score is the
noisy-or of its matches' weights, and the category is detected when it has a match and its
score reaches the threshold. The default threshold (``DEFAULT_THRESHOLD``) is at most every
built-in weight, so the defaults detect exactly what the rules match.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from .sentiment import sentiment_score
from .text import clauses, negated, normalise

__all__ = [
    "BUILTIN_RULES",
    "CATEGORIES",
    "DEFAULT_THRESHOLD",
    "RiskMatch",
    "RiskResult",
    "RiskSettings",
    "detect_risk",
]

FRUSTRATION = "frustration"
LEGAL_THREAT = "legal_threat"
CHURN_RISK = "churn_risk"
HUMAN_REQUEST = "human_request"
CATEGORIES: tuple[str, ...] = (CHURN_RISK, FRUSTRATION, HUMAN_REQUEST, LEGAL_THREAT)
DEFAULT_THRESHOLD = 0.5
RULE_WEIGHT = 0.9  # a phrase rule over the words
SENTIMENT_RULE_WEIGHT = 0.6  # a rule that also needs a negative sentiment
PHRASE_WEIGHT = 1.0  # a phrase a manager added


@dataclass(frozen=True)
class RiskMatch:
    """One rule that fired: its category, its name, and the text it matched."""

    category: str
    rule: str
    text: str
    weight: float = RULE_WEIGHT


@dataclass(frozen=True)
class RiskResult:
    categories: tuple[str, ...]
    matches: tuple[RiskMatch, ...]
    # each category with a match: its score (noisy-or of the weights), detected or not
    scores: tuple[tuple[str, float], ...] = ()

    def phrases(self, category: str) -> tuple[str, ...]:
        return tuple(m.text for m in self.matches if m.category == category)


@dataclass(frozen=True)
class _Rule:
    category: str
    name: str
    pattern: re.Pattern[str]
    negatable: bool = True
    # only when the message's sentiment is below this (None: always)
    below: float | None = None
    # the rule is skipped in a clause matching this
    unless: re.Pattern[str] | None = None
    weight: float = RULE_WEIGHT


def _rule(
    category: str,
    name: str,
    pattern: str,
    *,
    negatable: bool = True,
    below: float | None = None,
    unless: str | None = None,
) -> _Rule:
    return _Rule(
        category,
        name,
        re.compile(pattern),
        negatable,
        below,
        re.compile(unless) if unless else None,
        RULE_WEIGHT if below is None else SENTIMENT_RULE_WEIGHT,
    )


# --- vocabulary -------------------------------------------------------------------------------

_HUMAN = (
    r"(?:human beings?|humans?|persons?|people|somebody|someone|anyone|anybody|agents?|"
    r"representatives?|reps?|operators?|advis[eo]rs?|supervisors?|managers?|team lead(?:er)?|"
    r"staff(?: member)?|members? of (?:staff|(?:your|the) (?:\w+ )?team)|colleagues?|"
    r"employees?|whoever|boss|someone (?:in charge|senior|more senior|higher up)|"
    r"anyone (?:in charge|senior)|"
    r"customer (?:service|support|care)(?: team| agent| representative| rep)?|"
    r"support (?:team|staff)|team members?|your team|the team|"
    r"(?:tech|technical|customer) support|support|"
    r"(?:billing|sales|support|legal|complaints|accounts|customer service) (?:team|department))"
)
_HUMAN_STRICT = (
    r"(?:human beings?|humans?|persons?|agents?|representatives?|reps?|operators?|advis[eo]rs?|"
    r"supervisors?|managers?|team lead(?:er)?|staff member|colleagues?|employees?|boss)"
)
_DET = r"(?:(?:a|an|the|your|some|one of your|any|another|real|live|actual|proper|human)\s+)*"
_MOD = r"(?:[a-z]+\s+){0,2}?"
_OBJ = rf"{_DET}{_MOD}{_HUMAN}\b"

_LAWYER = (
    r"(?:lawyers?|attorneys?|solicitors?|barristers?|legal (?:team|counsel|department|"
    r"representatives?|advis[eo]rs?)|counsel)"
)
_REGULATOR = (
    r"(?:better business bureau|bbb|ftc|federal trade commission|cfpb|ombudsman|trading standards|"
    r"attorney general|data protection (?:authority|commissioner|office|regulator)|"
    r"consumer protection|consumer rights (?:agency|body|organi[sz]ation)|consumer affairs|"
    r"competition and markets authority|advertising standards|citizens advice|"
    r"information commissioner|financial ombudsman)"
)
_WEAK_AUTHORITY = (
    r"(?:police|ico|cma|fca|ofcom|ofgem|asa|regulators?|authorities|watchdog|action fraud|"
    r"fraud department)"
)
_SUBSCRIPTION = (
    r"(?:subscriptions?|sub|memberships?|accounts?|contracts?|plan|service|services|broadband|"
    r"(?:broadband|tv|phone|mobile|data) package|policy|auto ?renewal|renewal|direct debit|"
    r"phone line|line|premium)"
)
_PROVIDER = (
    r"(?:providers?|compan(?:y|ies)|carriers?|networks?|banks?|suppliers?|services?|shops?|"
    r"stores?|brands?|competitors?|isps?|operators?|one)"
)

# --- rules over normalised clauses --------------------------------------------------------------

_RULES: tuple[_Rule, ...] = (
    # human_request
    _rule(
        HUMAN_REQUEST,
        "speak to a person",
        rf"\b(?:speak|talk|chat|deal|communicate|converse|explain (?:this|it|that)|"
        rf"sort (?:this|it)(?: out)?|discuss (?:this|it)|confirm)(?:ing)? (?:to|with) {_OBJ}|"
        rf"\b(?:reach|contact|get hold of|get through to|get in touch with|be connected to|"
        rf"be connected with|be put through to|be transferred to|be passed to|message|email|"
        rf"e mail|text|call|phone|ring) {_OBJ}|\b(?:have|get) a (?:quick )?word with {_OBJ}",
        # a question about the process, not a request
        unless=r"\bdo (?:i|we) (?:need|have) to (?:talk|speak|chat|call|contact|phone)\b",
    ),
    _rule(
        HUMAN_REQUEST,
        "transfer me to a person",
        rf"\b(?:get|give|find|put|pass|connect|transfer|send|bring|hand|route|switch) me "
        rf"(?:(?:on|through|over|back) )?"
        rf"(?:(?:to|with|through to|in touch with|onto) )?{_OBJ}|"
        rf"\bput (?:a|an|someone|somebody) (?:real |live |actual )?(?:{_HUMAN_STRICT} )?on\b",
    ),
    _rule(
        HUMAN_REQUEST,
        "escalate to a person",
        rf"\b(?:escalate|escalated|escalating|transfer|transferred|transferring|connect|connected|"
        rf"put through|be put through|forward|forwarded) (?:(?:this|it|me|my \w+) )?(?:to|"
        rf"with) {_OBJ}",
    ),
    _rule(
        HUMAN_REQUEST,
        "want a person",
        rf"\b(?:want|wants|need|needs|like|prefer|request|requesting|ask for|asking for|asked|"
        rf"demand|demanding|can i have|could i have|may i have|can i get|could i get|give me|"
        rf"where is|where are) (?:(?:now|please|just|really|only|actually|for|again|here|right|"
        rf"times|twice|\d+|two|three|four|five|several|many|multiple)\s+){{0,3}}"
        rf"(?:a|an|to a|to an) (?:real |live |actual |proper |human )?{_HUMAN_STRICT}\b",
    ),
    _rule(
        HUMAN_REQUEST,
        "human noun on its own",
        r"^(?:(?:please|now|hi|hello|hey|ok|just|thanks|thank you|a|an|live|real|human|agent|"
        r"operator|representative|person|customer service|speak|talk|chat|to|with|me|get)\s?)*"
        r"(?:human|agent|operator|representative|person)(?:\s(?:please|now|thanks|thank you|"
        r"agent|operator|representative|person))*$",
    ),
    _rule(
        HUMAN_REQUEST,
        "a person to handle this",
        rf"\b(?:can|could|would|will|please|let|need|want|like|get|have) (?:(?:please|can|could|"
        rf"a|an|one of your|someone|somebody|your|real|live|actual|human)\s+)+(?:{_HUMAN_STRICT}|"
        rf"technician|engineer|team) (?:please |from \w+(?: \w+)? )?(?:to )?(?:look|check|handle|"
        rf"deal|review|take over|take a look|sort|help|call|ring|phone|email|contact|get back|"
        rf"respond|reply|assist|investigate|approve)\b|"
        rf"\b(?:someone|somebody|a person|a human|an agent) (?:from \w+(?: \w+)? )?to (?:take "
        rf"over|handle|look|check|review|deal|call|help|sort)\b",
    ),
    _rule(
        HUMAN_REQUEST,
        "a call with a person",
        rf"\b(?:book|schedule|arrange|have|set up|get|request) (?:a |an )?(?:phone |video |quick )?"
        rf"(?:call|conversation|chat|meeting|appointment) with {_OBJ}",
    ),
    _rule(
        HUMAN_REQUEST,
        "contact me",
        rf"\b(?:{_HUMAN}|someone from (?:\w+ ){{1,3}}) (?:to |can |could |please |will |should )?"
        r"(?:call|ring|phone|email|e mail|contact|text|get back to|reach out to) me\b",
    ),
    _rule(
        HUMAN_REQUEST,
        "callback",
        r"\b(?:call ?back|callback|call me back|ring me back|give me a (?:ring|call|bell))\b",
    ),
    _rule(
        HUMAN_REQUEST,
        "person on the phone",
        r"\b(?:get|have|put|need|want|speak to|talk to) (?:a |an )?(?:technician|engineer|someone|"
        r"somebody|person|human|agent|representative|manager|supervisor) on the (?:phone|line)\b",
    ),
    _rule(
        HUMAN_REQUEST,
        "is a person available",
        r"\b(?:a |an |any )?(?:real |live |actual )?(?:humans?|person|people|agents?|operators?|"
        r"representatives?|anyone|anybody|someone|somebody) (?:available|there|around|on the line|"
        r"working there|online)\b",
        unless=r"\b(?:is|are) (?:there )?(?:a |an |any )?(?:real |live |actual )?(?:human|person|"
        r"people|agent|operator|representative|anyone|anybody|someone|somebody) (?:there|around) "
        r"(?:who|that) (?:can|could|will)",
    ),
    _rule(
        HUMAN_REQUEST,
        "someone I can talk to",
        rf"\b(?:someone|somebody|anyone|anybody|(?:a|an) {_HUMAN_STRICT})(?: \w+){{0,3}} (?:i|we) "
        r"(?:can|could) (?:talk|speak|chat) (?:to|with)\b|\bwho (?:can|could|do|should) (?:i|we) "
        r"(?:talk|speak|chat) (?:to|with)\b",
    ),
    _rule(
        HUMAN_REQUEST,
        "a real person",
        r"(?:^|\b(?:a|an|any|some|one|to|with|me|for)\s)(?:(?:real|live|actual|proper) "
        r"(?:human beings?|humans?|persons?|people|agents?|representatives?|reps?|operators?|"
        r"advisors?)|"
        r"human (?:agents?|beings?|representatives?|operators?|support))\b",
        unless=r"\bare you (?:a |an )?(?:bot|robot|ai|machine|computer|human|real|person)",
    ),
    _rule(
        HUMAN_REQUEST,
        "to a person",
        r"\b(?:to|with) (?:a|an) (?:real |live |actual )?(?:human being|human|person)\b",
        unless=r"\bare you (?:a |an )?(?:bot|robot|ai|machine|computer|human|real|person)",
    ),
    # legal_threat
    _rule(
        LEGAL_THREAT,
        "involve a lawyer",
        rf"\b(?:get|getting|got|involve|involving|bring|bringing|call|calling|contact|contacting|"
        rf"contacted|hire|hiring|hired|consult|consulting|consulted|instruct|instructing|"
        rf"instructed|"
        rf"retain|retained|engage|engaged|speak to|speaking to|speaking with|speak with|spoken to|"
        rf"spoken with|talk to|talking to|talked to|see|seeing|have|get in touch with|"
        rf"getting in touch with) (?:(?:a|an|my|our|the|me a|me an)\s+)?{_MOD}{_LAWYER}\b",
    ),
    _rule(
        LEGAL_THREAT,
        "my lawyer will",
        rf"\b(?:my|our) {_LAWYER}(?: \w+){{0,5}}? (?:in touch|contact|contacting|hear|deal|"
        r"field day|cc|cced|copied|looking|look at|look into|case|sue|court|involved|letter|action|"
        r"claim|advised|advises|says you|said you|drafted|handle|handling|reviewing|review|"
        r"on it)\b",
    ),
    _rule(
        LEGAL_THREAT,
        "hear from my lawyer",
        rf"\b(?:hear|hearing|heard|will be|going to be|comes?|coming|letter|letters|email|call|"
        rf"notice|papers|correspondence|claim|summons) from (?:my|our|a) {_MOD}{_LAWYER}|"
        rf"\b(?:go|going|went|turn|turning|straight) (?:straight )?to (?:my|our|a) {_LAWYER}|"
        rf"\b{_LAWYER} (?:will|would|are going to|is going to) (?:be |get )?involved\b|"
        rf"\b(?:my|our) {_LAWYER} (?:is|are|has been|have been|will be) (?:drafting|preparing|"
        rf"writing|filing|reviewing|looking|handling|dealing|aware|advising|building|sending|"
        rf"chasing)\b",
    ),
    _rule(LEGAL_THREAT, "through my lawyer", rf"\b(?:through|via) (?:my|our|a) {_LAWYER}\b"),
    _rule(
        LEGAL_THREAT,
        "legal action",
        r"\blegal (?:action|actions|proceedings|remedies|remedy|steps|route|recourse|advice|"
        r"counsel|"
        r"claim|case|letter|matter|dispute)\b|\b(?:pursue|pursuing|pursued|take|taking|seek|"
        r"seeking) (?:this |it |the matter |this matter )?legally\b|\bletter before action\b|"
        r"\blegally if (?:i|we) (?:have|need|must)\b|"
        r"\bcease and desist\b",
    ),
    _rule(
        LEGAL_THREAT,
        "court",
        r"\b(?:see you|take you|taking you|take this|taking this|take it|taking it|go|going|goes|"
        r"went|drag you|dragging you|bring you|bringing you|end up|ends up|be|settle this) (?:in|"
        r"to) "
        r"(?:the )?(?:small claims |county |district |consumer )?(?:court|courts|tribunal)\b|"
        r"\bsmall claims\b|\bcourt (?:papers|case|claim|action|date|summons|hearing)\b|"
        r"\b(?:in|to|through|into) (?:the |a )?(?:small claims |county |district |consumer |"
        r"civil )?"
        # "in court" as a phrase of its own, not "the court reception"
        r"courts?(?=$| (?:if|for|over|about|unless|and|or|to|with|against|by|on|in|this|next|soon|"
        r"tomorrow|then|because|so|myself|it|you|them|regarding|now|again|already)\b)|"
        r"\bclaim against (?:you|your|the company|this company)\b|"
        r"\b(?:a|the) (?:court|judge|magistrate|tribunal) (?:decide|decides|will decide|thinks|"
        r"think|says|will say|rules|will rule)\b|\b(?:answer|answering|"
        r"explain|explaining|answerable) (?:\w+ )?to a (?:judge|court)\b|\bin front of a judge\b",
    ),
    _rule(
        LEGAL_THREAT,
        "lawsuit",
        r"\b(?:lawsuits?|law suits?|class action|litigation|legal case)\b",
    ),
    _rule(
        LEGAL_THREAT,
        "sue",
        r"\b(?:to|will|would|going to|i|we|ready to|and|or|then|could|can|might|may|should|"
        r"shall) sue\b|\bsuing\b|\bsue (?:you|your|the company|this company|them|over|for|if|"
        r"unless)\b|"
        r"\bsued\b",
    ),
    _rule(LEGAL_THREAT, "regulator", rf"\b{_REGULATOR}\b"),
    _rule(
        LEGAL_THREAT,
        "report to the authorities",
        rf"\b(?:report|reporting|reported|complain|complaining|complained|complaint|complaints|"
        rf"file|"
        rf"filing|filed|contact|contacting|contacted|escalate|escalating|take this|taking this|go|"
        rf"going|went|inform|informing|tell|telling|write|writing) (?:\w+ ){{0,4}}?(?:to |with )?"
        rf"(?:the )?{_WEAK_AUTHORITY}\b",
    ),
    _rule(
        LEGAL_THREAT,
        "reluctant lawyer",
        rf"\b(?:was|were|had) not (?:going|planning|wanting|hoping) to (?:involve|get|contact|"
        rf"call) "
        rf"(?:a |my |the )?{_LAWYER}",
        negatable=False,
    ),
    # churn_risk
    _rule(
        CHURN_RISK,
        "cancel my subscription",
        rf"\b(?:cancel|cancelling|canceling|cancelled|canceled|cancellation|terminate|terminating|"
        rf"termination|end(?! of)|ending(?! of)|close|closing|delete|deleting|stop|stopping|quit|"
        rf"quitting|discontinue|discontinuing|unsubscribe|unsubscribing|leave|leaving) "
        rf"(?:\w+ ){{0,4}}?{_SUBSCRIPTION}\b",
        # the company did it: "closing my account without notice is unlawful"
        unless=r"\bwithout (?:any )?(?:notice|warning|my (?:consent|permission))\b|"
        r"\byou (?:closed|cancelled|canceled|terminated|deleted|suspended)\b|"
        r"\b(?:her|his|their) (?:account|subscription|membership|plan|contract)\b",
    ),
    _rule(
        CHURN_RISK,
        "will not renew",
        r"\b(?:not|never|no longer) (?:be )?(?:auto )?(?:renew|renewing|re new|re newing)\b",
        negatable=False,
    ),
    _rule(
        CHURN_RISK,
        "switch to another provider",
        rf"\b(?:switch|switching|move|moving|go|going|change|changing|leave|leaving|port|porting|"
        rf"take|taking) (?:\w+ ){{0,4}}?(?:to|for|with) (?:(?:another|a different|a new|a cheaper|"
        rf"a better|other|your|a) {_PROVIDER}|a competitor|the competition|a rival)\b|"
        rf"\bswitch(?:ing)? (?:providers|companies|carriers|networks|banks|suppliers|isps?)\b",
    ),
    _rule(
        CHURN_RISK,
        "want to cancel",
        r"\b(?:want|wants|wanted|like|need|going|planning|plan|plans|decided|about|have) to "
        r"cancel(?: (?:it|everything|all|please|now|today|then|asap|tbh))*"
        r"(?:$| (?:unless|if|because|as|since|when)\b)|"
        r"\b(?:thinking|considering|think) (?:about |of )?(?:cancel+ing|leaving|quitting|"
        r"switching)\b|\bcancel (?:everything|it all|all of it)\b|"
        r"\bcancel (?:at|by|before|from) (?:the end|end|next)\b|"
        r"\bi am cancel+ing\b(?! (?:the|my|this|that|an|a|one|your) (?:orders?|items?|"
        r"appointment|booking|delivery|upgrade|purchase))",
    ),
    _rule(
        CHURN_RISK,
        "I am out",
        r"(?<!if )(?<!when )(?<!while )(?<!whilst )\bi am (?:out|leaving|outta here|off)$|"
        r"\bi am leaving (?:you|your company|this company)\b|\bjump(?:ing|ed)? ship\b|"
        r"\bwants? out\b|\bwant to leave\b|\b(?:done|finished) with (?:you|your|this) "
        r"(?:service|company|app|subscription|product|business|shop|store|bank|network|provider)\b",
    ),
    _rule(
        CHURN_RISK,
        "take my business elsewhere",
        r"\b(?:business|custom|money) (?:elsewhere|somewhere else)\b|\b(?:go|going|shop|shopping|"
        r"look|looking|buy|"
        rf"buying) elsewhere\b|\b(?:find|finding|look for|looking for|look at|looking at|try|"
        rf"trying|choose|choosing|use|using|compare|comparing|check out|checking out|consider|"
        rf"considering) (?:a |an )?(?:another|different|new|other|better|cheaper|alternative) "
        rf"{_PROVIDER}\b|\b(?:looking for|look for|find|finding|considering) alternatives\b|"
        rf"\bshop(?:ping)? around\b",
    ),
    _rule(
        CHURN_RISK,
        "never again",
        r"\blast time (?:i|we) (?:order|buy|shop|use|purchase|book|fly)\w*\b|"
        r"\blast (?:order|purchase|booking|time) (?:i|we) (?:will )?ever\b|\bnever (?:buy|buying|"
        r"order|ordering|shop|shopping|use|using|purchase|purchasing|come back|coming back|book|"
        r"booking|recommend|recommending) (?:\w+ ){0,4}?(?:again|from you|with you)\b",
        negatable=False,
    ),
    _rule(
        CHURN_RISK,
        "lost a customer",
        r"\b(?:lost|losing|lose) (?:a|another|one|your|this|me as a) (?:customer|client)\b|"
        r"\b(?:reason|reasons) (?:to|for me to|why i should) stay\b",
    ),
    _rule(
        CHURN_RISK,
        "no longer want the service",
        r"\b(?:do not|does not|not|no longer) (?:want|wish) to (?:stay|remain|continue|"
        r"be a customer|"
        r"do business)\b|\b(?:will not|not going to|do not plan to|not planning to) (?:be )?"
        r"(?:continuing|continue|staying|stay|renewing|renew) (?:with|on) (?:you|your|this)\b|"
        r"\bno longer (?:need|want|require|use) (?:your|the|this|my) (?:service|"
        r"services|subscription|product|app|plan|membership)\b|\bwill not (?:need|be needing|"
        r"require|be using) (?:the|your|this|my) (?:service|subscription|plan|membership)\b",
        negatable=False,
    ),
    _rule(
        CHURN_RISK,
        "competitor",
        r"\b(?:your |a )?competitors?\b|\bthe competition\b(?! and markets)|"
        r"\b(?:early )?termination fee\b",
    ),
    # frustration
    _rule(
        FRUSTRATION,
        "angry word",
        r"\b(?:ridiculous|ridiculously|unacceptable|unbelievable|useless|pathetic|disgraceful|"
        r"disgusting|outrageous|appalling|atrocious|abysmal|horrendous|incompetent|incompetence|"
        r"infuriating|infuriated|furious|livid|fuming|angry|annoyed|annoying|irritated|irritating|"
        r"frustrated|frustrating|frustration|exasperated|insane|absurd|nightmare|shambles|clowns|"
        r"rubbish|garbage)\b",
    ),
    _rule(
        FRUSTRATION,
        "exasperated phrase",
        r"\b(?:fed up|sick of|sick and tired|tired of|had enough|enough is enough|waste of (?:my |"
        r"our )?(?:time|money)|wasting my time|wasted (?:\w+ ){0,3}?(?:hours?|days?|time|minutes)|"
        r"losing (?:my )?patience|lost (?:my )?patience|running out of patience|"
        r"worst (?:\w+ ){0,2}?(?:ever|service|company|experience|support)|the worst|"
        r"thanks for (?:absolutely )?nothing|are you kidding|kidding me|for the love of god|"
        r"what the hell|what the heck|wtf|ffs|for gods? sake|for crying out loud|"
        r"are you (?:even )?(?:reading|listening)|do you even (?:read|listen)|"
        r"(?:going|go|running|run|went) (?:round|around) in circles|how many (?:more )?times|"
        r"how hard can it be|how hard is it|how difficult can it be|straight answer|"
        r"nothing works|nothing is working|not happy|(?:so|extremely|very|really|deeply|bitterly|"
        r"hugely|massively|incredibly) disappointed|beyond a joke|what a joke|not good enough|"
        r"stop (?:telling|sending|asking) me|i am done|done with (?:this|you|your)|wits end|"
        r"beyond annoyed|every single (?:time|day|night|update|week)|again and again|"
        r"over and over|made it worse|so called|love that for me|just what i (?:wanted|needed)|"
        r"why (?:do|should|must) i (?:have|need) to|why is it so (?:hard|difficult)|"
        r"why can not (?:i|you|anyone)|this is how you treat|how you treat (?:your )?customers|"
        r"end of my tether|(?:had|have had) it with|what is wrong with (?:you|your|this)|"
        r"you people|"
        r"driving me (?:mad|crazy|insane|nuts|up the wall|round the bend)|give me strength|"
        r"tearing my hair out|pulling my hair out|(?:have|has) got to be (?:joking|kidding)|"
        r"you must be joking|are you joking|why (?:is|are) (?:nobody|no one) (?:answering|replying|"
        r"responding|helping|listening)|nobody (?:answers|replies|responds|cares|is listening)|"
        r"how is (?:this|it) so (?:hard|difficult|complicated)|upset|"
        r"(?:second|third|fourth|fifth|\d+(?:nd|rd|th)) (?:email|message|call|request|complaint|"
        r"attempt|chat)|(?:where|what|why|how|who) the (?:hell|heck|fuck)|nothing ever works?|"
        r"you lot|having a laugh|i give up|"
        r"only (?:\w+ ){0,2}(?:days|weeks|months|hours) late)\b",
    ),
    _rule(
        FRUSTRATION,
        "accusation",
        r"\b(?:this is|that is|it is|you are|what) (?:(?:a|an|absolute|absolutely|total|complete|"
        r"utter|such a|just|a bit of a) )*(?:fraud|scam|rip off|ripoff|robbery|daylight robbery|"
        r"con|"
        r"disgrace|farce|joke)\b",
    ),
    _rule(FRUSTRATION, "can't believe", r"\bcan not believe\b", below=0.0),
    _rule(
        FRUSTRATION,
        "repeated attempts",
        r"\b(?:asked|told|called|contacted|emailed|written|wrote|tried|explained|reported|reset|"
        r"chased|messaged|promised|phoned|rang|complained)(?: \w+){0,4}? (?:\d+|two|three|four|"
        r"five|"
        r"six|several|many|multiple|numerous|countless|so many|a dozen|ten) times\b|"
        r"\b(?:third|fourth|fifth|sixth|tenth|umpteenth|nth|\d+(?:rd|th)) time\b",
    ),
    _rule(
        FRUSTRATION,
        "interjection",
        r"^(?:(?:omg|oh my god|oh|oh come on) )?(?:ugh+|argh+|grr+|smh|seriously|enough|"
        r"enough already|enough with .*|come on|oh (?:great|wonderful|"
        r"brilliant|perfect|lovely|fantastic|nice|good))$",
    ),
    _rule(
        FRUSTRATION,
        "sarcastic praise",
        r"\b(?:great|good|nice|brilliant) job\b|\b(?:amazing|great|fantastic|brilliant|excellent|"
        r"wonderful|stellar|top notch) (?:service|customer service|support)\b|\breally helpful\b",
        below=0.0,
    ),
)

# --- signals on the raw text ----------------------------------------------------------------------

_NAMED_PERSON_RE = re.compile(
    r"\b(?:[Ss]peak|[Tt]alk|[Cc]hat)(?:ing)?\s+(?:to|with)\s+(?!I\b|You\b|The\b|A\b|An\b|It\b)"
    r"([A-Z][a-z]{2,})\b"
)
_BRAND_SWITCH_RE = re.compile(
    r"\b(?i:thinking (?:of|about)|considering|seriously|i'll|i will|we'll|we will|i'd rather|"
    r"i would rather|rather|going to|gonna|about to|might|may|could)\s+(?:\w+\s+)?"
    r"(?i:switch(?:ing)?|mov(?:e|ing)|go(?:ing)?(?:\s+(?:back|over))?|chang(?:e|ing)|"
    r"jump(?:ing)?)\s+(?:over\s+|back\s+)?(?i:to|with)\s+(?:using\s+)?([A-Z][A-Za-z0-9]+)"
)
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_DRAMATIC_STOPS_RE = re.compile(r"(?:\b[A-Za-z]+\.\s+){3,}")
_EMPHATIC_PUNCT_RE = re.compile(r"[!?]{2,}")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z']*")
_ACRONYMS = frozenset(
    [
        "FAQ",
        "GDPR",
        "FTC",
        "BBB",
        "ICO",
        "CMA",
        "FCA",
        "CFPB",
        "ASA",
        "VAT",
        "USA",
        "UK",
        "EU",
        "ID",
        "PIN",
        "SMS",
        "URL",
        "API",
        "TV",
        "PC",
        "IOS",
        "OK",
        "OMG",
        "LOL",
        "ASAP",
        "DM",
        "PS",
        "HQ",
        "ETA",
        "UPS",
        "DHL",
        "USPS",
        "FEDEX",
        "TNT",
        "RMA",
        "SKU",
        "NHS",
        "ATM",
        "AM",
        "PM",
    ]
)
_REPEAT_CUE_RE = re.compile(
    r"\b(?:still|again|already|another|waiting|been|nobody|no one|nothing|never|yet|now)\b"
)
_EMPHASIS_SENTIMENT = -0.25
_INTENSIFIED_SENTIMENT = -0.7
_INTENSIFIER_RE = re.compile(
    r"\b(?:so|extremely|absolutely|totally|completely|utterly|literally|beyond|really|seriously|"
    r"truly|incredibly)\b"
)


def _raw_signals(text: str, norm: str, sentiment: float) -> list[RiskMatch]:
    found: list[RiskMatch] = []
    text = text.translate(_QUOTES)
    words = _WORD_RE.findall(text)
    letters = [ch for ch in text if ch.isalpha()]
    upper = sum(ch.isupper() for ch in letters)
    shouting = len(words) >= 3 and letters and upper / len(letters) >= 0.6
    if shouting and sentiment < 0.3:
        found.append(RiskMatch(FRUSTRATION, "shouting", text.strip()[:60], 0.6))
    caps = [
        w
        for w in words
        if len(w) >= 3 and w.isupper() and w.upper() not in _ACRONYMS and not shouting
    ]
    emphatic = _EMPHATIC_PUNCT_RE.findall(text)
    if (caps or emphatic) and (
        sentiment <= _EMPHASIS_SENTIMENT or (_REPEAT_CUE_RE.search(norm) and sentiment < 0.3)
    ):
        found.append(RiskMatch(FRUSTRATION, "emphasis", " ".join(caps + emphatic), 0.5))
    counts = Counter(w.lower() for w in words if len(w) >= 3)
    repeated = [
        w for w, n in counts.items() if n >= 3 and w in {"representative", "agent", "human"}
    ]
    if repeated:
        found.append(RiskMatch(FRUSTRATION, "repetition", repeated[0], 0.6))
        found.append(RiskMatch(HUMAN_REQUEST, "repetition", repeated[0], 0.6))
    m = _DRAMATIC_STOPS_RE.search(text)
    if m:
        found.append(RiskMatch(FRUSTRATION, "dramatic full stops", m.group(0).strip(), 0.5))
    if sentiment <= _INTENSIFIED_SENTIMENT:
        m = _INTENSIFIER_RE.search(norm)
        if m:
            found.append(RiskMatch(FRUSTRATION, "intensified negative", m.group(0), 0.5))
    m = _NAMED_PERSON_RE.search(text)
    if m:
        found.append(RiskMatch(HUMAN_REQUEST, "speak to a named person", m.group(0), 0.7))
    m = _BRAND_SWITCH_RE.search(text)
    if m:
        found.append(RiskMatch(CHURN_RISK, "switch to a named brand", m.group(0), 0.7))
    return found


# the signals on the raw text, by category (their names, as ``_raw_signals`` reports them)
_RAW_SIGNALS: dict[str, tuple[str, ...]] = {
    FRUSTRATION: (
        "shouting",
        "emphasis",
        "repetition",
        "dramatic full stops",
        "intensified negative",
    ),
    HUMAN_REQUEST: ("repetition", "speak to a named person"),
    CHURN_RISK: ("switch to a named brand",),
    LEGAL_THREAT: (),
}
# every built-in rule's name, by category: what a stack's settings can switch off
BUILTIN_RULES: dict[str, tuple[str, ...]] = {
    category: (
        *dict.fromkeys(rule.name for rule in _RULES if rule.category == category),
        *_RAW_SIGNALS[category],
    )
    for category in CATEGORIES
}


@dataclass(frozen=True)
class RiskSettings:
    """What a stack changes in the detector: built-in rules switched off (``(category,
    name)``), its own phrases by category (normalised), and thresholds by category (a category
    left out has ``DEFAULT_THRESHOLD``)."""

    disabled: frozenset[tuple[str, str]] = frozenset()
    phrases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    thresholds: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> RiskSettings:
        """From an effective ``riskDetection`` document: ``{category: {"add": [phrase],
        "remove": [built-in rule name], "threshold": 0..1}}`` (unknown categories and rule
        names are ignored; the settings validate them on write)."""
        return _settings_from(json.dumps(document or {}, sort_keys=True))

    def threshold(self, category: str) -> float:
        return dict(self.thresholds).get(category, DEFAULT_THRESHOLD)

    @cached_property
    def _patterns(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple(
            (
                category,
                re.compile(
                    r"\b(?:"
                    + "|".join(re.escape(p) for p in sorted(found, key=len, reverse=True))
                    + r")\b"
                ),
            )
            for category, found in self.phrases
            if found
        )


DEFAULT_SETTINGS = RiskSettings()


@lru_cache(maxsize=256)
def _settings_from(key: str) -> RiskSettings:
    document = json.loads(key)
    disabled: set[tuple[str, str]] = set()
    phrases: list[tuple[str, tuple[str, ...]]] = []
    thresholds: list[tuple[str, float]] = []
    for category in CATEGORIES:
        entry = document.get(category) or {}
        if not isinstance(entry, dict):
            continue
        builtin = set(BUILTIN_RULES[category])
        disabled.update((category, name) for name in entry.get("remove") or () if name in builtin)
        own = tuple(
            dict.fromkeys(
                normalise(p)
                for p in entry.get("add") or ()
                if isinstance(p, str) and p not in builtin and normalise(p)
            )
        )
        if own:
            phrases.append((category, own))
        threshold = entry.get("threshold")
        if isinstance(threshold, int | float) and not isinstance(threshold, bool):
            thresholds.append((category, float(threshold)))
    return RiskSettings(frozenset(disabled), tuple(phrases), tuple(thresholds))


def _score(weights: list[float]) -> float:
    missed = 1.0
    for weight in weights:
        missed *= 1.0 - weight
    return round(1.0 - missed, 4)


def detect_risk(
    text: str, *, sentiment: float | None = None, settings: RiskSettings | None = None
) -> RiskResult:
    """Risk categories of one customer message, with the rules that matched.

    ``sentiment`` (the message's score in [-1, 1]) is computed when not given; some frustration
    signals need it. ``settings`` are a stack's (rules switched off, its own phrases, its
    thresholds); the built-in ones when not given.
    """
    if not text or not text.strip():
        return RiskResult((), ())
    settings = settings or DEFAULT_SETTINGS
    disabled = settings.disabled
    if sentiment is None:
        sentiment = sentiment_score(text)
    matches: list[RiskMatch] = []
    for clause in clauses(text):
        for rule in _RULES:
            if disabled and (rule.category, rule.name) in disabled:
                continue
            if rule.below is not None and sentiment >= rule.below:
                continue
            if rule.unless is not None and rule.unless.search(clause):
                continue
            for m in rule.pattern.finditer(clause):
                if rule.negatable and negated(clause[: m.start()].split()):
                    continue
                matches.append(RiskMatch(rule.category, rule.name, m.group(0).strip(), rule.weight))
                break
        for category, pattern in settings._patterns:
            for m in pattern.finditer(clause):
                if negated(clause[: m.start()].split()):
                    continue
                matches.append(RiskMatch(category, "phrase", m.group(0), PHRASE_WEIGHT))
                break
    matches.extend(
        m
        for m in _raw_signals(text, normalise(text), sentiment)
        if not disabled or (m.category, m.rule) not in disabled
    )
    unique = tuple(dict.fromkeys(matches))
    weights: dict[str, list[float]] = {}
    for m in unique:
        weights.setdefault(m.category, []).append(m.weight)
    scores = {category: _score(found) for category, found in weights.items()}
    categories = tuple(sorted(c for c, score in scores.items() if score >= settings.threshold(c)))
    return RiskResult(categories, unique, tuple(sorted(scores.items())))
