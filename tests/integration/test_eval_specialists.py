"""`slm-dispatch eval`: the scorers against the demo database and the sandbox org, and a
small run on the real embedded model that writes the report, the charts and results.json."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evals.eval_report import render_report
from evals.eval_run import EvalSetupError, chain_outcomes, draw_chains, run_eval
from evals.eval_tasks import CONFIGS
from evals.scoring import (
    actions_match,
    normalise_soql,
    same_rows,
    score_router,
    score_salesforce,
    score_sql,
    sql_is_ordered,
)
from evals.specialists import add_eval_command
from finetune.datasets import SANDBOX_ANCHOR
from tools.salesforce import ActionRequest, QueryAction, SalesforceClient
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox
from tools.sql import SqlDatabase

pytestmark = pytest.mark.integration

SQL_ITEMS = [
    {
        "id": "sql-t-1",
        "specialist": "sql",
        "family": "count_all",
        "template": "t0",
        "entity": "-",
        "request": "How many customers are there?",
        "target": "SELECT COUNT(*) FROM customers",
    },
    {
        "id": "sql-t-2",
        "specialist": "sql",
        "family": "group_count",
        "template": "t0",
        "entity": "-",
        "request": "How many customers are in each segment?",
        "target": "SELECT segment, COUNT(*) FROM customers GROUP BY segment",
    },
    {
        "id": "sql-t-3",
        "specialist": "sql",
        "family": "filter",
        "template": "t0",
        "entity": "category=Hardware",
        "request": "List the names of the products in the Hardware category.",
        "target": "SELECT name FROM products WHERE category = 'Hardware'",
    },
    {
        "id": "sql-t-4",
        "specialist": "sql",
        "family": "top",
        "template": "t0",
        "entity": "-",
        "request": "Which three products have the highest unit price?",
        "target": "SELECT name FROM products ORDER BY unit_price DESC LIMIT 3",
    },
]

ROUTER_GOLD = json.dumps(
    {
        "tasks": [
            {
                "specialist": "sql",
                "instruction": "How many orders were shipped?",
                "depends_on": None,
            },
            {"specialist": "summarize", "instruction": "Summarise the result.", "depends_on": 1},
        ]
    }
)
ROUTER_REQUEST = "How many orders were shipped? Then summarise the result."

SF_GOLD = json.dumps(
    {"action": {"action": "query", "soql": "SELECT Name FROM Account WHERE Industry = 'Retail'"}}
)


@pytest.fixture(scope="module")
def database(demo_db: Path) -> Iterator[SqlDatabase]:
    opened = SqlDatabase.open(str(demo_db))
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), anchor=SANDBOX_ANCHOR) as server:
        yield server


@pytest.fixture(scope="module")
def client(sandbox: SandboxServer) -> SalesforceClient:
    return sandbox_client(sandbox)


@pytest.fixture
def heldout_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    (directory / "sql").mkdir(parents=True)
    lines = "".join(json.dumps(item) + "\n" for item in SQL_ITEMS)
    (directory / "sql" / "heldout.jsonl").write_text(lines, encoding="utf-8")
    return directory


# --- scorers -------------------------------------------------------------------------------


@pytest.mark.parametrize("item", SQL_ITEMS, ids=lambda item: item["id"])
def test_gold_sql_scores_correct(item: dict[str, Any], database: SqlDatabase) -> None:
    score = score_sql(item["target"], item["target"], database)
    assert (score.syntactic, score.semantic, score.correct) == (True, True, True)


def test_fenced_gold_with_semicolon_scores_correct(database: SqlDatabase) -> None:
    score = score_sql(
        "```sql\nSELECT COUNT(*) FROM customers;\n```", SQL_ITEMS[0]["target"], database
    )
    assert score.correct, score


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [
        ("SELECT COUNT(*) FROM products", "SELECT COUNT(*) FROM customers"),
        ("SELECT name FROM products WHERE category = 'Software'", SQL_ITEMS[2]["target"]),
        (
            "SELECT segment, COUNT(*) FROM customers GROUP BY segment LIMIT 2",
            SQL_ITEMS[1]["target"],
        ),
        # same rows, another order: wrong only because the gold orders its rows
        ("SELECT name FROM products ORDER BY unit_price ASC LIMIT 3", SQL_ITEMS[3]["target"]),
    ],
)
def test_different_valid_query_scores_incorrect(
    prediction: str, gold: str, database: SqlDatabase
) -> None:
    score = score_sql(prediction, gold, database)
    assert (score.syntactic, score.semantic, score.correct) == (True, True, False)


def test_row_order_ignored_without_order_by(database: SqlDatabase) -> None:
    reordered = "SELECT segment, COUNT(*) AS n FROM customers GROUP BY segment ORDER BY n DESC"
    assert score_sql(reordered, SQL_ITEMS[1]["target"], database).correct


def test_unparsable_sql_is_syntactically_invalid(database: SqlDatabase) -> None:
    score = score_sql("The answer is the number of customers.", SQL_ITEMS[0]["target"], database)
    assert (score.syntactic, score.semantic, score.correct) == (False, False, False)


@pytest.mark.parametrize(
    "prediction",
    ["SELECT COUNT(*) FROM clients", "SELECT nickname FROM customers", "DELETE FROM customers"],
)
def test_query_the_validator_rejects_is_semantically_invalid(
    prediction: str, database: SqlDatabase
) -> None:
    score = score_sql(prediction, SQL_ITEMS[0]["target"], database)
    assert not score.semantic and not score.correct
    assert score.error


def test_same_rows_rounds_numbers_and_ignores_order_unless_asked() -> None:
    assert same_rows([[1, 2.004]], [[1.0, 2.0]], ordered=False)
    assert not same_rows([[1, 2.01]], [[1, 2.0]], ordered=False)
    assert same_rows([["a"], ["b"]], [["b"], ["a"]], ordered=False)
    assert not same_rows([["a"], ["b"]], [["b"], ["a"]], ordered=True)
    assert not same_rows([["a"], ["a"]], [["a"]], ordered=False)
    assert sql_is_ordered("SELECT a FROM t ORDER BY a")
    assert not sql_is_ordered("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3)")


def test_router_scores() -> None:
    gold = score_router(ROUTER_GOLD, ROUTER_GOLD, ROUTER_REQUEST)
    assert (gold.syntactic, gold.semantic, gold.routing, gold.correct) == (True, True, True, True)

    loose = json.loads(ROUTER_GOLD)
    loose["tasks"][0]["instruction"] = "  how many ORDERS were shipped  "
    fenced = "```json\n" + json.dumps(loose) + "\n```"
    assert score_router(fenced, ROUTER_GOLD, ROUTER_REQUEST).correct

    reworded = json.loads(ROUTER_GOLD)
    reworded["tasks"][0]["instruction"] = "Count the shipped orders."
    score = score_router(json.dumps(reworded), ROUTER_GOLD, ROUTER_REQUEST)
    assert (score.routing, score.correct) == (True, False)

    rerouted = json.loads(ROUTER_GOLD)
    rerouted["tasks"][0]["specialist"] = "salesforce"
    score = score_router(json.dumps(rerouted), ROUTER_GOLD, ROUTER_REQUEST)
    assert (score.semantic, score.routing, score.correct) == (True, False, False)

    empty = score_router('{"tasks": []}', ROUTER_GOLD, ROUTER_REQUEST)
    assert (empty.syntactic, empty.semantic, empty.correct) == (True, False, False)

    broken = score_router('{"tasks": [{"specialist": "sql"', ROUTER_GOLD, ROUTER_REQUEST)
    assert (broken.syntactic, broken.semantic) == (False, False)

    unknown = score_router(
        '{"tasks": [{"specialist": "email", "instruction": "x"}]}', ROUTER_GOLD, ROUTER_REQUEST
    )
    assert not unknown.syntactic


def test_soql_normalisation_keeps_literals() -> None:
    assert normalise_soql("select  Name\nFROM Account WHERE Industry='Retail' ;") == (
        "select name from account where industry='Retail'"
    )
    assert normalise_soql("SELECT Name FROM Account WHERE Industry = 'retail'") != (
        normalise_soql("SELECT Name FROM Account WHERE Industry = 'Retail'")
    )


def test_actions_match_compares_kind_object_and_record_id() -> None:
    def action(payload: dict[str, Any]) -> Any:
        return ActionRequest.model_validate({"action": payload}).action

    describe = action({"action": "describe", "sobject": "Account"})
    assert actions_match(describe, action({"action": "describe", "sobject": "account"}))
    assert not actions_match(describe, action({"action": "describe", "sobject": "Lead"}))
    get = {"action": "get", "sobject": "Account", "record_id": "001000000000001", "fields": []}
    same_id_18 = {**get, "record_id": "001000000000001AAA"}
    assert actions_match(action(get), action(same_id_18))
    assert not actions_match(action(get), action({**get, "record_id": "001000000000002"}))
    assert not actions_match(action(get), describe)


def test_salesforce_scores(client: SalesforceClient) -> None:
    gold = score_salesforce(SF_GOLD, SF_GOLD, client)
    assert (gold.syntactic, gold.semantic, gold.correct, gold.result_match) == (
        True,
        True,
        True,
        True,
    )

    reordered_fields = json.dumps(
        {"action": {"action": "query", "soql": "select Name from Account where Industry='Retail'"}}
    )
    assert score_salesforce(reordered_fields, SF_GOLD, client).correct

    other = json.dumps(
        {
            "action": {
                "action": "query",
                "soql": "SELECT Name FROM Account WHERE Industry = 'Energy'",
            }
        }
    )
    score = score_salesforce(other, SF_GOLD, client)
    assert (score.semantic, score.correct, score.result_match) == (True, False, False)

    unknown_field = json.dumps(
        {"action": {"action": "query", "soql": "SELECT Nickname FROM Account"}}
    )
    score = score_salesforce(unknown_field, SF_GOLD, client)
    assert (score.syntactic, score.semantic, score.correct) == (True, False, False)

    not_json = score_salesforce("SELECT Name FROM Account", SF_GOLD, client)
    assert (not_json.syntactic, not_json.semantic) == (False, False)


def test_salesforce_writes_are_compared_and_never_run(client: SalesforceClient) -> None:
    record = client.run(QueryAction(soql="SELECT Id, Status FROM Lead LIMIT 1")).rows[0]
    lead, status = record[0], record[1]
    new_status = (
        "Working - Contacted" if status != "Working - Contacted" else "Open - Not Contacted"
    )
    update = {"sobject": "Lead", "record_id": lead, "values": {"Status": new_status}}
    gold = json.dumps({"action": {"action": "update", **update}})
    same = score_salesforce(gold, gold, client)
    assert (same.semantic, same.correct, same.result_match) == (True, True, True)
    other = json.dumps({"action": {"action": "update", **update, "values": {"Rating": "Hot"}}})
    assert score_salesforce(other, gold, client).correct is False
    read = json.dumps({"action": {"action": "query", "soql": "SELECT Status FROM Lead"}})
    score = score_salesforce(read, gold, client)
    assert (score.semantic, score.correct, score.result_match) == (True, False, False)
    delete = json.dumps({"action": {"action": "delete", "sobject": "Lead", "record_id": lead}})
    assert score_salesforce(delete, delete, client).correct
    # nothing ran: the lead is still there, with its status unchanged
    after = client.run(QueryAction(soql=f"SELECT Status FROM Lead WHERE Id = '{lead}'")).rows
    assert after == [[status]]


def test_chains_are_seeded_and_need_every_step() -> None:
    pool = {"sql": ["a", "b"], "router": ["c"]}
    first = draw_chains(pool, chains=20, steps=10, seed=7)
    assert first == draw_chains(pool, chains=20, steps=10, seed=7)
    assert first != draw_chains(pool, chains=20, steps=10, seed=8)
    assert all(len(chain) == 10 for chain in first) and len(first) == 20
    everything = {("sql", "a"): True, ("sql", "b"): True, ("router", "c"): True}
    assert all(chain_outcomes(first, everything))
    one_wrong = {**everything, ("router", "c"): False}
    expected = [("router", "c") not in chain for chain in first]
    assert chain_outcomes(first, one_wrong) == expected
    assert not all(expected)


# --- command line --------------------------------------------------------------------------


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="slm-dispatch")
    add_eval_command(parser.add_subparsers(dest="command"))
    return parser.parse_args(["eval", *argv])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--specialist", "summarize"], "measured by `python -m evals.summaries`"),
        (["--specialist", "sql", "--limit", "0"], "--limit"),
        (["--specialist", "sql", "--configs", "tuned"], "unknown configuration"),
        (["--specialist", "sql", "--heldout-dir", "/nonexistent/eval-data"], "heldout"),
    ],
)
def test_usage_mistakes_exit_2_without_traceback(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _parse([*argv, "--out", str(tmp_path / "out")])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("slm-dispatch: error: ") and message in err
    assert "Traceback" not in err


def test_run_eval_rejects_unknown_specialist(tmp_path: Path) -> None:
    with pytest.raises(EvalSetupError, match="unknown specialist"):
        run_eval(["crm"], 1, CONFIGS, tmp_path, 0, 0, progress=False)


# --- real model ----------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_small_sql_run_writes_a_consistent_report(
    base_model: None,
    demo_db: Path,
    heldout_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "eval"
    args = _parse(
        [
            "--specialist",
            "sql",
            "--limit",
            "3",
            "--chains",
            "5",
            "--seed",
            "3",
            "--out",
            str(out),
            "--heldout-dir",
            str(heldout_dir),
            "--adapters-dir",
            str(tmp_path / "no-adapters"),
        ]
    )
    args.data_dir = demo_db.parent
    assert args.func(args) == 0
    captured = capsys.readouterr()
    assert "sql · base-prompted/free" in captured.err
    assert "report:" in captured.out

    report = (out / "report.md").read_text(encoding="utf-8")
    for chart in ("sql-accuracy.png", "sql-validity.png", "sql-latency.png", "chains.png"):
        path = out / chart
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart
        assert f"({chart})" in report
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in report
    assert "missing: fine-tuned configs skipped" in report
    assert "| sql | 4 | 3 |" in report

    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    summary, items = saved["summary"], saved["items"]
    results = summary["results"]["sql"]
    assert results["fine-tuned/free"]["status"] == "skipped"
    assert results["fine-tuned/constrained"]["status"] == "skipped"
    for config in ("base-prompted/free", "base-prompted/constrained"):
        metrics = results[config]
        assert metrics["status"] == "ok" and metrics["n"] == 3
        mine = [item for item in items if item["config"] == config]
        assert len(mine) == 3
        assert {item["id"] for item in mine} <= {item["id"] for item in SQL_ITEMS}
        for key, field in (
            ("accuracy", "correct"),
            ("syntactic", "syntactic"),
            ("semantic", "semantic"),
        ):
            assert 0.0 <= metrics[key] <= 1.0
            assert metrics[key] == pytest.approx(sum(item[field] for item in mine) / 3)
        for item in mine:
            assert item["semantic"] <= item["syntactic"] and item["correct"] <= item["semantic"]
            assert item["seconds"] > 0
        assert metrics["latency_mean_s"] == pytest.approx(sum(item["seconds"] for item in mine) / 3)
        assert metrics["latency_p95_s"] >= metrics["latency_mean_s"] * 0.999
        assert metrics["tokens_per_s"] > 0
        assert f"| {config} | 3 |" in report

    chains = summary["chains"]
    base = chains["families"]["base-prompted"]
    assert "fine-tuned" not in chains["families"]
    assert base["status"] == "ok" and chains["n"] == 5
    assert 0.0 <= base["success_rate"] <= 1.0
    chosen = base["decodings"]["sql"]
    assert base["per_step_accuracy"] == pytest.approx(results[chosen]["accuracy"])
    correct = {item["id"]: item["correct"] for item in items if item["config"] == chosen}
    recomputed = [
        all(correct[step.split(":", 1)[1]] for step in chain["steps"])
        for chain in saved["chains"]["base-prompted"]
    ]
    assert base["successes"] == sum(recomputed)

    redrawn = render_report(summary, tmp_path / "again")
    assert redrawn.read_text(encoding="utf-8") == report


def test_unloadable_adapter_skips_fine_tuned_configs(
    base_model: None, demo_db: Path, heldout_dir: Path, tmp_path: Path
) -> None:
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    (adapters / "sql.gguf").write_bytes(b"not a gguf | file")
    out = tmp_path / "out"
    summary = run_eval(
        ["sql"],
        1,
        ["fine-tuned/free", "fine-tuned/constrained"],
        out,
        0,
        5,
        progress=False,
        data_dir=heldout_dir,
        database_path=demo_db,
        adapters_dir=adapters,
    )
    for config in ("fine-tuned/free", "fine-tuned/constrained"):
        entry = summary["results"]["sql"][config]
        assert entry["status"] == "skipped" and "GGUF" in entry["reason"]
    assert summary["chains"]["families"] == {}
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["items"] == []
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| fine-tuned/free | – | skipped: adapter file" in report
