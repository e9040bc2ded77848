"""The QBO query language: a tokenizer, a parser and an evaluator over stored records.

Grammar (keywords are case-insensitive)::

    SELECT ( * | COUNT(*) | field [, field]... ) FROM Entity
        [WHERE cond [AND cond]...]
        [ORDER BY | ORDERBY field [ASC|DESC] [, field [ASC|DESC]]...]
        [STARTPOSITION n] [MAXRESULTS n]          -- the last three in any order
    cond := field (= | < | > | <= | >= | !=) literal | field IN (literal, ...) | field LIKE 'text%'
    literal := 'string with \\' escapes' | number | true | false

`OR` is rejected with 4000, as QBO rejects it. An unknown entity is 4001.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .clock import parse_datetime
from .errors import query_invalid, query_parse_error

MAX_RESULTS_LIMIT = 1000
DEFAULT_MAX_RESULTS = 100

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<unterminated>'(?:[^'\\]|\\.)*\\?$)
  | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),*])
  | (?P<ident>[A-Za-z_][\w.]*)
    """,
    re.VERBOSE,
)

KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "in",
    "like",
    "order",
    "orderby",
    "by",
    "asc",
    "desc",
    "startposition",
    "maxresults",
    "count",
    "true",
    "false",
    "not",
    "iterator",
}


@dataclass
class Token:
    kind: str  # string | number | op | punct | ident | kw | eof
    value: object
    text: str
    col: int


@dataclass
class Condition:
    field: str
    op: str  # = < > <= >= != in like
    value: object  # str | float | bool | list


@dataclass
class Query:
    entity: str
    count: bool = False
    fields: list[str] | None = None
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def _unescape(body: str) -> str:
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise query_parse_error(
                f'Lexical error at line 1, column {pos + 1}.  Encountered: "{text[pos]}" after : ""'
            )
        kind = m.lastgroup
        raw = m.group()
        if kind == "unterminated":
            raise query_parse_error(
                f'Lexical error at line 1, column {len(text) + 1}.  Encountered: <EOF> after : "{raw}"'
            )
        if kind != "ws":
            if kind == "string":
                value: object = _unescape(raw[1:-1])
            elif kind == "number":
                value = float(raw)
            elif kind == "ident" and raw.lower() in KEYWORDS:
                kind = "kw"
                value = raw.lower()
            else:
                value = raw
            tokens.append(Token(kind, value, raw, pos + 1))
        pos = m.end()
    tokens.append(Token("eof", None, "<EOF>", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, tok: Token, expecting: str):
        shown = f"<{tok.text.upper()}>" if tok.kind == "kw" else tok.text
        raise query_parse_error(
            f'Encountered " {shown} "{tok.text} "" at line 1, column {tok.col}.\n'
            f"Was expecting one of:\n    {expecting}"
        )

    def expect_kw(self, *words: str) -> str:
        tok = self.next()
        if tok.kind != "kw" or tok.value not in words:
            self.error(tok, " ".join(f'"{w}"' for w in words))
        return tok.value

    def expect_punct(self, ch: str):
        tok = self.next()
        if tok.kind != "punct" or tok.value != ch:
            self.error(tok, f'"{ch}"')

    def ident(self) -> str:
        tok = self.next()
        if tok.kind != "ident":
            self.error(tok, "<IDENTIFIER>")
        return tok.value

    def literal(self) -> object:
        tok = self.next()
        if tok.kind in ("string", "number"):
            return tok.value
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return tok.value == "true"
        self.error(tok, '<STRING> <NUMBER> "true" "false"')
        return None  # unreachable

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or float(tok.value) != int(tok.value):
            self.error(tok, "<INTEGER>")
        return int(tok.value)

    def parse(self) -> Query:
        self.expect_kw("select")
        count = False
        fields: list[str] | None = None
        tok = self.peek()
        if tok.kind == "punct" and tok.value == "*":
            self.next()
        elif tok.kind == "kw" and tok.value == "count":
            self.next()
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            count = True
        else:
            fields = [self.ident()]
            while self.peek().kind == "punct" and self.peek().value == ",":
                self.next()
                fields.append(self.ident())
        self.expect_kw("from")
        entity = self.ident()
        q = Query(entity=entity, count=count, fields=fields)
        if self.peek().kind == "kw" and self.peek().value == "where":
            self.next()
            q.where.append(self.condition())
            while self.peek().kind == "kw" and self.peek().value in ("and", "or"):
                tok = self.next()
                if tok.value == "or":
                    self.error(tok, '<EOF> "and" "iterator" "maxresults" "order" "orderby" "startposition"')
                q.where.append(self.condition())
        seen: set[str] = set()
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                break
            if (
                tok.kind != "kw"
                or tok.value not in ("order", "orderby", "startposition", "maxresults")
                or (tok.value in seen or (tok.value in ("order", "orderby") and "order" in seen))
            ):
                self.error(tok, '<EOF> "and" "iterator" "maxresults" "order" "orderby" "startposition"')
            self.next()
            if tok.value in ("order", "orderby"):
                seen.add("order")
                if tok.value == "order":
                    self.expect_kw("by")
                q.order.append(self.order_item())
                while self.peek().kind == "punct" and self.peek().value == ",":
                    self.next()
                    q.order.append(self.order_item())
            elif tok.value == "startposition":
                seen.add("startposition")
                q.start = max(1, self.integer())
            else:
                seen.add("maxresults")
                q.max_results = max(0, min(MAX_RESULTS_LIMIT, self.integer()))
        return q

    def order_item(self) -> tuple[str, bool]:
        name = self.ident()
        desc = False
        if self.peek().kind == "kw" and self.peek().value in ("asc", "desc"):
            desc = self.next().value == "desc"
        return name, desc

    def condition(self) -> Condition:
        name = self.ident()
        tok = self.next()
        if tok.kind == "op":
            op = "!=" if tok.value == "<>" else tok.value
            return Condition(name, op, self.literal())
        if tok.kind == "kw" and tok.value == "in":
            self.expect_punct("(")
            values = [self.literal()]
            while self.peek().kind == "punct" and self.peek().value == ",":
                self.next()
                values.append(self.literal())
            self.expect_punct(")")
            return Condition(name, "in", values)
        if tok.kind == "kw" and tok.value == "like":
            value = self.literal()
            if not isinstance(value, str):
                raise query_parse_error("LIKE needs a string literal")
            return Condition(name, "like", value)
        self.error(tok, '"=" "<" ">" "<=" ">=" "!=" "in" "like"')
        return None  # unreachable


def parse(text: str) -> Query:
    if not isinstance(text, str) or not text.strip():
        raise query_parse_error('Encountered "<EOF>" at line 1, column 1.\nWas expecting:\n    "select" ...')
    return _Parser(text.strip().rstrip(";")).parse()


# --- evaluation ----------------------------------------------------------------------------------

_MISSING = object()


def get_path(record: dict, path: str) -> object:
    value: object = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return _MISSING
        if part in value:
            value = value[part]
        else:
            lowered = part.lower()
            for key in value:
                if key.lower() == lowered:
                    value = value[key]
                    break
            else:
                return _MISSING
    if isinstance(value, dict) and "value" in value:  # a reference: compare its id
        return value["value"]
    return value


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class Evaluator:
    def __init__(self, case_insensitive: bool = True, tz: timezone | None = None):
        self.case_insensitive = case_insensitive
        self.tz = tz

    def _norm(self, text: str) -> str:
        return text.casefold() if self.case_insensitive else text

    def compare(self, left: object, right: object) -> int | None:
        """-1/0/1, or None when the values cannot be compared."""
        if left is _MISSING or left is None:
            return None
        if isinstance(left, bool) or isinstance(right, bool):
            lb = left if isinstance(left, bool) else str(left).lower() == "true"
            rb = right if isinstance(right, bool) else str(right).lower() == "true"
            return (lb > rb) - (lb < rb)
        ln, rn = _as_number(left), _as_number(right)
        if ln is not None and rn is not None:
            return (ln > rn) - (ln < rn)
        if isinstance(left, str) and isinstance(right, str) and self.tz is not None and "T" in left:
            ld, rd = parse_datetime(left, self.tz), parse_datetime(right, self.tz)
            if isinstance(ld, datetime) and isinstance(rd, datetime):
                return (ld > rd) - (ld < rd)
        if isinstance(left, list | dict):
            return None
        ls, rs = self._norm(str(left)), self._norm(str(right))
        return (ls > rs) - (ls < rs)

    def matches(self, record: dict, cond: Condition) -> bool:
        left = get_path(record, cond.field)
        if cond.op == "in":
            return any(self.compare(left, v) == 0 for v in cond.value)
        if cond.op == "like":
            if not isinstance(left, str):
                return False
            pattern = "".join(".*" if ch == "%" else re.escape(ch) for ch in cond.value)
            flags = re.IGNORECASE if self.case_insensitive else 0
            return re.fullmatch(pattern, left, flags | re.DOTALL) is not None
        c = self.compare(left, cond.value)
        if c is None:
            return False
        return {"=": c == 0, "!=": c != 0, "<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[cond.op]

    def sort_key(self, record: dict, path: str):
        v = get_path(record, path)
        if v is _MISSING or v is None:
            return (0, 0, "")
        n = _as_number(v)
        if n is not None and not isinstance(v, bool):
            return (1, n, "")
        return (2, 0, str(v))  # binary order: the recordings sort "PG&E" before "Pam Seitz"


def validate_fields(q: Query, known: frozenset[str] | None) -> None:
    """4001 for a property the entity does not have (only the first path segment is checked)."""
    if not known:
        return
    lowered = {k.lower() for k in known}
    names = [c.field for c in q.where] + [name for name, _ in q.order]
    for name in names:
        if name.split(".")[0].lower() not in lowered:
            raise query_invalid(f"property '{name}' is not queryable")
