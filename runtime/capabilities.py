"""What a chat model can do, asked of the runtime instead of checking its class.

The runtime is the only package that knows its backend classes; the layers above ask
these questions and never import a concrete backend.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from runtime.embedded import EmbeddedChatModel
from runtime.ollama_backend import DispatchChatOllama
from runtime.paths import PROJECT_ROOT
from runtime.registry import load_modelfile

__all__ = [
    "adapter_prompt",
    "adapter_schema",
    "is_finetuned",
    "repair_variant",
    "supports_grammar",
]

ADAPTER_MANIFEST = PROJECT_ROOT / "ollama" / "adapters" / "manifest.json"
"""Where each shipped adapter's training run is recorded (see ``finetune.cli``)."""


def supports_grammar(model: BaseChatModel) -> bool:
    """Whether ``model`` can decode under a GBNF grammar (``invoke(..., grammar=…)``).

    Only the embedded llama.cpp backend can; Ollama takes a JSON schema (``format=``) but
    no grammar, and a model brought from elsewhere is not assumed to.
    """
    return isinstance(model, EmbeddedChatModel)


def is_finetuned(model: BaseChatModel, specialist: str) -> bool:
    """Whether ``model`` is fine-tuned for ``specialist`` (it is then sent the zero-shot chat).

    An embedded model is fine-tuned when it applies a LoRA adapter; a model served from
    Ollama when the specialist's Modelfile names an ``ADAPTER``; any other model only when
    it says so with a truthy ``adapter_path``.
    """
    if isinstance(model, EmbeddedChatModel):
        return bool(model.adapter_path)
    if isinstance(model, DispatchChatOllama):
        return bool(load_modelfile(model.specialist or specialist).adapters)
    return bool(getattr(model, "adapter_path", None))


@functools.lru_cache(maxsize=8)
def _read_manifest(path: Path, version: tuple[int, int]) -> dict[str, object]:
    """The manifest's adapters, read once per ``version`` (modification time, size) of it."""
    try:
        adapters = json.loads(path.read_text(encoding="utf-8"))["adapters"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return adapters if isinstance(adapters, dict) else {}


def _adapter_entry(specialist: str, manifest: Path | None) -> dict[str, object]:
    path = manifest if manifest is not None else ADAPTER_MANIFEST
    try:
        stat = path.stat()
    except OSError:
        return {}
    entry = _read_manifest(path, (stat.st_mtime_ns, stat.st_size)).get(specialist)
    return entry if isinstance(entry, dict) else {}


def adapter_schema(specialist: str, manifest: Path | None = None) -> str | None:
    """The sha256 of the schema a specialist's adapter was trained for, if recorded."""
    schema = _adapter_entry(specialist, manifest).get("schema")
    digest = schema.get("sha256") if isinstance(schema, dict) else None
    return digest if isinstance(digest, str) else None


def adapter_prompt(specialist: str, manifest: Path | None = None) -> str:
    """The chat a specialist's adapter was trained on: ``schema`` or ``request``.

    ``request``: the request alone, the schema learnt into the weights (and enforced by the
    grammar and the validator); ``schema``: the schema text in the system turn too. The
    manifest records it per adapter; an adapter recorded without it was trained with the
    schema.
    """
    prompt = _adapter_entry(specialist, manifest).get("prompt")
    return prompt if prompt in ("schema", "request") else "schema"


def repair_variant(model: BaseChatModel, *, temperature: float, seed: int) -> BaseChatModel:
    """``model`` sampling at ``temperature`` with ``seed``, for a repair attempt.

    Only a greedy embedded model is changed (seeded, so a run is repeatable); any other
    model is returned as it is.
    """
    if not isinstance(model, EmbeddedChatModel) or model.temperature > 0:
        return model
    return model.model_copy(update={"temperature": temperature, "seed": seed})
