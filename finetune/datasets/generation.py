"""Generation of the datasets, their files and manifest; reading and verifying them."""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finetune.datasets.common import (
    DATA_DIR,
    DEFAULT_SEED,
    ENTITY_SEPARATOR,
    GENERATOR_VERSION,
    HELDOUT_SIZE,
    MANIFEST_NAME,
    NO_ENTITY,
    SANDBOX_ANCHOR,
    SPECIALISTS_WITH_DATA,
    SPLITS,
    TRAIN_SIZE,
    _HeldOut,
    _select,
    _split_pools,
    _SplitResult,
)
from finetune.datasets.router import (
    _SUMMARY_CLAUSES,
    _TEXTS,
    _router_checker,
    _router_clauses,
    _router_split_pools,
    _router_texts,
)
from finetune.datasets.salesforce import _register_sf_entities, _sf_checker, _sf_families
from finetune.datasets.salesforce_domain import _read_sf_domain
from finetune.datasets.salesforce_writes import (
    WRITE_HELDOUT_SIZE,
    WRITE_TRAIN_SIZE,
    _read_sf_write_domain,
    _register_sf_write_entities,
    _sf_write_checker,
    _sf_write_families,
)
from finetune.datasets.sql import _register_sql_entities, _sql_checker, _sql_families
from finetune.datasets.sql_domain import _read_sql_domain
from finetune.datasets.summarize import summarize_results
from runtime.paths import file_sha256

# ------------------------------------------------------------------------------------------
# Generation, files and manifest
# ------------------------------------------------------------------------------------------


def _examples(
    specialist: str, split: str, result: _SplitResult, rng: random.Random, start: int = 0
) -> list[dict[str, Any]]:  # noqa: E501
    rows = list(result.examples)
    rng.shuffle(rows)
    examples = []
    for index, (candidate, checked) in enumerate(rows, start=start):
        examples.append(
            {
                "id": f"{specialist}-{split}-{index:05d}",
                "specialist": specialist,
                "family": candidate.family,
                "template": candidate.template,
                "entity": ENTITY_SEPARATOR.join(candidate.entity) or NO_ENTITY,
                "request": candidate.request,
                "target": candidate.target,
                **checked.extra,
            }
        )
    return examples


def _write_jsonl(path: Path, examples: Sequence[Mapping[str, Any]]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(example, ensure_ascii=False) + "\n" for example in examples)
    path.write_text(data, encoding="utf-8")
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def generate(
    seed: int = DEFAULT_SEED,
    out_dir: Path = DATA_DIR,
    progress: bool = True,
    *,
    scale: float = 1.0,
) -> dict[str, Any]:
    """Generate, check and write the datasets of :data:`SPECIALISTS_WITH_DATA`.

    Builds a fresh demo database and starts a private sandbox org (in a temporary
    directory), writes ``<specialist>/train.jsonl`` and ``<specialist>/heldout.jsonl`` under
    ``out_dir`` and then the manifest.

    Args:
        seed: Seed of every random choice; the same seed gives byte-identical files.
        out_dir: Where the files go; created if missing.
        progress: Report each specialist's counts on stderr.
        scale: Multiplies the example counts (tests use a small scale).

    Returns:
        The manifest that was written.

    Raises:
        ValueError: ``scale`` is not positive.
        OSError: ``out_dir`` cannot be written.
    """
    from tools.demo_db import DEFAULT_SEED as DEMO_SEED
    from tools.demo_db import GENERATOR_VERSION as DEMO_VERSION
    from tools.demo_db import create_sqlite_db
    from tools.salesforce_sandbox import sandbox_client, start_sandbox
    from tools.salesforce_sandbox.seed import SEED as SANDBOX_SEED
    from tools.sql import SqlDatabase

    if not scale > 0:
        raise ValueError("scale must be > 0")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    heldout = _HeldOut(random.Random(f"{seed}/heldout"))
    train_size = max(1, round(TRAIN_SIZE * scale))
    heldout_size = max(1, round(HELDOUT_SIZE * scale))
    results: dict[str, dict[str, _SplitResult]] = {}
    writes: dict[str, _SplitResult] = {}

    with tempfile.TemporaryDirectory(prefix="slm-dispatch-data-") as work:
        db_path = create_sqlite_db(Path(work) / "demo.sqlite")
        sql_domain = _read_sql_domain(db_path)
        with start_sandbox(Path(work) / "sandbox", anchor=SANDBOX_ANCHOR) as server:
            client = sandbox_client(server)
            sf_domain = _read_sf_domain(client)

            _register_sql_entities(heldout, sql_domain)
            _register_sf_entities(heldout, sf_domain)
            heldout.register_entities("summary", [str(i) for i in range(len(_SUMMARY_CLAUSES))])
            heldout.register_entities("text", [str(i) for i in range(len(_TEXTS))])

            for specialist in ("sql", "salesforce"):
                begun = time.perf_counter()
                rng = random.Random(f"{seed}/{specialist}")
                if specialist == "sql":
                    families = _sql_families(sql_domain, rng)
                    check, close = _sql_checker(db_path)
                else:
                    families = _sf_families(sf_domain, rng)
                    check, close = _sf_checker(client), _nothing
                train_pool, held_pool = _split_pools(specialist, families, heldout)
                try:
                    results[specialist] = {
                        "train": _select(train_pool, train_size, rng, check),
                        "heldout": _select(held_pool, heldout_size, rng, check),
                    }
                finally:
                    close()
                _report(progress, specialist, results[specialist], time.perf_counter() - begun)

            # Writes last, with their own random streams (the reads, the router and the sql
            # data stay as they were): they change the org, which no read is checked on after.
            begun = time.perf_counter()
            rng = random.Random(f"{seed}/salesforce/write")
            write_domain = _read_sf_write_domain(client, sf_domain)
            write_families = _sf_write_families(write_domain, rng)
            held_rng = random.Random(f"{seed}/salesforce/write/heldout")

            def register_writes() -> None:
                _register_sf_write_entities(heldout, write_domain)
                train_pool, held_pool = _split_pools("salesforce", write_families, heldout)
                check = _sf_write_checker(client)
                writes["train"] = _select(
                    train_pool, max(1, round(WRITE_TRAIN_SIZE * scale)), rng, check
                )
                writes["heldout"] = _select(
                    held_pool, max(1, round(WRITE_HELDOUT_SIZE * scale)), rng, check
                )

            heldout.register_entities_from(held_rng, register_writes)
            _report(progress, "salesforce writes", writes, time.perf_counter() - begun)

        begun = time.perf_counter()
        rng = random.Random(f"{seed}/router")
        texts = _router_texts(sql_domain, sf_domain, rng)
        train_clauses, held_clauses = _router_clauses(heldout, results, texts)
        train_pool, held_pool = _router_split_pools(
            heldout, train_clauses, held_clauses, scale, rng
        )
        check = _router_checker()
        results["router"] = {
            "train": _select(train_pool, train_size, rng, check),
            "heldout": _select(held_pool, heldout_size, rng, check),
        }
        _report(progress, "router", results["router"], time.perf_counter() - begun)

        # The summariser last, on the sql questions, with random streams of its own.
        begun = time.perf_counter()
        with SqlDatabase.open(str(db_path)) as database:
            results["summarize"] = summarize_results(
                database, results["sql"], heldout, seed, scale=scale
            )
        _report(progress, "summarize", results["summarize"], time.perf_counter() - begun)

    manifest: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "scale": scale,
        "sources": {
            "demo_db": {"seed": DEMO_SEED, "generator_version": DEMO_VERSION},
            "salesforce_sandbox": {"seed": SANDBOX_SEED, "anchor": SANDBOX_ANCHOR.isoformat()},
        },
        "heldout_entities": heldout.heldout_entities(),
        "specialists": {},
    }
    for specialist in SPECIALISTS_WITH_DATA:
        rng = random.Random(f"{seed}/{specialist}/order")
        entry: dict[str, Any] = {"heldout_templates": heldout.heldout_templates(specialist)}
        for split in SPLITS:
            result = results[specialist][split]
            examples = _examples(specialist, split, result, rng)
            if specialist == "salesforce":
                write_rng = random.Random(f"{seed}/salesforce/write/order/{split}")
                write = writes[split]
                examples += _examples(specialist, split, write, write_rng, start=len(examples))
                result = _SplitResult(
                    result.examples + write.examples, result.dropped + write.dropped
                )
            relative = f"{specialist}/{split}.jsonl"
            digest = _write_jsonl(out_dir / relative, examples)
            entry[split] = {
                "file": relative,
                "count": len(examples),
                "sha256": digest,
                "families": dict(sorted(Counter(e["family"] for e in examples).items())),
                "dropped": {
                    "count": sum(result.dropped.values()),
                    "reasons": dict(sorted(result.dropped.items())),
                },
            }
        manifest["specialists"][specialist] = entry
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    _say(progress, f"wrote {out_dir} in {time.perf_counter() - started:.1f} s")
    return manifest


def _nothing() -> None:
    return None


def _report(
    progress: bool, specialist: str, result: Mapping[str, _SplitResult], seconds: float
) -> None:  # noqa: E501
    counts = ", ".join(f"{split} {len(r.examples)}" for split, r in result.items())
    dropped = sum(sum(r.dropped.values()) for r in result.values())
    _say(progress, f"{specialist}: {counts} (dropped {dropped}) in {seconds:.1f} s")


def load_examples(specialist: str, split: str, data_dir: Path = DATA_DIR) -> list[dict[str, Any]]:
    """Read the examples of one specialist and split.

    Args:
        specialist: One of :data:`SPECIALISTS_WITH_DATA`.
        split: ``"train"`` or ``"heldout"``.
        data_dir: The data directory (the committed one by default).

    Returns:
        The examples, in file order, as dicts (keys ``id``, ``specialist``, ``family``,
        ``template``, ``entity``, ``request``, ``target`` and the gold fields).

    Raises:
        ValueError: Unknown specialist or split.
        FileNotFoundError: The file has not been generated.
    """
    if specialist not in SPECIALISTS_WITH_DATA:
        raise ValueError(
            f"no dataset for specialist {specialist!r}: expected one of "
            f"{', '.join(SPECIALISTS_WITH_DATA)}"
        )
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    path = Path(data_dir) / specialist / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"no {split} examples for {specialist} at {path}: run `slm-dispatch data` to "
            "generate them"
        )
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def verify(data_dir: Path = DATA_DIR) -> list[str]:
    """Check the data files against the manifest's hashes and counts.

    Args:
        data_dir: The data directory (the committed one by default).

    Returns:
        One line per problem; empty when every file matches.
    """
    data_dir = Path(data_dir)
    path = data_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"no manifest at {path}"]
    except (OSError, ValueError) as exc:
        return [f"cannot read the manifest {path}: {exc}"]
    problems: list[str] = []
    specialists = manifest.get("specialists") or {}
    for specialist in SPECIALISTS_WITH_DATA:
        splits = specialists.get(specialist) or {}
        for split in SPLITS:
            entry = splits.get(split)
            if not entry:
                problems.append(f"the manifest lists no {specialist} {split} file")
                continue
            file = data_dir / entry["file"]
            if not file.is_file():
                problems.append(f"{entry['file']} is missing")
                continue
            if file_sha256(file) != entry["sha256"]:
                problems.append(f"{entry['file']}: sha256 differs from the manifest")
            with file.open(encoding="utf-8") as lines:
                count = sum(1 for line in lines if line.strip())
            if count != entry["count"]:
                problems.append(
                    f"{entry['file']}: {count} examples, the manifest says {entry['count']}"
                )
    return problems
