"""Pick a backend for a specialist and build its chat model from the Modelfile."""

from __future__ import annotations

import functools
import logging
import os
import threading

from langchain_core.language_models import BaseChatModel

from runtime.embedded import EmbeddedChatModel
from runtime.errors import ModelUnavailableError
from runtime.modelfile import Modelfile, parse_modelfile
from runtime.ollama_backend import (
    DEFAULT_OLLAMA_HOST,
    model_tag,
    normalize_host,
    ollama_chat_model,
    ollama_has_model,
)
from runtime.paths import SPECIALISTS, display_path, modelfile_path

__all__ = [
    "BACKENDS",
    "clear_caches",
    "embedded_chat_model",
    "get_chat_model",
    "load_modelfile",
    "resolve_backend",
    "resolve_ollama_host",
    "system_prompt",
]

logger = logging.getLogger(__name__)

BACKENDS = ("embedded", "ollama", "auto")
"""Valid values of ``backend`` and of the ``SLM_BACKEND`` environment variable."""

_MODELS: dict[tuple[str, str, str], BaseChatModel] = {}
_MODELS_LOCK = threading.Lock()


def _check_specialist(specialist: str) -> None:
    if specialist not in SPECIALISTS:
        raise ValueError(
            f"unknown specialist {specialist!r}: expected one of {', '.join(SPECIALISTS)}"
        )


@functools.cache
def load_modelfile(specialist: str) -> Modelfile:
    """Parse ``ollama/Modelfiles/<specialist>.Modelfile`` once per process.

    Raises:
        ValueError: If ``specialist`` is unknown.
        ModelfileError: If the Modelfile does not parse.
        FileNotFoundError: If it does not exist.
    """
    _check_specialist(specialist)
    return parse_modelfile(modelfile_path(specialist))


def system_prompt(specialist: str) -> str:
    """Return the specialist's ``SYSTEM`` prompt from its Modelfile (``""`` if none)."""
    return load_modelfile(specialist).system or ""


def resolve_backend(backend: str | None = None) -> str:
    """Return ``backend``, else ``$SLM_BACKEND``, else ``"auto"``, checked.

    Raises:
        ValueError: If the value is not one of :data:`BACKENDS`.
    """
    value = backend if backend is not None else os.environ.get("SLM_BACKEND") or "auto"
    value = value.strip().lower()
    if value not in BACKENDS:
        raise ValueError(f"unknown backend {value!r}: expected one of {', '.join(BACKENDS)}")
    return value


def resolve_ollama_host(ollama_host: str | None = None) -> str:
    """Return ``ollama_host``, else ``$OLLAMA_HOST``, else the default, as a URL."""
    value = ollama_host or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST
    return normalize_host(value)


def embedded_chat_model(specialist: str, modelfile: Modelfile) -> EmbeddedChatModel:
    """Build the embedded chat model a Modelfile describes (nothing is loaded yet).

    Raises:
        ModelUnavailableError: If ``FROM`` names an Ollama tag instead of a GGUF file.
    """
    base = modelfile.from_path()
    if base is None:
        raise ModelUnavailableError(
            f"{display_path(modelfile.path)}: FROM {modelfile.from_!r} is an Ollama model tag; "
            "the embedded backend needs a GGUF file path — use SLM_BACKEND=ollama or point "
            "FROM at a .gguf file"
        )
    adapters = modelfile.adapter_paths()
    if len(adapters) > 1:
        raise ModelUnavailableError(
            f"{display_path(modelfile.path)}: the embedded backend applies one ADAPTER, "
            f"found {len(adapters)}"
        )
    parameters = modelfile.parameters
    return EmbeddedChatModel(
        model_path=str(base),
        adapter_path=str(adapters[0]) if adapters else None,
        n_ctx=int(parameters.get("num_ctx", 2048)),
        temperature=float(parameters.get("temperature", 0.0)),
        max_tokens=int(parameters.get("num_predict", 256)),
        stop=list(parameters.get("stop", [])),
        seed=int(parameters.get("seed", 0)),
        repeat_penalty=float(parameters.get("repeat_penalty", 1.1)),
        specialist=specialist,
    )


def _build(specialist: str, backend: str, host: str) -> BaseChatModel:
    modelfile = load_modelfile(specialist)
    if backend == "embedded":
        return embedded_chat_model(specialist, modelfile)
    tag = model_tag(specialist, modelfile)
    has_model = ollama_has_model(host, tag)
    if backend == "ollama":
        if not has_model:
            raise ModelUnavailableError(
                f"Ollama at {host} does not have {tag} (or does not answer) — "
                f"run `slm-dispatch models build {specialist}`"
            )
        logger.info("%s: Ollama model %s at %s", specialist, tag, host)
        return ollama_chat_model(specialist, modelfile, host)
    if has_model:
        logger.info("%s: auto backend chose Ollama (%s at %s)", specialist, tag, host)
        return ollama_chat_model(specialist, modelfile, host)
    logger.info(
        "%s: auto backend chose embedded llama.cpp (Ollama at %s lacks %s or does not answer)",
        specialist,
        host,
        tag,
    )
    return embedded_chat_model(specialist, modelfile)


def get_chat_model(
    specialist: str,
    *,
    backend: str | None = None,
    ollama_host: str | None = None,
) -> BaseChatModel:
    """Return the chat model that serves ``specialist`` (cached per specialist/backend/host).

    Call it as ``model.invoke(messages, format=schema_dict)`` for structured output;
    the specialist's ``SYSTEM`` prompt (:func:`system_prompt`) is not added for you.

    Args:
        specialist: One of ``router``, ``sql``, ``salesforce``, ``summarize``.
        backend: ``embedded``, ``ollama`` or ``auto``; default ``$SLM_BACKEND`` or ``auto``.
            ``auto`` uses Ollama when the host answers and has the specialist's tag,
            else the embedded model. The choice is made once and cached.
        ollama_host: The Ollama server; default ``$OLLAMA_HOST`` or
            ``http://127.0.0.1:11434``. ``host:port`` without a scheme is accepted.

    Raises:
        ValueError: If ``specialist`` or ``backend`` is unknown.
        ModelUnavailableError: If ``backend="ollama"`` and the server lacks the model
            or does not answer.
    """
    _check_specialist(specialist)
    chosen = resolve_backend(backend)
    host = resolve_ollama_host(ollama_host)
    key = (specialist, chosen, host)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _build(specialist, chosen, host)
            _MODELS[key] = model
        return model


def clear_caches() -> None:
    """Forget cached Modelfiles and chat models (loaded ``Llama`` objects stay shared)."""
    with _MODELS_LOCK:
        _MODELS.clear()
    load_modelfile.cache_clear()
