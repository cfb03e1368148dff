"""The Ollama backend: model tags, presence checks and ``ChatOllama`` construction.

Each specialist is served by an Ollama model built from its Modelfile and tagged
``slm-dispatch/<specialist>:<content hash>``, so a changed Modelfile names a new
model and a stale one is never used by mistake.

``ChatOllama`` already honours ``invoke(messages, format=<schema dict or "json">)``
(``format`` is popped from the call's keywords in ``ChatOllama._chat_params``). The
subclass here adds what production serving needs:

* stop sequences that behave like the embedded backend's;
* no request that combines ``format`` with tool calling (Ollama drops tool calls
  when ``format`` is set, so that request is refused before it is sent);
* faults turned into the runtime's errors with a message that says what to do:
  a server that does not answer and a missing model fail at once
  (:class:`~runtime.errors.ModelUnavailableError`); a connection reset mid-stream,
  an HTTP 5xx and a model that loads too slowly (a read timeout) are retried a
  bounded number of times with exponential backoff, then raise
  :class:`~runtime.errors.BackendError`;
* an optional fallback model (embedded llama.cpp) answered instead, with a
  warning, when Ollama fails for good — only when the caller configured it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_ollama import ChatOllama
from pydantic import Field

import ollama
from runtime.embedded import grammar_stops
from runtime.errors import BackendError, ModelUnavailableError
from runtime.modelfile import Modelfile

__all__ = [
    "DEFAULT_BACKOFF_S",
    "DEFAULT_KEEP_ALIVE",
    "DEFAULT_OLLAMA_HOST",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "DispatchChatOllama",
    "FaultKind",
    "RetryPolicy",
    "classify_fault",
    "describe_down",
    "down_message",
    "missing_message",
    "model_tag",
    "normalize_host",
    "ollama_chat_model",
    "ollama_has_model",
    "probe_model",
]

logger = logging.getLogger(__name__)

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
"""Where Ollama listens unless ``OLLAMA_HOST`` says otherwise."""

DEFAULT_KEEP_ALIVE = "10m"
"""How long Ollama keeps a specialist loaded after a request, unless configured."""

DEFAULT_RETRIES = 2
"""Extra attempts after a transient fault, unless configured (``SLM_OLLAMA_RETRIES``)."""

DEFAULT_BACKOFF_S = 0.5
"""Seconds before the first retry (doubled each further time), unless configured
(``SLM_OLLAMA_BACKOFF``)."""

DEFAULT_TIMEOUT_S = 120.0
"""Seconds to wait for the server's next bytes, unless configured (``SLM_OLLAMA_TIMEOUT``)."""

_DEFAULT_PORT = 11434

# Modelfile PARAMETERs that ChatOllama has a field of the same name for.
_CHAT_OLLAMA_OPTIONS = (
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "num_ctx",
    "num_gpu",
    "num_thread",
    "num_predict",
    "repeat_last_n",
    "repeat_penalty",
    "temperature",
    "seed",
    "tfs_z",
    "top_k",
    "top_p",
)

# HTTP statuses Ollama answers for a condition that may clear by itself.
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def normalize_host(host: str) -> str:
    """Return ``host`` as a URL: add ``http://`` and port 11434 where missing.

    ``0.0.0.0`` (a bind address, as often found in ``OLLAMA_HOST``) becomes ``127.0.0.1``.

    Args:
        host: ``http://host:port``, ``host:port``, ``host`` or ``:port``.

    Raises:
        ValueError: If ``host`` is empty.
    """
    text = host.strip()
    if not text:
        raise ValueError("empty Ollama host")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    hostname = parts.hostname or "127.0.0.1"
    if hostname == "0.0.0.0":
        hostname = "127.0.0.1"
    if ":" in hostname:  # IPv6 literal
        hostname = f"[{hostname}]"
    port = parts.port or (_DEFAULT_PORT if parts.scheme == "http" else None)
    netloc = f"{hostname}:{port}" if port else hostname
    if parts.username:
        credentials = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{credentials}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def model_tag(specialist: str, modelfile: Modelfile) -> str:
    """Return the Ollama tag of a specialist's model: ``slm-dispatch/<name>:<hash>``."""
    return f"slm-dispatch/{specialist}:{modelfile.content_hash()}"


FaultKind = Literal["down", "missing", "transient", "final"]
"""How a failed Ollama request is handled: ``down`` (the server does not answer) and
``missing`` (no such model) fail at once with advice, ``transient`` is retried,
``final`` fails at once with the server's reason."""


def classify_fault(error: BaseException) -> FaultKind | None:
    """Sort an exception raised by the ``ollama`` client into a :data:`FaultKind`.

    Returns ``None`` for exceptions that are not about the server (programming errors),
    which callers re-raise unchanged.
    """
    if isinstance(error, ollama.ResponseError):
        if error.status_code == 404:
            return "missing"
        if error.status_code in _TRANSIENT_STATUSES or error.status_code == -1:
            # -1: an ``{"error": …}`` line inside a stream (e.g. the runner crashed).
            return "transient"
        return "final"
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | ConnectionRefusedError):
        return "down"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "transient"
    if isinstance(error, ConnectionError):
        # The ``ollama`` client turns httpx.ConnectError into a bare ConnectionError.
        return "down"
    if isinstance(error, httpx.TimeoutException | httpx.TransportError | json.JSONDecodeError):
        # Read timeouts (a model that loads slowly), resets and truncated streams.
        return "transient"
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff for transient Ollama faults.

    Attributes:
        retries: Extra attempts after the first (0 disables retrying).
        backoff_s: Wait before the first retry; doubled before each further one.
        max_backoff_s: Longest single wait.
    """

    retries: int = DEFAULT_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S
    max_backoff_s: float = 8.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(min(self.max_backoff_s, self.backoff_s * (2 ** (retry - 1))))


def _build_hint(specialist: str) -> str:
    return f"run `slm-dispatch models build {specialist}`" if specialist else "build it"


def _host_setting(specialist: str) -> str:
    if specialist:
        return f"OLLAMA_HOST or SLM_OLLAMA_HOST_{specialist.upper()}"
    return "OLLAMA_HOST"


def describe_down(error: BaseException | None) -> str:
    """A short reason for a failed connection (`` (connection refused)``), or ``""``."""
    if error is None:
        return ""
    text = str(error)
    if not text or "Failed to connect to Ollama" in text or "onnection refused" in text:
        return " (connection refused)"
    return f" ({text})"


def down_message(host: str, tag: str, specialist: str, error: BaseException | None = None) -> str:
    """The message for a server that does not answer."""
    why = describe_down(error)
    return (
        f"Ollama at {host} does not answer{why}, so it cannot serve {tag} — start Ollama "
        f"(`ollama serve`) or point {_host_setting(specialist)} at a running server, then "
        f"{_build_hint(specialist)} if the model is not there yet; or use SLM_BACKEND=embedded"
    )


def missing_message(host: str, tag: str, specialist: str) -> str:
    """The message for a model the server does not have."""
    return f"model {tag} is not on {host} — {_build_hint(specialist)}"


ProbeResult = Literal["present", "missing", "down", "error"]


def probe_model(host: str, tag: str, timeout_s: float = 1.0) -> tuple[ProbeResult, str]:
    """Ask the Ollama server at ``host`` whether it has ``tag``; never raises.

    Returns:
        ``("present" | "missing" | "down" | "error", detail)``, where ``detail`` is the
        server's or the client's reason when the answer is not ``present``.
    """
    import pydantic

    client = ollama.Client(host=normalize_host(host), timeout=timeout_s)
    try:
        client.show(tag)
    except pydantic.ValidationError:
        # The server answered 200 but with fewer fields than the client's model wants
        # (a stand-in or an older Ollama): it has the model all the same.
        logger.debug("Ollama at %s has %s (partial /api/show answer)", host, tag)
    except ollama.ResponseError as error:
        if error.status_code == 404:
            return "missing", str(error.error)
        logger.warning("Ollama at %s answered %s for %s", host, error.status_code, tag)
        return "error", str(error)
    except (ConnectionError, httpx.HTTPError, OSError) as error:
        logger.debug("Ollama at %s does not answer: %s", host, error)
        return "down", str(error) or type(error).__name__
    finally:
        client.close()
    return "present", ""


def ollama_has_model(host: str, tag: str, timeout_s: float = 1.0) -> bool:
    """Return whether the Ollama server at ``host`` has the model ``tag``.

    Returns ``False`` (never raises) when the server does not answer within
    ``timeout_s``, answers with an error, or does not know the tag.
    """
    return probe_model(host, tag, timeout_s)[0] == "present"


class DispatchChatOllama(ChatOllama):
    """``ChatOllama`` with the embedded model's stop behaviour, retries and clear errors.

    The Modelfile's stops are kept in :attr:`default_stop` and merged with any passed
    to ``invoke`` (plain ``ChatOllama`` raises when both are given). While ``format``
    constrains the output only special-token stops (``<|…|>``) are sent: a request's
    stop list replaces the model's, so a Modelfile stop such as ``";"`` cannot cut a
    JSON string that contains it.

    Faults are handled as the module docstring says; a reply that came from
    :attr:`fallback` carries ``response_metadata["fallback"]``.
    """

    default_stop: list[str] = Field(default_factory=list)
    """Stop sequences from the Modelfile."""
    specialist: str = ""
    """The specialist this model serves (for messages)."""
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    """Retries of transient faults."""
    fallback: BaseChatModel | None = None
    """A model answered instead when Ollama fails for good; ``None``: raise."""

    def _chat_params(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        output_format = kwargs.get("format", self.format)
        if output_format and kwargs.get("tools"):
            raise ValueError(
                "an Ollama request cannot combine `format` with tool calling (Ollama ignores "
                "the tools when `format` is set): call with one or the other"
            )
        merged = list(dict.fromkeys([*self.default_stop, *(stop or [])]))
        if output_format:
            merged = grammar_stops(merged)
        return super()._chat_params(messages, merged or None, **kwargs)

    # ------------------------------------------------------------------ fault handling

    def _fail(self, kind: FaultKind, error: BaseException, attempts: int) -> Exception:
        host = self.base_url or DEFAULT_OLLAMA_HOST
        if kind == "down":
            return ModelUnavailableError(down_message(host, self.model, self.specialist, error))
        if kind == "missing":
            return ModelUnavailableError(missing_message(host, self.model, self.specialist))
        if kind == "transient":
            return BackendError(
                f"Ollama at {host} failed {attempts} time(s) serving {self.model} "
                f"(last: {type(error).__name__}: {error}) — check the server's log; "
                "SLM_OLLAMA_RETRIES sets how often a transient fault is retried"
            )
        return BackendError(f"Ollama at {host} refused the request for {self.model}: {error}")

    def _next_delay(self, kind: FaultKind | None, error: BaseException, attempt: int) -> float:
        """Return the wait before retrying, or raise the error that ends the call."""
        if kind is None:
            raise error
        if kind != "transient" or attempt > self.retry.retries:
            raise self._fail(kind, error, attempt) from error
        delay = self.retry.delay(attempt)
        logger.warning(
            "%s: Ollama at %s: %s: %s — retry %d/%d in %.1fs",
            self.specialist or self.model,
            self.base_url,
            type(error).__name__,
            error,
            attempt,
            self.retry.retries,
            delay,
        )
        return delay

    def _fallback_result(
        self, error: Exception, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> ChatResult:
        assert self.fallback is not None
        logger.warning(
            "%s: Ollama failed (%s); falling back to %s as configured (SLM_OLLAMA_FALLBACK)",
            self.specialist or self.model,
            error,
            self.fallback._llm_type,
        )
        reply = self.fallback.invoke(messages, stop=stop, **kwargs)
        message = reply if isinstance(reply, AIMessage) else AIMessage(str(reply.content))
        message.response_metadata = {
            **message.response_metadata,
            "fallback": self.fallback._llm_type,
            "ollama_error": str(error),
        }
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Run one chat request, retrying transient faults (see the class docstring)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return super()._generate(messages, stop, run_manager, **dict(kwargs))
            except Exception as error:  # sorted by classify_fault, unknown ones re-raised
                try:
                    delay = self._next_delay(classify_fault(error), error, attempt)
                except (ModelUnavailableError, BackendError) as final:
                    if self.fallback is None:
                        raise
                    return self._fallback_result(final, messages, stop, **kwargs)
            time.sleep(delay)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Async :meth:`_generate`: the same retries and errors."""
        import asyncio

        attempt = 0
        while True:
            attempt += 1
            try:
                return await super()._agenerate(messages, stop, run_manager, **dict(kwargs))
            except Exception as error:
                try:
                    delay = self._next_delay(classify_fault(error), error, attempt)
                except (ModelUnavailableError, BackendError) as final:
                    if self.fallback is None:
                        raise
                    return await asyncio.to_thread(
                        self._fallback_result, final, messages, stop, **kwargs
                    )
            await asyncio.sleep(delay)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Stream a reply; a fault is retried only while nothing has been yielded."""
        attempt = 0
        while True:
            attempt += 1
            yielded = False
            try:
                for chunk in super()._stream(messages, stop, run_manager, **dict(kwargs)):
                    yielded = True
                    yield chunk
                return
            except Exception as error:
                kind = classify_fault(error)
                if yielded and kind is not None:
                    raise self._fail(kind, error, attempt) from error
                delay = self._next_delay(kind, error, attempt)
            time.sleep(delay)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        """Async :meth:`_stream`."""
        import asyncio

        attempt = 0
        while True:
            attempt += 1
            yielded = False
            try:
                async for chunk in super()._astream(messages, stop, run_manager, **dict(kwargs)):
                    yielded = True
                    yield chunk
                return
            except Exception as error:
                kind = classify_fault(error)
                if yielded and kind is not None:
                    raise self._fail(kind, error, attempt) from error
                delay = self._next_delay(kind, error, attempt)
            await asyncio.sleep(delay)


def ollama_chat_model(
    specialist: str,
    modelfile: Modelfile,
    host: str,
    *,
    keep_alive: str | int = DEFAULT_KEEP_ALIVE,
    retry: RetryPolicy | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    fallback: BaseChatModel | None = None,
) -> DispatchChatOllama:
    """Return a chat model for a specialist served by the Ollama at ``host``.

    The model is ``model_tag(specialist, modelfile)``; the Modelfile's parameters
    (temperature, num_ctx, num_predict, stop, …) are sent with every request too.
    Call ``invoke(messages, format=schema_dict)`` for structured output.

    Args:
        specialist: The specialist's name.
        modelfile: Its parsed Modelfile.
        host: The Ollama server (``http://host:port`` or ``host:port``).
        keep_alive: How long Ollama keeps the model loaded after a request.
        retry: Retries of transient faults; default ``RetryPolicy()`` (2 retries, 0.5 s
            first wait: ``graph.context.Context`` reads ``SLM_OLLAMA_RETRIES`` and
            ``SLM_OLLAMA_BACKOFF``).
        timeout_s: Longest wait for the server's next bytes (a slow model load counts),
            after which the request is retried; default 120 (``Context`` reads
            ``SLM_OLLAMA_TIMEOUT``).
        fallback: A model to answer instead when Ollama fails for good (logged as a
            warning); ``None`` raises.
    """
    options = {
        name: modelfile.parameters[name]
        for name in _CHAT_OLLAMA_OPTIONS
        if name in modelfile.parameters
    }
    return DispatchChatOllama(
        model=model_tag(specialist, modelfile),
        base_url=normalize_host(host),
        keep_alive=keep_alive,
        default_stop=list(modelfile.parameters.get("stop", [])),
        specialist=specialist,
        retry=retry or RetryPolicy(),
        fallback=fallback,
        client_kwargs={"timeout": httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))},
        **options,
    )
