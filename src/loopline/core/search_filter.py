"""MLflow's search filter grammar, tokenized and parsed by recursive descent (no SQL here).

    filter     := clause ( AND clause )*
    clause     := key comparator value | key IN list | key NOT IN list | key IS [NOT] NULL
    key        := [prefix "."] name        prefix: metrics|metric, params|param|parameters,
                                           tags|tag, attributes|attribute|attr|run
    name       := word (dots allowed: tags.mlflow.runName) | `back ticked` | "double quoted"
    comparator := = | != | < | <= | > | >= | LIKE | ILIKE        (keywords in any case)
    value      := number | 'text' | "text"
    list       := "(" text ( "," text )* ")"

Each search (runs, experiments, registered models, model versions, logged models) is a `Spec`
(declared in core/search_specs.py): which key kinds it has, which attributes, and which
comparators each takes. What the grammar or the spec refuses (OR, parentheses, an unknown key,
an operator the key does not take, a value of the wrong type) is an InvalidInput naming the
construct and its position (1-based character).

`loose=True` is the shell's spelling for `loopline runs --filter`: `params.C=1` (an unquoted
word or number compared with text) and `==` are accepted too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from loopline.core.errors import InvalidInput

Kind = Literal["params", "metrics", "tags", "attributes"]
Value = str | float | tuple[str, ...] | None

PREFIXES: dict[str, Kind] = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "parameters": "params",
    "parameter": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
NUMBER_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
TEXT_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIST_OPS = frozenset({"IN", "NOT IN"})
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL"})
_TIMES_MS = (-62_135_596_800_000, 253_402_300_799_000)  # years 1 to 9999, ms since 1970


@dataclass(frozen=True)
class Attribute:
    """One attribute a search filters on: its stored name, its type, its comparators."""

    name: str
    type: Literal["text", "number", "time", "id"] = "text"
    ops: frozenset[str] = TEXT_OPS | LIST_OPS


@dataclass(frozen=True)
class Spec:
    """What one search accepts: comparators per key kind (a kind absent is refused) and its
    attributes by every name a filter may use."""

    what: str
    kinds: Mapping[Kind, frozenset[str]]
    attributes: Mapping[str, Attribute] = field(default_factory=dict)

    def attribute(self, name: str) -> Attribute | None:
        return self.attributes.get(name) or self.attributes.get(name.lower())


@dataclass(frozen=True)
class Clause:
    kind: Kind
    key: str  # an attribute's stored name (Attribute.name), else the param/metric/tag key
    op: str  # upper case: = != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL
    value: Value

    def __str__(self) -> str:
        prefix = "" if self.kind == "attributes" else f"{self.kind}."
        if self.value is None:
            return f"{prefix}{self.key} {self.op}"
        return f"{prefix}{self.key} {self.op} {self.value!r}"


@dataclass(frozen=True)
class Token:
    kind: Literal["word", "quoted", "string", "number", "op", "(", ")", ",", "end"]
    text: str
    pos: int  # 1-based character position in the filter


_TOKEN = re.compile(
    r"""(?P<space>\s+)
    | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<quoted>`[^`]*`)
    | (?P<op>!=|<>|<=|>=|==|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][\w.:/-]*)
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            near = text[pos : pos + 20]
            quote = "an unclosed quote" if text[pos] in "'\"`" else f"unexpected {text[pos]!r}"
            raise InvalidInput(f"filter: {quote} at position {pos + 1} ({near!r})")
        group = match.lastgroup
        if group == "punct":
            tokens.append(Token(match.group(), match.group(), pos + 1))  # type: ignore[arg-type]
        elif group != "space":
            tokens.append(Token(group, match.group(), pos + 1))  # type: ignore[arg-type]
        pos = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _shown(token: Token) -> str:
    """A token as an error message quotes it."""
    if token.kind == "end":
        return "the end"
    return repr(token.text[1:-1]) if token.kind == "string" else repr(token.text)


class _Parser:
    def __init__(self, text: str, spec: Spec, loose: bool, context: str = "filter") -> None:
        self.text = text
        self.context = context
        self.spec = spec
        self.loose = loose
        self.tokens = tokenize(text)
        self.at = 0

    # -- helpers ------------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.peek()
        self.at = min(self.at + 1, len(self.tokens) - 1)
        return token

    def keyword(self, token: Token, *words: str) -> bool:
        return token.kind == "word" and token.text.upper() in words

    def fail(self, token: Token, what: str, hint: str | None = None) -> InvalidInput:
        return InvalidInput(f"{self.spec.what} {self.context}: {what} at position {token.pos}", hint=hint)

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> list[Clause]:
        if self.peek().kind == "end":
            raise InvalidInput(f"{self.spec.what} filter is empty", hint="write e.g. params.C = '1'")
        clauses = [self.clause()]
        while True:
            token = self.peek()
            if token.kind == "end":
                return clauses
            if self.keyword(token, "AND"):
                self.take()
                clauses.append(self.clause())
                continue
            if self.keyword(token, "OR"):
                raise self.fail(
                    token, "OR is not supported", "join clauses with AND; run two searches for OR"
                )
            raise self.fail(token, f"expected AND between clauses, found {token.text!r}")

    def clause(self) -> Clause:
        token = self.peek()
        if token.kind == "(":
            raise self.fail(token, "parentheses grouping is not supported", "join clauses with AND only")
        kind, key, attr = self.key()
        op_token = self.peek()
        op = self.comparator(key if kind == "attributes" else f"{kind}.{key}")
        allowed = self.allowed(kind, attr)
        if op not in allowed:
            shown = f"{kind}.{key}" if kind != "attributes" else key
            raise self.fail(
                op_token,
                f"{op} is not supported for {shown}",
                "use one of " + ", ".join(sorted(allowed)),
            )
        if op in NULL_OPS:
            return Clause(kind, attr.name if attr else key, op, None)
        if op in LIST_OPS:
            return Clause(kind, attr.name if attr else key, op, self.list_value(key))
        return Clause(kind, attr.name if attr else key, op, self.value(kind, key, attr, op))

    def allowed(self, kind: Kind, attr: Attribute | None) -> frozenset[str]:
        if attr is not None:
            return attr.ops
        return self.spec.kinds[kind]

    def key(self) -> tuple[Kind, str, Attribute | None]:
        token = self.take()
        if token.kind == "quoted" or (token.kind == "string" and token.text[0] == '"'):
            kind: Kind = "attributes"
            name = token.text[1:-1]
        elif token.kind == "word" and token.text.upper() not in _KEYWORDS:
            prefix, dot, rest = token.text.partition(".")
            if dot and prefix.lower() in PREFIXES:
                kind = PREFIXES[prefix.lower()]
                if rest:
                    name = rest
                else:  # tags.`quoted key` or tags."quoted key"
                    quoted = self.take()
                    if quoted.kind not in ("quoted", "string"):
                        raise self.fail(quoted, f"expected a key after {token.text!r}")
                    name = quoted.text[1:-1]
            elif dot and "." in token.text and prefix.lower() not in PREFIXES:
                raise self.fail(
                    token,
                    f"unknown key type {prefix!r} in {token.text!r}",
                    "prefix a key with " + self.prefixes(),
                )
            else:
                kind, name = "attributes", token.text
        else:
            shown = token.text or "the end"
            raise self.fail(token, f"expected a key, found {shown!r}", "write e.g. params.C = '1'")
        if not name:
            raise self.fail(token, "empty key")
        if kind not in self.spec.kinds and kind != "attributes":
            raise self.fail(token, f"{kind} keys are not searchable here", f"use {self.prefixes()}")
        if kind == "attributes":
            attr = self.spec.attribute(name)
            if attr is None:
                raise self.fail(
                    token,
                    f"unknown {self.spec.what} attribute {name!r}",
                    "use one of "
                    + ", ".join(sorted(self.spec.attributes))
                    + (f", or prefix a key with {self.prefixes()}" if self.spec.kinds else ""),
                )
            return kind, name, attr
        return kind, name, None

    def prefixes(self) -> str:
        kinds = [*self.spec.kinds, "attributes"] if self.spec.attributes else list(self.spec.kinds)
        return ", ".join(f"{k}." for k in kinds)

    def comparator(self, shown: str) -> str:
        token = self.take()
        if token.kind == "op":
            if token.text == "==" and self.loose:
                return "="
            if token.text in ("==", "<>"):
                raise self.fail(token, f"comparator {token.text!r} is unknown", "use = or !=")
            return token.text
        word = token.text.upper() if token.kind == "word" else ""
        if word in ("LIKE", "ILIKE", "IN"):
            return word
        if word == "NOT" and self.keyword(self.peek(), "IN"):
            self.take()
            return "NOT IN"
        if word == "IS":
            negated = self.keyword(self.peek(), "NOT")
            if negated:
                self.take()
            if not self.keyword(self.peek(), "NULL"):
                raise self.fail(self.peek(), "expected NULL after IS" + (" NOT" if negated else ""))
            self.take()
            return "IS NOT NULL" if negated else "IS NULL"
        raise self.fail(
            token,
            f"{shown} has no comparison: expected a comparator, found {_shown(token)}",
            "use = != < <= > >= LIKE ILIKE IN NOT IN",
        )

    def list_value(self, key: str) -> tuple[str, ...]:
        opening = self.take()
        if opening.kind != "(":
            raise self.fail(opening, f"IN for {key} takes a list like ('a', 'b')")
        items: list[str] = []
        while True:
            token = self.take()
            if token.kind == "string":
                items.append(token.text[1:-1])
            elif token.kind == ")" and not items:
                raise self.fail(token, "an IN list must not be empty")
            else:
                raise self.fail(token, f"an IN list holds quoted strings, found {_shown(token)}")
            token = self.take()
            if token.kind == ")":
                return tuple(items)
            if token.kind != ",":
                raise self.fail(token, f"expected ',' or ')' in the IN list, found {_shown(token)}")

    def value(self, kind: Kind, key: str, attr: Attribute | None, op: str) -> str | float:
        token = self.take()
        numeric = kind == "metrics" or (attr is not None and attr.type in ("number", "time"))
        shown = key if kind == "attributes" else f"{kind}.{key}"
        if numeric:
            if token.kind != "number" and not (self.loose and token.kind == "string"):
                raise self.fail(token, f"{shown} compares with {_shown(token)}, which is not a number")
            raw = token.text if token.kind == "number" else token.text[1:-1]
            try:
                number = float(raw)
            except ValueError:
                raise self.fail(token, f"{shown} compares with {raw!r}, which is not a number") from None
            if math.isnan(number) or math.isinf(number):
                raise self.fail(token, f"{shown} compares with a finite number, not {raw!r}")
            if attr is not None and attr.type == "time" and not _TIMES_MS[0] <= number <= _TIMES_MS[1]:
                raise self.fail(token, f"{raw} is not a time", "times are milliseconds since 1970")
            return number
        if token.kind == "string":
            text = token.text[1:-1]
        elif (self.loose and token.kind in ("word", "number")) or (
            attr is not None and attr.type == "id" and token.kind == "number"
        ):
            text = token.text
        else:
            raise self.fail(
                token,
                f"{shown} compares with a quoted string, not {_shown(token)}",
                f"write e.g. {shown} {op} 'value'",
            )
        if attr is not None and attr.type == "id" and not (text.isdigit() and int(text) < 2**63):
            raise self.fail(token, f"{shown} {text!r} is not a number")
        return text


def parse(text: str, spec: Spec, *, loose: bool = False) -> list[Clause]:
    """The clauses of one filter string, checked against what `spec`'s search supports."""
    return _Parser(text, spec, loose).parse()


def split_order(text: str) -> tuple[str, bool]:
    """`KEY`, `KEY ASC` or `KEY DESC` (any case): the key and whether descending."""
    words = text.strip().rsplit(None, 1)
    if len(words) == 2 and words[1].upper() in ("ASC", "DESC"):
        return words[0].strip(), words[1].upper() == "DESC"
    return text.strip(), False


def order_key(text: str, spec: Spec, orderable: Mapping[str, str]) -> tuple[Kind, str]:
    """The key of an order_by clause (without ASC/DESC): a key of one of `spec`'s kinds
    (`metrics.f1`) or one of the `orderable` attributes (name used -> stored name)."""
    attributes = {k: Attribute(v) for k, v in orderable.items()}
    parser = _Parser(text, Spec(spec.what, spec.kinds, attributes), loose=False, context="order_by")
    kind, key, attr = parser.key()
    if parser.peek().kind != "end":
        raise parser.fail(parser.peek(), f"unexpected {parser.peek().text!r} after the key")
    return kind, attr.name if attr else key
