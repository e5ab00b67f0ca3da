"""Text preparation shared by the detectors: normalisation, clauses, stemming and similarity.

Everything here is pure Python and deterministic. ``normalise`` lowercases, unifies apostrophes,
expands contractions ("don't" -> "do not", also without the apostrophe: "dont"), fixes a short list
of common misspellings and chat abbreviations ("pls", "laywer", "humna"), drops accents and
replaces punctuation with spaces, so that phrase rules and keyword lists only need to spell each
word one way.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from functools import lru_cache

__all__ = [
    "STOPWORDS",
    "clauses",
    "negated",
    "normalise",
    "similarity",
    "stem",
    "tokens",
]

_QUOTES = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
    }
)

# Contractions with an apostrophe, most specific first.
_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bcan't\b", "can not"),
        (r"\bcannot\b", "can not"),
        (r"\bwon't\b", "will not"),
        (r"\bshan't\b", "shall not"),
        (r"\bain't\b", "is not"),
        (r"\blet's\b", "let us"),
        (r"\b(cc|ok)'d\b", r"\1ed"),
        (r"n't\b", " not"),
        (r"\bi'm\b", "i am"),
        (r"'re\b", " are"),
        (r"'ve\b", " have"),
        (r"'ll\b", " will"),
        (r"'d\b", " would"),
        (
            r"\b(it|that|what|where|there|here|he|she|who|how|when|why|this)'s\b",
            r"\1 is",
        ),
        (r"'s\b", ""),  # possessive: "company's" -> "company"
    )
)

# Word-level fixes: contractions typed without an apostrophe, chat abbreviations and common
# misspellings of the words the detectors look for. Values may be several words.
_WORD_FIXES: dict[str, str] = {
    # contractions without apostrophe
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "wont": "will not",
    "isnt": "is not",
    "arent": "are not",
    "wasnt": "was not",
    "werent": "were not",
    "havent": "have not",
    "hasnt": "has not",
    "hadnt": "had not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "couldnt": "could not",
    "aint": "is not",
    "im": "i am",
    "ive": "i have",
    "youre": "you are",
    "youve": "you have",
    "thats": "that is",
    "whats": "what is",
    "theres": "there is",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "got to",
    "lemme": "let me",
    "gimme": "give me",
    # chat abbreviations
    "u": "you",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "plse": "please",
    "pleas": "please",
    "thx": "thanks",
    "thnx": "thanks",
    "tnx": "thanks",
    "ty": "thank you",
    "ppl": "people",
    "spk": "speak",
    "tlk": "talk",
    "acct": "account",
    "msg": "message",
    "asap": "as soon as possible",
    "rn": "right now",
    "sb": "somebody",
    "smb": "somebody",
    # misspellings of words the detectors care about
    "humna": "human",
    "hooman": "human",
    "humam": "human",
    "humen": "human",
    "humans": "humans",
    "persn": "person",
    "prson": "person",
    "agnet": "agent",
    "agant": "agent",
    "represenative": "representative",
    "representitive": "representative",
    "reprasentative": "representative",
    "supervisior": "supervisor",
    "supervsior": "supervisor",
    "manger": "manager",
    "somone": "someone",
    "someome": "someone",
    "sombody": "somebody",
    "laywer": "lawyer",
    "lawer": "lawyer",
    "lawyr": "lawyer",
    "lwyer": "lawyer",
    "laywers": "lawyers",
    "lawers": "lawyers",
    "attourney": "attorney",
    "attorny": "attorney",
    "atorney": "attorney",
    "attroney": "attorney",
    "sollicitor": "solicitor",
    "solicter": "solicitor",
    "lawsuite": "lawsuit",
    "cancell": "cancel",
    "cancle": "cancel",
    "cancelation": "cancellation",
    "cancellaton": "cancellation",
    "subcription": "subscription",
    "subscripton": "subscription",
    "subsciption": "subscription",
    "subscribtion": "subscription",
    "refnd": "refund",
    "refund's": "refunds",
    "recieve": "receive",
    "recieved": "received",
    "pasword": "password",
    "passwrod": "password",
    "accout": "account",
    "acount": "account",
    "ridiculus": "ridiculous",
    "rediculous": "ridiculous",
    "unacceptible": "unacceptable",
    "frustating": "frustrating",
    "furstrated": "frustrated",
}

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_NON_WORD_RE = re.compile(r"[^a-z0-9']+")
_SPACES_RE = re.compile(r"\s+")
_CLAUSE_SPLIT_RE = re.compile(r"[.!?;:,\n\u2026()\[\]\"]+|\s[-/]\s|\bbut\b|\bhowever\b|\bthough\b")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "mine",
        "we",
        "us",
        "our",
        "you",
        "your",
        "it",
        "its",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "do",
        "does",
        "did",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "from",
        "and",
        "or",
        "so",
        "if",
        "as",
        "that",
        "this",
        "these",
        "those",
        "there",
        "here",
        "just",
        "can",
        "could",
        "would",
        "will",
        "shall",
        "should",
        "please",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "dear",
        "regards",
    ]
)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _fix_words(text: str) -> str:
    return _WORD_RE.sub(lambda m: _WORD_FIXES.get(m.group(0), m.group(0)), text)


@lru_cache(maxsize=4096)
def _prepare(text: str) -> str:
    """Lowercase, unify quotes, expand contractions and fix words; punctuation is kept."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    text = _strip_accents(text)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return _fix_words(text)


def _squash(text: str) -> str:
    text = _NON_WORD_RE.sub(" ", text).replace("'", " ")
    return _SPACES_RE.sub(" ", text).strip()


def clear_caches() -> None:
    """Forget the memoised text preparation (the bench calls it to time cold runs)."""
    _prepare.cache_clear()
    _clauses.cache_clear()
    stem.cache_clear()


def normalise(text: str) -> str:
    """Return ``text`` lowercased, with contractions expanded and punctuation removed.

    >>> normalise("I DON'T want   2 talk to a bot!!!")
    'i do not want 2 talk to a bot'
    """
    return _squash(_prepare(text or ""))


@lru_cache(maxsize=4096)
def _clauses(text: str) -> tuple[str, ...]:
    parts = (_squash(part) for part in _CLAUSE_SPLIT_RE.split(_prepare(text)))
    return tuple(part for part in parts if part)


def clauses(text: str) -> list[str]:
    """Split ``text`` into normalised clauses: the scope of a negation.

    Clauses end at sentence punctuation, commas, dashes and at "but"/"however"/"though", so the
    "not" of "I don't want to cancel, I want to pause" does not reach the second clause.
    """
    return list(_clauses(text or ""))


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalise(text).split()


_DOUBLE_END_RE = re.compile(r"([bcdfghjklmnpqrtvwxz])\1$")


@lru_cache(maxsize=8192)
def stem(word: str) -> str:
    """A light suffix stemmer: "refunds", "refunded", "refunding" -> "refund".

    It only has to map a word and its inflections to one key; the key need not be a word
    ("charge" and "charged" both become "charg"). Keywords are stemmed the same way.
    """
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if w.endswith("ing") and len(w) > 5 and re.search(r"[aeiouy]", w[:-3]):
        w = w[:-3]
    elif w.endswith("ied") and len(w) > 4:
        w = w[:-3] + "y"
    elif (
        w.endswith("ed") and not w.endswith("eed") and len(w) > 4 and re.search(r"[aeiouy]", w[:-2])
    ):
        w = w[:-2]
    w = _DOUBLE_END_RE.sub(r"\1", w)
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    return w


# --- negation -----------------------------------------------------------------------------------

_NEGATORS = frozenset({"not", "never", "no", "without", "nobody", "accidentally", "mistakenly"})
# Words that start a new proposition: a negator before them does not reach the match.
_SCOPE_BREAKERS = frozenset(
    {"if", "unless", "or", "and", "because", "so", "then", "until", "when", "otherwise", "i", "we"}
)
# A negator followed by these is not a negation of what comes after.
_NOT_NEGATING_AFTER = (
    ("make", "me"),
    ("force", "me"),
    ("way",),  # "no way to reach a person"
    ("one",),  # "no one to talk to"
    ("choice",),
    ("option",),
)
_NEGATION_WINDOW = 5


_DESIRE = frozenset(
    {
        "want",
        "wants",
        "need",
        "needs",
        "asking",
        "looking",
        "planning",
        "plan",
        "plans",
        "intention",
        "interested",
        "trying",
        "wish",
        "going",
    }
)


def negated(words_before: list[str], *, desire_only: bool = False) -> bool:
    """Whether a negation governs the words that follow ``words_before`` (one clause's words).

    A negator ("not", "never", "no", "without", "accidentally"...) within the last five words,
    with nothing between it and the end that starts a new proposition ("if", "or", "I"...):
    "I do not want to [cancel]", "no need for [a human]". Inability is not refusal ("why can not
    I [talk to a person]"), nor are "do not make me", "no way to", "no one to", "no choice".

    With ``desire_only`` only a negated wish or request counts ("do not want", "no need",
    "not asking for", "no plans to", an imperative "do not ..." opening the clause), not a
    negated event: "I did not get [my refund]" is still about the refund.
    """
    window = words_before[-_NEGATION_WINDOW:]
    offset = len(words_before) - len(window)
    for i in range(len(window) - 1, -1, -1):
        word = window[i]
        if word in _SCOPE_BREAKERS:
            return False
        if word in _NEGATORS:
            after = tuple(window[i + 1 : i + 3])
            if any(after[: len(x)] == x for x in _NOT_NEGATING_AFTER):
                continue
            if word == "not" and i > 0 and window[i - 1] in {"can", "could"}:
                continue  # inability, not refusal
            if desire_only and not (
                word in {"accidentally", "mistakenly"}
                or (after and after[0] in _DESIRE)
                or (word == "not" and offset + i == 1 and words_before[0] == "do")
                or (word == "never" and offset + i == 0)
            ):
                continue
            return True
    return False


# Words that carry no topic for "is this the same question": question words and auxiliaries too.
_SIMILARITY_STOPWORDS = STOPWORDS | frozenset(
    [
        "how",
        "what",
        "when",
        "where",
        "why",
        "which",
        "who",
        "has",
        "have",
        "had",
        "been",
        "being",
        "will",
        "yet",
        "still",
        "get",
        "got",
        "gotten",
        "going",
        "try",
        "trying",
        "keep",
        "keeps",
        "kept",
        "ok",
        "okay",
        "tell",
        "know",
        "let",
        "wonder",
        "wondering",
        "like",
        "want",
        "need",
        "ask",
        "asking",
        "question",
        "quick",
    ]
)
_SIMILARITY_WEIGHT = 0.7  # of the word overlap; the rest is the character ratio
_MAX_CHARS = 1000  # similarity looks at the first 1000 characters of each text
_MAX_FUZZY_PAIRS = 2500


def _content_stems(text: str) -> set[str]:
    words = normalise(text[: _MAX_CHARS * 2]).split()
    content = {stem(w) for w in words if w not in _SIMILARITY_STOPWORDS}
    return content or {stem(w) for w in words}


def _soft_jaccard(a: set[str], b: set[str]) -> float:
    """Jaccard index where two words of more than 3 letters also match when they differ by a
    typo (difflib ratio >= 0.8: "refund" ~ "refnud")."""
    common = a & b
    only_a, only_b = a - common, b - common
    fuzzy = 0
    if only_a and only_b and len(only_a) * len(only_b) <= _MAX_FUZZY_PAIRS:
        unmatched = set(only_b)
        for x in sorted(only_a):
            if len(x) <= 3:
                continue
            for y in sorted(unmatched):
                if len(y) > 3 and difflib.SequenceMatcher(None, x, y).ratio() >= 0.8:
                    unmatched.discard(y)
                    fuzzy += 1
                    break
    matched = len(common) + fuzzy
    union = len(a) + len(b) - matched
    return matched / union if union else 1.0


def similarity(a: str, b: str) -> float:
    """Normalised similarity of two messages in [0, 1], symmetric.

    0.7 x the overlap of their topic words (stemmed, question words and auxiliaries dropped,
    typo-tolerant Jaccard: "where is my order" ~ "my order, where is it?") + 0.3 x difflib's
    character ratio of the normalised texts (sensitive to small edits). Identical normalised
    texts give 1.0, and so do two empty texts; one empty text gives 0.0. Paraphrases of one
    question score above ~0.8, different questions on the same subject below ~0.6 (see
    ``tests/detectors/test_similarity.py``).
    """
    norm_a, norm_b = normalise(a or ""), normalise(b or "")
    if norm_a == norm_b:
        return 1.0
    if not norm_a or not norm_b:
        return 0.0
    # order the pair so the result does not depend on argument order
    if (norm_a, a) > (norm_b, b):
        a, b, norm_a, norm_b = b, a, norm_b, norm_a
    overlap = _soft_jaccard(_content_stems(a), _content_stems(b))
    ratio = difflib.SequenceMatcher(
        None, norm_a[:_MAX_CHARS], norm_b[:_MAX_CHARS], autojunk=False
    ).ratio()
    score = _SIMILARITY_WEIGHT * overlap + (1 - _SIMILARITY_WEIGHT) * ratio
    return round(max(0.0, min(1.0, score)), 4)
