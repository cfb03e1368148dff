"""Value grounding: a string compared with a low-cardinality text column must be one it holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from graph.context import Context
from nodes.sql import sql_settings
from specialists.base import Timer
from specialists.sql import DECLINED, answer_sql, value_problem
from tests.fakes import ScriptedChatModel
from tools.sql import SqlDatabase
from tools.sql.values import unknown_value
from tools.sql_grammar import DECLINE

TABLES = {"orders": ["id", "status", "customer_id"], "customers": ["id", "name", "country"]}
VALUES = {
    ("orders", "status"): ["cancelled", "delivered", "pending"],
    ("customers", "country"): ["France", "Germany"],
}


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'",
        "SELECT COUNT(*) FROM orders WHERE status IN ('cancelled', 'pending')",
        "SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE c.country = 'France'",
        "SELECT name FROM customers WHERE name = 'Anyone at all'",
        "SELECT COUNT(*) FROM orders WHERE status LIKE 'cancel%'",
        "SELECT COUNT(*) FROM orders WHERE status IS NULL",
    ],
)
def test_held_values_and_unchecked_columns_pass(sql: str) -> None:
    assert unknown_value(sql, dialect="sqlite", tables=TABLES, values=VALUES) is None


@pytest.mark.parametrize(
    ("sql", "column"),
    [
        ("SELECT COUNT(*) FROM orders WHERE status = 'cancellation'", "orders.status"),
        ("SELECT COUNT(*) FROM orders WHERE 'on hold' = status", "orders.status"),
        ("SELECT COUNT(*) FROM orders WHERE status NOT IN ('pending', 'lost')", "orders.status"),
        (
            "SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
            "WHERE o.status = 'pending' AND c.country != 'Spain'",
            "customers.country",
        ),
        (
            "SELECT id FROM orders WHERE customer_id IN "
            "(SELECT id FROM customers WHERE country = 'Italy')",
            "customers.country",
        ),
    ],
)
def test_a_value_the_column_never_holds_is_named_with_the_values_it_does(
    sql: str, column: str
) -> None:
    message = unknown_value(sql, dialect="sqlite", tables=TABLES, values=VALUES)
    assert message is not None and message.startswith(f"{column} never holds")
    held = VALUES[tuple(column.split("."))]  # type: ignore[index]
    assert all(f"'{value}'" in message for value in held)


def test_the_message_does_not_repeat_the_invented_value_and_names_its_spelling() -> None:
    message = unknown_value(
        "SELECT id FROM customers WHERE country = 'germany'",
        dialect="sqlite",
        tables=TABLES,
        values=VALUES,
    )
    assert message is not None
    assert "'germany'" not in message
    assert "the value is written 'Germany'" in message


def test_text_values_lists_low_cardinality_text_columns_and_rereads_them(tmp_path: Path) -> None:
    path = tmp_path / "small.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, kind TEXT, label TEXT)")
        connection.executemany(
            "INSERT INTO t (kind, label) VALUES (?, ?)",
            [("a" if i % 2 else "b", f"label {i}") for i in range(80)],
        )
    with SqlDatabase.open(str(path)) as database:
        assert database.text_values() == {("t", "kind"): ["a", "b"]}  # 80 labels: too many
        with sqlite3.connect(path) as connection:
            connection.execute("INSERT INTO t (kind, label) VALUES ('c', 'x')")
        assert database.text_values()[("t", "kind")] == ["a", "b"]  # read a moment ago
        assert database.text_values(max_age_s=0.0)[("t", "kind")] == ["a", "b", "c"]


def test_a_freely_decoded_query_with_an_invented_value_is_repaired(demo_db: Path) -> None:
    model = ScriptedChatModel.of(
        [
            "SELECT COUNT(*) FROM orders WHERE status = 'cancellation'",
            "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'",
        ]
    )
    context = Context(chat_models={"sql": model}, sql_decoding="free")
    with SqlDatabase.open(str(demo_db)) as database:
        answer = answer_sql(
            model, database, "How many cancelled orders?", sql_settings(context), Timer()
        )
        assert answer.result is not None and answer.result.rows[0][0] > 0
        assert answer.attempts[0]["error"] is not None
        assert "'cancelled'" in answer.attempts[0]["error"]
        # The repair turn shows the column's values to the model.
        assert "'cancelled'" in str(model.calls[1][0][-1].content)
        assert value_problem(database, answer.attempts[1]["query"], "sqlite") is None


def test_grounding_off_lets_the_invented_value_run(demo_db: Path) -> None:
    model = ScriptedChatModel.of(["SELECT COUNT(*) FROM orders WHERE status = 'cancellation'"])
    context = Context(chat_models={"sql": model}, sql_decoding="free", sql_ground_values=False)
    with SqlDatabase.open(str(demo_db)) as database:
        answer = answer_sql(
            model, database, "How many cancelled orders?", sql_settings(context), Timer()
        )
    assert answer.result is not None and answer.result.rows == [[0]]


def test_voting_keeps_the_result_most_candidates_return_and_says_they_disagreed(
    demo_db: Path,
) -> None:
    model = ScriptedChatModel.of(
        [
            "SELECT COUNT(*) FROM orders WHERE status = 'returned'",
            "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'",
            "DROP TABLE orders",  # rejected: casts no vote
            "SELECT COUNT(*) AS n FROM orders WHERE orders.status = 'cancelled'",
        ]
    )
    context = Context(chat_models={"sql": model}, sql_decoding="free", sql_votes=4)
    with SqlDatabase.open(str(demo_db)) as database:
        cancelled = database.execute("SELECT COUNT(*) FROM orders WHERE status = 'cancelled'")
        answer = answer_sql(
            model, database, "How many cancelled orders?", sql_settings(context), Timer()
        )
    assert len(model.calls) == 4
    assert answer.result is not None and answer.result.rows == cancelled.rows
    assert answer.agreement == (2, 3)
    assert "2 of 3" in answer.agreement_note()


def test_voting_that_agrees_says_nothing_and_a_tie_keeps_the_first(demo_db: Path) -> None:
    same = "SELECT COUNT(*) FROM customers"
    model = ScriptedChatModel.of([same, same, same])
    context = Context(chat_models={"sql": model}, sql_decoding="free", sql_votes=3)
    with SqlDatabase.open(str(demo_db)) as database:
        answer = answer_sql(model, database, "How many customers?", sql_settings(context), Timer())
        assert answer.agreement == (3, 3) and answer.agreement_note() == ""
        tie = ScriptedChatModel.of([same, "SELECT COUNT(*) FROM products"])
        context = Context(chat_models={"sql": tie}, sql_decoding="free", sql_votes=2)
        answer = answer_sql(tie, database, "How many customers?", sql_settings(context), Timer())
    assert answer.result is not None and answer.result.rows == [[200]]
    assert answer.agreement == (1, 2)


def test_votes_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="sql_votes"):
        Context(sql_votes=0)


def test_a_decline_ends_the_subtask_at_once_and_runs_nothing(demo_db: Path) -> None:
    model = ScriptedChatModel.of([DECLINE, "SELECT 1"])
    context = Context(chat_models={"sql": model}, sql_decoding="free")
    with SqlDatabase.open(str(demo_db)) as database:
        answer = answer_sql(
            model, database, "What's the weather in Paris?", sql_settings(context), Timer()
        )
    assert answer.result is None and answer.stopped == DECLINED
    assert len(model.calls) == 1 and answer.attempts == [{"query": DECLINE, "error": DECLINED}]
    assert answer.failure(context.max_repairs) == DECLINED


def test_a_decline_of_a_request_that_names_a_column_is_not_taken(demo_db: Path) -> None:
    model = ScriptedChatModel.of([DECLINE, "SELECT AVG(unit_price) FROM products"])
    context = Context(chat_models={"sql": model}, sql_decoding="free")
    with SqlDatabase.open(str(demo_db)) as database:
        answer = answer_sql(
            model, database, "What is the average product price?", sql_settings(context), Timer()
        )
    assert answer.result is not None and len(model.calls) == 2
    assert "the database holds what the request names (price)" in (
        answer.attempts[0]["error"] or ""
    )
