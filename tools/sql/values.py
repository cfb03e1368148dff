"""The value check: a string compared with a low-cardinality text column must be a value it holds.

:func:`unknown_value` finds, in a query, a comparison (``=``, ``!=``, ``<>``, ``IN``,
``NOT IN``) of a column whose values are known (see :meth:`SqlDatabase.text_values`) with a
string the column does not hold, such as ``status = 'cancellation'`` where the column holds
``cancelled``. Such a query is valid SQL and runs, but answers a question nobody asked (an
empty result, a zero count); the message names the values the column does hold, so that a
repair can choose one. Where the grammar is value-grounded such a query cannot be written at
all; this check is what holds the same line for a model decoded freely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.qualify import qualify

ValueSets = Mapping[tuple[str, str], Sequence[str]]
"""``(table, column) -> the values it holds``."""

_SHOWN = 20
"""Most of a column's values listed in a message."""


def _columns_and_strings(node: exp.Expr) -> tuple[exp.Column, list[exp.Literal]] | None:
    """The column and the string literals of an equality, inequality or IN test."""
    if isinstance(node, exp.In):
        column, options = node.this, node.expressions
    elif isinstance(node, (exp.EQ, exp.NEQ)):
        left, right = node.left, node.right
        column, options = (left, [right]) if isinstance(left, exp.Column) else (right, [left])
    else:
        return None
    if not isinstance(column, exp.Column) or not options:
        return None
    strings = [o for o in options if isinstance(o, exp.Literal) and o.is_string]
    return (column, strings) if strings else None


def _table_of(column: exp.Column, aliases: dict[str, str]) -> str | None:
    qualifier = column.table
    return aliases.get(qualifier.lower(), qualifier) if qualifier else None


def unknown_value(
    sql: str,
    *,
    dialect: str,
    tables: Mapping[str, Sequence[str]],
    values: ValueSets,
) -> str | None:
    """A message for the first string compared with a column that never holds it, else None.

    Args:
        sql: A query that has passed :meth:`SqlDatabase.validate`.
        dialect: The sqlglot dialect it is written in.
        tables: Table name -> column names, to resolve unqualified columns.
        values: The values of the columns to check; other columns are not checked.

    Returns:
        ``None`` when every such comparison uses a held value, or when the query cannot be
        parsed here (the validator has the last word on syntax).
    """
    if not values:
        return None
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
        schema: dict[str, object] = {
            table: {column: "TEXT" for column in columns} for table, columns in tables.items()
        }
        tree = qualify(tree, dialect=dialect, schema=schema, validate_qualify_columns=False)
    except (ParseError, TokenError, ValueError, KeyError):
        return None
    except Exception:  # noqa: BLE001 - a tree sqlglot cannot qualify is left to the validator
        return None
    lowered = {(t.lower(), c.lower()): (t, c, list(v)) for (t, c), v in values.items()}
    aliases = {table.alias_or_name.lower(): table.name for table in tree.find_all(exp.Table)}
    for node in tree.walk():
        found = _columns_and_strings(node)
        if found is None:
            continue
        column, strings = found
        table = _table_of(column, aliases)
        if table is None:
            continue
        key = (table.lower(), column.name.lower())
        if key not in lowered:
            continue
        table_name, column_name, held = lowered[key]
        for literal in strings:
            text = literal.this
            if text in held:
                continue
            return _message(table_name, column_name, text, held)
    return None


def _message(table: str, column: str, text: str, held: list[str]) -> str:
    near = [value for value in held if value.lower() == text.strip().lower()]
    listed = ", ".join(f"'{value}'" for value in held[:_SHOWN])
    more = f" and {len(held) - _SHOWN} more" if len(held) > _SHOWN else ""
    hint = f"; the value is written '{near[0]}'" if near else ""
    return (
        f"{table}.{column} never holds the value given in the query{hint}; "
        f"its values are {listed}{more}"
    )
