"""The hand-written evaluation sets: well formed, gold that runs, and never in training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.handwritten import FILES, _retyped, load, same_rows
from specialists import TASK_SPECIALISTS
from tools.salesforce import ActionRequest
from tools.sql import SqlDatabase

TRAINING = Path(__file__).resolve().parents[2] / "finetune" / "data"


def training_requests() -> set[str]:
    found: set[str] = set()
    for path in TRAINING.glob("*/*.jsonl"):
        for line in path.read_text().splitlines():
            if line.strip():
                found.add(" ".join(str(json.loads(line).get("request", "")).lower().split()))
    return found


def request_of(item: dict[str, object]) -> str:
    return str(item.get("question") or item.get("request"))


@pytest.mark.parametrize(
    ("name", "least"),
    [("sql", 120), ("salesforce", 80), ("router", 80), ("router_fresh", 30), ("out_of_scope", 40)],
)
def test_each_set_is_large_enough_unique_and_never_trained_on(name: str, least: int) -> None:
    items = load(name)
    assert len(items) >= least, FILES[name]
    assert len({item["id"] for item in items}) == len(items)
    assert len({request_of(item).lower() for item in items}) == len(items)
    trained = training_requests()
    assert [i["id"] for i in items if " ".join(request_of(i).lower().split()) in trained] == []
    assert all(item.get("style") for item in items)


def test_every_gold_query_runs_on_the_demo_database(demo_db: Path) -> None:
    empty = []
    with SqlDatabase.open(str(demo_db)) as database:
        for item in load("sql"):
            result = database.execute(database.validate(item["gold"]), row_limit=5000)
            if not result.rows or result.rows == [[0]]:
                empty.append(item["id"])
    assert len(empty) <= 5, empty


def test_every_gold_action_parses_and_names_ids_the_request_holds() -> None:
    for item in load("salesforce"):
        action = ActionRequest.model_validate({"action": item["gold"]}).action
        assert action.action == item["kind"], item["id"]
        for record_id in item["ids"]:
            assert record_id in item["request"], item["id"]
        assert not _retyped(json.dumps(item["gold"]), item["request"]), item["id"]


def test_every_gold_plan_names_specialists_and_earlier_dependencies() -> None:
    routed = load("router")
    fresh = load("router_fresh")
    assert not {i["request"].lower() for i in routed} & {i["request"].lower() for i in fresh}
    for item in routed + fresh:
        tasks = item["tasks"]
        assert (item["kind"] == "out_of_scope") == (tasks == []), item["id"]
        for position, task in enumerate(tasks, start=1):
            assert task["specialist"] in TASK_SPECIALISTS, item["id"]
            depends = task["depends_on"]
            assert depends is None or 1 <= depends < position, item["id"]
    for item in load("out_of_scope"):
        assert item["expect"] in ("none", "decline"), item["id"]
        assert (item["system"] is None) == (item["expect"] == "none"), item["id"]


def test_rows_compare_as_multisets_with_rounded_numbers() -> None:
    assert same_rows([[1, "a"], [2, "b"]], [[2, "b"], [1, "a"]])
    assert same_rows([[10.004]], [[10.0]])
    assert not same_rows([[1]], [[1], [1]])
    assert not same_rows([["a"]], [["b"]])


def test_an_id_the_request_does_not_hold_counts_as_retyped() -> None:
    held = "0018d0000000hizAAA"
    request = f"Update account {held}"
    assert not _retyped(json.dumps({"action": "get", "record_id": held}), request)
    assert _retyped(json.dumps({"action": "get", "record_id": "0018d000000hizAAAQ"}), request)
    assert _retyped(
        json.dumps({"action": "create", "values": {"AccountId": "0018d000000hizAAAQ"}}), request
    )
