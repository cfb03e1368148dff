"""Pick a backend for a specialist and build its chat model from the Modelfile.

Every setting comes from the caller (``graph.context.Context`` reads the environment); a
setting left out takes the documented default.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from runtime.embedded import EmbeddedChatModel
from runtime.errors import ModelUnavailableError
from runtime.modelfile import Modelfile, parse_modelfile
from runtime.ollama_backend import (
    DEFAULT_BACKOFF_S,
    DEFAULT_KEEP_ALIVE,
    DEFAULT_OLLAMA_HOST,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    RetryPolicy,
    down_message,
    missing_message,
    model_tag,
    normalize_host,
    ollama_chat_model,
    probe_model,
)
from runtime.paths import display_path, modelfile_path

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

_MODELS: dict[tuple[str, str, str, bool, str, int, float, float], BaseChatModel] = {}

_MODELS_LOCK = threading.Lock()


@functools.cache
def load_modelfile(specialist: str) -> Modelfile:
    """Parse ``ollama/Modelfiles/<specialist>.Modelfile`` once per process.

    Raises:
        ValueError: If ``specialist`` has no Modelfile (it is not a specialist).
        ModelfileError: If the Modelfile does not parse.
    """
    return parse_modelfile(modelfile_path(specialist))


def system_prompt(specialist: str) -> str:
    """Return the specialist's ``SYSTEM`` prompt from its Modelfile (``""`` if none)."""
    return load_modelfile(specialist).system or ""


def resolve_backend(backend: str | None = None) -> str:
    """Return ``backend`` (default ``"auto"``), checked, in lower case.

    Raises:
        ValueError: If the value is not one of :data:`BACKENDS`.
    """
    value = backend if backend is not None else "auto"
    value = value.strip().lower()
    if value not in BACKENDS:
        raise ValueError(f"unknown backend {value!r}: expected one of {', '.join(BACKENDS)}")
    return value


def resolve_ollama_host(ollama_host: str | None = None) -> str:
    """Return ``ollama_host``, else ``http://127.0.0.1:11434``, as a URL."""
    return normalize_host(ollama_host or DEFAULT_OLLAMA_HOST)


def specialist_host(
    specialist: str,
    ollama_host: str | None = None,
    ollama_hosts: Mapping[str, str] | None = None,
) -> str:
    """Return the Ollama server that serves ``specialist``, as a URL.

    The first of: ``ollama_hosts[specialist]``, ``ollama_host``, ``http://127.0.0.1:11434``.
    ``graph.context.Context`` fills ``ollama_hosts`` from ``$SLM_OLLAMA_HOST_<SPECIALIST>``
    (e.g. ``SLM_OLLAMA_HOST_SQL``) and ``ollama_host`` from ``$OLLAMA_HOST``.
    """
    placed = (ollama_hosts or {}).get(specialist)
    return normalize_host(placed) if placed else resolve_ollama_host(ollama_host)


def resolve_fallback(fallback: bool | None = None) -> bool:
    """Return ``fallback``; None means off (``Context`` reads ``$SLM_OLLAMA_FALLBACK``)."""
    return bool(fallback)


def embedded_chat_model(
    specialist: str,
    modelfile: Modelfile,
    *,
    weights: tuple[Path, Path | None] | None = None,
) -> EmbeddedChatModel:
    """Build the embedded chat model a Modelfile describes (nothing is loaded yet).

    Args:
        specialist: Whose model it is.
        modelfile: Its Modelfile (decoding parameters, and the weights unless given).
        weights: The base GGUF and the LoRA adapter (or None) to load instead of the
            Modelfile's ``FROM`` and ``ADAPTER`` (the evaluation compares both).

    Raises:
        ModelUnavailableError: If ``FROM`` names an Ollama tag instead of a GGUF file.
    """
    if weights is not None:
        base_path, adapter = weights
        return _embedded(specialist, modelfile, base_path, adapter)
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
    return _embedded(specialist, modelfile, base, adapters[0] if adapters else None)


def _embedded(
    specialist: str, modelfile: Modelfile, base: Path, adapter: Path | None
) -> EmbeddedChatModel:
    parameters = modelfile.parameters
    return EmbeddedChatModel(
        model_path=str(base),
        adapter_path=str(adapter) if adapter is not None else None,
        n_ctx=int(parameters.get("num_ctx", 2048)),
        temperature=float(parameters.get("temperature", 0.0)),
        max_tokens=int(parameters.get("num_predict", 256)),
        stop=list(parameters.get("stop", [])),
        seed=int(parameters.get("seed", 0)),
        repeat_penalty=float(parameters.get("repeat_penalty", 1.0)),
        specialist=specialist,
    )


def _build(
    specialist: str,
    backend: str,
    host: str,
    fallback: bool,
    keep_alive: str,
    policy: RetryPolicy,
    timeout_s: float,
) -> BaseChatModel:
    modelfile = load_modelfile(specialist)
    if backend == "embedded":
        return embedded_chat_model(specialist, modelfile)
    tag = model_tag(specialist, modelfile)
    answer, detail = probe_model(host, tag)
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
            specialist,
            modelfile,
            host,
            keep_alive=keep_alive,
            retry=policy,
            timeout_s=timeout_s,
            fallback=backup,
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
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = DEFAULT_BACKOFF_S,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> BaseChatModel:
    """Return the chat model that serves ``specialist`` (cached per specialist/backend/host).

    Call it as ``model.invoke(messages, format=schema_dict)`` for structured output;
    the specialist's ``SYSTEM`` prompt (:func:`system_prompt`) is not added for you.
    Nothing is read from the environment: ``graph.context.Context`` holds the settings
    (and their environment variables) that a caller passes here.

    Args:
        specialist: One of ``router``, ``sql``, ``salesforce``, ``summarize``.
        backend: ``embedded``, ``ollama`` or ``auto``; default ``auto``.
            ``auto`` uses Ollama when the host answers and has the specialist's tag,
            else the embedded model (a warning says why unless nothing listens at the
            default host). The choice is made once and cached.
        ollama_host: The Ollama server; default ``http://127.0.0.1:11434``.
            ``host:port`` without a scheme is accepted.
        ollama_hosts: Per-specialist servers that override ``ollama_host``.
        fallback: With ``auto``, answer with the embedded model (and log a warning) when
            the chosen Ollama fails for good during a run; default off.
            ``backend="ollama"`` never falls back.
        keep_alive: How long Ollama keeps the model loaded; default ``10m``.
        retries: Extra attempts after a transient Ollama fault, also when checking that
            the server has the model; default 2.
        backoff_s: Seconds before the first retry, doubled before each further one;
            default 0.5.
        timeout_s: Longest wait for the Ollama server's next bytes before a retry;
            default 120.

    Raises:
        ValueError: If ``specialist`` or ``backend`` is unknown.
        ModelUnavailableError: If ``backend="ollama"`` and the server lacks the model
            or does not answer.
    """
    modelfile_path(specialist)  # raises ValueError for a name without a Modelfile
    chosen = resolve_backend(backend)
    host = specialist_host(specialist, ollama_host, ollama_hosts)
    use_fallback = resolve_fallback(fallback)
    alive = keep_alive or DEFAULT_KEEP_ALIVE
    key = (specialist, chosen, host, use_fallback, alive, retries, backoff_s, timeout_s)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            policy = RetryPolicy(retries=retries, backoff_s=backoff_s)
            model = _build(specialist, chosen, host, use_fallback, alive, policy, timeout_s)
            _MODELS[key] = model
        return model


def clear_caches() -> None:
    """Forget cached Modelfiles and chat models (loaded ``Llama`` objects stay shared)."""
    with _MODELS_LOCK:
        _MODELS.clear()
    load_modelfile.cache_clear()
