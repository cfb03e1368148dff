"""How ``evals.chains`` scores a step, a chain and the whole run (no model involved)."""

from __future__ import annotations

from typing import Any

import pytest

from evals.chain_gold import GoldStep
from evals.chains import score_item, step_right, summary
from graph.api import RunResult
from graph.state import TaskResult
from tools.salesforce import SalesforceClient
from tools.salesforce_sandbox.seed import make_id

CASE = make_id("Case", 3)


@pytest.fixture
def client(offline_org: SalesforceClient) -> SalesforceClient:
    return offline_org


def result(
    number: int,
    specialist: str,
    *,
    status: str = "ok",
    rows: list[list[Any]] | None = None,
    action: dict[str, Any] | None = None,
) -> TaskResult:
    return TaskResult(
        id=number,
        specialist=specialist,  # type: ignore[typeddict-item]
        instruction="",
        status=status,  # type: ignore[typeddict-item]
        output="",
        query=None,
        columns=[],
        rows=rows or [],
        truncated=False,
        attempts=[],
        timings={},
        action=action,
    )


def test_a_sql_step_is_right_only_with_the_gold_rows(client: SalesforceClient) -> None:
    gold = GoldStep(1, "sql", "SELECT name FROM customers", ["name"], [["Acme"], ["Initech"]])
    assert step_right(gold, result(1, "sql", rows=[["Initech"], ["Acme"]]), client) is None
    assert step_right(gold, result(1, "sql", rows=[["Acme"]]), client) == "wrong result"
    assert step_right(gold, result(1, "salesforce"), client) == "wrong specialist"
    assert step_right(gold, result(1, "sql", status="failed"), client) == "no valid output"
    assert step_right(gold, result(1, "sql", status="skipped"), client) == "stopped wrongly"
    assert step_right(gold, None, client) == "not run"


def test_a_write_is_scored_by_kind_record_values_and_carried_values(
    client: SalesforceClient,
) -> None:
    wanted = {
        "action": "update",
        "sobject": "Case",
        "record_id": CASE,
        "values": {"Status": "Escalated"},
    }
    gold = GoldStep(2, "salesforce", wanted, write=True, mentions=["Escalated"])
    assert step_right(gold, result(2, "salesforce", action=dict(wanted)), client) is None
    other_record = {**wanted, "record_id": make_id("Case", 4)}
    assert step_right(gold, result(2, "salesforce", action=other_record), client) == (
        "wrong record"
    )
    other_value = {**wanted, "values": {"Status": "Closed"}}
    assert step_right(gold, result(2, "salesforce", action=other_value), client) == (
        "wrong field value"
    )
    created = {"action": "create", "sobject": "Case", "values": {"Status": "Escalated"}}
    assert step_right(gold, result(2, "salesforce", action=created), client) == "wrong action"


def test_a_salesforce_read_is_right_by_its_records_or_its_normalised_action(
    client: SalesforceClient,
) -> None:
    query = {"action": "query", "soql": "SELECT Name FROM Account"}
    gold = GoldStep(1, "salesforce", query, ["Name"], [["Acme"]])
    assert step_right(gold, result(1, "salesforce", action=query, rows=[["Acme"]]), client) is None
    assert step_right(gold, result(1, "salesforce", action=query, rows=[]), client) == (
        "wrong result"
    )
    describe = {"action": "describe", "sobject": "Lead"}
    gold = GoldStep(1, "salesforce", describe)
    spelled = {"action": "describe", "sobject": "lead"}  # the org's casing is restored
    assert step_right(gold, result(1, "salesforce", action=spelled), client) is None
    other = {"action": "describe", "sobject": "Case"}
    assert step_right(gold, result(1, "salesforce", action=other), client) == "wrong result"


def run_of(plan: list[str], results: list[TaskResult]) -> RunResult:
    return RunResult(
        thread_id="t",
        request="r",
        answer="",
        finished=True,
        plan=[
            {"id": n, "specialist": s, "instruction": "", "depends_on": None}  # type: ignore[typeddict-item]
            for n, s in enumerate(plan, start=1)
        ],
        results=results,
    )


def test_a_chain_is_right_when_every_step_is_and_a_stopping_chain_must_stop(
    client: SalesforceClient,
) -> None:
    golds = [
        GoldStep(1, "sql", "q", ["name"], [["Acme"]]),
        GoldStep(2, "sql", "q", ["n"], [[3]]),
    ]
    item = {"id": "c1", "steps": [{"specialist": "sql"}, {"specialist": "sql"}]}
    good = run_of(["sql", "sql"], [result(1, "sql", rows=[["Acme"]]), result(2, "sql", rows=[[3]])])
    scored = score_item(item, golds, good, client)
    assert scored["right"] and scored["cause"] is None and scored["step_verdicts"] == [None, None]
    bad = run_of(["sql", "sql"], [result(1, "sql", rows=[["Acme"]]), result(2, "sql", rows=[[4]])])
    assert score_item(item, golds, bad, client)["cause"] == "step 2: wrong result"
    short = run_of(["sql"], [result(1, "sql", rows=[["Acme"]])])
    assert score_item(item, golds, short, client)["cause"] == "wrong plan"

    stopping = {**item, "id": "c2", "stops_at": 2}
    stopped = run_of(
        ["sql", "sql"], [result(1, "sql", rows=[["Acme"]]), result(2, "sql", status="skipped")]
    )
    assert score_item(stopping, golds, stopped, client)["right"]
    ran_on = run_of(["sql", "sql"], [result(1, "sql", rows=[["Acme"]]), result(2, "sql")])
    assert score_item(stopping, golds, ran_on, client)["cause"] == "did not stop"

    outcomes = [
        {**score_item(item, golds, good, client), "seconds": 1.0},
        {**score_item(item, golds, short, client), "seconds": 3.0},
        {**score_item(stopping, golds, ran_on, client), "seconds": 2.0},
    ]
    figures = summary(outcomes)
    assert figures["chains"] == 3 and figures["chain_success"] == 1
    assert figures["plans_right"] == 2
    assert figures["steps_scored"] == 2 + 2 + 1 and figures["steps_right"] == 3
    assert figures["p50_s"] == 2.0 and figures["max_s"] == 3.0
