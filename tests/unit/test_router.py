from __future__ import annotations

import time

import pytest
from langgraph.types import Send

from graph.state import State, SubTask, TaskResult
from nodes.router import dispatch_ready
from specialists.router import Plan, PlannedTask, out_of_scope, plan_by_rules, plan_from_model
from specialists.scope import Cues, build_cues, words_of


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
    request_text: str, expected: list[tuple[str, int | None]], demo_cues: Cues
) -> None:
    plan = plan_by_rules(request_text, demo_cues)
    assert plan is not None
    assert [(t["specialist"], t["depends_on"]) for t in plan] == expected
    assert [t["id"] for t in plan] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize(
    "request_text",
    [
        "What's the weather like tomorrow?",  # no specialist
        "Compare customers with accounts",  # sql and salesforce in one clause
        "Summarise it",  # nothing earlier to refer to, no text
        "Hello",
    ],
)
def test_rules_defer_to_the_model_when_unclear(request_text: str, demo_cues: Cues) -> None:
    assert plan_by_rules(request_text, demo_cues) is None


def test_rules_path_is_fast(demo_cues: Cues) -> None:
    request = "How many orders were cancelled in 2024? Then summarise the result."
    runs = 2000
    started = time.perf_counter()
    for _ in range(runs):
        plan_by_rules(request, demo_cues)
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


def test_a_quoted_text_to_summarise_followed_by_a_question_goes_to_the_model(
    demo_cues: Cues,
) -> None:
    text = '"Visit report: Black Mesa plans a new office. Budget approval is due in March."'
    alone = plan_by_rules(f"Summarize the following text: {text}", demo_cues)
    assert alone is not None and [t["specialist"] for t in alone] == ["summarize"]
    assert (
        plan_by_rules(f"Summarize the following text: {text} Then how many orders?", demo_cues)
        is None
    )
    assert plan_by_rules(f"Summarise this: {text}, then list the open cases.", demo_cues) is None
    unquoted = plan_by_rules("Summarise: the meeting went well. Then we left.", demo_cues)
    assert unquoted is not None and len(unquoted) == 1


def test_schema_names_become_words() -> None:
    assert words_of("order_items") == "order items"
    assert words_of("StageName") == "stage name"
    assert words_of("NumberOfEmployees") == "number of employees"
    assert words_of("HTTPCode") == "http code"


def test_cues_come_from_the_live_schema_so_a_new_database_routes_to_sql() -> None:
    clinic = {
        "patients": ["id", "full_name", "birth_date", "ward_id"],
        "wards": ["id", "ward_name", "floor"],
        "admissions": ["id", "patient_id", "admitted_on", "diagnosis"],
    }
    values = {("admissions", "diagnosis"): ["influenza", "fracture", "asthma"]}
    cues = build_cues(tables=clinic, values=values, describes={})
    for request in (
        "How many patients were admitted with influenza?",
        "list the wards on floor 3",
        "how many admisions last year",  # misspelt
    ):
        plan = plan_by_rules(request, cues)
        assert plan is not None and [t["specialist"] for t in plan] == ["sql"], request
    # The demo domain's words mean nothing to this database.
    assert plan_by_rules("How many orders were cancelled?", cues) is None
    assert out_of_scope("How many orders were cancelled?", cues)


def test_a_lexicon_word_counts_only_where_the_schema_has_its_name(demo_cues: Cues) -> None:
    other = build_cues(tables={"books": ["id", "title", "author"]}, values=None, describes={})
    assert demo_cues.systems("Show me the deals we closed") == ["salesforce"]
    assert other.systems("Show me the deals we closed") == []
    assert demo_cues.systems("Which reps were hired in 2024?") == ["sql"]


def test_a_system_whose_schema_is_unknown_takes_what_names_no_other() -> None:
    cues = build_cues(tables=None, values=None, describes={"Lead": {"fields": []}})
    assert cues.systems("How many customers are there?") == ["sql"]
    # The unreadable database may hold leads too: the rules do not decide.
    assert cues.systems("How many leads are there?") == ["sql", "salesforce"]
    assert plan_by_rules("How many leads are there?", cues) is None
    assert cues.systems("How many leads are there in Salesforce?") == ["salesforce"]
    assert not out_of_scope("Tell me a joke", cues)


def test_a_cue_both_systems_hold_decides_nothing(demo_cues: Cues) -> None:
    assert demo_cues.systems("What industries are there?") == []
    assert not out_of_scope("What industries are there?", demo_cues)


@pytest.mark.parametrize(
    "request_text",
    [
        "What's the weather like in Paris tomorrow?",
        "Tell me a joke",
        "Book me a flight to Lisbon",
    ],
)
def test_a_request_that_names_nothing_any_system_holds_is_out_of_scope(
    request_text: str, demo_cues: Cues
) -> None:
    assert out_of_scope(request_text, demo_cues)


def test_summaries_and_requests_about_the_systems_are_in_scope(demo_cues: Cues) -> None:
    for request in (
        "Summarise this note: the meeting moved to Friday.",
        "how many custmers in germany",
        "hot leads?",
        "show escalated tickets",
    ):
        assert not out_of_scope(request, demo_cues), request


def test_a_summary_and_another_question_in_one_clause_are_both_planned(demo_cues: Cues) -> None:
    plan = plan_by_rules(
        "List the open cases in Salesforce, then summarise that, and also give me the total "
        "revenue of Retail customers.",
        demo_cues,
    )
    assert plan is not None
    assert [(t["specialist"], t["depends_on"]) for t in plan] == [
        ("salesforce", None),
        ("summarize", 1),
        ("sql", None),
    ]


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        # A clause that names nothing belongs to its neighbour.
        ("Which five products sold the most last year? Could you dig that up?", [("sql", None)]),
        ("Quick one. How many leads are hot?", [("salesforce", None)]),
        # Separators people write.
        ("leads by rating -> summary", [("salesforce", None), ("summarize", 1)]),
        ("revenue from delivered orders + closed won deals", [("sql", None), ("salesforce", None)]),
        (
            "list the hot leads and also the customers in Germany",
            [("salesforce", None), ("sql", None)],
        ),
        (
            "Count cases per priority and subsequently provide a concise summary.",
            [("salesforce", None), ("summarize", 1)],
        ),
        (
            "how many SMB customers, how many open cases, and who is our newest rep?",
            [("sql", None), ("salesforce", None), ("sql", None)],
        ),
        ("Furthermore, list the sales reps hired after 2022.", [("sql", None)]),
        # A summary with no text of its own summarises the result before it.
        (
            "Grab the escalated cases and then give me the gist.",
            [("salesforce", None), ("summarize", 1)],
        ),
        (
            "Pull the orders per status, then boil it down to one line",
            [("sql", None), ("summarize", 1)],
        ),
    ],
)
def test_rules_plan_requests_as_people_write_them(
    request_text: str, expected: list[tuple[str, int | None]], demo_cues: Cues
) -> None:
    plan = plan_by_rules(request_text, demo_cues)
    assert plan is not None, request_text
    assert [(t["specialist"], t["depends_on"]) for t in plan] == expected


def test_a_clause_that_names_nothing_joins_the_instruction_before_it(demo_cues: Cues) -> None:
    (task,) = plan_by_rules("How many orders were returned? Mind checking?", demo_cues) or []
    assert task["instruction"] == "How many orders were returned? Mind checking?"


@pytest.mark.parametrize(
    "request_text",
    [
        "Can you boil this down for me? It's from a customer and it rambles a bit: the tablets "
        "arrived late, two were cracked, and nobody answered the phone on Friday.",
        "Would you please summarise these meeting notes? Attendees: Diego, Mariana. Decisions: "
        "the price list moves to the new template from July; the EMEA reps get new territories.",
        "give me the short version of this ticket: customer cannot log in since the reset",
        "Please produce a concise summary of the following complaint: the order was late.",
    ],
)
def test_a_request_to_summarise_a_text_it_carries_is_one_summary(
    request_text: str, demo_cues: Cues
) -> None:
    plan = plan_by_rules(request_text, demo_cues)
    assert plan is not None and [(t["specialist"], t["depends_on"]) for t in plan] == [
        ("summarize", None)
    ]
