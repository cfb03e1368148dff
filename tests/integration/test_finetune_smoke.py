"""Fine-tuning end to end on a tiny slice: train, resume, export, serve, check the export.

A few LoRA steps on eight SQL examples (CPU), so the adapter moves the model far enough for
the export check to mean something; then the GGUF export is loaded by llama.cpp through the
embedded runtime and compared with the trained model in transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from finetune.datasets import load_examples  # noqa: E402
from finetune.export import export_adapter  # noqa: E402
from finetune.faithful import compare_export  # noqa: E402
from finetune.sft import sft_records  # noqa: E402
from finetune.train import TrainConfig, train  # noqa: E402
from runtime.embedded import EmbeddedChatModel  # noqa: E402
from runtime.paths import BASE_MODEL_FILENAME, MODELS_DIR  # noqa: E402

pytestmark = pytest.mark.integration

BASE = MODELS_DIR / BASE_MODEL_FILENAME
CONFIG = dict(
    steps=8, batch_size=4, learning_rate=3e-3, warmup_steps=2, rank=8, alpha=16, save_every=4
)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    if not BASE.is_file():
        pytest.fail(f"{BASE} is missing: run `slm-dispatch setup`")
    return sft_records("sql", load_examples("sql", "train")[:8])


@pytest.fixture(scope="module")
def trained(records: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke") / "sql"
    result = train(BASE, records, out, TrainConfig(**CONFIG), heldout=records[:4], device="cpu")
    assert result.steps == 8 and len(result.losses) == 8
    assert result.heldout_loss_after is not None and result.heldout_loss_before is not None
    assert result.heldout_loss_after < result.heldout_loss_before / 2
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert not (out / "checkpoint").exists()
    return out


def test_interrupted_run_resumes_to_the_same_adapter(
    records: list[dict[str, Any]], trained: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file

    out = tmp_path / "sql"
    first = train(BASE, records, out, TrainConfig(**CONFIG), device="cpu", stop_after=5)
    assert first.steps == 5 and (out / "checkpoint" / "state.pt").is_file()
    assert not (out / "adapter").exists()
    second = train(BASE, records, out, TrainConfig(**CONFIG), device="cpu", resume=True)
    assert second.resumed_from == 5 and [s for s, _ in second.losses] == list(range(1, 9))

    straight = load_file(str(trained / "adapter" / "adapter_model.safetensors"))
    resumed = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert straight.keys() == resumed.keys()
    for name, value in straight.items():
        assert abs(value - resumed[name]).max() < 1e-5, name


def test_export_is_served_by_llama_cpp_and_matches_the_trained_model(
    records: list[dict[str, Any]], trained: Path
) -> None:
    gguf = export_adapter(trained / "adapter", BASE, trained / "sql.gguf")
    model = EmbeddedChatModel(model_path=str(BASE), adapter_path=str(gguf), max_tokens=48)
    from specialists.base import to_messages

    reply = model.invoke(to_messages(records[0]["turns"]))
    assert str(reply.content).startswith("SELECT")

    chats = [record["turns"] for record in records[:3]]
    report = compare_export(BASE, trained / "adapter", gguf, chats, max_new_tokens=24)
    assert report.faithful, report.problems
    assert all(check.tokens_match for check in report.prompts)
    assert report.same_outputs + report.near_tie_divergences == len(chats)
    assert report.min_adapter_effect > 10 * report.max_lora_diff


def test_export_check_catches_a_wrong_export(records: list[dict[str, Any]], trained: Path) -> None:
    wrong = export_adapter(trained / "adapter", BASE, trained / "unpermuted.gguf", permute=False)
    chats = [record["turns"] for record in records[:2]]
    report = compare_export(BASE, trained / "adapter", wrong, chats, max_new_tokens=8)
    assert not report.faithful
    assert any("logits differ" in problem for problem in report.problems)


def test_train_sql_for_another_database_composes_trains_exports_and_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from graph.cli import main
    from tests.unit.test_engine_sql import build_library

    library = build_library(tmp_path / "library.sqlite")
    out = tmp_path / "run"
    argv = ["train", "sql", "--database", str(library), "--count", "40", "--steps", "2"]
    argv += ["--batch-size", "2", "--eval", "2", "--check", "0", "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "composing 40 examples" in err and "held-out execution accuracy: " in err
    train_lines = (out / "engine_train.jsonl").read_text().splitlines()
    assert len(train_lines) >= 40 and (out / "engine_heldout.jsonl").is_file()
    assert (out / "sql.gguf").stat().st_size > 0

    assert main(["train", "sql", "--database", str(tmp_path / "missing.sqlite")]) == 2
    assert "cannot read the database" in capsys.readouterr().err
