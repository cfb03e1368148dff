"""Checking intents and making records: :func:`generate`, :func:`report` and :func:`main`.

Every composed target is checked with
:meth:`~tools.salesforce.SalesforceClient.validate_action` (its normal form must be the
target itself) and the reads are run on the org; the writes are validated only. Each kept
intent is realised as two to four requests. :func:`main` is the command line.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from finetune.engine.__main__ import GIVE_UP_AFTER, REQUESTS_PER_INTENT, write_jsonl
from finetune.engine.phrasing import MAX_REQUEST, STYLES
from finetune.engine.salesforce.compose import Composer
from finetune.engine.salesforce.intents import (
    ACTION_OF,
    FAMILIES,
    Intent,
    _ids_of,
    _next_family,
)
from finetune.engine.salesforce.phrasing import realise
from finetune.engine.salesforce.profile import OrgProfile, read_org
from tools.salesforce import (
    DEFAULT_OBJECTS,
    ActionRequest,
    SalesforceClient,
    SalesforceError,
    SoqlValidationError,
)

GOLD_ROW_LIMIT: Final = 2000
"""Most rows a read returns when it is checked (``gold_records`` counts them)."""


@dataclass
class _Engine:
    """Composes, checks and realises records for one org."""

    client: SalesforceClient
    profile: OrgProfile
    rng: random.Random
    progress: bool = False
    drops: Counter[str] = field(default_factory=Counter)
    targets: set[str] = field(default_factory=set)
    requests: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        """Set up the composer on the same random source."""
        self.composer = Composer(self.profile, self.rng, self.targets)

    def check(self, intent: Intent) -> int | str:
        """``gold_records`` for a valid target, or why it is dropped."""
        request = ActionRequest.model_validate({"action": intent["action"]})
        action = request.action
        try:
            normal = self.client.validate_action(action)
        except SoqlValidationError as exc:
            return f"rejected by validate_action ({exc.code})"
        except SalesforceError as exc:
            return f"failed on the org ({exc.code})"
        if normal.model_dump(mode="json") != action.model_dump(mode="json"):
            return "not in validate_action's normal form"
        if intent["family"] in ("create", "update", "delete"):
            return 1
        try:
            result = self.client.run(action, row_limit=GOLD_ROW_LIMIT)
        except SoqlValidationError as exc:
            return f"rejected by the org ({exc.code})"
        except SalesforceError as exc:
            return f"failed on the org ({exc.code})"
        if not result.rows:
            return "no records"
        if result.columns == ["COUNT()"]:
            return "count of no records (0)" if result.rows == [[0]] else 1
        if len(result.rows) == 1 and all(value is None for value in result.rows[0]):
            return "aggregate over no records (null)"
        return len(result.rows)

    def fill(self, name: str, count: int) -> list[dict[str, Any]]:
        """Records for split ``name`` until there are ``count`` (or no family yields more).

        The records are then shuffled, so that the requests of one intent are not adjacent,
        and numbered.
        """
        records: list[dict[str, Any]] = []
        made: Counter[str] = Counter()
        misses: Counter[str] = Counter()
        closed: set[str] = set()
        shown = -1
        while len(records) < count:
            family = _next_family(made, closed)
            if family is None:
                break
            intent = self.composer.compose(family)
            added = self._take(intent, records, count) if intent is not None else 0
            if added:
                made[family] += added
                misses[family] = 0
            else:
                misses[family] += 1
                if misses[family] >= GIVE_UP_AFTER:
                    closed.add(family)
            if self.progress and len(records) // 100 != shown:
                shown = len(records) // 100
                print(f"\r{name}: {len(records)}/{count}", end="", file=sys.stderr, flush=True)
        if self.progress:
            print(f"\r{name}: {len(records)}/{count}", file=sys.stderr)
        self.rng.shuffle(records)
        for index, record in enumerate(records):
            record["id"] = f"salesforce-{name}-{index:05d}"
        return records

    def _take(self, intent: Intent, records: list[dict[str, Any]], count: int) -> int:
        target = json.dumps({"action": intent["action"]})
        if target in self.targets:
            self.drops["repeated intent"] += 1
            return 0
        self.targets.add(target)
        outcome = self.check(intent)
        if isinstance(outcome, str):
            self.drops[outcome] += 1
            return 0
        ids = _ids_of(self.profile, intent["meaning"])
        wanted = self.rng.choice(REQUESTS_PER_INTENT)
        styles = self.rng.sample(STYLES, len(STYLES))
        made = 0
        for _ in range(wanted * 3):
            if made == wanted or len(records) >= count:
                break
            style = styles[made % len(styles)]
            request = realise(intent, self.profile, self.rng, style)
            if len(request) > MAX_REQUEST:
                self.drops["request over 300 characters"] += 1
                continue
            if request in self.requests:
                self.drops["repeated request"] += 1
                continue
            if not all(re.search(rf"\b{re.escape(i)}\b", request) for i in ids):
                self.drops["an Id not in the request"] += 1
                continue
            self.requests.add(request)
            records.append(
                {
                    "id": "",
                    "specialist": "salesforce",
                    "family": intent["family"],
                    "template": "-",
                    "entity": intent["entity"],
                    "request": request,
                    "target": target,
                    "gold_records": outcome,
                }
            )
            made += 1
        return made


def default_objects(client: SalesforceClient) -> list[str]:
    """The objects to cover: those the client allows, else :data:`DEFAULT_OBJECTS`; sorted."""
    return sorted(client.allowed_objects or DEFAULT_OBJECTS)


def generate(
    client: SalesforceClient,
    *,
    count: int,
    seed: int,
    heldout_count: int = 0,
    objects: Iterable[str] | None = None,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]]:
    """Compose, check and realise the train split (and a held-out split first).

    Args:
        client: A client for the org; reads run on it, writes are only validated.
        count: Train records to make.
        seed: The random seed; with the same org data, the same seed gives the same records.
        heldout_count: Held-out records to make first (0: none); their intents never recur
            in the train split.
        objects: The objects to cover; :func:`default_objects` by default.
        progress: Write a progress line to stderr.

    Returns:
        The train records, the held-out records and the drops by reason.
    """
    rng = random.Random(seed)
    profile = read_org(client, objects if objects is not None else default_objects(client))
    engine = _Engine(client, profile, rng, progress=progress)
    heldout = engine.fill("heldout", heldout_count) if heldout_count > 0 else []
    train = engine.fill("train", count)
    return train, heldout, engine.drops


def report(
    splits: Mapping[str, Sequence[Mapping[str, Any]]],
    drops: Mapping[str, int],
    *,
    file: Any = None,
) -> None:
    """Print the records and intents per family of each split and the drops by reason."""
    out = file if file is not None else sys.stdout
    for name, records in splits.items():
        families = Counter(str(r["family"]) for r in records)
        intents = Counter(str(r["family"]) for r in {str(r["target"]): r for r in records}.values())
        kinds = Counter(ACTION_OF[str(r["family"])] for r in records)
        print(f"{name}: {len(records)} records from {sum(intents.values())} intents", file=out)
        for family in FAMILIES:
            print(
                f"  {family:<10} {families[family]:>6} records {intents[family]:>6} intents",
                file=out,
            )
        print("  by action: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())), file=out)
    print("dropped:", file=out)
    for reason, number in sorted(drops.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {reason:<44} {number:>6}", file=out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m finetune.engine.salesforce",
        description="Compose validated Salesforce training examples from an org's metadata "
        "(here: the offline sandbox org).",
    )
    parser.add_argument("--out", required=True, type=Path, help="the train JSONL file to write")
    parser.add_argument("--count", type=int, default=2000, help="train records (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--heldout", type=Path, help="also write a held-out split here")
    parser.add_argument(
        "--heldout-count", type=int, default=200, help="held-out records (default 200)"
    )
    parser.add_argument(
        "--objects", help="objects to cover, separated by commas (default: the allowed ones)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on the offline sandbox org; returns the exit status."""
    from finetune.datasets.common import SANDBOX_ANCHOR
    from tools.salesforce_sandbox import sandbox_client, start_sandbox

    args = _parser().parse_args(argv)
    if args.count < 1 or (args.heldout and args.heldout_count < 1):
        print("error: --count and --heldout-count must be at least 1", file=sys.stderr)
        return 2
    objects = [o.strip() for o in args.objects.split(",") if o.strip()] if args.objects else None
    started = time.perf_counter()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="slm-dispatch-sf-engine-") as work,
            start_sandbox(Path(work), anchor=SANDBOX_ANCHOR) as server,
        ):
            train, heldout, drops = generate(
                sandbox_client(server),
                count=args.count,
                seed=args.seed,
                heldout_count=args.heldout_count if args.heldout else 0,
                objects=objects,
                progress=True,
            )
    except SalesforceError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    try:
        write_jsonl(args.out, train)
        if args.heldout:
            write_jsonl(args.heldout, heldout)
    except OSError as err:
        print(f"error: cannot write the output: {err}", file=sys.stderr)
        return 1
    splits = {str(args.out): train}
    if args.heldout:
        splits[str(args.heldout)] = heldout
    report(splits, drops)
    print(f"time: {time.perf_counter() - started:.1f}s")
    if len(train) < args.count or (args.heldout and len(heldout) < args.heldout_count):
        print("warning: the org gave fewer records than asked for", file=sys.stderr)
    return 0
