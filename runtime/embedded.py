"""An in-process llama.cpp chat model: the default backend wherever no Ollama answers.

One ``llama_cpp.Llama`` is loaded per process for each ``(model_path, adapter_path,
n_ctx)`` and shared by every chat model that names it; calls into one ``Llama`` are
serialised by its own lock, because a llama.cpp context is not thread-safe.

Structured output: ``model.invoke(messages, format=schema_dict)`` constrains decoding
with a grammar built from the JSON schema (``format="json"``: any JSON object), the
same call the Ollama backend accepts. ``model.invoke(messages, grammar=gbnf_text)``
constrains it with a GBNF grammar given as text (embedded backend only).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError
from runtime.grammar import JSON_OBJECT_SCHEMA, schema_to_gbnf
from runtime.paths import BASE_MODEL_FILENAME, display_path

if TYPE_CHECKING:
    from llama_cpp import Llama

__all__ = [
    "LLAMA_STATS",
    "EmbeddedChatModel",
    "LlamaStats",
    "LlamaStatsSnapshot",
    "clear_llama_cache",
    "get_llama",
    "grammar_stops",
    "open_llama",
]

logger = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"


# --------------------------------------------------------------------------- measurement


@dataclass(frozen=True)
class LlamaStatsSnapshot:
    """A copy of :data:`LLAMA_STATS` at one moment; subtract two to get a difference.

    Attributes:
        seconds: Wall time spent inside ``create_chat_completion``.
        calls: Number of completions.
        prompt_tokens: Prompt tokens over all completions.
        completion_tokens: Generated tokens over all completions.
        load_seconds: Wall time spent loading models.
        loads: Number of models loaded.
    """

    seconds: float = 0.0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    load_seconds: float = 0.0
    loads: int = 0

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second of completion wall time (0 when nothing ran)."""
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    def __sub__(self, other: LlamaStatsSnapshot) -> LlamaStatsSnapshot:
        return LlamaStatsSnapshot(
            seconds=self.seconds - other.seconds,
            calls=self.calls - other.calls,
            prompt_tokens=self.prompt_tokens - other.prompt_tokens,
            completion_tokens=self.completion_tokens - other.completion_tokens,
            load_seconds=self.load_seconds - other.load_seconds,
            loads=self.loads - other.loads,
        )

    def as_dict(self) -> dict[str, float | int]:
        """Return the counters (and ``tokens_per_s``) as a plain dict."""
        return {
            "seconds": self.seconds,
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "load_seconds": self.load_seconds,
            "loads": self.loads,
            "tokens_per_s": self.tokens_per_s,
        }


class LlamaStats:
    """Process-wide, thread-safe counters of the time spent in llama.cpp."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds = 0.0
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.load_seconds = 0.0
        self.loads = 0

    def record_call(self, seconds: float, prompt_tokens: int, completion_tokens: int) -> None:
        """Add one completion."""
        with self._lock:
            self.seconds += seconds
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def record_load(self, seconds: float) -> None:
        """Add one model load."""
        with self._lock:
            self.load_seconds += seconds
            self.loads += 1

    def snapshot(self) -> LlamaStatsSnapshot:
        """Return a consistent copy of every counter."""
        with self._lock:
            return LlamaStatsSnapshot(
                seconds=self.seconds,
                calls=self.calls,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens,
                load_seconds=self.load_seconds,
                loads=self.loads,
            )

    def reset(self) -> None:
        """Set every counter to zero."""
        with self._lock:
            self.seconds = 0.0
            self.calls = 0
            self.prompt_tokens = 0
            self.completion_tokens = 0
            self.load_seconds = 0.0
            self.loads = 0


LLAMA_STATS = LlamaStats()
"""Time and tokens spent in llama.cpp by this process (all embedded models together)."""


# --------------------------------------------------------------------------- shared models


class _LoadedLlama:
    """One loaded ``Llama``, the lock that serialises calls into it, and checked grammars."""

    def __init__(self, llama: Llama) -> None:
        self.llama = llama
        self.lock = threading.Lock()
        self.checked_grammars: set[str] = set()
        self.last_messages: list[dict[str, str]] | None = None

    def prepare_prompt_cache(self, messages: list[dict[str, str]]) -> None:
        """Keep greedy decoding independent of what ran before. Call under ``lock``.

        llama-cpp-python reuses the KV cache of the longest common token prefix with
        the previous call. When the whole prompt matches, it re-evaluates only the last
        prompt token, alone, and that batch-of-one path gives slightly different logits
        than evaluating it inside the prompt batch, so a repeated request could get a
        different greedy answer. Repeated messages therefore start from an empty cache;
        a partial match (a shared system prompt) keeps the reuse, which gave identical
        outputs in every check we ran.
        """
        if self.last_messages == messages:
            self.llama.reset()
        self.last_messages = messages

    def forget_prompt_cache(self) -> None:
        """Start the next call from an empty KV cache (after a failed call). Call under ``lock``."""
        self.llama.reset()
        self.last_messages = None

    def check_grammar(self, grammar: str, source: str = "schema") -> None:
        """Parse ``grammar`` with llama.cpp; raise if it is rejected. Call under ``lock``.

        Args:
            grammar: GBNF text whose start rule is ``root``.
            source: ``"schema"`` when built from a JSON schema, ``"gbnf"`` when given as is
                (only changes the error message).
        """
        if grammar in self.checked_grammars:
            return
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(
            self.llama._model.vocab, grammar.encode("utf-8"), b"root"
        )
        if not sampler and source == "gbnf":
            raise SchemaGrammarError(
                "llama.cpp rejected the GBNF grammar passed as `grammar=` (it needs a `root` "
                "rule and valid GBNF syntax); grammar:\n" + grammar
            )
        if not sampler:
            raise SchemaGrammarError(
                "llama.cpp rejected the grammar built from the JSON schema (regex escapes "
                "such as \\d, \\w, \\s in a `pattern` are a common cause); grammar:\n" + grammar
            )
        llama_cpp.llama_sampler_free(sampler)
        self.checked_grammars.add(grammar)


_LlamaKey = tuple[str, str | None, int]
_LLAMAS: dict[_LlamaKey, _LoadedLlama] = {}
_LLAMAS_LOCK = threading.Lock()


def _hint(path: Path, kind: str, specialist: str) -> str:
    where = f"the {specialist} Modelfile" if specialist else "the Modelfile"
    if kind == "base model" and path.name == BASE_MODEL_FILENAME:
        return "run `slm-dispatch setup`"
    if kind == "adapter":
        return f"train and export the adapter, or remove the ADAPTER line from {where}"
    return f"check the FROM line of {where}"


def _check_gguf(path: Path, kind: str, specialist: str) -> None:
    shown = display_path(path)
    if not path.is_file():
        raise ModelUnavailableError(
            f"{kind} file {shown} is missing — {_hint(path, kind, specialist)}"
        )
    with path.open("rb") as handle:
        magic = handle.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise ModelUnavailableError(
            f"{kind} file {shown} is corrupt: it does not start with the GGUF magic bytes "
            f"(found {magic!r}) — delete it and {_hint(path, kind, specialist)}"
        )


@contextmanager
def _plain_cpu_buffers() -> Iterator[None]:
    """Load models without llama.cpp's extra CPU buffer types (the AMX weight repacking).

    On CPUs with AMX, llama.cpp places the quantised weights in its AMX buffer type, and
    the llama-cpp-python build this project pins (compiled for the machine) crashes with a
    segmentation fault in the first forward pass there, with or without a LoRA adapter
    (LoRA tensors cannot use that buffer type at all). Every model is therefore loaded with
    its weights in plain CPU buffers. Hold ``_OPEN_LOCK``: the default-parameters function
    is swapped for the duration of the load.
    """
    from llama_cpp import llama_cpp as bindings  # the module ``Llama`` calls into

    original = bindings.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        bindings.llama_model_default_params = original


def open_llama(model_path: str, adapter_path: str | None = None, **kwargs: Any) -> Llama:
    """Construct a new ``Llama`` on ``model_path`` (+ ``adapter_path``), all CPU threads.

    Not cached: :func:`get_llama` and the chat models share one per settings; this is for
    tools that need their own (the export check, with ``logits_all=True``).
    """
    from llama_cpp import Llama

    options: dict[str, Any] = {
        "n_threads": os.cpu_count(),
        "n_threads_batch": os.cpu_count(),
        "verbose": False,
        **kwargs,
    }
    with _OPEN_LOCK, _plain_cpu_buffers():
        return Llama(model_path=model_path, lora_path=adapter_path, **options)


_OPEN_LOCK = threading.Lock()


def _load(key: _LlamaKey, specialist: str) -> _LoadedLlama:
    model_path, adapter_path, n_ctx = key
    _check_gguf(Path(model_path), "base model", specialist)
    if adapter_path is not None:
        _check_gguf(Path(adapter_path), "adapter", specialist)
    try:
        import llama_cpp  # noqa: F401
    except ImportError as error:  # pragma: no cover - a dependency of the project
        raise ModelUnavailableError(
            "llama-cpp-python is not installed — run `pip install llama-cpp-python==0.3.36`"
        ) from error

    started = time.perf_counter()
    try:
        llama = open_llama(model_path, adapter_path, n_ctx=n_ctx)
    except Exception as error:  # llama-cpp-python raises ValueError or RuntimeError
        shown = display_path(Path(model_path))
        if adapter_path is not None:
            shown += f" with adapter {display_path(Path(adapter_path))}"
        raise ModelUnavailableError(
            f"llama.cpp cannot load {shown}: {error} — the file may be truncated or corrupt; "
            f"delete it and {_hint(Path(model_path), 'base model', specialist)}"
        ) from error
    elapsed = time.perf_counter() - started
    LLAMA_STATS.record_load(elapsed)
    logger.info(
        "loaded %s%s (n_ctx=%d) in %.2fs",
        display_path(Path(model_path)),
        f" + {display_path(Path(adapter_path))}" if adapter_path else "",
        n_ctx,
        elapsed,
    )
    return _LoadedLlama(llama)


def _get_loaded(
    model_path: str, adapter_path: str | None, n_ctx: int, specialist: str = ""
) -> _LoadedLlama:
    key: _LlamaKey = (
        str(Path(model_path).resolve()),
        str(Path(adapter_path).resolve()) if adapter_path else None,
        n_ctx,
    )
    with _LLAMAS_LOCK:
        loaded = _LLAMAS.get(key)
        if loaded is None:
            loaded = _load(key, specialist)
            _LLAMAS[key] = loaded
        return loaded


def get_llama(model_path: str, adapter_path: str | None = None, n_ctx: int = 2048) -> Llama:
    """Return the process-wide ``Llama`` for these settings, loading it on first use.

    Raises:
        ModelUnavailableError: If a file is missing, not a GGUF file, or not loadable.
    """
    return _get_loaded(model_path, adapter_path, n_ctx).llama


def clear_llama_cache() -> None:
    """Forget every loaded ``Llama`` (they are freed once no chat model holds them)."""
    with _LLAMAS_LOCK:
        _LLAMAS.clear()


# --------------------------------------------------------------------------- chat model


def _is_special_token(stop: str) -> bool:
    return stop.startswith("<|") and stop.endswith("|>")


def grammar_stops(stops: list[str]) -> list[str]:
    """Return the stop sequences that are safe while a grammar constrains decoding.

    A grammar ends generation itself when the JSON is complete; a plain-text stop such
    as ``";"`` would cut a JSON string that contains it. Special tokens (``<|…|>``)
    cannot occur inside grammar-constrained text, so they are kept.
    """
    return [stop for stop in stops if _is_special_token(stop)]


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        return "tool"
    if isinstance(message, ChatMessage):
        return message.role
    raise ValueError(f"unsupported message type for the embedded model: {type(message).__name__}")


def _to_llama_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _role(message), "content": str(message.text)} for message in messages]


def _merge_stops(*groups: list[str] | None) -> list[str]:
    merged: dict[str, None] = {}
    for group in groups:
        for stop in group or []:
            merged.setdefault(stop, None)
    return list(merged)


class EmbeddedChatModel(BaseChatModel):
    """A LangChain chat model served by llama.cpp in this process.

    The prompt is rendered with the chat template stored in the GGUF file. The
    Modelfile's ``SYSTEM`` is not injected here: the caller sends it as a system
    message. ``invoke(..., format=schema)`` constrains the output to the JSON schema;
    ``format="json"`` to any JSON object; ``invoke(..., grammar=gbnf_text)`` to a GBNF
    grammar (start rule ``root``).
    """

    model_config = ConfigDict(protected_namespaces=())

    model_path: str
    """The base model GGUF."""
    adapter_path: str | None = None
    """A LoRA adapter GGUF applied on the base model, if any."""
    n_ctx: int = 2048
    """Context window in tokens."""
    temperature: float = 0.0
    """Sampling temperature; 0 is greedy decoding."""
    max_tokens: int = 256
    """Most tokens to generate per call (Modelfile ``num_predict``)."""
    stop: list[str] = Field(default_factory=list)
    """Stop sequences, merged with any passed to ``invoke``."""
    seed: int = 0
    """Sampling seed."""
    repeat_penalty: float = 1.0
    """Repetition penalty; none by default. Each specialist's Modelfile sets its own
    (``PARAMETER repeat_penalty``), which Ollama reads too, so both backends decode alike."""
    specialist: str = ""
    """The specialist this model serves (for messages and metadata)."""

    _loaded: _LoadedLlama | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "slm-embedded"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "adapter_path": self.adapter_path,
            "n_ctx": self.n_ctx,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": self.stop,
            "seed": self.seed,
            "repeat_penalty": self.repeat_penalty,
            "specialist": self.specialist,
        }

    def _loaded_llama(self) -> _LoadedLlama:
        if self._loaded is None:
            self._loaded = _get_loaded(
                self.model_path, self.adapter_path, self.n_ctx, self.specialist
            )
        return self._loaded

    @property
    def llama(self) -> Llama:
        """The shared ``Llama`` behind this model (loaded on first access)."""
        return self._loaded_llama().llama

    def load(self) -> None:
        """Load the model now instead of on the first call.

        Raises:
            ModelUnavailableError: If a file is missing, not a GGUF file, or not loadable.
        """
        self._loaded_llama()

    def _grammar_for(self, output_format: Any) -> str | None:
        if output_format is None or output_format == "":
            return None
        if output_format == "json":
            return schema_to_gbnf(JSON_OBJECT_SCHEMA)
        if isinstance(output_format, dict):
            return schema_to_gbnf(output_format)
        raise TypeError(
            f"format must be a JSON schema dict, 'json' or None, got {type(output_format).__name__}"
        )

    @contextmanager
    def _locked(self) -> Iterator[_LoadedLlama]:
        loaded = self._loaded_llama()
        with loaded.lock:
            yield loaded

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """Generate one reply with llama.cpp.

        Args:
            messages: The conversation, system message first if any.
            stop: Extra stop sequences for this call.
            run_manager: LangChain callbacks (unused: no streaming).
            **kwargs: ``format``: a JSON schema dict or ``"json"`` to constrain the
                output; ``grammar``: GBNF text to constrain it (not both). Other keywords
                are ignored.

        Returns:
            One generation whose message carries timing and token counts in
            ``response_metadata`` and ``usage_metadata``.

        Raises:
            SchemaGrammarError: If ``format`` cannot be turned into a grammar, or llama.cpp
                rejects ``grammar``: decoding never falls back to unconstrained text.
            ValueError: If both ``format`` and ``grammar`` are given.
            ModelUnavailableError: If the model cannot be loaded.
            BackendError: If llama.cpp fails while generating.
        """
        output_format = kwargs.pop("format", None)
        gbnf = kwargs.pop("grammar", None)
        if kwargs:
            logger.debug("ignoring unsupported keywords %s", sorted(kwargs))
        if gbnf is not None and output_format not in (None, ""):
            raise ValueError("pass either format= or grammar=, not both")
        if gbnf is not None and not isinstance(gbnf, str):
            raise TypeError(f"grammar must be GBNF text, got {type(gbnf).__name__}")
        if gbnf is not None and not gbnf.strip():
            # llama.cpp treats an empty grammar as "no grammar": never decode unconstrained.
            raise SchemaGrammarError("empty GBNF grammar passed as `grammar=`")
        grammar_text = gbnf if gbnf is not None else self._grammar_for(output_format)
        stops = _merge_stops(self.stop, stop)
        if grammar_text is not None:
            stops = grammar_stops(stops)
        llama_messages = _to_llama_messages(messages)

        with self._locked() as loaded:
            grammar = None
            if grammar_text is not None:
                from llama_cpp.llama_grammar import LlamaGrammar

                loaded.check_grammar(grammar_text, "gbnf" if gbnf is not None else "schema")
                grammar = LlamaGrammar.from_string(grammar_text, verbose=False)
            loaded.prepare_prompt_cache(llama_messages)
            started = time.perf_counter()
            try:
                response: Any = loaded.llama.create_chat_completion(
                    messages=llama_messages,  # type: ignore[arg-type]
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    stop=stops,
                    seed=self.seed,
                    repeat_penalty=self.repeat_penalty,
                    grammar=grammar,
                )
            except Exception as error:
                loaded.forget_prompt_cache()
                raise BackendError(
                    f"llama.cpp failed on {display_path(Path(self.model_path))}"
                    f"{f' ({self.specialist})' if self.specialist else ''}: {error}"
                ) from error
            elapsed = time.perf_counter() - started

        choice = response["choices"][0]
        text = choice["message"].get("content") or ""
        finish_reason = choice.get("finish_reason")
        usage = response.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        completion_tokens = int(usage.get("completion_tokens", 0))
        LLAMA_STATS.record_call(elapsed, prompt_tokens, completion_tokens)
        if grammar_text is not None and finish_reason == "length":
            logger.warning(
                "%s: structured output hit max_tokens=%d; the %s is truncated",
                self.specialist or "embedded model",
                self.max_tokens,
                "text" if gbnf is not None else "JSON",
            )

        metadata: dict[str, Any] = {
            "model_name": Path(self.model_path).name,
            "adapter": Path(self.adapter_path).name if self.adapter_path else None,
            "specialist": self.specialist,
            "finish_reason": finish_reason,
            "llama_seconds": elapsed,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "tokens_per_s": completion_tokens / elapsed if elapsed > 0 else 0.0,
            "format": "grammar"
            if gbnf is not None
            else ("json" if output_format == "json" else ("schema" if grammar_text else None)),
        }
        usage_metadata = UsageMetadata(
            input_tokens=prompt_tokens,
            output_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        message = AIMessage(content=text, response_metadata=metadata, usage_metadata=usage_metadata)
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"token_usage": dict(usage), "model_name": metadata["model_name"]},
        )
