"""Export a PEFT LoRA adapter as a GGUF LoRA adapter that llama.cpp (and Ollama) load.

llama.cpp applies an adapter tensor pair ``<base tensor>.lora_a`` / ``.lora_b`` on top of
the base tensor of the same name, scaled by ``adapter.lora.alpha / rank``, which is the
PEFT scaling ``lora_alpha / r``. Two details make the export faithful:

* names: PEFT's ``model.layers.N.self_attn.q_proj`` is llama.cpp's ``blk.N.attn_q``;
* the query and key projections: the GGUF converter stores ``W_q`` and ``W_k`` with their
  output rows permuted (llama.cpp's rotary layout), and transformers undoes that permutation
  when it loads the GGUF. The update ``B @ A`` of those two projections is therefore
  permuted the same way, which amounts to permuting the rows of ``B``.

Without the permutation the adapter still loads and changes the output, but wrongly;
:mod:`finetune.faithful` measures the difference (and its test shows it is caught).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ExportError", "export_adapter", "gguf_tensor_name", "permute_rows"]

_LAYER_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_PEFT_NAME = re.compile(
    r"^(?:base_model\.model\.)?model\.layers\.(?P<layer>\d+)\.(?P<module>[a-z_]+\.[a-z_]+)"
    r"\.lora_(?P<part>[AB])(?:\.default)?\.weight$"
)


class ExportError(ValueError):
    """The adapter cannot be exported (unknown tensor, wrong shape, missing config)."""


def gguf_tensor_name(peft_name: str) -> tuple[str, str]:
    """Map a PEFT tensor name to ``(llama.cpp tensor name, "a" | "b")``.

    Raises:
        ExportError: For a tensor this exporter does not know.
    """
    match = _PEFT_NAME.match(peft_name)
    if match is None or match["module"] not in _LAYER_NAMES:
        raise ExportError(f"unexpected adapter tensor {peft_name!r}")
    part = match["part"].lower()
    return f"blk.{match['layer']}.{_LAYER_NAMES[match['module']]}.weight.lora_{part}", part


def permute_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """Reorder the output rows of a query/key matrix into llama.cpp's rotary layout.

    Within each head, the rows come as two halves (the rotary pairs of transformers'
    layout) and llama.cpp wants them interleaved.
    """
    rows = weight.shape[0]
    if rows % (2 * heads):
        raise ExportError(f"{rows} rows do not split into {heads} heads of rotary pairs")
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def _read_adapter(adapter_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    config_path = adapter_dir / "adapter_config.json"
    weights_path = adapter_dir / "adapter_model.safetensors"
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ExportError(f"{path} is missing: is {adapter_dir} a PEFT adapter directory?")
    config: dict[str, Any] = json.loads(config_path.read_text())
    return config, load_file(str(weights_path))


def _base_heads(base_gguf: Path) -> tuple[int, int]:
    from gguf import GGUFReader

    reader = GGUFReader(str(base_gguf))

    def value(key: str) -> int:
        field = reader.fields.get(key)
        if field is None:
            raise ExportError(f"{base_gguf} has no {key}")
        return int(field.parts[field.data[0]][0])

    return value("llama.attention.head_count"), value("llama.attention.head_count_kv")


def export_adapter(
    adapter_dir: Path,
    base_gguf: Path,
    out_path: Path,
    *,
    name: str = "",
    permute: bool = True,
    dtype: str = "f16",
) -> Path:
    """Write the PEFT adapter in ``adapter_dir`` as a GGUF LoRA adapter at ``out_path``.

    Args:
        adapter_dir: Holds ``adapter_config.json`` and ``adapter_model.safetensors``.
        base_gguf: The base model the adapter was trained on (for its head counts).
        out_path: The GGUF file to write (its directory is created).
        name: ``general.name`` of the adapter.
        permute: Apply the query/key row permutation (only a test turns it off).
        dtype: ``f16`` (the shipped files) or ``f32``.

    Returns:
        ``out_path``.

    Raises:
        ExportError: If the adapter is not a LoRA adapter of this base model's layers.
    """
    import gguf

    config, weights = _read_adapter(Path(adapter_dir))
    if config.get("peft_type") != "LORA":
        raise ExportError(f"{adapter_dir} holds a {config.get('peft_type')} adapter, not LoRA")
    if config.get("use_rslora") or config.get("use_dora"):
        raise ExportError("rsLoRA and DoRA adapters cannot be served by llama.cpp as plain LoRA")
    heads, kv_heads = _base_heads(Path(base_gguf))
    np_dtype = {"f16": np.float16, "f32": np.float32}[dtype]

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    if name:
        writer.add_name(name)
    for peft_name in sorted(weights, key=_layer_order):
        target, part = gguf_tensor_name(peft_name)
        tensor = weights[peft_name].astype(np.float32)
        if part == "b" and permute and ".attn_q." in target:
            tensor = permute_rows(tensor, heads)
        elif part == "b" and permute and ".attn_k." in target:
            tensor = permute_rows(tensor, kv_heads)
        writer.add_tensor(target, np.ascontiguousarray(tensor.astype(np_dtype)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out_path)
    return out_path


def _layer_order(peft_name: str) -> tuple[int, str]:
    match = _PEFT_NAME.match(peft_name)
    return (int(match["layer"]) if match else -1, peft_name)
