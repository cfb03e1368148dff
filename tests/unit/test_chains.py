"""Chains through the whole graph with a scripted SQL model: values copied, checked, stopped."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from graph.api import Dispatcher, RunFailedError
from graph.checkpoint import open_checkpointer
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


def walking_reply(crash_at: int) -> Any:
    """SQL for a chain that walks rep -> first customer -> rep ...; raises once at a call."""
    calls = {"n": 0}
    rep_of = re.compile(r"the customer (.+?)\?")
    customer_of = re.compile(r"the rep (.+?) was created")

    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise RuntimeError("backend crashed")
        question = str(messages[-1].content)
        if match := rep_of.search(question):
            return (
                "SELECT r.name FROM sales_reps r JOIN customers c ON c.rep_id = r.id "
                f"WHERE c.name = '{match[1]}'"
            )
        if match := customer_of.search(question):
            return (
                "SELECT c.name FROM customers c JOIN sales_reps r ON r.id = c.rep_id "
                f"WHERE r.name = '{match[1]}' ORDER BY c.created_on, c.id LIMIT 1"
            )
        return "SELECT name FROM sales_reps ORDER BY hired_on, id LIMIT 1"

    return reply


def test_ten_dependent_steps_resume_after_a_crash_without_running_finished_steps(
    demo_db: Path, tmp_path: Path
) -> None:
    clauses = ["Which sales rep was hired first?"] + [
        "Then which customer of that rep was created first?"
        if step % 2
        else "Then which rep looks after that customer?"
        for step in range(1, 10)
    ]
    request = " ".join(clauses)
    sql = ScriptedChatModel.of([walking_reply(crash_at=6)], repeat_last=True)
    context = Context(backend="embedded", database_url=str(demo_db), chat_models={"sql": sql})
    with open_checkpointer(str(tmp_path / "cp.sqlite")) as saver:
        with pytest.raises(RunFailedError):
            Dispatcher(saver, context).ask(request, thread_id="chain")
    with open_checkpointer(str(tmp_path / "cp.sqlite")) as saver:
        dispatcher = Dispatcher(saver, context)
        partial = dispatcher.state("chain")
        assert [r["id"] for r in partial.results] == [1, 2, 3, 4, 5]
        result = dispatcher.resume("chain")
    assert result.finished and len(result.plan) == 10
    assert [r["status"] for r in result.results] == ["ok"] * 10
    # Five steps ran, the sixth crashed once, then steps 6 to 10 ran: 11 calls, none repeated.
    assert len(sql.calls) == 11
    rep = first_rep(demo_db)
    assert result.results[0]["rows"] == [[rep]]
    # Every step took its value from the step before it.
    assert all(r["inputs"][0]["from"] == r["id"] - 1 for r in result.results[1:])
    assert result.results[2]["rows"] == [[rep]]  # the first customer's rep is that rep again
