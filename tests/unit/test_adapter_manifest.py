"""The adapters' manifest: what installing an adapter and recording an evaluation write."""

from __future__ import annotations

import json
from pathlib import Path

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
