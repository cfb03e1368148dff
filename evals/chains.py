"""The chain benchmark: hand-written multi-step requests through the whole graph.

``python -m evals.chains`` runs every item of ``evals/data/chains_handwritten.jsonl``
through the dispatcher (embedded backend, SQLite checkpoints, the offline sandbox org, a
fresh org per chain; writes are approved through the API as a person would) and scores
each step against the gold of :mod:`evals.chain_gold`:

* a SQL step is right when it returns the gold's rows; a Salesforce read likewise; a
  write when it wrote the gold's object with the gold's fields and every value the chain
  had to carry (``mentions``); a summary when it ran;
* an item with ``stops_at`` is right when the steps before it are right and the chain
  stops there (that step and every later one not run, nothing written after it).

It prints the chain success rate, the per-step accuracy, wall time per chain, the
success of the ten-step chains as measured (not a product of per-step rates), and the
failures by cause. ``--json PATH`` writes every item's outcome.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from evals.chain_gold import GoldError, GoldStep, load, resolve
from evals.handwritten import normalised_action, same_rows
from graph.api import Dispatcher, RunResult
from graph.context import Context
from graph.state import TaskResult
from specialists.bindings import missing_values
from specialists.salesforce import written_values
from tools.salesforce import ActionRequest, SalesforceClient, SalesforceError
from tools.sql import SqlDatabase

WRITES = ("create", "update", "delete")
MAX_APPROVALS = 10
"""Most writes approved in one chain (a chain of ten steps writes at most ten times)."""


def _read_rows(result: TaskResult) -> list[list[Any]]:
    return [list(row) for row in result["rows"]]


def step_right(gold: GoldStep, got: TaskResult | None, client: SalesforceClient) -> str | None:
    """None when ``got`` matches ``gold``, else why not (a failure class)."""
    if got is None:
        return "not run"
    if got["specialist"] != gold.specialist:
        return "wrong specialist"
    if got["status"] == "skipped":
        return "stopped wrongly"
    if got["status"] != "ok":
        return "no valid output"
    if gold.specialist == "summarize":
        return None
    if gold.specialist == "sql":
        return None if same_rows(_read_rows(got), [list(r) for r in gold.rows]) else "wrong result"
    action = got["action"] or {}
    wanted = gold.gold if isinstance(gold.gold, dict) else {}
    if wanted.get("action") in WRITES:
        if action.get("action") != wanted.get("action"):
            return "wrong action"
        if action.get("sobject", "").lower() != str(wanted.get("sobject", "")).lower():
            return "wrong action"
        if wanted.get("record_id") and action.get("record_id") != wanted.get("record_id"):
            return "wrong record"
        for name, value in (wanted.get("values") or {}).items():
            if (action.get("values") or {}).get(name) != value:
                return "wrong field value"
        parsed = ActionRequest.model_validate({"action": action}).action
        if missing_values(gold.mentions, written_values(parsed)):
            return "value not carried"
        return None
    if action.get("action") != wanted.get("action"):
        return "wrong action"
    if wanted.get("action") == "query":
        got_rows = sorted(map(repr, _read_rows(got)))
        return None if got_rows == sorted(map(repr, gold.rows)) else "wrong result"
    try:
        requested = ActionRequest.model_validate({"action": action}).action
        expected = ActionRequest.model_validate({"action": wanted}).action
        same = normalised_action(client, requested) == normalised_action(client, expected)
    except SalesforceError:
        same = False
    return None if same else "wrong result"


def score_item(
    item: Mapping[str, Any], golds: list[GoldStep], run: RunResult, client: SalesforceClient
) -> dict[str, Any]:
    """Score one chain: each step's verdict, whether the chain is right, and the first cause."""
    steps = item["steps"]
    stops_at = item.get("stops_at")
    by_id = {result["id"]: result for result in run.results}
    plan_shape = [task["specialist"] for task in run.plan]
    verdicts: list[str | None] = []
    cause: str | None = None
    if plan_shape != [step["specialist"] for step in steps]:
        cause = "wrong plan"
    scored = len(steps) if stops_at is None else stops_at - 1
    for index in range(scored):
        got = by_id.get(index + 1) if cause != "wrong plan" else None
        verdict = step_right(golds[index], got, client) if got is not None else "wrong plan"
        verdicts.append(verdict)
        if verdict is not None and cause is None:
            cause = f"step {index + 1}: {verdict}"
    if stops_at is not None and cause is None:
        later = [by_id.get(position) for position in range(stops_at, len(steps) + 1)]
        stopped = all(result is None or result["status"] != "ok" for result in later)
        first = later[0]
        if first is None or first["status"] != "skipped" or not stopped:
            cause = "did not stop"
    return {
        "id": item["id"],
        "steps": len(steps),
        "direction": item.get("direction"),
        "writes": item.get("writes", False),
        "stops_at": stops_at,
        "right": cause is None,
        "cause": cause,
        "step_verdicts": verdicts,
        "plan": [
            {
                "specialist": task["specialist"],
                "depends_on": task["depends_on"],
                "inputs": task.get("inputs", []),
            }
            for task in run.plan
        ],
        "statuses": [by_id[t["id"]]["status"] if t["id"] in by_id else None for t in run.plan],
        "route": run.route["path"] if run.route else None,
    }


def run_chain(dispatcher: Dispatcher, request: str) -> tuple[RunResult, int]:
    """Run ``request`` to its end, approving each write it pauses for; the approvals made."""
    result = dispatcher.ask(request)
    approvals = 0
    while result.pending and approvals < MAX_APPROVALS:
        result = dispatcher.approve(result.thread_id, by="evals.chains")
        approvals += 1
    return result, approvals


def evaluate(
    items: list[dict[str, Any]],
    context: Context,
    database: SqlDatabase,
    sandbox: Any,
    client: SalesforceClient,
    dispatcher: Dispatcher,
    *,
    progress: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Run and score every item; the org is reset before each chain."""
    outcomes = []
    for number, item in enumerate(items, start=1):
        sandbox.reset()
        try:
            golds = resolve(item, database, client)
        except GoldError as exc:
            raise SystemExit(f"gold of {item['id']} cannot be resolved: {exc}") from exc
        started = time.perf_counter()
        run, approvals = run_chain(dispatcher, item["request"])
        seconds = time.perf_counter() - started
        outcome = score_item(item, golds, run, client)
        outcome["seconds"] = round(seconds, 3)
        outcome["approvals"] = approvals
        outcomes.append(outcome)
        mark = "right" if outcome["right"] else f"wrong ({outcome['cause']})"
        progress(f"chain {number}/{len(items)} {item['id']} ({len(item['steps'])} steps): {mark}")
    return outcomes


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {100 * part / whole:.1f}%" if whole else "0/0"


def summary(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures the report prints."""
    verdicts = [v for o in outcomes for v in o["step_verdicts"]]
    ten = [o for o in outcomes if o["steps"] >= 10]
    seconds = sorted(o["seconds"] for o in outcomes)
    by_length: dict[str, list[bool]] = {}
    for outcome in outcomes:
        steps = outcome["steps"]
        band = "2" if steps == 2 else "3-4" if steps <= 4 else "5-7" if steps <= 7 else "8-10"
        by_length.setdefault(band, []).append(outcome["right"])
    return {
        "chains": len(outcomes),
        "chain_success": sum(o["right"] for o in outcomes),
        "steps_scored": len(verdicts),
        "steps_right": sum(v is None for v in verdicts),
        "plans_right": sum(o["cause"] != "wrong plan" for o in outcomes),
        "by_route": {
            route: [
                sum(o["cause"] != "wrong plan" for o in outcomes if o["route"] == route),
                sum(o["route"] == route for o in outcomes),
            ]
            for route in sorted({str(o["route"]) for o in outcomes})
        },
        "ten_step": len(ten),
        "ten_step_success": sum(o["right"] for o in ten),
        "p50_s": seconds[len(seconds) // 2] if seconds else 0.0,
        "max_s": seconds[-1] if seconds else 0.0,
        "by_length": {k: [sum(v), len(v)] for k, v in sorted(by_length.items())},
        "by_direction": {
            direction: [
                sum(o["right"] for o in outcomes if o["direction"] == direction),
                sum(o["direction"] == direction for o in outcomes),
            ]
            for direction in sorted({str(o["direction"]) for o in outcomes})
        },
        "causes": dict(
            Counter(
                (o["cause"] or "").split(": ")[-1] for o in outcomes if o["cause"] is not None
            ).most_common()
        ),
        "stops": [
            sum(o["right"] for o in outcomes if o["stops_at"] is not None),
            sum(o["stops_at"] is not None for o in outcomes),
        ],
        "writes": [
            sum(o["right"] for o in outcomes if o["writes"]),
            sum(bool(o["writes"]) for o in outcomes),
        ],
    }


def print_report(figures: dict[str, Any]) -> None:
    """Print the benchmark's figures."""
    print(f"chain success: {_share(figures['chain_success'], figures['chains'])}")
    print(f"per-step accuracy: {_share(figures['steps_right'], figures['steps_scored'])}")
    print(f"ten-step chains (measured): {_share(figures['ten_step_success'], figures['ten_step'])}")
    print(f"plans with the gold's steps: {_share(figures['plans_right'], figures['chains'])}")
    for route, (right, total) in figures["by_route"].items():
        print(f"  planned by the {route}: {_share(right, total)}")
    print(f"wall time per chain: p50 {figures['p50_s']:.2f} s, max {figures['max_s']:.2f} s")
    for band, (right, total) in figures["by_length"].items():
        print(f"  {band} steps: {_share(right, total)}")
    for direction, (right, total) in figures["by_direction"].items():
        print(f"  {direction}: {_share(right, total)}")
    print(f"  chains that must stop: {_share(*figures['stops'])}")
    print(f"  chains with writes: {_share(*figures['writes'])}")
    print("failures by cause:")
    for cause, count in figures["causes"].items():
        print(f"  {cause}: {count}")


def main(argv: list[str] | None = None) -> int:
    """Run the chain benchmark; exit 0 when it ran (the figures are the result)."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.chains",
        description="Run the hand-written multi-step requests through the whole graph "
        "(embedded models, offline sandbox org) and print chain success, per-step "
        "accuracy, wall time per chain and the ten-step success.",
    )
    parser.add_argument("--limit", type=int, default=0, help="run only the first N chains")
    parser.add_argument("--ids", default="", help="comma-separated item ids to run")
    parser.add_argument("--json", type=Path, help="write every chain's outcome to this file")
    parser.add_argument(
        "--no-rules",
        action="store_true",
        help="plan with the router model only (the rules fast path off)",
    )
    args = parser.parse_args(argv)
    if args.limit < 0:
        parser.error("--limit must be 0 or more")
    items = load()
    if args.ids:
        wanted = {part.strip() for part in args.ids.split(",") if part.strip()}
        unknown = wanted - {item["id"] for item in items}
        if unknown:
            parser.error(f"no chain with id {', '.join(sorted(unknown))}")
        items = [item for item in items if item["id"] in wanted]
    if args.limit:
        items = items[: args.limit]

    from tools.salesforce_sandbox import sandbox_client, start_sandbox

    with tempfile.TemporaryDirectory(prefix="slm-chains-") as tmp:
        with start_sandbox(Path(tmp) / "org") as sandbox:
            client = sandbox_client(sandbox)
            context = Context(
                backend="embedded", salesforce_client=client, router_rules=not args.no_rules
            )
            database = SqlDatabase.open(context.database_url)
            checkpoints = str(Path(tmp) / "checkpoints.sqlite")
            with Dispatcher.open(checkpoints, data_dir=Path(tmp), context=context) as dispatcher:
                outcomes = evaluate(
                    items,
                    context,
                    database,
                    sandbox,
                    client,
                    dispatcher,
                    progress=lambda text: print(text, file=sys.stderr, flush=True),
                )
    figures = summary(outcomes)
    print_report(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": figures, "chains": outcomes}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
