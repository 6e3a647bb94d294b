"""The search filter language, parsed without ``eval`` into a small tree.

Grammar (keywords are case-insensitive)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := primary ("and" primary)*
    primary    := "(" or_expr ")" | comparison
    comparison := field op value | field ["not"] "in" "(" value ("," value)* ")" | field "is" ["not"] "null"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | ["not"] "like" | ["not"] "ilike"
    field      := ("metrics" | "params" | "tags" | "attributes") "." key
    key        := name characters (letters, digits, _ - . / :) | a `back-quoted` or "double-quoted" name
    value      := number | 'single-quoted string' | "double-quoted string"

Errors are :class:`FilterSyntaxError` with the offset of the offending token, which the message points at.

A filter may nest parentheses at most :data:`MAX_DEPTH` deep and hold at most :data:`MAX_CONDITIONS`
comparisons. Without the first, a filter of a few thousand ``(`` exhausts Python's recursion here; without
the second, a few thousand conditions joined by ``and`` exceed the database's expression depth and come
back as a store error. Both limits sit far above any filter a person writes, and every caller (the UI, the
CLI, ``search_runs``) gets the same precise error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FilterSyntaxError

KINDS = {"metrics": "metrics", "metric": "metrics", "params": "params", "param": "params", "tags": "tags",
         "tag": "tags", "attributes": "attributes", "attribute": "attributes", "attr": "attributes",
         "run": "attributes"}
ATTRIBUTES = {
    "status": "status", "name": "name", "run_name": "name", "run_id": "run_id", "id": "run_id",
    "start_time": "start_time", "end_time": "end_time", "duration": "duration", "experiment": "experiment",
    "parent_run_id": "parent_run_id", "git_commit": "git_commit", "git_branch": "git_branch", "user": "user",
    "user_id": "user",  # MLflow's name for it
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "duration"}
_TEXT_OPS = {"like", "ilike", "not like", "not ilike"}
MAX_DEPTH = 50  # parentheses inside parentheses
MAX_CONDITIONS = 200  # comparisons in one filter

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<backquoted>`[^`]*`)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),.])
  | (?P<word>[A-Za-z0-9_\-/:]+)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Field:
    kind: str  # metrics | params | tags | attributes
    key: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.key}"


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # = != < <= > >= like ilike "not like" "not ilike" in "not in" "is null" "is not null"
    value: str | float | tuple[str | float, ...] | None


@dataclass(frozen=True)
class Logical:
    op: str  # and | or
    items: tuple[Node, ...]


Node = Comparison | Logical


def parse_filter(text: str) -> Node | None:
    """Parse a filter; an empty or blank filter means "every run" and gives ``None``."""
    parser = _Parser(text)
    if parser.at_end():
        return None
    node = parser.or_expr()
    if not parser.at_end():
        token = parser.peek()
        raise parser.error(f"Unexpected {token.text!r}; join conditions with 'and' or 'or'.", token)
    return node


def parse_order_by(text: str) -> tuple[Field, bool]:
    """Parse ``"metrics.auc DESC"``; returns the field and whether the order is descending."""
    parser = _Parser(text, "order")
    if parser.at_end():
        raise parser.error("An order needs a field such as 'metrics.auc DESC'.", None)
    field = parser.field()
    descending = False
    if not parser.at_end():
        token = parser.next()
        if token.kind != "word" or token.text.lower() not in ("asc", "desc"):
            raise parser.error(f"Expected ASC or DESC after {field}, found {token.text!r}.", token)
        descending = token.text.lower() == "desc"
    if not parser.at_end():
        raise parser.error(f"Unexpected {parser.peek().text!r} after the order direction.", parser.peek())
    return field, descending


class _Parser:
    def __init__(self, text: str, what: str = "filter") -> None:
        self.text = text
        self.what = what
        self.tokens = _tokenize(text, what)
        self.index = 0
        self.depth = 0  # parentheses open at the current token
        self.conditions = 0

    def at_end(self) -> bool:
        return self.index >= len(self.tokens)

    def peek(self) -> Token:
        return self.tokens[self.index]

    def next(self) -> Token:
        if self.at_end():
            raise self.error("The filter ends too early.", None)
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, message: str, token: Token | None) -> FilterSyntaxError:
        position = token.position if token is not None else len(self.text)
        return FilterSyntaxError(f"Invalid {self.what} at position {position}: {message}", text=self.text,
                                 position=position)

    def keyword(self, *words: str) -> bool:
        if self.at_end():
            return False
        token = self.peek()
        if token.kind == "word" and token.text.lower() in words:
            self.index += 1
            return True
        return False

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.keyword("or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Logical("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.primary()]
        while self.keyword("and"):
            items.append(self.primary())
        return items[0] if len(items) == 1 else Logical("and", tuple(items))

    def primary(self) -> Node:
        if not self.at_end() and self.peek().text == "(":
            opening = self.next()
            if self.depth >= MAX_DEPTH:
                raise self.error(f"Parentheses nest more than {MAX_DEPTH} deep, the limit of a filter; "
                                 "remove the extra ones.", opening)
            self.depth += 1
            node = self.or_expr()
            if self.at_end() or self.peek().text != ")":
                raise self.error("This parenthesis is never closed.", opening)
            self.next()
            self.depth -= 1
            return node
        return self.comparison()

    def field(self) -> Field:
        token = self.next()
        if token.kind != "word":
            raise self.error(f"Expected a field such as metrics.auc or params.alpha, found {token.text!r}.", token)
        kind = KINDS.get(token.text.lower())
        if kind is None:
            raise self.error(
                f"Unknown field {token.text!r}; fields start with metrics., params., tags. or attributes.", token
            )
        dot = self.next()
        if dot.text != ".":
            raise self.error(f"Expected '.' and a name after {token.text!r}.", dot)
        key_token = self.next()
        key = _unquote(key_token) if key_token.kind in ("backquoted", "string") else key_token.text
        if key_token.kind == "word":  # names may contain dots: metrics.val.loss
            while not self.at_end() and self.peek().text == "." and self._is_name_part(self.index + 1):
                self.next()
                key += "." + self.next().text
        elif key_token.kind not in ("backquoted", "string"):
            raise self.error(f"Expected a name after '{token.text}.', found {key_token.text!r}.", key_token)
        if kind == "attributes":
            if key.lower() not in ATTRIBUTES:
                raise self.error(
                    f"Unknown attribute {key!r}; use one of {', '.join(sorted(set(ATTRIBUTES.values())))}.",
                    key_token,
                )
            key = ATTRIBUTES[key.lower()]
        return Field(kind, key)

    def _is_name_part(self, index: int) -> bool:
        return index < len(self.tokens) and self.tokens[index].kind == "word"

    def comparison(self) -> Comparison:
        start = self.peek() if not self.at_end() else None
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(f"A filter holds at most {MAX_CONDITIONS} conditions; this is condition "
                             f"{self.conditions}. Use IN (...) for a list of values.", start)
        field = self.field()
        if self.keyword("is"):
            negated = self.keyword("not")
            if not self.keyword("null"):
                raise self.error("Expected NULL after IS.", self.peek() if not self.at_end() else None)
            return Comparison(field, "is not null" if negated else "is null", None)
        negated = self.keyword("not")
        if self.keyword("in"):
            return Comparison(field, "not in" if negated else "in", self.value_list(field))
        if self.keyword("like", "ilike"):
            op = self.tokens[self.index - 1].text.lower()
            op = f"not {op}" if negated else op
            value = self.value(field)
            if not isinstance(value, str):
                raise self.error(f"{op.upper()} needs a quoted pattern such as '%l2%'.", self.tokens[self.index - 1])
            return self._checked(Comparison(field, op, value), start)
        if negated:
            raise self.error("Expected LIKE, ILIKE or IN after NOT.", self.peek() if not self.at_end() else None)
        op_token = self.next()
        if op_token.kind != "op":
            raise self.error(
                f"Expected an operator (= != < <= > >= LIKE IN) after {field}, found {op_token.text!r}.", op_token
            )
        op = {"==": "=", "<>": "!="}.get(op_token.text, op_token.text)
        return self._checked(Comparison(field, op, self.value(field)), start)

    def value(self, field: Field) -> str | float:
        token = self.next()
        if token.kind == "number":
            return float(token.text)
        if token.kind == "string":
            return _unquote(token)
        raise self.error(
            f"Expected a number or a quoted string to compare {field} with, found {token.text!r}"
            + (" (quote strings: 'text')." if token.kind == "word" else "."),
            token,
        )

    def value_list(self, field: Field) -> tuple[str | float, ...]:
        opening = self.next()
        if opening.text != "(":
            raise self.error("Expected '(' and a list of values after IN.", opening)
        values = [self.value(field)]
        while not self.at_end() and self.peek().text == ",":
            self.next()
            values.append(self.value(field))
        closing = self.next()
        if closing.text != ")":
            raise self.error("Expected ',' or ')' in the IN list.", closing)
        return tuple(values)

    def _checked(self, comparison: Comparison, start: Token | None) -> Comparison:
        numeric_field = comparison.field.kind == "metrics" or (
            comparison.field.kind == "attributes" and comparison.field.key in NUMERIC_ATTRIBUTES)
        if comparison.op in _TEXT_OPS and numeric_field:
            raise self.error(f"{comparison.field} is a number; LIKE works on params, tags and text attributes.", start)
        if comparison.field.kind == "metrics" and isinstance(comparison.value, str):
            raise self.error(f"{comparison.field} is a number; compare it with a number, not a string.", start)
        return comparison


def _tokenize(text: str, what: str = "filter") -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            char = text[position]
            message = (
                "This string is never closed." if char in "'\"`" else f"Unexpected character {char!r}."
            )
            raise FilterSyntaxError(f"Invalid {what} at position {position}: {message}", text=text,
                                    position=position)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    return tokens


def _unquote(token: Token) -> str:
    quote, body = token.text[0], token.text[1:-1]
    if quote == "`":
        return body
    return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))
