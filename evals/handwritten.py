"""The specialists on the hand-written sets of ``evals/data``, with failures counted by class.

Usage::

    python -m evals.handwritten                  # every set, grounding on
    python -m evals.handwritten --set sql --baseline --limit 40
    python -m evals.handwritten --json out.json

Each set holds requests written by hand, in many styles, that no template produced and
that never enter training (see ``evals/data/README.md``):

* ``sql`` (``sql_handwritten.jsonl``): the SQL specialist on the demo database; a question
  counts as right when its query returns the gold query's rows (execution accuracy).
* ``salesforce`` (``salesforce_handwritten.jsonl``): the Salesforce specialist on a fresh
  offline sandbox org; right when its validated action equals the gold action (queries:
  or return the same records). Writes are validated and previewed, never performed.
* ``router`` (``router_handwritten.jsonl``): the router (rules, then the model) on the
  demo's database and org; right when the plan's specialists and dependencies are the
  gold's, or, for an out-of-scope request, when nothing is planned.
* ``router_fresh`` (``router_fresh.jsonl``): 30 more router requests, written after the
  router's rules were last changed and scored as the ``router`` set; the rules were never
  adjusted to them.
* ``out_of_scope`` (``out_of_scope.jsonl``): requests that must not be answered as if
  done; right when the router plans nothing, or when the specialist it reaches fails or
  declines instead of answering.

Failure classes counted: invented values (a string compared with a column that never holds
it), retyped Ids (an action's Id that the request does not hold), repairs that changed the
action kind, out-of-scope requests answered, wrong routes. ``--baseline`` turns the
runtime's grounding off (value grounding, Id copying, kind-keeping repairs, the
out-of-scope check), to show what each of them changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import runtime
from graph.context import Context, default_database_url
from runtime.registry import embedded_chat_model, load_modelfile
from specialists.base import Timer
from specialists.router import out_of_scope, plan_by_rules, plan_with_model
from specialists.salesforce import SalesforceSettings, answer_salesforce, ids_in
from specialists.scope import Cues, cues_of, standard_describes
from specialists.sql import DECLINED, SqlSettings, answer_sql, value_problem
from tools.salesforce import ActionRequest, SalesforceClient, SalesforceError
from tools.salesforce_limits import DEFAULT_OBJECTS
from tools.sql import SqlDatabase

DATA = Path(__file__).resolve().parent / "data"
SETS = ("sql", "salesforce", "router", "router_fresh", "out_of_scope", "clinic")
FILES = {
    "sql": "sql_handwritten.jsonl",
    "clinic": "clinic_handwritten.jsonl",
    "salesforce": "salesforce_handwritten.jsonl",
    "router": "router_handwritten.jsonl",
    "router_fresh": "router_fresh.jsonl",
    "out_of_scope": "out_of_scope.jsonl",
}


def load(name: str) -> list[dict[str, Any]]:
    """The items of one hand-written set."""
    path = DATA / FILES[name]
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Resources:
    """The models, the database and the cues one evaluation run shares."""

    def __init__(
        self,
        context: Context,
        client: SalesforceClient | None,
        *,
        sql_adapter: Path | None = None,
    ) -> None:
        self.context = context
        self.sql_adapter = sql_adapter
        self.database = SqlDatabase.open(context.database_url)
        self.client = client
        describes = (
            {name: client.describe(name) for name in sorted(DEFAULT_OBJECTS)}
            if client is not None
            else standard_describes(DEFAULT_OBJECTS)
        )
        self.cues: Cues = cues_of(self.database, describes)

    def model(self, name: str) -> Any:
        """The runtime's chat model for ``name`` (cached by the runtime).

        With ``sql_adapter``, the SQL model is the embedded base with that adapter instead
        of the one its Modelfile names (another database's adapter).
        """
        if name == "sql" and self.sql_adapter is not None:
            modelfile = load_modelfile(name)
            base = modelfile.from_path()
            assert base is not None, "the SQL Modelfile's FROM is not a GGUF file"
            return embedded_chat_model(name, modelfile, weights=(base, self.sql_adapter))
        return runtime.get_chat_model(name, **self.context.model_settings())

    @staticmethod
    def system(name: str) -> str:
        """The specialist's SYSTEM text from its Modelfile."""
        return runtime.system_prompt(name) or ""


def _norm(value: Any) -> Any:
    if isinstance(value, (float, Decimal)):
        return round(float(value), 2)
    return value


def same_rows(got: list[list[Any]], gold: list[list[Any]]) -> bool:
    """Whether two results hold the same rows (order ignored, numbers to two decimals)."""
    return sorted(repr([_norm(v) for v in row]) for row in got) == sorted(
        repr([_norm(v) for v in row]) for row in gold
    )


def _p50(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


# ---------------------------------------------------------------------------------- SQL


def eval_sql(
    items: list[dict[str, Any]],
    res: Resources,
    *,
    ground: bool,
    progress: Callable[[str], None],
    votes: int = 1,
    sampled_repairs: bool | None = None,
) -> dict[str, Any]:
    """Run the SQL specialist on each question; score by the rows it returns."""
    database = res.database
    model = res.model("sql")
    settings = SqlSettings(
        dialect=res.context.sql_dialect,
        decoding=res.context.sql_decoding,
        ground_values=ground,
        votes=votes,
        sampled_repairs=sampled_repairs,
        max_repairs=res.context.max_repairs,
        row_limit=2000,
        system=res.system("sql"),
    )
    rows: list[dict[str, Any]] = []
    for number, item in enumerate(items, start=1):
        gold = database.execute(database.validate(item["gold"]), row_limit=2000)
        started = time.perf_counter()
        answer = answer_sql(model, database, item["question"], settings, Timer())
        seconds = time.perf_counter() - started
        final = answer.attempts[-1]["query"] if answer.attempts else ""
        invented_any = any(
            value_problem(database, attempt["query"], "sqlite") for attempt in answer.attempts
        )
        ran = answer.result is not None
        declined = answer.stopped == DECLINED
        invented_final = ran and bool(value_problem(database, final, "sqlite"))
        right = ran and same_rows(answer.result.rows, gold.rows)  # type: ignore[union-attr]
        rows.append(
            {
                "id": item["id"],
                "style": item.get("style"),
                "shape": item.get("shape", []),
                "right": right,
                "ran": ran,
                "declined": declined,
                "attempts": len(answer.attempts),
                "invented_value_tried": invented_any,
                "invented_value_answered": invented_final,
                "query": final,
                "seconds": seconds,
            }
        )
        progress(f"sql {number}/{len(items)} {'right' if right else 'wrong'}")
    return _summary(
        rows,
        {
            "declined (in scope)": sum(r["declined"] for r in rows),
            "no valid query": sum(not r["ran"] and not r["declined"] for r in rows),
            "invented value tried": sum(r["invented_value_tried"] for r in rows),
            "invented value answered": sum(r["invented_value_answered"] for r in rows),
            "wrong result": sum(r["ran"] and not r["right"] for r in rows),
            "first attempt rejected": sum(
                not r["declined"] and not (r["ran"] and r["attempts"] == 1) for r in rows
            ),
            "repaired to a valid query": sum(r["ran"] and r["attempts"] > 1 for r in rows),
            "repaired and right": sum(r["right"] and r["attempts"] > 1 for r in rows),
        },
    )


# --------------------------------------------------------------------------- Salesforce


def normalised_action(client: SalesforceClient, action: Any) -> dict[str, Any]:
    """``action`` as the org validates it, dumped, its SOQL in one lower-case line."""
    dumped: dict[str, Any] = client.validate_action(action).model_dump()
    if dumped.get("action") == "query":
        dumped["soql"] = " ".join(str(dumped["soql"]).split()).lower()
    return dumped


def eval_salesforce(
    items: list[dict[str, Any]],
    res: Resources,
    client: SalesforceClient,
    *,
    ground: bool,
    progress: Callable[[str], None],
    sampled_repairs: bool | None = None,
) -> dict[str, Any]:
    """Run the Salesforce specialist on each request; score by action and records."""
    model = res.model("salesforce")
    settings = SalesforceSettings(
        max_repairs=res.context.max_repairs,
        row_limit=2000,
        system=res.system("salesforce"),
        ground=ground,
        sampled_repairs=sampled_repairs,
        decoding=res.context.salesforce_decoding,
    )
    rows: list[dict[str, Any]] = []
    for number, item in enumerate(items, start=1):
        gold = ActionRequest.model_validate({"action": item["gold"]}).action
        started = time.perf_counter()
        answer = answer_salesforce(model, client, item["request"], settings, Timer())
        seconds = time.perf_counter() - started
        kinds = [_kind(attempt["query"]) for attempt in answer.attempts]
        retyped = any(_retyped(attempt["query"], item["request"]) for attempt in answer.attempts)
        exact = records = False
        if answer.action is not None:
            try:
                exact = normalised_action(client, answer.action) == normalised_action(client, gold)
                if gold.action == "query" and answer.action.action == "query":
                    got = client.run(answer.action, row_limit=2000).rows
                    want = client.run(gold, row_limit=2000).rows
                    records = sorted(map(repr, got)) == sorted(map(repr, want))
            except SalesforceError:
                pass
        rows.append(
            {
                "id": item["id"],
                "style": item.get("style"),
                "shape": [item["kind"]],
                "right": exact or records,
                "exact": exact,
                "ran": answer.action is not None,
                "attempts": len(answer.attempts),
                "repair_changed_action": len({k for k in kinds if k}) > 1,
                "retyped_id": retyped,
                "action": answer.attempts[-1]["query"] if answer.attempts else "",
                "seconds": seconds,
            }
        )
        progress(f"salesforce {number}/{len(items)} {'right' if rows[-1]['right'] else 'wrong'}")
    return _summary(
        rows,
        {
            "no valid action": sum(not r["ran"] for r in rows),
            "retyped Id": sum(r["retyped_id"] for r in rows),
            "repair changed the action": sum(r["repair_changed_action"] for r in rows),
            "wrong action": sum(r["ran"] and not r["right"] for r in rows),
        },
        extra={"exact match": _share(sum(r["exact"] for r in rows), len(rows))},
    )


def _kind(shown: str) -> str:
    try:
        data = json.loads(shown)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("action"), dict):
        data = data["action"]
    return str(data.get("action", "")) if isinstance(data, dict) else ""


def _retyped(shown: str, request: str) -> bool:
    try:
        data = json.loads(shown)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    written = [data.get("record_id")] + [
        value
        for name, value in (data.get("values") or {}).items()
        if isinstance(name, str) and name.endswith("Id")
    ]
    held = ids_in(request)
    return any(isinstance(i, str) and len(i) in (15, 18) and i not in held for i in written)


# ------------------------------------------------------------------------------ router


def plan_of(request: str, res: Resources, *, ground: bool) -> list[tuple[str, int | None]]:
    """The plan the router node makes for ``request``: ``[]`` when it plans nothing."""
    cues = res.cues
    planned = plan_by_rules(request, cues)
    if planned is None:
        if ground and out_of_scope(request, cues):
            return []
        model = res.model("router")
        tasks, _ = plan_with_model(model, request, system=res.system("router"), timer=Timer())
        planned = tasks or []
    return [(task["specialist"], task["depends_on"]) for task in planned]


def eval_router(
    items: list[dict[str, Any]], res: Resources, *, ground: bool, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Plan each request; score the specialists and dependencies against the gold plan."""
    rows: list[dict[str, Any]] = []
    for number, item in enumerate(items, start=1):
        started = time.perf_counter()
        plan = plan_of(item["request"], res, ground=ground)
        seconds = time.perf_counter() - started
        gold = [(task["specialist"], task["depends_on"]) for task in item["tasks"]]
        rows.append(
            {
                "id": item["id"],
                "style": item.get("style"),
                "shape": [item["kind"]],
                "right": plan == gold,
                "ran": True,
                "out_of_scope_answered": not gold and bool(plan),
                "in_scope_refused": bool(gold) and not plan,
                "plan": plan,
                "seconds": seconds,
            }
        )
        progress(f"router {number}/{len(items)} {'right' if rows[-1]['right'] else 'wrong'}")
    return _summary(
        rows,
        {
            "wrong route": sum(not r["right"] and not r["out_of_scope_answered"] for r in rows),
            "out-of-scope answered": sum(r["out_of_scope_answered"] for r in rows),
            "in-scope refused": sum(r["in_scope_refused"] for r in rows),
        },
    )


def eval_out_of_scope(
    items: list[dict[str, Any]],
    res: Resources,
    client: SalesforceClient,
    *,
    ground: bool,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Each request must end without an answer: no plan, or a specialist that fails."""
    database = res.database
    sql_settings = SqlSettings(ground_values=ground, system=res.system("sql"))
    sf_settings = SalesforceSettings(ground=ground, system=res.system("salesforce"))
    rows: list[dict[str, Any]] = []
    for number, item in enumerate(items, start=1):
        started = time.perf_counter()
        plan = plan_of(item["request"], res, ground=ground)
        answered = []
        for specialist, _ in plan:
            if specialist == "sql":
                sql = answer_sql(
                    res.model("sql"),
                    database,
                    item["request"],
                    sql_settings,
                    Timer(),
                )
                answered.append(sql.result is not None)
            elif specialist == "salesforce":
                sf = answer_salesforce(
                    res.model("salesforce"),
                    client,
                    item["request"],
                    sf_settings,
                    Timer(),
                )
                answered.append(sf.action is not None)
            else:
                answered.append(True)
        rows.append(
            {
                "id": item["id"],
                "style": item.get("style"),
                "shape": [item["expect"]],
                "right": not any(answered),
                "ran": True,
                "refused_by_router": not plan,
                "answered": any(answered),
                "plan": plan,
                "seconds": time.perf_counter() - started,
            }
        )
        progress(f"out_of_scope {number}/{len(items)} {'right' if rows[-1]['right'] else 'wrong'}")
    return _summary(
        rows,
        {"out-of-scope answered": sum(r["answered"] for r in rows)},
        extra={"refused by the router": sum(r["refused_by_router"] for r in rows)},
    )


# ----------------------------------------------------------------------------- report


def _share(count: int, total: int) -> float:
    return round(100.0 * count / total, 1) if total else 0.0


def _summary(
    rows: list[dict[str, Any]], failures: dict[str, int], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    by_shape: dict[str, list[bool]] = {}
    by_style: dict[str, list[bool]] = {}
    for row in rows:
        for shape in row.get("shape") or ["-"]:
            by_shape.setdefault(shape, []).append(row["right"])
        by_style.setdefault(str(row.get("style")), []).append(row["right"])
    return {
        "items": len(rows),
        "accuracy": _share(sum(r["right"] for r in rows), len(rows)),
        "failures": failures,
        "p50_s": round(_p50([r["seconds"] for r in rows]), 3),
        "by_shape": {k: _share(sum(v), len(v)) for k, v in sorted(by_shape.items())},
        "by_style": {k: _share(sum(v), len(v)) for k, v in sorted(by_style.items())},
        **(extra or {}),
        "rows": rows,
    }


def print_report(results: dict[str, dict[str, Any]], label: str) -> None:
    """The figures of each set, as plain lines."""
    print(f"hand-written sets ({label})")
    for name, summary in results.items():
        extra = {
            k: v
            for k, v in summary.items()
            if k not in ("items", "accuracy", "failures", "p50_s", "by_shape", "by_style", "rows")
        }
        print(
            f"  {name}: {summary['accuracy']}% right of {summary['items']}, "
            f"p50 {summary['p50_s']} s" + "".join(f", {k} {v}" for k, v in extra.items())
        )
        for failure, count in summary["failures"].items():
            print(f"      {failure}: {count}")
        shapes = ", ".join(f"{k} {v}%" for k, v in summary["by_shape"].items())
        print(f"      by shape: {shapes}")


def clinic_resources(
    stack: ExitStack, context: Context, sql_adapter: Path | None = None
) -> Resources:
    """Resources on the veterinary-clinic database (:mod:`evals.clinic_db`).

    The database is built in a temporary directory: the second schema, for the ``clinic`` set.
    """
    from evals.clinic_db import build

    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="slm-clinic-")))
    path = build(tmp / "clinic.sqlite")
    return Resources(replace(context, database_url=str(path)), None, sql_adapter=sql_adapter)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sets and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.handwritten",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--set", choices=SETS, action="append", help="a set to run (repeatable)")
    parser.add_argument("--limit", type=int, default=0, help="the first N items of each set")
    parser.add_argument(
        "--baseline", action="store_true", help="grounding off, to compare with it on"
    )
    parser.add_argument(
        "--votes", type=int, default=1, help="SQL candidates per question (1: no voting)"
    )
    parser.add_argument(
        "--repairs",
        choices=["greedy", "sampled"],
        help="decode repairs so instead of each specialist's own policy "
        "(SQL: sampled, Salesforce: greedy)",
    )
    parser.add_argument(
        "--decoding",
        choices=["grammar", "free"],
        help="SQL and Salesforce decoding (default: the context's; free is what an Ollama "
        "server does: SQL unconstrained, Salesforce under the action's JSON schema)",
    )
    parser.add_argument(
        "--sql-adapter",
        type=Path,
        help="the SQL adapter for the sql and clinic sets (e.g. one trained on the clinic "
        "database with `slm-dispatch train sql --database`; default: the SQL Modelfile's)",
    )
    parser.add_argument("--json", type=Path, help="also write every item's outcome here")
    args = parser.parse_args(argv)
    if args.sql_adapter is not None and not args.sql_adapter.is_file():
        parser.error(f"--sql-adapter {args.sql_adapter}: no such file")
    sampled = None if args.repairs is None else args.repairs == "sampled"
    chosen = args.set or list(SETS)
    database = default_database_url()
    if not Path(database).exists():
        print(f"demo database {database} missing: run `slm-dispatch setup`", file=sys.stderr)
        return 2
    context = replace(Context(backend="embedded"), database_url=database)
    if args.decoding:
        context = replace(context, sql_decoding=args.decoding, salesforce_decoding=args.decoding)
    ground = not args.baseline

    def progress(line: str) -> None:
        print(f"\r· {line:<40}", end="", file=sys.stderr, flush=True)

    results: dict[str, dict[str, Any]] = {}
    with ExitStack() as stack:
        client: SalesforceClient | None = None
        if {"salesforce", "out_of_scope"} & set(chosen):
            from tools.salesforce_sandbox import sandbox_client, start_sandbox

            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            server = stack.enter_context(start_sandbox(tmp))
            client = sandbox_client(server)
        res = Resources(context, client, sql_adapter=args.sql_adapter)
        for name in chosen:
            items = load(name)[: args.limit or None]
            if name in ("sql", "clinic"):
                results[name] = eval_sql(
                    items,
                    res if name == "sql" else clinic_resources(stack, context, args.sql_adapter),
                    ground=ground,
                    progress=progress,
                    votes=args.votes,
                    sampled_repairs=sampled,
                )
            elif name == "salesforce":
                assert client is not None
                results[name] = eval_salesforce(
                    items, res, client, ground=ground, progress=progress, sampled_repairs=sampled
                )
            elif name in ("router", "router_fresh"):
                results[name] = eval_router(items, res, ground=ground, progress=progress)
            else:
                assert client is not None
                results[name] = eval_out_of_scope(
                    items, res, client, ground=ground, progress=progress
                )
    print(file=sys.stderr)
    label = "grounding off" if args.baseline else "grounding on"
    label += f", {args.votes} SQL votes" if args.votes > 1 else ""
    label += f", {args.repairs} repairs" if args.repairs else ""
    print_report(results, label)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
