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

Tables are named in full (no aliases); there are no subqueries, CTEs or set operations,
so that constrained decoding stays fast. What the grammar lets through is still checked
by :meth:`tools.sql.SqlDatabase.validate` (a joined query may name a table it did not
join, for example).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["select_grammar"]

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# One query shape, instantiated per scope: `@` becomes the scope's suffix, and `col@` is
# the rule of the columns that scope may name.
_SCOPE_RULES = r"""
select-list@ ::= "*" | select-item@ (", " select-item@){0,7}
select-item@ ::= expr@ (" AS " alias)?
clauses@ ::= where@? group@? having@? order@? limit?
where@ ::= " WHERE " condition@ ((" AND " | " OR ") condition@){0,4}
condition@ ::= expr@ " " compare " " expr@ |
  expr@ " IS " "NOT "? "NULL" |
  expr@ " NOT"? " LIKE " string |
  expr@ " NOT"? " IN (" value (", " value){0,9} ")" |
  expr@ " BETWEEN " value " AND " value
group@ ::= " GROUP BY " expr@ (", " expr@){0,3}
having@ ::= " HAVING " expr@ " " compare " " expr@
order@ ::= " ORDER BY " order-key@ (", " order-key@){0,3}
order-key@ ::= (expr@ | alias) (" ASC" | " DESC")?
expr@ ::= term@ ((" + " | " - " | " * " | " / ") term@){0,3}
term@ ::= col@ | aggregate@ | function@ | value | "(" expr@ ")"
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


def _literal(text: str) -> str:
    """A GBNF string literal that matches ``text`` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _name(name: str) -> str:
    """How SQL writes ``name``: bare when it is a plain identifier, else double-quoted."""
    return name if _PLAIN_NAME.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def _alternatives(texts: Iterable[str]) -> str:
    # Longest first, so that a name that prefixes another is not preferred by accident.
    unique = sorted(set(texts), key=lambda text: (-len(text), text))
    return " | ".join(_literal(text) for text in unique)


def _scope(suffix: str, dialect: str) -> str:
    rules = _SCOPE_RULES.strip() + "\n" + _FUNCTIONS[dialect]
    return rules.replace("@", suffix)


def select_grammar(
    tables: Mapping[str, Sequence[str]],
    dialect: str = "sqlite",
    foreign_keys: Iterable[ForeignKey] = (),
) -> str:
    """Return the GBNF grammar of one SELECT over ``tables``.

    Args:
        tables: Table name -> column names, as read from the live database.
        dialect: ``"sqlite"`` or ``"postgres"``: which date functions the grammar offers.
        foreign_keys: The schema's foreign keys; each gives the two JOINs it allows.
            Without any, only single-table queries can be written.

    Returns:
        The grammar text, with ``root`` as its start rule.

    Raises:
        ValueError: ``tables`` is empty, a table has no columns, a foreign key names an
            unknown table, or the dialect is unknown.
    """
    key = tuple((table, tuple(columns)) for table, columns in tables.items())
    return _select_grammar(key, dialect, tuple(foreign_keys))


@functools.lru_cache(maxsize=16)
def _select_grammar(
    tables: tuple[tuple[str, tuple[str, ...]], ...],
    dialect: str,
    foreign_keys: tuple[ForeignKey, ...],
) -> str:
    if dialect not in _FUNCTIONS:
        raise ValueError(f"no SQL grammar for dialect {dialect!r}: use sqlite or postgres")
    if not tables:
        raise ValueError("cannot build a SQL grammar: the database has no tables")
    names = {table for table, _ in tables}
    rules: list[str] = [_SHARED_RULES.strip()]
    branches: list[str] = []
    qualified: list[str] = []
    for index, (table, columns) in enumerate(tables):
        if not columns:
            raise ValueError(f"cannot build a SQL grammar: table {table!r} has no columns")
        suffix = f"-t{index}"
        prefix = _literal(_name(table) + ".")
        rules.append(f"columns{suffix} ::= {_alternatives(_name(column) for column in columns)}")
        rules.append(f"col{suffix} ::= {prefix}? columns{suffix}")
        rules.append(_scope(suffix, dialect))
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
        rules.append(_scope("-j", dialect))
        rules.append(f"join ::= {_alternatives(joins)}")
        rules.append(f"from-table ::= {_alternatives(_name(table) for table, _ in tables)}")
        branches.append('"SELECT " distinct? select-list-j " FROM " from-table join{1,3} clauses-j')
    rules.insert(0, "root ::= (" + " |\n  ".join(branches) + ') ";"?')
    return "\n".join(rules) + "\n"
