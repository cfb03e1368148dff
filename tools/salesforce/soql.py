"""SOQL lexing and rewriting for sqlglot.

Parsing: SOQL is not SQL, so the text is first scanned by a small SOQL lexer that keeps the
structure and replaces every value (strings, ISO dates, date literals such as
``LAST_N_DAYS:30``) by a numbered string placeholder, quotes every identifier (``Case`` and
``Type`` are SQL keywords), renames SOQL functions to a private prefix so sqlglot sees plain
anonymous functions, turns ``INCLUDES``/``EXCLUDES`` into ``IN``/``NOT IN`` and drops the two
allowed clauses that do not affect field checks (``WITH SECURITY_ENFORCED|USER_MODE`` and
``USING SCOPE <scope>``, after checking them). The rewritten text is parsed by sqlglot and
the tree is walked with the placeholders resolved back to their SOQL values. The query sent
to Salesforce is always the cleaned original text, never the rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from tools.salesforce.errors import SoqlValidationError
from tools.salesforce.hints import _did_you_mean, _short
from tools.salesforce_limits import (
    MAX_SOQL_CONDITIONS,
    MAX_SOQL_NESTING,
    SIDE_EFFECT_CLAUSES,
    USING_SCOPES,
    WITH_CLAUSES,
)

_DATE_LITERALS: Final = frozenset(
    """YESTERDAY TODAY TOMORROW LAST_WEEK THIS_WEEK NEXT_WEEK LAST_MONTH THIS_MONTH
    NEXT_MONTH LAST_90_DAYS NEXT_90_DAYS THIS_QUARTER LAST_QUARTER NEXT_QUARTER THIS_YEAR
    LAST_YEAR NEXT_YEAR THIS_FISCAL_QUARTER LAST_FISCAL_QUARTER NEXT_FISCAL_QUARTER
    THIS_FISCAL_YEAR LAST_FISCAL_YEAR NEXT_FISCAL_YEAR""".split()
)
_DATE_N_LITERALS: Final = frozenset(
    """LAST_N_DAYS NEXT_N_DAYS N_DAYS_AGO LAST_N_WEEKS NEXT_N_WEEKS N_WEEKS_AGO
    LAST_N_MONTHS NEXT_N_MONTHS N_MONTHS_AGO LAST_N_QUARTERS NEXT_N_QUARTERS
    N_QUARTERS_AGO LAST_N_YEARS NEXT_N_YEARS N_YEARS_AGO LAST_N_FISCAL_QUARTERS
    NEXT_N_FISCAL_QUARTERS N_FISCAL_QUARTERS_AGO LAST_N_FISCAL_YEARS NEXT_N_FISCAL_YEARS
    N_FISCAL_YEARS_AGO""".split()
)
_KEYWORDS: Final = frozenset(
    """SELECT FROM WHERE AND OR NOT IN LIKE GROUP BY HAVING ORDER ASC DESC NULLS FIRST LAST
    LIMIT OFFSET NULL TRUE FALSE ROLLUP CUBE""".split()
)
_AGGREGATES: Final = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
_DATE_FUNCTIONS: Final = frozenset(
    """CALENDAR_MONTH CALENDAR_QUARTER CALENDAR_YEAR DAY_IN_MONTH DAY_IN_WEEK DAY_IN_YEAR
    DAY_ONLY FISCAL_MONTH FISCAL_QUARTER FISCAL_YEAR HOUR_IN_DAY WEEK_IN_MONTH
    WEEK_IN_YEAR""".split()
)
_OTHER_FUNCTIONS: Final = frozenset(
    {
        "CONVERTTIMEZONE",
        "CONVERTCURRENCY",
        "TOLABEL",
        "FORMAT",
        "GROUPING",
        "DISTANCE",
        "GEOLOCATION",
        "FIELDS",
    }
)
_FUNCTIONS: Final = _AGGREGATES | _DATE_FUNCTIONS | _OTHER_FUNCTIONS
_FN_PREFIX: Final = "SOQLFN_"
_DML_WORDS: Final = frozenset(
    """INSERT UPDATE DELETE UPSERT MERGE UNDELETE DROP CREATE ALTER TRUNCATE GRANT REVOKE
    EXEC EXECUTE CALL""".split()
)
_SQL_ONLY: Final[Mapping[str, str]] = MappingProxyType(
    {
        "JOIN": "SOQL has no JOIN; follow relationships with paths such as Account.Name",
        "DISTINCT": "SOQL has no DISTINCT; use GROUP BY on the field instead",
        "UNION": "SOQL allows one SELECT only; there is no UNION",
        "AS": "SOQL aliases take no AS; write e.g. COUNT(Id) total",
        "IS": "SOQL has no IS NULL; write Field = null or Field != null",
        "BETWEEN": "SOQL has no BETWEEN; write Field >= low AND Field <= high",
        "TYPEOF": "TYPEOF is not supported here; select the polymorphic fields directly",
    }
)
_FIELDS_ARGS: Final = frozenset({"ALL", "STANDARD", "CUSTOM"})
_AFTER_WITH: Final = frozenset({"GROUP", "ORDER", "LIMIT", "OFFSET"})
_AFTER_USING: Final = _AFTER_WITH | {"WHERE", "WITH"}
_LOGICAL: Final = frozenset({"AND", "OR", "NOT"})
_OPERAND_KINDS: Final = frozenset({"string", "datetime", "date", "number", "ident", "bind"})

_TOKEN_RE: Final = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
    |(?P<number>\d+(?:\.\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_-]*)?)
    |(?P<bind>:\s*[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>!=|<>|<=|>=|=|<|>)
    |(?P<punct>[(),.])
    |(?P<sign>[-+])
    """,
    re.VERBOSE,
)
_ISO_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_FENCE_RE: Final = re.compile(
    r"^```[ \t]*(?:[A-Za-z0-9_+-]+[ \t]*\n)?(?P<body>.*?)(?:```)?\s*$", re.DOTALL
)
_PLACEHOLDER_RE: Final = re.compile(r"^__soql_value_(\d+)__$")

ValueKind = Literal["string", "date", "datetime", "date_literal"]


@dataclass(frozen=True)
class _Value:
    kind: ValueKind
    raw: str  # as written in the SOQL
    value: str  # strings unescaped; others as written


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _unescape(body: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), body, flags=re.DOTALL)


def clean_soql(soql: str) -> str:
    """Strip whitespace, markdown fences, backticks and trailing semicolons.

    Args:
        soql: The text the model produced.

    Returns:
        The bare statement.
    """
    text = soql.strip()
    if text.startswith("```"):
        match = _FENCE_RE.match(text)
        text = match.group("body").strip() if match else text.strip("`").strip()
    if len(text) >= 2 and text[0] == "`" and text[-1] == "`":
        text = text.strip("`").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _lex(soql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN_RE.match(soql, pos)
        if match is None:
            char = soql[pos]
            if char == ";":
                raise SoqlValidationError(
                    "only one SOQL statement is allowed; remove the `;` and anything after it"
                )
            if char == "'":
                raise SoqlValidationError("a string literal is not closed; end it with `'`")
            if char == '"':
                raise SoqlValidationError(
                    "SOQL strings use single quotes: write 'text', not \"text\""
                )
            if char == "`":
                raise SoqlValidationError("SOQL does not use backticks; write plain field names")
            if char == "*" and re.search(r"(?i)\bCOUNT\s*\(\s*$", soql[:pos]):
                raise SoqlValidationError("COUNT(*) is not SOQL; use COUNT() or COUNT(Id)")
            if char == "*":
                raise SoqlValidationError(
                    "SOQL has no `*`: list the fields (SELECT Id, Name FROM ...) and count "
                    "with COUNT() or COUNT(Id)"
                )
            raise SoqlValidationError(f"unexpected character `{char}` in the SOQL")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group()))
        pos = match.end()
    return tokens


def _check_complexity(tokens: list[_Token]) -> None:
    """Refuse queries nested or chained beyond the limits, before anything parses them.

    The nesting depth counts open parentheses plus the prefix operators (NOT, a sign)
    waiting for their operand at each level: the parser recurses on both.
    """
    levels = [0]  # per open parenthesis: prefix operators pending at that level
    deepest = 0
    conditions = 0
    previous: _Token | None = None
    for tok in tokens:
        upper = tok.text.upper() if tok.kind == "ident" else ""
        if tok.text == "(":
            levels.append(0)
        elif tok.text == ")":
            if len(levels) > 1:
                levels.pop()
            levels[-1] = 0
        elif upper == "NOT" or (
            tok.kind == "sign"
            and (previous is None or (previous.kind not in _OPERAND_KINDS and previous.text != ")"))
        ):
            levels[-1] += 1
        elif upper in ("AND", "OR") or tok.kind == "op" or tok.text == ",":
            levels[-1] = 0
        if upper in _LOGICAL:
            conditions += 1
        deepest = max(deepest, len(levels) - 1 + sum(levels))
        previous = tok
    if deepest > MAX_SOQL_NESTING:
        raise SoqlValidationError(
            f"the query nests {deepest} levels deep (parentheses, NOT and signs); at most "
            f"{MAX_SOQL_NESTING} are allowed: remove redundant parentheses and double NOTs",
            code="QUERY_TOO_COMPLICATED",
        )
    if conditions > MAX_SOQL_CONDITIONS:
        raise SoqlValidationError(
            f"the query joins {conditions} conditions with AND / OR / NOT; at most "
            f"{MAX_SOQL_CONDITIONS} are allowed: list values with IN ('a', 'b', ...) instead",
            code="QUERY_TOO_COMPLICATED",
        )


class _Rewriter:
    """Turns SOQL tokens into sqlglot-friendly SQL and remembers every literal value."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.values: dict[int, _Value] = {}
        self.out: list[str] = []

    def _peek(self, i: int) -> _Token | None:
        return self.tokens[i] if i < len(self.tokens) else None

    def _peek_word(self, i: int) -> str | None:
        tok = self._peek(i)
        return tok.text.upper() if tok is not None and tok.kind == "ident" else None

    def _placeholder(self, kind: ValueKind, raw: str, value: str) -> None:
        index = len(self.values)
        self.values[index] = _Value(kind, raw, value)
        self.out.append(f"'__soql_value_{index}__'")

    def rewrite(self) -> str:
        _check_complexity(self.tokens)
        first = self._peek_word(0)
        if first != "SELECT":
            if first in _DML_WORDS:
                raise SoqlValidationError(
                    f"only read-only SELECT queries can run here; `{first}` is not allowed",
                    code="NOT_A_QUERY",
                )
            raise SoqlValidationError(
                "the query must be one SOQL statement starting with SELECT, "
                "e.g. SELECT Id, Name FROM Account LIMIT 10",
                code="NOT_A_QUERY",
            )
        i = 0
        while i < len(self.tokens):
            i = self._step(i)
        return " ".join(self.out)

    def _step(self, i: int) -> int:
        tok = self.tokens[i]
        if tok.kind == "string":
            self._placeholder("string", tok.text, _unescape(tok.text[1:-1]))
        elif tok.kind == "date":
            self._placeholder("date", tok.text, tok.text)
        elif tok.kind == "datetime":
            self._placeholder("datetime", tok.text, tok.text)
        elif tok.kind == "bind":
            raise SoqlValidationError(
                f"bind variables such as `{tok.text}` are not supported; write the value itself"
            )
        elif tok.kind == "ident":
            return self._ident(i, tok.text)
        elif tok.kind == "sign" and i > 0 and self._peek_word(i - 1) in ("LIMIT", "OFFSET"):
            word = self._peek_word(i - 1)
            raise SoqlValidationError(f"{word} takes a whole number from 0 up, e.g. {word} 10")
        else:
            self.out.append(tok.text)
        return i + 1

    def _ident(self, i: int, text: str) -> int:
        upper = text.upper()
        if ":" in text:
            self._date_n_literal(text)
            return i + 1
        if upper in _DATE_N_LITERALS:
            raise SoqlValidationError(f"the date literal {upper} needs a number, e.g. {upper}:30")
        if upper in _DATE_LITERALS:
            self._placeholder("date_literal", text, upper)
            return i + 1
        nxt = self._peek_word(i + 1)
        if upper in ("FOR", "UPDATE"):
            self._side_effect_clause(upper, nxt)
        if upper == "WITH":
            return self._with_clause(i, nxt)
        if upper == "USING":
            return self._using_scope(i, nxt)
        if upper in _DML_WORDS:
            raise SoqlValidationError(
                f"only read-only SELECT queries can run here; `{upper}` is not allowed",
                code="NOT_A_QUERY",
            )
        if upper in _SQL_ONLY:
            raise SoqlValidationError(_SQL_ONLY[upper])
        if upper in _KEYWORDS:
            self.out.append(upper)
            return i + 1
        if upper == "INCLUDES":
            self.out.append("IN")
            return i + 1
        if upper == "EXCLUDES":
            self.out.append("NOT IN")
            return i + 1
        after = self._peek(i + 1)
        if after is not None and after.text == "(":
            return self._function(i, text, upper)
        self.out.append(f'"{text}"')
        return i + 1

    @staticmethod
    def _side_effect_clause(upper: str, nxt: str | None) -> None:
        """Refuse FOR VIEW / FOR REFERENCE / FOR UPDATE / UPDATE TRACKING / UPDATE VIEWSTAT."""
        clause = f"{upper} {nxt}" if nxt else upper
        effect = SIDE_EFFECT_CLAUSES.get(clause)
        if effect is not None:
            raise SoqlValidationError(
                f"`{clause}` is not allowed: {effect}, and a query here must be read-only; "
                "remove the clause",
                code="NOT_A_QUERY",
            )
        if upper == "FOR":
            raise SoqlValidationError(
                f"`{clause}` is not allowed: a read-only query has no FOR clause; remove it",
                code="NOT_A_QUERY",
            )

    def _followed_by_clause(self, i: int, allowed: frozenset[str]) -> bool:
        """Whether token ``i`` ends the query or subquery, or starts one of ``allowed``."""
        tok = self._peek(i)
        if tok is None or tok.text == ")":
            return True
        return tok.kind == "ident" and tok.text.upper() in allowed

    def _with_clause(self, i: int, nxt: str | None) -> int:
        """Check a WITH clause (one of WITH_CLAUSES) and its place, then drop it."""
        if nxt not in WITH_CLAUSES:
            shown = {None: "WITH", "DATA": "WITH DATA CATEGORY"}.get(nxt, f"WITH {nxt}")
            raise SoqlValidationError(
                f"`{shown}` is not allowed here; the only WITH clauses are "
                + " and ".join(f"WITH {w}" for w in sorted(WITH_CLAUSES))
            )
        if self._peek_word(i + 2) == "WHERE":
            raise SoqlValidationError(
                f"WITH {nxt} goes after WHERE: write ... WHERE <conditions> WITH {nxt}"
            )
        if not self._after_from(i) or not self._followed_by_clause(i + 2, _AFTER_WITH):
            raise SoqlValidationError(
                f"WITH {nxt} goes after FROM and WHERE, before GROUP BY, ORDER BY and LIMIT, "
                "once per query"
            )
        return i + 2

    def _using_scope(self, i: int, nxt: str | None) -> int:
        """Check USING SCOPE <scope> and its place (right after FROM <Object>), then drop it."""
        scope_tok = self._peek(i + 2)
        scope = scope_tok.text if scope_tok is not None and scope_tok.kind == "ident" else None
        known = ", ".join(USING_SCOPES.values())
        if nxt != "SCOPE" or scope is None:
            raise SoqlValidationError(f"write USING SCOPE followed by a scope, one of: {known}")
        if scope.lower() not in USING_SCOPES:
            hint = _did_you_mean(scope, USING_SCOPES.values())
            raise SoqlValidationError(
                f"`{_short(scope)}` is not a scope for USING SCOPE{hint} (scopes: {known})"
            )
        words = [self._peek_word(j) if j >= 0 else None for j in (i - 3, i - 2, i - 1)]
        follows_from = words[2] is not None and "FROM" in (words[0], words[1])
        if words[1] != "FROM" and words[2] in _KEYWORDS:
            follows_from = False
        if not follows_from or not self._followed_by_clause(i + 3, _AFTER_USING):
            raise SoqlValidationError(
                "USING SCOPE goes right after FROM <Object>, once, e.g. "
                "SELECT Name FROM Account USING SCOPE mine WHERE ..."
            )
        return i + 3

    def _after_from(self, i: int) -> bool:
        """Whether a FROM comes before token ``i`` at the same parenthesis level."""
        depth = 0
        for j in range(i - 1, -1, -1):
            text = self.tokens[j].text
            if text == ")":
                depth += 1
            elif text == "(":
                if depth == 0:
                    return False
                depth -= 1
            elif depth == 0 and self.tokens[j].kind == "ident" and text.upper() == "FROM":
                return True
        return False

    def _function(self, i: int, text: str, upper: str) -> int:
        if upper not in _FUNCTIONS:
            suggestion = _did_you_mean(upper, sorted(_FUNCTIONS))
            raise SoqlValidationError(
                f"`{text}()` is not a SOQL function{suggestion} (SOQL has COUNT, "
                "COUNT_DISTINCT, SUM, AVG, MIN, MAX and date functions such as "
                "CALENDAR_YEAR)"
            )
        if upper == "FIELDS":
            arg = self._peek_word(i + 2)
            close = self._peek(i + 3)
            if arg not in _FIELDS_ARGS or close is None or close.text != ")":
                raise SoqlValidationError("write FIELDS(ALL), FIELDS(STANDARD) or FIELDS(CUSTOM)")
            self.out.append(f"{_FN_PREFIX}FIELDS ( '{arg}' )")
            return i + 4
        self.out.append(f"{_FN_PREFIX}{upper}")
        return i + 1

    def _date_n_literal(self, text: str) -> None:
        name, _, arg = text.partition(":")
        upper = name.upper()
        if upper in _DATE_N_LITERALS:
            if not arg.isdigit():
                raise SoqlValidationError(
                    f"the date literal {upper} needs a whole number, e.g. {upper}:30"
                )
            self._placeholder("date_literal", text, f"{upper}:{arg}")
            return
        if arg and not arg[0].isdigit():
            raise SoqlValidationError(
                f"bind variables such as `:{arg}` are not supported; write the value itself"
            )
        suggestion = _did_you_mean(upper, sorted(_DATE_N_LITERALS))
        raise SoqlValidationError(f"unknown date literal `{text}`{suggestion}")
