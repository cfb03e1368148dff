"""Running ``slm-dispatch eval``: every specialist × configuration, then simulated chains.

:func:`run_eval` asks each specialist its held-out items under each configuration, scores
the replies, estimates how often a chain of ten sub-tasks succeeds end to end, and writes
``results.json`` (every per-item outcome), ``report.md`` and PNG charts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import random
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evals.eval_report import render_report
from evals.eval_tasks import (
    CONFIGS,
    FAMILIES,
    _constrained,
    _family,
    _open_task,
    _specialist_model,
    _Task,
)
from evals.scoring import Score
from finetune.datasets import DATA_DIR, SPECIALISTS_WITH_DATA, load_examples
from runtime.embedded import EmbeddedChatModel
from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError
from runtime.paths import (
    BASE_MODEL_FILENAME,
    MODELS_DIR,
    PROJECT_ROOT,
    display_path,
    file_sha256,
)
from tools.salesforce import SalesforceError
from tools.sql import SqlToolError

__all__ = [
    "ADAPTERS_DIR",
    "CHAIN_STEPS",
    "DEFAULT_CHAINS",
    "DEFAULT_LIMIT",
    "DEFAULT_OUT_DIR",
    "DEFAULT_SEED",
    "EVAL_SPECIALISTS",
    "EvalSetupError",
    "chain_outcomes",
    "draw_chains",
    "run_eval",
]

logger = logging.getLogger(__name__)

ADAPTERS_DIR = PROJECT_ROOT / "ollama" / "adapters"
"""Where the fine-tuned LoRA adapters live, one ``<specialist>.gguf`` each."""

DEFAULT_LIMIT = 60
"""Held-out items evaluated per specialist unless told otherwise."""

DEFAULT_CHAINS = 50
"""Simulated ten-step chains per model unless told otherwise."""

CHAIN_STEPS = 10
"""Sub-tasks in one simulated chain."""

DEFAULT_SEED = 0
"""Seed of the held-out sample and of the chain draws unless told otherwise."""

DEFAULT_OUT_DIR = Path("bench-results") / "eval"
"""Where the report goes unless told otherwise (relative to the working directory)."""


EVAL_SPECIALISTS: tuple[str, ...] = tuple(
    name for name in SPECIALISTS_WITH_DATA if name != "summarize"
)
"""The specialists ``slm-dispatch eval`` measures: those with data, but the summariser, whose
summaries are measured by ``python -m evals.summaries``."""


class EvalSetupError(Exception):
    """The evaluation cannot start: a usage mistake or something missing, said plainly."""


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _sha12(path: Path) -> str:
    return file_sha256(path)[:12]


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _select(
    examples: list[dict[str, Any]], limit: int, seed: int, specialist: str
) -> list[dict[str, Any]]:
    """A seeded sample of ``limit`` examples, kept in file order."""
    if len(examples) <= limit:
        return list(examples)
    chosen = random.Random(f"{seed}/{specialist}").sample(range(len(examples)), limit)
    return [examples[index] for index in sorted(chosen)]


def _check_arguments(
    specialists: Sequence[str], limit: int, configs: Sequence[str], chains: int
) -> None:
    if not specialists:
        raise EvalSetupError("no specialist to evaluate")
    for name in specialists:
        if name == "summarize":
            raise EvalSetupError(
                "the summariser is not measured by `slm-dispatch eval`: its summaries are "
                "measured by `python -m evals.summaries`"
            )
        if name not in EVAL_SPECIALISTS:
            raise EvalSetupError(
                f"unknown specialist {name!r}: expected one of {', '.join(EVAL_SPECIALISTS)}"
            )
    if not configs:
        raise EvalSetupError("no configuration to evaluate")
    for config in configs:
        if config not in CONFIGS:
            raise EvalSetupError(
                f"unknown configuration {config!r}: expected one of {', '.join(CONFIGS)}"
            )
    if limit < 1:
        raise EvalSetupError("--limit must be at least 1")
    if chains < 0:
        raise EvalSetupError("--chains must be >= 0")


def _evaluate_config(
    task: _Task,
    config: str,
    model: EmbeddedChatModel,
    items: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Ask every item under one configuration; return the per-item outcomes.

    One unscored call first (the last item's prompt) loads the model's prompt cache and
    checks the grammar, so that the first item's latency is not the cold start's.
    """
    fewshot = _family(config) == "base-prompted"
    options = task.constraint() if _constrained(config) else {}
    try:
        model.invoke(task.messages(items[-1], fewshot), **options)
    except (BackendError, SchemaGrammarError) as exc:
        logger.warning("%s %s: the warm-up call failed: %s", task.name, config, exc)
    outcomes: list[dict[str, Any]] = []
    for item in items:
        messages = task.messages(item, fewshot)
        started = time.perf_counter()
        try:
            reply = model.invoke(messages, **options)
        except (BackendError, SchemaGrammarError) as exc:
            seconds = time.perf_counter() - started
            output, metadata, score = "", {}, Score(False, False, False, error=f"model: {exc}")
        else:
            seconds = time.perf_counter() - started
            output = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
            metadata = reply.response_metadata
            try:
                score = task.score(output, item)
            except (SqlToolError, SalesforceError) as exc:
                raise EvalSetupError(
                    f"the gold target of {task.name} item {item['id']} does not run: {exc}"
                ) from exc
        outcomes.append(
            {
                "specialist": task.name,
                "config": config,
                "id": item["id"],
                "family": item.get("family"),
                "template": item.get("template"),
                "request": item["request"],
                "target": item["target"],
                "output": output,
                **asdict(score),
                "seconds": round(seconds, 4),
                "prompt_tokens": int(metadata.get("prompt_tokens", 0)),
                "completion_tokens": int(metadata.get("completion_tokens", 0)),
            }
        )
    return outcomes


def _summarise(
    specialist: str, outcomes: Sequence[Mapping[str, Any]], wall_s: float
) -> dict[str, Any]:
    """The metrics of one specialist × configuration from its per-item outcomes."""
    n = len(outcomes)

    def rate(key: str) -> float:
        return sum(1 for outcome in outcomes if outcome[key]) / n if n else 0.0

    seconds = [float(outcome["seconds"]) for outcome in outcomes]
    tokens = sum(int(outcome["completion_tokens"]) for outcome in outcomes)
    summary: dict[str, Any] = {
        "status": "ok",
        "n": n,
        "correct": sum(1 for outcome in outcomes if outcome["correct"]),
        "syntactic": rate("syntactic"),
        "semantic": rate("semantic"),
        "accuracy": rate("correct"),
        "latency_mean_s": sum(seconds) / n if n else 0.0,
        "latency_p95_s": _p95(seconds) if n else 0.0,
        "tokens_per_s": tokens / sum(seconds) if sum(seconds) > 0 else 0.0,
        "model_errors": sum(
            1 for outcome in outcomes if (outcome["error"] or "").startswith("model: ")
        ),
        "wall_s": round(wall_s, 2),
    }
    if specialist == "router":
        summary["routing_accuracy"] = rate("routing")
    if specialist == "salesforce":
        summary["result_match"] = rate("result_match")
    return summary


def draw_chains(
    pool: Mapping[str, Sequence[str]], chains: int, steps: int, seed: int
) -> list[list[tuple[str, str]]]:
    """Draw chains of held-out items: each step picks a specialist, then one of its items.

    Args:
        pool: Item ids per specialist.
        chains: How many chains.
        steps: Items per chain.
        seed: Seed of the draws (the same seed draws the same chains).

    Returns:
        ``chains`` lists of ``steps`` ``(specialist, item id)`` pairs.
    """
    names = sorted(name for name, ids in pool.items() if ids)
    if not names:
        return []
    rng = random.Random(f"{seed}/chains")
    drawn: list[list[tuple[str, str]]] = []
    for _ in range(chains):
        chain = []
        for _ in range(steps):
            name = rng.choice(names)
            chain.append((name, pool[name][rng.randrange(len(pool[name]))]))
        drawn.append(chain)
    return drawn


def chain_outcomes(
    chains: Sequence[Sequence[tuple[str, str]]], correct: Mapping[tuple[str, str], bool]
) -> list[bool]:
    """Say which chains succeed: every step's item was answered correctly."""
    return [all(correct[step] for step in chain) for chain in chains]


def _chains_summary(
    specialists: Sequence[str],
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    outcomes: Sequence[Mapping[str, Any]],
    items: Mapping[str, Sequence[Mapping[str, Any]]],
    chains: int,
    seed: int,
) -> dict[str, Any]:
    """Ten-step chain success per model, each specialist on its better decoding."""
    pool = {name: [str(item["id"]) for item in items[name]] for name in specialists}
    drawn = draw_chains(pool, chains, CHAIN_STEPS, seed)
    summary: dict[str, Any] = {"steps": CHAIN_STEPS, "n": len(drawn), "families": {}}
    for family in FAMILIES:
        chosen: dict[str, str] = {}
        missing = []
        for name in specialists:
            ran = [
                (metrics["accuracy"], _constrained(config), config)
                for config, metrics in results[name].items()
                if _family(config) == family and metrics["status"] == "ok"
            ]
            if ran:
                chosen[name] = max(ran)[2]
            else:
                missing.append(name)
        if len(missing) == len(specialists):
            continue
        if missing:
            summary["families"][family] = {
                "status": "skipped",
                "reason": f"no {family} results for {', '.join(missing)}",
            }
            continue
        correct = {
            (outcome["specialist"], str(outcome["id"])): bool(outcome["correct"])
            for outcome in outcomes
            if chosen.get(outcome["specialist"]) == outcome["config"]
        }
        succeeded = chain_outcomes(drawn, correct)
        per_step = sum(results[name][chosen[name]]["accuracy"] for name in specialists) / len(
            specialists
        )
        summary["families"][family] = {
            "status": "ok",
            "decodings": chosen,
            "successes": sum(succeeded),
            "success_rate": sum(succeeded) / len(succeeded) if succeeded else 0.0,
            "per_step_accuracy": per_step,
            "per_step_accuracy_pow": per_step**CHAIN_STEPS,
            "chains": [
                {"steps": [f"{name}:{item}" for name, item in chain], "success": ok}
                for chain, ok in zip(drawn, succeeded, strict=True)
            ],
        }
    return summary


def run_eval(
    specialists: Sequence[str] = EVAL_SPECIALISTS,
    limit: int = DEFAULT_LIMIT,
    configs: Sequence[str] = CONFIGS,
    out_dir: Path = DEFAULT_OUT_DIR,
    seed: int = DEFAULT_SEED,
    chains: int = DEFAULT_CHAINS,
    progress: bool = True,
    *,
    data_dir: Path = DATA_DIR,
    database_path: Path | None = None,
    adapters_dir: Path = ADAPTERS_DIR,
    base_model: Path | None = None,
) -> dict[str, Any]:
    """Evaluate the specialists on their held-out sets and write the report.

    Writes ``results.json`` (the summary and every per-item outcome), ``report.md`` and the
    charts in ``out_dir``.

    Args:
        specialists: Specialists to evaluate (of :data:`EVAL_SPECIALISTS`).
        limit: Held-out items per specialist (a seeded sample when the set is larger).
        configs: Configurations to run (of :data:`CONFIGS`); a fine-tuned one is skipped,
            and the report says so, when the specialist has no adapter file.
        out_dir: Where the results go; created if missing.
        seed: Seed of the held-out sample and of the chain draws.
        chains: Ten-step chains simulated per model (0: none).
        progress: Report each specialist × configuration on stderr.
        data_dir: The held-out data directory (``<specialist>/heldout.jsonl``).
        database_path: The demo SQLite database; default ``demo.sqlite`` in the data
            directory (:func:`graph.context.default_data_dir`).
        adapters_dir: Where ``<specialist>.gguf`` adapters are looked for.
        base_model: The base GGUF; default the one the Modelfiles name.

    Returns:
        The summary (also under ``summary`` in ``results.json``).

    Raises:
        EvalSetupError: A bad argument, or held-out data, the database or the base model
            is missing.
        OSError: ``out_dir`` cannot be written.
    """
    from graph.context import default_data_dir

    _check_arguments(specialists, limit, configs, chains)
    specialists = list(dict.fromkeys(specialists))
    configs = [config for config in CONFIGS if config in configs]
    base = Path(base_model) if base_model is not None else MODELS_DIR / BASE_MODEL_FILENAME
    if not base.is_file():
        raise EvalSetupError(
            f"the base model {display_path(base)} is missing: run `slm-dispatch setup`"
        )
    database_file = Path(database_path or default_data_dir() / "demo.sqlite")
    if "sql" in specialists and not database_file.is_file():
        raise EvalSetupError(
            f"the demo database {database_file} is missing: run `slm-dispatch setup`"
        )
    heldout: dict[str, list[dict[str, Any]]] = {}
    items: dict[str, list[dict[str, Any]]] = {}
    for name in specialists:
        try:
            heldout[name] = load_examples(name, "heldout", data_dir)
        except FileNotFoundError as exc:
            raise EvalSetupError(str(exc)) from exc
        if not heldout[name]:
            raise EvalSetupError(f"the held-out set of {name} in {data_dir} is empty")
        items[name] = _select(heldout[name], limit, seed, name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    adapters = {name: Path(adapters_dir) / f"{name}.gguf" for name in specialists}
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in specialists}
    outcomes: list[dict[str, Any]] = []
    with ExitStack() as stack:
        for name in specialists:
            task = _open_task(name, database_file, stack)
            for config in configs:
                adapter = adapters[name] if _family(config) == "fine-tuned" else None
                if adapter is not None and not adapter.is_file():
                    reason = f"no adapter at {display_path(adapter)}"
                    results[name][config] = {"status": "skipped", "reason": reason}
                    _say(progress, f"eval: {name} · {config}: skipped ({reason})")
                    continue
                model = _specialist_model(name, base, adapter)
                try:
                    model.load()
                except ModelUnavailableError as exc:
                    results[name][config] = {"status": "skipped", "reason": str(exc)}
                    _say(progress, f"eval: {name} · {config}: skipped ({exc})")
                    continue
                _say(progress, f"eval: {name} · {config}: {len(items[name])} items …")
                config_started = time.perf_counter()
                done = _evaluate_config(task, config, model, items[name])
                metrics = _summarise(name, done, time.perf_counter() - config_started)
                results[name][config] = metrics
                outcomes += done
                _say(
                    progress,
                    f"eval: {name} · {config}: {metrics['n']} done in {metrics['wall_s']:.1f} s — "
                    f"syntactic {_count(done, 'syntactic')}, semantic {_count(done, 'semantic')}, "
                    f"correct {metrics['correct']}",
                )

    summary: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "limit": limit,
        "configs": configs,
        "specialists": specialists,
        "models": {
            "base": {"file": base.name, "sha256": _sha12(base)},
            "adapters": {
                name: (
                    {"file": path.name, "sha256": _sha12(path)}
                    if path.is_file()
                    else {"file": path.name, "missing": True}
                )
                for name, path in adapters.items()
            },
        },
        "heldout": {
            name: {"size": len(heldout[name]), "evaluated": len(items[name])}
            for name in specialists
        },
        "database": database_file.name if "sql" in specialists else None,
        "results": results,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    chains_summary = _chains_summary(specialists, results, outcomes, items, chains, seed)
    draws = {
        family: entry.pop("chains", []) for family, entry in chains_summary["families"].items()
    }
    summary["chains"] = chains_summary
    results_path = out_dir / "results.json"
    results_path.write_text(
        json.dumps({"summary": summary, "items": outcomes, "chains": draws}, indent=1) + "\n",
        encoding="utf-8",
    )
    render_report(summary, out_dir)
    return summary


def _count(outcomes: Sequence[Mapping[str, Any]], key: str) -> int:
    return sum(1 for outcome in outcomes if outcome[key])
