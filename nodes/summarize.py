"""The summarisation node: one sub-task to :mod:`specialists.summarize`."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Attempt, TaskInput
from nodes import resources
from nodes.results import make_result, update
from specialists.base import SUBTASK_ERRORS, Timer
from specialists.summarize import (
    SUMMARIZE,
    dependency_content,
    result_source,
    split_instruction,
    summarize,
    text_source,
)


def summarize_content(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Summarise the text in the instruction, or the result of the sub-task it depends on."""
    task = task_input["task"]
    dependency = task_input["dependency"]
    context = runtime.context
    timer = Timer()

    if dependency is not None and dependency["status"] != "ok":
        reason = f"Nothing to summarise: sub-task {dependency['id']} did not produce a result."
        return update(make_result(task, status="skipped", output=reason, timer=timer))
    instruction = task["instruction"]
    if dependency is not None and dependency["columns"] and not dependency["rows"]:
        output = f"Sub-task {dependency['id']} returned no rows, so there is nothing to summarise."
        return update(make_result(task, status="ok", output=output, timer=timer))
    if dependency is not None:
        content = dependency_content(dependency)
        source, fallback = result_source(dependency)
        kind = "the rows" if dependency["columns"] else "the result"
    else:
        split = split_instruction(instruction)
        if split is None:
            reason = "Nothing to summarise: give the text after a colon, e.g. 'Summarise: …'."
            return update(make_result(task, status="failed", output=reason, timer=timer))
        instruction, content = split
        source, fallback = text_source(content)
        kind = "the text"
    try:
        model = resources.chat_model(context, SUMMARIZE.name)
        system = resources.system_text(context, SUMMARIZE.name)
        summary = summarize(
            model,
            instruction,
            content,
            source=source,
            fallback=fallback,
            system=system,
            timer=timer,
        )
    except SUBTASK_ERRORS as exc:
        reason = f"The {SUMMARIZE.label} model is not available: {exc}"
        return update(make_result(task, status="failed", output=reason, timer=timer))
    if not summary.replaced:
        attempts = [Attempt(query=summary.drafted, error=None)]
        return update(
            make_result(
                task,
                status="ok",
                output=summary.text,
                timer=timer,
                truncated=summary.truncated,
                attempts=attempts,
            )
        )
    problems = ", ".join(summary.problems)
    them = "them" if kind == "the rows" else "it"
    output = (
        f"{summary.text} [Written from {kind}: the summariser's own summary was not "
        f"supported by {them} ({problems}).]"
    )
    attempts = [
        Attempt(query=summary.drafted, error=f"not supported by the source: {problems}"),
        Attempt(query=summary.text, error=None),
    ]
    return update(
        make_result(
            task,
            status="ok",
            output=output,
            timer=timer,
            truncated=summary.truncated,
            attempts=attempts,
        )
    )
