"""The GGUF LoRA export: tensor names, the rotary row permutation, the written file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gguf")
pytest.importorskip("safetensors")

from finetune.export import ExportError, export_adapter, gguf_tensor_name, permute_rows  # noqa: E402


def test_tensor_names_map_to_llama_cpp() -> None:
    assert gguf_tensor_name("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight") == (
        "blk.3.attn_q.weight.lora_a",
        "a",
    )
    assert gguf_tensor_name("base_model.model.model.layers.12.mlp.down_proj.lora_B.weight") == (
        "blk.12.ffn_down.weight.lora_b",
        "b",
    )
    assert gguf_tensor_name("model.layers.0.self_attn.o_proj.lora_B.default.weight")[0] == (
        "blk.0.attn_output.weight.lora_b"
    )
    with pytest.raises(ExportError, match="unexpected adapter tensor"):
        gguf_tensor_name("base_model.model.lm_head.lora_A.weight")


def test_permutation_interleaves_the_rotary_halves_of_each_head() -> None:
    rows = np.arange(8, dtype=np.float32).reshape(8, 1)
    # two heads of four rows: halves (0,1 | 2,3) and (4,5 | 6,7) become interleaved pairs
    assert permute_rows(rows, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    assert permute_rows(rows, 1).ravel().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    with pytest.raises(ExportError):
        permute_rows(np.zeros((6, 2), dtype=np.float32), 2)


@pytest.fixture
def base_gguf(tmp_path: Path) -> Path:
    """A GGUF holding only the head counts the export reads (SmolLM2-135M's: 9 and 3)."""
    import gguf

    path = tmp_path / "base.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_head_count(9)
    writer.add_head_count_kv(3)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _fake_adapter(directory: Path, rank: int = 2) -> dict[str, np.ndarray]:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    prefix = "base_model.model.model.layers.0"
    weights = {
        f"{prefix}.self_attn.q_proj.lora_A.weight": rng.normal(size=(rank, 576)),
        f"{prefix}.self_attn.q_proj.lora_B.weight": rng.normal(size=(576, rank)),
        f"{prefix}.self_attn.v_proj.lora_A.weight": rng.normal(size=(rank, 576)),
        f"{prefix}.self_attn.v_proj.lora_B.weight": rng.normal(size=(192, rank)),
    }
    weights = {k: v.astype(np.float32) for k, v in weights.items()}
    directory.mkdir()
    save_file(weights, str(directory / "adapter_model.safetensors"))
    (directory / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "lora_alpha": 4, "r": rank})
    )
    return weights


def test_export_writes_a_lora_adapter_gguf(tmp_path: Path, base_gguf: Path) -> None:
    from gguf import GGUFReader

    weights = _fake_adapter(tmp_path / "adapter")
    out = export_adapter(tmp_path / "adapter", base_gguf, tmp_path / "x.gguf", dtype="f32")
    reader = GGUFReader(str(out))
    fields = {name: field for name, field in reader.fields.items()}
    assert bytes(fields["general.type"].parts[-1]).decode() == "adapter"
    assert bytes(fields["adapter.type"].parts[-1]).decode() == "lora"
    assert float(fields["adapter.lora.alpha"].parts[-1][0]) == 4.0
    tensors = {t.name: np.array(t.data) for t in reader.tensors}
    q_b = tensors["blk.0.attn_q.weight.lora_b"]
    v_b = tensors["blk.0.attn_v.weight.lora_b"]
    prefix = "base_model.model.model.layers.0.self_attn"
    assert np.array_equal(q_b, permute_rows(weights[f"{prefix}.q_proj.lora_B.weight"], 9))
    assert np.array_equal(v_b, weights[f"{prefix}.v_proj.lora_B.weight"])
    assert np.array_equal(
        tensors["blk.0.attn_q.weight.lora_a"], weights[f"{prefix}.q_proj.lora_A.weight"]
    )


def test_export_refuses_what_it_cannot_serve(tmp_path: Path, base_gguf: Path) -> None:
    with pytest.raises(ExportError, match="missing"):
        export_adapter(tmp_path, base_gguf, tmp_path / "x.gguf")
    _fake_adapter(tmp_path / "adapter")
    config = tmp_path / "adapter" / "adapter_config.json"
    config.write_text(json.dumps({"peft_type": "LORA", "lora_alpha": 4, "use_dora": True}))
    with pytest.raises(ExportError, match="DoRA"):
        export_adapter(tmp_path / "adapter", base_gguf, tmp_path / "x.gguf")
