"""The summarisation specialist node."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import TaskInput, TaskResult
from nodes.support import Timer, chat_model, format_rows, invoke_text, make_result, system_message
from prompts.render import render
from prompts.summarize import SUMMARIZE_PROMPT
from runtime.errors import BackendError, ModelUnavailableError

MAX_CONTENT_CHARS = 3000
"""Most characters of content put in front of the model (its context is small)."""

_INSTRUCTION_WITH_TEXT = re.compile(
    r"^(?P<instruction>[^:\n]{0,120}):\s*(?P<text>\S.*)$", re.DOTALL
)


def dependency_content(dependency: TaskResult) -> str:
    """What an earlier sub-task produced, as text for the summariser."""
    lines = [f"Result of: {dependency['instruction']}"]
    if dependency["query"]:
        lines.append(f"Query: {dependency['query']}")
    if dependency["columns"]:
        lines.append(format_rows(dependency["columns"], dependency["rows"]))
    else:
        lines.append(dependency["output"])
    return "\n".join(lines)


def summarize_content(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Summarise the text in the instruction, or the result of the sub-task it depends on."""
    task = task_input["task"]
    dependency = task_input["dependency"]
    context = runtime.context
    timer = Timer()

    if dependency is not None and dependency["status"] != "ok":
        reason = f"Nothing to summarise: sub-task {dependency['id']} did not produce a result."
        return {"results": [make_result(task, status="skipped", output=reason, timer=timer)]}
    instruction = task["instruction"]
    if dependency is not None and dependency["columns"] and not dependency["rows"]:
        output = f"Sub-task {dependency['id']} returned no rows, so there is nothing to summarise."
        return {"results": [make_result(task, status="ok", output=output, timer=timer)]}
    if dependency is not None:
        content = dependency_content(dependency)
    else:
        match = _INSTRUCTION_WITH_TEXT.match(instruction)
        if match is None:
            reason = "Nothing to summarise: give the text after a colon, e.g. 'Summarise: …'."
            return {"results": [make_result(task, status="failed", output=reason, timer=timer)]}
        instruction, content = match["instruction"], match["text"]
    truncated = len(content) > MAX_CONTENT_CHARS
    content = content[:MAX_CONTENT_CHARS]
    try:
        model = chat_model(context, "summarize")
        messages = [
            *system_message(context, "summarize"),
            HumanMessage(render(SUMMARIZE_PROMPT, instruction=instruction, content=content)),
        ]
        reply = invoke_text(model, messages, timer)
    except (ModelUnavailableError, BackendError) as exc:
        reason = f"The summarisation model is not available: {exc}"
        return {"results": [make_result(task, status="failed", output=reason, timer=timer)]}
    summary = str(reply.content).strip()
    if not summary:
        return {
            "results": [
                make_result(task, status="failed", output="The model wrote nothing.", timer=timer)
            ]
        }
    result = make_result(task, status="ok", output=summary, timer=timer, truncated=truncated)
    return {"results": [result]}
