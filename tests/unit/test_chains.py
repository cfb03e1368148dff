"""Chains through the whole graph with a scripted SQL model: values copied, checked, stopped."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from graph.api import Dispatcher
from graph.context import Context
from tests.fakes import ScriptedChatModel


def by_question(answers: dict[str, str]) -> Any:
    """A reply function: the SQL for the first key the last user message contains."""

    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        question = str(messages[-1].content)
        for needle, sql in answers.items():
            if needle in question:
                return sql
        raise AssertionError(f"no scripted answer for {question!r}")

    return reply


def first_rep(demo_db: Path) -> str:
    with sqlite3.connect(demo_db) as conn:
        (name,) = conn.execute(
            "SELECT name FROM sales_reps ORDER BY hired_on, id LIMIT 1"
        ).fetchone()
    return str(name)


def dispatcher(demo_db: Path, sql: ScriptedChatModel) -> Dispatcher:
    context = Context(backend="embedded", database_url=str(demo_db), chat_models={"sql": sql})
    return Dispatcher(InMemorySaver(), context)


def test_a_later_step_gets_the_earlier_value_copied_in(demo_db: Path) -> None:
    rep = first_rep(demo_db)
    customers_of_rep = (
        "SELECT c.name FROM customers c JOIN sales_reps r ON r.id = c.rep_id "
        f"WHERE r.name = '{rep}'"
    )
    sql = ScriptedChatModel.of(
        [
            "SELECT name FROM sales_reps ORDER BY hired_on, id LIMIT 1",
            by_question({rep: customers_of_rep}),
        ]
    )
    result = dispatcher(demo_db, sql).ask(
        "Which sales rep was hired first? Then list the customers of that rep."
    )
    first, second = result.results
    assert first["status"] == "ok" and first["rows"] == [[rep]]
    assert second["status"] == "ok" and second["rows"]
    # The runtime put the name into the question; the model did not have to recall it.
    assert f"the rep {rep}" in str(sql.calls[1][0][-1].content)
    assert second["instruction"] == f"list the customers of the rep {rep}."
    assert second.get("inputs") == [{"from": 1, "as": "rep", "column": "name", "value": rep}]
    assert result.plan[1]["instruction"] == "list the customers of the rep {rep}."


def test_a_query_that_drops_the_copied_value_is_repaired(demo_db: Path) -> None:
    rep = first_rep(demo_db)
    right = (
        "SELECT c.name FROM customers c JOIN sales_reps r ON r.id = c.rep_id "
        f"WHERE r.name = '{rep}'"
    )
    sql = ScriptedChatModel.of(
        [
            "SELECT name FROM sales_reps ORDER BY hired_on, id LIMIT 1",
            "SELECT name FROM customers",
            right,
        ]
    )
    result = dispatcher(demo_db, sql).ask(
        "Which sales rep was hired first? Then list the customers of that rep."
    )
    second = result.results[1]
    assert second["status"] == "ok"
    assert [attempt["error"] is None for attempt in second["attempts"]] == [False, True]
    assert rep in (second["attempts"][0]["error"] or "")
    assert "must use the value" in (second["attempts"][0]["error"] or "")


def test_a_chain_that_cannot_be_filled_stops_that_branch_only(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(
        [
            by_question(
                {
                    "Japan": "SELECT name FROM customers WHERE country = 'Japan'",
                    "products": "SELECT COUNT(*) AS n FROM products",
                }
            )
        ],
        repeat_last=True,
    )
    result = dispatcher(demo_db, sql).ask(
        "Which customers are in Japan? Then list the orders of that customer. "
        "How many products are there?"
    )
    first, second, third = result.results
    assert first["status"] == "ok" and len(first["rows"]) > 1
    assert second["status"] == "skipped"
    assert (
        f"step 1 returned {len(first['rows'])} rows where one customer was needed"
        in (second["output"])
    )
    assert third["status"] == "ok" and third["rows"] == [[40]]
    # The stopped step never reached the model.
    assert len(sql.calls) == 2
    assert "was skipped: Not run: step 1 returned" in result.answer


def test_a_step_after_a_stopped_step_is_not_run_either(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(
        [by_question({"Nobody": "SELECT name FROM customers WHERE name = 'Nobody Ltd'"})]
    )
    result = dispatcher(demo_db, sql).ask(
        "Which customer is named Nobody Ltd? Then which rep looks after that customer? "
        "Then list the other customers of that rep."
    )
    statuses = [r["status"] for r in result.results]
    assert statuses == ["ok", "skipped", "skipped"]
    assert "step 1 returned no rows" in result.results[1]["output"]
    assert "step 2, whose result it needs, did not produce one" in result.results[2]["output"]
    assert len(sql.calls) == 1
