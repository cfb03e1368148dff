"""A llama.cpp GBNF grammar of the SELECTs a model may write over one live schema.

:func:`select_grammar` turns the tables, columns and foreign keys read from the database
(see :meth:`tools.sql.SqlDatabase.tables` and :meth:`tools.sql.SqlDatabase.foreign_keys`)
into a grammar that only admits a single ``SELECT``:

* over **one table**: every column it names (bare or ``table.column``) is a column of
  that table, in the select list as in WHERE, GROUP BY, HAVING and ORDER BY. The select
  list comes before FROM, so llama.cpp keeps one branch per table alive until the columns
  written so far rule the others out;
* over **joined tables**: each ``JOIN ... ON`` follows a foreign key of the schema, and
  every column is written ``table.column`` with a column of that table.

With ``values`` (the values that low-cardinality text columns hold, read from the live
database) the grammar is **value-grounded**: a string compared with ``=``, ``!=`` or ``IN``
to such a column can only be one of its values, so the model chooses a value the column
holds and cannot invent one (``status = 'cancellation'``). ``LIKE`` and ``IS NULL`` stay
free on every column.

Tables are named in full (no aliases); there are no subqueries, CTEs or set operations,
so that constrained decoding stays fast. What the grammar lets through is still checked
by :meth:`tools.sql.SqlDatabase.validate` (a joined query may name a table it did not
join, for example).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["DECLINE", "select_grammar"]

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# One query shape, instantiated per scope: `@` becomes the scope's suffix, and `col@` is
# the rule of the columns that scope may name.
_SCOPE_RULES = r"""
select-list@ ::= "*" | select-item@ (", " select-item@){0,7}
select-item@ ::= expr@ (" AS " alias)?
clauses@ ::= where@? group@? having@? order@? limit?
where@ ::= " WHERE " condition@ ((" AND " | " OR ") condition@){0,4}
condition@ ::= GROUNDED cexpr@ " " compare " " cexpr@ |
  expr@ " IS " "NOT "? "NULL" |
  expr@ " NOT"? " LIKE " string |
  cexpr@ " NOT"? " IN (" value (", " value){0,9} ")" |
  cexpr@ " NOT"? " IN (" subquery ")" |
  cexpr@ " " compare " (" subquery ")" |
  cexpr@ " BETWEEN " value " AND " value
group@ ::= " GROUP BY " expr@ (", " expr@){0,3}
having@ ::= " HAVING " expr@ " " compare " " expr@
order@ ::= " ORDER BY " order-key@ (", " order-key@){0,3}
order-key@ ::= (expr@ | alias) (" ASC" | " DESC")?
expr@ ::= term@ ((" + " | " - " | " * " | " / ") term@){0,3}
term@ ::= col@ | aggregate@ | function@ | value | "(" expr@ ")"
cexpr@ ::= cterm@ ((" + " | " - " | " * " | " / ") cterm@){0,3}
cterm@ ::= CTERMS aggregate@ | value | "(" cexpr@ ")"
aggregate@ ::= "COUNT(*)" | "COUNT(DISTINCT " col@ ")" |
  ("COUNT" | "SUM" | "AVG" | "MIN" | "MAX") "(" expr@ ")"
"""

_FUNCTIONS = {
    "sqlite": (
        'function@ ::= "strftime(\'" date-format "\', " col@ ")" | "date(" col@ ")" |\n'
        '  "ROUND(" expr@ ", " [0-9] ")" | "LOWER(" col@ ")" | "UPPER(" col@ ")"'
    ),
    "postgres": (
        'function@ ::= "EXTRACT(" ("YEAR" | "MONTH" | "DAY") " FROM " col@ ")" |\n'
        '  "ROUND(" expr@ ", " [0-9] ")" | "LOWER(" col@ ")" | "UPPER(" col@ ")"'
    ),
}

_SHARED_RULES = r"""
distinct ::= "DISTINCT "
alias ::= [a-z] [a-z_]{0,15}
compare ::= "=" | "!=" | "<" | "<=" | ">" | ">="
limit ::= " LIMIT " [1-9] [0-9]{0,3}
value ::= number | string
number ::= "-"? [0-9]{1,12} ("." [0-9]{1,6})?
string ::= "'" [^'\n\\]{0,60} "'"
date-format ::= "%Y" | "%m" | "%Y-%m" | "%Y-%m-%d" | "%d"
"""

ForeignKey = tuple[str, str, str, str]
"""``(table, column, referenced_table, referenced_column)``."""

ValueSets = Mapping[tuple[str, str], Sequence[str]]
"""``(table, column) -> the values it holds``: the columns whose comparisons are grounded."""

DECLINE = "CANNOT ANSWER FROM THIS DATABASE"
"""What the SQL specialist writes instead of a query when the database holds nothing the
question asks about (the grammar allows it next to a SELECT)."""

MAX_GROUNDED_VALUES = 50
"""A column with more values than this is not grounded (its comparisons stay free)."""


def _literal(text: str) -> str:
    """A GBNF string literal that matches ``text`` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def _name(name: str) -> str:
    """How SQL writes ``name``: bare when it is a plain identifier, else double-quoted."""
    return name if _PLAIN_NAME.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def _alternatives(texts: Iterable[str]) -> str:
    # Longest first, so that a name that prefixes another is not preferred by accident.
    unique = sorted(set(texts), key=lambda text: (-len(text), text))
    return " | ".join(_literal(text) for text in unique)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _scope(
    suffix: str, dialect: str, grounded: Sequence[tuple[str, str]], has_free_columns: bool
) -> str:
    """One scope's rules; ``grounded`` holds ``(column reference rule, values rule)`` pairs.

    A condition's plain comparisons (``cexpr@``) name only the scope's free columns
    (``ccol@``): a grounded column is compared only through its own rule, against its values.
    """
    rules = _SCOPE_RULES.strip() + "\n" + _FUNCTIONS[dialect]
    if has_free_columns:
        free_function = (
            _FUNCTIONS[dialect].replace("function@", "cfunction@").replace("col@", "ccol@")
        )
        rules += "\n" + free_function
    options = [
        f'{column} (" = " | " != ") {values} | '
        f'{column} " NOT"? " IN (" {values} (", " {values}){{0,9}} ")"'
        for column, values in grounded
    ]
    rules = rules.replace("@", suffix)
    free_terms = f"ccol{suffix} | cfunction{suffix} | " if has_free_columns else ""
    rules = rules.replace("CTERMS ", free_terms)
    return rules.replace("GROUNDED ", "".join(f"{option} |\n  " for option in options))


def select_grammar(
    tables: Mapping[str, Sequence[str]],
    dialect: str = "sqlite",
    foreign_keys: Iterable[ForeignKey] = (),
    values: ValueSets | None = None,
    decline: bool = True,
) -> str:
    """Return the GBNF grammar of one SELECT over ``tables``.

    Args:
        tables: Table name -> column names, as read from the live database.
        dialect: ``"sqlite"`` or ``"postgres"``: which date functions the grammar offers.
        foreign_keys: The schema's foreign keys; each gives the two JOINs it allows.
            Without any, only single-table queries can be written.
        values: ``(table, column) -> values`` of the low-cardinality text columns; a
            string compared with such a column must be one of them. Columns with no
            values or more than :data:`MAX_GROUNDED_VALUES` are left free.
        decline: Whether :data:`DECLINE` may be written instead of a SELECT.

    Returns:
        The grammar text, with ``root`` as its start rule: one SELECT, or :data:`DECLINE`.

    Raises:
        ValueError: ``tables`` is empty, a table has no columns, a foreign key names an
            unknown table, or the dialect is unknown.
    """
    key = tuple((table, tuple(columns)) for table, columns in tables.items())
    grounded = tuple(
        sorted(
            (table, column, tuple(sorted(set(texts))))
            for (table, column), texts in (values or {}).items()
            if 0 < len(set(texts)) <= MAX_GROUNDED_VALUES
        )
    )
    return _select_grammar(key, dialect, tuple(foreign_keys), grounded, decline)


@functools.lru_cache(maxsize=16)
def _select_grammar(
    tables: tuple[tuple[str, tuple[str, ...]], ...],
    dialect: str,
    foreign_keys: tuple[ForeignKey, ...],
    grounded: tuple[tuple[str, str, tuple[str, ...]], ...] = (),
    decline: bool = True,
) -> str:
    if dialect not in _FUNCTIONS:
        raise ValueError(f"no SQL grammar for dialect {dialect!r}: use sqlite or postgres")
    if not tables:
        raise ValueError("cannot build a SQL grammar: the database has no tables")
    names = {table for table, _ in tables}
    rules: list[str] = [_SHARED_RULES.strip()]
    branches: list[str] = []
    qualified: list[str] = []
    free_qualified: list[str] = []
    grounded_joined: list[tuple[str, str]] = []
    held = {(table, column): texts for table, column, texts in grounded}
    for index, (table, columns) in enumerate(tables):
        if not columns:
            raise ValueError(f"cannot build a SQL grammar: table {table!r} has no columns")
        suffix = f"-t{index}"
        prefix = _literal(_name(table) + ".")
        free = [column for column in columns if (table, column) not in held]
        scope_grounded: list[tuple[str, str]] = []
        for number, column in enumerate(c for c in columns if (table, c) in held):
            values_rule = f"values{suffix}-{number}"
            rules.append(
                f"{values_rule} ::= {_alternatives(_sql_string(v) for v in held[table, column])}"
            )
            bare = _literal(_name(column))
            scope_grounded.append((f"{prefix}? {bare}", values_rule))
            grounded_joined.append((f"{prefix} {bare}", values_rule))
        rules.append(f"columns{suffix} ::= {_alternatives(_name(column) for column in columns)}")
        rules.append(f"col{suffix} ::= {prefix}? columns{suffix}")
        if free:
            rules.append(f"free{suffix} ::= {_alternatives(_name(column) for column in free)}")
            rules.append(f"ccol{suffix} ::= {prefix}? free{suffix}")
            free_qualified.append(f"{prefix} free{suffix}")
        rules.append(_scope(suffix, dialect, scope_grounded, bool(free)))
        branches.append(
            f'"SELECT " distinct? select-list{suffix} " FROM " '
            f"{_literal(_name(table))} clauses{suffix}"
        )
        qualified.append(f"{prefix} columns{suffix}")
    joins: list[str] = []
    for table, column, ref_table, ref_column in foreign_keys:
        if table not in names or ref_table not in names:
            raise ValueError(f"foreign key {table}.{column} -> {ref_table} names an unknown table")
        left = f"{_name(table)}.{_name(column)}"
        right = f"{_name(ref_table)}.{_name(ref_column)}"
        joins.append(f" JOIN {_name(table)} ON {left} = {right}")
        joins.append(f" JOIN {_name(ref_table)} ON {right} = {left}")
    if joins:
        rules.append(f"col-j ::= {' | '.join(qualified)}")
        if free_qualified:
            rules.append(f"ccol-j ::= {' | '.join(free_qualified)}")
        rules.append(_scope("-j", dialect, grounded_joined, bool(free_qualified)))
        rules.append(f"join ::= {_alternatives(joins)}")
        rules.append(f"from-table ::= {_alternatives(_name(table) for table, _ in tables)}")
        branches.append('"SELECT " distinct? select-list-j " FROM " from-table join{1,3} clauses-j')
    # A subquery (in IN (…) or compared with a column) is one SELECT over one table.
    rules.append("subquery ::= " + " |\n  ".join(branches[: len(tables)]))
    alternative = " | " + _literal(DECLINE) if decline else ""
    rules.insert(0, "root ::= (" + " |\n  ".join(branches) + ') ";"?' + alternative)
    return "\n".join(rules) + "\n"
