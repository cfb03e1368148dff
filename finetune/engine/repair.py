"""Repair episodes: a plausible wrong query, the validator's real error for it, then the gold.

At serving time a rejected query goes back to the SQL specialist with the validator's
message (:func:`specialists.base.repair_loop`). A specialist that has only ever seen first
attempts meets that turn cold; these episodes teach it in the weights. Each one is built
from a composed example whose target is right:

* ``column``: a column the target uses, renamed as a model tends to misremember it
  (``name`` -> ``customer_name``, ``unit_price`` -> ``price``, a plural);
* ``table``: a table named in the other number (``customers`` -> ``customer``);
* ``value``: a text value of a grounded column written otherwise (lower case, a letter
  dropped), which the value check refuses with the values the column holds.

The wrong query is checked exactly as served (:meth:`tools.sql.SqlDatabase.validate`, then
:func:`specialists.sql.value_problem`); a corruption that the checks accept is dropped
and counted, so every episode's error is the one the runtime would really send.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from specialists.sql import value_problem
from tools.sql import SqlDatabase, SqlValidationError
from tools.sql_grammar import DECLINE

KINDS = ("column", "table", "value")
"""The corruptions, drawn in turn."""

_COLUMN_WORDS = {
    "unit_price": ("price", "unitprice"),
    "order_date": ("date", "orderdate", "ordered_on"),
    "created_on": ("created", "created_at", "signup_date"),
    "hired_on": ("hire_date", "hired"),
    "quantity": ("qty", "amount"),
    "name": ("{table}_name", "title"),
}
"""How a model misremembers some column names (beyond the plural and the table prefix)."""


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _other_number(word: str) -> str:
    if word.endswith("s") and not word.endswith("ss"):
        return _singular(word)
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _wrong_columns(column: str, table: str) -> list[str]:
    singular = _singular(table)
    made = [form.format(table=singular) for form in _COLUMN_WORDS.get(column, ())]
    made += [_other_number(column), f"{singular}_{column}"]
    return made


def _misspelt(value: str, rng: random.Random) -> str:
    if len(value) >= 5 and rng.random() < 0.5:
        cut = rng.randrange(1, len(value) - 1)
        return value[:cut] + value[cut + 1 :]
    return value.lower() if value != value.lower() else value.upper()


def _corrupt(
    target: str, kind: str, rng: random.Random, columns: dict[str, list[str]]
) -> str | None:
    try:
        tree = sqlglot.parse_one(target, read="sqlite")
    except sqlglot.errors.ParseError:
        return None
    if kind == "table":
        tables = [node for node in tree.find_all(exp.Table) if node.name in columns]
        if not tables:
            return None
        table = rng.choice(tables)
        wrong = _other_number(table.name)
        if wrong in columns:
            return None
        table.set("this", exp.to_identifier(wrong))
        return tree.sql(dialect="sqlite")
    if kind == "column":
        found = [node for node in tree.find_all(exp.Column) if node.name]
        if not found:
            return None
        chosen = rng.choice(found)
        aliases = {
            (node.alias or node.name): node.name
            for node in tree.find_all(exp.Table)
            if node.name in columns
        }
        named = aliases.get(chosen.table) if chosen.table else None
        in_query = [t for t in dict.fromkeys(aliases.values()) if chosen.name in columns[t]]
        owners = [named] if named else in_query
        if not owners or owners[0] is None:
            return None
        every = {name for names in columns.values() for name in names}
        options = [w for w in _wrong_columns(chosen.name, owners[0]) if w not in every]
        if not options:
            return None
        chosen.set("this", exp.to_identifier(rng.choice(options)))
        return tree.sql(dialect="sqlite")
    strings = [node for node in tree.find_all(exp.Literal) if node.is_string and node.this]
    if not strings:
        return None
    literal = rng.choice(strings)
    wrong = _misspelt(str(literal.this), rng)
    if wrong == literal.this:
        return None
    literal.set("this", wrong)
    return tree.sql(dialect="sqlite")


def rejection(database: SqlDatabase, sql: str) -> str | None:
    """The error the runtime sends back for ``sql``, or None when the checks accept it."""
    try:
        checked = database.validate(sql, read_dialect="sqlite")
    except SqlValidationError as exc:
        return exc.message
    return value_problem(database, checked, database.dialect)


def repair_records(
    database: SqlDatabase,
    records: Sequence[dict[str, Any]],
    rng: random.Random,
    count: int,
    *,
    prefix: str = "sql-repair",
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """Up to ``count`` repair episodes from ``records`` (composed, right targets).

    Each episode is a record of the SQL dataset's fields with ``repair``: ``{"wrong",
    "error", "kind"}``; its ``target`` is the source record's gold. Returns the episodes
    and the corruptions dropped by reason.
    """
    columns = {name: [c.name for c in cols] for name, cols in database.tables().items()}
    sources = [r for r in records if r.get("target") and r["target"] != DECLINE]
    drops: Counter[str] = Counter()
    episodes: list[dict[str, Any]] = []
    if not sources:
        return episodes, drops
    order = list(range(len(sources)))
    rng.shuffle(order)
    tries = 0
    while len(episodes) < count and tries < count * 6:
        source = sources[order[tries % len(order)]]
        kind = KINDS[tries % len(KINDS)]
        tries += 1
        wrong = _corrupt(source["target"], kind, rng, columns)
        if wrong is None:
            drops[f"{kind}: nothing to corrupt"] += 1
            continue
        error = rejection(database, wrong)
        if error is None:
            drops[f"{kind}: the checks accept it"] += 1
            continue
        episodes.append(
            {
                **source,
                "id": f"{prefix}-{len(episodes):05d}",
                "family": "repair",
                "repair": {"wrong": wrong, "error": error, "kind": kind},
            }
        )
        if progress is not None:
            progress(len(episodes))
    return episodes, drops
