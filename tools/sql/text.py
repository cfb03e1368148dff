"""Checks and helpers on the SQL text: before parsing, and for the messages a model reads.

:func:`clean_sql` (markdown fences, trailing semicolons), dialect names, "did you mean"
suggestions, sqlglot error messages rewritten for a model, and the checks on the raw text and
its tokens: size, invisible characters, comments that hide statements, look-alike letters,
nesting depth and other dialects' functions.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence

import sqlglot
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.tokens import Token, TokenType

from tools.sql.results import SqlValidationError

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
