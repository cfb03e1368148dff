"""``make bench`` (Ollama part): the Ollama path against the embedded path, and cold loads.

Prints:

* per-step latency of the same requests through the whole graph on the Ollama path
  and on the embedded path, as a ratio (Ollama / embedded). With the stand-in both
  paths decode with the same llama.cpp build on the same machine and produce the same
  tokens, so the ratio is the cost of HTTP, the ``ollama`` client, NDJSON streaming
  and ``ChatOllama``;
* the same ratio for single chat calls, and the per-call overhead in milliseconds
  (client wall time minus the server's own ``total_duration``);
* the cost of a cold model load against a warmed model (``models warm``).

By default the server is the Ollama-protocol stand-in from ``tests/ollama_standin.py``
(started on loopback for the run; needs the repository checkout). ``--host URL`` runs
the same figures against a real Ollama instead (its decode is not llama-cpp-python's,
so the ratio then compares two engines, not only the transport).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

from evals.bench import GRAPH_REQUESTS
from graph.api import Dispatcher
from graph.context import Context, default_database_url
from runtime import clear_caches, get_chat_model, system_prompt
from runtime.ollama_models import build_models, warm_models
from runtime.paths import BASE_MODEL_FILENAME, MODELS_DIR

CALL_MESSAGES = [
    SystemMessage(system_prompt("summarize")),
    HumanMessage("Summarise: Orders rose 12% in March. Returns fell. Two regions opened."),
]


@contextmanager
def _server(host: str | None) -> Iterator[tuple[str, Any]]:
    """Yield ``(url, stand-in or None)``: the given host, or a stand-in started for the run."""
    if host:
        yield host, None
        return
    from tests.ollama_standin import OllamaStandIn

    with tempfile.TemporaryDirectory() as blobs:
        standin = OllamaStandIn(Path(blobs)).start()
        try:
            yield standin.url, standin
        finally:
            standin.stop()


def _steps(result: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "specialist": r["specialist"],
            "status": r["status"],
            "query": r["query"],
            "model_s": r["timings"].get("model", 0.0),
            "total_s": r["timings"].get("total", 0.0),
        }
        for r in result.results
    ]


def bench_graph(url: str, database: str, repeats: int) -> list[dict[str, Any]]:
    """Run every request on both paths (alternating), warmed; return paired steps."""
    # Free SQL decoding on both paths: the schema grammar exists only on the embedded
    # backend, and the comparison must decode the same way.
    embedded = Dispatcher(
        InMemorySaver(),
        Context(backend="embedded", database_url=database, sql_decoding="free"),
    )
    served = Dispatcher(
        InMemorySaver(),
        Context(backend="ollama", ollama_host=url, database_url=database, sql_decoding="free"),
    )
    pairs = []
    for round_ in range(repeats):
        for index, request in enumerate(GRAPH_REQUESTS):
            # Alternate which path goes first, so neither always meets a cold cache.
            order = [("embedded", embedded), ("ollama", served)]
            if (round_ + index) % 2:
                order.reverse()
            results, walls = {}, {}
            for name, dispatcher in order:
                started = time.perf_counter()
                results[name] = dispatcher.ask(request)
                walls[name] = time.perf_counter() - started
            local, remote = _steps(results["embedded"]), _steps(results["ollama"])
            for mine, theirs in zip(local, remote, strict=False):
                pairs.append(
                    {
                        "round": round_,
                        "request": request,
                        "specialist": mine["specialist"],
                        "same_output": mine["query"] == theirs["query"]
                        and mine["status"] == theirs["status"],
                        "embedded_model_s": mine["model_s"],
                        "ollama_model_s": theirs["model_s"],
                        "embedded_total_s": mine["total_s"],
                        "ollama_total_s": theirs["total_s"],
                        "embedded_wall_s": walls["embedded"],
                        "ollama_wall_s": walls["ollama"],
                    }
                )
            print(
                f"  {walls['embedded']:6.2f} s embedded  {walls['ollama']:6.2f} s ollama  "
                f"{request[:55]}",
                file=sys.stderr,
                flush=True,
            )
    return pairs


def bench_calls(url: str, calls: int) -> dict[str, float]:
    """Time the same chat call on both backends; return means and the per-call overhead."""
    embedded = get_chat_model("summarize", backend="embedded")
    served = get_chat_model("summarize", backend="ollama", ollama_host=url)
    local, remote, overhead = [], [], []
    for _ in range(calls):
        started = time.perf_counter()
        embedded.invoke(CALL_MESSAGES)
        local.append(time.perf_counter() - started)
        started = time.perf_counter()
        reply = served.invoke(CALL_MESSAGES)
        wall = time.perf_counter() - started
        remote.append(wall)
        server_ns = reply.response_metadata.get("total_duration") or 0
        overhead.append(wall - server_ns / 1e9)
    return {
        "calls": calls,
        "embedded_mean_s": statistics.fmean(local),
        "ollama_mean_s": statistics.fmean(remote),
        "ratio": statistics.fmean(remote) / statistics.fmean(local),
        "overhead_ms": statistics.fmean(overhead) * 1000,
    }


def bench_cold_load(url: str, standin: Any, rounds: int) -> dict[str, float]:
    """Cold request (model unloaded) against a request after ``models warm``."""
    model = get_chat_model("summarize", backend="ollama", ollama_host=url)
    cold, cold_load, warm_call, warm_s = [], [], [], []
    for _ in range(rounds):
        _unload(url, standin)
        started = time.perf_counter()
        reply = model.invoke(CALL_MESSAGES)
        cold.append(time.perf_counter() - started)
        cold_load.append((reply.response_metadata.get("load_duration") or 0) / 1e9)
        _unload(url, standin)
        (warmed,) = warm_models(["summarize"], host=url, keep_alive="10m")
        warm_s.append(warmed.seconds)
        started = time.perf_counter()
        model.invoke(CALL_MESSAGES)
        warm_call.append(time.perf_counter() - started)
    return {
        "rounds": rounds,
        "cold_request_s": statistics.fmean(cold),
        "cold_load_s": statistics.fmean(cold_load),
        "warm_command_s": statistics.fmean(warm_s),
        "warmed_request_s": statistics.fmean(warm_call),
        "saved_s": statistics.fmean(cold) - statistics.fmean(warm_call),
    }


def _unload(url: str, standin: Any) -> None:
    if standin is not None:
        standin.unload_all()
        return
    import ollama
    from runtime import load_modelfile, model_tag

    tag = model_tag("summarize", load_modelfile("summarize"))
    ollama.Client(host=url).chat(model=tag, messages=[], keep_alive=0)


def _ratio(pair: dict[str, Any]) -> float:
    return float(pair["ollama_model_s"] / pair["embedded_model_s"])


def summarise(
    build: dict[str, float],
    pairs: list[dict[str, Any]],
    calls: dict[str, float],
    cold: dict[str, float],
) -> str:
    """The printed report."""
    lines = ["", "## Ollama path (stand-in) vs embedded", ""]
    lines.append(
        f"build all specialists: {build['first_s']:.2f} s (base GGUF uploaded once), "
        f"rebuild {build['again_s']:.2f} s (blobs skipped)"
    )
    lines.append("")
    lines.append(
        f"{'specialist':<11} {'n':>3} {'embedded':>10} {'ollama':>10} {'median ratio':>13}"
    )
    by: dict[str, list[dict[str, Any]]] = {}
    # Only steps where both paths called the model (a skipped step has no model time).
    pairs = [p for p in pairs if p["embedded_model_s"] > 0 and p["ollama_model_s"] > 0]
    for pair in pairs:
        by.setdefault(pair["specialist"], []).append(pair)
    for name, group in sorted(by.items()):
        lines.append(
            f"{name:<11} {len(group):>3} "
            f"{statistics.median(p['embedded_model_s'] for p in group) * 1000:>7.0f} ms "
            f"{statistics.median(p['ollama_model_s'] for p in group) * 1000:>7.0f} ms "
            f"{statistics.median(_ratio(p) for p in group):>13.3f}"
        )
    if pairs:
        same = sum(p["same_output"] for p in pairs)
        lines.append(
            f"all steps: median per-step model-time ratio ollama / embedded = "
            f"{statistics.median(_ratio(p) for p in pairs):.3f} "
            f"({same}/{len(pairs)} steps produced the same output on both paths)"
        )
    lines.append(
        f"single call ({int(calls['calls'])}x): embedded {calls['embedded_mean_s'] * 1000:.0f} ms, "
        f"ollama {calls['ollama_mean_s'] * 1000:.0f} ms, ratio {calls['ratio']:.3f}, "
        f"HTTP + client overhead {calls['overhead_ms']:.1f} ms per call"
    )
    lines += ["", "## Cold load vs warmed", ""]
    lines.append(
        f"cold request {cold['cold_request_s'] * 1000:.0f} ms (server load "
        f"{cold['cold_load_s'] * 1000:.0f} ms); `models warm` {cold['warm_command_s'] * 1000:.0f} "
        f"ms, then the request {cold['warmed_request_s'] * 1000:.0f} ms; warming saves "
        f"{cold['saved_s'] * 1000:.0f} ms on the first request ({int(cold['rounds'])} rounds)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the Ollama benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.ollama_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help="a real Ollama to measure instead of the stand-in")
    parser.add_argument("--repeats", type=int, default=1, help="rounds over the graph requests")
    parser.add_argument("--calls", type=int, default=5, help="single chat calls per backend")
    parser.add_argument("--cold-rounds", type=int, default=3, help="cold/warm load rounds")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)

    database = default_database_url()
    if not Path(database).exists() or not (MODELS_DIR / BASE_MODEL_FILENAME).exists():
        print("demo database or base model missing: run `slm-dispatch setup`", file=sys.stderr)
        return 2
    clear_caches()
    with _server(args.host) as (url, standin):
        print(f"building the specialists on {url} …", file=sys.stderr)
        started = time.perf_counter()
        build_models(host=url)
        first = time.perf_counter() - started
        started = time.perf_counter()
        build_models(host=url)
        build = {"first_s": first, "again_s": time.perf_counter() - started}
        print("warming both paths …", file=sys.stderr)
        for specialist in ("router", "sql", "summarize"):
            get_chat_model(specialist, backend="embedded").invoke("Hi")
        warm_models(["router", "sql", "summarize"], host=url)
        pairs = bench_graph(url, database, args.repeats)
        calls = bench_calls(url, args.calls)
        cold = bench_cold_load(url, standin, args.cold_rounds)
    print(summarise(build, pairs, calls, cold))
    if args.json:
        figures = {"build": build, "steps": pairs, "calls": calls, "cold": cold}
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
