"""The whole graph with scripted models: routes, repair, fan-out, failures, resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graph.api import (
    JOURNAL_APPROVER,
    Dispatcher,
    RunFailedError,
    approval_value,
    rejection_value,
)
from graph.approvals import APPROVAL_FORMAT, HOW_TO_APPROVE, approval_decision, shown_value
from graph.checkpoint import open_checkpointer
from graph.context import Context
from tests.fakes import ScriptedChatModel


def make_context(demo_db: Path, **models: ScriptedChatModel) -> Context:
    return Context(backend="embedded", database_url=str(demo_db), max_repairs=2, chat_models=models)


def plan_json(*tasks: tuple[str, str, int | None]) -> str:
    return json.dumps(
        {"tasks": [{"specialist": s, "instruction": i, "depends_on": d} for s, i, d in tasks]}
    )


def test_sql_route_answers_from_the_database(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(["SELECT COUNT(*) AS n FROM customers;"])
    dispatcher = Dispatcher(InMemorySaver(), make_context(demo_db, sql=sql))
    result = dispatcher.ask("How many customers are there?")
    assert result.finished
    assert result.route is not None and result.route["path"] == "rules"
    (task,) = result.results
    assert task["status"] == "ok"
    assert task["columns"] == ["n"] and task["rows"] == [[200]]
    assert result.answer == "There are 200 customers."
    assert len(sql.calls) == 1


def test_sql_repair_feeds_the_error_back(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(
        ["SELECT cust_name FROM customers", "SELECT name FROM customers ORDER BY id LIMIT 2"]
    )
    dispatcher = Dispatcher(InMemorySaver(), make_context(demo_db, sql=sql))
    result = dispatcher.ask("List two customers.")
    (task,) = result.results
    assert task["status"] == "ok"
    assert [a["error"] is None for a in task["attempts"]] == [False, True]
    assert "cust_name" in (task["attempts"][0]["error"] or "")
    # The second call saw the first reply and the validator's error.
    second_messages = sql.calls[1][0]
    assert "cust_name" in str(second_messages[-1].content)
    assert len(task["rows"]) == 2


def test_sql_repair_is_bounded_and_failure_is_reported(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(["DELETE FROM customers"], repeat_last=True)
    dispatcher = Dispatcher(InMemorySaver(), make_context(demo_db, sql=sql))
    result = dispatcher.ask("Remove all customers from the database")
    (task,) = result.results
    assert task["status"] == "failed"
    assert len(task["attempts"]) == 3 and len(sql.calls) == 3
    assert "No valid SQL after 3 attempt(s)" in task["output"]
    assert result.answer.startswith("Could not answer “Remove all customers from the database”: ")
    assert "No valid SQL after 3 attempt(s)" in result.answer
    # Nothing was written: the database still has every customer.
    check = ScriptedChatModel.of(["SELECT COUNT(*) FROM customers"])
    again = Dispatcher(InMemorySaver(), make_context(demo_db, sql=check)).ask("How many customers?")
    assert again.results[0]["rows"] == [[200]]


def test_model_plan_fans_out_and_summary_waits_for_its_dependency(demo_db: Path) -> None:
    router = ScriptedChatModel.of(
        [
            plan_json(
                ("sql", "count the orders", None),
                ("salesforce", "count the leads", None),
                ("summarize", "summarise the count", 1),
            )
        ]
    )
    sql = ScriptedChatModel.of(["SELECT COUNT(*) AS orders FROM orders"])
    seen: dict[str, Any] = {}

    def summary(messages: list[Any], kwargs: dict[str, Any]) -> str:
        seen["prompt"] = str(messages[-1].content)
        return "There are 5000 orders."

    summarize = ScriptedChatModel.of([summary])
    salesforce = ScriptedChatModel.of([])  # must not be called without credentials
    context = make_context(
        demo_db, router=router, sql=sql, summarize=summarize, salesforce=salesforce
    )
    steps: list[str] = []
    result = Dispatcher(InMemorySaver(), context).ask(
        "Count the orders, count the leads, and put both together in a summary",
        on_step=lambda node, update: steps.append(node),
    )
    assert result.route is not None and result.route["path"] == "model"
    # The router was asked for JSON constrained by the Plan schema.
    assert router.calls[0][1]["format"]["title"] == "Plan"
    statuses = {r["id"]: (r["specialist"], r["status"]) for r in result.results}
    assert statuses == {1: ("sql", "ok"), 2: ("salesforce", "failed"), 3: ("summarize", "ok")}
    assert "SF_USERNAME" in result.results[1]["output"]
    assert salesforce.calls == []
    assert "orders" in seen["prompt"] and "5000" in seen["prompt"]
    # sql and salesforce ran in the same step; summarize ran after them.
    assert steps.index("summarize") > max(steps.index("sql"), steps.index("salesforce"))
    assert steps[-1] == "respond"


def test_summary_of_a_failed_task_is_skipped(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(["SELECT nope FROM nowhere"], repeat_last=True)
    summarize = ScriptedChatModel.of([])
    context = make_context(demo_db, sql=sql, summarize=summarize)
    result = Dispatcher(InMemorySaver(), context).ask(
        "How many orders were returned? Then summarise the result."
    )
    assert [r["status"] for r in result.results] == ["failed", "skipped"]
    assert summarize.calls == []


@pytest.mark.parametrize(
    ("request_text", "needle"),
    [
        ("", "The request is empty"),
        ("   \n ", "The request is empty"),
        ("x" * 100_000, "100,000 characters"),
    ],
)
def test_bad_requests_get_a_clear_answer(demo_db: Path, request_text: str, needle: str) -> None:
    result = Dispatcher(InMemorySaver(), make_context(demo_db)).ask(request_text)
    assert result.finished
    assert result.plan == []
    assert needle in result.answer


def test_request_no_specialist_can_serve_ends_at_once(demo_db: Path) -> None:
    router = ScriptedChatModel.of(['{"tasks": []}'])
    result = Dispatcher(InMemorySaver(), make_context(demo_db, router=router)).ask(
        "What's the weather like tomorrow?"
    )
    assert result.finished and result.plan == [] and result.results == []
    assert result.route is not None and result.route["path"] == "rejected"
    assert "None of the specialists can answer this" in result.answer
    assert router.calls == []  # decided from the systems' names, before any model


def test_an_empty_plan_from_the_router_model_is_the_same_refusal(demo_db: Path) -> None:
    router = ScriptedChatModel.of(['{"tasks": []}'])
    result = Dispatcher(InMemorySaver(), make_context(demo_db, router=router)).ask(
        "Compare customers with accounts"
    )
    assert result.finished and result.plan == []
    assert "None of the specialists can answer this" in result.answer
    assert len(router.calls) == 1


def test_invalid_router_output_is_reported(demo_db: Path) -> None:
    router = ScriptedChatModel.of(['{"tasks": [{"specialist": "poetry"}]}'])
    result = Dispatcher(InMemorySaver(), make_context(demo_db, router=router)).ask(
        "Compare customers with accounts"
    )
    assert result.finished and result.plan == []
    assert "invalid plan" in result.answer


def test_missing_database_fails_the_sub_task_clearly(tmp_path: Path) -> None:
    sql = ScriptedChatModel.of([])
    context = make_context(tmp_path / "absent.sqlite", sql=sql)
    result = Dispatcher(InMemorySaver(), context).ask("How many customers are there?")
    (task,) = result.results
    assert task["status"] == "failed"
    assert "not available" in task["output"] and sql.calls == []


def test_interrupted_run_resumes_without_repeating_finished_steps(
    demo_db: Path, tmp_path: Path
) -> None:
    sql = ScriptedChatModel.of(["SELECT COUNT(*) AS n FROM orders WHERE status = 'returned'"])
    summarize = ScriptedChatModel.of([RuntimeError("backend crashed"), "Some orders came back."])
    context = make_context(demo_db, sql=sql, summarize=summarize)
    request = "How many orders were returned? Then summarise the result."
    with open_checkpointer(str(tmp_path / "cp.sqlite")) as saver:
        with pytest.raises(RunFailedError) as failure:
            Dispatcher(saver, context).ask(request, thread_id="t-1")
        assert failure.value.thread_id == "t-1"
    # A new process: a fresh checkpointer on the same file.
    with open_checkpointer(str(tmp_path / "cp.sqlite")) as saver:
        dispatcher = Dispatcher(saver, context)
        partial = dispatcher.state("t-1")
        assert not partial.finished and [r["id"] for r in partial.results] == [1]
        result = dispatcher.resume("t-1")
        assert result.finished
        assert [r["status"] for r in result.results] == ["ok", "ok"]
        assert len(sql.calls) == 1  # the SQL step was not run again
        assert len(summarize.calls) == 2
        history = dispatcher.history("t-1")
        assert history[0].step == -1 and history[-1].next == []


def test_new_turn_on_a_thread_replaces_the_previous_results(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(["SELECT COUNT(*) FROM customers", "SELECT COUNT(*) FROM products"])
    dispatcher = Dispatcher(InMemorySaver(), make_context(demo_db, sql=sql))
    dispatcher.ask("How many customers?", thread_id="t")
    second = dispatcher.ask("How many products?", thread_id="t")
    assert [r["rows"] for r in second.results] == [[[40]]]


def test_unavailable_model_is_reported_in_the_answer(demo_db: Path) -> None:
    from runtime.errors import ModelUnavailableError

    missing = ModelUnavailableError("base model file ollama/models/x.gguf is missing")
    sql = ScriptedChatModel.of([missing])
    router = ScriptedChatModel.of([missing])
    context = make_context(demo_db, sql=sql, router=router)
    dispatcher = Dispatcher(InMemorySaver(), context)
    result = dispatcher.ask("How many customers are there?")
    assert result.finished
    assert result.results[0]["status"] == "failed"
    assert "The SQL model is not available" in result.answer and "x.gguf" in result.answer
    routed = dispatcher.ask("Compare customers with accounts")
    assert routed.finished and "router model is not available" in routed.answer


# -- approval of paused Salesforce writes: only an explicit approval writes -------------


class _LoudRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


APPROVALS: list[Any] = [
    True,
    {"approved": True},
    {"approved": True, "by": "ada"},
    {"approved": True, "by": "ada", "reason": "checked the duplicate list"},
    {"approved": True, "by": "", "reason": ""},
]

NOT_APPROVALS: list[Any] = [
    False,
    None,
    0,
    1,
    -1,
    1.0,
    2,
    float("nan"),
    "",
    "yes",
    "Yes",
    "y",
    "true",
    "True",
    "TRUE",
    "1",
    "ok",
    "approve",
    "approved",
    "no",
    "false",
    " true ",
    '{"approved": true}',
    "None",
    b"true",
    [],
    [True],
    ["approved"],
    (True,),
    {True},
    {},
    {"approved": False},
    {"approved": None},
    {"approved": "yes"},
    {"approved": "true"},
    {"approved": "True"},
    {"approved": 1},
    {"approved": 1.0},
    {"approved": [True]},
    {"approved": {"approved": True}},
    {"Approved": True},
    {"APPROVED": True},
    {"approve": True},
    {"ok": True},
    {"decision": "approve"},
    {"by": "ada"},
    {"approved": True, "by": 7},
    {"approved": True, "by": None},
    {"approved": True, "reason": ["x"]},
    {"approved": True, "extra": "key"},
    {"approved": True, 1: "x"},
    {True: True},
    _LoudRepr(),
    object(),
    "x" * 10_000,
    {"approved": "y" * 10_000},
]


@pytest.mark.parametrize("value", APPROVALS, ids=repr)
def test_explicit_approvals_are_approvals(value: Any) -> None:
    decision = approval_decision(value)
    assert decision.approved is True
    assert decision.problem == ""
    if isinstance(value, dict):
        assert decision.by == value.get("by", "") and decision.reason == value.get("reason", "")


@pytest.mark.parametrize("value", NOT_APPROVALS, ids=lambda v: shown_value(v)[:40])
def test_anything_else_is_a_rejection_that_says_what_came_and_how_to_approve(value: Any) -> None:
    decision = approval_decision(value)
    assert decision.approved is False
    text = decision.rejection_text()
    assert decision.received and decision.received in text
    assert len(decision.received) <= 80
    assert '{"approved": true}' in text and APPROVAL_FORMAT in text
    assert "Nothing was written" in text
    if value is not False and not (isinstance(value, dict) and value.get("approved") is False):
        assert decision.problem, "a value that is no decision at all says why"


def test_rejection_text_names_who_and_why_and_the_value() -> None:
    decision = approval_decision({"approved": False, "by": "ada", "reason": "a duplicate."})
    assert decision.approved is False and decision.problem == ""
    text = decision.rejection_text()
    assert text.startswith("The write was rejected by ada: a duplicate. Nothing was written.")
    assert "'by': 'ada'" in text
    hostile = approval_decision({"approved": "yes", "by": "ada"}).rejection_text()
    assert hostile.startswith("The write was not approved: \"approved\" is 'yes'")
    assert "{'approved': 'yes', 'by': 'ada'}" in hostile


def test_shown_value_is_short_and_never_raises() -> None:
    assert shown_value("no") == "'no'"
    assert len(shown_value("z" * 5000)) <= 80
    assert len(shown_value({"approved": ["a" * 500] * 500})) <= 80
    assert shown_value(_LoudRepr()).startswith("<_LoudRepr")
    nested: list[Any] = []
    nested.append(nested)
    assert len(shown_value(nested)) <= 80


def test_api_decisions_are_read_as_the_api_means_them() -> None:
    assert approval_decision(approval_value("cli")).approved is True
    assert approval_decision(approval_value(JOURNAL_APPROVER)).approved is True
    assert approval_decision(approval_value(42)).by == "42"  # type: ignore[arg-type]
    declined = approval_decision(rejection_value("cli", "not now"))
    assert declined.approved is False and declined.by == "cli" and declined.reason == "not now"
    assert '{"approved": true}' in HOW_TO_APPROVE
