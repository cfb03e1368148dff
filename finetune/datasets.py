"""Fine-tuning datasets of the router, sql and salesforce specialists, generated and checked.

Every example is a request written from a template over the demo domain
(``shared/spec/demo_domain.md``) and the exact text the specialist must answer with. Values come
from the data itself, and every target is checked with the project's own tools before it is
kept:

* **sql**: questions about the demo database (built with
  :func:`tools.demo_db.create_sqlite_db`; names and values are read from its rows). The target
  is one SQLite SELECT in the style of ``prompts.sql.SQL_EXAMPLES``, inside the shape of the
  grammar of :mod:`tools.sql_grammar`: tables named in full, no table aliases, every column of a
  joined query written ``table.column``, joins along foreign keys only. Each target is
  validated and executed with :meth:`tools.sql.SqlDatabase.run`; one that fails, or finds
  nothing where the request expects rows, is dropped. The first rows it returned are stored
  as the gold result (``gold_columns``, ``gold_rows``).
* **salesforce**: requests about the offline sandbox org (values read from its records). The
  target is the JSON of :class:`tools.salesforce.ActionRequest`: read actions (query, get,
  describe) and writes (families ``create``, ``update``, ``update_status``, ``update_two``,
  ``delete``: new records built from the org's picklist values, account Ids and name pools;
  changes and deletions of records named by Id). Each target is parsed, checked with
  :meth:`tools.salesforce.SalesforceClient.validate_action` (its normalised form must equal
  the target) and run on a sandbox started for the purpose; failures are dropped. The sandbox's
  day is fixed (:data:`SANDBOX_ANCHOR`), so date literals select the same records on every
  machine; ``gold_records`` is the number of rows the action returned there (1 for a write).
  The writes are checked after every read, with random streams of their own, and follow the
  reads in each file; updates and deletes name disjoint records, so every write finds its
  record (run the stored targets reads first, then create, update, delete).
* **router**: requests of one to four clauses made of the sql and salesforce requests above
  and of summarise clauses, joined with "then", "and", new sentences and the like. The target
  is the JSON of :class:`nodes.router.Plan`; each instruction is the clause as the specialist
  would receive it, and :func:`nodes.router.plan_from_model` must keep the plan unchanged.

The summarize specialist has no dataset here: the gold of a summary (a faithful, short
rewrite of a free text) cannot be made honestly from templates without a reference model to
write and judge it.

Held-out examples differ from the training examples twice over: one phrasing (``template``)
of every family occurs only in held-out, and so do about a fifth of the values of each kind of
entity (industries, countries, customers, products, accounts, picklist values, record Ids,
date literals ...); :func:`generate` records both in the manifest. Generation is
deterministic: the same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.paths import file_sha256

__all__ = [
    "DATA_DIR",
    "DEFAULT_SEED",
    "ENTITY_SEPARATOR",
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "NO_ENTITY",
    "SANDBOX_ANCHOR",
    "SPECIALISTS_WITH_DATA",
    "SPLITS",
    "add_data_command",
    "cmd_data",
    "entity_parts",
    "generate",
    "load_examples",
    "verify",
]

SPECIALISTS_WITH_DATA: tuple[str, ...] = ("router", "sql", "salesforce")
"""The specialists that have generated datasets (summarize has none; see the module doc)."""

SPLITS: tuple[str, ...] = ("train", "heldout")
"""The two splits written for each specialist."""

DATA_DIR: Path = Path(__file__).resolve().parent / "data"
"""Where the committed datasets live: ``<specialist>/<split>.jsonl`` and the manifest."""

MANIFEST_NAME = "manifest.json"
"""The manifest's file name inside the data directory."""

DEFAULT_SEED = 20261126
"""Seed used when none is given; the committed files are generated from it."""

GENERATOR_VERSION = "2"
"""Changes whenever the generator writes different files for the same seed."""

SANDBOX_ANCHOR = dt.date(2026, 11, 26)
"""The day the sandbox org's dates and date literals are laid around during generation."""

ENTITY_SEPARATOR = " | "
"""Separates the entity values of an example that names several (``industry=Retail | ...``)."""

NO_ENTITY = "-"
"""The ``entity`` of an example that names no entity value."""

TRAIN_SIZE = 3300
"""Training examples aimed at per specialist (at scale 1.0, before drops)."""

HELDOUT_SIZE = 240
"""Held-out examples aimed at per specialist (at scale 1.0, before drops)."""

GOLD_ROWS = 20
"""Most result rows stored with a SQL example."""

HELDOUT_FRACTION = 0.2
"""Share of each kind of entity value kept for held-out (kinds with at least four values)."""

_SQL_TIMEOUT_S = 10.0
_SF_ROW_LIMIT = 2000
_MAX_INSTRUCTION = 300
_MAX_LITERAL = 60


# ------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """One concrete intent of a family: what its phrasings are filled with, and its gold."""

    fill: Mapping[str, str]
    entity: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class _Family:
    """An intent with several phrasings; each phrasing's index is its template id."""

    name: str
    phrasings: tuple[str, ...]
    slots: tuple[_Slot, ...]


@dataclass(frozen=True)
class _Candidate:
    """A request and its target before checking."""

    family: str
    template: str
    entity: tuple[str, ...]
    request: str
    target: str


@dataclass
class _Checked:
    """A target that passed its checks, with the gold data to store next to it."""

    extra: dict[str, Any]


_Check = Callable[[_Candidate], tuple[_Checked | None, str | None]]
"""Checks one candidate: the gold data to keep, or None and the reason to drop it."""


@dataclass
class _SplitResult:
    """The examples kept for one split and the reasons others were dropped."""

    examples: list[tuple[_Candidate, _Checked]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


class _HeldOut:
    """Decides which template ids and entity values only held-out examples may use."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._entities: dict[str, bool] = {}
        self.templates: dict[tuple[str, str], set[str]] = {}
        """(specialist, family) -> its held-out template ids."""

    def register_entities(self, kind: str, values: Iterable[str]) -> None:
        """Hold out about :data:`HELDOUT_FRACTION` of ``values`` of ``kind``.

        Values seen in an earlier call keep their decision, so a kind shared by the SQL
        database and the Salesforce org (industry, country) is held out consistently.
        """
        parts = [f"{kind}={value}" for value in sorted(dict.fromkeys(values))]
        undecided = [part for part in parts if part not in self._entities]
        if len(parts) < 4:
            self._entities.update(dict.fromkeys(undecided, False))
            return
        wanted = max(1, round(len(parts) * HELDOUT_FRACTION))
        already = sum(self._entities.get(part, False) for part in parts)
        picks = set(self._rng.sample(undecided, k=max(0, min(len(undecided), wanted - already))))
        for part in undecided:
            self._entities[part] = part in picks

    def register_family(
        self, specialist: str, family: str, templates: Sequence[str], keep: Sequence[str] = ()
    ) -> None:
        """Hold out one of the ``templates`` of a family (when it has at least three).

        Templates in ``keep`` are never held out (a plain one-clause request must be trained).
        """
        choices = [template for template in templates if template not in keep]
        held = {self._rng.choice(choices)} if len(templates) >= 3 and choices else set()
        self.templates[(specialist, family)] = held

    def reseed(self, rng: random.Random) -> random.Random:
        """Draw later decisions from ``rng``; returns the generator used until now."""
        previous, self._rng = self._rng, rng
        return previous

    def entity_held(self, part: str) -> bool:
        """Whether the entity value ``part`` (``kind=value``) is held out."""
        return self._entities.get(part, False)

    def is_heldout(self, specialist: str, candidate: _Candidate) -> bool:
        """Whether ``candidate`` belongs to held-out: a held-out template or entity value."""
        held = self.templates.get((specialist, candidate.family), set())
        return candidate.template in held or any(
            self.entity_held(part) for part in candidate.entity
        )

    def heldout_templates(self, specialist: str) -> list[list[str]]:
        """``[family, template]`` of every held-out template of ``specialist``, sorted."""
        return sorted(
            [family, template]
            for (owner, family), templates in self.templates.items()
            if owner == specialist
            for template in templates
        )

    def heldout_entities(self) -> list[str]:
        """Every held-out entity value, sorted."""
        return sorted(part for part, held in self._entities.items() if held)

    def register_entities_from(self, rng: random.Random, register: Callable[[], None]) -> None:
        """Run ``register`` with decisions drawn from ``rng``, leaving the own stream as it was."""
        previous = self.reseed(rng)
        try:
            register()
        finally:
            self.reseed(previous)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def _lit(value: str) -> str:
    return f"'{value}'"


def _plain(value: object) -> bool:
    """Whether ``value`` can be written as a grammar string literal (and a SOQL one)."""
    return (
        isinstance(value, str)
        and bool(value)
        and len(value) <= _MAX_LITERAL
        and not any(char in value for char in "'\"\\\n|")
    )


def _candidates(families: Sequence[_Family]) -> dict[str, list[_Candidate]]:
    """Every (slot, phrasing) pair of each family, one request per distinct text."""
    seen: set[str] = set()
    found: dict[str, list[_Candidate]] = {}
    for family in families:
        rows = found.setdefault(family.name, [])
        for slot in family.slots:
            for index, phrasing in enumerate(family.phrasings):
                request = _sentence(phrasing.format(**slot.fill))
                if request in seen:
                    continue
                seen.add(request)
                rows.append(_Candidate(family.name, f"t{index}", slot.entity, request, slot.target))
    return found


def _quotas(available: Mapping[str, int], total: int) -> dict[str, int]:
    """Share ``total`` over families as evenly as their sizes allow (water filling)."""
    names = sorted(available)
    if not names or total <= 0:
        return dict.fromkeys(names, 0)
    if sum(available.values()) <= total:
        return {name: available[name] for name in names}
    low, high = 0, max(available.values())
    while low < high:
        middle = (low + high + 1) // 2
        if sum(min(available[name], middle) for name in names) <= total:
            low = middle
        else:
            high = middle - 1
    quotas = {name: min(available[name], low) for name in names}
    rest = total - sum(quotas.values())
    for name in names:
        if rest <= 0:
            break
        if available[name] > quotas[name]:
            quotas[name] += 1
            rest -= 1
    return quotas


def _select(
    pools: Mapping[str, list[_Candidate]],
    total: int,
    rng: random.Random,
    check: _Check,
) -> _SplitResult:
    """Take about ``total`` checked examples, spread over the families of ``pools``.

    Each family's candidates are shuffled and checked in that order until its quota is met;
    a candidate that fails its check is dropped (counted by reason) and the next one is tried.
    """
    result = _SplitResult()
    quotas = _quotas({name: len(rows) for name, rows in pools.items()}, total)
    for name in sorted(pools):
        rows = list(pools[name])
        rng.shuffle(rows)
        kept = 0
        for candidate in rows:
            if kept >= quotas[name]:
                break
            checked, reason = check(candidate)
            if checked is None:
                result.dropped[reason or "unknown"] += 1
                continue
            result.examples.append((candidate, checked))
            kept += 1
    return result


def _split_pools(
    specialist: str, families: Sequence[_Family], heldout: _HeldOut
) -> tuple[dict[str, list[_Candidate]], dict[str, list[_Candidate]]]:
    """Register each family's held-out template and sort its candidates into the two splits."""
    train: dict[str, list[_Candidate]] = {}
    held: dict[str, list[_Candidate]] = {}
    for family in families:
        ids = [f"t{index}" for index in range(len(family.phrasings))]
        heldout.register_family(specialist, family.name, ids)
    for name, rows in _candidates(families).items():
        for candidate in rows:
            pool = held if heldout.is_heldout(specialist, candidate) else train
            pool.setdefault(name, []).append(candidate)
    return train, held


# ------------------------------------------------------------------------------------------
# SQL: the demo database
# ------------------------------------------------------------------------------------------

_J_ORDERS = " JOIN orders ON orders.id = order_items.order_id"
_J_CUSTOMERS = " JOIN customers ON customers.id = orders.customer_id"
_J_REPS = " JOIN sales_reps ON sales_reps.id = customers.rep_id"
_J_PRODUCTS = " JOIN products ON products.id = order_items.product_id"
_REVENUE = "SUM(order_items.quantity * order_items.unit_price)"

_SQL_NOUNS = {
    "sales_reps": "sales reps",
    "customers": "customers",
    "products": "products",
    "orders": "orders",
    "order_items": "order items",
}

# kind, table, column, where-phrase of one value, where-phrase of several ("{v}" is "A or B")
_SQL_FILTERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("industry", "customers", "industry", "in the {v} industry", "in the {v} industries"),
    ("country", "customers", "country", "based in {v}", "based in {v}"),
    ("segment", "customers", "segment", "in the {v} segment", "in the {v} segments"),
    ("category", "products", "category", "in the {v} category", "in the {v} categories"),
    ("order_status", "orders", "status", "marked as {v}", "marked as {v}"),
    ("region", "sales_reps", "region", "in the {v} region", "in the {v} regions"),
)

# dimension word, plural, table, column
_SQL_DIMS: tuple[tuple[str, str, str, str], ...] = (
    ("industry", "industries", "customers", "industry"),
    ("country", "countries", "customers", "country"),
    ("segment", "segments", "customers", "segment"),
    ("category", "categories", "products", "category"),
    ("status", "statuses", "orders", "status"),
    ("region", "regions", "sales_reps", "region"),
)

# kind -> joins after FROM order_items, the filtered column, the request phrase
_ORDER_CUSTOMER = _J_ORDERS + _J_CUSTOMERS
_REVENUE_SCOPES: dict[str, tuple[str, str, str]] = {
    "order_status": (_J_ORDERS, "orders.status", "from orders marked as {v}"),
    "industry": (_ORDER_CUSTOMER, "customers.industry", "from customers in the {v} industry"),
    "country": (_J_ORDERS + _J_CUSTOMERS, "customers.country", "from customers based in {v}"),
    "segment": (_J_ORDERS + _J_CUSTOMERS, "customers.segment", "from customers in the {v} segment"),
    "customer": (_J_ORDERS + _J_CUSTOMERS, "customers.name", "from {v}"),
    "region": (
        _J_ORDERS + _J_CUSTOMERS + _J_REPS,
        "sales_reps.region",
        "from customers in the {v} region",
    ),
    "rep": (_J_ORDERS + _J_CUSTOMERS + _J_REPS, "sales_reps.name", "from the customers of {v}"),
    "category": (_J_PRODUCTS, "products.category", "from products in the {v} category"),
    "product": (_J_PRODUCTS, "products.name", "from sales of {v}"),
}  # fmt: skip

# dimension word, joins after FROM order_items, selected expression, grouped expression
_REVENUE_DIMS: tuple[tuple[str, str, str, str], ...] = (
    ("region", _J_ORDERS + _J_CUSTOMERS + _J_REPS, "sales_reps.region", "sales_reps.region"),
    ("industry", _J_ORDERS + _J_CUSTOMERS, "customers.industry", "customers.industry"),
    ("country", _J_ORDERS + _J_CUSTOMERS, "customers.country", "customers.country"),
    ("customer segment", _J_ORDERS + _J_CUSTOMERS, "customers.segment", "customers.segment"),
    ("sales rep", _J_ORDERS + _J_CUSTOMERS + _J_REPS, "sales_reps.name", "sales_reps.name"),
    ("product category", _J_PRODUCTS, "products.category", "products.category"),
    ("order status", _J_ORDERS, "orders.status", "orders.status"),
    (
        "year",
        _J_ORDERS,
        "strftime('%Y', orders.order_date) AS year",
        "strftime('%Y', orders.order_date)",
    ),
)

_CUSTOMER_FILTER_KINDS = ("industry", "country", "segment")
_TOP_N = (3, 5, 10)
_PRICE_STEPS = (100, 250, 500, 1000, 2000, 5000, 10000, 20000)
_QUARTERS = (("first", "01-01", "03-31"), ("second", "04-01", "06-30"),
             ("third", "07-01", "09-30"), ("fourth", "10-01", "12-31"))  # fmt: skip
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip


@dataclass
class _SqlDomain:
    """The values of the demo database that requests are written about."""

    values: dict[str, list[str]]
    """Entity kind -> the distinct values of its column (industry, country, ...)."""
    customers: list[str]
    reps: list[tuple[str, str]]
    """(name, region) of every sales rep."""
    products: list[str]
    years: list[str]
    """Years that have orders."""
    customer_years: list[str]
    """Years in which customers were created."""
    hire_years: list[str]
    name_words: list[str]
    """Words that occur in at least two customer names."""
    product_words: list[str]
    """Words that occur in at least two product names."""
    group_sizes: dict[tuple[str, str], list[int]]
    """(table, column) -> the row count of each of its values."""


def _read_sql_domain(path: Path) -> _SqlDomain:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:

        def column(sql: str) -> list[str]:
            return [str(row[0]) for row in conn.execute(sql) if _plain(str(row[0]))]

        values = {
            kind: column(f"SELECT DISTINCT {col} FROM {table} ORDER BY {col}")
            for kind, table, col, _, _ in _SQL_FILTERS
        }
        group_sizes = {
            (table, col): [
                int(row[0]) for row in conn.execute(f"SELECT COUNT(*) FROM {table} GROUP BY {col}")
            ]
            for _, _, table, col in _SQL_DIMS
        }
        customers = column("SELECT name FROM customers ORDER BY id")
        reps = [
            (str(name), str(region))
            for name, region in conn.execute("SELECT name, region FROM sales_reps ORDER BY id")
            if _plain(name)
        ]
        products = column("SELECT name FROM products ORDER BY id")
        years = column("SELECT DISTINCT strftime('%Y', order_date) FROM orders ORDER BY 1")
        customer_years = column(
            "SELECT DISTINCT strftime('%Y', created_on) FROM customers ORDER BY 1"
        )
        hire_years = column("SELECT DISTINCT strftime('%Y', hired_on) FROM sales_reps ORDER BY 1")
    finally:
        conn.close()
    return _SqlDomain(
        values=values,
        customers=customers,
        reps=reps,
        products=products,
        years=years,
        customer_years=customer_years,
        hire_years=hire_years,
        name_words=_shared_words(customers),
        product_words=_shared_words(products),
        group_sizes=group_sizes,
    )


def _shared_words(names: Sequence[str]) -> list[str]:
    """Capitalised words of four letters or more that occur in at least two of ``names``."""
    counts: Counter[str] = Counter()
    for name in names:
        words = {word for word in name.split() if word.isalpha() and len(word) >= 4}
        counts.update(word for word in words if word[0].isupper())
    return sorted(word for word, count in counts.items() if count >= 2)


def _thresholds(sizes: Sequence[int], step: int = 5) -> list[int]:
    """A few round counts that some, but not all, groups exceed."""
    rounded = sorted({size // step * step for size in sizes if size // step * step >= step})
    usable = [value for value in rounded if value < max(sizes)]
    return usable[-4:] if len(usable) > 4 else usable


def _or_list(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _sql_families(d: _SqlDomain, rng: random.Random) -> list[_Family]:  # noqa: C901
    """Every SQL family with its phrasings and slots."""
    families: list[_Family] = []

    def add(name: str, phrasings: Sequence[str], slots: Iterable[_Slot]) -> None:
        families.append(_Family(name, tuple(phrasings), tuple(slots)))

    filters = [
        (kind, table, col, where.format(v=value), value)
        for kind, table, col, where, _ in _SQL_FILTERS
        for value in d.values[kind]
    ]

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

    customer_filters = [f for f in filters if f[0] in _CUSTOMER_FILTER_KINDS]
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

    revenue: list[_Slot] = [
        _Slot({"scope": ""}, (), "SELECT SUM(quantity * unit_price) FROM order_items")
    ]
    scope_values: dict[str, list[str]] = {
        **{kind: d.values[kind] for kind in ("order_status", "industry", "country", "segment")},
        "region": d.values["region"],
        "category": d.values["category"],
        "customer": d.customers,
        "rep": [name for name, _ in d.reps],
        "product": d.products,
    }
    for kind, (joins, col, phrase) in _REVENUE_SCOPES.items():
        for value in scope_values[kind]:
            revenue.append(
                _Slot(
                    {"scope": " " + phrase.format(v=value)},
                    (f"{kind}={value}",),
                    f"SELECT {_REVENUE} FROM order_items{joins} WHERE {col} = {_lit(value)}",
                )
            )
    for year in d.years:
        revenue.append(
            _Slot(
                {"scope": f" in {year}"},
                (f"year={year}",),
                f"SELECT {_REVENUE} FROM order_items{_J_ORDERS} WHERE "
                f"strftime('%Y', orders.order_date) = {_lit(year)}",
            )
        )
    add(
        "revenue_total",
        (
            "What is the total revenue{scope}?",
            "How much revenue did we make{scope}?",
            "Calculate the total revenue{scope}.",
            "Could you tell me the revenue{scope}?",
            "Please compute our revenue{scope}.",
        ),
        revenue,
    )

    revenue_year: list[_Slot] = []
    for kind in ("order_status", "industry", "country", "segment", "region", "category"):
        joins, col, phrase = _REVENUE_SCOPES[kind]
        if kind == "category":
            joins = _J_ORDERS + _J_PRODUCTS
        for value in scope_values[kind]:
            for year in d.years:
                revenue_year.append(
                    _Slot(
                        {"scope": phrase.format(v=value), "year": year},
                        (f"{kind}={value}", f"year={year}"),
                        f"SELECT {_REVENUE} FROM order_items{joins} WHERE {col} = {_lit(value)} "
                        f"AND strftime('%Y', orders.order_date) = {_lit(year)}",
                    )
                )
    add(
        "revenue_in_year",
        (
            "What was the total revenue {scope} in {year}?",
            "How much revenue did we make {scope} in {year}?",
            "In {year}, how much revenue came {scope}?",
            "Calculate the {year} revenue {scope}.",
        ),
        revenue_year,
    )

    add(
        "revenue_by_group",
        (
            "What is the total revenue per {dim}?",
            "Show the revenue broken down by {dim}.",
            "How much revenue does each {dim} bring in?",
            "Give me revenue by {dim}.",
            "Break down our revenue by {dim}, please.",
        ),
        (
            _Slot(
                {"dim": dim},
                (f"group={grouped}",),
                f"SELECT {selected}, {_REVENUE} FROM order_items{joins} GROUP BY {grouped}",
            )
            for dim, joins, selected, grouped in _REVENUE_DIMS
        ),
    )

    by_group_year: list[_Slot] = []
    dims_in_year = [dim for dim in _REVENUE_DIMS if dim[0] != "year"] + [
        (
            "month",
            _J_ORDERS,
            "strftime('%m', orders.order_date) AS month",
            "strftime('%m', orders.order_date)",
        )
    ]
    for dim, joins, selected, grouped in dims_in_year:
        if _J_ORDERS not in joins:
            joins = _J_ORDERS + joins
        for year in d.years:
            by_group_year.append(
                _Slot(
                    {"dim": dim, "year": year},
                    (f"year={year}",),
                    f"SELECT {selected}, {_REVENUE} FROM order_items{joins} WHERE "
                    f"strftime('%Y', orders.order_date) = {_lit(year)} GROUP BY {grouped}",
                )
            )
    add(
        "revenue_by_group_in_year",
        (
            "What was the revenue per {dim} in {year}?",
            "Show the {year} revenue broken down by {dim}.",
            "How much revenue did each {dim} bring in during {year}?",
            "Give me {year} revenue by {dim}.",
        ),
        by_group_year,
    )

    customer_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" {where}", f" WHERE customers.{col} = {_lit(value)}", (f"{kind}={value}",))
        for kind, _, col, where, value in customer_filters
    ]
    add(
        "top_customers_by_revenue",
        (
            "Who are our top {n} customers by revenue{where}?",
            "Which {n} customers{where} generated the most revenue?",
            "List the {n} customers{where} with the highest revenue.",
            "Show me the top {n} customers{where} ranked by revenue.",
        ),
        (
            _Slot(
                {"n": str(n), "where": where},
                entity,
                f"SELECT customers.name, {_REVENUE} AS revenue FROM order_items{_J_ORDERS}"
                f"{_J_CUSTOMERS}{clause} GROUP BY customers.name ORDER BY revenue DESC LIMIT {n}",
            )
            for where, clause, entity in customer_scopes
            for n in _TOP_N
        ),
    )

    product_scopes: list[tuple[str, str, str, tuple[str, ...]]] = [("", _J_PRODUCTS, "", ())]
    product_scopes += [
        (
            f" in the {value} category",
            _J_PRODUCTS,
            f" WHERE products.category = {_lit(value)}",
            (f"category={value}",),
        )
        for value in d.values["category"]
    ]
    product_scopes += [
        (
            f" in {year}",
            _J_ORDERS + _J_PRODUCTS,
            f" WHERE strftime('%Y', orders.order_date) = {_lit(year)}",
            (f"year={year}",),
        )
        for year in d.years
    ]
    add(
        "top_products_by_units",
        (
            "What are the {n} best-selling products by units sold{where}?",
            "Which {n} products sold the most units{where}?",
            "List the top {n} products by quantity sold{where}.",
            "Show me the {n} products with the highest unit sales{where}.",
        ),
        (
            _Slot(
                {"n": str(n), "where": where},
                entity,
                f"SELECT products.name, SUM(order_items.quantity) AS units FROM order_items"
                f"{joins}{clause} GROUP BY products.name ORDER BY units DESC LIMIT {n}",
            )
            for where, joins, clause, entity in product_scopes
            for n in _TOP_N
        ),
    )

    order_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())]
    order_scopes += [
        (
            f" in {year}",
            f" WHERE strftime('%Y', orders.order_date) = {_lit(year)}",
            (f"year={year}",),
        )
        for year in d.years
    ]
    order_scopes += [
        (
            f" among customers based in {value}",
            f" WHERE customers.country = {_lit(value)}",
            (f"country={value}",),
        )
        for value in d.values["country"]
    ]
    add(
        "top_customers_by_orders",
        (
            "Which {n} customers placed the most orders{where}?",
            "List the top {n} customers by number of orders{where}.",
            "Who are the {n} customers with the most orders{where}?",
            "Show me the {n} most frequent buyers{where}.",
        ),
        (
            _Slot(
                {"n": str(n), "where": where},
                entity,
                f"SELECT customers.name, COUNT(*) AS order_count FROM orders{_J_CUSTOMERS}"
                f"{clause} GROUP BY customers.name ORDER BY order_count DESC LIMIT {n}",
            )
            for where, clause, entity in order_scopes
            for n in _TOP_N
        ),
    )

    category_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" in the {value} category", f" WHERE category = {_lit(value)}", (f"category={value}",))
        for value in d.values["category"]
    ]
    add(
        "priciest_products",
        (
            "What are the {n} {adj} products{where}?",
            "List the {n} {adj} products{where} with their prices.",
            "Show me the {n} {adj} items in our catalog{where}.",
            "Which {n} products{where} are the {adj}?",
        ),
        (
            _Slot(
                {"n": str(n), "adj": adj, "where": where},
                entity,
                f"SELECT name, unit_price FROM products{clause} ORDER BY unit_price {order} "
                f"LIMIT {n}",
            )
            for where, clause, entity in category_scopes
            for adj, order in (("most expensive", "DESC"), ("cheapest", "ASC"))
            for n in _TOP_N
        ),
    )

    comparisons: list[tuple[str, str]] = []
    for low, high in zip(_PRICE_STEPS, _PRICE_STEPS[1:], strict=False):
        comparisons.append((f"more than {low}", f"unit_price > {low}"))
        comparisons.append((f"less than {high}", f"unit_price < {high}"))
    for low, high in zip(_PRICE_STEPS, _PRICE_STEPS[2:], strict=False):
        comparisons.append((f"between {low} and {high}", f"unit_price BETWEEN {low} AND {high}"))
    category_conditions: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" in the {value} category", f"category = {_lit(value)} AND ", (f"category={value}",))
        for value in d.values["category"]
    ]
    add(
        "price_filter",
        (
            "Which {np} cost {cmp}?",
            "List the {np} priced {cmp}.",
            "Find all {np} that cost {cmp}.",
            "Show me the {np} with a unit price of {cmp}.",
        ),
        (
            _Slot(
                {"np": "products" + where, "cmp": phrase},
                entity,
                f"SELECT name, unit_price FROM products WHERE {prefix}{condition}",
            )
            for where, prefix, entity in category_conditions
            for phrase, condition in comparisons
        ),
    )

    aggregates = (("average", "AVG"), ("lowest", "MIN"), ("highest", "MAX"))
    add(
        "price_stats",
        (
            "What is the {agg} price of {np}?",
            "Tell me the {agg} unit price of {np}.",
            "Calculate the {agg} price across {np}.",
            "What's the {agg} list price for {np}?",
        ),
        (
            _Slot(
                {"agg": word, "np": ("products" + where) if where else "our products"},
                entity,
                f"SELECT {function}(unit_price) FROM products{clause}",
            )
            for where, clause, entity in category_scopes
            for word, function in aggregates
        ),
    )
    add(
        "price_by_category",
        (
            "What is the {agg} product price per category?",
            "Show the {agg} unit price of each product category.",
            "Give me the {agg} price by category.",
            "For every category, what is the {agg} product price?",
        ),
        (
            _Slot(
                {"agg": word},
                ("group=products.category",),
                f"SELECT category, {function}(unit_price) FROM products GROUP BY category",
            )
            for word, function in aggregates
        ),
    )

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

    attributes = ("industry", "country", "segment")
    add(
        "customer_attribute",
        (
            "What is the {attr} of {customer}?",
            "Which {attr} is {customer} in?",
            "Tell me the {attr} of the customer {customer}.",
            "Look up the {attr} for {customer}.",
            "Can you check which {attr} {customer} belongs to?",
        ),
        (
            _Slot(
                {"attr": attr, "customer": name},
                (f"customer={name}",),
                f"SELECT {attr} FROM customers WHERE name = {_lit(name)}",
            )
            for name in d.customers
            for attr in attributes
        ),
    )
    add(
        "customer_rep",
        (
            "Who is the sales rep for {customer}?",
            "Which sales rep manages {customer}?",
            "Who looks after {customer} on our sales team?",
            "Find the sales representative assigned to {customer}.",
        ),
        (
            _Slot(
                {"customer": name},
                (f"customer={name}",),
                f"SELECT sales_reps.name FROM customers{_J_REPS} "
                f"WHERE customers.name = {_lit(name)}",
            )
            for name in d.customers
        ),
    )
    add(
        "rep_customers",
        (
            "Which customers does {rep} manage?",
            "List the customers assigned to {rep}.",
            "Show me all customers handled by the sales rep {rep}.",
            "Who are the customers of {rep}?",
        ),
        (
            _Slot(
                {"rep": name},
                (f"rep={name}",),
                f"SELECT customers.name FROM customers{_J_REPS} "
                f"WHERE sales_reps.name = {_lit(name)}",
            )
            for name, _ in d.reps
        ),
    )
    add(
        "rep_customer_count",
        (
            "How many customers does {rep} manage?",
            "Count the customers assigned to {rep}.",
            "What is the number of customers handled by {rep}?",
            "Tell me how many customers the sales rep {rep} looks after.",
        ),
        (
            _Slot(
                {"rep": name},
                (f"rep={name}",),
                f"SELECT COUNT(*) FROM customers{_J_REPS} WHERE sales_reps.name = {_lit(name)}",
            )
            for name, _ in d.reps
        ),
    )
    add(
        "customer_order_count",
        (
            "How many orders has {customer} placed?",
            "Count the orders from {customer}.",
            "What is the number of orders placed by {customer}?",
            "Tell me how many orders {customer} has made.",
        ),
        (
            _Slot(
                {"customer": name},
                (f"customer={name}",),
                f"SELECT COUNT(*) FROM orders{_J_CUSTOMERS} WHERE customers.name = {_lit(name)}",
            )
            for name in d.customers
        ),
    )
    add(
        "customer_order_date",
        (
            "When did {customer} place its {which} order?",
            "What is the date of the {which} order from {customer}?",
            "Find the {which} order date for {customer}.",
            "On what day did {customer} make its {which} order?",
        ),
        (
            _Slot(
                {"customer": name, "which": which},
                (f"customer={name}",),
                f"SELECT {function}(orders.order_date) FROM orders{_J_CUSTOMERS} "
                f"WHERE customers.name = {_lit(name)}",
            )
            for name in d.customers
            for which, function in (("most recent", "MAX"), ("first", "MIN"))
        ),
    )
    add(
        "product_units",
        (
            "How many units of {product} have we sold?",
            "What is the total quantity sold of {product}?",
            "Count the units sold for {product}.",
            "Tell me how many units of {product} were ordered.",
        ),
        (
            _Slot(
                {"product": name},
                (f"product={name}",),
                f"SELECT SUM(order_items.quantity) FROM order_items{_J_PRODUCTS} "
                f"WHERE products.name = {_lit(name)}",
            )
            for name in d.products
        ),
    )
    add(
        "product_average_quantity",
        (
            "What is the average quantity per order line for {product}?",
            "On average, how many units of {product} are in an order line?",
            "Calculate the mean quantity ordered of {product}.",
            "Tell me the average order quantity for {product}.",
        ),
        (
            _Slot(
                {"product": name},
                (f"product={name}",),
                f"SELECT AVG(order_items.quantity) FROM order_items{_J_PRODUCTS} "
                f"WHERE products.name = {_lit(name)}",
            )
            for name in d.products
        ),
    )
    add(
        "product_attribute",
        (
            "What is the {attr} of {product}?",
            "Tell me the {attr} of the product {product}.",
            "Look up the {attr} for {product}.",
            "Can you check the {attr} of {product}?",
        ),
        (
            _Slot(
                {"attr": word, "product": name},
                (f"product={name}",),
                f"SELECT {col} FROM products WHERE name = {_lit(name)}",
            )
            for name in d.products
            for word, col in (("unit price", "unit_price"), ("category", "category"))
        ),
    )

    like: list[_Slot] = [
        _Slot(
            {"noun": "customers", "word": word},
            (f"name_word={word}",),
            f"SELECT name FROM customers WHERE name LIKE '%{word}%'",
        )
        for word in d.name_words
    ]
    like += [
        _Slot(
            {"noun": "products", "word": word},
            (f"product_word={word}",),
            f"SELECT name FROM products WHERE name LIKE '%{word}%'",
        )
        for word in d.product_words
    ]
    add(
        "name_contains",
        (
            'List the {noun} whose name contains "{word}".',
            'Which {noun} have "{word}" in their name?',
            "Find all {noun} with {word} in the name.",
            "Show me the {noun} whose names include the word {word}.",
        ),
        like,
    )

    distinct: list[_Slot] = []
    for _, dims, _, col in _SQL_DIMS[:3]:
        distinct.append(
            _Slot(
                {"things": dims, "np": "our customers"},
                (f"group=customers.{col}",),
                f"SELECT DISTINCT {col} FROM customers",
            )
        )
        for kind, _, fcol, where, value in customer_filters:
            if fcol == col:
                continue
            distinct.append(
                _Slot(
                    {"things": dims, "np": f"customers {where}"},
                    (f"{kind}={value}",),
                    f"SELECT DISTINCT {col} FROM customers WHERE {fcol} = {_lit(value)}",
                )
            )
        for region in d.values["region"]:
            distinct.append(
                _Slot(
                    {"things": dims, "np": f"customers in the {region} region"},
                    (f"region={region}",),
                    f"SELECT DISTINCT customers.{col} FROM customers{_J_REPS} "
                    f"WHERE sales_reps.region = {_lit(region)}",
                )
            )
    add(
        "distinct_values",
        (
            "Which distinct {things} appear among {np}?",
            "List the different {things} of {np}.",
            "Give me the unique {things} across {np}.",
            "What {things} are represented among {np}? List each once.",
        ),
        distinct,
    )

    hired: list[_Slot] = []
    rep_scopes: list[tuple[str, str, tuple[str, ...]]] = [("sales reps", "", ())] + [
        (f"sales reps in the {value} region", f"region = {_lit(value)} AND ", (f"region={value}",))
        for value in d.values["region"]
    ]
    for year in d.hire_years[1:]:
        for np, clause, entity in rep_scopes:
            for when, op in (("before", "<"), ("since", ">=")):
                hired.append(
                    _Slot(
                        {"np": np, "when": f"{when} {year}"},
                        entity,
                        f"SELECT name FROM sales_reps WHERE {clause}hired_on {op} '{year}-01-01'",
                    )
                )
    add(
        "reps_hired",
        (
            "Which {np} were hired {when}?",
            "List the {np} hired {when}.",
            "Show me the {np} who joined {when}.",
            "Find the {np} with a hire date {when}.",
        ),
        hired,
    )

    created_scopes: list[tuple[str, str, tuple[str, ...]]] = [("customers", "", ())] + [
        (f"customers {where}", f"{col} = {_lit(value)} AND ", (f"{kind}={value}",))
        for kind, _, col, where, value in customer_filters
        if kind != "country"
    ]
    add(
        "customers_created",
        (
            "How many {np} were added in {year}?",
            "Count the {np} created in {year}.",
            "How many new {np} did we get in {year}?",
            "What is the number of {np} that joined in {year}?",
        ),
        (
            _Slot(
                {"np": np, "year": year},
                (*entity, f"year={year}"),
                f"SELECT COUNT(*) FROM customers WHERE {clause}strftime('%Y', created_on) = "
                f"{_lit(year)}",
            )
            for np, clause, entity in created_scopes
            for year in d.customer_years
        ),
    )
    add(
        "orders_per_customer",
        (
            "How many orders has each customer {where} placed?",
            "Show the number of orders per customer {where}.",
            "Count the orders of every customer {where}.",
            "List each customer {where} with its order count.",
        ),
        (
            _Slot(
                {"where": where},
                (f"{kind}={value}",),
                f"SELECT customers.name, COUNT(*) AS order_count FROM orders{_J_CUSTOMERS} "
                f"WHERE customers.{col} = {_lit(value)} GROUP BY customers.name",
            )
            for kind, _, col, where, value in customer_filters
        ),
    )
    return families


def _register_sql_entities(heldout: _HeldOut, d: _SqlDomain) -> None:
    for kind, values in d.values.items():
        heldout.register_entities(kind, values)
    heldout.register_entities("customer", d.customers)
    heldout.register_entities("rep", [name for name, _ in d.reps])
    heldout.register_entities("product", d.products)
    heldout.register_entities("name_word", d.name_words)
    heldout.register_entities("product_word", d.product_words)


def _sql_checker(path: Path) -> tuple[_Check, Callable[[], None]]:
    """A check that runs each SQL target with :meth:`tools.sql.SqlDatabase.run` (cached)."""
    from tools.sql import SqlDatabase, SqlExecutionError, SqlValidationError

    database = SqlDatabase.open(str(path))
    cache: dict[str, tuple[_Checked | None, str | None]] = {}

    def check(candidate: _Candidate) -> tuple[_Checked | None, str | None]:
        if candidate.target in cache:
            return cache[candidate.target]
        try:
            result = database.run(
                candidate.target,
                read_dialect="sqlite",
                row_limit=GOLD_ROWS,
                timeout_s=_SQL_TIMEOUT_S,
            )
        except SqlValidationError:
            outcome: tuple[_Checked | None, str | None] = (None, "rejected by SqlDatabase.validate")
        except SqlExecutionError:
            outcome = (None, "failed to execute")
        else:
            if not result.rows:
                outcome = (None, "no rows")
            elif len(result.rows) == 1 and all(value is None for value in result.rows[0]):
                outcome = (None, "aggregate over no rows (NULL)")
            else:
                extra = {"gold_columns": list(result.columns), "gold_rows": result.rows}
                outcome = (_Checked(extra), None)
        cache[candidate.target] = outcome
        return outcome

    return check, database.close


# ------------------------------------------------------------------------------------------
# Salesforce: the sandbox org
# ------------------------------------------------------------------------------------------

_SF_NOUNS = {
    "Account": "accounts",
    "Contact": "contacts",
    "Opportunity": "opportunities",
    "Lead": "leads",
    "Case": "cases",
}
_SF_SINGULAR = {
    "Account": "account",
    "Contact": "contact",
    "Opportunity": "opportunity",
    "Lead": "lead",
    "Case": "case",
}
_SF_LIST_FIELDS = {
    "Account": "Name",
    "Contact": "FirstName, LastName",
    "Opportunity": "Name, Amount",
    "Lead": "FirstName, LastName, Company",
    "Case": "Id, Subject",
}

# kind, object, field, where-phrase of one value, of several, of a negated list, dimension
_SF_FILTERS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("industry", "Account", "Industry", "in the {v} industry", "in the {v} industries",
     "outside the {v} industries", "industry"),
    ("account_type", "Account", "Type", "of type {v}", "of type {v}", "not of type {v}", "type"),
    ("country", "Account", "BillingCountry", "based in {v}", "based in {v}",
     "not based in {v}", "billing country"),
    ("city", "Account", "BillingCity", "located in {v}", "located in {v}",
     "not located in {v}", "billing city"),
    ("stage", "Opportunity", "StageName", "in the {v} stage", "in the {v} stages",
     "not in the {v} stages", "stage"),
    ("lead_source", "Opportunity", "LeadSource", "with lead source {v}", "with lead source {v}",
     "with a lead source other than {v}", "lead source"),
    ("opportunity_type", "Opportunity", "Type", "of type {v}", "of type {v}", "not of type {v}",
     "type"),
    ("lead_status", "Lead", "Status", "with status {v}", "with status {v}",
     "with a status other than {v}", "status"),
    ("rating", "Lead", "Rating", "rated {v}", "rated {v}", "not rated {v}", "rating"),
    ("lead_source", "Lead", "LeadSource", "with lead source {v}", "with lead source {v}",
     "with a lead source other than {v}", "lead source"),
    ("industry", "Lead", "Industry", "in the {v} industry", "in the {v} industries",
     "outside the {v} industries", "industry"),
    ("case_status", "Case", "Status", "with status {v}", "with status {v}",
     "with a status other than {v}", "status"),
    ("priority", "Case", "Priority", "with {v} priority", "with {v} priority",
     "with a priority other than {v}", "priority"),
    ("origin", "Case", "Origin", "that came in by {v}", "that came in by {v}",
     "that did not come in by {v}", "origin"),
    ("title", "Contact", "Title", "with the title {v}", "with the title {v}",
     "with a title other than {v}", "title"),
)  # fmt: skip

_SF_DATE_LITERALS: tuple[tuple[str, str], ...] = (
    ("TODAY", "today"),
    ("YESTERDAY", "yesterday"),
    ("THIS_WEEK", "this week"),
    ("LAST_WEEK", "last week"),
    ("THIS_MONTH", "this month"),
    ("LAST_MONTH", "last month"),
    ("THIS_QUARTER", "this quarter"),
    ("LAST_QUARTER", "last quarter"),
    ("THIS_YEAR", "this year"),
    ("LAST_YEAR", "last year"),
    ("LAST_N_DAYS:7", "in the last 7 days"),
    ("LAST_N_DAYS:14", "in the last 14 days"),
    ("LAST_N_DAYS:30", "in the last 30 days"),
    ("LAST_N_DAYS:60", "in the last 60 days"),
    ("LAST_N_DAYS:90", "in the last 90 days"),
    ("LAST_N_DAYS:180", "in the last 180 days"),
    ("LAST_N_DAYS:365", "in the last 365 days"),
    ("LAST_N_MONTHS:3", "in the last 3 months"),
    ("LAST_N_MONTHS:6", "in the last 6 months"),
)
_SF_FUTURE_LITERALS: tuple[tuple[str, str], ...] = (
    ("NEXT_WEEK", "next week"),
    ("NEXT_MONTH", "next month"),
    ("NEXT_QUARTER", "next quarter"),
    ("NEXT_N_DAYS:30", "in the next 30 days"),
    ("NEXT_N_DAYS:60", "in the next 60 days"),
    ("NEXT_N_DAYS:90", "in the next 90 days"),
)
# object, date field, how the request says it, whether future dates make sense
_SF_DATE_FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    ("Case", "CreatedDate", "created", False),
    ("Case", "ClosedDate", "closed", False),
    ("Lead", "CreatedDate", "created", False),
    ("Contact", "CreatedDate", "created", False),
    ("Opportunity", "CloseDate", "with a close date", True),
)
_SF_GET_FIELDS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Account": ((("Name", "Industry"), "name and industry"),
                (("Name", "AnnualRevenue"), "name and annual revenue"),
                (("BillingCity", "BillingCountry"), "billing city and country"),
                (("Name", "Type", "NumberOfEmployees"), "name, type and number of employees"),
                ((), "details")),
    "Contact": ((("FirstName", "LastName", "Email"), "name and email"),
                (("Phone",), "phone number"),
                (("Title", "Account.Name"), "title and account name"),
                ((), "details")),
    "Opportunity": ((("Name", "StageName", "Amount"), "name, stage and amount"),
                    (("CloseDate",), "close date"),
                    (("Name", "Account.Name"), "name and account name"),
                    ((), "details")),
    "Lead": ((("Company", "Status"), "company and status"),
             (("Email", "Phone"), "email and phone number"),
             (("Rating",), "rating"),
             ((), "details")),
    "Case": ((("Subject", "Status", "Priority"), "subject, status and priority"),
             (("Description",), "description"),
             (("Subject", "Account.Name"), "subject and account name"),
             ((), "details")),
}  # fmt: skip
_SF_RECORDS_PER_OBJECT = 24


@dataclass
class _SfDomain:
    """The values of the sandbox org that requests are written about."""

    values: dict[tuple[str, str], list[str]]
    """(object, field) -> the distinct values found in the records."""
    counts: dict[tuple[str, str], Counter[str]]
    """(object, field) -> records per value."""
    accounts: list[str]
    account_prefixes: list[str]
    contacts: list[tuple[str, str]]
    leads: list[tuple[str, str]]
    email_domains: list[str]
    company_words: list[str]
    subject_words: list[str]
    record_ids: dict[str, list[str]]


def _read_sf_domain(client: Any) -> _SfDomain:
    from tools.salesforce import QueryAction

    def rows(soql: str) -> list[list[Any]]:
        return list(client.run(QueryAction(soql=soql), row_limit=_SF_ROW_LIMIT).rows)

    fields_by_object: dict[str, list[str]] = {}
    for _, sobject, fld, *_ in _SF_FILTERS:
        fields_by_object.setdefault(sobject, [])
        if fld not in fields_by_object[sobject]:
            fields_by_object[sobject].append(fld)
    values: dict[tuple[str, str], list[str]] = {}
    counts: dict[tuple[str, str], Counter[str]] = {}
    for sobject, fields in fields_by_object.items():
        records = rows(f"SELECT Id, {', '.join(fields)} FROM {sobject} ORDER BY Id")
        for index, fld in enumerate(fields, start=1):
            found = Counter(str(r[index]) for r in records if _plain(r[index]))
            counts[(sobject, fld)] = found
            values[(sobject, fld)] = sorted(found)
    accounts = [str(r[0]) for r in rows("SELECT Name FROM Account ORDER BY Name") if _plain(r[0])]
    prefixes = Counter(name.split()[0] for name in accounts)
    contacts = sorted(
        {
            (str(r[0]), str(r[1]))
            for r in rows("SELECT FirstName, LastName FROM Contact ORDER BY Id")
            if _plain(r[0]) and _plain(r[1])
        }
    )
    leads = sorted(
        {
            (str(r[0]), str(r[1]))
            for r in rows("SELECT FirstName, LastName FROM Lead ORDER BY Id")
            if _plain(r[0]) and _plain(r[1])
        }
    )
    domains = Counter(
        str(r[0]).rsplit("@", 1)[-1] for r in rows("SELECT Email FROM Contact") if _plain(r[0])
    )
    companies = [str(r[0]) for r in rows("SELECT Company FROM Lead ORDER BY Id") if _plain(r[0])]
    subjects = [str(r[0]) for r in rows("SELECT Subject FROM Case ORDER BY Id") if _plain(r[0])]
    subject_words = Counter(
        word.strip(":").lower()
        for subject in dict.fromkeys(subjects)
        for word in subject.split()
        if len(word.strip(":")) >= 5 and word.strip(":").isalpha()
    )
    record_ids = {
        sobject: [
            str(r[0])
            for r in rows(f"SELECT Id FROM {sobject} ORDER BY Id LIMIT {_SF_RECORDS_PER_OBJECT}")
        ]
        for sobject in _SF_NOUNS
    }
    return _SfDomain(
        values=values,
        counts=counts,
        accounts=accounts,
        account_prefixes=sorted(prefix for prefix, n in prefixes.items() if n >= 2),
        contacts=contacts,
        leads=leads,
        email_domains=sorted(domain for domain, n in domains.items() if n >= 2 and _plain(domain)),
        company_words=_shared_words(sorted(set(companies))),
        subject_words=sorted(subject_words),
        record_ids=record_ids,
    )


def _sf_query(soql: str) -> str:
    return json.dumps({"action": {"action": "query", "soql": soql}})


def _sf_families(d: _SfDomain, rng: random.Random) -> list[_Family]:  # noqa: C901
    """Every Salesforce family with its phrasings and slots."""
    families: list[_Family] = []

    def add(name: str, phrasings: Sequence[str], slots: Iterable[_Slot]) -> None:
        families.append(_Family(name, tuple(phrasings), tuple(slots)))

    filters = [
        (kind, sobject, fld, where.format(v=value), value)
        for kind, sobject, fld, where, *_ in _SF_FILTERS
        for value in d.values[(sobject, fld)]
    ]

    add(
        "count_all",
        (
            "How many {noun} are there?",
            "Count all {noun}.",
            "What is the total number of {noun}?",
            "How many {noun} do we have in the CRM?",
            "Tell me the number of {noun} in Salesforce.",
        ),
        (
            _Slot(
                {"noun": noun}, (f"object={sobject}",), _sf_query(f"SELECT COUNT() FROM {sobject}")
            )
            for sobject, noun in _SF_NOUNS.items()
        ),
    )
    add(
        "count_filtered",
        (
            "How many {np} are there?",
            "Count the {np}.",
            "What is the number of {np}?",
            "How many {np} do we have?",
            "Tell me how many {np} there are.",
        ),
        (
            _Slot(
                {"np": f"{_SF_NOUNS[sobject]} {where}"},
                (f"{kind}={value}",),
                _sf_query(f"SELECT COUNT() FROM {sobject} WHERE {fld} = {_lit(value)}"),
            )
            for kind, sobject, fld, where, value in filters
        ),
    )
    add(
        "list_filtered",
        (
            "List the {np}.",
            "Show me all {np}.",
            "Get the {np}.",
            "Can you pull up the {np}?",
            "I'd like to see the {np}.",
        ),
        (
            _Slot(
                {"np": f"{_SF_NOUNS[sobject]} {where}"},
                (f"{kind}={value}",),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[sobject]} FROM {sobject} WHERE {fld} = {_lit(value)}"
                ),
            )
            for kind, sobject, fld, where, value in filters
        ),
    )

    pairs = [
        (a, b)
        for i, a in enumerate(filters)
        for b in filters[i + 1 :]
        if a[1] == b[1] and a[2] != b[2] and a[0] != "title" and b[0] != "title"
    ]
    pairs = rng.sample(pairs, min(len(pairs), 500))
    add(
        "and_filters",
        (
            "List the {noun} {w1} and {w2}.",
            "Show me the {noun} {w1} and {w2}.",
            "Find all {noun} {w1} and {w2}.",
            "I need the {noun} {w1} and {w2}.",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[a[1]], "w1": a[3], "w2": b[3]},
                (f"{a[0]}={a[4]}", f"{b[0]}={b[4]}"),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[a[1]]} FROM {a[1]} WHERE {a[2]} = {_lit(a[4])} "
                    f"AND {b[2]} = {_lit(b[4])}"
                ),
            )
            for a, b in pairs
        ),
    )
    or_pairs = rng.sample(pairs, min(len(pairs), 200))
    add(
        "or_filters",
        (
            "List the {noun} that are either {w1} or {w2}.",
            "Show me every one of the {noun} {w1}, or {w2}.",
            "Find the {noun} {w1} as well as those {w2}.",
            "Which {noun} match one of these: {w1}, or {w2}?",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[a[1]], "w1": a[3], "w2": b[3]},
                (f"{a[0]}={a[4]}", f"{b[0]}={b[4]}"),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[a[1]]} FROM {a[1]} WHERE {a[2]} = {_lit(a[4])} "
                    f"OR {b[2]} = {_lit(b[4])}"
                ),
            )
            for a, b in or_pairs
        ),
    )

    in_slots: list[_Slot] = []
    not_in_slots: list[_Slot] = []
    for kind, sobject, fld, _, where_many, where_not, _ in _SF_FILTERS:
        values = d.values[(sobject, fld)]
        combos: list[tuple[str, ...]] = [
            (a, b) for i, a in enumerate(values) for b in values[i + 1 :]
        ]
        if len(combos) > 20:
            combos = rng.sample(combos, 20)
        for combo in combos:
            picked = list(combo)
            rng.shuffle(picked)
            listed = ", ".join(_lit(value) for value in picked)
            entity = tuple(f"{kind}={value}" for value in picked)
            noun = _SF_NOUNS[sobject]
            fields = _SF_LIST_FIELDS[sobject]
            in_slots.append(
                _Slot(
                    {"np": f"{noun} {where_many.format(v=_or_list(picked))}"},
                    entity,
                    _sf_query(f"SELECT {fields} FROM {sobject} WHERE {fld} IN ({listed})"),
                )
            )
            not_in_slots.append(
                _Slot(
                    {"np": f"{noun} {where_not.format(v=_or_list(picked))}"},
                    entity,
                    _sf_query(f"SELECT {fields} FROM {sobject} WHERE {fld} NOT IN ({listed})"),
                )
            )
    add(
        "in_list",
        ("List the {np}.", "Show me the {np}.", "Pull up the {np}.", "Find the {np}."),
        in_slots,
    )
    add(
        "not_in_list",
        (
            "List the {np}.",
            "Show me the {np}.",
            "Pull up the {np}.",
            "Find all {np}.",
        ),
        not_in_slots,
    )

    like: list[_Slot] = [
        _Slot(
            {"np": f"accounts whose name starts with {prefix}"},
            (f"account_prefix={prefix}",),
            _sf_query(f"SELECT Name FROM Account WHERE Name LIKE '{prefix}%'"),
        )
        for prefix in d.account_prefixes
    ]
    like += [
        _Slot(
            {"np": f"cases whose subject mentions {word}"},
            (f"subject_word={word}",),
            _sf_query(f"SELECT Id, Subject FROM Case WHERE Subject LIKE '%{word}%'"),
        )
        for word in d.subject_words
    ]
    like += [
        _Slot(
            {"np": f"contacts with an email address at {domain}"},
            (f"email_domain={domain}",),
            _sf_query(
                f"SELECT FirstName, LastName, Email FROM Contact WHERE Email LIKE '%@{domain}'"
            ),
        )
        for domain in d.email_domains
    ]
    like += [
        _Slot(
            {"np": f"leads whose company name contains {word}"},
            (f"company_word={word}",),
            _sf_query(
                f"SELECT FirstName, LastName, Company FROM Lead WHERE Company LIKE '%{word}%'"
            ),
        )
        for word in d.company_words
    ]
    add(
        "name_like",
        ("List the {np}.", "Show me the {np}.", "Find all {np}.", "Can you look up the {np}?"),
        like,
    )

    dated: list[_Slot] = []
    dated_counts: list[_Slot] = []
    for sobject, fld, verb, future in _SF_DATE_FIELDS:
        literals = _SF_DATE_LITERALS + (_SF_FUTURE_LITERALS if future else ())
        for literal, phrase in literals:
            np = f"{_SF_NOUNS[sobject]} {verb} {phrase}"
            dated.append(
                _Slot(
                    {"np": np},
                    (f"date={literal}",),
                    _sf_query(
                        f"SELECT {_SF_LIST_FIELDS[sobject]} FROM {sobject} WHERE {fld} = {literal}"
                    ),
                )
            )
            dated_counts.append(
                _Slot(
                    {"np": np},
                    (f"date={literal}",),
                    _sf_query(f"SELECT COUNT() FROM {sobject} WHERE {fld} = {literal}"),
                )
            )
    add(
        "date_literal",
        ("List the {np}.", "Show me the {np}.", "Get the {np}.", "Pull up all {np}.",
         "I need the {np}."),
        dated,
    )  # fmt: skip
    add(
        "date_literal_count",
        (
            "How many {np} do we have?",
            "Count the {np}.",
            "What is the number of {np}?",
            "Tell me how many {np} there are.",
        ),
        dated_counts,
    )

    iso: list[_Slot] = []
    for months in range(-12, 7):
        year = SANDBOX_ANCHOR.year + (SANDBOX_ANCHOR.month - 1 + months) // 12
        month = (SANDBOX_ANCHOR.month - 1 + months) % 12 + 1
        day = dt.date(year, month, 1).isoformat()
        for word, op in (("before", "<"), ("since", ">=")):
            iso.append(
                _Slot(
                    {"np": f"opportunities with a close date {word} {day}"},
                    (),
                    _sf_query(
                        f"SELECT Name, CloseDate FROM Opportunity WHERE CloseDate {op} {day}"
                    ),
                )
            )
            if months <= 0:
                for sobject in ("Case", "Lead"):
                    iso.append(
                        _Slot(
                            {"np": f"{_SF_NOUNS[sobject]} created {word} {day}"},
                            (),
                            _sf_query(
                                f"SELECT {_SF_LIST_FIELDS[sobject]}, CreatedDate FROM {sobject} "
                                f"WHERE CreatedDate {op} {day}T00:00:00Z"
                            ),
                        )
                    )
    add(
        "iso_date",
        ("List the {np}.", "Show me the {np}.", "Find the {np}.", "Which are the {np}?"),
        iso,
    )

    orderings: list[tuple[str, str, str, str, str, tuple[tuple[str, str, str], ...]]] = [
        # object, what the request calls them, fields, order, fixed condition, filter kinds
        ("Opportunity", "largest opportunities by amount", "Name, Amount", "Amount DESC", "",
         (("stage", "StageName", "in the {v} stage"),
          ("lead_source", "LeadSource", "with lead source {v}"))),
        ("Opportunity", "smallest opportunities by amount", "Name, Amount", "Amount ASC", "", ()),
        ("Opportunity", "open opportunities closing soonest", "Name, CloseDate", "CloseDate ASC",
         "IsClosed = false", ()),
        ("Account", "accounts with the highest annual revenue", "Name, AnnualRevenue",
         "AnnualRevenue DESC", "",
         (("industry", "Industry", "in the {v} industry"),
          ("country", "BillingCountry", "based in {v}"))),
        ("Account", "accounts with the most employees", "Name, NumberOfEmployees",
         "NumberOfEmployees DESC", "", (("industry", "Industry", "in the {v} industry"),)),
        ("Case", "most recent cases", "Id, Subject, CreatedDate", "CreatedDate DESC", "",
         (("priority", "Priority", "with {v} priority"),)),
        ("Lead", "newest leads", "FirstName, LastName, Company, CreatedDate", "CreatedDate DESC",
         "", (("rating", "Rating", "rated {v}"),)),
    ]  # fmt: skip
    top: list[_Slot] = []
    for sobject, what, fields, order, fixed, kinds in orderings:
        scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())]
        for kind, fld, phrase in kinds:
            scopes += [
                (f" {phrase.format(v=value)}", f"{fld} = {_lit(value)}", (f"{kind}={value}",))
                for value in d.values[(sobject, fld)]
            ]
        for where, condition, entity in scopes:
            conditions = " AND ".join(c for c in (fixed, condition) if c)
            clause = f" WHERE {conditions}" if conditions else ""
            for n in _TOP_N:
                top.append(
                    _Slot(
                        {"n": str(n), "what": what + where},
                        entity,
                        _sf_query(
                            f"SELECT {fields} FROM {sobject}{clause} ORDER BY {order} LIMIT {n}"
                        ),
                    )
                )
    add(
        "top_n",
        (
            "Show me the {n} {what}.",
            "What are the {n} {what}?",
            "Give me the {n} {what}.",
            "List the top {n} {what}.",
        ),
        top,
    )

    paging: list[_Slot] = []
    for sobject, fields, key, how in (
        ("Account", "Name", "Name ASC", "by name"),
        ("Contact", "FirstName, LastName", "LastName ASC", "by last name"),
        ("Lead", "FirstName, LastName, Company", "Company ASC", "by company"),
        ("Case", "Id, Subject, CreatedDate", "CreatedDate DESC", "newest first"),
    ):
        for size in (10, 20):
            for page in (2, 3, 4):
                paging.append(
                    _Slot(
                        {"noun": _SF_NOUNS[sobject], "how": how, "size": str(size),
                         "page": str(page), "ordinal": ("second", "third", "fourth")[page - 2]},
                        (f"object={sobject}",),
                        _sf_query(
                            f"SELECT {fields} FROM {sobject} ORDER BY {key} LIMIT {size} "
                            f"OFFSET {size * (page - 1)}"
                        ),
                    )
                )  # fmt: skip
    add(
        "sorted_pages",
        (
            "Show the {ordinal} page of {size} {noun}, sorted {how}.",
            "List {noun} sorted {how}: page {page}, {size} per page.",
            "Give me page {page} of the {noun} sorted {how}, {size} at a time.",
        ),
        paging,
    )
    nulls_last = (
        ("contacts", "by title, those without a title last", "Contact",
         "FirstName, LastName, Title", "Title ASC NULLS LAST"),
        ("cases", "by closed date, newest first, open cases last", "Case",
         "Id, Subject, ClosedDate", "ClosedDate DESC NULLS LAST"),
        ("opportunities", "by lead source, those without one first", "Opportunity",
         "Name, LeadSource", "LeadSource ASC NULLS FIRST"),
        ("accounts", "by annual revenue, largest first, blanks last", "Account",
         "Name, AnnualRevenue", "AnnualRevenue DESC NULLS LAST"),
    )  # fmt: skip
    add(
        "sorted_nulls",
        (
            "List the first {n} {noun} sorted {how}.",
            "Show {n} {noun}, sorted {how}.",
            "Give me the top {n} {noun} ordered {how}.",
            "Sort the {noun} {how} and show the first {n}.",
        ),
        (
            _Slot(
                {"n": str(n), "noun": noun, "how": how},
                (f"object={sobject}",),
                _sf_query(f"SELECT {fields} FROM {sobject} ORDER BY {order} LIMIT {n}"),
            )
            for noun, how, sobject, fields, order in nulls_last
            for n in (5, 10, 20, 50)
        ),
    )

    dims = [
        (kind, sobject, fld, dim)
        for kind, sobject, fld, *_, dim in _SF_FILTERS
        if kind not in ("title", "city")
    ]
    add(
        "group_count",
        (
            "How many {noun} are there per {dim}?",
            "Count the {noun} by {dim}.",
            "Give me the number of {noun} for each {dim}.",
            "Break down the {noun} by {dim}.",
            "What is the {dim} breakdown of {noun}?",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[sobject], "dim": dim},
                (f"group={sobject}.{fld}",),
                _sf_query(f"SELECT {fld}, COUNT(Id) FROM {sobject} GROUP BY {fld}"),
            )
            for _, sobject, fld, dim in dims
        ),
    )
    add(
        "group_count_filtered",
        (
            "How many {np} are there per {dim}?",
            "Count the {np} by {dim}.",
            "For the {np}, give me the number per {dim}.",
            "Break down the {np} by {dim}.",
        ),
        (
            _Slot(
                {"np": f"{_SF_NOUNS[sobject]} {where}", "dim": dim},
                (f"{kind}={value}",),
                _sf_query(
                    f"SELECT {gfld}, COUNT(Id) FROM {sobject} WHERE {fld} = {_lit(value)} "
                    f"GROUP BY {gfld}"
                ),
            )
            for _, sobject, gfld, dim in dims
            for kind, fobject, fld, where, value in filters
            if fobject == sobject and fld != gfld and kind not in ("title", "city")
        ),
    )

    measures = (
        ("Opportunity", "Amount", "opportunity amount", "amount", "opportunities"),
        ("Account", "AnnualRevenue", "annual revenue of accounts", "annual revenue", "accounts"),
        ("Account", "NumberOfEmployees", "number of employees of accounts",
         "number of employees", "accounts"),
    )  # fmt: skip
    sums = (("total", "SUM"), ("average", "AVG"), ("largest", "MAX"), ("smallest", "MIN"))
    add(
        "group_aggregate",
        (
            "What is the {agg} {measure} per {dim}?",
            "Show the {agg} {measure} by {dim}.",
            "Give me the {agg} {measure} for each {dim}.",
            "Break down the {agg} {measure} by {dim}.",
        ),
        (
            _Slot(
                {"agg": word, "measure": measure, "dim": dim},
                (f"group={sobject}.{gfld}",),
                _sf_query(f"SELECT {gfld}, {function}({fld}) FROM {sobject} GROUP BY {gfld}"),
            )
            for sobject, fld, measure, _, _ in measures
            for _, dobject, gfld, dim in dims
            if dobject == sobject
            for word, function in sums[:3]
        ),
    )
    add(
        "aggregate",
        (
            "What is the {agg} {measure} of {np}?",
            "Calculate the {agg} {measure} of {np}.",
            "Tell me the {agg} {measure} across {np}.",
            "Give me the {agg} {measure} for {np}.",
        ),
        (
            _Slot(
                {"agg": word, "measure": short, "np": f"{noun} {where}"},
                (f"{kind}={value}",),
                _sf_query(f"SELECT {function}({fld}) FROM {sobject} WHERE {ffld} = {_lit(value)}"),
            )
            for sobject, fld, _, short, noun in measures
            for kind, fobject, ffld, where, value in filters
            if fobject == sobject and kind not in ("title",)
            for word, function in sums
        ),
    )

    having: list[_Slot] = []
    plural = {"industry": "industries", "type": "types", "billing country": "billing countries",
              "stage": "stages", "lead source": "lead sources", "status": "statuses",
              "rating": "ratings", "priority": "priorities", "origin": "origins"}  # fmt: skip
    for _, sobject, fld, dim in dims:
        for n in _thresholds(list(d.counts[(sobject, fld)].values()), step=5):
            having.append(
                _Slot(
                    {"dim": dim, "dims": plural[dim], "n": str(n), "noun": _SF_NOUNS[sobject]},
                    (f"group={sobject}.{fld}",),
                    _sf_query(
                        f"SELECT {fld}, COUNT(Id) FROM {sobject} GROUP BY {fld} "
                        f"HAVING COUNT(Id) > {n}"
                    ),
                )
            )
    add(
        "having_count",
        (
            "Which {dims} have more than {n} {noun}?",
            "List the {dims} with over {n} {noun}.",
            "Show every {dim} that has more than {n} {noun}, with the count.",
            "Find the {dims} where we have more than {n} {noun}.",
        ),
        having,
    )

    add(
        "by_account",
        (
            "List the {noun} of {account}.",
            "Show me all {noun} for {account}.",
            "Which {noun} does {account} have?",
            "Get the {noun} linked to the account {account}.",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[sobject], "account": account},
                (f"account={account}",),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[sobject]} FROM {sobject} "
                    f"WHERE Account.Name = {_lit(account)}"
                ),
            )
            for account in d.accounts
            for sobject in ("Contact", "Opportunity", "Case")
        ),
    )
    parent_filters = [f for f in filters if f[1] == "Account" and f[0] != "city"]
    add(
        "by_account_field",
        (
            "List the {noun} at accounts {where}.",
            "Show me the {noun} whose account is {where}.",
            "Which {noun} belong to accounts {where}?",
            "Get all {noun} of accounts {where}.",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[sobject], "where": where},
                (f"{kind}={value}",),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[sobject]} FROM {sobject} "
                    f"WHERE Account.{fld} = {_lit(value)}"
                ),
            )
            for kind, _, fld, where, value in parent_filters
            for sobject in ("Contact", "Opportunity", "Case")
        ),
    )
    add(
        "with_account_name",
        (
            "List the {np} with their account names.",
            "Show the {np} together with the account each belongs to.",
            "For the {np}, give me the account name too.",
            "Show me the {np} and their accounts.",
        ),
        (
            _Slot(
                {"np": f"{_SF_NOUNS[sobject]} {where}"},
                (f"{kind}={value}",),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[sobject]}, Account.Name FROM {sobject} "
                    f"WHERE {fld} = {_lit(value)}"
                ),
            )
            for kind, sobject, fld, where, value in filters
            if sobject in ("Contact", "Opportunity", "Case")
        ),
    )

    add(
        "describe",
        (
            "Which fields does the {sobject} object have?",
            "Describe the {sobject} object.",
            "What fields are available on {sobject}?",
            "Show me the fields and picklist values of {sobject}.",
            "List the fields of the {sobject} object, please.",
            "What can I query on {sobject} records?",
        ),
        (
            _Slot(
                {"sobject": sobject},
                (f"object={sobject}",),
                json.dumps({"action": {"action": "describe", "sobject": sobject}}),
            )
            for sobject in _SF_NOUNS
        ),
    )
    add(
        "get_record",
        (
            "Get the {fields} of {obj} {id}.",
            "Show me the {fields} of the {obj} record {id}.",
            "Look up {obj} {id} and show its {fields}.",
            "For {obj} {id}, fetch the {fields}.",
            "I need the {fields} of record {id}.",
        ),
        (
            _Slot(
                {"fields": words, "obj": _SF_SINGULAR[sobject], "id": record_id},
                (f"record={record_id}",),
                json.dumps(
                    {
                        "action": {
                            "action": "get",
                            "sobject": sobject,
                            "record_id": record_id,
                            "fields": list(names),
                        }
                    }
                ),
            )
            for sobject, options in _SF_GET_FIELDS.items()
            for record_id in d.record_ids[sobject]
            for names, words in options
        ),
    )

    person_fields = (("Email", "email address"), ("Phone", "phone number"), ("Title", "title"))
    add(
        "contact_lookup",
        (
            "What is the {what} of {person}?",
            "Find the {what} for the contact {person}.",
            "Look up the {what} of our contact {person}.",
            "Can you get me the {what} of {person}?",
        ),
        (
            _Slot(
                {"what": words, "person": f"{first} {last}"},
                (f"contact={first} {last}",),
                _sf_query(
                    f"SELECT {fld} FROM Contact WHERE FirstName = {_lit(first)} "
                    f"AND LastName = {_lit(last)}"
                ),
            )
            for first, last in d.contacts
            for fld, words in person_fields
        ),
    )
    lead_fields = (("Company", "company"), ("Status", "status"), ("Rating", "rating"),
                   ("Email", "email address"))  # fmt: skip
    add(
        "lead_lookup",
        (
            "What is the {what} of the lead {person}?",
            "Find the {what} for the lead {person}.",
            "Look up the {what} of {person} among our leads.",
            "Tell me the {what} of the lead named {person}.",
        ),
        (
            _Slot(
                {"what": words, "person": f"{first} {last}"},
                (f"lead={first} {last}",),
                _sf_query(
                    f"SELECT {fld} FROM Lead WHERE FirstName = {_lit(first)} "
                    f"AND LastName = {_lit(last)}"
                ),
            )
            for first, last in d.leads
            for fld, words in lead_fields
        ),
    )

    outcomes = (
        ("won opportunities", "IsWon = true"),
        ("open opportunities", "IsClosed = false"),
        ("lost opportunities", "IsClosed = true AND IsWon = false"),
        ("closed opportunities", "IsClosed = true"),
    )
    outcome_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" at accounts {where}", f" AND Account.{fld} = {_lit(value)}", (f"{kind}={value}",))
        for kind, _, fld, where, value in parent_filters
        if kind == "industry"
    ]
    add(
        "won_open_lost",
        ("List the {np}.", "Show me all {np}.", "Which {np} do we have?", "Get the {np}."),
        (
            _Slot(
                {"np": np + where},
                entity,
                _sf_query(f"SELECT Name, Amount FROM Opportunity WHERE {condition}{clause}"),
            )
            for np, condition in outcomes
            for where, clause, entity in outcome_scopes
        ),
    )

    numeric = (
        ("Account", "NumberOfEmployees", "Name, NumberOfEmployees", "accounts with {cmp} employees",
         (100, 500, 1000, 5000, 10000)),
        ("Account", "AnnualRevenue", "Name, AnnualRevenue", "accounts with an annual revenue {cmp}",
         (10000000, 50000000, 100000000, 500000000, 1000000000)),
        ("Opportunity", "Amount", "Name, Amount", "opportunities worth {cmp}",
         (25000, 50000, 100000, 250000, 400000)),
    )  # fmt: skip
    add(
        "numeric_compare",
        ("List the {np}.", "Show me the {np}.", "Find all {np}.", "Get the {np}."),
        (
            _Slot(
                {"np": phrase.format(cmp=f"{word} {n}")},
                (),
                _sf_query(f"SELECT {fields} FROM {sobject} WHERE {fld} {op} {n}"),
            )
            for sobject, fld, fields, phrase, steps in numeric
            for n in steps
            for word, op in (("more than", ">"), ("at most", "<="))
        ),
    )

    nulls = (
        ("contacts without a title", "Contact", "FirstName, LastName", "Title = null"),
        ("contacts that have a title", "Contact", "FirstName, LastName, Title", "Title != null"),
        ("cases without a contact", "Case", "Id, Subject", "ContactId = null"),
        ("cases that have a closed date", "Case", "Id, Subject, ClosedDate", "ClosedDate != null"),
        ("cases without a closed date", "Case", "Id, Subject", "ClosedDate = null"),
    )
    null_slots = [
        _Slot(
            {"np": np},
            (f"object={sobject}",),
            _sf_query(f"SELECT {fields} FROM {sobject} WHERE {cond}"),
        )
        for np, sobject, fields, cond in nulls
    ]
    null_slots += [
        _Slot(
            {"np": f"{np} {where}"},
            (f"{kind}={value}",),
            _sf_query(f"SELECT {fields} FROM {sobject} WHERE {cond} AND {fld} = {_lit(value)}"),
        )
        for np, sobject, fields, cond in nulls
        for kind, fobject, fld, where, value in filters
        if fobject == sobject and kind in ("priority", "case_status", "origin")
    ]
    add(
        "null_fields",
        ("List the {np}.", "Show me all {np}.", "Find the {np}.", "Which are the {np}?"),
        null_slots,
    )
    return families


def _register_sf_entities(heldout: _HeldOut, d: _SfDomain) -> None:
    by_kind: dict[str, list[str]] = {}
    for kind, sobject, fld, *_ in _SF_FILTERS:
        by_kind.setdefault(kind, []).extend(d.values[(sobject, fld)])
    for kind, values in by_kind.items():
        heldout.register_entities(kind, values)
    heldout.register_entities("account", d.accounts)
    heldout.register_entities("account_prefix", d.account_prefixes)
    heldout.register_entities("contact", [f"{first} {last}" for first, last in d.contacts])
    heldout.register_entities("lead", [f"{first} {last}" for first, last in d.leads])
    heldout.register_entities("email_domain", d.email_domains)
    heldout.register_entities("company_word", d.company_words)
    heldout.register_entities("subject_word", d.subject_words)
    heldout.register_entities("record", [i for ids in d.record_ids.values() for i in ids])
    literals = _SF_DATE_LITERALS + _SF_FUTURE_LITERALS
    heldout.register_entities("date", [literal for literal, _ in literals])


def _sf_checker(client: Any) -> _Check:
    """A check that parses, validates and runs each action on the sandbox (cached)."""
    from pydantic import ValidationError

    from tools.salesforce import ActionRequest, QueryAction, SalesforceError, SoqlValidationError

    cache: dict[str, tuple[_Checked | None, str | None]] = {}

    def check(candidate: _Candidate) -> tuple[_Checked | None, str | None]:
        if candidate.target in cache:
            return cache[candidate.target]
        outcome: tuple[_Checked | None, str | None]
        try:
            request = ActionRequest.model_validate_json(candidate.target)
        except ValidationError:
            outcome = (None, "not an ActionRequest")
        else:
            action = request.action
            try:
                normalised = client.validate_action(action)
                result = client.run(action, row_limit=_SF_ROW_LIMIT)
            except SoqlValidationError as exc:
                outcome = (None, f"rejected by validate_action ({exc.code})")
            except SalesforceError as exc:
                outcome = (None, f"failed on the sandbox ({exc.code})")
            else:
                counted = isinstance(action, QueryAction) and result.columns == ["COUNT()"]
                if json.dumps(request.model_dump(mode="json")) != candidate.target:
                    outcome = (None, "not in the model's field order")
                elif normalised.model_dump(mode="json") != action.model_dump(mode="json"):
                    outcome = (None, "not in the form validate_action normalises to")
                elif not result.rows:
                    outcome = (None, "no records")
                elif (
                    not counted
                    and len(result.rows) == 1
                    and all(value is None for value in result.rows[0])
                ):
                    outcome = (None, "aggregate over no records (null)")
                else:
                    outcome = (_Checked({"gold_records": len(result.rows)}), None)
        cache[candidate.target] = outcome
        return outcome

    return check


# ------------------------------------------------------------------------------------------
# Salesforce writes: create, update, delete
# ------------------------------------------------------------------------------------------

WRITE_TRAIN_SIZE = 750
"""Salesforce write examples (create, update, delete) aimed at in train (scale 1.0)."""

WRITE_HELDOUT_SIZE = 50
"""Salesforce write examples aimed at in held-out (scale 1.0)."""

_SF_WRITE_FAMILIES = ("create", "update", "update_status", "update_two", "delete")
"""The write families; the read families are every other Salesforce family."""

_SF_DELETABLE = ("Lead", "Case", "Contact", "Opportunity")
_SF_AMOUNTS = (5000, 12000, 25000, 40000, 50000, 75000, 90000, 120000, 180000, 250000)
_SF_CLOSE_DATES = (
    "2026-12-15", "2026-12-31", "2027-01-15", "2027-01-31", "2027-02-28",
    "2027-03-15", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30",
)  # fmt: skip
_SF_COMPANY_SUFFIXES = ("Labs", "Group", "Holdings", "Partners", "Systems", "Consulting",
                        "Industries", "Logistics", "Studios", "Analytics")  # fmt: skip
_SF_DEAL_SUFFIXES = ("Renewal", "Expansion", "New Business", "Upgrade", "Pilot", "Add-on")
_SF_SUBJECT_SKIP = frozenset({"cannot", "change", "delayed", "failed", "request", "reset"})
"""Subject words that are no nouns (a new case is "Problem with <noun>")."""
_SF_SUBJECTS = ("Problem with {w}", "Question about {w}", "Issue with {w}", "{W} request",
                "Help needed with {w}")  # fmt: skip
# object, field, how a request names it, entity kind, whether "mark X as <value>" reads well
_SF_UPDATE_FIELDS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("Opportunity", "StageName", "stage", "stage", True),
    ("Opportunity", "Amount", "amount", "amount", False),
    ("Opportunity", "CloseDate", "close date", "close_date", False),
    ("Lead", "Status", "status", "lead_status", True),
    ("Lead", "Rating", "rating", "rating", False),
    ("Lead", "LeadSource", "lead source", "lead_source", False),
    ("Case", "Status", "status", "case_status", True),
    ("Case", "Priority", "priority", "priority", False),
    ("Case", "Origin", "origin", "origin", False),
    ("Contact", "Title", "title", "title", False),
    ("Account", "Industry", "industry", "industry", False),
    ("Account", "Type", "type", "account_type", False),
)


@dataclass
class _SfWriteDomain:
    """What write requests are made of: the read domain and the org's account names."""

    base: _SfDomain
    account_names: dict[str, str]
    """Account Id (among the record Ids) -> its name."""
    first_names: list[str]
    last_names: list[str]


def _read_sf_write_domain(client: Any, d: _SfDomain) -> _SfWriteDomain:
    from tools.salesforce import QueryAction

    ids = d.record_ids["Account"]
    rows = client.run(
        QueryAction(soql=f"SELECT Id, Name FROM Account ORDER BY Id LIMIT {len(ids)}"),
        row_limit=_SF_ROW_LIMIT,
    ).rows
    names = {str(r[0]): str(r[1]) for r in rows if str(r[0]) in ids and _plain(r[1])}
    people = [*d.contacts, *d.leads]
    first = sorted({f for f, _ in people if f.isalpha()})
    last = sorted({lst for _, lst in people if lst.isalpha()})
    return _SfWriteDomain(d, names, first, last)


def _register_sf_write_entities(heldout: _HeldOut, w: _SfWriteDomain) -> None:
    heldout.register_entities("first_name", w.first_names)
    heldout.register_entities("last_name", w.last_names)
    heldout.register_entities("amount", [str(a) for a in _SF_AMOUNTS])
    heldout.register_entities("close_date", _SF_CLOSE_DATES)


def _sf_write(action: dict[str, Any]) -> str:
    return json.dumps({"action": action})


def _and_list(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _sf_shown(kind: str, value: str) -> str:
    """A field value as a request writes it."""
    return f"${int(value):,}" if kind == "amount" else value


def _sf_create_slots(w: _SfWriteDomain, rng: random.Random) -> list[_Slot]:  # noqa: C901
    d = w.base
    existing = {*d.contacts, *d.leads}
    accounts = sorted(w.account_names)

    def person() -> tuple[str, str]:
        while True:
            pair = (rng.choice(w.first_names), rng.choice(w.last_names))
            if pair not in existing:
                return pair

    def optional(sobject: str, fld: str, kind: str, label: str) -> tuple[str, str, str] | None:
        values = d.values.get((sobject, fld)) or []
        if not values or rng.random() < 0.5:
            return None
        value = rng.choice(values)
        return fld, value, f"{label} {value}"

    slots: list[_Slot] = []
    seen: set[str] = set()

    def add(sobject: str, values: dict[str, Any], entity: list[str], desc: str) -> None:
        target = _sf_write({"action": "create", "sobject": sobject, "values": values})
        if target in seen:
            return
        seen.add(target)
        noun = _SF_SINGULAR[sobject]
        article = "an" if noun[0] in "aeiou" else "a"
        fill = {"noun": noun, "a_noun": f"{article} {noun}", "desc": desc}
        slots.append(_Slot(fill, tuple(dict.fromkeys(entity)), target))

    for _ in range(70):  # Lead
        first, last = person()
        company = f"{last} {rng.choice(_SF_COMPANY_SUFFIXES)}"
        values: dict[str, Any] = {"FirstName": first, "LastName": last, "Company": company}
        entity = [f"first_name={first}", f"last_name={last}"]
        parts = []
        for fld, kind, label in (("Status", "lead_status", "status"),
                                 ("Rating", "rating", "rating"),
                                 ("LeadSource", "lead_source", "lead source")):  # fmt: skip
            picked = optional("Lead", fld, kind, label)
            if picked:
                values[fld] = picked[1]
                entity.append(f"{kind}={picked[1]}")
                parts.append(picked[2])
        desc = f"for {first} {last} at {company}" + (f", {_and_list(parts)}" if parts else "")
        add("Lead", values, entity, desc)
    subject_words = [s for s in d.subject_words if _plain(s) and s not in _SF_SUBJECT_SKIP]
    priorities = d.values.get(("Case", "Priority")) or []
    for _ in range(70 if subject_words and priorities else 0):  # Case
        word = rng.choice(subject_words)
        subject = rng.choice(_SF_SUBJECTS).format(w=word, W=word.capitalize())
        priority = rng.choice(priorities)
        values = {"Subject": subject, "Priority": priority}
        entity = [f"subject_word={word}", f"priority={priority}"]
        parts = [f"priority {priority}"]
        for fld, kind, label in (("Status", "case_status", "status"),
                                 ("Origin", "origin", "origin")):  # fmt: skip
            picked = optional("Case", fld, kind, label)
            if picked:
                values[fld] = picked[1]
                entity.append(f"{kind}={picked[1]}")
                parts.append(picked[2])
        if accounts and rng.random() < 0.5:
            account = rng.choice(accounts)
            values["AccountId"] = account
            entity.append(f"record={account}")
            parts.append(f"account {account}")
        add("Case", values, entity, f'with subject "{subject}", {_and_list(parts)}')
    for _ in range(70 if accounts else 0):  # Contact
        first, last = person()
        account = rng.choice(accounts)
        values = {"FirstName": first, "LastName": last, "AccountId": account}
        entity = [f"first_name={first}", f"last_name={last}", f"record={account}"]
        parts = []
        picked = optional("Contact", "Title", "title", "title")
        if picked:
            values["Title"] = picked[1]
            entity.append(f"title={picked[1]}")
            parts.append(picked[2])
        if d.email_domains and rng.random() < 0.5:
            domain = rng.choice(d.email_domains)
            email = f"{first}.{last}@{domain}".lower()
            values["Email"] = email
            entity.append(f"email_domain={domain}")
            parts.append(f"email {email}")
        desc = f"{first} {last} for account {account}" + (f", {_and_list(parts)}" if parts else "")
        add("Contact", values, entity, desc)
    stages = d.values.get(("Opportunity", "StageName")) or []
    for _ in range(70 if accounts and stages else 0):  # Opportunity
        account = rng.choice(accounts)
        name = f"{w.account_names[account]} {rng.choice(_SF_DEAL_SUFFIXES)}"
        stage = rng.choice(stages)
        close = rng.choice(_SF_CLOSE_DATES)
        values = {"Name": name, "StageName": stage, "CloseDate": close}
        entity = [f"account={w.account_names[account]}", f"stage={stage}", f"close_date={close}"]
        parts = [f"stage {stage}", f"close date {close}"]
        if rng.random() < 0.5:
            values["AccountId"] = account
            entity.append(f"record={account}")
            parts.append(f"account {account}")
        if rng.random() < 0.5:
            amount = rng.choice(_SF_AMOUNTS)
            values["Amount"] = amount
            entity.append(f"amount={amount}")
            parts.append(f"amount {_sf_shown('amount', str(amount))}")
        add("Opportunity", values, entity, f'named "{name}", {_and_list(parts)}')
    for _ in range(70):  # Account
        last = rng.choice(w.last_names)
        name = f"{last} {rng.choice(_SF_COMPANY_SUFFIXES)}"
        values = {"Name": name}
        entity = [f"last_name={last}"]
        parts = []
        for fld, kind, label in (("Industry", "industry", "industry"),
                                 ("Type", "account_type", "type"),
                                 ("BillingCountry", "country", "billing country")):  # fmt: skip
            picked = optional("Account", fld, kind, label)
            if picked:
                values[fld] = picked[1]
                entity.append(f"{kind}={picked[1]}")
                parts.append(picked[2])
        add(
            "Account",
            values,
            entity,
            f'named "{name}"' + (f", {_and_list(parts)}" if parts else ""),
        )
    return slots


def _sf_update_values(w: _SfWriteDomain, sobject: str, kind: str, fld: str) -> list[str]:
    if kind == "amount":
        return [str(a) for a in _SF_AMOUNTS]
    if kind == "close_date":
        return list(_SF_CLOSE_DATES)
    return list(w.base.values.get((sobject, fld)) or [])


def _sf_update_ids(w: _SfWriteDomain, sobject: str) -> list[str]:
    """The records updates change: every Account, every other record of the others.

    Deletes take the rest, so no update needs a record that a delete removed.
    """
    ids = w.base.record_ids.get(sobject) or []
    return list(ids) if sobject not in _SF_DELETABLE else list(ids[1::2])


def _sf_write_families(w: _SfWriteDomain, rng: random.Random) -> list[_Family]:
    """The write families (create, update, delete) with their phrasings and slots."""
    families: list[_Family] = []

    def add(name: str, phrasings: Sequence[str], slots: Iterable[_Slot]) -> None:
        families.append(_Family(name, tuple(phrasings), tuple(slots)))

    add(
        "create",
        ("Create a new {noun} {desc}.", "Add {a_noun} {desc}.",
         "Please create {a_noun} record {desc}.", "I need a new {noun} {desc}.",
         "Set up a new {noun} {desc}."),
        _sf_create_slots(w, rng),
    )  # fmt: skip

    def value_of(kind: str, value: str) -> Any:
        return int(value) if kind == "amount" else value

    single: list[_Slot] = []
    marks: list[_Slot] = []
    pairs: list[_Slot] = []
    by_object: dict[str, list[tuple[str, str, str, bool]]] = {}
    for sobject, fld, label, kind, mark in _SF_UPDATE_FIELDS:
        by_object.setdefault(sobject, []).append((fld, label, kind, mark))
    for sobject, fields in by_object.items():
        noun = _SF_SINGULAR[sobject]
        for record in _sf_update_ids(w, sobject):
            for fld, label, kind, mark in fields:
                for value in _sf_update_values(w, sobject, kind, fld):
                    target = _sf_write({"action": "update", "sobject": sobject,
                                        "record_id": record,
                                        "values": {fld: value_of(kind, value)}})  # fmt: skip
                    fill = {"noun": noun, "id": record, "label": label,
                            "v": _sf_shown(kind, value)}  # fmt: skip
                    slot = _Slot(fill, (f"record={record}", f"{kind}={value}"), target)
                    single.append(slot)
                    if mark:
                        marks.append(slot)
            for (f1, l1, k1, _), (f2, l2, k2, _) in itertools.combinations(fields, 2):
                v1s = _sf_update_values(w, sobject, k1, f1)
                v2s = _sf_update_values(w, sobject, k2, f2)
                if not v1s or not v2s:
                    continue
                for _ in range(3):
                    v1, v2 = rng.choice(v1s), rng.choice(v2s)
                    both = {f1: value_of(k1, v1), f2: value_of(k2, v2)}
                    target = _sf_write({"action": "update", "sobject": sobject,
                                        "record_id": record, "values": both})  # fmt: skip
                    fill = {"noun": noun, "id": record, "l1": l1, "v1": _sf_shown(k1, v1),
                            "l2": l2, "v2": _sf_shown(k2, v2)}  # fmt: skip
                    entity = (f"record={record}", f"{k1}={v1}", f"{k2}={v2}")
                    pairs.append(_Slot(fill, entity, target))
    add(
        "update",
        ("Set the {label} of {noun} {id} to {v}.", "Change {noun} {id}'s {label} to {v}.",
         "Update the {label} on {noun} {id} to {v}.",
         "Please change the {label} of {noun} {id} to {v}.",
         "For {noun} {id}, set the {label} to {v}."),
        single,
    )  # fmt: skip
    add(
        "update_status",
        ("Mark {noun} {id} as {v}.", "Move {noun} {id} to {v}.", "Set {noun} {id} to {v}.",
         "Please mark {noun} {id} as {v}."),
        marks,
    )  # fmt: skip
    add(
        "update_two",
        ("Set the {l1} of {noun} {id} to {v1} and its {l2} to {v2}.",
         "Update {noun} {id}: {l1} {v1}, {l2} {v2}.",
         "Change {noun} {id} so that its {l1} is {v1} and its {l2} is {v2}.",
         "On {noun} {id}, set {l1} to {v1} and {l2} to {v2}."),
        pairs,
    )  # fmt: skip
    deletes = [
        _Slot(
            {"noun": _SF_SINGULAR[sobject], "id": record},
            (f"record={record}",),
            _sf_write({"action": "delete", "sobject": sobject, "record_id": record}),
        )
        for sobject in _SF_DELETABLE
        for record in (w.base.record_ids.get(sobject) or [])[0::2]
    ]
    add(
        "delete",
        ("Delete {noun} {id}.", "Remove {noun} {id}.", "Please delete the {noun} with Id {id}.",
         "Get rid of {noun} {id}.", "Delete the {noun} record {id}."),
        deletes,
    )  # fmt: skip
    return families


def _sf_write_checker(client: Any) -> _Check:
    """A check that parses, validates and performs each write on the sandbox (cached).

    Updates and deletes name disjoint records (:func:`_sf_update_ids`), so no write needs a
    record that an earlier one removed; a delete repeated in the other split is answered from
    the cache.
    """
    from pydantic import ValidationError

    from tools.salesforce import ActionRequest, SalesforceError, SoqlValidationError

    cache: dict[str, tuple[_Checked | None, str | None]] = {}

    def check(candidate: _Candidate) -> tuple[_Checked | None, str | None]:
        if candidate.target in cache:
            return cache[candidate.target]
        outcome: tuple[_Checked | None, str | None]
        try:
            request = ActionRequest.model_validate_json(candidate.target)
        except ValidationError:
            outcome = (None, "not an ActionRequest")
        else:
            action = request.action
            try:
                normalised = client.validate_action(action)
                if json.dumps(request.model_dump(mode="json")) != candidate.target:
                    outcome = (None, "not in the model's field order")
                elif normalised.model_dump(mode="json") != action.model_dump(mode="json"):
                    outcome = (None, "not in the form validate_action normalises to")
                else:
                    result = client.run(action, row_limit=_SF_ROW_LIMIT)
                    outcome = (_Checked({"gold_records": len(result.rows)}), None)
            except SoqlValidationError as exc:
                outcome = (None, f"rejected by validate_action ({exc.code})")
            except SalesforceError as exc:
                outcome = (None, f"failed on the sandbox ({exc.code})")
        cache[candidate.target] = outcome
        return outcome

    return check


# ------------------------------------------------------------------------------------------
# Router: plans over the sql and salesforce requests
# ------------------------------------------------------------------------------------------

_ROUTER_SHAPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sql", ("sql",)),
    ("salesforce", ("salesforce",)),
    ("summarize_text", ("text",)),
    ("sql_summarize", ("sql", "ref")),
    ("salesforce_summarize", ("salesforce", "ref")),
    ("sql_salesforce", ("sql", "salesforce")),
    ("salesforce_sql", ("salesforce", "sql")),
    ("sql_sql", ("sql", "sql")),
    ("salesforce_salesforce", ("salesforce", "salesforce")),
    ("text_sql", ("text", "sql")),
    ("text_salesforce", ("text", "salesforce")),
    ("sql_salesforce_summarize", ("sql", "salesforce", "ref")),
    ("salesforce_sql_summarize", ("salesforce", "sql", "ref")),
    ("sql_summarize_salesforce", ("sql", "ref", "salesforce")),
    ("salesforce_summarize_sql", ("salesforce", "ref", "sql")),
    ("sql_summarize_salesforce_summarize", ("sql", "ref", "salesforce", "ref")),
    ("salesforce_summarize_sql_summarize", ("salesforce", "ref", "sql", "ref")),
)
"""Plan shapes: each is a family; ``text`` is a summarise clause with its text inline, ``ref``
one that summarises the sub-task before it."""

_SINGLE_STYLES = ("bare", "marker", "quick_question", "please_answer")
_SINGLE_PREFIXES = {"quick_question": "Quick question: ", "please_answer": "Please answer this: "}
_MULTI_STYLES = ("sentences", "then", "comma_then", "and", "and_then", "also", "first_then",
                 "newline")  # fmt: skip
_INLINE_STYLES = (
    "Summarise: {text}",
    "Summarize this: {text}",
    "Give me a short summary of the following text: {text}",
    "Please summarise the following note: {text}",
    "Summarise this in one sentence: {text}",
    "Can you summarize this for me? {text}",
)
_INLINE_QUOTED = (
    'Summarise this note: "{text}"',
    'Summarize the following text: "{text}"',
    'Give me a short summary of this message: "{text}"',
)
_SUMMARY_CLAUSES = (
    "Summarise the result.",
    "Give me a short summary of it.",
    "Summarize the answer in two sentences.",
    "Write a brief summary of the results.",
    "Summarise that for me.",
    "Give me a one-paragraph summary of the answer.",
    "Summarize the results briefly.",
    "Sum up the result in plain words.",
)
_MARKERS = {
    "sql": (" in the database", " in our sales database"),
    "salesforce": (" in Salesforce", " in the CRM"),
}
_TEXTS = (
    "Meeting notes: {rep} met {customer} on Tuesday. They want to expand their {product} "
    "rollout next quarter and asked for a revised quote by Friday.",
    "Email from {customer}: our last order arrived two weeks late and one {product} was "
    "damaged. Please send a replacement and a credit note.",
    "Feedback from {customer}: onboarding went smoothly and the {product} works well, but "
    "invoices are hard to read and often arrive late.",
    "Internal note: {rep} reports that {customer} is comparing our {product} with a cheaper "
    "competitor and may delay its order until January.",
    "Support update for {account}: the integration error is fixed, monitoring continues for "
    "two days, and the case can be closed on Monday if nothing new appears.",
    "Quarterly review: {account} added two new opportunities, but its renewal is at risk "
    "because the budget owner left. Next step is a meeting with the new CFO.",
    "Visit report: {account} plans to open a new office next year and needs hardware, training "
    "and a support contract. Budget approval is expected in March.",
    "Complaint from {account}: three support cases were opened this month about slow "
    "performance and nobody has called back yet.",
)


@dataclass(frozen=True)
class _Clause:
    """One sub-request of a router example."""

    specialist: str
    instruction: str
    entity: tuple[str, ...]


def _lower_first(text: str) -> str:
    word = text.split(" ", 1)[0]
    if word in ("I", "I'd", "I'm") or (len(word) > 1 and word[1].isupper()):
        return text
    return text[:1].lower() + text[1:]


def _strip_end(text: str) -> str:
    return text.rstrip(".?!")


def _with_marker(text: str, marker: str) -> str:
    """Name the system in a clause (``... in Salesforce?``); the instruction stays without."""
    if text and text[-1] in ".?!":
        return text[:-1] + marker + text[-1]
    return text + marker


def _join_clauses(shown: Sequence[str], style: str) -> str:
    """Write the clauses of a multi-part request in one joining ``style``."""
    first, rest = shown[0], list(shown[1:])
    if style == "sentences":
        return " ".join(shown)
    if style == "newline":
        return "\n".join(shown)
    if style == "first_then":
        text = "First, " + _lower_first(first)
        for index, clause in enumerate(rest):
            last = index == len(rest) - 1 and len(rest) > 1
            text += (" Finally, " if last else " Then ") + _lower_first(clause)
        return text
    text = first
    for clause in rest:
        following = _lower_first(clause)
        if style == "then":
            text += " Then " + following
        elif style == "comma_then":
            text = _strip_end(text) + ", then " + following
        elif style == "and":
            text = _strip_end(text) + " and " + following
        elif style == "and_then":
            text = _strip_end(text) + ", and then " + following
        elif style == "also":
            text += " Also, " + following
        else:
            raise ValueError(f"unknown joining style {style!r}")
    return text


def _router_texts(sql: _SqlDomain, sf: _SfDomain, rng: random.Random) -> list[_Clause]:
    """Short texts to summarise inline, each naming values of the two systems."""
    texts: list[_Clause] = []
    for index, template in enumerate(_TEXTS):
        for _ in range(40):
            fill: dict[str, str] = {}
            entity: list[str] = [f"text={index}"]
            if "{customer}" in template:
                fill["customer"] = rng.choice(sql.customers)
                entity.append(f"customer={fill['customer']}")
            if "{rep}" in template:
                fill["rep"] = rng.choice(sql.reps)[0]
                entity.append(f"rep={fill['rep']}")
            if "{product}" in template:
                fill["product"] = rng.choice(sql.products)
                entity.append(f"product={fill['product']}")
            if "{account}" in template:
                fill["account"] = rng.choice(sf.accounts)
                entity.append(f"account={fill['account']}")
            texts.append(_Clause("summarize", template.format(**fill), tuple(entity)))
    return list({clause.instruction: clause for clause in texts}.values())


def _router_candidates(
    shape: str,
    parts: tuple[str, ...],
    style: str,
    draws: int,
    pools: Mapping[str, Sequence[_Clause]],
    rng: random.Random,
) -> list[_Candidate]:
    """Up to ``draws`` random requests of one plan shape, written in one joining ``style``."""
    found: list[_Candidate] = []
    for _ in range(draws):
        clauses: list[_Clause] = []
        shown: list[str] = []
        tasks: list[dict[str, Any]] = []
        for position, part in enumerate(parts, start=1):
            depends_on: int | None = None
            if part == "ref":
                clause = rng.choice(pools["summary"])
                text = clause.instruction
                depends_on = position - 1
            elif part == "text":
                inline = rng.choice(pools["text"])
                if len(parts) == 1:
                    wording = _INLINE_STYLES[int(style[1:])]
                else:
                    wording = rng.choice(_INLINE_QUOTED)
                text = wording.format(text=inline.instruction)
                clause = _Clause("summarize", text, inline.entity)
            else:
                clause = rng.choice(pools[part])
                text = clause.instruction
                if (style == "marker") or (len(parts) > 1 and rng.random() < 0.25):
                    text = _with_marker(text, rng.choice(_MARKERS[part]))
            clauses.append(clause)
            shown.append(text)
            tasks.append(
                {
                    "specialist": clause.specialist,
                    "instruction": clause.instruction,
                    "depends_on": depends_on,
                }
            )
        if any(len(task["instruction"]) > _MAX_INSTRUCTION for task in tasks):
            continue
        if len(parts) > 1:
            request = _join_clauses(shown, style)
        elif style in _SINGLE_PREFIXES:
            request = _SINGLE_PREFIXES[style] + shown[0]
        else:
            request = shown[0]
        entity = tuple(dict.fromkeys(part for clause in clauses for part in clause.entity))
        found.append(_Candidate(shape, style, entity, request, json.dumps({"tasks": tasks})))
    return found


def _router_templates(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The template ids of a plan shape: its joining styles (inline wordings for a text)."""
    if parts == ("text",):
        return tuple(f"t{index}" for index in range(len(_INLINE_STYLES)))
    return _SINGLE_STYLES if len(parts) == 1 else _MULTI_STYLES


def _router_clauses(
    heldout: _HeldOut,
    results: Mapping[str, Mapping[str, _SplitResult]],
    texts: Sequence[_Clause],
) -> tuple[dict[str, list[_Clause]], dict[str, list[_Clause]]]:
    """Clauses for training requests, and clauses that carry a held-out entity value.

    The sql and salesforce clauses are the requests kept for those specialists: training
    requests from their training split, held-out ones from their held-out split (only those
    whose entity is held out, so that a held-out router example always shows why).
    """
    kinds = ("sql", "salesforce", "text", "summary")
    train: dict[str, list[_Clause]] = {kind: [] for kind in kinds}
    held: dict[str, list[_Clause]] = {kind: [] for kind in kinds}
    for name in ("sql", "salesforce"):
        for candidate, _ in results[name]["train"].examples:
            train[name].append(_Clause(name, candidate.request, candidate.entity))
        for candidate, _ in results[name]["heldout"].examples:
            if any(heldout.entity_held(part) for part in candidate.entity):
                held[name].append(_Clause(name, candidate.request, candidate.entity))
    for clause in texts:
        pool = held if any(heldout.entity_held(part) for part in clause.entity) else train
        pool["text"].append(clause)
    for index, text in enumerate(_SUMMARY_CLAUSES):
        clause = _Clause("summarize", text, (f"summary={index}",))
        pool = held if heldout.entity_held(clause.entity[0]) else train
        pool["summary"].append(clause)
    return train, held


def _router_split_pools(
    heldout: _HeldOut,
    train_clauses: Mapping[str, Sequence[_Clause]],
    held_clauses: Mapping[str, Sequence[_Clause]],
    scale: float,
    rng: random.Random,
) -> tuple[dict[str, list[_Candidate]], dict[str, list[_Candidate]]]:
    """Router candidates of every shape and style, sorted into the two splits.

    Most are drawn from training clauses only; a few per style put held-out clauses in one
    kind of position, so that held-out examples with new entity values exist for every shape.
    """
    train: dict[str, list[_Candidate]] = {}
    held: dict[str, list[_Candidate]] = {}
    draws = max(4, round(150 * scale))
    seen: set[str] = set()
    for name, parts in _ROUTER_SHAPES:
        templates = _router_templates(parts)
        heldout.register_family("router", name, templates, keep=("bare",))
        for style in templates:
            found = _router_candidates(name, parts, style, draws, train_clauses, rng)
            for kind in dict.fromkeys("summary" if part == "ref" else part for part in parts):
                if held_clauses[kind]:
                    mixed = {**train_clauses, kind: held_clauses[kind]}
                    found += _router_candidates(name, parts, style, max(2, draws // 6), mixed, rng)
            for candidate in found:
                if candidate.request in seen:
                    continue
                seen.add(candidate.request)
                pool = held if heldout.is_heldout("router", candidate) else train
                pool.setdefault(name, []).append(candidate)
    return train, held


def _router_checker() -> _Check:
    """A check that the plan parses as a ``Plan`` and that ``plan_from_model`` keeps it."""
    from pydantic import ValidationError

    from nodes.router import Plan, plan_from_model

    def check(candidate: _Candidate) -> tuple[_Checked | None, str | None]:
        try:
            plan = Plan.model_validate_json(candidate.target)
        except ValidationError:
            return None, "not a valid Plan"
        if json.dumps(plan.model_dump(mode="json")) != candidate.target:
            return None, "not in the model's field order"
        planned = [(t.specialist, t.instruction, t.depends_on) for t in plan.tasks]
        kept = [
            (t["specialist"], t["instruction"], t["depends_on"])
            for t in plan_from_model(plan, candidate.request)
        ]
        if kept != planned:
            return None, "changed by plan_from_model"
        return _Checked({}), None

    return check


# ------------------------------------------------------------------------------------------
# Generation, files and manifest
# ------------------------------------------------------------------------------------------


def entity_parts(entity: str) -> list[str]:
    """The entity values (``kind=value``) an example's ``entity`` field names."""
    return [] if entity == NO_ENTITY else entity.split(ENTITY_SEPARATOR)


def _examples(
    specialist: str, split: str, result: _SplitResult, rng: random.Random, start: int = 0
) -> list[dict[str, Any]]:  # noqa: E501
    rows = list(result.examples)
    rng.shuffle(rows)
    examples = []
    for index, (candidate, checked) in enumerate(rows, start=start):
        examples.append(
            {
                "id": f"{specialist}-{split}-{index:05d}",
                "specialist": specialist,
                "family": candidate.family,
                "template": candidate.template,
                "entity": ENTITY_SEPARATOR.join(candidate.entity) or NO_ENTITY,
                "request": candidate.request,
                "target": candidate.target,
                **checked.extra,
            }
        )
    return examples


def _write_jsonl(path: Path, examples: Sequence[Mapping[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in examples)
    path.write_text(data, encoding="utf-8")
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def generate(
    seed: int = DEFAULT_SEED,
    out_dir: Path = DATA_DIR,
    progress: bool = True,
    *,
    scale: float = 1.0,
) -> dict[str, Any]:
    """Generate, check and write the datasets of :data:`SPECIALISTS_WITH_DATA`.

    Builds a fresh demo database and starts a private sandbox org (in a temporary
    directory), writes ``<specialist>/train.jsonl`` and ``<specialist>/heldout.jsonl`` under
    ``out_dir`` and then the manifest.

    Args:
        seed: Seed of every random choice; the same seed gives byte-identical files.
        out_dir: Where the files go; created if missing.
        progress: Report each specialist's counts on stderr.
        scale: Multiplies the example counts (tests use a small scale).

    Returns:
        The manifest that was written.

    Raises:
        ValueError: ``scale`` is not positive.
        OSError: ``out_dir`` cannot be written.
    """
    from tools.demo_db import DEFAULT_SEED as DEMO_SEED
    from tools.demo_db import GENERATOR_VERSION as DEMO_VERSION
    from tools.demo_db import create_sqlite_db
    from tools.salesforce_sandbox import sandbox_client, start_sandbox
    from tools.salesforce_sandbox.seed import SEED as SANDBOX_SEED

    if not scale > 0:
        raise ValueError("scale must be > 0")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    heldout = _HeldOut(random.Random(f"{seed}/heldout"))
    train_size = max(1, round(TRAIN_SIZE * scale))
    heldout_size = max(1, round(HELDOUT_SIZE * scale))
    results: dict[str, dict[str, _SplitResult]] = {}
    writes: dict[str, _SplitResult] = {}

    with tempfile.TemporaryDirectory(prefix="slm-dispatch-data-") as work:
        db_path = create_sqlite_db(Path(work) / "demo.sqlite")
        sql_domain = _read_sql_domain(db_path)
        with start_sandbox(Path(work) / "sandbox", anchor=SANDBOX_ANCHOR) as server:
            client = sandbox_client(server)
            sf_domain = _read_sf_domain(client)

            _register_sql_entities(heldout, sql_domain)
            _register_sf_entities(heldout, sf_domain)
            heldout.register_entities("summary", [str(i) for i in range(len(_SUMMARY_CLAUSES))])
            heldout.register_entities("text", [str(i) for i in range(len(_TEXTS))])

            for specialist in ("sql", "salesforce"):
                begun = time.perf_counter()
                rng = random.Random(f"{seed}/{specialist}")
                if specialist == "sql":
                    families = _sql_families(sql_domain, rng)
                    check, close = _sql_checker(db_path)
                else:
                    families = _sf_families(sf_domain, rng)
                    check, close = _sf_checker(client), _nothing
                train_pool, held_pool = _split_pools(specialist, families, heldout)
                try:
                    results[specialist] = {
                        "train": _select(train_pool, train_size, rng, check),
                        "heldout": _select(held_pool, heldout_size, rng, check),
                    }
                finally:
                    close()
                _report(progress, specialist, results[specialist], time.perf_counter() - begun)

            # Writes last, with their own random streams (the reads, the router and the sql
            # data stay as they were): they change the org, which no read is checked on after.
            begun = time.perf_counter()
            rng = random.Random(f"{seed}/salesforce/write")
            write_domain = _read_sf_write_domain(client, sf_domain)
            write_families = _sf_write_families(write_domain, rng)
            held_rng = random.Random(f"{seed}/salesforce/write/heldout")

            def register_writes() -> None:
                _register_sf_write_entities(heldout, write_domain)
                train_pool, held_pool = _split_pools("salesforce", write_families, heldout)
                check = _sf_write_checker(client)
                writes["train"] = _select(
                    train_pool, max(1, round(WRITE_TRAIN_SIZE * scale)), rng, check
                )
                writes["heldout"] = _select(
                    held_pool, max(1, round(WRITE_HELDOUT_SIZE * scale)), rng, check
                )

            heldout.register_entities_from(held_rng, register_writes)
            _report(progress, "salesforce writes", writes, time.perf_counter() - begun)

        begun = time.perf_counter()
        rng = random.Random(f"{seed}/router")
        texts = _router_texts(sql_domain, sf_domain, rng)
        train_clauses, held_clauses = _router_clauses(heldout, results, texts)
        train_pool, held_pool = _router_split_pools(
            heldout, train_clauses, held_clauses, scale, rng
        )
        check = _router_checker()
        results["router"] = {
            "train": _select(train_pool, train_size, rng, check),
            "heldout": _select(held_pool, heldout_size, rng, check),
        }
        _report(progress, "router", results["router"], time.perf_counter() - begun)

    manifest: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "scale": scale,
        "sources": {
            "demo_db": {"seed": DEMO_SEED, "generator_version": DEMO_VERSION},
            "salesforce_sandbox": {"seed": SANDBOX_SEED, "anchor": SANDBOX_ANCHOR.isoformat()},
        },
        "heldout_entities": heldout.heldout_entities(),
        "specialists": {},
    }
    for specialist in SPECIALISTS_WITH_DATA:
        rng = random.Random(f"{seed}/{specialist}/order")
        entry: dict[str, Any] = {"heldout_templates": heldout.heldout_templates(specialist)}
        for split in SPLITS:
            result = results[specialist][split]
            examples = _examples(specialist, split, result, rng)
            if specialist == "salesforce":
                write_rng = random.Random(f"{seed}/salesforce/write/order/{split}")
                write = writes[split]
                examples += _examples(specialist, split, write, write_rng, start=len(examples))
                result = _SplitResult(
                    result.examples + write.examples, result.dropped + write.dropped
                )
            relative = f"{specialist}/{split}.jsonl"
            digest = _write_jsonl(out_dir / relative, examples)
            entry[split] = {
                "file": relative,
                "count": len(examples),
                "sha256": digest,
                "families": dict(sorted(Counter(e["family"] for e in examples).items())),
                "dropped": {
                    "count": sum(result.dropped.values()),
                    "reasons": dict(sorted(result.dropped.items())),
                },
            }
        manifest["specialists"][specialist] = entry
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    _say(progress, f"wrote {out_dir} in {time.perf_counter() - started:.1f} s")
    return manifest


def _nothing() -> None:
    return None


def _report(
    progress: bool, specialist: str, result: Mapping[str, _SplitResult], seconds: float
) -> None:  # noqa: E501
    counts = ", ".join(f"{split} {len(r.examples)}" for split, r in result.items())
    dropped = sum(sum(r.dropped.values()) for r in result.values())
    _say(progress, f"{specialist}: {counts} (dropped {dropped}) in {seconds:.1f} s")


def load_examples(specialist: str, split: str, data_dir: Path = DATA_DIR) -> list[dict[str, Any]]:
    """Read the examples of one specialist and split.

    Args:
        specialist: One of :data:`SPECIALISTS_WITH_DATA`.
        split: ``"train"`` or ``"heldout"``.
        data_dir: The data directory (the committed one by default).

    Returns:
        The examples, in file order, as dicts (keys ``id``, ``specialist``, ``family``,
        ``template``, ``entity``, ``request``, ``target`` and the gold fields).

    Raises:
        ValueError: Unknown specialist or split.
        FileNotFoundError: The file has not been generated.
    """
    if specialist not in SPECIALISTS_WITH_DATA:
        hint = " (summarize has no dataset)" if specialist == "summarize" else ""
        raise ValueError(
            f"no dataset for specialist {specialist!r}{hint}: expected one of "
            f"{', '.join(SPECIALISTS_WITH_DATA)}"
        )
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    path = Path(data_dir) / specialist / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"no {split} examples for {specialist} at {path}: run `slm-dispatch data` to "
            "generate them"
        )
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def verify(data_dir: Path = DATA_DIR) -> list[str]:
    """Check the data files against the manifest's hashes and counts.

    Args:
        data_dir: The data directory (the committed one by default).

    Returns:
        One line per problem; empty when every file matches.
    """
    data_dir = Path(data_dir)
    path = data_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"no manifest at {path}"]
    except (OSError, ValueError) as exc:
        return [f"cannot read the manifest {path}: {exc}"]
    problems: list[str] = []
    specialists = manifest.get("specialists") or {}
    for specialist in SPECIALISTS_WITH_DATA:
        splits = specialists.get(specialist) or {}
        for split in SPLITS:
            entry = splits.get(split)
            if not entry:
                problems.append(f"the manifest lists no {specialist} {split} file")
                continue
            file = data_dir / entry["file"]
            if not file.is_file():
                problems.append(f"{entry['file']} is missing")
                continue
            if file_sha256(file) != entry["sha256"]:
                problems.append(f"{entry['file']}: sha256 differs from the manifest")
            with file.open(encoding="utf-8") as lines:
                count = sum(1 for line in lines if line.strip())
            if count != entry["count"]:
                problems.append(
                    f"{entry['file']}: {count} examples, the manifest says {entry['count']}"
                )
    return problems


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------

DATA_HELP = "generate the fine-tuning datasets (router, sql, salesforce)"
DATA_DESCRIPTION = """\
Generate the fine-tuning datasets of the router, sql and salesforce specialists from
templates over the demo database and the offline sandbox org. Every SQL target is validated
and executed on a freshly built demo database, every Salesforce action is validated and run
on a private sandbox, every router plan is checked against the Plan schema; targets that fail
are dropped and counted in the manifest. The same seed gives byte-identical files.

With --check nothing is written: the datasets are regenerated in a temporary directory and
compared with the stored manifest (exit status 1 when they differ)."""


def add_data_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``data`` on the CLI's sub-command parsers.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.
    """
    data = subparsers.add_parser(
        "data",
        help=DATA_HELP,
        description=DATA_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"seed of every random choice (default {DEFAULT_SEED}; with --check, the "
        "stored manifest's seed)",
    )
    data.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=DATA_DIR,
        help="the data directory (default: finetune/data in the project)",
    )
    data.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary directory and compare with the stored manifest",
    )
    data.set_defaults(func=cmd_data)


def _error(text: str) -> int:
    print(f"slm-dispatch: error: {text}", file=sys.stderr)
    return 2


def cmd_data(args: argparse.Namespace) -> int:
    """Generate the datasets, or check that the stored ones are what the generator writes.

    Args:
        args: Parsed arguments (``seed``, ``out``, ``check``).

    Returns:
        The exit status: 0 done (or up to date), 1 the stored data differs, 2 a usage error.
    """
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return _error(f"--out {str(out)!r} is a file, not a directory")
    if args.seed is not None and args.seed < 0:
        return _error("--seed must be >= 0")
    if not args.check:
        try:
            manifest = generate(DEFAULT_SEED if args.seed is None else args.seed, out)
        except OSError as exc:
            return _error(f"cannot write the datasets in {str(out)!r}: {exc}")
        total = sum(
            manifest["specialists"][specialist][split]["count"]
            for specialist in SPECIALISTS_WITH_DATA
            for split in SPLITS
        )
        print(f"{total} examples written to {out}")
        return 0

    manifest_path = out / MANIFEST_NAME
    try:
        stored = json.loads(manifest_path.read_text(encoding="utf-8"))
        seed = int(stored["seed"]) if args.seed is None else args.seed
    except FileNotFoundError:
        return _error(
            f"no stored manifest at {str(manifest_path)!r}: run `slm-dispatch data` first"
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return _error(f"cannot read the stored manifest {str(manifest_path)!r}: {exc}")
    problems = verify(out)
    with tempfile.TemporaryDirectory(prefix="slm-dispatch-data-check-") as tmp:
        fresh = generate(seed, Path(tmp), scale=float(stored.get("scale", 1.0)))
    for specialist in SPECIALISTS_WITH_DATA:
        for split in SPLITS:
            try:
                old = stored["specialists"][specialist][split]["sha256"]
            except (KeyError, TypeError):
                old = None
            new = fresh["specialists"][specialist][split]["sha256"]
            if old != new:
                problems.append(f"{specialist}/{split}.jsonl: regenerated file differs")
    if not problems and fresh != stored:
        problems.append("the regenerated manifest differs from the stored one")
    for problem in problems:
        print(f"slm-dispatch data --check: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"the datasets in {out} are what seed {seed} generates")
    return 0
