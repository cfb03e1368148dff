"""Checkpoints of a long thread stay bounded: size per checkpoint and growth per turn.

A thread of many turns, each a 50-row SQL result (the row limit) and its summary. The
largest checkpoint must not grow with the thread's length, and the store must grow by
the same amount each turn (no state accumulating across turns).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from graph.api import Dispatcher
from graph.checkpoint import open_checkpointer
from graph.context import Context
from graph.sqlite_saver import VALUES_TABLE
from tests.fakes import ScriptedChatModel

pytestmark = pytest.mark.integration

TURNS = 8
REQUEST = "List the orders. Then summarise the result."


def dispatcher_context(demo_db: Path) -> Context:
    return Context(
        backend="embedded",
        database_url=str(demo_db),
        row_limit=50,
        chat_models={
            "sql": ScriptedChatModel.of(["SELECT * FROM orders"], repeat_last=True),
            "summarize": ScriptedChatModel.of(["Summary."], repeat_last=True),
        },
    )


def assert_bounded(sizes: list[tuple[int, int]]) -> None:
    """``sizes``: (store bytes, largest checkpoint bytes) after each turn."""
    growth = [b - a for (a, _), (b, _) in zip(sizes, sizes[1:], strict=False)]
    largest = [m for _, m in sizes]
    # The largest checkpoint after the last turn is no bigger than after the second.
    assert largest[-1] <= largest[1] * 1.05, largest
    # Each turn adds about the same: the store grows linearly, not quadratically.
    assert max(growth) <= min(growth) * 1.10, growth


def test_sqlite_checkpoints_of_a_long_thread_stay_bounded(demo_db: Path, tmp_path: Path) -> None:
    sizes = []
    with open_checkpointer(str(tmp_path / "c.sqlite")) as saver:
        dispatcher = Dispatcher(saver, dispatcher_context(demo_db))
        for _ in range(TURNS):
            result = dispatcher.ask(REQUEST, thread_id="long")
            assert len(result.results[0]["rows"]) == 50
            conn = saver.conn  # type: ignore[attr-defined]
            total, largest = conn.execute(
                "SELECT SUM(LENGTH(checkpoint)) + (SELECT SUM(LENGTH(value)) FROM writes)"
                f" + (SELECT COALESCE(SUM(LENGTH(value)), 0) FROM {VALUES_TABLE}), "
                "MAX(LENGTH(checkpoint)) FROM checkpoints"
            ).fetchone()
            sizes.append((int(total), int(largest)))
        checkpoints = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
        results_values = conn.execute(
            f"SELECT COUNT(*) FROM {VALUES_TABLE} WHERE channel = 'results'"
        ).fetchone()[0]
        result_rows = dispatcher.state("long").results[0]["rows"]
    assert_bounded(sizes)
    # Each version of the results list is stored once, not copied into every checkpoint
    # of the turn, and no checkpoint row carries the result rows itself.
    assert results_values < checkpoints / 2, (results_values, checkpoints)
    assert sizes[-1][1] < 2_000, sizes
    assert len(result_rows) == 50


def test_postgres_stores_an_unchanged_result_once(demo_db: Path, postgres_database: str) -> None:
    sizes = []
    with open_checkpointer(postgres_database) as saver:
        dispatcher = Dispatcher(saver, dispatcher_context(demo_db))
        with psycopg.connect(postgres_database) as conn:
            for _ in range(TURNS):
                dispatcher.ask(REQUEST, thread_id="long")
                total, largest = conn.execute(
                    "SELECT (SELECT SUM(pg_column_size(c)) FROM checkpoints c)"
                    " + (SELECT SUM(pg_column_size(b)) FROM checkpoint_blobs b)"
                    " + (SELECT SUM(pg_column_size(w)) FROM checkpoint_writes w),"
                    " (SELECT MAX(pg_column_size(c)) FROM checkpoints c)"
                ).fetchone()
                sizes.append((int(total), int(largest)))
            checkpoints = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
            results_blobs = conn.execute(
                "SELECT COUNT(*) FROM checkpoint_blobs WHERE channel = 'results'"
            ).fetchone()[0]
    assert_bounded(sizes)
    # PostgreSQL keeps one blob per version of a channel: the results list is stored when
    # it changes, not copied into each of the turn's checkpoints.
    assert results_blobs < checkpoints / 2, (results_blobs, checkpoints)
