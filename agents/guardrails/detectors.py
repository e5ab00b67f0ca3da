"""Personal data in a reply, found with real validation so look-alikes pass.

Each detector returns the ``(start, end)`` spans it would redact. A candidate is found by a
regular expression and kept only when its check holds:

- card numbers: 13 to 19 digits (spaces or hyphens allowed between groups) with a known issuer
  prefix for their length (Visa, Mastercard, American Express, Discover, Diners, JCB, UnionPay)
  and a valid Luhn check digit. A 16-digit order number that fails either is left alone;
- US social security numbers: ``123-45-6789`` (dashes or spaces), without the never-issued
  area 000, 666 or 900-999, group 00 or serial 0000;
- UK National Insurance numbers: two letters (not D, F, I, Q, U, V; second not O; not the
  prefixes BG, GB, KN, NK, NT, TN, ZZ), six digits, a suffix A to D;
- Dutch BSN (burgerservicenummer): 9 digits (dots or spaces allowed) passing the 11-check, and
  named as such nearby (``BSN``, ``burgerservicenummer``, ``citizen service number``,
  ``sofinummer``), since one in eleven 9-digit order numbers passes the 11-check by chance;
- e-mail addresses;
- phone numbers: 9 to 15 digits written as a phone number (a leading ``+`` or ``00``, or
  separators between groups, or a leading 0), only where the tenant turns it on.
"""

from __future__ import annotations

import re

Span = tuple[int, int]

_CARD = re.compile(r"(?<![\d.,-])\d(?:[ -]?\d){12,18}(?![\d])")
_SSN = re.compile(r"(?<![\d-])(\d{3})[- ](\d{2})[- ](\d{4})(?![\d-])")
_NINO = re.compile(r"\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])\b")
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_BSN = re.compile(r"(?<![\d.])(\d{4})[. ]?(\d{2})[. ]?(\d{3})(?![\d])")
_BSN_HINT = re.compile(
    r"\b(?:bsn|burgerservicenummer|citizen service number|sofi-?nummer)\b", re.IGNORECASE
)
BSN_HINT_WINDOW = 40
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d(?:[\s().-]{0,2}\d){8,14}(?![\w])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_issuer(digits: str) -> str | None:
    """The card network whose prefixes and lengths ``digits`` fit, or None."""
    n = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= two <= 55 or 2221 <= four <= 2720) and n == 16:
        return "mastercard"
    if two in (34, 37) and n == 15:
        return "amex"
    if (four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649) and n in (16, 19):
        return "discover"
    if (two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305) and n in (14, 16, 19):
        return "diners"
    if 3528 <= four <= 3589 and n in (16, 19):
        return "jcb"
    if two == 62 and 16 <= n <= 19 and 622126 <= six <= 628899:
        return "unionpay"
    return None


def find_cards(text: str) -> list[Span]:
    spans = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and card_issuer(digits) and luhn_valid(digits):
            spans.append(match.span())
    return spans


def ssn_valid(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def find_ssns(text: str) -> list[Span]:
    return [m.span() for m in _SSN.finditer(text) if ssn_valid(*m.groups())]


def find_ninos(text: str) -> list[Span]:
    return [m.span() for m in _NINO.finditer(text) if m.group(1) not in _NINO_BAD_PREFIXES]


def bsn_valid(digits: str) -> bool:
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
    return (total - int(digits[8])) % 11 == 0


def find_bsns(text: str) -> list[Span]:
    spans = []
    for match in _BSN.finditer(text):
        digits = "".join(g for g in match.groups() if g)
        if not bsn_valid(digits):
            continue
        before = text[max(0, match.start() - BSN_HINT_WINDOW) : match.start()]
        if _BSN_HINT.search(before):
            spans.append(match.span())
    return spans


def find_emails(text: str) -> list[Span]:
    return [m.span() for m in _EMAIL.finditer(text)]


def find_phones(text: str) -> list[Span]:
    spans = []
    for match in _PHONE.finditer(text):
        raw = match.group()
        digits = re.sub(r"\D", "", raw)
        if not 9 <= len(digits) <= 15:
            continue
        formatted = raw[0] == "+" or raw.startswith("00") or raw[0] == "0" or raw[0] == "("
        if formatted or re.search(r"\d[\s().-]+\d", raw):
            spans.append(match.span())
    return spans


# name -> (finder, placeholder); the national ids share one switch
NATIONAL_IDS = {
    "us_ssn": find_ssns,
    "uk_nino": find_ninos,
    "nl_bsn": find_bsns,
}
