"""The chains set's gold resolver: placeholder filling, and the set's shape."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals.chain_gold import (
    DIRECTIONS,
    STOP_REASONS,
    GoldError,
    direction_of,
    fill,
    fill_action,
    load,
    placeholders,
    shape_problems,
)
from tools.salesforce import ActionRequest

TRAINING = Path(__file__).resolve().parents[2] / "finetune" / "data"

RESULTS = {
    1: (["name", "id", "revenue"], [["O'Brien Ltd", 7, 1250.5]]),
    2: (["Id", "Name", "Account.Name"], [["001000000000001AAA", "Acme Corp", "Acme"]]),
    3: (["country"], [["USA"], ["Germany"], ["O'Hare"]]),
    4: (["COUNT()"], [[12]]),
    5: ([], []),
    6: (["AnnualRevenue", "IsClosed"], [[5000.0, False]]),
}


def test_placeholders_are_read_with_their_kind() -> None:
    found = placeholders("x = {1.name} AND y IN ({3.country[]}) LIMIT {4#} -- {2.Account.Name}")
    assert [(p.step, p.column, p.kind) for p in found] == [
        (1, "name", "value"),
        (3, "country", "list"),
        (4, None, "count"),
        (2, "Account.Name", "value"),
    ]
    assert placeholders("SELECT COUNT() FROM Lead LIMIT {4.COUNT()}")[0].column == "COUNT()"
    assert placeholders("no braces, {not one}, {1}") == []


def test_sql_quoting_doubles_single_quotes_and_leaves_numbers_bare() -> None:
    sql = "SELECT * FROM t WHERE name = {1.name} AND id = {1.id} AND r > {1.revenue}"
    assert fill(sql, RESULTS, quote="sql") == (
        "SELECT * FROM t WHERE name = 'O''Brien Ltd' AND id = 7 AND r > 1250.5"
    )


def test_soql_quoting_uses_backslashes() -> None:
    assert fill("Name = {1.name}", RESULTS, quote="soql") == "Name = 'O\\'Brien Ltd'"
    assert fill("Amount > {6.AnnualRevenue}", RESULTS, quote="soql") == "Amount > 5000"
    assert fill("IsClosed = {6.IsClosed}", RESULTS, quote="soql") == "IsClosed = false"
    assert fill("x = {6.IsClosed}", RESULTS, quote="sql") == "x = 0"


def test_raw_values_are_bare_and_columns_match_in_any_case() -> None:
    assert fill("{1.NAME} / {2.account.name}", RESULTS, quote="raw") == "O'Brien Ltd / Acme"
    assert fill("{3.country[]}", RESULTS, quote="raw") == "USA, Germany, O'Hare"


def test_lists_and_counts() -> None:
    assert fill("IN ({3.country[]})", RESULTS, quote="sql") == "IN ('USA', 'Germany', 'O''Hare')"
    assert fill("IN ({3.country[]})", RESULTS, quote="soql") == (
        "IN ('USA', 'Germany', 'O\\'Hare')"
    )
    assert fill("LIMIT {3#}", RESULTS, quote="sql") == "LIMIT 3"
    assert fill("LIMIT {4.COUNT()}", RESULTS, quote="soql") == "LIMIT 12"
    assert fill("{5#} rows", RESULTS, quote="raw") == "0 rows"
    assert fill("IN ({1.id[]})", RESULTS, quote="sql") == "IN (7)"


@pytest.mark.parametrize(
    ("template", "reason", "words"),
    [
        ("{3.country}", "several rows", "returned 3 rows"),
        ("{5.Id}", "no rows", "no rows"),
        ("{5.Id[]}", "no rows", "no rows"),
        ("{1.missing}", None, "no column `missing`"),
        ("{9.name}", None, "step 9 has no result"),
    ],
)
def test_values_that_cannot_be_filled_raise_a_gold_error(
    template: str, reason: str | None, words: str
) -> None:
    with pytest.raises(GoldError) as raised:
        fill(template, RESULTS, quote="sql")
    assert isinstance(raised.value, ValueError)
    assert raised.value.reason == reason
    assert words in str(raised.value)


def test_an_action_is_filled_by_field_with_types_kept() -> None:
    gold = {
        "action": "update",
        "sobject": "Account",
        "record_id": "{2.Id}",
        "values": {
            "Description": "Follow up with {1.name}",
            "NumberOfEmployees": "{1.id}",
            "AnnualRevenue": "{6.AnnualRevenue}",
            "Type": "Partner",
        },
    }
    filled = fill_action(gold, RESULTS)
    assert filled == {
        "action": "update",
        "sobject": "Account",
        "record_id": "001000000000001AAA",
        "values": {
            "Description": "Follow up with O'Brien Ltd",
            "NumberOfEmployees": 7,
            "AnnualRevenue": 5000.0,
            "Type": "Partner",
        },
    }
    assert gold["record_id"] == "{2.Id}"  # the gold itself is left alone
    query = fill_action(
        {"action": "query", "soql": "SELECT Id FROM Account WHERE Name = {1.name}"}, RESULTS
    )
    assert query["soql"] == "SELECT Id FROM Account WHERE Name = 'O\\'Brien Ltd'"


def test_direction_follows_the_systems_in_order() -> None:
    def steps(*names: str) -> list[dict[str, str]]:
        return [{"specialist": name} for name in names]

    assert direction_of(steps("sql", "sql")) == "sql>sql"
    assert direction_of(steps("sql", "summarize", "salesforce", "salesforce")) == "sql>salesforce"
    assert direction_of(steps("salesforce", "sql", "sql")) == "salesforce>sql"
    assert direction_of(steps("salesforce", "sql", "salesforce")) == "mixed"


def test_a_bad_item_is_reported() -> None:
    item = {
        "id": "x",
        "request": "r",
        "style": "plain",
        "direction": "sql>sql",
        "writes": False,
        "steps": [
            {"specialist": "sql", "gold": "SELECT id FROM customers WHERE name = {2.name}"},
            {"specialist": "sql", "gold": "SELECT 1"},
        ],
        "stops_at": 1,
        "stop_reason": "none",
    }
    problems = " | ".join(shape_problems(item))
    assert "{2.name} does not name an earlier read step" in problems
    assert "step 2: takes no value" in problems
    assert "stops_at 1" in problems


def training_requests() -> set[str]:
    found: set[str] = set()
    for path in TRAINING.glob("*/*.jsonl"):
        for line in path.read_text().splitlines():
            if line.strip():
                found.add(" ".join(str(json.loads(line).get("request", "")).lower().split()))
    return found


def test_the_set_is_well_formed() -> None:
    items = load()
    assert len(items) >= 40
    assert len({item["id"] for item in items}) == len(items)
    assert len({item["request"].lower() for item in items}) == len(items)
    assert {item["id"]: shape_problems(item) for item in items if shape_problems(item)} == {}
    for item in items:
        steps = item["steps"]
        assert 2 <= len(steps) <= 10, item["id"]
        readable: set[int] = set()
        for number, step in enumerate(steps, start=1):
            texts = [json.dumps(step.get("gold")), *map(str, step.get("mentions") or [])]
            for placeholder in (p for text in texts for p in placeholders(text)):
                assert placeholder.step in readable, (item["id"], number, placeholder.text)
            gold = step.get("gold")
            if isinstance(gold, dict):
                action = ActionRequest.model_validate({"action": gold}).action
                if action.action in ("query", "get"):
                    readable.add(number)
            elif isinstance(gold, str):
                readable.add(number)
        stop = item.get("stops_at")
        assert stop is None or (2 <= stop <= len(steps)), item["id"]
        assert (stop is None) == ("stop_reason" not in item), item["id"]
        assert stop is None or item["stop_reason"] in STOP_REASONS, item["id"]
        assert item["direction"] in DIRECTIONS, item["id"]
    trained = training_requests()
    assert [i["id"] for i in items if " ".join(i["request"].lower().split()) in trained] == []


def test_the_set_covers_what_it_is_meant_to() -> None:
    items = load()
    lengths = Counter(len(item["steps"]) for item in items)
    directions = Counter(item["direction"] for item in items)
    assert lengths[2] >= 18
    assert sum(lengths[n] for n in (3, 4)) >= 10
    assert sum(lengths[n] for n in (5, 6, 7)) >= 6
    assert lengths[10] >= 4
    assert directions["sql>salesforce"] >= 8
    assert directions["salesforce>sql"] >= 8
    assert sum(bool(item["writes"]) for item in items) >= 8
    assert sum(item.get("stops_at") is not None for item in items) >= 6
    assert len({item["style"] for item in items}) >= 8
