"""``slm-dispatch train``: fine-tune one specialist, export its adapter, check the export.

The run: the specialist's training examples (:mod:`finetune.datasets`) become chats
(:mod:`finetune.sft`), LoRA is trained on them (:mod:`finetune.train`), the adapter is
exported to GGUF (:mod:`finetune.export`) and compared with the trained model in llama.cpp
(:mod:`finetune.faithful`). ``--install`` then puts the GGUF where the specialist's
Modelfile names it (``ollama/adapters/<specialist>.gguf``) and records the run in
``ollama/adapters/manifest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from runtime.paths import BASE_MODEL_FILENAME, MODELS_DIR, PROJECT_ROOT, file_sha256
from tools.sql import SqlToolError

__all__ = [
    "ADAPTERS_DIR",
    "CPU_CONFIG",
    "GPU_CONFIG",
    "add_train_command",
    "install_adapter",
    "read_manifest",
    "record_eval",
]

ADAPTERS_DIR = PROJECT_ROOT / "ollama" / "adapters"
"""The shipped GGUF adapters, one per fine-tuned specialist, and their manifest."""

MANIFEST = ADAPTERS_DIR / "manifest.json"

CPU_CONFIG: dict[str, Any] = {"steps": 250, "batch_size": 8, "warmup_steps": 15}
"""Defaults on the CPU: 2,000 examples, 40 to 65 minutes per specialist on 2 cores at the
~140 training tokens/s measured there (examples average 160 to 280 tokens)."""

GPU_CONFIG: dict[str, Any] = {"steps": 600, "batch_size": 16, "warmup_steps": 30}
"""Defaults on a GPU: about three passes over the training set."""

TRAIN_HELP = "fine-tune a specialist (LoRA), export and check its GGUF adapter"
TRAIN_DESCRIPTION = """\
Fine-tune SPECIALIST (router, sql, salesforce or summarize) with LoRA on its training set,
starting from the base model GGUF that `slm-dispatch setup` placed; export the adapter to
GGUF and check that llama.cpp with the export decodes like the trained model (greedy
outputs and logits on held-out prompts).

Needs the training extras: pip install torch==2.13.0 && pip install -e '.[train]'.
Uses the GPU when torch sees one. A checkpoint is written every --save-every steps;
--resume continues an interrupted run from it. The run's files go to --out (default
<data dir>/training/SPECIALIST); --install copies the adapter into ollama/adapters/, where
the specialist's Modelfile (ADAPTER line) and the embedded runtime find it."""


def read_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    """The adapters' manifest (empty when there is none yet)."""
    if not path.is_file():
        return {"adapters": {}}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def install_adapter(
    specialist: str,
    gguf_path: Path,
    train_log: dict[str, Any],
    faithful: dict[str, Any] | None,
    *,
    dataset: dict[str, Any],
    base_gguf: Path,
    adapters_dir: Path = ADAPTERS_DIR,
    prompt: str = "schema",
    schema_sha256: str | None = None,
) -> Path:
    """Copy the adapter into ``adapters_dir`` and record the run in its manifest.

    ``prompt`` is the chat it was trained on (``schema`` or ``request``), which the runtime
    then sends it (:func:`runtime.adapter_prompt`); ``schema_sha256`` the digest of the
    database schema a SQL adapter was trained for (:func:`specialists.sql.schema_digest`),
    which the runtime compares with the live one.

    Returns:
        The installed adapter file.
    """
    adapters_dir.mkdir(parents=True, exist_ok=True)
    target = adapters_dir / f"{specialist}.gguf"
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(gguf_path, tmp)
    tmp.replace(target)
    manifest_path = adapters_dir / "manifest.json"
    manifest = read_manifest(manifest_path)
    losses = train_log.get("losses") or []
    manifest.setdefault("adapters", {})[specialist] = {
        "file": target.name,
        "sha256": file_sha256(target),
        "bytes": target.stat().st_size,
        "base_model": {"file": base_gguf.name, "sha256": file_sha256(base_gguf)},
        "prompt": prompt,
        **({"schema": {"sha256": schema_sha256}} if schema_sha256 else {}),
        "dataset": dataset,
        "training": {
            "config": train_log.get("config"),
            "device": train_log.get("device"),
            "examples": train_log.get("examples"),
            "skipped_too_long": train_log.get("skipped_too_long"),
            "tokens": train_log.get("tokens"),
            "seconds": round(float(train_log.get("seconds") or 0.0), 1),
            "first_loss": losses[0][1] if losses else None,
            "last_loss": losses[-1][1] if losses else None,
            "heldout_loss_before": train_log.get("heldout_loss_before"),
            "heldout_loss_after": train_log.get("heldout_loss_after"),
        },
        "faithful_export": faithful,
        "installed": dt.date.today().isoformat(),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return target


def record_eval(
    summary: dict[str, Any], report: Path, adapters_dir: Path = ADAPTERS_DIR
) -> list[str]:
    """Copy an evaluation's scores into the manifest, next to the adapters it measured.

    An adapter is scored only when its file is the one the evaluation loaded (same
    sha256 prefix); the others are left as they are.

    Returns:
        The specialists whose scores were recorded.
    """
    manifest_path = adapters_dir / "manifest.json"
    manifest = read_manifest(manifest_path)
    evaluated = (summary.get("models") or {}).get("adapters") or {}
    recorded = []
    for specialist, entry in manifest.get("adapters", {}).items():
        measured = evaluated.get(specialist) or {}
        results = (summary.get("results") or {}).get(specialist) or {}
        if not results or not measured:
            continue
        if not entry["sha256"].startswith(str(measured.get("sha256"))):
            continue
        scores = {
            config: {
                key: round(value, 4) if isinstance(value, float) else value
                for key, value in metrics.items()
                if key not in ("status", "wall_s", "model_errors")
            }
            for config, metrics in results.items()
            if metrics.get("status") == "ok"
        }
        entry["eval"] = {
            "date": summary.get("date"),
            "report": display(report),
            "heldout_items": summary.get("limit"),
            "scores": scores,
        }
        recorded.append(specialist)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return recorded


def display(path: Path) -> str:
    """``path`` relative to the project when it is inside it."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def faithful_summary(report: Any) -> dict[str, Any]:
    """The figures of a :class:`finetune.faithful.FaithfulReport` kept in the manifest."""
    return {
        "faithful": report.faithful,
        "prompts": len(report.prompts),
        "same_greedy_outputs": report.same_outputs,
        "near_tie_divergences": report.near_tie_divergences,
        "noise_floor": round(report.noise_floor, 4),
        "max_logit_diff_with_adapter": round(report.max_lora_diff, 4),
        "min_adapter_effect": round(report.min_adapter_effect, 4),
        "problems": report.problems,
    }


def dataset_summary(specialist: str) -> dict[str, Any]:
    """Counts and hashes of the specialist's dataset, from the datasets' manifest."""
    from finetune.datasets import DATA_DIR

    manifest = json.loads((DATA_DIR / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["specialists"][specialist]
    return {
        "seed": manifest.get("seed"),
        "train": {"count": entry["train"]["count"], "sha256": entry["train"]["sha256"]},
        "heldout": {"count": entry["heldout"]["count"], "sha256": entry["heldout"]["sha256"]},
    }


def read_examples(path: Path) -> list[dict[str, Any]]:
    """Examples from a JSONL file: one object with ``id``, ``request`` and ``target`` a line.

    Raises:
        OSError: The file cannot be read.
        ValueError: A line is not such an object (the message names the line).
    """
    examples = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not (
                isinstance(example, dict)
                and all(isinstance(example.get(key), str) for key in ("id", "request", "target"))
            ):
                raise ValueError(f"{path}:{number}: needs the strings id, request and target")
            examples.append(example)
    if not examples:
        raise ValueError(f"{path} holds no examples")
    return examples


def file_summary(path: Path, count: int) -> dict[str, Any]:
    """What the manifest records of a training file given with ``--examples``."""
    return {"file": path.name, "train": {"count": count, "sha256": file_sha256(path)}}


def engine_examples(
    database: str, out: Path, *, count: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Compose SQL examples from ``database`` with the data engine, and write them to ``out``.

    Returns:
        The train examples (with declines and repair episodes), the held-out examples
        (targets the train examples never use) and the database's schema text.
    """
    from finetune.engine.__main__ import generate, report, write_jsonl
    from tools.sql import SqlDatabase

    heldout_count = max(20, count // 10)
    with SqlDatabase.open(database) as handle:
        print(f"composing {count} examples from {database} …", file=sys.stderr)
        train_split, held_split, drops = generate(
            handle,
            count=count,
            seed=seed,
            heldout_count=heldout_count,
            declines=max(1, count // 25),
            repairs=max(1, count // 10),
            progress=True,
        )
        schema = handle.schema_text(sample_values=False)
    assert held_split is not None
    write_jsonl(out / "engine_train.jsonl", train_split.records)
    write_jsonl(out / "engine_heldout.jsonl", held_split.records)
    report(train_split, held_split, drops, file=sys.stderr)
    return train_split.records, held_split.records, schema


def heldout_accuracy(
    base: Path, adapter: Path, database: str, items: list[dict[str, Any]], *, prompt: str
) -> tuple[int, int]:
    """How many ``items`` the exported adapter answers with the gold rows (grammar decoding)."""
    from runtime.embedded import EmbeddedChatModel
    from specialists.sql import SQL, sql_grammar, strip_fences
    from tools.sql import SqlDatabase, SqlToolError

    model = EmbeddedChatModel(model_path=str(base), adapter_path=str(adapter), max_tokens=160)
    right = 0
    with SqlDatabase.open(database) as handle:
        grammar = sql_grammar(handle, "sqlite")
        schema = handle.schema_text(sample_values=False) if prompt == "schema" else ""
        for item in items:
            messages = SQL.messages(SQL.system(), item["request"], fewshot=False, schema=schema)
            sql = strip_fences(str(model.invoke(messages, grammar=grammar).content))
            try:
                rows = handle.run(sql, read_dialect="sqlite", row_limit=20).rows
            except SqlToolError:
                continue
            right += _same(rows, item.get("gold_rows") or [])
    return right, len(items)


def _same(rows: list[list[Any]], gold: list[list[Any]]) -> bool:
    def key(row: list[Any]) -> str:
        return repr([round(v, 2) if isinstance(v, float) else v for v in row])

    return sorted(map(key, rows)) == sorted(map(key, gold))


def _schema_sha256(database: str) -> str:
    from specialists.sql import schema_digest
    from tools.sql import SqlDatabase

    with SqlDatabase.open(str(database)) as handle:
        return schema_digest(handle)


def _error(message: str) -> int:
    print(f"slm-dispatch: error: {message}", file=sys.stderr)
    return 2


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``slm-dispatch train``."""
    missing = [name for name in ("torch", "transformers", "peft") if find_spec(name) is None]
    if missing:
        return _error(
            f"training needs torch, transformers and peft ({', '.join(missing)} missing): "
            "pip install torch==2.13.0 && pip install -e '.[train]'"
        )
    from finetune.datasets import load_examples
    from finetune.export import export_adapter
    from finetune.faithful import compare_export
    from finetune.sft import TRAINABLE, sft_records
    from finetune.train import TrainConfig, pick_device, train

    if args.specialist not in TRAINABLE:
        return _error(f"no dataset for {args.specialist!r}: choose one of {', '.join(TRAINABLE)}")
    base = MODELS_DIR / BASE_MODEL_FILENAME
    if not base.is_file():
        return _error(f"the base model {base} is missing: run `slm-dispatch setup`")
    try:
        device = pick_device(args.device)
    except ValueError as exc:
        return _error(str(exc))
    for name in ("steps", "batch_size", "save_every", "limit"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return _error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    values = dict(GPU_CONFIG if device == "cuda" else CPU_CONFIG)
    for name in ("steps", "batch_size", "learning_rate", "rank", "save_every", "seed"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    values["warmup_steps"] = min(values["warmup_steps"], max(1, values["steps"] // 10))
    config = TrainConfig(**values)

    if args.prompt == "request" and args.specialist != "sql":
        return _error("--prompt request applies to sql only (the others carry no schema)")
    if args.database is not None and (args.specialist != "sql" or args.examples is not None):
        return _error("--database trains sql on the engine's examples; give no --examples")
    out = args.out or Path(args.data_dir) / "training" / args.specialist
    database = args.database or str(Path(args.data_dir) / "demo.sqlite")
    prompt = args.prompt or ("request" if args.database is not None else "schema")
    schema_text = None
    try:
        if args.database is not None:
            examples, heldout, schema_text = engine_examples(
                args.database, out, count=args.count, seed=args.seed or 0
            )
        else:
            examples = (
                read_examples(args.examples)
                if args.examples is not None
                else load_examples(args.specialist, "train")
            )
            heldout = load_examples(args.specialist, "heldout")
    except (OSError, ValueError) as exc:
        return _error(f"cannot read the {args.specialist} dataset: {exc}")
    except SqlToolError as exc:
        return _error(f"cannot read the database: {exc.message}")
    if args.limit:
        examples = examples[: args.limit]
    evaluated = heldout[: args.eval]
    heldout = heldout[: args.heldout_loss_examples]

    def records_of(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if schema_text is not None:
            return sft_records(args.specialist, items, prompt=prompt, schema_text=schema_text)
        return sft_records(args.specialist, items, database_path=Path(database), prompt=prompt)

    held_records = records_of(heldout)
    if args.adopt is not None:
        out = args.adopt
        if not (out / "adapter" / "adapter_model.safetensors").is_file():
            return _error(f"{out} holds no adapter/adapter_model.safetensors from a training run")
        if not (out / "train_log.json").is_file():
            return _error(f"{out} holds no train_log.json from a training run")
        log = json.loads((out / "train_log.json").read_text())
        print(f"adopting the run in {out} (trained on {log.get('device')})", file=sys.stderr)
    else:
        print(
            f"training {args.specialist}: {len(examples)} examples, {config.steps} steps of "
            f"{config.batch_size} on {device}; output in {out}",
            file=sys.stderr,
        )
        records = records_of(examples)
        result = train(
            base, records, out, config, heldout=held_records, device=device, resume=args.resume
        )
        print(
            f"trained in {result.seconds:.0f}s ({result.tokens_per_s:.0f} tokens/s); held-out "
            f"completion loss {result.heldout_loss_before} -> {result.heldout_loss_after}",
            file=sys.stderr,
        )
    gguf_path = export_adapter(
        out / "adapter", base, out / f"{args.specialist}.gguf", name=f"{args.specialist}-lora"
    )
    print(f"exported {gguf_path} ({gguf_path.stat().st_size:,} bytes)", file=sys.stderr)
    faithful = None
    if args.check:
        chats = [record["turns"] for record in held_records[: args.check]]
        report = compare_export(base, out / "adapter", gguf_path, chats)
        faithful = faithful_summary(report)
        (out / "faithful.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
        verdict = "faithful" if report.faithful else "NOT faithful"
        print(
            f"export check: {verdict}; {report.same_outputs}/{len(report.prompts)} identical "
            f"greedy outputs, max logit difference {report.max_lora_diff:.3f} "
            f"(noise floor {report.noise_floor:.3f})",
            file=sys.stderr,
        )
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        if not report.faithful:
            return 1
    if evaluated and args.specialist == "sql":
        right, total = heldout_accuracy(base, gguf_path, database, evaluated, prompt=prompt)
        print(
            f"held-out execution accuracy: {right}/{total} "
            f"({100 * right / max(total, 1):.1f}%; not hand-written)",
            file=sys.stderr,
        )
    if args.install:
        log = json.loads((out / "train_log.json").read_text())
        target = install_adapter(
            args.specialist,
            gguf_path,
            log,
            faithful,
            dataset=(
                file_summary(out / "engine_train.jsonl", len(examples))
                if args.database is not None
                else file_summary(args.examples, len(examples))
                if args.examples is not None
                else dataset_summary(args.specialist)
            ),
            base_gguf=base,
            prompt=prompt,
            schema_sha256=_schema_sha256(database) if args.specialist == "sql" else None,
        )
        print(f"installed {target}", file=sys.stderr)
    log = json.loads((out / "train_log.json").read_text())
    summary = {k: v for k, v in log.items() if k != "losses"}
    print(json.dumps({"adapter": str(gguf_path), **summary}, indent=2, default=str))
    return 0


def add_train_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``train`` on the CLI's sub-command parsers."""
    parser = subparsers.add_parser(
        "train",
        help=TRAIN_HELP,
        description=TRAIN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("specialist", help="router, sql, salesforce or summarize")
    parser.add_argument("--steps", type=int, help="optimizer steps (CPU 250, GPU 600)")
    parser.add_argument("--batch-size", type=int, help="examples per step (CPU 8, GPU 16)")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate (1e-3)")
    parser.add_argument("--rank", type=int, help="LoRA rank (8)")
    parser.add_argument("--seed", type=int, help="seed of the adapter and the data order")
    parser.add_argument("--save-every", type=int, help="steps between checkpoints (50)")
    parser.add_argument("--limit", type=int, help="train on the first N examples only")
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto"
    )
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument(
        "--examples",
        type=Path,
        metavar="JSONL",
        help="train on these examples (request and target per line, e.g. from "
        "`python -m finetune.engine`) instead of the committed dataset",
    )
    parser.add_argument(
        "--prompt",
        choices=["schema", "request"],
        help="sql: train on chats with the schema text (schema; the default for the committed "
        "dataset) or on the request alone (request: the schema is learnt; about a third of "
        "the tokens, the default with --database)",
    )
    parser.add_argument(
        "--database",
        metavar="URL_OR_PATH",
        help="sql: compose the examples from this SQLite file or postgresql:// database with "
        "the data engine (written to the run directory) and train for its schema",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=2000,
        help="with --database: train examples to compose (default 2000; a tenth more held out)",
    )
    parser.add_argument(
        "--eval",
        type=int,
        default=40,
        metavar="N",
        help="sql: execution accuracy of the export on N held-out examples (0: skip; default 40)",
    )
    parser.add_argument("--out", type=Path, help="run directory")
    parser.add_argument(
        "--adopt",
        type=Path,
        metavar="RUN_DIR",
        help="skip training: export, check and (--install) install the run in RUN_DIR, made "
        "by `python -m finetune.train` elsewhere (a GPU machine)",
    )
    parser.add_argument(
        "--check",
        type=int,
        default=8,
        metavar="N",
        help="compare the export with the trained model on N held-out prompts (0: skip)",
    )
    parser.add_argument(
        "--heldout-loss-examples",
        type=int,
        default=64,
        metavar="N",
        help="held-out examples whose loss is measured before and after (default 64)",
    )
    parser.add_argument(
        "--install",
        action="store_true",
        help="copy the adapter to ollama/adapters/ and record it in the manifest",
    )
    parser.set_defaults(func=cmd_train)
