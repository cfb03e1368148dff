"""``slm-dispatch eval``: the prompted base model against the fine-tuned specialists.

Each specialist that has a dataset (:data:`finetune.datasets.SPECIALISTS_WITH_DATA`) but the
summariser, which ``python -m evals.summaries`` measures (see
:data:`evals.eval_run.EVAL_SPECIALISTS`), is asked its held-out requests under up to four
configurations:

* ``base-prompted/free`` and ``base-prompted/constrained``: the base model with the few-shot
  chat of the specialist (:mod:`specialists`; for SQL, the schema with sample values);
* ``fine-tuned/free`` and ``fine-tuned/constrained``: the base model with the specialist's
  LoRA adapter (``ollama/adapters/<specialist>.gguf``), zero-shot, with the prompt it was
  trained on. A specialist without an adapter file has these configurations skipped.

``constrained`` decodes SQL under the grammar of the live schema
(:func:`specialists.sql.sql_grammar`) and JSON under the grammar of its Pydantic schema; ``free``
decodes plain text, which is then parsed.

Every reply is scored three ways: syntactic validity (the SQL parses with sqlglot / the JSON
parses into ``Plan`` or ``ActionRequest``), semantic validity (the project's own validators
accept it) and task accuracy (router: the plan; sql: execution accuracy on the demo
database; salesforce: the normalised action, and the records it returns on the offline
sandbox org). Latency is the time of the model call alone. From the per-item outcomes it
also estimates how often a chain of ten sub-tasks succeeds end to end.

:func:`~evals.eval_run.run_eval` runs the evaluation and writes ``results.json`` (every
per-item outcome), ``report.md`` and PNG charts; :func:`~evals.eval_report.render_report`
draws the report from a summary; :func:`add_eval_command` registers ``slm-dispatch eval``.
The replies are scored by :mod:`evals.scoring`; :mod:`evals.eval_tasks` holds the
configurations and how each specialist is prompted and decoded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from evals.eval_report import _ACCURACY_LABELS, _percent
from evals.eval_run import (
    ADAPTERS_DIR,
    CHAIN_STEPS,
    DEFAULT_CHAINS,
    DEFAULT_LIMIT,
    DEFAULT_OUT_DIR,
    DEFAULT_SEED,
    EVAL_SPECIALISTS,
    EvalSetupError,
    run_eval,
)
from evals.eval_tasks import CONFIGS, FAMILIES, _family
from finetune.datasets import DATA_DIR

__all__ = ["add_eval_command", "cmd_eval"]

EVAL_HELP = "compare the prompted base model with the fine-tuned specialists on held-out sets"
EVAL_DESCRIPTION = f"""\
Ask each specialist its held-out requests (finetune/data/<specialist>/heldout.jsonl) under
up to four configurations and score the replies:

  base-prompted/free         base model, few-shot prompt, unconstrained decoding
  base-prompted/constrained  base model, few-shot prompt, grammar-constrained decoding
  fine-tuned/free            base model + ollama/adapters/<specialist>.gguf, zero-shot
  fine-tuned/constrained     the same, grammar-constrained

A specialist with no adapter file has its fine-tuned configurations skipped (the report
says so). Metrics: syntactic and semantic validity, task accuracy (router: plan; sql:
execution accuracy on the demo database; salesforce: action exact-match and result match
on the offline sandbox org), latency per request and tokens/s, and the success rate of
simulated chains of {CHAIN_STEPS} sub-tasks.

Writes DIR/report.md, DIR/results.json (every per-item outcome) and PNG charts. The base
model's few-shot prompts are long: on 2 CPU cores count a few seconds per request."""


def add_eval_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``eval`` on the CLI's sub-command parsers.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.
    """
    command = subparsers.add_parser(
        "eval",
        help=EVAL_HELP,
        description=EVAL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--specialist",
        metavar="NAME",
        action="append",
        default=None,
        help=f"a specialist to evaluate; repeat for several (default: "
        f"{', '.join(EVAL_SPECIALISTS)})",
    )
    command.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"held-out items per specialist, a seeded sample (default {DEFAULT_LIMIT})",
    )
    command.add_argument(
        "--configs",
        metavar="CONFIG",
        nargs="+",
        default=None,
        help="configurations to run: any of " + ", ".join(CONFIGS) + ", or base-prompted / "
        "fine-tuned for both decodings of one model (default: all four)",
    )
    command.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"where report.md, results.json and the charts go (default {DEFAULT_OUT_DIR})",
    )
    command.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the held-out sample and the chain draws (default {DEFAULT_SEED})",
    )
    command.add_argument(
        "--record",
        action="store_true",
        help="copy the scores into ollama/adapters/manifest.json, next to the adapters measured",
    )
    command.add_argument(
        "--chains",
        metavar="N",
        type=int,
        default=DEFAULT_CHAINS,
        help=f"simulated {CHAIN_STEPS}-step chains per model (default {DEFAULT_CHAINS}; 0: none)",
    )
    command.add_argument(
        "--heldout-dir",
        metavar="DIR",
        type=Path,
        default=DATA_DIR,
        help="the dataset directory holding <specialist>/heldout.jsonl (default finetune/data)",
    )
    command.add_argument(
        "--adapters-dir",
        metavar="DIR",
        type=Path,
        default=ADAPTERS_DIR,
        help="where <specialist>.gguf LoRA adapters are found (default ollama/adapters)",
    )
    command.set_defaults(func=cmd_eval)


def _expand_configs(values: Sequence[str] | None) -> list[str]:
    if not values:
        return list(CONFIGS)
    chosen: list[str] = []
    for value in values:
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name in FAMILIES:
                chosen += [config for config in CONFIGS if _family(config) == name]
            elif name in CONFIGS:
                chosen.append(name)
            else:
                raise EvalSetupError(
                    f"unknown configuration {name!r}: expected {', '.join(CONFIGS)}, "
                    f"or {' / '.join(FAMILIES)}"
                )
    return list(dict.fromkeys(chosen))


def cmd_eval(args: argparse.Namespace) -> int:
    """Run ``slm-dispatch eval``: evaluate, write the report, print where it is.

    Args:
        args: Parsed arguments (``specialist``, ``limit``, ``configs``, ``out``, ``seed``,
            ``chains``, ``heldout_dir``, ``adapters_dir`` and the global ``data_dir``).

    Returns:
        The exit status: 0 when the report was written, 2 for a usage or set-up error.
    """
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return _error(f"--out {str(out)!r} is a file, not a directory")
    data_dir = getattr(args, "data_dir", None)
    try:
        configs = _expand_configs(args.configs)
        summary = run_eval(
            specialists=args.specialist or list(EVAL_SPECIALISTS),
            limit=args.limit,
            configs=configs,
            out_dir=out,
            seed=args.seed,
            chains=args.chains,
            progress=True,
            data_dir=args.heldout_dir,
            database_path=Path(data_dir) / "demo.sqlite" if data_dir else None,
            adapters_dir=args.adapters_dir,
        )
    except EvalSetupError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"cannot write the results in {str(out)!r}: {exc}")
    for name, results in summary["results"].items():
        for config, metrics in results.items():
            if metrics["status"] == "ok":
                print(
                    f"{name:<10} {config:<26} {_ACCURACY_LABELS[name]} "
                    f"{_percent(metrics['accuracy'], metrics['n'])}, "
                    f"valid {_percent(metrics['semantic'])}, "
                    f"{metrics['latency_mean_s']:.2f} s/request"
                )
            else:
                print(f"{name:<10} {config:<26} skipped: {metrics['reason']}")
    for family, entry in (summary["chains"].get("families") or {}).items():
        if entry["status"] == "ok":
            print(
                f"chains     {family:<26} {entry['successes']}/{summary['chains']['n']} "
                f"chains of {CHAIN_STEPS} steps succeeded (p = {entry['per_step_accuracy']:.3f}, "
                f"p^{CHAIN_STEPS} = {entry['per_step_accuracy_pow']:.4f})"
            )
    print(f"report: {out / 'report.md'}")
    if args.record:
        from finetune.cli import ADAPTERS_DIR, record_eval

        adapters_dir = Path(args.adapters_dir) if args.adapters_dir else ADAPTERS_DIR
        recorded = record_eval(summary, out / "report.md", adapters_dir)
        print(f"scores recorded in the adapters' manifest for: {', '.join(recorded) or 'none'}")
    return 0


def _error(text: str) -> int:
    print(f"slm-dispatch: error: {text}", file=sys.stderr)
    return 2
