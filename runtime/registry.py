"""Pick a backend for a specialist and build its chat model from the Modelfile."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Mapping

from langchain_core.language_models import BaseChatModel

from runtime.embedded import EmbeddedChatModel
from runtime.errors import ModelUnavailableError
from runtime.modelfile import Modelfile, parse_modelfile
from runtime.ollama_backend import (
    DEFAULT_KEEP_ALIVE,
    DEFAULT_OLLAMA_HOST,
    RetryPolicy,
    down_message,
    missing_message,
    model_tag,
    normalize_host,
    ollama_chat_model,
    probe_model,
)
from runtime.paths import SPECIALISTS, display_path, modelfile_path

__all__ = [
    "BACKENDS",
    "clear_caches",
    "embedded_chat_model",
    "get_chat_model",
    "load_modelfile",
    "resolve_backend",
    "resolve_fallback",
    "resolve_ollama_host",
    "specialist_host",
    "system_prompt",
]

logger = logging.getLogger(__name__)

BACKENDS = ("embedded", "ollama", "auto")
"""Valid values of ``backend`` and of the ``SLM_BACKEND`` environment variable."""

_MODELS: dict[tuple[str, str, str, bool, str], BaseChatModel] = {}

_TRUE = ("1", "true", "yes", "on", "embedded")
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


def specialist_host(
    specialist: str,
    ollama_host: str | None = None,
    ollama_hosts: Mapping[str, str] | None = None,
) -> str:
    """Return the Ollama server that serves ``specialist``, as a URL.

    The first of: ``ollama_hosts[specialist]``, ``$SLM_OLLAMA_HOST_<SPECIALIST>`` (e.g.
    ``SLM_OLLAMA_HOST_SQL``), ``ollama_host``, ``$OLLAMA_HOST``, ``http://127.0.0.1:11434``.
    """
    placed = (ollama_hosts or {}).get(specialist) or os.environ.get(
        f"SLM_OLLAMA_HOST_{specialist.upper()}"
    )
    return normalize_host(placed) if placed else resolve_ollama_host(ollama_host)


def resolve_fallback(fallback: bool | None = None) -> bool:
    """Return ``fallback``, else whether ``$SLM_OLLAMA_FALLBACK`` is on (``1``, ``embedded``)."""
    if fallback is not None:
        return fallback
    return os.environ.get("SLM_OLLAMA_FALLBACK", "").strip().lower() in _TRUE


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


def _build(
    specialist: str, backend: str, host: str, fallback: bool, keep_alive: str
) -> BaseChatModel:
    modelfile = load_modelfile(specialist)
    if backend == "embedded":
        return embedded_chat_model(specialist, modelfile)
    tag = model_tag(specialist, modelfile)
    answer, detail = probe_model(host, tag)
    policy = RetryPolicy.from_env()
    for retry in range(1, policy.retries + 1):
        if answer != "error":  # an HTTP 5xx: retried like any transient fault
            break
        time.sleep(policy.delay(retry))
        answer, detail = probe_model(host, tag)
    if answer == "present":
        logger.info("%s: %s backend uses Ollama model %s at %s", specialist, backend, tag, host)
        backup = None
        if backend == "auto" and fallback:
            backup = embedded_chat_model(specialist, modelfile)
        return ollama_chat_model(
            specialist, modelfile, host, keep_alive=keep_alive, fallback=backup
        )
    if answer == "down":
        problem = down_message(host, tag, specialist, ConnectionError(detail))
    elif answer == "missing":
        problem = missing_message(host, tag, specialist)
    else:
        problem = f"Ollama at {host} cannot tell whether it has {tag}: {detail}"
    if backend == "ollama":
        raise ModelUnavailableError(problem)
    if answer == "down" and host == normalize_host(DEFAULT_OLLAMA_HOST):
        # Nothing listens where Ollama would be: the ordinary embedded set-up.
        logger.info("%s: auto backend uses embedded llama.cpp (no Ollama at %s)", specialist, host)
    else:
        logger.warning("%s: auto backend uses embedded llama.cpp: %s", specialist, problem)
    return embedded_chat_model(specialist, modelfile)


def get_chat_model(
    specialist: str,
    *,
    backend: str | None = None,
    ollama_host: str | None = None,
    ollama_hosts: Mapping[str, str] | None = None,
    fallback: bool | None = None,
    keep_alive: str | None = None,
) -> BaseChatModel:
    """Return the chat model that serves ``specialist`` (cached per specialist/backend/host).

    Call it as ``model.invoke(messages, format=schema_dict)`` for structured output;
    the specialist's ``SYSTEM`` prompt (:func:`system_prompt`) is not added for you.

    Args:
        specialist: One of ``router``, ``sql``, ``salesforce``, ``summarize``.
        backend: ``embedded``, ``ollama`` or ``auto``; default ``$SLM_BACKEND`` or ``auto``.
            ``auto`` uses Ollama when the host answers and has the specialist's tag,
            else the embedded model (a warning says why unless nothing listens at the
            default host). The choice is made once and cached.
        ollama_host: The Ollama server; default ``$OLLAMA_HOST`` or
            ``http://127.0.0.1:11434``. ``host:port`` without a scheme is accepted.
        ollama_hosts: Per-specialist servers that override ``ollama_host``; a specialist
            missing here may be placed by ``$SLM_OLLAMA_HOST_<SPECIALIST>``.
        fallback: With ``auto``, answer with the embedded model (and log a warning) when
            the chosen Ollama fails for good during a run; default ``$SLM_OLLAMA_FALLBACK``.
            ``backend="ollama"`` never falls back.
        keep_alive: How long Ollama keeps the model loaded; default
            ``$SLM_OLLAMA_KEEP_ALIVE`` or ``10m``.

    Raises:
        ValueError: If ``specialist`` or ``backend`` is unknown.
        ModelUnavailableError: If ``backend="ollama"`` and the server lacks the model
            or does not answer.
    """
    _check_specialist(specialist)
    chosen = resolve_backend(backend)
    host = specialist_host(specialist, ollama_host, ollama_hosts)
    use_fallback = resolve_fallback(fallback)
    alive = keep_alive or os.environ.get("SLM_OLLAMA_KEEP_ALIVE") or DEFAULT_KEEP_ALIVE
    key = (specialist, chosen, host, use_fallback, alive)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = _build(specialist, chosen, host, use_fallback, alive)
            _MODELS[key] = model
        return model


def clear_caches() -> None:
    """Forget cached Modelfiles and chat models (loaded ``Llama`` objects stay shared)."""
    with _MODELS_LOCK:
        _MODELS.clear()
    load_modelfile.cache_clear()
