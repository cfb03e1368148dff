from __future__ import annotations

import time

import pytest
from langgraph.types import Send

from graph.state import State, SubTask, TaskResult
from nodes.router import dispatch_ready
from specialists.router import Plan, PlannedTask, plan_by_rules, plan_from_model


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("How many customers are in each segment?", [("sql", None)]),
        ("What is the total revenue of shipped orders in 2024?", [("sql", None)]),
        ("List the open opportunities in Salesforce.", [("salesforce", None)]),
        ("Show me high priority cases.", [("salesforce", None)]),
        (
            "How many orders were cancelled in 2024? Then summarise the result.",
            [("sql", None), ("summarize", 1)],
        ),
        (
            "Count the products per category and then summarize it",
            [("sql", None), ("summarize", 1)],
        ),
        (
            "How many customers are in Germany? How many leads are hot?",
            [("sql", None), ("salesforce", None)],
        ),
        ("Summarise: The quarterly meeting covered hiring. Sales grew.", [("summarize", None)]),
    ],
)
def test_rules_plan_clear_requests(
    request_text: str, expected: list[tuple[str, int | None]]
) -> None:
    plan = plan_by_rules(request_text)
    assert plan is not None
    assert [(t["specialist"], t["depends_on"]) for t in plan] == expected
    assert [t["id"] for t in plan] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize(
    "request_text",
    [
        "What's the weather like tomorrow?",  # no specialist
        "Compare customers with accounts",  # sql and salesforce in one clause
        "Summarise it",  # nothing earlier to refer to, no text
        "¿Cuántos clientes hay en cada segmento?",  # another language
        "Hello",
    ],
)
def test_rules_defer_to_the_model_when_unclear(request_text: str) -> None:
    assert plan_by_rules(request_text) is None


def test_rules_path_is_fast() -> None:
    request = "How many orders were cancelled in 2024? Then summarise the result."
    runs = 2000
    started = time.perf_counter()
    for _ in range(runs):
        plan_by_rules(request)
    per_call = (time.perf_counter() - started) / runs
    # Not a benchmark (see `make bench`); a guard against a pathological regex.
    assert per_call < 0.01


def test_plan_from_model_repairs_dependencies() -> None:
    plan = Plan(
        tasks=[
            PlannedTask(specialist="sql", instruction="  count orders ", depends_on=1),
            PlannedTask(specialist="summarize", instruction="", depends_on=7),
            PlannedTask(specialist="salesforce", instruction="leads", depends_on=2),
        ]
    )
    tasks = plan_from_model(plan, "the request")
    assert tasks[0] == SubTask(id=1, specialist="sql", instruction="count orders", depends_on=None)
    # An invalid dependency of a summary falls back to the sub-task just before it.
    assert tasks[1]["depends_on"] == 1 and tasks[1]["instruction"] == "the request"
    assert tasks[2]["depends_on"] == 2


def _result(task_id: int, status: str = "ok") -> TaskResult:
    return TaskResult(
        id=task_id,
        specialist="sql",
        instruction="x",
        status=status,
        output="",
        query=None,  # type: ignore[typeddict-item]
        columns=[],
        rows=[],
        truncated=False,
        attempts=[],
        timings={},
    )


def test_dispatch_fans_out_independent_tasks_and_waits_for_dependencies() -> None:
    plan = [
        SubTask(id=1, specialist="sql", instruction="a", depends_on=None),
        SubTask(id=2, specialist="salesforce", instruction="b", depends_on=None),
        SubTask(id=3, specialist="summarize", instruction="c", depends_on=1),
    ]
    first = dispatch_ready(State(request="r", plan=plan))
    assert isinstance(first, list)
    assert [(s.node, s.arg["task"]["id"]) for s in first] == [("sql", 1), ("salesforce", 2)]
    assert all(isinstance(s, Send) for s in first)

    second = dispatch_ready(State(request="r", plan=plan, results=[_result(1), _result(2)]))
    assert isinstance(second, list)
    assert [(s.node, s.arg["task"]["id"]) for s in second] == [("summarize", 3)]
    assert second[0].arg["dependency"]["id"] == 1

    done = dispatch_ready(
        State(request="r", plan=plan, results=[_result(1), _result(2), _result(3)])
    )
    assert done == "respond"


def test_dispatch_with_empty_plan_goes_to_respond() -> None:
    assert dispatch_ready(State(request="r")) == "respond"


def test_a_quoted_text_to_summarise_followed_by_a_question_goes_to_the_model() -> None:
    text = '"Visit report: Black Mesa plans a new office. Budget approval is due in March."'
    alone = plan_by_rules(f"Summarize the following text: {text}")
    assert alone is not None and [t["specialist"] for t in alone] == ["summarize"]
    assert plan_by_rules(f"Summarize the following text: {text} Then how many orders?") is None
    assert plan_by_rules(f"Summarise this: {text}, then list the open cases.") is None
    unquoted = plan_by_rules("Summarise: the meeting went well. Then we left.")
    assert unquoted is not None and len(unquoted) == 1
