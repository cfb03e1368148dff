"""The summarisation specialist: a short summary of a text or of an earlier result."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from prompts.render import render
from prompts.summarize import SUMMARIZE_PROMPT
from specialists.base import Specialist, Timer, Turn, invoke_text, system_turns
from specialists.facts import Source, unsupported
from specialists.sentences import describe_result, lead_sentences
from specialists.text import format_rows

MAX_CONTENT_CHARS = 3000
"""Most characters of content put in front of the model (its context is small)."""

_INSTRUCTION_WITH_TEXT = re.compile(
    r"^(?P<instruction>[^:\n]{0,120}):\s*(?P<text>\S.*)$", re.DOTALL
)


def summarize_chat(system: str, request: str, *, fewshot: bool, schema: str = "") -> list[Turn]:
    """The summariser's chat: the SYSTEM text and the request (see :func:`summary_request`)."""
    return [*system_turns(system), ("user", request)]


SUMMARIZE = Specialist(
    name="summarize",
    label="summarisation",
    chat=summarize_chat,
    checked_by="specialists.facts: every number and name must come from the source",
    trainable=True,
)
"""The summariser: free text, one attempt, checked; a summary that fails the check is
replaced by a sentence written by code from the source."""


def summary_request(instruction: str, content: str) -> str:
    """The user turn: the instruction and the content to summarise."""
    return render(SUMMARIZE_PROMPT, instruction=instruction, content=content)


def dependency_content(dependency: Mapping[str, Any]) -> str:
    """What an earlier sub-task produced (a ``TaskResult``), as text for the summariser."""
    lines = [f"Result of: {dependency['instruction']}"]
    if dependency["query"]:
        lines.append(f"Query: {dependency['query']}")
    if dependency["columns"]:
        lines.append(format_rows(dependency["columns"], dependency["rows"]))
    else:
        lines.append(dependency["output"])
    return "\n".join(lines)


def split_instruction(instruction: str) -> tuple[str, str] | None:
    """``"Summarise: <text>"`` as ``(instruction, text)``; None when no text follows a colon."""
    match = _INSTRUCTION_WITH_TEXT.match(instruction)
    if match is None:
        return None
    return match["instruction"], match["text"]


@dataclass
class Summary:
    """What :func:`summarize` produced."""

    text: str
    """The summary given: the model's, or the fallback when the model's failed the check."""
    truncated: bool
    """True when the content was cut before the model saw it."""
    drafted: str = ""
    """What the model wrote."""
    problems: list[str] = field(default_factory=list)
    """What the model's summary held that the source does not (empty: it was kept)."""

    @property
    def replaced(self) -> bool:
        """True when the fallback replaced the model's summary."""
        return bool(self.problems)


def summarize(
    model: BaseChatModel,
    instruction: str,
    content: str,
    *,
    source: Source,
    fallback: str,
    system: str,
    timer: Timer,
) -> Summary:
    """Summarise ``content`` as ``instruction`` asks, and check the summary against ``source``.

    The content is cut to :data:`MAX_CONTENT_CHARS` first. A summary with a number or name
    that ``source`` does not support (:func:`specialists.facts.unsupported`), or an empty
    one, is replaced by ``fallback``.

    Raises:
        ModelUnavailableError, BackendError: The model cannot serve.
    """
    truncated = len(content) > MAX_CONTENT_CHARS
    request = summary_request(instruction, content[:MAX_CONTENT_CHARS])
    messages = SUMMARIZE.messages(system, request, fewshot=False)
    drafted = str(invoke_text(model, messages, timer).content).strip()
    problems = unsupported(drafted, source) if drafted else ["nothing (an empty summary)"]
    return Summary(
        text=fallback if problems else drafted,
        truncated=truncated,
        drafted=drafted,
        problems=problems,
    )


def result_source(dependency: Mapping[str, Any]) -> tuple[Source, str]:
    """What a summary of an earlier result may draw on, and the sentence that replaces it."""
    context = " ".join(str(dependency.get(k) or "") for k in ("instruction", "query"))
    if dependency["columns"]:
        source = Source.of_rows(dependency["columns"], dependency["rows"], context=context)
        fallback = describe_result(
            dependency["columns"],
            dependency["rows"],
            dependency["truncated"],
            request=dependency["instruction"],
        )
        return source, fallback
    return Source.of_text(f"{context} {dependency['output']}"), lead_sentences(dependency["output"])


def text_source(text: str) -> tuple[Source, str]:
    """What a summary of a given text may draw on, and the sentences that replace it."""
    return Source.of_text(text), lead_sentences(text)


__all__ = [
    "MAX_CONTENT_CHARS",
    "SUMMARIZE",
    "Summary",
    "dependency_content",
    "describe_result",
    "result_source",
    "split_instruction",
    "summarize",
    "summary_request",
    "text_source",
]
