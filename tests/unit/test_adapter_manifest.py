"""The adapters' manifest: what installing an adapter and recording an evaluation write."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from finetune.cli import install_adapter, read_manifest, record_eval
from runtime.paths import file_sha256

LOG = {
    "config": {"steps": 3, "rank": 8},
    "device": "cpu",
    "examples": 8,
    "skipped_too_long": 0,
    "tokens": 900,
    "seconds": 12.34,
    "losses": [[1, 1.5], [2, 0.9], [3, 0.4]],
    "heldout_loss_before": 1.6,
    "heldout_loss_after": 0.5,
}


def _install(tmp_path: Path, name: str, content: bytes) -> Path:
    source = tmp_path / f"{name}-run.gguf"
    source.write_bytes(content)
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF base")
    dataset = {"seed": 1, "train": {"count": 8, "sha256": "ab"}}
    return install_adapter(
        name, source, LOG, None, dataset=dataset, base_gguf=base, adapters_dir=tmp_path / "a"
    )


def test_install_copies_the_adapter_and_records_the_run(tmp_path: Path) -> None:
    target = _install(tmp_path, "sql", b"GGUF one")
    assert target == tmp_path / "a" / "sql.gguf" and target.read_bytes() == b"GGUF one"
    entry = read_manifest(tmp_path / "a" / "manifest.json")["adapters"]["sql"]
    assert entry["sha256"] == file_sha256(target)
    assert entry["base_model"]["sha256"] == file_sha256(tmp_path / "base.gguf")
    assert entry["training"]["first_loss"] == 1.5 and entry["training"]["last_loss"] == 0.4
    assert entry["training"]["seconds"] == 12.3 and entry["dataset"]["seed"] == 1


def test_record_eval_scores_only_the_adapters_it_measured(tmp_path: Path) -> None:
    sql = _install(tmp_path, "sql", b"GGUF sql")
    router = _install(tmp_path, "router", b"GGUF router")
    _install(tmp_path, "salesforce", b"GGUF salesforce")
    ok = {"status": "ok", "n": 4, "correct": 3, "accuracy": 0.75, "wall_s": 9.0}
    summary = {
        "date": "2026-11-26",
        "limit": 4,
        "models": {
            "adapters": {
                "sql": {"sha256": file_sha256(sql)[:12]},
                "router": {"sha256": "0" * 12},  # another file than the installed one
                "salesforce": {"sha256": "whatever"},
            }
        },
        "results": {
            "sql": {"fine-tuned/free": ok, "fine-tuned/constrained": {"status": "skipped"}},
            "router": {"fine-tuned/free": ok},
        },
    }
    recorded = record_eval(summary, tmp_path / "report.md", tmp_path / "a")
    assert recorded == ["sql"]
    adapters = json.loads((tmp_path / "a" / "manifest.json").read_text())["adapters"]
    scores = adapters["sql"]["eval"]["scores"]
    assert scores == {"fine-tuned/free": {"n": 4, "correct": 3, "accuracy": 0.75}}
    assert "eval" not in adapters["router"] and "eval" not in adapters["salesforce"]
    assert router.is_file()


def test_the_prompt_an_adapter_was_trained_on_is_recorded_and_read_back(tmp_path: Path) -> None:
    from runtime import adapter_prompt

    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF base")
    (tmp_path / "run.gguf").write_bytes(b"GGUF short")
    install_adapter(
        "sql",
        tmp_path / "run.gguf",
        LOG,
        None,
        dataset={"file": "train.jsonl", "train": {"count": 8, "sha256": "cd"}},
        base_gguf=base,
        adapters_dir=tmp_path / "a",
        prompt="request",
    )
    _install(tmp_path, "router", b"GGUF router")
    manifest = tmp_path / "a" / "manifest.json"
    assert read_manifest(manifest)["adapters"]["sql"]["prompt"] == "request"
    assert adapter_prompt("sql", manifest) == "request"
    assert adapter_prompt("router", manifest) == "schema"  # recorded so by default
    assert adapter_prompt("salesforce", manifest) == "schema"  # not installed
    assert adapter_prompt("sql", tmp_path / "missing.json") == "schema"
    assert adapter_prompt("sql") == "request"  # the shipped SQL adapter learnt its schema
    assert adapter_prompt("router") == "schema"


def test_an_adapter_trained_on_the_request_alone_is_sent_no_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runtime.capabilities
    from finetune.sft import sft_records
    from specialists.sql import schema_shown

    example = {"id": "x", "request": "How many customers are there?", "target": "SELECT 1"}
    (with_schema,) = sft_records("sql", [example])
    (alone,) = sft_records("sql", [example], prompt="request")
    assert "CREATE TABLE" in with_schema["turns"][0][1]
    assert "CREATE TABLE" not in alone["turns"][0][1] and "schema:" not in alone["turns"][0][1]
    assert alone["turns"][-1] == ["user", example["request"]]
    with pytest.raises(ValueError, match="prompt must be one of"):
        sft_records("sql", [example], prompt="digest")

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"adapters": {"sql": {"prompt": "schema"}}}))
    monkeypatch.setattr(runtime.capabilities, "ADAPTER_MANIFEST", manifest)
    assert schema_shown(fewshot=False) and schema_shown(fewshot=True)
    manifest.write_text(json.dumps({"adapters": {"sql": {"prompt": "request"}}}))
    monkeypatch.setattr(runtime.capabilities, "ADAPTER_MANIFEST", manifest)
    assert not schema_shown(fewshot=False) and schema_shown(fewshot=True)


def test_training_examples_from_a_file_are_checked_line_by_line(tmp_path: Path) -> None:
    from finetune.cli import read_examples

    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "a", "request": "q?", "target": "SELECT 1"}\n\n')
    assert read_examples(good) == [{"id": "a", "request": "q?", "target": "SELECT 1"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "request": "q?", "target": "SELECT 1"}\n{"id": "b"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2: needs the strings id, request and target"):
        read_examples(bad)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    with pytest.raises(ValueError, match="broken.jsonl:1: not JSON"):
        read_examples(broken)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="holds no examples"):
        read_examples(empty)


def test_models_status_says_whether_the_sql_adapter_fits_the_database(
    demo_db: Path, tmp_path: Path
) -> None:
    from graph.models_cli import schema_lines

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    (same,) = schema_lines(str(demo_db))
    assert "trained for the schema of" in same
    (warning,) = schema_lines(str(other))
    assert warning.strip().startswith("warning: the sql adapter was trained for schema")
    assert f"slm-dispatch train sql --database {other} --install" in warning
    (unreadable,) = schema_lines(str(tmp_path / "missing.sqlite"))
    assert "cannot be read" in unreadable
