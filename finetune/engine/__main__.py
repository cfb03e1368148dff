"""Command line: ``python -m finetune.engine --database URL_OR_PATH --out FILE --count N --seed S``.

Reads the schema profile of the database, composes intents family by family, checks every
target on the database, realises each kept intent as several requests, and writes JSONL
records in the format of ``finetune/data/sql/train.jsonl``. With ``--heldout FILE`` a
held-out split is written first, from intents (targets) that the train file then never
uses. A progress line goes to stderr; at the end, the counts per family and the drops by
reason.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from finetune.engine.compose import FAMILIES, Composer, Intent
from finetune.engine.decline import decline_records
from finetune.engine.phrasing import MAX_REQUEST, realise
from finetune.engine.profile import SchemaProfile, read_profile
from finetune.engine.repair import repair_records
from tools.sql import SqlDatabase, SqlExecutionError, SqlToolError, SqlValidationError

GOLD_ROWS = 20
"""Most result rows stored with a record (as the hand-written SQL data stores)."""

TIMEOUT_S = 10.0
"""Statement timeout for each target."""

REQUESTS_PER_INTENT = (2, 3, 3, 4)
"""How many requests one intent is realised as (drawn per intent)."""

GIVE_UP_AFTER = 400
"""A family that yields nothing new this many draws in a row is left out for the rest."""


@dataclass
class Split:
    """The records of one split and what was dropped on the way."""

    name: str
    records: list[dict[str, Any]] = field(default_factory=list)
    families: Counter[str] = field(default_factory=Counter)
    intents: Counter[str] = field(default_factory=Counter)


def check(database: SqlDatabase, target: str) -> tuple[list[str], list[list[Any]]] | str:
    """Validate and execute ``target``; its columns and rows, or why it is dropped."""
    try:
        result = database.run(
            target, read_dialect="sqlite", row_limit=GOLD_ROWS, timeout_s=TIMEOUT_S
        )
    except SqlValidationError:
        return "rejected by validate"
    except SqlExecutionError:
        return "failed to execute"
    if not result.rows:
        return "no rows"
    if len(result.rows) == 1 and all(value is None for value in result.rows[0]):
        return "aggregate over no rows (NULL)"
    if target.startswith("SELECT COUNT(") and " GROUP BY " not in target:
        if result.rows == [[0]]:
            return "count of no rows (0)"
    return list(result.columns), result.rows


@dataclass
class Engine:
    """Composes, checks and realises records for one database."""

    database: SqlDatabase
    profile: SchemaProfile
    rng: random.Random
    drops: Counter[str] = field(default_factory=Counter)
    targets: set[str] = field(default_factory=set)
    requests: set[str] = field(default_factory=set)
    progress: bool = True

    def __post_init__(self) -> None:
        """Set up the composer on the same random source."""
        self.composer = Composer(self.profile, self.rng)
        self._misses: Counter[str] = Counter()
        self._exhausted: set[str] = set()

    def _next_family(self, split: Split) -> str | None:
        open_families = [f for f in FAMILIES if f not in self._exhausted]
        if not open_families:
            return None
        return min(open_families, key=lambda f: (split.families[f], FAMILIES.index(f)))

    def fill(self, split: Split, count: int) -> None:
        """Add records to ``split`` until it holds ``count`` (or no family yields more).

        The records are then shuffled, so that the requests of one intent are not adjacent,
        and numbered.
        """
        shown = -1
        while len(split.records) < count:
            family = self._next_family(split)
            if family is None:
                break
            intent = self.composer.compose(family)
            if intent is None or not self._take(intent, split, count):
                self._misses[family] += 1
                if self._misses[family] >= GIVE_UP_AFTER:
                    self._exhausted.add(family)
            else:
                self._misses[family] = 0
            if self.progress and len(split.records) // 250 != shown:
                shown = len(split.records) // 250
                print(f"\r{split.name}: {len(split.records)}/{count}", end="", file=sys.stderr)
        if self.progress:
            print(f"\r{split.name}: {len(split.records)}/{count}", file=sys.stderr)
        self.rng.shuffle(split.records)
        for index, record in enumerate(split.records):
            record["id"] = f"sql-{split.name}-{index:05d}"

    def _take(self, intent: Intent, split: Split, count: int) -> bool:
        if intent.target in self.targets:
            self.drops["repeated intent"] += 1
            return False
        self.targets.add(intent.target)
        outcome = check(self.database, intent.target)
        if isinstance(outcome, str):
            self.drops[outcome] += 1
            return False
        columns, rows = outcome
        wanted = self.rng.choice(REQUESTS_PER_INTENT)
        made = 0
        for _ in range(wanted * 3):
            if made == wanted or len(split.records) >= count:
                break
            request = realise(intent, self.profile, self.rng)
            if len(request) > MAX_REQUEST:
                self.drops["request over 300 characters"] += 1
                continue
            if request in self.requests:
                self.drops["repeated request"] += 1
                continue
            self.requests.add(request)
            split.records.append(
                {
                    "id": "",
                    "specialist": "sql",
                    "family": intent.family,
                    "template": intent.template,
                    "entity": intent.entity,
                    "request": request,
                    "target": intent.target,
                    "gold_columns": columns,
                    "gold_rows": rows,
                }
            )
            split.families[intent.family] += 1
            made += 1
        if made:
            split.intents[intent.family] += 1
        return made > 0


def write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Write one JSON object a line, keys in record order, UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def generate(
    database: SqlDatabase,
    *,
    count: int,
    seed: int,
    heldout_count: int = 0,
    declines: int = 0,
    repairs: int = 0,
    progress: bool = False,
) -> tuple[Split, Split | None, Counter[str]]:
    """Compose the train split (and a held-out split first, when ``heldout_count``).

    ``declines`` more train records are requests the database cannot answer, whose target
    is the decline (:mod:`finetune.engine.decline`); ``repairs`` more are repair episodes
    built from the train records (:mod:`finetune.engine.repair`).

    Returns:
        The train split, the held-out split (None without one) and the drops by reason.
    """
    rng = random.Random(seed)
    engine = Engine(database, read_profile(database), rng, progress=progress)
    heldout = None
    if heldout_count:
        heldout = Split("heldout")
        engine.fill(heldout, heldout_count)
    train = Split("train")
    engine.fill(train, count)
    if declines:
        records = decline_records(database, rng, declines, prefix="sql-engine-decline")
        train.records += records
        train.families["decline"] += len(records)
    if repairs:
        episodes, dropped = repair_records(
            database, train.records, rng, repairs, prefix="sql-engine-repair"
        )
        train.records += episodes
        train.families["repair"] += len(episodes)
        engine.drops.update({f"repair {reason}": n for reason, n in dropped.items()})
    return train, heldout, engine.drops


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m finetune.engine",
        description="Compose validated SQL training examples from a live database's schema.",
    )
    parser.add_argument("--database", required=True, help="a SQLite path or a postgresql:// URL")
    parser.add_argument("--out", required=True, type=Path, help="the train JSONL file to write")
    parser.add_argument("--count", type=int, default=2000, help="train records (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--heldout", type=Path, help="also write a held-out split here")
    parser.add_argument(
        "--heldout-count", type=int, default=200, help="held-out records (default 200)"
    )
    parser.add_argument(
        "--declines",
        type=int,
        default=0,
        help="also this many train records the database cannot answer (target: the decline)",
    )
    parser.add_argument(
        "--repairs",
        type=int,
        default=0,
        help="also this many repair episodes (a wrong query, its real error, then the gold)",
    )
    return parser


def _report(name: str, split: Split, file: TextIO) -> None:
    print(
        f"{name}: {len(split.records)} records from {sum(split.intents.values())} intents",
        file=file,
    )
    extra = tuple(name for name in ("decline", "repair") if split.families[name])
    for family in (*FAMILIES, *extra):
        records, intents = split.families[family], split.intents[family]
        print(f"  {family:<13} {records:>6} records {intents:>6} intents", file=file)


def report(
    train: Split, heldout: Split | None, drops: Counter[str], *, file: TextIO | None = None
) -> None:
    """Print the records per family of each split and the drops by reason (to stdout)."""
    file = file if file is not None else sys.stdout
    _report(train.name, train, file)
    if heldout is not None:
        _report(heldout.name, heldout, file)
    print("dropped:", file=file)
    for reason, number in sorted(drops.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {reason:<32} {number:>6}", file=file)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.count < 1 or (args.heldout and args.heldout_count < 1):
        print("error: --count and --heldout-count must be at least 1", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        with SqlDatabase.open(args.database) as database:
            train, heldout, drops = generate(
                database,
                count=args.count,
                seed=args.seed,
                heldout_count=args.heldout_count if args.heldout else 0,
                declines=max(0, args.declines),
                repairs=max(0, args.repairs),
                progress=True,
            )
    except SqlToolError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    try:
        write_jsonl(args.out, train.records)
        if heldout is not None:
            write_jsonl(args.heldout, heldout.records)
    except OSError as err:
        print(f"error: cannot write the output: {err}", file=sys.stderr)
        return 1
    train.name = str(args.out)
    if heldout is not None:
        heldout.name = str(args.heldout)
    report(train, heldout, drops)
    print(f"time: {time.perf_counter() - started:.1f}s")
    short = len(train.records) < args.count or (
        heldout is not None and len(heldout.records) < args.heldout_count
    )
    if short:
        print("warning: the schema gave fewer records than asked for", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
