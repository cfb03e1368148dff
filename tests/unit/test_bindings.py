"""Chain bindings: references found in clauses, plans bound, values copied in or refused."""

from __future__ import annotations

from typing import Any

import pytest

from specialists.base import Binding, SubTask
from specialists.bindings import (
    MAX_LIST,
    BindingError,
    bind_plan,
    fill,
    find_reference,
    missing_values,
    pick_column,
    sources_of,
)
from specialists.router import Plan, plan_by_rules, plan_from_model, split_dependent
from specialists.scope import Cues


def nouns(word: str) -> bool:
    return word in {
        "customer", "customers", "account", "accounts", "rep", "orders", "case", "one", "person"
    }  # fmt: skip


def task(tid: int, specialist: str, instruction: str, *inputs: Binding) -> SubTask:
    made = SubTask(id=tid, specialist=specialist, instruction=instruction, depends_on=None)  # type: ignore[typeddict-item]
    if inputs:
        made["inputs"] = list(inputs)
        made["depends_on"] = inputs[0]["from"]
    return made


def binding(source: int, name: str, kind: str = "value", column: str | None = None) -> Binding:
    return Binding({"from": source, "column": column, "kind": kind, "as": name})  # type: ignore[typeddict-item]


def result(columns: list[str], rows: list[list[Any]], **extra: Any) -> dict[str, Any]:
    return {"status": "ok", "columns": columns, "rows": rows, "truncated": False, **extra}


@pytest.mark.parametrize(
    ("clause", "kind", "replacement"),
    [
        ("create a Salesforce case for that customer", "value", "the customer {customer}"),
        ("list the contacts of those accounts", "list", "the accounts {accounts}"),
        ("show their orders", "list", "the orders of {them}"),
        ("open a case for each of them", "list", "each of {them}"),
        ("how many orders did it place", "value", "{it}"),
        ("list that many products", "count", "{count}"),
        ("which customers does the same rep look after", "value", "the rep {rep}"),
        ("list its cases that are not closed", "value", "the cases of {it}"),
        ("in its billing country", "value", "the billing country of {it}"),
        ("find the account's largest open deal", "value", "the account {account}'s"),
        ("change that person's title to CFO", "value", "the person {person}'s"),
        ("count the accounts billed there", "value", "billed in {place}"),
    ],
)
def test_references_are_found_with_their_kind(clause: str, kind: str, replacement: str) -> None:
    reference = find_reference(clause, nouns)
    assert reference is not None
    assert reference.kind == kind
    assert reference.replacement == replacement


@pytest.mark.parametrize(
    "clause",
    [
        "list the customers that are in Japan",  # "that" starts a relative clause
        "how many orders were shipped in 2024",
        "which products does that contain",  # "that" + a verb
    ],
)
def test_clauses_that_do_not_refer_back_have_no_reference(clause: str) -> None:
    assert find_reference(clause, nouns) is None


def test_bind_plan_binds_the_step_before_and_places_the_placeholder() -> None:
    plan = [
        task(1, "sql", "Which customer placed the most orders?"),
        task(2, "salesforce", "create a case for that customer"),
        task(3, "summarize", "summarise that"),
    ]
    bound = bind_plan(plan, nouns)
    assert bound[1]["instruction"] == "create a case for the customer {customer}"
    assert bound[1]["depends_on"] == 1
    assert bound[1].get("inputs") == [binding(1, "customer")]
    # A summary reads its dependency whole; the first step has nothing to refer to.
    assert "inputs" not in bound[0] and "inputs" not in bound[2]
    # The plan given is not changed in place.
    assert plan[1]["instruction"] == "create a case for that customer"


def test_rules_plan_a_cross_system_chain(demo_cues: Cues) -> None:
    plan = plan_by_rules(
        "Which customer placed the most orders? Then create a Salesforce case for that customer.",
        demo_cues,
    )
    assert plan is not None
    assert [(t["specialist"], t["depends_on"]) for t in plan] == [("sql", None), ("salesforce", 1)]
    assert plan[1]["instruction"] == "create a Salesforce case for the customer {customer}."
    assert plan[1].get("inputs") == [binding(1, "customer")]


def test_rules_plan_ten_dependent_steps(demo_cues: Cues) -> None:
    clauses = ["Which rep was hired first?"] + [
        "then list the customers of that rep" if i % 2 else "then which rep looks after it"
        for i in range(9)
    ]
    plan = plan_by_rules(" ".join(clauses), demo_cues)
    assert plan is not None and len(plan) == 10
    assert [t["depends_on"] for t in plan] == [None, *range(1, 10)]
    assert all(t.get("inputs") for t in plan[1:])


def test_router_model_bindings_are_kept_when_they_point_back() -> None:
    plan = Plan.model_validate(
        {
            "tasks": [
                {"specialist": "sql", "instruction": "top customer"},
                {
                    "specialist": "salesforce",
                    "instruction": "case for {customer}",
                    "inputs": [{"from": 1, "column": "name", "as": "customer"}],
                },
                {
                    "specialist": "sql",
                    "instruction": "orders of {x}",
                    "inputs": [{"from": 3, "as": "x"}],  # points at itself: dropped
                },
            ]
        }
    )
    tasks = plan_from_model(plan, "request")
    assert tasks[1].get("inputs") == [binding(1, "customer", column="name")]
    assert tasks[1]["depends_on"] == 1
    assert "inputs" not in tasks[2] and tasks[2]["depends_on"] is None


def test_fill_copies_the_single_value_from_the_name_column() -> None:
    step = task(
        2, "salesforce", "create a case for the customer {customer}", binding(1, "customer")
    )
    source = result(["name", "orders"], [["Nova Retail Corp.", 41]], specialist="sql")
    filled = fill(step, {1: source})
    assert filled.instruction == "create a case for the customer Nova Retail Corp."
    assert filled.values == ["Nova Retail Corp."]
    assert filled.taken == [
        {"from": 1, "as": "customer", "column": "name", "value": "Nova Retail Corp."}
    ]


def test_a_salesforce_step_after_a_salesforce_step_takes_the_record_id() -> None:
    step = task(2, "salesforce", "close the case {case}", binding(1, "case"))
    source = result(
        ["Id", "Subject"], [["500000000000001AAA", "Printer jam"]], specialist="salesforce"
    )
    assert fill(step, {1: source}).values == ["500000000000001AAA"]


def test_a_list_binding_joins_every_value() -> None:
    step = task(2, "sql", "orders of {them}", binding(1, "them", kind="list"))
    source = result(["name"], [["A"], ["B"], ["C, Ltd"]], specialist="sql")
    filled = fill(step, {1: source})
    assert filled.instruction == 'orders of A, B and "C, Ltd"'
    assert filled.values == ["A", "B", "C, Ltd"]


def test_a_count_binding_reads_a_count_or_counts_rows() -> None:
    step = task(2, "sql", "top {count} products", binding(1, "count", kind="count"))
    assert fill(step, {1: result(["n"], [[7]])}).instruction == "top 7 products"
    assert fill(step, {1: result(["name"], [["a"], ["b"]])}).instruction == "top 2 products"


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (result(["name"], []), "step 1 returned no rows, so there is no customer to use"),
        (result(["name"], [["A"], ["B"], ["C"], ["D"]]), "returned 4 rows where one customer"),
        ({"status": "failed", "columns": [], "rows": []}, "did not produce one"),
    ],
)
def test_a_binding_that_cannot_be_filled_says_why(source: dict[str, Any], needle: str) -> None:
    step = task(2, "sql", "orders of {customer}", binding(1, "customer"))
    with pytest.raises(BindingError, match=needle):
        fill(step, {1: source})


def test_a_list_longer_than_a_step_takes_is_refused() -> None:
    step = task(2, "sql", "orders of {them}", binding(1, "them", kind="list"))
    rows = [[f"c{i}"] for i in range(MAX_LIST + 1)]
    with pytest.raises(BindingError, match="narrow step 1"):
        fill(step, {1: result(["name"], rows)})


def test_a_missing_placeholder_gets_the_value_appended() -> None:
    step = task(2, "sql", "orders of the customer found", binding(1, "customer"))
    filled = fill(step, {1: result(["name"], [["Acme"]])})
    assert filled.instruction == "orders of the customer found (customer: Acme)"


def test_columns_are_picked_by_the_hint_then_id_then_name() -> None:
    assert pick_column(["name", "industry"], "industry", want_id=False) == 1
    assert pick_column(["Id", "Name"], "account", want_id=True) == 0
    assert pick_column(["Id", "Name"], "account", want_id=False) == 1
    assert pick_column(["customer_id", "customer_name"], "customer", want_id=False) == 1
    assert pick_column(["total"], "it", want_id=False) == 0


def test_missing_values_compares_text_and_numbers() -> None:
    assert missing_values(["Acme"], ["Follow up with Acme today"]) == []
    assert missing_values(["Acme", "Globex"], ["acme"]) == ["Globex"]
    assert missing_values(["41"], ["41.0"]) == []


def test_sources_are_the_dependency_and_every_binding() -> None:
    step = task(3, "sql", "{a} and {b}", binding(1, "a"), binding(2, "b"))
    assert sources_of(step) == [1, 2]


@pytest.mark.parametrize(
    ("clause", "parts"),
    [
        (
            "Find the contact Chloe Dubois and open a case for her",
            ["Find the contact Chloe Dubois", "open a case for her"],
        ),
        (
            "Look up the Acme account, list its contacts, and mark it as a Partner",
            ["Look up the Acme account", "list its contacts", "mark it as a Partner"],
        ),
        ("list customers and products", ["list customers and products"]),
        (
            "show the accounts and list the open cases",
            ["show the accounts and list the open cases"],
        ),
    ],
)
def test_a_clause_is_split_before_an_action_that_refers_back(clause: str, parts: list[str]) -> None:
    assert split_dependent(clause, nouns) == parts


def test_a_retyped_chain_value_in_a_salesforce_action_is_restored_and_escapes_count() -> None:
    from specialists.salesforce import with_bound_values, written_values
    from tools.salesforce import CreateAction, QueryAction

    create = CreateAction(
        action="create", sobject="Case", values={"Subject": "Call Lakeide Industries LLC"}
    )
    fixed = with_bound_values(create, ["Lakeside Industries LLC"])
    assert isinstance(fixed, CreateAction)
    assert fixed.values["Subject"] == "Call Lakeside Industries LLC"
    query = QueryAction(soql="SELECT Id FROM Contact WHERE LastName = 'O\\'Brien'")
    assert missing_values(["O'Brien"], written_values(query)) == []
    assert missing_values(["Smith"], written_values(query)) == ["Smith"]


def test_a_retyped_chain_value_in_a_sql_literal_is_restored() -> None:
    from specialists.sql import bound_problem, with_bound_values

    sql = (
        "SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE c.name = 'Lakeide Industries LLC'"
    )
    fixed = with_bound_values(sql, ["Lakeside Industries LLC"])
    assert fixed.endswith("c.name = 'Lakeside Industries LLC'")
    assert bound_problem(fixed, "sqlite", ["Lakeside Industries LLC"]) is None
    problem = bound_problem("SELECT name FROM customers", "sqlite", ["Lakeside Industries LLC"])
    assert problem is not None and "'Lakeside Industries LLC'" in problem


def test_rules_make_a_lookup_step_for_words_that_a_later_action_refers_to(
    demo_cues: Cues,
) -> None:
    plan = plan_by_rules(
        "look up Guido Berners-Lee at Oscorp Group and log a high priority case for him",
        demo_cues,
    )
    assert plan is not None
    assert [(t["specialist"], t["depends_on"]) for t in plan] == [
        ("salesforce", None),
        ("salesforce", 1),
    ]
    assert plan[0]["instruction"] == "look up Guido Berners-Lee at Oscorp Group"
    assert plan[1]["instruction"] == "log a high priority case for {it}"


def test_a_picklist_value_is_not_read_as_the_shorter_word_of_another_system(
    demo_cues: Cues,
) -> None:
    assert demo_cues.systems("change its type to Customer - Direct") == ["salesforce"]
