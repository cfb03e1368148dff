"""SQL specialist benchmark: the validator on the adversarial corpus, the model on held-out SQL.

Run ``python -m evals.sql_bench`` (``make bench`` runs it after ``evals.bench``). It prints:

* validation time per query (p50 / p95) over the adversarial corpus
  (``tests/data/sql_adversarial.jsonl``), and the corpus outcome counts per category;
* for each SQL decoding mode (``grammar``: GBNF built from the live schema; ``free``:
  unconstrained text), on the held-out questions of ``evals/data/sql_heldout.jsonl``: the
  share of questions whose first query was valid, the share valid after repair, the
  execution accuracy (the result set equals the gold query's, order-insensitive unless the
  question asks for an order) first try and after repair, the model latency per question
  (p50 / p95) and the generated tokens per second.

The corpus helpers (:func:`load_corpus`, :func:`run_case`) are also what the tests use.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.paths import PROJECT_ROOT
from tools.sql import SqlDatabase, SqlExecutionError, SqlValidationError

__all__ = [
    "CORPUS_PATH",
    "HELDOUT_PATH",
    "CaseOutcome",
    "CorpusCase",
    "HeldoutQuestion",
    "load_corpus",
    "load_heldout",
    "run_case",
    "same_result",
]

logger = logging.getLogger(__name__)

CORPUS_PATH = PROJECT_ROOT / "tests" / "data" / "sql_adversarial.jsonl"
"""The adversarial corpus: one JSON object per line."""

HELDOUT_PATH = Path(__file__).resolve().parent / "data" / "sql_heldout.jsonl"
"""Held-out questions about the demo database, each with gold SQL (SQLite dialect)."""


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class CorpusCase:
    """One hostile or broken input and what must happen to it.

    Attributes:
        id: Unique name.
        category: What kind of attack or mistake it is (``stacked``, ``unicode`` ...).
        sql: The text a model (or an attacker steering it) wrote.
        expect: ``accept`` (validates and runs), ``reject`` (the validator refuses it) or
            ``error`` (validates, then the database refuses it, e.g. a timeout).
        reason: A substring of the rejection / error message (empty for ``accept``).
        dialect: The dialect the text is written in (``sqlite`` or ``postgres``).
        question: For injection cases, the hostile question that led to ``sql``.
        postgres_expect: The outcome on PostgreSQL when it differs from ``expect``.
        postgres_reason: The message substring that goes with ``postgres_expect``.
    """

    id: str
    category: str
    sql: str
    expect: str
    reason: str = ""
    dialect: str = "sqlite"
    question: str = ""
    postgres_expect: str = ""
    postgres_reason: str = ""

    def expected_on(self, dialect: str) -> tuple[str, str]:
        """The expected outcome and message substring on a database of ``dialect``."""
        if dialect == "postgres" and self.postgres_expect:
            return self.postgres_expect, self.postgres_reason
        return self.expect, self.reason


def _build(parts: Sequence[Sequence[Any]]) -> str:
    return "".join(str(text) * int(count) for text, count in parts)


def load_corpus(path: Path = CORPUS_PATH) -> list[CorpusCase]:
    """Read the corpus; a case may give ``build`` (``[[text, repeat], ...]``) instead of ``sql``.

    Raises:
        ValueError: A line is not a valid case.
    """
    cases: list[CorpusCase] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        raw = json.loads(line)
        sql = raw["sql"] if "sql" in raw else _build(raw["build"])
        case = CorpusCase(
            id=raw["id"],
            category=raw["category"],
            sql=sql,
            expect=raw["expect"],
            reason=raw.get("reason", ""),
            dialect=raw.get("dialect", "sqlite"),
            question=raw.get("question", ""),
            postgres_expect=raw.get("postgres_expect", ""),
            postgres_reason=raw.get("postgres_reason", ""),
        )
        for expect, reason in (case.expected_on("sqlite"), case.expected_on("postgres")):
            if expect not in ("accept", "reject", "error"):
                raise ValueError(f"{path}:{number}: expect must be accept, reject or error")
            if expect != "accept" and not reason:
                raise ValueError(f"{path}:{number}: a {expect} case needs a reason")
        cases.append(case)
    return cases


@dataclass(frozen=True)
class CaseOutcome:
    """What happened to one corpus case.

    Attributes:
        kind: ``accept``, ``reject`` or ``error`` (see :class:`CorpusCase`).
        message: The rejection or error message ('' when accepted).
        validate_s: Seconds spent in :meth:`SqlDatabase.validate`.
    """

    kind: str
    message: str
    validate_s: float


def run_case(database: SqlDatabase, case: CorpusCase, *, timeout_s: float = 1.0) -> CaseOutcome:
    """Validate ``case.sql`` on ``database`` and, if it passes, execute it."""
    started = time.perf_counter()
    try:
        sql = database.validate(case.sql, read_dialect=case.dialect)
    except SqlValidationError as err:
        return CaseOutcome("reject", err.message, time.perf_counter() - started)
    validate_s = time.perf_counter() - started
    try:
        database.execute(sql, row_limit=20, timeout_s=timeout_s)
    except SqlExecutionError as err:
        return CaseOutcome("error", err.message, validate_s)
    return CaseOutcome("accept", "", validate_s)


# --------------------------------------------------------------------------- held-out set


@dataclass(frozen=True)
class HeldoutQuestion:
    """A question about the demo database with its gold SQL.

    Attributes:
        id: Unique name.
        question: The question, as a user would ask it.
        gold: SQL (SQLite dialect) whose result is the answer.
        ordered: The row order is part of the answer (the question asks for an order).
    """

    id: str
    question: str
    gold: str
    ordered: bool = False


def load_heldout(path: Path = HELDOUT_PATH) -> list[HeldoutQuestion]:
    """Read the held-out questions."""
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            questions.append(
                HeldoutQuestion(
                    raw["id"], raw["question"], raw["gold"], bool(raw.get("ordered", False))
                )
            )
    return questions


def _normalized(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return round(float(value), 2)
    return str(value)


def _row_key(row: Sequence[Any]) -> tuple[str, ...]:
    return tuple(repr(_normalized(value)) for value in row)


def same_result(
    gold: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]], ordered: bool
) -> bool:
    """Whether ``rows`` equals ``gold``: same rows (numbers to 2 decimals), same multiset.

    Column names do not matter; the row order does only when ``ordered``.
    """
    gold_keys = [_row_key(row) for row in gold]
    row_keys = [_row_key(row) for row in rows]
    return gold_keys == row_keys if ordered else sorted(gold_keys) == sorted(row_keys)


# --------------------------------------------------------------------------- measurements


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def bench_validation(database: SqlDatabase, cases: Sequence[CorpusCase], repeats: int) -> dict:
    """Time :meth:`SqlDatabase.validate` over the corpus and count outcomes per category."""
    times: list[float] = []
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    mismatches: list[str] = []
    for case in cases:
        outcome = run_case(database, case, timeout_s=0.5)
        counts[case.category][outcome.kind] += 1
        if outcome.kind != case.expect or case.reason not in outcome.message:
            mismatches.append(f"{case.id}: expected {case.expect}, got {outcome.kind}")
        for _ in range(repeats):
            started = time.perf_counter()
            try:
                database.validate(case.sql, read_dialect=case.dialect)
            except SqlValidationError:
                pass
            times.append(time.perf_counter() - started)
    return {
        "cases": len(cases),
        "validate_p50_ms": 1000 * _pct(times, 0.5),
        "validate_p95_ms": 1000 * _pct(times, 0.95),
        "validate_max_ms": 1000 * max(times, default=0.0),
        "per_category": {category: dict(counter) for category, counter in sorted(counts.items())},
        "mismatches": mismatches,
    }


def bench_decoding(
    database: SqlDatabase, questions: Sequence[HeldoutQuestion], decoding: str, max_repairs: int
) -> dict:
    """Answer every held-out question with the SQL specialist in one decoding mode."""
    import runtime
    from runtime.embedded import LLAMA_STATS
    from specialists.base import Timer
    from specialists.sql import SQL, SqlSettings, answer_sql

    settings = SqlSettings(
        decoding=decoding,
        max_repairs=max_repairs,
        row_limit=1000,
        system=SQL.system(),
    )
    model = runtime.get_chat_model(SQL.name, backend="embedded")
    rows: list[dict[str, Any]] = []
    before = LLAMA_STATS.snapshot()
    for item in questions:
        gold = database.execute(item.gold, row_limit=1000)
        timer = Timer()
        started = time.perf_counter()
        answer = answer_sql(model, database, item.question, settings, timer)
        elapsed = time.perf_counter() - started
        attempts = answer.attempts
        first_valid = bool(attempts) and attempts[0]["error"] is None
        correct = answer.result is not None and same_result(
            gold.rows, answer.result.rows, item.ordered
        )
        rows.append(
            {
                "id": item.id,
                "first_valid": first_valid,
                "valid": answer.result is not None,
                "first_correct": first_valid and correct,
                "correct": correct,
                "attempts": len(attempts),
                "seconds": elapsed,
                "first_seconds": elapsed / max(1, len(attempts)),
                "queries": [attempt["query"] for attempt in attempts],
                "errors": [attempt["error"] for attempt in attempts],
            }
        )
        logger.info("%s %s: %s", decoding, item.id, rows[-1]["queries"][-1:])
    stats = LLAMA_STATS.snapshot() - before
    n = len(rows)
    seconds = [row["seconds"] for row in rows]
    return {
        "decoding": decoding,
        "n": n,
        "valid_first": sum(row["first_valid"] for row in rows) / n if n else 0.0,
        "valid_after_repair": sum(row["valid"] for row in rows) / n if n else 0.0,
        "accuracy_first": sum(row["first_correct"] for row in rows) / n if n else 0.0,
        "accuracy_after_repair": sum(row["correct"] for row in rows) / n if n else 0.0,
        "mean_attempts": statistics.fmean(row["attempts"] for row in rows) if n else 0.0,
        "latency_p50_s": _pct(seconds, 0.5),
        "latency_p95_s": _pct(seconds, 0.95),
        "tokens_per_s": stats.tokens_per_s,
        "completion_tokens": stats.completion_tokens,
        "rows": rows,
    }


def summarise(validation: dict, decodings: Sequence[dict]) -> str:
    """The printed report."""
    lines = [
        f"SQL validator over the adversarial corpus ({validation['cases']} cases)",
        f"  validate per query: p50 {validation['validate_p50_ms']:.2f} ms, "
        f"p95 {validation['validate_p95_ms']:.2f} ms, max {validation['validate_max_ms']:.2f} ms",
    ]
    for category, counts in validation["per_category"].items():
        listed = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
        lines.append(f"  {category:<22} {listed}")
    if validation["mismatches"]:
        lines.append("  MISMATCHES: " + "; ".join(validation["mismatches"]))
    for result in decodings:
        n = result["n"]
        lines += [
            f"SQL specialist, {result['decoding']} decoding, held-out set (n={n})",
            f"  valid first try     {result['valid_first']:6.1%}   "
            f"after repair {result['valid_after_repair']:6.1%}",
            f"  accuracy first try  {result['accuracy_first']:6.1%}   "
            f"after repair {result['accuracy_after_repair']:6.1%}",
            f"  latency per question p50 {result['latency_p50_s']:.2f} s, "
            f"p95 {result['latency_p95_s']:.2f} s; mean attempts {result['mean_attempts']:.2f}; "
            f"{result['tokens_per_s']:.1f} generated tokens/s of llama.cpp time",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the SQL benchmark and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.sql_bench",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--database", type=Path, help="SQLite demo database (default: data dir)")
    parser.add_argument("--repeats", type=int, default=5, help="validations per corpus case")
    parser.add_argument(
        "--decoding",
        choices=("grammar", "free", "both", "none"),
        default="both",
        help="decoding modes to measure on the held-out set ('none': validator only)",
    )
    parser.add_argument("--limit", type=int, help="only the first N held-out questions")
    parser.add_argument("--max-repairs", type=int, default=2, help="repairs per question")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("sqlglot").setLevel(logging.ERROR)

    from graph.context import default_data_dir
    from tools.demo_db import create_sqlite_db

    path = args.database or default_data_dir() / "demo.sqlite"
    if not path.exists():
        print(f"building the demo database at {path} …", file=sys.stderr)
        create_sqlite_db(path)
    with SqlDatabase.open(str(path)) as database:
        validation = bench_validation(database, load_corpus(), args.repeats)
        modes = {"both": ["grammar", "free"], "none": []}.get(args.decoding, [args.decoding])
        questions = load_heldout()[: args.limit]
        decodings = []
        for mode in modes:
            print(f"SQL specialist, {mode} decoding, {len(questions)} questions …", file=sys.stderr)
            decodings.append(bench_decoding(database, questions, mode, args.max_repairs))
    print(summarise(validation, decodings))
    if args.json:
        args.json.write_text(
            json.dumps({"validation": validation, "decoding": decodings}, indent=2)
        )
    return 1 if validation["mismatches"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
