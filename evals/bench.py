"""``make bench``: latency and overhead figures of the dispatcher on the embedded runtime.

Prints, for a fixed set of requests:

* router latency on the rules path (mean / p50 / p95 over many calls) and on the
  model path (the router model planning the same kind of requests);
* each specialist step's latency, split into model and tool time;
* decode speed (generated tokens per second of llama.cpp time);
* the graph's overhead: total wall time against the time spent inside llama.cpp
  and inside the tools, for the same runs, with SQLite checkpoints written at every step.

Figures are ratios and per-call times measured in this process; absolute seconds
depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from graph.api import Dispatcher
from graph.checkpoint import open_checkpointer
from graph.context import Context, default_database_url
from runtime import LLAMA_STATS, get_chat_model
from specialists.router import plan_by_rules
from specialists.scope import Cues, cues_of, standard_describes
from tools.salesforce_limits import DEFAULT_OBJECTS
from tools.sql import SqlDatabase

RULES_REQUESTS = [
    "How many customers are there?",
    "How many orders have each status? Then summarise the result.",
    "List the open opportunities in Salesforce.",
    "How many customers are in Germany? How many leads are hot?",
]
"""Requests the rules fast path plans without a model."""

GRAPH_REQUESTS = [
    "How many customers are there?",
    "How many products are in each category?",
    "How many orders have each status? Then summarise the result.",
    "Summarise: The team shipped 120 orders in March, up from 90 in February. "
    "Returns fell to 3 percent. Two new enterprise customers signed in Germany.",
]
"""Requests run end to end (rules path)."""

MODEL_ROUTED_REQUESTS = [
    "What are the three best selling products?",
    "Give me the number of sales reps per region and summarise it.",
]
"""Requests run end to end with the rules path switched off (router model plans)."""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bench_rules(repeats: int, cues: Cues) -> dict[str, float]:
    """Time the rules fast path alone (on cues read once, as a warm process holds them)."""
    samples = []
    for _ in range(repeats):
        for request in RULES_REQUESTS:
            started = time.perf_counter()
            plan_by_rules(request, cues)
            samples.append(time.perf_counter() - started)
    return {
        "mean_ms": statistics.fmean(samples) * 1000,
        "p50_ms": _pct(samples, 0.5) * 1000,
        "p95_ms": _pct(samples, 0.95) * 1000,
        "calls": len(samples),
    }


def run_requests(dispatcher: Dispatcher, requests: list[str], label: str) -> list[dict[str, Any]]:
    """Run each request once, recording wall, llama.cpp and tool time."""
    rows = []
    for request in requests:
        before = LLAMA_STATS.snapshot()
        started = time.perf_counter()
        result = dispatcher.ask(request)
        wall = time.perf_counter() - started
        spent = LLAMA_STATS.snapshot() - before
        tool = sum(r["timings"].get("tool", 0.0) for r in result.results)
        rows.append(
            {
                "label": label,
                "request": request,
                "route": result.route["path"] if result.route else None,
                "route_s": result.route["seconds"] if result.route else 0.0,
                "wall_s": wall,
                "llama_s": spent.seconds,
                "tool_s": tool,
                "calls": spent.calls,
                "completion_tokens": spent.completion_tokens,
                "prompt_tokens": spent.prompt_tokens,
                "steps": [
                    {
                        "specialist": r["specialist"],
                        "status": r["status"],
                        "model_s": r["timings"].get("model", 0.0),
                        "tool_s": r["timings"].get("tool", 0.0),
                        "total_s": r["timings"].get("total", 0.0),
                    }
                    for r in result.results
                ],
            }
        )
        print(
            f"  {label:<6} {wall:6.2f} s  llama {spent.seconds:6.2f} s  "
            f"{result.route['path'] if result.route else '-':<6} {request[:60]}",
            file=sys.stderr,
            flush=True,
        )
    return rows


def summarise(rows: list[dict[str, Any]], rules: dict[str, float], load_s: float) -> str:
    """The printed report."""
    lines = ["", "## Router", ""]
    lines.append(
        f"rules path : mean {rules['mean_ms']:.4f} ms, p50 {rules['p50_ms']:.4f} ms, "
        f"p95 {rules['p95_ms']:.4f} ms over {int(rules['calls'])} calls"
    )
    model_routes = [r["route_s"] for r in rows if r["route"] == "model"]
    if model_routes:
        lines.append(
            f"model path : mean {statistics.fmean(model_routes) * 1000:.0f} ms over "
            f"{len(model_routes)} requests"
        )
    lines += ["", "## Specialist steps", ""]
    lines.append(
        f"{'specialist':<11} {'n':>3} {'mean total':>11} {'mean model':>11} {'mean tool':>10}"
    )
    by_specialist: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for step in row["steps"]:
            by_specialist.setdefault(step["specialist"], []).append(step)
    for name, steps in sorted(by_specialist.items()):
        lines.append(
            f"{name:<11} {len(steps):>3} "
            f"{statistics.fmean(s['total_s'] for s in steps) * 1000:>9.0f} ms "
            f"{statistics.fmean(s['model_s'] for s in steps) * 1000:>9.0f} ms "
            f"{statistics.fmean(s['tool_s'] for s in steps) * 1000:>8.1f} ms"
        )
    wall = sum(r["wall_s"] for r in rows)
    llama = sum(r["llama_s"] for r in rows)
    tool = sum(r["tool_s"] for r in rows)
    tokens = sum(r["completion_tokens"] for r in rows)
    prompt_tokens = sum(r["prompt_tokens"] for r in rows)
    framework = max(0.0, wall - llama - tool)
    lines += ["", "## Decode and overhead", ""]
    lines.append(f"model load (once per process): {load_s:.2f} s")
    lines.append(
        f"decode: {tokens} tokens in {llama:.2f} s of llama.cpp time = "
        f"{tokens / llama if llama else 0:.1f} tokens/s (prompt evaluation included)"
    )
    lines.append(f"prompt tokens evaluated or reused from the cache: {prompt_tokens}")
    lines.append(f"wall {wall:.2f} s, llama.cpp {llama:.2f} s, tools {tool:.3f} s")
    lines.append(f"wall / llama.cpp time = {wall / llama if llama else float('nan'):.4f}")
    lines.append(
        f"framework + checkpoint overhead = {framework:.3f} s = "
        f"{100 * framework / wall if wall else 0:.2f} % of wall time (target < 5 %)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeats", type=int, default=2000, help="rules-path repetitions")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)

    database = default_database_url()
    if not Path(database).exists():
        print(f"demo database {database} missing: run `slm-dispatch setup`", file=sys.stderr)
        return 2
    with SqlDatabase.open(database) as handle:
        cues = cues_of(handle, standard_describes(DEFAULT_OBJECTS))
    rules = bench_rules(args.repeats, cues)

    print("loading the embedded model …", file=sys.stderr)
    before = LLAMA_STATS.snapshot()
    for specialist in ("router", "sql", "summarize"):
        get_chat_model(specialist, backend="embedded").invoke("Hi")
    load_s = (LLAMA_STATS.snapshot() - before).load_seconds

    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_checkpointer(str(Path(tmp) / "cp.sqlite")) as saver,
    ):
        rules_context = Context(backend="embedded", database_url=database)
        rows += run_requests(Dispatcher(saver, rules_context), GRAPH_REQUESTS, "rules")
        model_context = Context(backend="embedded", database_url=database, router_rules=False)
        rows += run_requests(Dispatcher(saver, model_context), MODEL_ROUTED_REQUESTS, "model")
    print(summarise(rows, rules, load_s))
    if args.json:
        args.json.write_text(json.dumps({"rules": rules, "runs": rows, "load_s": load_s}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
