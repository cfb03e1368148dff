"""The ``TaskResult`` records that specialist nodes return."""

from __future__ import annotations

from typing import Any

from graph.state import Attempt, SubTask, TaskInput, TaskResult
from specialists.base import Timer
from specialists.bindings import BindingError, Filled, fill


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
    taken: list[dict[str, Any]] | None = None,
) -> TaskResult:
    """Build the ``TaskResult`` record a specialist node returns."""
    result = TaskResult(
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
    if taken:
        result["inputs"] = taken
    return result


def bound_task(task_input: TaskInput, timer: Timer) -> tuple[SubTask, Filled] | dict[str, Any]:
    """The sub-task with its bindings' values copied in, or the update that stops it.

    Returns the sub-task (its instruction filled) and what was copied in; when a value
    cannot be taken (:class:`specialists.bindings.BindingError`), the node's update for a
    ``skipped`` result that says why, so that branch of the chain stops here.
    """
    task = task_input["task"]
    sources = {source["id"]: source for source in task_input.get("sources") or []}
    try:
        filled = fill(task, sources)
    except BindingError as exc:
        reason = f"Not run: {exc}."
        return update(make_result(task, status="skipped", output=reason, timer=timer))
    if not filled.taken:
        return task, filled
    bound = SubTask(**task)  # type: ignore[typeddict-item]
    bound["instruction"] = filled.instruction
    return bound, filled


def update(result: TaskResult) -> dict[str, Any]:
    """The node's partial state update for one result."""
    return {"results": [result]}
