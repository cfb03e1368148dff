"""Load test: N concurrent requests through the async API, per backend.

Run ``python -m evals.load_test`` (``--backends``, ``--levels``, ``--rounds``). For each
backend and each concurrency level N (default 1, 2, 4, 8, 16) it starts N clients at once
on one ``AsyncDispatcher`` with SQLite checkpoints; each client sends ``--rounds`` short
summarisation requests one after another. It prints, per N: requests, throughput
(requests/s of wall time), p50 / p95 latency of one request, peak resident memory of the
process while that level ran, and how many requests were refused as busy.

Backends:

- ``embedded``: the real SmolLM2-135M in-process (llama.cpp). One model per process,
  calls serialised by a per-model lock, so throughput is flat in N and latency grows
  with the queue.
- ``ollama``: the same model behind the Ollama-protocol stand-in from
  ``tests/ollama_standin.py`` (started in this process, so its memory is counted too).
- ``scripted``: a scripted model that answers at once: the framework and checkpoint cost.

This is a script, not a timed test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graph.api import AsyncDispatcher, BusyError
from graph.checkpoint import open_async_checkpointer
from graph.context import Context
from runtime import clear_caches, get_chat_model
from runtime.paths import BASE_MODEL_FILENAME, MODELS_DIR

LEVELS = (1, 2, 4, 8, 16)
REQUEST = (
    "Summarise: Orders rose 12 percent in March. Returns fell to 3 percent. "
    "Two new customers signed in Germany."
)


class PeakRss:
    """Samples this process's resident memory (``VmRSS``) in a thread; keeps the peak."""

    def __init__(self, every_s: float = 0.02) -> None:
        self.every_s = every_s
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now_kib() -> int:
        """Current resident memory in KiB (0 where ``/proc`` is missing)."""
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, self.now_kib())
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, self.now_kib())


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def run_level(dispatcher: AsyncDispatcher, clients: int, rounds: int) -> dict[str, Any]:
    """``clients`` concurrent clients, each sending ``rounds`` requests in turn."""
    latencies: list[float] = []
    busy = 0
    failed = 0

    async def client() -> None:
        nonlocal busy, failed
        for _ in range(rounds):
            started = time.perf_counter()
            try:
                result = await dispatcher.ask(REQUEST)
            except BusyError:
                busy += 1
                continue
            latencies.append(time.perf_counter() - started)
            if not result.finished or result.results[0]["status"] != "ok":
                failed += 1

    with PeakRss() as rss:
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {
        "n": clients,
        "requests": len(latencies),
        "throughput": len(latencies) / wall if wall else 0.0,
        "p50_s": percentile(latencies, 0.5) if latencies else 0.0,
        "p95_s": percentile(latencies, 0.95) if latencies else 0.0,
        "peak_rss_mib": rss.peak_kib / 1024,
        "busy": busy,
        "failed": failed,
    }


@contextmanager
def backend_context(backend: str, max_in_flight: int) -> Iterator[Context]:
    """A ``Context`` for ``backend``, with its server running and its model warmed."""
    if backend == "scripted":
        from tests.fakes import ScriptedChatModel

        model = ScriptedChatModel.of(["A short summary."], repeat_last=True)
        yield Context(chat_models={"summarize": model}, max_in_flight=max_in_flight)
        return
    if backend == "embedded":
        get_chat_model("summarize", backend="embedded").invoke("Hi")
        yield Context(backend="embedded", max_in_flight=max_in_flight)
        return
    from runtime.ollama_models import build_models, warm_models
    from tests.ollama_standin import OllamaStandIn

    with tempfile.TemporaryDirectory() as blobs:
        standin = OllamaStandIn(Path(blobs)).start()
        try:
            build_models(["summarize"], host=standin.url)
            warm_models(["summarize"], host=standin.url)
            yield Context(backend="ollama", ollama_host=standin.url, max_in_flight=max_in_flight)
        finally:
            standin.stop()


async def run_backend(
    backend: str, levels: list[int], rounds: int, max_in_flight: int, data_dir: Path
) -> list[dict[str, Any]]:
    """Every level on one backend; one checkpoint store per backend."""
    rows = []
    with backend_context(backend, max_in_flight) as context:
        store = str(data_dir / f"{backend}.sqlite")
        async with open_async_checkpointer(store) as saver:
            dispatcher = AsyncDispatcher(saver, context)
            for clients in levels:
                print(f"{backend}: N={clients} …", file=sys.stderr, flush=True)
                row = await run_level(dispatcher, clients, rounds)
                rows.append({"backend": backend, **row})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| backend | N | requests | req/s | p50 s | p95 s | peak RSS MiB | busy | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['n']} | {r['requests']} | {r['throughput']:.2f} | "
            f"{r['p50_s']:.3f} | {r['p95_s']:.3f} | {r['peak_rss_mib']:.0f} | {r['busy']} | "
            f"{r['failed']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.load_test",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backends", default="scripted,embedded,ollama")
    parser.add_argument("--levels", default=",".join(str(n) for n in LEVELS))
    parser.add_argument("--rounds", type=int, default=2, help="requests per client")
    parser.add_argument(
        "--max-in-flight", type=int, default=1000, help="the dispatcher's bound (busy past it)"
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - {"scripted", "embedded", "ollama"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if set(backends) & {"embedded", "ollama"} and not (MODELS_DIR / BASE_MODEL_FILENAME).exists():
        print("base model missing: run `slm-dispatch setup`", file=sys.stderr)
        return 2
    levels = [int(n) for n in args.levels.split(",")]
    clear_caches()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as data_dir:
        for backend in backends:
            rows += asyncio.run(
                run_backend(backend, levels, args.rounds, args.max_in_flight, Path(data_dir))
            )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
