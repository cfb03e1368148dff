"""The summarisation specialist: a short summary of a text or of an earlier result."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

from prompts.render import render
from prompts.summarize import SUMMARIZE_PROMPT
from specialists.base import Specialist, Timer, Turn, invoke_text, system_turns
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
    checked_by="nothing yet: an empty summary fails the sub-task",
)
"""The summariser: free text, one attempt."""


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


def summarize(
    model: BaseChatModel, instruction: str, content: str, *, system: str, timer: Timer
) -> tuple[str, bool]:
    """Summarise ``content`` as ``instruction`` asks: the summary and whether it was cut.

    The content is cut to :data:`MAX_CONTENT_CHARS` first.

    Raises:
        ModelUnavailableError, BackendError: The model cannot serve.
    """
    truncated = len(content) > MAX_CONTENT_CHARS
    request = summary_request(instruction, content[:MAX_CONTENT_CHARS])
    messages = SUMMARIZE.messages(system, request, fewshot=False)
    reply = invoke_text(model, messages, timer)
    return str(reply.content).strip(), truncated
