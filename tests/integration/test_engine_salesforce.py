"""The schema-driven Salesforce data engine on the offline sandbox org and on a custom org."""

from __future__ import annotations

import io
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from finetune.datasets.common import SANDBOX_ANCHOR
from finetune.engine import salesforce as engine
from finetune.engine.phrasing import MAX_REQUEST, STYLES
from specialists.quantities import numbers_as_digits
from specialists.salesforce import ids_in
from tools.salesforce import (
    ActionRequest,
    QueryAction,
    SalesforceClient,
    is_write,
    to_18_char_id,
)
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox

pytestmark = pytest.mark.integration

FIELDS = ["id", "specialist", "family", "template", "entity", "request", "target", "gold_records"]
KINDS = {"query", "get", "create", "update", "delete", "describe"}
STORED = Path(__file__).resolve().parents[2] / "finetune" / "data" / "salesforce" / "train.jsonl"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), anchor=SANDBOX_ANCHOR) as server:
        yield server


@pytest.fixture(scope="module")
def client(sandbox: SandboxServer) -> SalesforceClient:
    return sandbox_client(sandbox)


@pytest.fixture(scope="module")
def generated(
    client: SalesforceClient,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]]:
    return engine.generate(client, count=500, seed=11, heldout_count=80)


def action_of(record: dict[str, Any]) -> Any:
    return ActionRequest.model_validate_json(record["target"]).action


def test_records_have_the_stored_format(
    generated: tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]],
) -> None:
    train, heldout, _ = generated
    stored = json.loads(STORED.read_text(encoding="utf-8").splitlines()[0])
    assert list(stored) == FIELDS
    assert len(train) == 500 and len(heldout) == 80
    for split, records in (("train", train), ("heldout", heldout)):
        assert [r["id"] for r in records] == [
            f"salesforce-{split}-{i:05d}" for i in range(len(records))
        ]
        for record in records:
            assert list(record) == FIELDS
            assert record["specialist"] == "salesforce" and record["template"] == "-"
            assert record["family"] in engine.FAMILIES
            assert 0 < len(record["request"]) <= MAX_REQUEST
            request = ActionRequest.model_validate_json(record["target"])
            assert json.dumps(request.model_dump(mode="json")) == record["target"]
            assert engine.ACTION_OF[record["family"]] == request.action.action


def test_every_target_validates_to_itself_and_every_read_runs(
    sandbox: SandboxServer,
    client: SalesforceClient,
    generated: tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]],
) -> None:
    train, heldout, _ = generated
    records = {r["target"]: r for r in [*train, *heldout]}.values()
    assert sandbox.write_requests == 0  # the writes were validated, never performed
    for record in records:
        action = action_of(record)
        assert client.validate_action(action).model_dump() == action.model_dump(), record
        if is_write(action):
            assert record["gold_records"] == 1
            continue
        result = client.run(action, row_limit=engine.GOLD_ROW_LIMIT)
        assert result.rows, record
        if result.columns == ["COUNT()"]:
            assert result.rows != [[0]] and record["gold_records"] == 1
        else:
            assert len(result.rows) == record["gold_records"], record
            assert any(value is not None for value in result.rows[0]), record
    assert sandbox.write_requests == 0


def test_every_id_of_a_target_is_written_in_its_request(
    generated: tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]],
) -> None:
    train, heldout, _ = generated
    with_ids = 0
    for record in [*train, *heldout]:
        action = action_of(record)
        ids = set(ids_in(record["target"]))
        record_id = getattr(action, "record_id", None)
        if record_id:
            ids.add(record_id)
        for value in (getattr(action, "values", None) or {}).values():
            if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9]{18}", value):
                ids.add(value)
        for identifier in ids:
            assert re.search(rf"\b{identifier}\b", record["request"]), record
        with_ids += bool(ids)
    assert with_ids > 100


def test_every_action_kind_and_family_is_composed(
    generated: tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]],
) -> None:
    train, _, drops = generated
    assert {action_of(r).action for r in train} == KINDS
    assert set(engine.FAMILIES) <= {r["family"] for r in train}
    soql = [a.soql for a in map(action_of, train) if isinstance(a, QueryAction)]
    for shape in (
        r" WHERE .* AND ",
        r" WHERE .* OR ",
        r" IN \(",
        r" NOT IN \(",
        r" LIKE '",
        r" = null",
        r" != null",
        r" = (THIS|LAST|NEXT)_\w+",
        r" = LAST_N_DAYS:\d+",
        r" >= \d{4}-\d{2}-\d{2}",
        r"CALENDAR_YEAR\(",
        r"SELECT COUNT\(\) FROM",
        r"(SUM|AVG|MIN|MAX)\(",
        r" GROUP BY ",
        r" HAVING COUNT\(Id\) > \d+",
        r" ORDER BY \w+ (ASC|DESC).* LIMIT \d+",
        r"\bAccount\.Name\b",
        r"AccountId = '001",
    ):
        assert any(re.search(shape, q) for q in soql), shape
    assert not [reason for reason in drops if reason.startswith("rejected")]


def test_writes_use_settable_fields_and_the_picklist_values_the_describe_lists(
    client: SalesforceClient,
    generated: tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]],
) -> None:
    train, heldout, _ = generated
    writes = 0
    for record in [*train, *heldout]:
        action = action_of(record)
        if action.action not in ("create", "update"):
            continue
        writes += 1
        fields = {f["name"]: f for f in client.describe(action.sobject)["fields"]}
        flag = "createable" if action.action == "create" else "updateable"
        for name, value in action.values.items():
            assert fields[name][flag], record
            if fields[name]["type"] == "picklist" and value is not None:
                assert value in [v["value"] for v in fields[name]["picklistValues"]], record
            if isinstance(value, str) and fields[name]["type"] not in ("picklist", "date"):
                assert value in record["request"], record  # free text copied verbatim
    assert writes > 50


def test_numbers_in_requests_read_back_as_the_targets_numbers(
    generated: tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]],
) -> None:
    train, heldout, _ = generated
    for record in [*train, *heldout]:
        action = action_of(record)
        digits = numbers_as_digits(record["request"]).replace(",", "")
        numbers = re.findall(r"(?:[<>]=?) (\d+)\b", getattr(action, "soql", ""))
        numbers += [
            str(int(v))
            for v in (getattr(action, "values", None) or {}).values()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        for number in numbers:
            assert number in digits, record


def test_heldout_intents_never_recur_in_train_and_requests_are_unique(
    generated: tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]],
) -> None:
    train, heldout, _ = generated
    assert not {r["target"] for r in heldout} & {r["target"] for r in train}
    requests = [r["request"] for r in [*train, *heldout]]
    assert len(requests) == len(set(requests))
    per_intent = Counter(r["target"] for r in train)
    assert max(per_intent.values()) <= 4
    assert sum(n >= 2 for n in per_intent.values()) > 0.9 * len(per_intent)


def test_the_same_seed_gives_the_same_records(
    client: SalesforceClient,
    generated: tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]],
) -> None:
    again = engine.generate(client, count=500, seed=11, heldout_count=80)
    assert again == generated
    other = engine.generate(client, count=100, seed=12)
    assert other[0] != generated[0][:100]


def test_the_command_line_writes_both_splits_and_reports(tmp_path: Path) -> None:
    out, held = tmp_path / "train.jsonl", tmp_path / "heldout.jsonl"
    argv = ["--out", str(out), "--heldout", str(held), "--heldout-count", "20"]
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert engine.main([*argv, "--count", "60", "--seed", "3"]) == 0
    first = out.read_bytes()
    assert len(first.splitlines()) == 60 and len(held.read_bytes().splitlines()) == 20
    report = printed.getvalue()
    assert "records from" in report and "dropped:" in report and "time:" in report
    for family in engine.FAMILIES:
        assert re.search(rf"^  {family} ", report, re.MULTILINE), family
    with redirect_stdout(io.StringIO()):
        assert engine.main([*argv, "--count", "60", "--seed", "3"]) == 0
    assert out.read_bytes() == first


def test_the_styles_words_and_helpers() -> None:
    for n in (2, 5, 10, 40, 75, 250, 1000, 8000, 75000, 150000, 1_500_000, 40_000_000, 2 * 10**9):
        assert numbers_as_digits(f"over {engine.number_words(n)} units") == f"over {n} units"
    assert engine.number_words(75000) == "seventy-five thousand"
    assert engine.name_words("ns__Start_Date__c") == "start date"
    assert engine._lower_keeping("Delete Case 5008d0000002MjHAAU Now", ["5008d0000002MjHAAU"]) == (
        "delete case 5008d0000002MjHAAU now"
    )
    assert len(STYLES) >= 4


# ---------------------------------------------------------------- an org of custom objects


def _field(name: str, ftype: str, label: str, **extra: Any) -> dict[str, Any]:
    values = extra.pop("values", [])
    entry = {
        "name": name,
        "label": label,
        "type": ftype,
        "createable": True,
        "updateable": True,
        "nillable": True,
        "defaultedOnCreate": False,
        "length": 80 if ftype in ("string", "picklist") else 0,
        "precision": 16 if ftype == "currency" else 0,
        "scale": 2 if ftype == "currency" else 0,
        "picklistValues": [{"value": v, "label": v, "active": True} for v in values],
        "referenceTo": [],
        "relationshipName": None,
    }
    entry.update(extra)
    return entry


def _system(name: str, ftype: str, label: str) -> dict[str, Any]:
    return _field(name, ftype, label, createable=False, updateable=False, nillable=False)


CUSTOM: dict[str, dict[str, Any]] = {
    "Client__c": {
        "name": "Client__c",
        "label": "Client",
        "labelPlural": "Clients",
        "keyPrefix": "a01",
        "fields": [
            _system("Id", "id", "Record ID"),
            _field("Name", "string", "Client Name", nillable=False),
            _field("Region__c", "picklist", "Region", values=["North", "South", "East", "West"]),
            _field("Tier__c", "picklist", "Tier", values=["Gold", "Silver", "Bronze"]),
            _field("Annual_Spend__c", "currency", "Annual Spend"),
            _field("Active__c", "boolean", "Active", nillable=False, defaultedOnCreate=True),
            _system("CreatedDate", "datetime", "Created Date"),
        ],
    },
    "Project__c": {
        "name": "Project__c",
        "label": "Project",
        "labelPlural": "Projects",
        "keyPrefix": "a02",
        "fields": [
            _system("Id", "id", "Record ID"),
            _field("Name", "string", "Project Name", nillable=False),
            _field(
                "Client__c",
                "reference",
                "Client",
                length=18,
                referenceTo=["Client__c"],
                relationshipName="Client__r",
            ),
            _field(
                "Status__c",
                "picklist",
                "Status",
                values=["Planned", "Active", "On Hold", "Done"],
                nillable=False,
            ),
            _field("Budget__c", "currency", "Budget"),
            _field("Start_Date__c", "date", "Start Date"),
            _field("Hours__c", "double", "Hours"),
            _field("Notes__c", "textarea", "Notes", filterable=False, length=32000),
            _system("CreatedDate", "datetime", "Created Date"),
        ],
    },
}


def _custom_records() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(5)
    words = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adventure"]
    kinds = ["Traders", "Works", "Labs", "Partners"]
    clients = [
        {
            "Id": to_18_char_id(f"a015g00000{i:05d}"),
            "Name": f"{words[i % 6]} {kinds[i % 4]}",
            "Region__c": rng.choice(["North", "South", "East", "West"]),
            "Tier__c": rng.choice(["Gold", "Silver", "Bronze", None]),
            "Annual_Spend__c": float(rng.randrange(10, 900) * 1000),
            "Active__c": rng.random() < 0.7,
            "CreatedDate": f"2025-{rng.randrange(1, 13):02d}-10T09:00:00.000+0000",
        }
        for i in range(12)
    ]
    projects = []
    for i in range(40):
        owner = rng.choice(clients)
        projects.append(
            {
                "Id": to_18_char_id(f"a025g00000{i:05d}"),
                "Name": f"{owner['Name']} - {rng.choice(['Rollout', 'Audit', 'Migration'])} {i}",
                "Client__c": owner["Id"],
                "Client__r": {k: owner[k] for k in ("Name", "Region__c", "Tier__c")},
                "Status__c": rng.choice(["Planned", "Active", "On Hold", "Done"]),
                "Budget__c": float(rng.randrange(5, 500) * 1000),
                "Start_Date__c": f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 28):02d}",
                "Hours__c": float(rng.randrange(10, 400)),
                "CreatedDate": f"2025-{rng.randrange(1, 13):02d}-02T09:00:00.000+0000",
            }
        )
    return {"Client__c": clients, "Project__c": projects}


class _CustomObject:
    def __init__(self, org: _CustomOrg, name: str) -> None:
        self._org, self._name = org, name

    def describe(self) -> dict[str, Any]:
        return CUSTOM[self._name]

    def get(self, record_id: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return next(r for r in self._org.records[self._name] if r["Id"] == record_id)


class _CustomOrg:
    """Stands in for simple_salesforce.Salesforce over two custom objects (no real SOQL)."""

    def __init__(self) -> None:
        self.records = _custom_records()

    def __getattr__(self, name: str) -> _CustomObject:
        if name in CUSTOM:
            return _CustomObject(self, name)
        raise AttributeError(name)

    def describe(self) -> dict[str, Any]:
        return {"sobjects": [{"name": n} for n in CUSTOM]}

    def query(self, soql: str) -> dict[str, Any]:
        return {"totalSize": 3, "done": True, "records": []}

    def query_all_iter(self, soql: str) -> Iterator[dict[str, Any]]:
        match = re.search(r"\bFROM (\w+)", soql)
        assert match is not None
        if re.search(r"\b(SUM|AVG|MIN|MAX|COUNT|COUNT_DISTINCT)\(", soql):
            yield {"expr0": 1}
            return
        yield from self.records[match.group(1)]


def test_an_org_of_custom_objects_gets_valid_actions_in_plain_words() -> None:
    client = SalesforceClient(_CustomOrg(), allowed_objects={"Client__c", "Project__c"})
    profile = engine.read_org(client, ["Client__c", "Project__c"])
    assert profile.objects["Project__c"].parents == {"Client__r": ("Client__c", "Client__c")}
    assert "Client__r.Region__c" in profile.objects["Project__c"].paths
    assert engine.object_nouns(profile.objects["Project__c"]) == ["projects"]
    train, _, drops = engine.generate(
        client, count=200, seed=4, objects=["Client__c", "Project__c"]
    )
    assert len(train) == 200
    assert {action_of(r).action for r in train} == KINDS
    assert not [reason for reason in drops if reason.startswith(("rejected", "not in"))]
    for record in train:
        action = action_of(record)
        assert client.validate_action(action).model_dump() == action.model_dump(), record
        if record["family"] != "describe":
            assert "__" not in record["request"], record  # fields and objects said as words
    soql = " ".join(a.soql for a in map(action_of, train) if isinstance(a, QueryAction))
    assert "Client__r." in soql and "Status__c" in soql
    intents = engine.compose(profile, random.Random(1), 40)
    assert len(intents) == 40 and {i["family"] for i in intents} >= {"list", "get", "create"}
    assert all(set(i) == {"family", "entity", "action", "meaning"} for i in intents)
