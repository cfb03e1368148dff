"""The SQL tool: validate a model's query with sqlglot, then run it read-only.

:class:`SqlDatabase` wraps one SQLite file (opened read-only) or one PostgreSQL database
(every query in a read-only transaction with a statement timeout). :meth:`SqlDatabase.validate`
rejects anything but a single SELECT over known tables and columns, with short, precise
messages that a small model can use to repair its query; :meth:`SqlDatabase.execute` runs
validated SQL with a row limit and a timeout and returns JSON-friendly rows.
"""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import math
import re
import sqlite3
import threading
import time
import unicodedata
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.tokens import Token, TokenType

from tools.sql_policy import check_node
from tools.sql_roles import privilege_problems, refusal_message

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)


class _CommandFallbackFilter(logging.Filter):
    """Drop sqlglot's warning about statements it keeps as opaque commands.

    :meth:`SqlDatabase.validate` rejects every such statement with its own message, so the
    warning would only repeat, in the log, each hostile or malformed input it refused.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_CommandFallbackFilter())

__all__ = [
    "Column",
    "QueryResult",
    "SqlConnectionError",
    "SqlDatabase",
    "SqlExecutionError",
    "SqlToolError",
    "SqlValidationError",
    "MAX_PAREN_DEPTH",
    "MAX_QUERY_CHARS",
    "MAX_RESULT_BYTES",
    "MAX_ROW_BYTES",
    "MAX_SUBQUERY_DEPTH",
    "MAX_VALUE_BYTES",
    "clean_sql",
]

MAX_QUERY_CHARS = 8000
"""Longest query accepted, in characters (a model writes a few hundred)."""

MAX_PAREN_DEPTH = 24
"""Deepest nesting of parentheses accepted (checked before parsing)."""

MAX_SUBQUERY_DEPTH = 5
"""Deepest nesting of SELECTs inside SELECTs accepted."""

MAX_VALUE_BYTES = 16 * 1024
"""Largest value kept in a result, in bytes of its text; a larger one is left out, and a
marker in its place says how large it was."""

MAX_ROW_BYTES = 64 * 1024
"""Largest result row, in bytes of its values' text; a larger row fails the query."""

MAX_RESULT_BYTES = 4 * 1024 * 1024
"""Most bytes of values one result keeps; past it the rows stop and the result says it was
truncated, however large the LIMIT."""

SQLITE_MAX_LENGTH = 1024 * 1024
"""SQLite's own bound (``SQLITE_LIMIT_LENGTH``) on any string or blob a query builds, so that
one function call cannot build a huge value before the timeout can stop it."""

_FETCH_BATCH = 64


@dataclass(frozen=True)
class Column:
    """One column of a table, as read from the live database."""

    name: str
    type: str


@dataclass(frozen=True)
class QueryResult:
    """What a query returned.

    Attributes:
        sql: The SQL actually executed (after transpiling and after adding a LIMIT).
        columns: Output column names.
        rows: Rows of JSON-friendly values (Decimal -> int or float, dates -> ISO strings).
        truncated: True when the query had more rows than the row limit.
        elapsed_s: Wall-clock seconds spent executing and fetching.
    """

    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_s: float


class SqlToolError(Exception):
    """Base class of the SQL tool's errors; ``message`` is short text meant for the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SqlValidationError(SqlToolError):
    """The query was rejected before it reached the database."""


class SqlExecutionError(SqlToolError):
    """The database refused or failed the query (including timeouts and write attempts)."""


class SqlConnectionError(SqlToolError):
    """The database could not be opened or its schema could not be read."""


# --------------------------------------------------------------------------------------------
# Helpers shared by validation and execution
# --------------------------------------------------------------------------------------------

_FENCE_TAG = r"(?:(?:sqlite3|sqlite|postgresql|postgres|pgsql|psql|sql)(?=\s))?"
_FENCED_RE = re.compile(
    rf"```[ \t]*{_FENCE_TAG}[ \t]*\n?(?P<body>.*?)```", re.DOTALL | re.IGNORECASE
)
_OPEN_FENCE_RE = re.compile(rf"^```[ \t]*{_FENCE_TAG}[ \t]*\n?", re.IGNORECASE)
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")

_DIALECT_ALIASES = {
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "postgres": "postgres",
    "postgresql": "postgres",
    "pg": "postgres",
}

_ALLOWED_ROOTS: tuple[type[exp.Expr], ...] = (exp.Select, exp.SetOperation)

# Nodes that write, change the session or the schema, or reach outside the database.
_FORBIDDEN_NODES: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Insert, "INSERT"),
    (exp.Update, "UPDATE"),
    (exp.Delete, "DELETE"),
    (exp.Merge, "MERGE"),
    (exp.Create, "CREATE"),
    (exp.Drop, "DROP"),
    (exp.Alter, "ALTER"),
    (exp.TruncateTable, "TRUNCATE"),
    (exp.Copy, "COPY"),
    (exp.Pragma, "PRAGMA"),
    (exp.Attach, "ATTACH"),
    (exp.Detach, "DETACH"),
    (exp.Set, "SET"),
    (exp.Use, "USE"),
    (exp.Transaction, "BEGIN"),
    (exp.Commit, "COMMIT"),
    (exp.Rollback, "ROLLBACK"),
    (exp.Grant, "GRANT"),
    (exp.Revoke, "REVOKE"),
    (exp.LoadData, "LOAD DATA"),
    (exp.Analyze, "ANALYZE"),
    (exp.Cache, "CACHE"),
    (exp.Uncache, "UNCACHE"),
    (exp.Refresh, "REFRESH"),
    (exp.Kill, "KILL"),
    (exp.Comment, "COMMENT"),
    (exp.Declare, "DECLARE"),
    (exp.Execute, "EXECUTE"),
    (exp.Command, "command"),
)

# Functions of other dialects that a model trained on them writes, with the way to say it here.
_FOREIGN_FUNCTIONS: dict[str, dict[str, str]] = {
    "sqlite": {
        "dateadd": "use date(column, '+N days')",
        "datediff": "use julianday(a) - julianday(b)",
        "date_trunc": "use strftime('%Y-%m', column)",
        "getdate": "use date('now')",
        "now": "use datetime('now')",
        "len": "use length(...)",
        "charindex": "use instr(text, part)",
        "isnull": "use coalesce(...)",
        "nvl": "use coalesce(...)",
        "to_char": "use strftime(format, column)",
        "year": "use strftime('%Y', column)",
        "month": "use strftime('%m', column)",
    },
    "postgres": {
        "dateadd": "use column + INTERVAL 'N days'",
        "datediff": "subtract the dates: a - b",
        "getdate": "use CURRENT_DATE or now()",
        "len": "use length(...)",
        "charindex": "use strpos(text, part)",
        "isnull": "use coalesce(...)",
        "nvl": "use coalesce(...)",
        "ifnull": "use coalesce(...)",
        "strftime": "use to_char(column, format)",
        "julianday": "subtract the dates: a - b",
        "year": "use EXTRACT(YEAR FROM column)",
        "month": "use EXTRACT(MONTH FROM column)",
    },
}

# A comment that contains a statement: text a reader (or another tool) might run.
_HIDDEN_STATEMENT_RE = re.compile(
    r";|\b(?:insert\s+into|update\s+\w+\s+set|delete\s+from|drop\s+(?:table|view|index|schema"
    r"|database|trigger|function)|alter\s+(?:table|database|system)|create\s+(?:table|view|index"
    r"|temp|temporary|trigger|function|extension|role|user)|truncate|attach|detach|pragma|vacuum"
    r"|copy\s+\w+\s+(?:from|to)|grant|revoke|merge\s+into|commit|rollback|load_extension"
    r"|pg_sleep|lo_import|lo_export|dblink)\b",
    re.IGNORECASE,
)

# Greek letters by the Latin letter they look like (capital forms).
_GREEK_LOOKALIKES = {
    "ALPHA": "A",
    "BETA": "B",
    "EPSILON": "E",
    "ZETA": "Z",
    "ETA": "H",
    "IOTA": "I",
    "KAPPA": "K",
    "MU": "M",
    "NU": "N",
    "OMICRON": "O",
    "RHO": "P",
    "TAU": "T",
    "UPSILON": "Y",
    "CHI": "X",
}

# Scripts whose letters look like Latin ones (homoglyphs).
_LOOKALIKE_SCRIPTS = ("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")

_CLAUSE_NAMES = {
    "Where": "WHERE",
    "Having": "HAVING",
    "Group": "GROUP BY",
    "Order": "ORDER BY",
    "Join": "JOIN",
    "From": "FROM",
    "Limit": "LIMIT",
    "Offset": "OFFSET",
}


def clean_sql(sql: str) -> str:
    """Strip markdown fences, surrounding whitespace and trailing semicolons from ``sql``.

    Args:
        sql: Raw text, possibly a model's answer with a fenced code block.

    Returns:
        The bare SQL text (possibly empty).
    """
    text = sql.strip()
    fenced = _FENCED_RE.search(text)
    if fenced:
        text = fenced.group("body")
    else:
        text = _OPEN_FENCE_RE.sub("", text, count=1)
        if text.rstrip().endswith("```"):
            text = text.rstrip()[:-3]
    text = text.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _normalize_dialect(name: str) -> str:
    key = name.strip().lower()
    dialect = _DIALECT_ALIASES.get(key, key)
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError as err:
        raise ValueError(f"unknown SQL dialect {name!r}") from err
    return dialect


def _suggest(word: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate nearest to ``word`` (case-insensitive), or None."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    target = word.lower()
    if not by_lower or not target:
        return None
    if target in by_lower:
        return by_lower[target]
    close = difflib.get_close_matches(target, list(by_lower), n=1, cutoff=0.6)
    if close:
        return by_lower[close[0]]
    # `customer_name` -> `name`: a word of the unknown name that is itself a candidate.
    for part in reversed([p for p in re.split(r"[_\W]+", target) if p]):
        if part in by_lower:
            return by_lower[part]
    # `date` -> `order_date`: one name contains the other.
    for lower, original in by_lower.items():
        if len(lower) >= 3 and len(target) >= 3 and (lower in target or target in lower):
            return original
    # `qty` -> `quantity`: an abbreviation (same first letter, letters in order).
    abbreviations = [
        original
        for lower, original in by_lower.items()
        if lower[0] == target[0] and _is_subsequence(target, lower)
    ]
    if abbreviations:
        return min(abbreviations, key=len)
    return None


def _is_subsequence(short: str, long: str) -> bool:
    letters = iter(long)
    return all(char in letters for char in short)


def _did_you_mean(suggestion: str | None) -> str:
    return f"; did you mean `{suggestion}`?" if suggestion else ""


def _json_value(value: Any) -> Any:
    """Convert one database value to something :func:`json.dumps` accepts."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return str(value)


def _parse_error_message(err: ParseError) -> str:
    if not err.errors:
        return f"syntax error: {_ANSI_RE.sub('', str(err)).splitlines()[0]}"
    first = err.errors[0]
    description = str(first.get("description") or "invalid syntax")
    missing = re.match(r"Required keyword: '\w+' missing for <class '[\w.]*\.(\w+)'>", description)
    if missing:
        clause = _CLAUSE_NAMES.get(missing.group(1))
        description = f"incomplete {clause} clause" if clause else "incomplete expression"
    elif description.startswith("Invalid expression / Unexpected token"):
        description = "unexpected token"
    near = str(first.get("highlight") or "").strip()
    line, col = first.get("line"), first.get("col")
    where = f" at line {line}, column {col}" if line and col else ""
    near_text = f" near `{near}`" if near else ""
    return f"syntax error{where}{near_text}: {description}"


def _optimize_error_message(err: OptimizeError) -> str:
    text = _ANSI_RE.sub("", str(err)).strip()
    unresolved = re.match(
        r"Column '(.+?)' could not be resolved\.?(?: Line: (\d+), Col: (\d+))?", text
    )
    if unresolved:
        where = (
            f" (line {unresolved.group(2)}, column {unresolved.group(3)})"
            if unresolved.group(2)
            else ""
        )
        return f"column `{unresolved.group(1)}` could not be resolved{where}"
    unknown = re.match(r"Unknown column: (.+)", text)
    if unknown:
        return f"unknown column `{unknown.group(1)}`"
    return f"invalid query: {text.splitlines()[0] if text else 'could not resolve the names'}"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------------------------
# Checks on the raw text and its tokens (before parsing)
# --------------------------------------------------------------------------------------------


def _char_label(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {col}"


def _check_size(text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise SqlValidationError(
            f"query too long: {len(text)} characters, the limit is {max_chars}; "
            "write one short SELECT"
        )


def _check_invisible_characters(text: str) -> None:
    """Reject control, format (zero-width, bidi) and unusual space characters anywhere."""
    for index, char in enumerate(text):
        if char in "\t\n\r" or " " <= char <= "~":
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp") or (
            category == "Zs" and char != " "
        ):
            raise SqlValidationError(
                f"invisible or control character {_char_label(char)} at "
                f"{_position(text, index)}; remove it"
            )


def _ascii_skeleton(word: str) -> str:
    """What ``word`` looks like in ASCII: NFKC folding, then accents and look-alikes dropped."""
    folded = unicodedata.normalize("NFKC", word)
    out: list[str] = []
    for char in folded:
        if char.isascii():
            out.append(char)
            continue
        name = unicodedata.name(char, "")
        last = name.rsplit(" ", 1)[-1]
        last = _GREEK_LOOKALIKES.get(last, last)
        if " LETTER " in f" {name} " and len(last) == 1 and last.isascii():
            out.append(last if "CAPITAL" in name else last.lower())
        else:
            base = unicodedata.normalize("NFKD", char)[:1]
            out.append(base if base.isascii() else "?")
    return "".join(out)


def _lookalike_in_string(value: str) -> str | None:
    """Describe a homoglyph in a string literal: a letter of another script amid Latin ones."""
    if value.isascii():
        return None
    folded = unicodedata.normalize("NFKC", value)
    if folded != value:
        changed = next(c for c in value if unicodedata.normalize("NFKC", c) != c)
        return (
            f"{_char_label(changed)} is a look-alike of `{unicodedata.normalize('NFKC', changed)}`"
        )
    for word in re.findall(r"\w+", value):
        scripts = {unicodedata.name(c, "?").split(" ")[0] for c in word if c.isalpha()}
        foreign = [s for s in scripts if s in _LOOKALIKE_SCRIPTS]
        if foreign and "LATIN" in scripts:
            char = next(
                c for c in word if c.isalpha() and unicodedata.name(c, "").startswith(foreign[0])
            )
            return (
                f"{_char_label(char)} in '{word}' mixes {foreign[0].lower()} and latin letters "
                f"(did you mean '{_ascii_skeleton(word)}'?)"
            )
    return None


def _check_comment(comment: str) -> None:
    stripped = comment.strip()
    if stripped.startswith(("!", "+")):
        raise SqlValidationError(
            "executable or hint comments (/*! ... */, /*+ ... */) are not allowed; remove them"
        )
    hidden = _HIDDEN_STATEMENT_RE.search(comment)
    if hidden:
        raise SqlValidationError(
            f"a comment hides a statement (`{hidden.group(0).strip()}` in "
            f"`{_shorten(stripped)}`); remove the comment"
        )


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_STRING_TOKENS = frozenset({TokenType.STRING, TokenType.NATIONAL_STRING})


def _check_tokens(
    tokens: Sequence[Token], dialect: str, schema_names: set[str], max_paren_depth: int
) -> None:
    """Comments, look-alike characters, nesting depth and other dialects' syntax, per token."""
    depth = 0
    foreign = _FOREIGN_FUNCTIONS.get(dialect, {})
    for index, token in enumerate(tokens):
        for comment in token.comments:
            _check_comment(comment)
        kind = token.token_type
        where = f"line {token.line}, column {token.col}"
        if kind == TokenType.L_PAREN:
            depth += 1
            if depth > max_paren_depth:
                raise SqlValidationError(
                    f"query nested too deeply: more than {max_paren_depth} levels of "
                    f"parentheses at {where}; flatten it with a CTE (WITH ...)"
                )
        elif kind == TokenType.R_PAREN:
            depth -= 1
        elif kind in _STRING_TOKENS:
            problem = _lookalike_in_string(token.text)
            if problem:
                raise SqlValidationError(
                    f"suspicious character in a text value at {where}: {problem}"
                )
        elif not token.text.isascii() and token.text.lower() not in schema_names:
            char = next(c for c in token.text if not c.isascii())
            raise SqlValidationError(
                f"non-ASCII character {_char_label(char)} in `{token.text}` at {where}; "
                f"write plain ASCII (`{_ascii_skeleton(token.text)}`)"
            )
        next_kind = tokens[index + 1].token_type if index + 1 < len(tokens) else None
        if kind not in _STRING_TOKENS and next_kind == TokenType.L_PAREN:
            hint = foreign.get(token.text.lower())
            if hint:
                raise SqlValidationError(
                    f"`{token.text}(...)` at {where} is not {_DIALECT_NAMES[dialect]} SQL; {hint}"
                )
        if kind == TokenType.TOP or (kind == TokenType.VAR and token.text.upper() == "TOP"):
            previous = tokens[index - 1].token_type if index else None
            if previous in (TokenType.SELECT, TokenType.DISTINCT):
                raise SqlValidationError(
                    f"`SELECT TOP n` at {where} is not {_DIALECT_NAMES[dialect]} SQL; "
                    "put LIMIT n at the end of the query"
                )


_DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


# --------------------------------------------------------------------------------------------
# Checks on the parsed query
# --------------------------------------------------------------------------------------------


def _check_subquery_depth(statement: exp.Expr, max_depth: int) -> None:
    deepest = 0
    for select in statement.find_all(exp.Select):
        depth = 0
        node = select.parent
        while node is not None:
            if isinstance(node, exp.Select):
                depth += 1
            node = node.parent
        deepest = max(deepest, depth)
    if deepest > max_depth:
        raise SqlValidationError(
            f"subqueries nested {deepest} deep, the limit is {max_depth}; "
            "use a CTE (WITH ...) or a JOIN instead"
        )


def _single_row(source: Scope) -> bool:
    """Whether a derived table has at most one row (an aggregate without GROUP BY, LIMIT 1)."""
    query = source.expression
    if not isinstance(query, exp.Select):
        return False
    limit = query.args.get("limit")
    if limit is not None:
        value = limit.expression
        if isinstance(value, exp.Literal) and value.is_int and int(value.name) <= 1:
            return True
    if query.args.get("group") is not None:
        return False

    def aggregates(projection: exp.Expr) -> bool:
        # An aggregate of this query itself: not in a window (count(*) OVER () keeps every
        # row) and not in a nested subquery.
        for found in projection.find_all(exp.AggFunc):
            if found.find_ancestor(exp.Window) is None and found.find_ancestor(exp.Select) is query:
                return True
        return False

    if any(projection.find(exp.Window) for projection in query.expressions):
        return False
    return any(aggregates(projection) for projection in query.expressions)


def _own_columns(node: exp.Expr, select: exp.Expr) -> set[str]:
    """Table aliases of the columns in ``node`` that belong to ``select`` (not a subquery)."""
    found = set()
    for column in node.find_all(exp.Column):
        if column.table and column.find_ancestor(exp.Select) is select:
            found.add(column.table)
    return found


def _equi_join(
    condition: exp.Expr, select: exp.Expr, sources: Iterable[str]
) -> tuple[str, str] | None:
    """The two sources an equality conjunct ties (``a.x = b.y``), or None."""
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if not isinstance(condition, exp.EQ | exp.NullSafeEQ):
        return None
    known = set(sources)
    left = _own_columns(condition.left, select) & known
    right = _own_columns(condition.right, select) & known
    if len(left) != 1 or len(right) != 1 or left == right:
        return None
    return next(iter(left)), next(iter(right))


def _conjuncts(condition: exp.Expr | None) -> list[exp.Expr]:
    if condition is None:
        return []
    if isinstance(condition, exp.Where | exp.Having):
        condition = condition.this
    if isinstance(condition, exp.And):
        return list(condition.flatten())
    return [condition]


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ForeignKey:
    table: str
    column: str
    ref_table: str
    ref_column: str


@dataclass
class _Schema:
    tables: dict[str, list[Column]] = field(default_factory=dict)
    primary_keys: dict[str, list[str]] = field(default_factory=dict)
    foreign_keys: list[_ForeignKey] = field(default_factory=list)


@dataclass(frozen=True)
class _Source:
    """A FROM-clause source in one scope, as seen by the diagnostics."""

    alias: str
    label: str  # how messages name it, e.g. "`customers` (alias `c`)"
    table: str | None  # base table name when the source is a table
    columns: list[str] | None  # None when unknown (e.g. a subquery selecting `*`)


# --------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------


class _Backend(ABC):
    dialect: str

    @abstractmethod
    def read_schema(self) -> _Schema:
        """Read tables, columns and keys from the live database."""

    @abstractmethod
    def run(self, sql: str, max_rows: int, timeout_s: float) -> tuple[list[str], list[Any], bool]:
        """Execute ``sql`` read-only, within the byte caps.

        Returns:
            Column names, at most ``max_rows`` rows (each value over ``MAX_VALUE_BYTES``
            replaced by a marker), and whether the rows stopped at ``MAX_RESULT_BYTES``.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""


def _value_bytes(value: Any) -> int:
    """Size of one value as the result will hold it (its text, for anything but bytes)."""
    if value is None:
        return 4
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    return len(str(value))


def _left_out(size: int) -> str:
    return f"[value left out: {size} bytes, over the {MAX_VALUE_BYTES}-byte cap]"


class _CappedRows:
    """Rows gathered within the value, row and result byte caps."""

    def __init__(self, max_rows: int) -> None:
        self.rows: list[list[Any]] = []
        self.cut_short = False
        self._max_rows = max_rows
        self._bytes = 0

    def wants_more(self) -> bool:
        return not self.cut_short and len(self.rows) < self._max_rows

    def add(self, batch: Iterable[Sequence[Any]], oversized: Iterable[dict[int, int]] = ()) -> None:
        """Add fetched rows; ``oversized`` gives, per row, values the server already left out."""
        extra = iter(oversized)
        for raw in batch:
            if not self.wants_more():
                return
            cut = next(extra, {})
            row = []
            for index, value in enumerate(raw):
                size = cut[index] if index in cut else _value_bytes(value)
                row.append(_left_out(size) if size > MAX_VALUE_BYTES else value)
            row_bytes = sum(_value_bytes(value) for value in row)
            if row_bytes > MAX_ROW_BYTES:
                raise SqlExecutionError(
                    f"a result row holds {row_bytes} bytes, over the {MAX_ROW_BYTES}-byte cap; "
                    "select fewer or shorter columns"
                )
            if self._bytes + row_bytes > MAX_RESULT_BYTES:
                self.cut_short = True
                return
            self._bytes += row_bytes
            self.rows.append(row)


_SQLITE_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


def _sqlite_authorizer(
    action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None
) -> int:
    """Let SQLite compile reads only: no writes, PRAGMA, ATTACH or transactions."""
    if action in _SQLITE_ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and source is None:
        # Declaring an eponymous virtual table (json_each, json_tree) is authorized as an
        # UPDATE of sqlite_master; a real one would still fail (mode=ro, query_only).
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class _SqliteBackend(_Backend):
    """SQLite opened with ``mode=ro``, ``query_only`` and an authorizer that allows reads only."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            self._conn = sqlite3.connect(
                uri, uri=True, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA query_only = ON")
            self._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_LENGTH)
            self._conn.set_authorizer(_sqlite_authorizer)
        except sqlite3.Error as err:
            raise SqlConnectionError(f"cannot open SQLite database {str(path)!r}: {err}") from err
        self._lock = threading.Lock()
        self._closed = False

    def read_schema(self) -> _Schema:
        schema = _Schema()
        with self._lock:
            self._conn.set_authorizer(None)  # the schema PRAGMAs below need it off
            try:
                self._read_schema_into(schema)
            finally:
                self._conn.set_authorizer(_sqlite_authorizer)
        return schema

    def _read_schema_into(self, schema: _Schema) -> None:
        names = [
            row[0]
            for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        for name in names:
            info = self._conn.execute(f"PRAGMA table_info({_quote_ident(name)})").fetchall()
            # table_info rows: cid, name, type, notnull, dflt_value, pk
            schema.tables[name] = [Column(str(r[1]), str(r[2] or "").upper()) for r in info]
            pk = sorted((int(r[5]), str(r[1])) for r in info if r[5])
            if pk:
                schema.primary_keys[name] = [column for _, column in pk]
            fks = self._conn.execute(f"PRAGMA foreign_key_list({_quote_ident(name)})").fetchall()
            # foreign_key_list rows: id, seq, table, from, to, on_update, on_delete, match
            for r in fks:
                ref_column = r[4]
                if ref_column is None:
                    ref_pk = schema.primary_keys.get(str(r[2])) or ["id"]
                    ref_column = ref_pk[0]
                schema.foreign_keys.append(_ForeignKey(name, str(r[3]), str(r[2]), ref_column))

    def run(self, sql: str, max_rows: int, timeout_s: float) -> tuple[list[str], list[Any], bool]:
        deadline = time.monotonic() + timeout_s
        timed_out = False

        def progress() -> int:
            nonlocal timed_out
            if time.monotonic() > deadline:
                timed_out = True
                return 1  # non-zero aborts the statement with "interrupted"
            return 0

        with self._lock:
            if self._closed:
                raise SqlExecutionError("the database connection is closed")
            self._conn.set_progress_handler(progress, 1000)
            try:
                cursor = self._conn.execute(sql)
                try:
                    if cursor.description is None:
                        return [], [], False
                    columns = [str(d[0]) for d in cursor.description]
                    capped = _CappedRows(max_rows)
                    while capped.wants_more():
                        batch = cursor.fetchmany(_FETCH_BATCH)
                        if not batch:
                            break
                        capped.add(batch)
                    return columns, capped.rows, capped.cut_short
                finally:
                    cursor.close()
            except (sqlite3.Error, sqlite3.Warning) as err:
                if timed_out:
                    raise SqlExecutionError(
                        f"query timed out after {timeout_s:g}s; simplify it or filter more"
                    ) from err
                message = str(err)
                if "too big" in message:
                    message = (
                        f"{message}: a value the query builds is over {SQLITE_MAX_LENGTH} "
                        "bytes; select less"
                    )
                if any(word in message for word in ("readonly", "read-only", "not authorized")):
                    message = f"{message}: the database is read-only, only SELECT is allowed"
                raise SqlExecutionError(message) from err
            finally:
                self._conn.set_progress_handler(None, 0)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


class _PostgresBackend(_Backend):
    dialect = "postgres"

    def __init__(self, url: str, *, allow_privileged: bool = False) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._closed = False
        self._conn: psycopg.Connection[Any] = self._connect()
        try:
            self._check_role(allow_privileged)
        except BaseException:
            self._conn.close()
            raise

    def _check_role(self, allow_privileged: bool) -> None:
        """Refuse a role that may do more than read, unless explicitly allowed."""
        import psycopg

        try:
            with self._conn.transaction(force_rollback=True):
                problems = privilege_problems(self._conn)
                row = self._conn.execute(
                    "SELECT current_user, current_database(), current_schemas(false)"
                ).fetchone()
        except psycopg.Error as err:
            raise SqlConnectionError(
                f"cannot read the PostgreSQL role's privileges: {err}"
            ) from err
        if not problems:
            return
        role, database, schemas = ("?", "?", []) if row is None else row
        if allow_privileged:
            logger.warning(
                "running model-written SQL as privileged role %s (%s): allowed explicitly",
                role,
                "; ".join(problems),
            )
            return
        raise SqlConnectionError(
            refusal_message(str(role), problems, str(database), list(schemas) or ["public"])
        )

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        extra: dict[str, Any] = {"application_name": "slm-dispatch-sql"}
        if "connect_timeout" not in self._url:
            extra["connect_timeout"] = 10
        try:
            conn = psycopg.connect(self._url, autocommit=False, **extra)
        except psycopg.Error as err:
            raise SqlConnectionError(f"cannot connect to PostgreSQL: {err}") from err
        conn.read_only = True  # every transaction starts with BEGIN READ ONLY
        return conn

    @contextmanager
    def _read_only_cursor(
        self, timeout_s: float
    ) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Cursor[Any]]]:
        """A cursor in a read-only transaction with a statement timeout, always rolled back."""
        conn = self._conn
        if conn.closed:
            conn = self._conn = self._connect()
        with conn.transaction(force_rollback=True), conn.cursor() as cur:
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                (str(max(1, int(timeout_s * 1000))),),
            )
            yield conn, cur

    def _fetch(
        self,
        sql: bytes,
        params: Sequence[Any] | None,
        max_rows: int | None,
        timeout_s: float,
        *,
        single: bool = False,
    ) -> tuple[list[str], list[Any]]:
        """Run ``sql`` in a read-only transaction that is always rolled back.

        With ``single``, the statement is prepared (extended protocol), so the server
        refuses a string with several statements (e.g. ``COMMIT; DELETE ...``).
        """
        with self._read_only_cursor(timeout_s) as (conn, cur):
            cur.execute(sql, params, prepare=True if single else None)
            if cur.description is None:
                return [], []
            columns = [column.name for column in cur.description]
            rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows)
            return columns, rows

    def read_schema(self) -> _Schema:
        import psycopg

        schema = _Schema()
        visible = (
            "c.relkind IN ('r', 'v', 'm', 'p', 'f') AND pg_catalog.pg_table_is_visible(c.oid) "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%'"
        )
        try:
            with self._lock:
                _, columns = self._fetch(
                    (
                        "SELECT c.relname, a.attname, "
                        "pg_catalog.format_type(a.atttypid, a.atttypmod) "
                        "FROM pg_catalog.pg_class c "
                        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
                        f"WHERE {visible} AND a.attnum > 0 AND NOT a.attisdropped "
                        "ORDER BY c.oid, a.attnum"
                    ).encode(),
                    None,
                    None,
                    30.0,
                )
                _, keys = self._fetch(
                    (
                        "SELECT con.contype, c.relname, a.attname, fc.relname, fa.attname "
                        "FROM pg_catalog.pg_constraint con "
                        "JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
                        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                        "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) "
                        "  WITH ORDINALITY AS k(attnum, fattnum, ord) "
                        "JOIN pg_catalog.pg_attribute a "
                        "  ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
                        "LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid "
                        "LEFT JOIN pg_catalog.pg_attribute fa "
                        "  ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum "
                        f"WHERE con.contype IN ('p', 'f') AND {visible} "
                        "ORDER BY c.relname, con.conname, k.ord"
                    ).encode(),
                    None,
                    None,
                    30.0,
                )
        except psycopg.Error as err:
            raise SqlConnectionError(f"cannot read the PostgreSQL schema: {err}") from err
        for table, column, type_name in columns:
            schema.tables.setdefault(str(table), []).append(
                Column(str(column), str(type_name).upper())
            )
        for kind, table, column, ref_table, ref_column in keys:
            if kind == "p":
                schema.primary_keys.setdefault(str(table), []).append(str(column))
            elif ref_table is not None and ref_column is not None:
                schema.foreign_keys.append(
                    _ForeignKey(str(table), str(column), str(ref_table), str(ref_column))
                )
        return schema

    def _fetch_capped(
        self, sql: str, max_rows: int, timeout_s: float
    ) -> tuple[list[str], list[Any], bool]:
        """Run ``sql`` through server-side cursors, within the byte caps.

        A first cursor (declared with the extended protocol, so one statement only) gives
        the output columns without computing a row. The rows then come from a second cursor
        over ``sql`` wrapped so that the server itself replaces each value over
        ``MAX_VALUE_BYTES`` by NULL and reports its size: no huge value crosses the wire,
        and ``fetchmany`` never pulls more rows than the caps keep, whatever the LIMIT.
        """
        if not _is_query(sql, self.dialect):
            # Not a SELECT: validated SQL never is, so this only shows the connection's own
            # refusal (a read-only transaction, one statement per call).
            columns, rows = self._fetch(sql.encode(), None, max_rows, timeout_s, single=True)
            capped = _CappedRows(max_rows)
            capped.add(rows)
            return columns, capped.rows, capped.cut_short
        with self._read_only_cursor(timeout_s) as (conn, cur):
            cur.execute(f"DECLARE slm_probe NO SCROLL CURSOR FOR {sql}".encode(), prepare=True)
            cur.execute(b"FETCH 0 FROM slm_probe")
            if cur.description is None:
                return [], [], False
            columns = [column.name for column in cur.description]
            cur.execute(b"CLOSE slm_probe")
            names = [f"c{i}" for i in range(len(columns))]
            sizes = [f"octet_length(_q.{name}::text)" for name in names]
            kept = ", ".join(
                f"CASE WHEN {size} > {MAX_VALUE_BYTES} THEN NULL ELSE _q.{name} END"
                for name, size in zip(names, sizes, strict=True)
            )
            cut = ", ".join(
                f"CASE WHEN {size} > {MAX_VALUE_BYTES} THEN '{i}:' || {size} END"
                for i, size in enumerate(sizes)
            )
            wrapped = (
                f"SELECT {kept}, concat_ws(',', {cut}) FROM (\n{sql}\n) AS _q({', '.join(names)})"
            )
            capped = _CappedRows(max_rows)
            with conn.cursor(name="slm_rows") as rows_cursor:
                rows_cursor.execute(wrapped.encode())
                while capped.wants_more():
                    batch = rows_cursor.fetchmany(_FETCH_BATCH)
                    if not batch:
                        break
                    oversized = [_oversized(row[-1]) for row in batch]
                    capped.add([row[:-1] for row in batch], oversized)
            return columns, capped.rows, capped.cut_short

    def run(self, sql: str, max_rows: int, timeout_s: float) -> tuple[list[str], list[Any], bool]:
        import psycopg
        from psycopg import errors as pg_errors

        with self._lock:
            if self._closed:
                raise SqlExecutionError("the database connection is closed")
            try:
                return self._fetch_capped(sql, max_rows, timeout_s)
            except pg_errors.QueryCanceled as err:
                raise SqlExecutionError(
                    f"query timed out after {timeout_s:g}s; simplify it or filter more"
                ) from err
            except psycopg.OperationalError as err:
                # The connection may be gone; reconnect on the next query.
                self._conn.close()
                raise SqlExecutionError(f"database connection error: {err}") from err
            except SqlConnectionError as err:  # the reconnect failed
                raise SqlExecutionError(err.message) from err
            except psycopg.Error as err:
                raise SqlExecutionError(_postgres_message(err)) from err

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


def _only_tables(schema: _Schema, spec: str) -> _Schema:
    """The part of ``schema`` that the table list ``spec`` lets the model see.

    ``spec`` is comma-separated: plain names allow only those tables, ``!name`` hides one;
    empty keeps every table. Every name must be a table of the schema (a typo must not
    silently expose or hide the wrong thing).
    """
    entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
    if not entries:
        return schema
    lower = {name.lower(): name for name in schema.tables}
    allowed: set[str] = set()
    hidden: set[str] = set()
    for entry in entries:
        bare = entry[1:].strip() if entry.startswith("!") else entry
        name = lower.get(bare.lower())
        if name is None:
            raise SqlConnectionError(
                f"the table list (SLM_SQL_TABLES) names `{bare}`, which the database does not "
                f"have; tables: {', '.join(schema.tables)}"
            )
        (hidden if entry.startswith("!") else allowed).add(name)
    keep = [
        name
        for name in schema.tables
        if (not allowed or name in allowed) and name not in hidden
    ]
    return _Schema(
        tables={name: schema.tables[name] for name in keep},
        primary_keys={k: v for k, v in schema.primary_keys.items() if k in keep},
        foreign_keys=[
            fk for fk in schema.foreign_keys if fk.table in keep and fk.ref_table in keep
        ],
    )


def _is_query(sql: str, dialect: str) -> bool:
    """Whether ``sql`` parses as one SELECT (or set operation of SELECTs)."""
    try:
        parsed = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError, RecursionError):
        return False
    return len(parsed) == 1 and isinstance(parsed[0], _ALLOWED_ROOTS)


def _oversized(text: str | None) -> dict[int, int]:
    """Parse the server's ``index:size`` list of values it left out of one row."""
    found = {}
    for item in (text or "").split(","):
        index, _, size = item.partition(":")
        if index.isdigit() and size.isdigit():
            found[int(index)] = int(size)
    return found


def _postgres_message(err: Exception) -> str:
    diag = getattr(err, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(err).strip().splitlines()[0]
    parts = [primary]
    detail = getattr(diag, "message_detail", None)
    hint = getattr(diag, "message_hint", None)
    if detail:
        parts.append(detail)
    if hint:
        parts.append(f"hint: {hint}")
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# The tool
# --------------------------------------------------------------------------------------------


class SqlDatabase:
    """A read-only SQL database for the graph's ``sql`` node.

    Open with :meth:`open`; then :meth:`validate` and :meth:`execute` (or :meth:`run`, which
    does both). Safe to share between threads (queries are serialized).
    """

    dialect: str
    """``"sqlite"`` or ``"postgres"`` (sqlglot dialect names)."""

    def __init__(self, backend: _Backend, *, tables: str = "") -> None:
        """Wrap an opened backend; use :meth:`open` instead."""
        self._backend = backend
        self.dialect = backend.dialect
        try:
            self._schema = _only_tables(backend.read_schema(), tables)
        except sqlite3.Error as err:
            backend.close()
            raise SqlConnectionError(f"cannot read the database schema: {err}") from err
        except SqlToolError:
            backend.close()
            raise
        self._lower_tables: dict[str, str] = {name.lower(): name for name in self._schema.tables}
        self._lower_columns: dict[str, list[str]] = {
            name.lower(): [column.name.lower() for column in columns]
            for name, columns in self._schema.tables.items()
        }
        self._glot_schema: dict[str, object] = {
            name: {column.name: self._glot_type(column.type) for column in columns}
            for name, columns in self._schema.tables.items()
        }
        self._values_cache: dict[tuple[str, str, int], list[Any] | None] = {}
        self._schema_names: set[str] = set(self._lower_tables) | {
            column for columns in self._lower_columns.values() for column in columns
        }
        self.max_query_chars = MAX_QUERY_CHARS
        """Longest query :meth:`validate` accepts, in characters."""
        self.max_paren_depth = MAX_PAREN_DEPTH
        """Deepest parenthesis nesting :meth:`validate` accepts."""
        self.max_subquery_depth = MAX_SUBQUERY_DEPTH
        """Deepest SELECT-in-SELECT nesting :meth:`validate` accepts."""

    # ---------------------------------------------------------------- opening and closing

    @classmethod
    def open(cls, url: str, *, tables: str = "", allow_privileged: bool = False) -> SqlDatabase:
        """Open a database read-only.

        Args:
            url: A SQLite file path, ``sqlite:///relative/path`` or ``sqlite:////abs/path``,
                or a ``postgresql://`` URL (libpq syntax; a search path can be given with the
                ``options`` query parameter, e.g. ``?options=-csearch_path%3Ddemo``).
            tables: Which tables the model may see and query, comma-separated: names to
                allow only those, ``!name`` to hide one; empty for every table. A hidden
                table is absent from the schema, the prompt and the grammar, and a query
                naming it is rejected as naming an unknown table.
            allow_privileged: Run on PostgreSQL even when the role may do more than read
                (a superuser, or a role that may write or create); refused by default.

        Returns:
            The opened database, with its schema read.

        Raises:
            SqlConnectionError: The file does not exist, is not a database, the server
                cannot be reached, the PostgreSQL role is privileged, or ``tables`` names a
                table the database does not have.
        """
        text = url.strip()
        lowered = text.lower()
        if lowered.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            if lowered.startswith("postgresql+psycopg://"):
                text = "postgresql://" + text[len("postgresql+psycopg://") :]
            return cls(_PostgresBackend(text, allow_privileged=allow_privileged), tables=tables)
        if lowered.startswith("sqlite:"):
            if not lowered.startswith("sqlite:///"):
                raise SqlConnectionError(
                    f"unsupported SQLite URL {url!r}: use sqlite:///relative/path or "
                    "sqlite:////absolute/path (in-memory databases have no tables)"
                )
            text = text[len("sqlite:///") :]
        elif re.match(r"^[a-z][a-z0-9+.-]*://", lowered):
            raise SqlConnectionError(f"unsupported database URL {url!r}: use SQLite or PostgreSQL")
        path = Path(text).expanduser()
        if not path.is_file():
            raise SqlConnectionError(f"SQLite database file not found: {str(path)!r}")
        return cls(_SqliteBackend(path), tables=tables)

    def close(self) -> None:
        """Close the connection; further queries fail."""
        self._backend.close()

    def __enter__(self) -> SqlDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- schema

    def tables(self) -> dict[str, list[Column]]:
        """Return the live schema read at open: table name -> columns in table order."""
        return {name: list(columns) for name, columns in self._schema.tables.items()}

    def foreign_keys(self) -> list[tuple[str, str, str, str]]:
        """Return the live foreign keys as ``(table, column, ref_table, ref_column)``."""
        return [
            (fk.table, fk.column, fk.ref_table, fk.ref_column) for fk in self._schema.foreign_keys
        ]

    def schema_text(self, *, sample_values: bool = False, max_values: int = 12) -> str:
        """Return a compact CREATE TABLE-like description of the schema for a model prompt.

        Args:
            sample_values: Also list the distinct values of low-cardinality text columns
                (read from the database once, then cached).
            max_values: A text column is listed only if it has at most this many values.

        Returns:
            One ``CREATE TABLE`` line per table with column types, primary and foreign keys,
            optionally followed by ``-- table.column: 'a', 'b'`` lines.
        """
        refs = {(fk.table, fk.column): fk for fk in self._schema.foreign_keys}
        lines: list[str] = []
        for table, columns in self._schema.tables.items():
            pk = self._schema.primary_keys.get(table, [])
            parts: list[str] = []
            for column in columns:
                part = f"{column.name} {column.type}".rstrip()
                if pk == [column.name]:
                    part += " PRIMARY KEY"
                fk = refs.get((table, column.name))
                if fk is not None:
                    part += f" REFERENCES {fk.ref_table}({fk.ref_column})"
                parts.append(part)
            if len(pk) > 1:
                parts.append(f"PRIMARY KEY ({', '.join(pk)})")
            lines.append(f"CREATE TABLE {table} ({', '.join(parts)});")
            if sample_values:
                for column in columns:
                    values = self._distinct_values(table, column, max_values)
                    if values:
                        listed = ", ".join(_sql_literal(value) for value in values)
                        lines.append(f"--   {table}.{column.name}: {listed}")
        return "\n".join(lines)

    def _distinct_values(self, table: str, column: Column, max_values: int) -> list[Any] | None:
        if not any(word in column.type for word in ("TEXT", "CHAR", "STRING")):
            return None
        key = (table, column.name, max_values)
        if key not in self._values_cache:
            sql = (
                f"SELECT DISTINCT {_quote_ident(column.name)} FROM {_quote_ident(table)} "
                f"WHERE {_quote_ident(column.name)} IS NOT NULL ORDER BY 1 LIMIT {max_values + 1}"
            )
            try:
                _, rows, _ = self._backend.run(sql, max_values + 1, 10.0)
            except SqlExecutionError as err:
                logger.warning("cannot list values of %s.%s: %s", table, column.name, err)
                rows = []
            values = [row[0] for row in rows]
            self._values_cache[key] = values if 0 < len(values) <= max_values else None
        return self._values_cache[key]

    def _glot_type(self, type_name: str) -> str:
        if not type_name:
            return "UNKNOWN"
        try:
            exp.DataType.build(type_name, dialect=self.dialect)
        except Exception:  # noqa: BLE001 - any unparseable type just becomes UNKNOWN
            return "UNKNOWN"
        return type_name

    # ---------------------------------------------------------------- validation

    def validate(self, sql: str, *, read_dialect: str = "sqlite") -> str:
        """Check that ``sql`` is one read-only SELECT over known tables and columns.

        Args:
            sql: The query, possibly in a markdown fence and with a trailing semicolon.
            read_dialect: The sqlglot dialect the query is written in.

        Returns:
            The SQL to run on this database: the cleaned text when ``read_dialect`` is this
            database's dialect, otherwise the query transpiled to it.

        Raises:
            SqlValidationError: The query is empty, malformed, not a single SELECT, writes,
                calls a forbidden function, or names an unknown table or column.
            ValueError: ``read_dialect`` is not a sqlglot dialect.
        """
        dialect = _normalize_dialect(read_dialect)
        text = clean_sql(sql)
        if not text:
            raise SqlValidationError("empty query; write one SELECT statement")
        _check_size(text, self.max_query_chars)
        _check_invisible_characters(text)
        try:
            tokens = sqlglot.tokenize(text, read=dialect)
            _check_tokens(tokens, dialect, self._schema_names, self.max_paren_depth)
            parsed = sqlglot.parse(text, read=dialect)
        except ParseError as err:
            raise SqlValidationError(_parse_error_message(err)) from err
        except TokenError as err:
            raise SqlValidationError(
                "syntax error: the query cannot be tokenized; check for an unterminated string, "
                "quoted name or /* comment"
            ) from err
        except RecursionError as err:
            raise SqlValidationError(
                "query too complex to check (nested too deeply); write a simpler query"
            ) from err
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
        if not statements:
            raise SqlValidationError("empty query; write one SELECT statement")
        if len(statements) > 1:
            raise SqlValidationError(
                f"only one SELECT statement is allowed; found {len(statements)} statements"
            )
        try:
            return self._check_parsed(statements[0], text, dialect)
        except RecursionError as err:
            raise SqlValidationError(
                "query too complex to check (nested too deeply); write a simpler query"
            ) from err

    def _check_parsed(self, statement: exp.Expr, text: str, dialect: str) -> str:
        """Every check on the parsed statement; return the SQL to run on this database."""
        self._check_statement(statement, text, dialect)
        _check_subquery_depth(statement, self.max_subquery_depth)
        self._check_tables(statement)
        qualified = self._check_columns(statement, dialect)
        _check_set_operation_order(statement)
        self._check_cartesian(qualified)
        if dialect == self.dialect:
            return text
        sql = qualified.sql(dialect=self.dialect)
        # What runs is the transpiled text: check it again, in the database's own dialect.
        try:
            transpiled = sqlglot.parse_one(sql, read=self.dialect)
        except (ParseError, TokenError) as err:
            raise SqlValidationError(
                f"the query cannot be translated to {_DIALECT_NAMES[self.dialect]}; "
                "write it more simply"
            ) from err
        self._check_statement(transpiled, sql, self.dialect)
        self._check_tables(transpiled)
        return sql

    def _check_statement(self, statement: exp.Expr, text: str, dialect: str) -> None:
        """The statement kind, then the allow-list of ``tools.sql_policy``.

        The writes and admin statements named in ``_FORBIDDEN_NODES`` are looked for first
        only to say precisely what was found; the allow-list alone is the wall.
        """
        if not isinstance(statement, _ALLOWED_ROOTS):
            raise SqlValidationError(
                f"only SELECT queries are allowed, not {_statement_kind(statement, text)}"
            )
        for node in statement.walk():
            for node_type, label in _FORBIDDEN_NODES:
                if isinstance(node, node_type):
                    if node_type is exp.Command:
                        label = str(node.this).upper()
                    raise SqlValidationError(
                        f"only read-only SELECT queries are allowed; found {label} inside the query"
                    )
            if isinstance(node, exp.Into):
                raise SqlValidationError("SELECT ... INTO is not allowed; use a plain SELECT")
            if isinstance(node, exp.Lock):
                raise SqlValidationError("FOR UPDATE / FOR SHARE is not allowed in a read query")
        for node in statement.walk():
            reason = check_node(node, dialect)
            if reason is not None:
                raise SqlValidationError(reason)

    def _check_tables(self, statement: exp.Expr) -> None:
        """Every FROM / JOIN source is a CTE visible where it is named, or a known table."""
        for table in statement.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                function = table.this.sql_name() if isinstance(table.this, exp.Func) else ""
                if isinstance(table.this, exp.Anonymous):
                    function = str(table.this.name)
                raise SqlValidationError(
                    f"table-valued function `{function.lower() or table.sql()[:40]}` is not "
                    f"allowed; select from the tables: {', '.join(self._schema.tables)}"
                )
            name = table.name
            if table.args.get("db") or table.args.get("catalog"):
                raise SqlValidationError(
                    f"write the bare table name `{name}` without a schema prefix "
                    f"(`{table.sql()}` is not allowed)"
                )
            if name.lower() in _visible_ctes(table) or name.lower() in self._lower_tables:
                continue
            available = ", ".join(self._schema.tables)
            suggestion = _suggest(name, self._schema.tables)
            raise SqlValidationError(
                f"no table `{name}`{_did_you_mean(suggestion)} tables: {available}"
                if suggestion
                else f"no table `{name}`; tables: {available}"
            )

    def _check_columns(self, statement: exp.Expr, dialect: str) -> exp.Expr:
        """Resolve every column with sqlglot's qualifier; return the qualified tree."""
        try:
            qualified = qualify(
                statement.copy(),
                dialect=dialect,
                schema=self._glot_schema,
                expand_alias_refs=True,
                expand_stars=True,
                validate_qualify_columns=True,
                quote_identifiers=False,
                identify=False,
            )
        except OptimizeError as err:
            message = self._diagnose_columns(statement) or _optimize_error_message(err)
            raise SqlValidationError(message) from err
        except RecursionError:
            raise
        except Exception as err:  # noqa: BLE001 - names that cannot be checked are not trusted
            logger.warning("sqlglot could not qualify the query", exc_info=True)
            raise SqlValidationError(
                "the column names of this query cannot be checked; write a simpler query"
            ) from err
        _drop_generated_aliases(qualified)
        return qualified

    def _check_cartesian(self, qualified: exp.Expr) -> None:
        """Reject a FROM clause whose tables are not all tied together by a join condition.

        Sources count as joined by USING / NATURAL, or by an ON / WHERE conjunct that is an
        equality with columns of one source on one side and of another on the other
        (``<>``, ``OR`` and conditions inside subqueries tie nothing). A derived table of at
        most one row (an aggregate without GROUP BY or window, LIMIT 1) may be cross-joined
        freely.
        """
        try:
            scopes = traverse_scope(qualified)
        except RecursionError:
            raise
        except Exception as err:  # noqa: BLE001 - joins that cannot be checked are not trusted
            raise SqlValidationError(
                "the joins of this query cannot be checked; write a simpler query"
            ) from err
        for scope in scopes:
            select = scope.expression
            if not isinstance(select, exp.Select):
                continue
            names: dict[str, str | None] = {}  # alias -> base table (None: derived)
            for alias, (_node, source) in scope.selected_sources.items():
                if isinstance(source, exp.Table):
                    if not isinstance(source.this, exp.Identifier):
                        continue  # a table-valued function such as json_each(...)
                    names[alias] = self._lower_tables.get(source.name.lower(), source.name)
                elif isinstance(source, Scope) and not _single_row(source):
                    names[alias] = None
            if len(names) < 2:
                continue
            parent = {alias: alias for alias in names}

            def find(alias: str, parent: dict[str, str] = parent) -> str:
                while parent[alias] != alias:
                    alias = parent[alias]
                return alias

            conditions = _conjuncts(select.args.get("where"))
            for join in select.args.get("joins") or []:
                conditions += _conjuncts(join.args.get("on"))
                if join.args.get("using") or join.args.get("method") == "NATURAL":
                    joined = join.this.alias_or_name
                    if joined in parent:
                        for alias in names:
                            parent[find(alias)] = find(joined)
            for condition in conditions:
                tied = _equi_join(condition, select, names.keys())
                if tied is not None:
                    parent[find(tied[1])] = find(tied[0])
            groups: dict[str, list[str]] = {}
            for alias in names:
                groups.setdefault(find(alias), []).append(alias)
            if len(groups) > 1:
                first, second = (group[0] for group in list(groups.values())[:2])
                raise SqlValidationError(self._cartesian_message(first, second, names))

    def _cartesian_message(self, first: str, second: str, names: dict[str, str | None]) -> str:
        def label(alias: str) -> str:
            table = names[alias]
            return f"`{table}`" if table == alias or table is None else f"`{table}` (`{alias}`)"

        message = (
            f"cartesian product: {label(first)} and {label(second)} are not joined, so every "
            "row of one is paired with every row of the other"
        )
        left, right = names[first], names[second]
        for fk in self._schema.foreign_keys:
            for a, b, alias_a, alias_b in (
                (left, right, first, second),
                (right, left, second, first),
            ):
                if fk.table == a and fk.ref_table == b:
                    return (
                        f"{message}; add a join condition, e.g. "
                        f"ON {alias_a}.{fk.column} = {alias_b}.{fk.ref_column}"
                    )
        return f"{message}; add JOIN ... ON with the matching columns"

    # ---------------------------------------------------------------- column diagnostics

    def _scope_sources(self, scope: Scope) -> dict[str, _Source]:
        sources: dict[str, _Source] = {}
        for alias, source in scope.sources.items():
            if isinstance(source, exp.Table):
                table = self._lower_tables.get(source.name.lower())
                label = f"table `{source.name}`"
                if alias.lower() != source.name.lower():
                    label += f" (alias `{alias}`)"
                columns = self._lower_columns.get(table.lower()) if table else None
                sources[alias.lower()] = _Source(alias, label, table, columns)
            elif isinstance(source, Scope):
                names = list(getattr(source.expression, "named_selects", []) or [])
                known = None if "*" in names or not names else [n.lower() for n in names]
                kind = "CTE" if source.is_cte else "subquery"
                sources[alias.lower()] = _Source(alias, f"{kind} `{alias}`", None, known)
        return sources

    def _outer_sources(self, scope: Scope) -> dict[str, _Source]:
        found: dict[str, _Source] = {}
        parent = scope.parent
        while parent is not None:
            for alias, source in self._scope_sources(parent).items():
                found.setdefault(alias, source)
            parent = parent.parent
        return found

    def _column_hint(self, name: str, in_scope: dict[str, _Source]) -> str:
        """Explain where an unknown column really lives, if some other table has it."""
        scope_tables = {s.table for s in in_scope.values() if s.table}
        holders = [
            table
            for table in self._schema.tables
            if table not in scope_tables and name.lower() in self._lower_columns[table.lower()]
        ]
        if not holders:
            return ""
        holder = holders[0]
        for fk in self._schema.foreign_keys:
            if fk.table in scope_tables and fk.ref_table == holder:
                on = f"{holder}.{fk.ref_column} = {fk.table}.{fk.column}"
                return f"; `{name}` is a column of `{holder}`: JOIN {holder} ON {on}"
            if fk.ref_table in scope_tables and fk.table == holder:
                on = f"{holder}.{fk.column} = {fk.ref_table}.{fk.ref_column}"
                return f"; `{name}` is a column of `{holder}`: JOIN {holder} ON {on}"
        return f"; `{name}` is a column of table `{holder}`, which is not in the FROM clause"

    def _diagnose_columns(self, statement: exp.Expr) -> str | None:
        """Explain, for a model, why the qualifier rejected ``statement`` (None if unsure)."""
        try:
            scopes = traverse_scope(statement.copy())
        except Exception:  # noqa: BLE001 - diagnostics are best effort
            return None
        ambiguous: str | None = None
        for scope in scopes:
            sources = self._scope_sources(scope)
            outer = self._outer_sources(scope)
            outputs = _output_aliases(scope.expression)
            using: set[str] = set()
            for join in scope.expression.args.get("joins") or []:
                names = [ident.name for ident in join.args.get("using") or []]
                using.update(name.lower() for name in names)
                problem = self._using_problem(join, names, sources)
                if problem:
                    return problem
            for column in scope.columns:
                name = column.name
                if not name or isinstance(column.this, exp.Star):
                    continue
                quoted_hint = ""
                if isinstance(column.this, exp.Identifier) and column.this.quoted:
                    quoted_hint = f"; for a text value use single quotes: '{name}'"
                qualifier = column.table
                if qualifier:
                    source = sources.get(qualifier.lower()) or outer.get(qualifier.lower())
                    if source is None:
                        in_scope = ", ".join(s.label for s in sources.values()) or "none"
                        suggestion = _suggest(qualifier, [s.alias for s in sources.values()])
                        return (
                            f"unknown table or alias `{qualifier}` in `{qualifier}.{name}`"
                            f"{_did_you_mean(suggestion)}; tables in scope: {in_scope}"
                        )
                    if source.columns is None or name.lower() in source.columns:
                        continue
                    suggestion = _suggest(name, source.columns)
                    other = [
                        s
                        for s in sources.values()
                        if s is not source and s.columns and name.lower() in s.columns
                    ]
                    if suggestion is None and other:
                        return (
                            f"no column `{name}` in {source.label}; use `{other[0].alias}.{name}`"
                        )
                    message = f"no column `{name}` in {source.label}"
                    if suggestion:
                        return f"{message}; did you mean `{qualifier}.{suggestion}`?"
                    return message + self._column_hint(name, sources) + quoted_hint
                holders = [s for s in sources.values() if s.columns and name.lower() in s.columns]
                if len(holders) > 1 and name.lower() not in using:
                    ambiguous = ambiguous or (
                        f"column `{name}` is ambiguous: it is in "
                        + " and ".join(s.label for s in holders)
                        + f"; qualify it, e.g. `{holders[0].alias}.{name}`"
                    )
                    continue
                if holders or (name.lower() in outputs and not _in_select_list(column, scope)):
                    continue
                if any(s.columns is None for s in sources.values()):
                    continue
                if any(s.columns and name.lower() in s.columns for s in outer.values()):
                    continue  # a correlated reference to an outer query
                return self._unknown_column_message(name, sources) + quoted_hint
        return ambiguous

    @staticmethod
    def _using_problem(join: exp.Expr, names: list[str], sources: dict[str, _Source]) -> str | None:
        joined_alias = join.this.alias_or_name.lower() if join.this is not None else ""
        joined = sources.get(joined_alias)
        others = [source for alias, source in sources.items() if alias != joined_alias]
        for name in names:
            if joined is not None and joined.columns is not None:
                if name.lower() not in joined.columns:
                    return f"JOIN ... USING ({name}): no column `{name}` in {joined.label}"
            if others and all(
                s.columns is not None and name.lower() not in s.columns for s in others
            ):
                return (
                    f"JOIN ... USING ({name}): no table before the JOIN has a column `{name}`; "
                    "use JOIN ... ON with the matching columns instead"
                )
        return None

    def _unknown_column_message(self, name: str, sources: dict[str, _Source]) -> str:
        known = [s for s in sources.values() if s.columns is not None]
        if not known:
            return f"no column `{name}`: the query has no FROM clause"
        if len(known) == 1:
            only = known[0]
            suggestion = _suggest(name, only.columns or [])
            message = f"no column `{name}` in {only.label}{_did_you_mean(suggestion)}"
            return message if suggestion else message + self._column_hint(name, sources)
        qualified = {f"{s.alias}.{c}": c for s in known for c in s.columns or []}
        bare = _suggest(name, list(qualified.values()))
        suggestion = next((q for q, c in qualified.items() if c == bare), None) if bare else None
        labels = " or ".join(s.label for s in known)
        message = f"no column `{name}` in {labels}{_did_you_mean(suggestion)}"
        return message if suggestion else message + self._column_hint(name, sources)

    # ---------------------------------------------------------------- execution

    def execute(self, sql: str, *, row_limit: int = 100, timeout_s: float = 10.0) -> QueryResult:
        """Run already-validated SQL read-only.

        A ``LIMIT row_limit + 1`` is appended to a SELECT that has no LIMIT, so that
        truncation can be detected; at most ``row_limit`` rows are returned in any case.

        Args:
            sql: SQL in this database's dialect, normally the output of :meth:`validate`.
            row_limit: Most rows to return.
            timeout_s: Statement timeout in seconds.

        Returns:
            The query's result.

        Raises:
            SqlExecutionError: The database reported an error, the query timed out, or it
                tried to write.
            ValueError: ``row_limit`` is negative or ``timeout_s`` is not positive.
        """
        if row_limit < 0:
            raise ValueError("row_limit must be >= 0")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        text = clean_sql(sql)
        if not text:
            raise SqlExecutionError("empty query")
        text = self._with_limit(text, row_limit + 1)
        started = time.perf_counter()
        columns, raw_rows, cut_short = self._backend.run(text, row_limit + 1, timeout_s)
        elapsed = time.perf_counter() - started
        truncated = cut_short or len(raw_rows) > row_limit
        rows = [[_json_value(value) for value in row] for row in raw_rows[:row_limit]]
        logger.debug(
            "%s query returned %d rows%s in %.3fs",
            self.dialect,
            len(rows),
            " (truncated)" if truncated else "",
            elapsed,
        )
        return QueryResult(
            sql=text, columns=columns, rows=rows, truncated=truncated, elapsed_s=elapsed
        )

    def run(
        self,
        sql: str,
        *,
        read_dialect: str = "sqlite",
        row_limit: int = 100,
        timeout_s: float = 10.0,
    ) -> QueryResult:
        """Validate ``sql`` (see :meth:`validate`) and execute it (see :meth:`execute`).

        Raises:
            SqlValidationError: The query was rejected before execution.
            SqlExecutionError: The database failed the query.
        """
        return self.execute(
            self.validate(sql, read_dialect=read_dialect), row_limit=row_limit, timeout_s=timeout_s
        )

    def _with_limit(self, text: str, limit: int) -> str:
        """Append ``LIMIT limit`` to a lone SELECT / set operation that has none."""
        try:
            parsed = [
                s
                for s in sqlglot.parse(text, read=self.dialect)
                if s is not None and not isinstance(s, exp.Semicolon)
            ]
        except (ParseError, TokenError):
            return text  # let the database report the error
        if len(parsed) != 1 or not isinstance(parsed[0], _ALLOWED_ROOTS):
            return text
        if parsed[0].args.get("limit") is not None or parsed[0].args.get("fetch") is not None:
            return text
        # A newline, so that a trailing `-- comment` cannot swallow the LIMIT.
        return f"{text}\nLIMIT {limit}"


def _statement_kind(statement: exp.Expr, text: str) -> str:
    for node_type, label in _FORBIDDEN_NODES:
        if isinstance(statement, node_type) and node_type is not exp.Command:
            return label
    first = re.match(r"\s*([A-Za-z_]+)", re.sub(r"(?s)/\*.*?\*/|--[^\n]*", " ", text))
    return first.group(1).upper() if first else statement.key.upper()


def _visible_ctes(node: exp.Expr) -> set[str]:
    """Names of the CTEs in scope where ``node`` stands, lower-cased.

    A CTE is visible in the body of the query that defines it and in the CTEs defined after
    it in the same WITH (and in itself when the WITH is RECURSIVE); not in an enclosing
    query. So a CTE named like a real table inside a subquery does not hide that table from
    the outer query.
    """
    names: set[str] = set()
    child: exp.Expr = node
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with_") or parent.args.get("with")
        if isinstance(with_, exp.With) and child is not with_:
            names.update(cte.alias_or_name.lower() for cte in with_.expressions)
        elif isinstance(parent, exp.With) and isinstance(child, exp.CTE):
            ctes = list(parent.expressions)
            index = next(i for i, cte in enumerate(ctes) if cte is child)
            visible = ctes[: index + 1] if parent.args.get("recursive") else ctes[:index]
            names.update(cte.alias_or_name.lower() for cte in visible)
        child, parent = parent, parent.parent
    return names


def _drop_generated_aliases(tree: exp.Expr) -> None:
    """Remove the ``_col_N`` aliases the qualifier gave unnamed outermost output columns."""
    query: exp.Expr | None = tree
    while isinstance(query, exp.SetOperation):
        query = query.this
    if isinstance(query, exp.Subquery):
        query = query.unnest()
    if not isinstance(query, exp.Select):
        return
    referenced = {column.name for column in tree.find_all(exp.Column)}
    for projection in list(query.expressions):
        alias = projection.alias if isinstance(projection, exp.Alias) else ""
        if re.fullmatch(r"_col_\d+", alias) and alias not in referenced:
            projection.replace(projection.this)


def _check_set_operation_order(statement: exp.Expr) -> None:
    """ORDER BY after UNION / INTERSECT / EXCEPT may only name output columns or positions."""
    for node in statement.find_all(exp.SetOperation):
        order = node.args.get("order")
        if order is None:
            continue
        names = [name for name in node.named_selects if name]
        listed = ", ".join(f"`{name}`" for name in names) or "none (give them aliases)"
        for ordered in order.expressions:
            key = ordered.this
            if isinstance(key, exp.Literal) and key.is_int:
                continue
            if (
                isinstance(key, exp.Column)
                and not key.table
                and key.name.lower() in {name.lower() for name in names}
            ):
                continue
            raise SqlValidationError(
                f"ORDER BY `{key.sql()}` after {node.key.upper()} must be an output column of "
                f"the first SELECT or a position; output columns: {listed}"
            )


def _output_aliases(query: exp.Expr) -> set[str]:
    """Names a query gives its output columns with AS (or, for set operations, its first part)."""
    while isinstance(query, exp.SetOperation):
        if query.args.get("order") is not None:
            # ORDER BY of a set operation names the output columns, aliased or not.
            return {name.lower() for name in query.named_selects}
        query = query.this
    if not isinstance(query, exp.Select):
        return set()
    return {p.alias.lower() for p in query.expressions if isinstance(p, exp.Alias)}


def _in_select_list(column: exp.Column, scope: Scope) -> bool:
    """Whether ``column`` sits in the SELECT list of its scope's query (not WHERE, ORDER BY...)."""
    node: exp.Expr = column
    while node.parent is not None and node.parent is not scope.expression:
        node = node.parent
    return node.parent is scope.expression and node.arg_key == "expressions"


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(_json_value(value))
