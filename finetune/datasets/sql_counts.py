"""SQL families that count rows: filtered counts and lists, grouped counts, orders over time."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

from finetune.datasets.common import _Add, _lit, _or_list, _Slot, _thresholds
from finetune.datasets.sql_domain import (
    _CUSTOMER_FILTER_KINDS,
    _MONTHS,
    _QUARTERS,
    _SQL_DIMS,
    _SQL_FILTERS,
    _SQL_NOUNS,
    _SqlDomain,
    _SqlFilter,
)


def _sql_count_families(
    add: _Add,
    d: _SqlDomain,
    rng: random.Random,
    filters: Sequence[_SqlFilter],
    customer_filters: Sequence[_SqlFilter],
) -> None:
    """Counts and lists of rows: all, by one value, by two values, by a list of values."""
    add(
        "count_rows",
        (
            "How many {noun} are there?",
            "Count the {noun}.",
            "What is the total number of {noun}?",
            "Could you tell me how many {noun} we have?",
            "Give me the number of {noun} in the database.",
        ),
        (
            _Slot({"noun": noun}, (f"table={table}",), f"SELECT COUNT(*) FROM {table}")
            for table, noun in _SQL_NOUNS.items()
        ),
    )
    add(
        "count_filtered",
        (
            "How many {np} are there?",
            "Count the {np}.",
            "What is the number of {np}?",
            "Please tell me how many {np} we have.",
            "How many of our {noun} are {where}?",
        ),
        (
            _Slot(
                {"np": f"{_SQL_NOUNS[table]} {where}", "noun": _SQL_NOUNS[table], "where": where},
                (f"{kind}={value}",),
                f"SELECT COUNT(*) FROM {table} WHERE {col} = {_lit(value)}",
            )
            for kind, table, col, where, value in filters
        ),
    )
    add(
        "list_filtered",
        (
            "List the names of the {np}.",
            "Which {noun} are {where}?",
            "Show me all {np}.",
            "Can you give me the names of the {np}?",
            "I need a list of the {np}.",
        ),
        (
            _Slot(
                {"np": f"{_SQL_NOUNS[table]} {where}", "noun": _SQL_NOUNS[table], "where": where},
                (f"{kind}={value}",),
                f"SELECT name FROM {table} WHERE {col} = {_lit(value)}",
            )
            for kind, table, col, where, value in filters
            if table != "orders"
        ),
    )

    pairs = [
        (first, second)
        for first in customer_filters
        for second in customer_filters
        if _CUSTOMER_FILTER_KINDS.index(first[0]) < _CUSTOMER_FILTER_KINDS.index(second[0])
    ]
    add(
        "list_two_filters",
        (
            "List the names of the customers {where}.",
            "Which customers are {where}?",
            "Show me the customers {where}.",
            "Find all customers {where}.",
        ),
        (
            _Slot(
                {"where": f"{a[3]} and {b[3]}"},
                (f"{a[0]}={a[4]}", f"{b[0]}={b[4]}"),
                f"SELECT name FROM customers WHERE {a[2]} = {_lit(a[4])} AND {b[2]} = {_lit(b[4])}",
            )
            for a, b in pairs
        ),
    )

    in_slots: list[_Slot] = []
    for kind, table, col, _, where_many in _SQL_FILTERS:
        values = d.values[kind]
        combos = [(a, b) for i, a in enumerate(values) for b in values[i + 1 :]]
        combos_three = [
            (a, b, c)
            for i, a in enumerate(values)
            for j, b in enumerate(values[i + 1 :], start=i + 1)
            for c in values[j + 1 :]
        ]
        chosen: list[tuple[str, ...]] = list(combos)
        if len(chosen) > 30:
            chosen = rng.sample(chosen, 30)
        if combos_three:
            chosen += rng.sample(combos_three, min(10, len(combos_three)))
        for combo in chosen:
            picked = list(combo)
            rng.shuffle(picked)
            noun = _SQL_NOUNS[table]
            in_slots.append(
                _Slot(
                    {"noun": noun, "where": where_many.format(v=_or_list(picked))},
                    tuple(f"{kind}={value}" for value in picked),
                    f"SELECT COUNT(*) FROM {table} WHERE {col} IN "
                    f"({', '.join(_lit(value) for value in picked)})",
                )
            )
    add(
        "count_in_list",
        (
            "How many {noun} are {where}?",
            "Count the {noun} {where}.",
            "What is the combined number of {noun} {where}?",
            "Tell me how many {noun} are {where}.",
        ),
        in_slots,
    )


def _sql_group_families(add: _Add, d: _SqlDomain, customer_filters: Sequence[_SqlFilter]) -> None:
    """Row counts per group: plain, filtered, the top group, ranked, over a threshold."""
    add(
        "group_count",
        (
            "How many {noun} are there per {dim}?",
            "Count the {noun} by {dim}.",
            "Give me the number of {noun} in each {dim}.",
            "What is the breakdown of {noun} by {dim}?",
            "Show the {noun} count for every {dim}.",
        ),
        (
            _Slot(
                {"noun": _SQL_NOUNS[table], "dim": dim},
                (f"group={table}.{col}",),
                f"SELECT {col}, COUNT(*) FROM {table} GROUP BY {col}",
            )
            for dim, _, table, col in _SQL_DIMS
        ),
    )

    grouped_filtered: list[_Slot] = []
    for dim, _, table, col in _SQL_DIMS:
        if table != "customers":
            continue
        for kind, _, fcol, where, value in customer_filters:
            if fcol == col:
                continue
            grouped_filtered.append(
                _Slot(
                    {"np": f"customers {where}", "dim": dim},
                    (f"{kind}={value}",),
                    f"SELECT {col}, COUNT(*) FROM customers WHERE {fcol} = {_lit(value)} "
                    f"GROUP BY {col}",
                )
            )
    for year in d.years:
        grouped_filtered.append(
            _Slot(
                {"np": f"orders placed in {year}", "dim": "status"},
                (f"year={year}",),
                f"SELECT status, COUNT(*) FROM orders WHERE strftime('%Y', order_date) = "
                f"{_lit(year)} GROUP BY status",
            )
        )
    add(
        "group_count_filtered",
        (
            "How many {np} are there per {dim}?",
            "Count the {np} by {dim}.",
            "Break down the {np} by {dim}.",
            "For the {np}, give me the number per {dim}.",
        ),
        grouped_filtered,
    )

    top_group: list[_Slot] = []
    for dim, _, table, col in _SQL_DIMS:
        scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())]
        if table == "customers":
            scopes += [
                (f" {where}", f" WHERE {fcol} = {_lit(value)}", (f"{kind}={value}",))
                for kind, _, fcol, where, value in customer_filters
                if fcol != col
            ]
        for where, clause, entity in scopes:
            for most, order in (("most", "DESC"), ("fewest", "ASC")):
                top_group.append(
                    _Slot(
                        {"dim": dim, "most": most, "noun": _SQL_NOUNS[table], "where": where},
                        entity,
                        f"SELECT {col}, COUNT(*) FROM {table}{clause} GROUP BY {col} "
                        f"ORDER BY COUNT(*) {order} LIMIT 1",
                    )
                )
    add(
        "top_group",
        (
            "Which {dim} has the {most} {noun}{where}?",
            "What is the {dim} with the {most} {noun}{where}?",
            "Find the {dim} that has the {most} {noun}{where}.",
            "Tell me which {dim} has the {most} {noun}{where}.",
        ),
        top_group,
    )
    add(
        "ranked_groups",
        (
            "Rank the {dims} by number of {noun}.",
            "List the {dims} ordered by how many {noun} they have, most first.",
            "Sort the {dims} by their {noun} count, highest first.",
            "Which {dims} have the most {noun}? Show all of them in order.",
        ),
        (
            _Slot(
                {"dims": dims, "noun": _SQL_NOUNS[table]},
                (f"group={table}.{col}",),
                f"SELECT {col}, COUNT(*) FROM {table} GROUP BY {col} ORDER BY COUNT(*) DESC",
            )
            for _, dims, table, col in _SQL_DIMS
        ),
    )
    add(
        "having_count",
        (
            "Which {dims} have more than {n} {noun}?",
            "List the {dims} with over {n} {noun}.",
            "Show every {dim} that has more than {n} {noun}, with the count.",
            "In which {dims} do we have more than {n} {noun}?",
        ),
        (
            _Slot(
                {"dim": dim, "dims": dims, "n": str(n), "noun": _SQL_NOUNS[table]},
                (f"group={table}.{col}",),
                f"SELECT {col}, COUNT(*) FROM {table} GROUP BY {col} HAVING COUNT(*) > {n}",
            )
            for dim, dims, table, col in _SQL_DIMS
            for n in _thresholds(d.group_sizes[(table, col)])
        ),
    )


def _sql_order_date_families(add: _Add, d: _SqlDomain) -> None:
    """Orders counted in a year, per period and in a date range."""
    status_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" marked as {value}", f"status = {_lit(value)} AND ", (f"order_status={value}",))
        for value in d.values["order_status"]
    ]
    add(
        "orders_in_year",
        (
            "How many orders{status} were placed in {year}?",
            "Count the orders{status} from {year}.",
            "What is the number of orders{status} placed in {year}?",
            "How many {year} orders{status} do we have?",
            "Give me the count of orders{status} in {year}.",
        ),
        (
            _Slot(
                {"status": where, "year": year},
                (*entity, f"year={year}"),
                f"SELECT COUNT(*) FROM orders WHERE {clause}strftime('%Y', order_date) = "
                f"{_lit(year)}",
            )
            for where, clause, entity in status_scopes
            for year in d.years
        ),
    )

    periods: list[_Slot] = [
        _Slot(
            {"per": "per year", "noun": "orders"},
            (),
            "SELECT strftime('%Y', order_date) AS year, COUNT(*) FROM orders "
            "GROUP BY strftime('%Y', order_date)",
        )
    ]
    for year in d.years:
        for where, clause, entity in status_scopes:
            periods.append(
                _Slot(
                    {"per": f"per month in {year}", "noun": "orders" + where},
                    (*entity, f"year={year}"),
                    f"SELECT strftime('%m', order_date) AS month, COUNT(*) FROM orders WHERE "
                    f"{clause}strftime('%Y', order_date) = {_lit(year)} "
                    "GROUP BY strftime('%m', order_date)",
                )
            )
    add(
        "orders_by_period",
        (
            "How many {noun} were placed {per}?",
            "Show the number of {noun} {per}.",
            "Count the {noun} {per}.",
            "Give me the volume of {noun} {per}.",
        ),
        periods,
    )

    ranges: list[_Slot] = []
    for year in d.years:
        for ordinal, first, last in _QUARTERS:
            ranges.append(
                _Slot(
                    {"period": f"in the {ordinal} quarter of {year}"},
                    (f"year={year}",),
                    f"SELECT COUNT(*) FROM orders WHERE order_date BETWEEN "
                    f"'{year}-{first}' AND '{year}-{last}'",
                )
            )
        for index, month in enumerate(_MONTHS, start=1):
            end = (dt.date(int(year) + index // 12, index % 12 + 1, 1) - dt.timedelta(days=1)).day
            ranges.append(
                _Slot(
                    {"period": f"in {month} {year}"},
                    (f"year={year}",),
                    f"SELECT COUNT(*) FROM orders WHERE order_date BETWEEN "
                    f"'{year}-{index:02d}-01' AND '{year}-{index:02d}-{end:02d}'",
                )
            )
    add(
        "orders_in_period",
        (
            "How many orders were placed {period}?",
            "Count the orders placed {period}.",
            "What was the number of orders {period}?",
            "Tell me how many orders we received {period}.",
        ),
        ranges,
    )
