"""The SQL families in their fixed order, their held-out entities and their checker."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from finetune.datasets.common import (
    _SQL_TIMEOUT_S,
    GOLD_ROWS,
    _Candidate,
    _Check,
    _Checked,
    _Family,
    _HeldOut,
    _Slot,
)
from finetune.datasets.sql_counts import (
    _sql_count_families,
    _sql_group_families,
    _sql_order_date_families,
)
from finetune.datasets.sql_domain import _CUSTOMER_FILTER_KINDS, _SQL_FILTERS, _SqlDomain
from finetune.datasets.sql_lookups import _sql_lookup_families, _sql_search_families
from finetune.datasets.sql_revenue import (
    _sql_price_families,
    _sql_revenue_families,
    _sql_top_families,
)


def _sql_families(d: _SqlDomain, rng: random.Random) -> list[_Family]:
    """Every SQL family with its phrasings and slots."""
    families: list[_Family] = []

    def add(name: str, phrasings: Sequence[str], slots: Iterable[_Slot]) -> None:
        families.append(_Family(name, tuple(phrasings), tuple(slots)))

    filters = [
        (kind, table, col, where.format(v=value), value)
        for kind, table, col, where, _ in _SQL_FILTERS
        for value in d.values[kind]
    ]
    customer_filters = [f for f in filters if f[0] in _CUSTOMER_FILTER_KINDS]
    _sql_count_families(add, d, rng, filters, customer_filters)
    _sql_group_families(add, d, customer_filters)
    _sql_revenue_families(add, d)
    _sql_top_families(add, d, customer_filters)
    _sql_price_families(add, d)
    _sql_order_date_families(add, d)
    _sql_lookup_families(add, d)
    _sql_search_families(add, d, customer_filters)
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
