"""The ``slm-dispatch data`` sub-command."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from finetune.datasets.common import (
    DATA_DIR,
    DEFAULT_SEED,
    MANIFEST_NAME,
    SPECIALISTS_WITH_DATA,
    SPLITS,
)
from finetune.datasets.generation import generate, verify

# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------

DATA_HELP = "generate the fine-tuning datasets (router, sql, salesforce, summarize)"
DATA_DESCRIPTION = """\
Generate the fine-tuning datasets of the router, sql, salesforce and summarize specialists
from templates over the demo database and the offline sandbox org. Every SQL target is
validated and executed on a freshly built demo database, every Salesforce action is
validated and run on a private sandbox, every router plan is checked against the Plan
schema, every summary is written from the rows of a query run on the demo database and
checked against them; targets that fail are dropped and counted in the manifest. The same
seed gives byte-identical files.

With --check nothing is written: the datasets are regenerated in a temporary directory and
compared with the stored manifest (exit status 1 when they differ)."""


def add_data_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``data`` on the CLI's sub-command parsers.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.
    """
    data = subparsers.add_parser(
        "data",
        help=DATA_HELP,
        description=DATA_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"seed of every random choice (default {DEFAULT_SEED}; with --check, the "
        "stored manifest's seed)",
    )
    data.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=DATA_DIR,
        help="the data directory (default: finetune/data in the project)",
    )
    data.add_argument(
        "--check",
        action="store_true",
        help="regenerate into a temporary directory and compare with the stored manifest",
    )
    data.set_defaults(func=cmd_data)


def _error(text: str) -> int:
    print(f"slm-dispatch: error: {text}", file=sys.stderr)
    return 2


def cmd_data(args: argparse.Namespace) -> int:
    """Generate the datasets, or check that the stored ones are what the generator writes.

    Args:
        args: Parsed arguments (``seed``, ``out``, ``check``).

    Returns:
        The exit status: 0 done (or up to date), 1 the stored data differs, 2 a usage error.
    """
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return _error(f"--out {str(out)!r} is a file, not a directory")
    if args.seed is not None and args.seed < 0:
        return _error("--seed must be >= 0")
    if not args.check:
        try:
            manifest = generate(DEFAULT_SEED if args.seed is None else args.seed, out)
        except OSError as exc:
            return _error(f"cannot write the datasets in {str(out)!r}: {exc}")
        total = sum(
            manifest["specialists"][specialist][split]["count"]
            for specialist in SPECIALISTS_WITH_DATA
            for split in SPLITS
        )
        print(f"{total} examples written to {out}")
        return 0

    manifest_path = out / MANIFEST_NAME
    try:
        stored = json.loads(manifest_path.read_text(encoding="utf-8"))
        seed = int(stored["seed"]) if args.seed is None else args.seed
    except FileNotFoundError:
        return _error(
            f"no stored manifest at {str(manifest_path)!r}: run `slm-dispatch data` first"
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return _error(f"cannot read the stored manifest {str(manifest_path)!r}: {exc}")
    problems = verify(out)
    with tempfile.TemporaryDirectory(prefix="slm-dispatch-data-check-") as tmp:
        fresh = generate(seed, Path(tmp), scale=float(stored.get("scale", 1.0)))
    for specialist in SPECIALISTS_WITH_DATA:
        for split in SPLITS:
            try:
                old = stored["specialists"][specialist][split]["sha256"]
            except (KeyError, TypeError):
                old = None
            new = fresh["specialists"][specialist][split]["sha256"]
            if old != new:
                problems.append(f"{specialist}/{split}.jsonl: regenerated file differs")
    if not problems and fresh != stored:
        problems.append("the regenerated manifest differs from the stored one")
    for problem in problems:
        print(f"slm-dispatch data --check: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"the datasets in {out} are what seed {seed} generates")
    return 0
