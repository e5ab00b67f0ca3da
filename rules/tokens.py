"""Tokenizer: condition text -> a list of tokens, each with its 1-based column."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from .errors import ConditionError

# Token kinds
NUMBER: Final = "number"
STRING: Final = "string"
NAME: Final = "name"
KEYWORD: Final = "keyword"
OP: Final = "op"  # == != < <= > >= + -
PUNCT: Final = "punct"  # ( ) [ ] , .
EOF: Final = "eof"

KEYWORDS: Final = frozenset({"and", "or", "not", "in", "contains", "true", "false", "null"})
"""Reserved words (lowercase only; 'AND' is an ordinary name)."""

COMPARISON_OPS: Final = ("==", "!=", "<=", ">=", "<", ">")
ARITHMETIC_OPS: Final = ("+", "-")
WHITESPACE: Final = frozenset(" \t\r\n")
PUNCTUATION: Final = frozenset("()[],.")

_ESCAPES: Final = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")

# Helpful messages for characters people type from other languages.
_HINTS: Final = {
    "=": "unexpected '='; use '==' to compare",
    "!": "unexpected '!'; use '!=' or 'not'",
    "&": "unexpected '&'; use 'and'",
    "|": "unexpected '|'; use 'or'",
}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: object  # the text for names/keywords/ops/punctuation, the parsed value otherwise
    position: int  # 1-based column of the first character
    text: str  # the source text of the token

    def describe(self) -> str:
        """How an error message refers to this token."""
        if self.kind == EOF:
            return "end of condition"
        if self.kind == NAME:
            return f"name '{self.value}'"
        if self.kind == NUMBER:
            return f"number {_shorten(self.text)}"
        if self.kind == STRING:
            return f"string {_shorten(self.text)}"
        return f"'{self.value}'"


def _shorten(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_ident_start(char: str) -> bool:
    return char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z")


def _is_ident_char(char: str) -> bool:
    return _is_ident_start(char) or ("0" <= char <= "9")


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token. Raises ConditionError."""
    tokens: list[Token] = []
    length = len(text)
    i = 0
    while i < length:
        char = text[i]
        if char in WHITESPACE:
            i += 1
            continue
        start = i
        if _is_ident_start(char):
            i += 1
            while i < length and _is_ident_char(text[i]):
                i += 1
            word = text[start:i]
            kind = KEYWORD if word in KEYWORDS else NAME
            tokens.append(Token(kind, word, start + 1, word))
            continue
        if char in ARITHMETIC_OPS and _ends_value(tokens):
            # after a value, '+' and '-' add and subtract: "a - 1", "a -1", "(a)-1"
            tokens.append(Token(OP, char, start + 1, char))
            i += 1
            continue
        if _is_digit(char) or (char == "-" and i + 1 < length and _is_digit(text[i + 1])):
            i = _scan_number(text, start, tokens)
            continue
        if char in ("'", '"'):
            i = _scan_string(text, start, tokens)
            continue
        two = text[i : i + 2]
        if two in ("==", "!=", "<=", ">="):
            tokens.append(Token(OP, two, start + 1, two))
            i += 2
            continue
        if char in ("<", ">"):
            tokens.append(Token(OP, char, start + 1, char))
            i += 1
            continue
        if char in PUNCTUATION:
            tokens.append(Token(PUNCT, char, start + 1, char))
            i += 1
            continue
        if two in ("&&", "||"):
            word = "and" if two == "&&" else "or"
            raise ConditionError(f"unexpected '{two}'; use '{word}'", start + 1)
        if char == "-":
            raise ConditionError("expected a digit after '-'", start + 2)
        if char == "+":
            raise ConditionError("unexpected '+': it adds two values, as in a + b", start + 1)
        if char in _HINTS:
            raise ConditionError(_HINTS[char], start + 1)
        raise ConditionError(f"unexpected character {_show_char(char)}", start + 1)
    tokens.append(Token(EOF, None, length + 1, ""))
    return tokens


def _ends_value(tokens: list[Token]) -> bool:
    """Whether the last token ends a value (so a following '-' subtracts rather than starting a
    negative number): a name or an attribute (``customer.in``), a number, a string, true,
    false, null, ')' or ']'."""
    if not tokens:
        return False
    last = tokens[-1]
    if last.kind in (NAME, NUMBER, STRING):
        return True
    if last.kind == KEYWORD:
        if last.value in ("true", "false", "null"):
            return True
        return len(tokens) > 1 and tokens[-2].kind == PUNCT and tokens[-2].value == "."
    return last.kind == PUNCT and last.value in (")", "]")


def _show_char(char: str) -> str:
    if char.isprintable():
        return f"'{char}'"
    return f"U+{ord(char):04X}"


def _scan_number(text: str, start: int, tokens: list[Token]) -> int:
    length = len(text)
    i = start + 1 if text[start] == "-" else start
    while i < length and _is_digit(text[i]):
        i += 1
    is_float = False
    if i < length and text[i] == ".":
        if i + 1 < length and _is_digit(text[i + 1]):
            is_float = True
            i += 1
            while i < length and _is_digit(text[i]):
                i += 1
        else:
            raise ConditionError("expected a digit after '.' in a number", i + 2)
    if i < length and text[i] in "eE":
        j = i + 1
        if j < length and text[j] in "+-":
            j += 1
        if j < length and _is_digit(text[j]):
            is_float = True
            i = j
            while i < length and _is_digit(text[i]):
                i += 1
        else:
            raise ConditionError("expected digits in the exponent of a number", j + 1)
    if i < length and _is_ident_char(text[i]):
        raise ConditionError(
            f"unexpected character '{text[i]}' in a number; names cannot start with a digit",
            i + 1,
        )
    source = text[start:i]
    if is_float:
        value: int | float = float(source)
        if not math.isfinite(value):
            raise ConditionError(f"number {_shorten(source)} is too large", start + 1)
    else:
        value = int(source)
    tokens.append(Token(NUMBER, value, start + 1, source))
    return i


def _scan_string(text: str, start: int, tokens: list[Token]) -> int:
    quote = text[start]
    length = len(text)
    parts: list[str] = []
    i = start + 1
    while True:
        if i >= length:
            raise ConditionError(
                f"unterminated string: expected a closing {quote} for the string opened at "
                f"column {start + 1}",
                length + 1,
            )
        char = text[i]
        if char == quote:
            i += 1
            break
        if char == "\\":
            if i + 1 >= length:
                raise ConditionError("expected an escaped character after '\\'", i + 2)
            code = text[i + 1]
            if code in _ESCAPES:
                parts.append(_ESCAPES[code])
                i += 2
                continue
            if code == "u":
                point = _hex4(text, i + 2)
                if point is None:
                    raise ConditionError("expected four hex digits after '\\u'", i + 3)
                if 0xD800 <= point <= 0xDBFF and text[i + 6 : i + 8] == "\\u":
                    low = _hex4(text, i + 8)
                    if low is not None and 0xDC00 <= low <= 0xDFFF:  # a pair: one character
                        parts.append(chr(0x10000 + ((point - 0xD800) << 10) + (low - 0xDC00)))
                        i += 12
                        continue
                if 0xD800 <= point <= 0xDFFF:
                    raise ConditionError(
                        f"'\\u{point:04X}' is half of a surrogate pair, not a character (write "
                        "the character itself, or both halves: '\\uD83D\\uDE00')",
                        i + 1,
                    )
                parts.append(chr(point))
                i += 6
                continue
            raise ConditionError(
                f"unknown escape '\\{code}' in a string (use \\\\, \\', \\\", \\n, \\t, \\r, "
                f"\\0 or \\uXXXX)",
                i + 1,
            )
        if "\ud800" <= char <= "\udfff":
            raise ConditionError(
                f"unexpected {_show_char(char)}: half of a surrogate pair, not a character", i + 1
            )
        parts.append(char)
        i += 1
    tokens.append(Token(STRING, "".join(parts), start + 1, text[start:i]))
    return i


def _hex4(text: str, at: int) -> int | None:
    digits = text[at : at + 4]
    if len(digits) == 4 and all(d in _HEX_DIGITS for d in digits):
        return int(digits, 16)
    return None
