"""The summariser on the hand-written set: how often a summary invents a number or a name.

``python -m evals.summaries`` runs every item of ``evals/data/summaries.jsonl`` (results of
real demo queries and free texts, written by hand, never trained on) through the
summarisation specialist as the graph's node runs it, for the prompted base model and, when
its adapter exists, the fine-tuned one. For each it reports:

* **drafts unsupported**: the share of the model's own summaries with a number or name that
  the source does not hold (:func:`specialists.facts.unsupported`), i.e. before the check;
* **answers unsupported**: the same share after the check, when a failing summary is
  replaced by the sentence written by code from the source (the goal is 0 %);
* **fallback used**: how often the replacement was needed;
* **mentions**: the share of the item's key facts that the final summary states;
* latency per summary (model time).

Figures print on stdout and go to ``--out`` as JSON; ``--record`` copies them into
``ollama/adapters/manifest.json`` next to the summariser's adapter they measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "summaries.jsonl"
"""The hand-written set."""

ROW_LIMIT = 50
"""Rows a query result keeps (the default ``Context.row_limit``)."""


def load_items(path: Path = DATA) -> list[dict[str, Any]]:
    """The set's items, one JSON object per line."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _result_of(item: dict[str, Any], database: Any) -> dict[str, Any]:
    from specialists.text import describe_rows

    result = database.run(item["sql"], row_limit=ROW_LIMIT)
    return {
        "instruction": item["request"],
        "query": result.sql,
        "columns": result.columns,
        "rows": result.rows,
        "truncated": result.truncated,
        "output": describe_rows(result.columns, result.rows, result.truncated),
    }


def _mentioned(summary: str, mentions: Sequence[str]) -> int:
    flat = summary.casefold().replace(",", "")
    return sum(1 for m in mentions if str(m).casefold().replace(",", "") in flat)


def run_model(
    model: Any, items: Sequence[dict[str, Any]], database: Any, *, label: str
) -> dict[str, Any]:
    """Every item through the summariser with ``model``: per-item outcomes and the totals."""
    from specialists.base import Timer
    from specialists.facts import unsupported
    from specialists.summarize import (
        SUMMARIZE,
        dependency_content,
        result_source,
        summarize,
        text_source,
    )

    system = SUMMARIZE.system()
    outcomes = []
    for number, item in enumerate(items, start=1):
        if item["kind"] == "result":
            dependency = _result_of(item, database)
            content = dependency_content(dependency)
            source, fallback = result_source(dependency)
        else:
            content = item["text"]
            source, fallback = text_source(content)
        timer = Timer()
        started = time.perf_counter()
        summary = summarize(
            model,
            item["instruction"],
            content,
            source=source,
            fallback=fallback,
            system=system,
            timer=timer,
        )
        outcomes.append(
            {
                "id": item["id"],
                "kind": item["kind"],
                "draft": summary.drafted,
                "draft_problems": summary.problems,
                "answer": summary.text,
                "answer_problems": unsupported(summary.text, source),
                "fallback": summary.replaced,
                "mentions": len(item.get("mentions") or []),
                "mentioned": _mentioned(summary.text, item.get("mentions") or []),
                "draft_mentioned": _mentioned(summary.drafted, item.get("mentions") or []),
                "seconds": time.perf_counter() - started,
            }
        )
        print(f"  {label} {number}/{len(items)} {item['id']}", file=sys.stderr, flush=True)
    return {"label": label, "outcomes": outcomes, **totals(outcomes)}


def totals(outcomes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The shares and latencies of a run."""
    n = len(outcomes) or 1
    mentions = sum(o["mentions"] for o in outcomes) or 1
    seconds = sorted(o["seconds"] for o in outcomes) or [0.0]
    return {
        "items": len(outcomes),
        "drafts_unsupported": sum(1 for o in outcomes if o["draft_problems"]) / n,
        "answers_unsupported": sum(1 for o in outcomes if o["answer_problems"]) / n,
        "fallback_used": sum(1 for o in outcomes if o["fallback"]) / n,
        "mentions_stated": sum(o["mentioned"] for o in outcomes) / mentions,
        "draft_mentions_stated": sum(o["draft_mentioned"] for o in outcomes) / mentions,
        "p50_s": statistics.median(seconds),
        "p95_s": seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))],
    }


def record(report: Sequence[dict[str, Any]], adapters_dir: Path, data: Path) -> bool:
    """Copy the figures into the adapters' manifest, beside the adapter that was measured.

    Returns:
        False when the manifest has no summarize adapter or its file is not the one measured.
    """
    import datetime as dt

    from finetune.cli import read_manifest
    from runtime.paths import file_sha256

    path = adapters_dir / "manifest.json"
    adapter = adapters_dir / "summarize.gguf"
    manifest = read_manifest(path)
    entry = manifest.get("adapters", {}).get("summarize")
    if entry is None or not adapter.is_file() or entry["sha256"] != file_sha256(adapter):
        return False
    keep = (
        "items",
        "drafts_unsupported",
        "answers_unsupported",
        "fallback_used",
        "mentions_stated",
        "draft_mentions_stated",
        "p50_s",
        "p95_s",
    )
    entry["eval"] = {
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "set": str(data.name),
        "scores": {
            run["label"]: {
                k: round(run[k], 4) if isinstance(run[k], float) else run[k] for k in keep
            }
            for run in report
        },  # fmt: skip
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return True


def _models(adapters_dir: Path) -> list[tuple[str, Any]]:
    from runtime.paths import BASE_MODEL_FILENAME, MODELS_DIR
    from runtime.registry import embedded_chat_model, load_modelfile

    base = MODELS_DIR / BASE_MODEL_FILENAME
    modelfile = load_modelfile("summarize")
    chosen = [("base-prompted", embedded_chat_model("summarize", modelfile, weights=(base, None)))]
    adapter = adapters_dir / "summarize.gguf"
    if adapter.is_file():
        tuned = embedded_chat_model("summarize", modelfile, weights=(base, adapter))
        chosen.append(("fine-tuned", tuned))
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Run the set and print the figures."""
    from runtime.paths import PROJECT_ROOT
    from tools.demo_db import create_sqlite_db
    from tools.sql import SqlDatabase

    parser = argparse.ArgumentParser(prog="python -m evals.summaries", description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA, help="the hand-written set")
    parser.add_argument("--limit", type=int, help="only the first N items")
    parser.add_argument(
        "--adapters-dir", type=Path, default=PROJECT_ROOT / "ollama" / "adapters",
        help="where summarize.gguf is looked for",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results") / "summaries.json", help="JSON report"
    )
    parser.add_argument(
        "--record", action="store_true", help="copy the figures into the adapters' manifest"
    )
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if not args.data.is_file():
        parser.error(f"no such file: {args.data}")
    items = load_items(args.data)[: args.limit]
    database_path = PROJECT_ROOT / ".data" / "demo.sqlite"
    if not database_path.exists():
        create_sqlite_db(database_path)
    report = []
    with SqlDatabase.open(str(database_path)) as database:
        for label, model in _models(args.adapters_dir):
            report.append(run_model(model, items, database, label=label))
    print(f"summaries on the hand-written set ({len(items)} items: results and free texts)")
    for run in report:
        print(
            f"  {run['label']:<14} drafts unsupported {run['drafts_unsupported']:.0%}, "
            f"answers unsupported {run['answers_unsupported']:.0%}, "
            f"fallback used {run['fallback_used']:.0%}, "
            f"facts stated {run['mentions_stated']:.0%} "
            f"(drafts {run['draft_mentions_stated']:.0%}), "
            f"p50 {run['p50_s']:.2f} s, p95 {run['p95_s']:.2f} s"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"report: {args.out}")
    if args.record:
        if not record(report, args.adapters_dir, args.data):
            print("not recorded: no summarize adapter in the manifest matches the file measured")
            return 1
        print(f"recorded in {args.adapters_dir / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
