"""The ``TaskResult`` records that specialist nodes return."""

from __future__ import annotations

from typing import Any

from graph.state import Attempt, SubTask, TaskResult
from specialists.base import Timer


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


def update(result: TaskResult) -> dict[str, Any]:
    """The node's partial state update for one result."""
    return {"results": [result]}
