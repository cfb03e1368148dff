"""Helpers shared by the specialist nodes: model lookup, structured calls, result records."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

import runtime
from graph.context import Context
from graph.state import Attempt, SubTask, TaskResult

ModelT = TypeVar("ModelT", bound=BaseModel)


def chat_model(context: Context, specialist: str) -> BaseChatModel:
    """Return the chat model for ``specialist``: the context's override, else the runtime's."""
    if context.chat_models and specialist in context.chat_models:
        model: BaseChatModel = context.chat_models[specialist]
        return model
    return runtime.get_chat_model(
        specialist,
        backend=context.backend,
        ollama_host=context.ollama_host,
        ollama_hosts=context.ollama_hosts,
        fallback=context.ollama_fallback,
        keep_alive=context.ollama_keep_alive,
    )


def system_text(context: Context, specialist: str) -> str:
    """The specialist's SYSTEM prompt from its Modelfile ('' for a model the context brings)."""
    if context.chat_models and specialist in context.chat_models:
        return ""
    return runtime.system_prompt(specialist) or ""


def system_message(context: Context, specialist: str, *extra: str) -> list[BaseMessage]:
    """The SYSTEM prompt plus ``extra`` paragraphs, as a message list (empty if all are empty)."""
    text = "\n\n".join(part for part in (system_text(context, specialist), *extra) if part)
    return [SystemMessage(text)] if text else []


def is_finetuned(model: BaseChatModel, context: Context, specialist: str) -> bool:
    """Whether ``model`` is a fine-tuned specialist (it is then sent the zero-shot chat).

    An embedded model is fine-tuned when it applies a LoRA adapter; a model the runtime
    serves from Ollama when the specialist's Modelfile names an ``ADAPTER``; a model the
    context brings only when it says so with a truthy ``adapter_path``.
    """
    from runtime.embedded import EmbeddedChatModel

    if isinstance(model, EmbeddedChatModel) or (
        context.chat_models and specialist in context.chat_models
    ):
        return bool(getattr(model, "adapter_path", None))
    return bool(runtime.load_modelfile(specialist).adapters)


def to_messages(turns: Sequence[tuple[str, str]]) -> list[BaseMessage]:
    """LangChain messages for ``(role, content)`` turns from :mod:`prompts.chat`."""
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[role](content) for role, content in turns]


class Timer:
    """Accumulates seconds spent in a named kind of work."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.spent: dict[str, float] = {}

    def add(self, kind: str, since: float) -> None:
        """Add the seconds since ``since`` (a ``time.perf_counter()`` value) to ``kind``."""
        self.spent[kind] = self.spent.get(kind, 0.0) + time.perf_counter() - since

    def totals(self) -> dict[str, float]:
        """Seconds per kind, plus ``total`` since the timer was made."""
        return {
            **{k: round(v, 6) for k, v in self.spent.items()},
            "total": round(time.perf_counter() - self.started, 6),
        }


def invoke_text(model: BaseChatModel, messages: Sequence[BaseMessage], timer: Timer) -> AIMessage:
    """Call the model for free text, timing it as ``model``."""
    since = time.perf_counter()
    try:
        reply = model.invoke(list(messages))
    finally:
        timer.add("model", since)
    return reply if isinstance(reply, AIMessage) else AIMessage(str(reply.content))


def invoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[ModelT],
    timer: Timer,
) -> tuple[ModelT | None, AIMessage, str | None]:
    """Call the model with decoding constrained to ``schema``'s JSON schema.

    Returns:
        The parsed object (or None), the raw reply, and the validation error (or None).
    """
    since = time.perf_counter()
    try:
        reply = model.invoke(list(messages), format=schema.model_json_schema())
    finally:
        timer.add("model", since)
    raw = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
    message = reply if isinstance(reply, AIMessage) else AIMessage(raw)
    try:
        return schema.model_validate_json(raw), message, None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "output"
        return None, message, f"{where}: {first.get('msg', 'invalid')}"


def make_result(
    task: SubTask,
    *,
    status: str,
    output: str,
    timer: Timer,
    query: str | None = None,
    columns: list[str] | None = None,
    rows: list[list[Any]] | None = None,
    truncated: bool = False,
    attempts: list[Attempt] | None = None,
    action: dict[str, Any] | None = None,
) -> TaskResult:
    """Build the ``TaskResult`` record a specialist node returns."""
    return TaskResult(
        id=task["id"],
        specialist=task["specialist"],
        instruction=task["instruction"],
        status=status,  # type: ignore[typeddict-item]
        output=output,
        query=query,
        columns=columns or [],
        rows=rows or [],
        truncated=truncated,
        attempts=attempts or [],
        timings=timer.totals(),
        action=action,
    )


def strip_fences(text: str) -> str:
    """Remove markdown code fences and a leading ``SQL:`` label from model output."""
    cleaned = text.strip()
    if cleaned.startswith("```"):
        cleaned = cleaned.strip("`")
        first, _, rest = cleaned.partition("\n")
        cleaned = rest if first.strip().lower() in ("sql", "soql", "") else cleaned
        cleaned = cleaned.split("```")[0]
    for label in ("SQL:", "sql:", "SOQL:"):
        if cleaned.startswith(label):
            cleaned = cleaned[len(label) :]
    return cleaned.strip().rstrip(";").strip()


def format_rows(columns: list[str], rows: list[list[Any]], limit: int = 20) -> str:
    """Render rows as a small pipe-separated table for prompts and answers."""
    if not columns:
        return "(no columns)"
    lines = [" | ".join(columns)]
    for row in rows[:limit]:
        lines.append(" | ".join("" if v is None else str(v) for v in row))
    if len(rows) > limit:
        lines.append(f"… {len(rows) - limit} more rows")
    if not rows:
        lines.append("(no rows)")
    return "\n".join(lines)
