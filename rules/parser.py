"""Recursive-descent parser for the condition language (SPEC section 5).

    expr  := or
    or    := and ("or" and)*
    and   := not ("and" not)*
    not   := "not" not | cmp
    cmp   := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in" | "contains") sum)?
    sum   := value (("+" | "-") value)*
    value := number | string | true | false | null | "[" value ("," value)* "]" | "[" "]"
           | name ("." name)* | "(" expr ")"

Every failure is a ConditionError naming the column and what was expected there. Input length
and nesting depth are bounded, so no input can exhaust the stack.
"""

from __future__ import annotations

from .errors import ConditionError
from .limits import MAX_DEPTH, MAX_LENGTH
from .nodes import And, Compare, ListLiteral, Literal, Name, Node, Not, Or, Sum, start_position
from .tokens import ARITHMETIC_OPS, EOF, KEYWORD, NAME, NUMBER, OP, PUNCT, STRING, Token, tokenize

_LITERAL_KEYWORDS = {"true": True, "false": False, "null": None}


def parse(text: str) -> Node:
    """Parse condition text into a node tree. Raises ConditionError."""
    if not isinstance(text, str):
        raise ConditionError(f"a condition must be text, not {type(text).__name__}", 1)
    if len(text) > MAX_LENGTH:
        raise ConditionError(
            f"condition is too long ({len(text)} characters; the limit is {MAX_LENGTH})",
            MAX_LENGTH + 1,
        )
    return _Parser(tokenize(text)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    # -- helpers -------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        index = min(self.index + offset, len(self.tokens) - 1)
        return self.tokens[index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != EOF:
            self.index += 1
        return token

    def at(self, kind: str, value: object) -> bool:
        token = self.current
        return token.kind == kind and token.value == value

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(
                f"nesting is deeper than {MAX_DEPTH} levels of '(', '[' and 'not'",
                token.position,
            )

    def leave(self) -> None:
        self.depth -= 1

    @staticmethod
    def expected(what: str, token: Token) -> ConditionError:
        if token.kind == EOF:
            return ConditionError(f"expected {what}", token.position)
        return ConditionError(f"expected {what}, found {token.describe()}", token.position)

    # -- grammar -------------------------------------------------------------------------

    def parse(self) -> Node:
        if self.current.kind == EOF:
            raise ConditionError("expected a condition, found an empty text", 1)
        node = self.parse_or("a condition")
        token = self.current
        if token.kind != EOF:
            raise self.trailing(token)
        return node

    def trailing(self, token: Token) -> ConditionError:
        if token.kind == OP or (token.kind == KEYWORD and token.value in ("in", "contains")):
            return ConditionError(
                f"unexpected {token.describe()}: comparisons cannot be chained; "
                "join them with 'and'",
                token.position,
            )
        if token.kind == KEYWORD and token.value == "not" and self.peek().value == "in":
            return ConditionError(
                "unexpected 'not in': comparisons cannot be chained; join them with 'and'",
                token.position,
            )
        if token.kind == PUNCT and token.value == ")":
            return ConditionError("unexpected ')' without a matching '('", token.position)
        return self.expected("'and', 'or' or the end of the condition", token)

    def parse_or(self, expected: str) -> Node:
        first = self.parse_and(expected)
        if not self.at(KEYWORD, "or"):
            return first
        items = [first]
        while self.at(KEYWORD, "or"):
            self.advance()
            items.append(self.parse_and("a condition after 'or'"))
        return Or(tuple(items), position=start_position(first))

    def parse_and(self, expected: str) -> Node:
        first = self.parse_not(expected)
        if not self.at(KEYWORD, "and"):
            return first
        items = [first]
        while self.at(KEYWORD, "and"):
            self.advance()
            items.append(self.parse_not("a condition after 'and'"))
        return And(tuple(items), position=start_position(first))

    def parse_not(self, expected: str) -> Node:
        token = self.current
        if token.kind == KEYWORD and token.value == "not":
            self.advance()
            self.enter(token)
            operand = self.parse_not("a condition after 'not'")
            self.leave()
            return Not(operand, position=token.position)
        return self.parse_cmp(expected)

    def parse_cmp(self, expected: str) -> Node:
        left = self.parse_sum(expected)
        token = self.current
        if (token.kind == OP and token.value not in ARITHMETIC_OPS) or (
            token.kind == KEYWORD and token.value in ("in", "contains")
        ):
            op = str(token.value)
        elif token.kind == KEYWORD and token.value == "not":
            following = self.peek()
            if not (following.kind == KEYWORD and following.value == "in"):
                raise self.expected("'in' after 'not'", following)
            op = "not in"
            self.advance()
        else:
            return left
        self.advance()
        right = self.parse_sum(f"a value after '{op}'")
        return Compare(op, left, right, position=token.position)

    def parse_sum(self, expected: str) -> Node:
        first = self.parse_value(expected)
        if not self.at_arithmetic():
            return first
        items, ops = [first], []
        while self.at_arithmetic():
            op = str(self.advance().value)
            ops.append(op)
            items.append(self.parse_value(f"a value after '{op}'"))
        return Sum(tuple(items), tuple(ops), position=start_position(first))

    def at_arithmetic(self) -> bool:
        token = self.current
        return token.kind == OP and token.value in ARITHMETIC_OPS

    def parse_value(self, expected: str) -> Node:
        token = self.current
        kind = token.kind
        if kind in (NUMBER, STRING):
            self.advance()
            return Literal(token.value, position=token.position)  # type: ignore[arg-type]
        if kind == KEYWORD and token.value in _LITERAL_KEYWORDS:
            self.advance()
            return Literal(_LITERAL_KEYWORDS[str(token.value)], position=token.position)
        if kind == NAME:
            return self.parse_name()
        if kind == PUNCT and token.value == "(":
            self.advance()
            self.enter(token)
            inner = self.parse_or(f"a condition after '(' at column {token.position}")
            self.leave()
            if not self.at(PUNCT, ")"):
                raise self.expected(
                    f"')' to close '(' opened at column {token.position}", self.current
                )
            self.advance()
            return inner
        if kind == PUNCT and token.value == "[":
            return self.parse_list()
        raise self.expected(expected, token)

    def parse_name(self) -> Name:
        first = self.advance()
        parts = [str(first.value)]
        while self.at(PUNCT, "."):
            dot = self.advance()
            token = self.current
            # Reserved words are fine as attributes: customer.in, params.not
            if token.kind in (NAME, KEYWORD):
                parts.append(str(token.value))
                self.advance()
            else:
                raise self.expected(f"an attribute name after '.' at column {dot.position}", token)
        return Name(tuple(parts), position=first.position)

    def parse_list(self) -> ListLiteral:
        opening = self.advance()
        self.enter(opening)
        items: list[Node] = []
        if self.at(PUNCT, "]"):
            self.advance()
            self.leave()
            return ListLiteral((), position=opening.position)
        while True:
            where = "after ','" if items else f"in the list opened at column {opening.position}"
            items.append(self.parse_value(f"a value {where}"))
            if self.at(PUNCT, ","):
                self.advance()
                continue
            if self.at(PUNCT, "]"):
                self.advance()
                break
            raise self.expected(
                f"',' or ']' to close the list opened at column {opening.position}",
                self.current,
            )
        self.leave()
        return ListLiteral(tuple(items), position=opening.position)
