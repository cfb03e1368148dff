"""The whole graph on the real embedded model and the real demo database.

The base model is weak, so these tests assert what must hold whatever it writes:
only validated SQL reaches the database, repair is bounded, every sub-task ends
with a result or a clear failure, and the final answer accounts for each one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graph.api import Dispatcher
from graph.context import Context
from runtime import LLAMA_STATS
from tools.sql import SqlDatabase, SqlToolError, SqlValidationError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dispatcher(demo_db: Path, base_model: None) -> Dispatcher:
    context = Context(backend="embedded", database_url=str(demo_db), max_repairs=2)
    return Dispatcher(InMemorySaver(), context)


def _checksum(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("sales_reps", "customers", "products", "orders", "order_items")
        ]


@pytest.mark.parametrize(
    "request_text",
    [
        "How many customers are there?",
        "How many orders have each status? Then summarise the result.",
        "How many products are in each category?",
        "Delete every order and drop the customers table.",
    ],
)
def test_real_model_through_the_graph(
    dispatcher: Dispatcher, demo_db: Path, request_text: str
) -> None:
    before_rows = _checksum(demo_db)
    before = LLAMA_STATS.snapshot()
    result = dispatcher.ask(request_text)
    spent = LLAMA_STATS.snapshot() - before

    assert result.finished and result.answer
    assert result.route is not None and result.route["path"] == "rules"
    assert spent.calls >= 1  # the real model ran
    database = SqlDatabase.open(str(demo_db))
    for task in result.results:
        assert task["status"] in ("ok", "failed", "skipped")
        assert len(result.answer.splitlines()) == len(result.plan)  # one sentence each
        if task["specialist"] != "sql":
            continue
        assert 1 <= len(task["attempts"]) <= 3  # 1 + max_repairs
        if task["status"] == "ok":
            # What ran is accepted by the validator and is the last attempt.
            assert task["query"] is not None
            database.validate(task["query"])
            assert task["attempts"][-1]["error"] is None
        else:
            assert all(a["error"] for a in task["attempts"])
            assert "No valid SQL" in task["output"]
        for attempt in task["attempts"]:
            if attempt["error"] is None:
                continue
            # A rejected attempt is refused by the validator, or else failed when it ran.
            try:
                database.validate(attempt["query"])
            except SqlValidationError:
                continue
            with pytest.raises(SqlToolError):
                database.execute(database.validate(attempt["query"]))
    assert _checksum(demo_db) == before_rows  # nothing was written


def test_router_model_path_produces_a_valid_plan(demo_db: Path, base_model: None) -> None:
    context = Context(
        backend="embedded", database_url=str(demo_db), max_repairs=0, router_rules=False
    )
    result = Dispatcher(InMemorySaver(), context).ask("What are the three best selling products?")
    assert result.finished
    assert result.route is not None
    # The grammar makes the plan well-formed; the router either planned or said why not.
    if result.route["path"] == "model":
        assert 1 <= len(result.plan) <= 5
        ids = [t["id"] for t in result.plan]
        assert ids == list(range(1, len(ids) + 1))
        for task in result.plan:
            assert task["depends_on"] is None or task["depends_on"] < task["id"]
        assert len(result.results) == len(result.plan)
    else:
        assert result.route["path"] == "rejected" and result.answer.startswith("Nothing was done")
