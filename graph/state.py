"""The graph's state: what a thread remembers between steps.

State records are plain ``TypedDict`` values so that every checkpointer (SQLite,
PostgreSQL, LangGraph Studio's own) stores and restores them without custom types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from specialists import TASK_SPECIALISTS
from specialists.base import Attempt, SubTask, TaskSpecialist

Specialist = TaskSpecialist
"""The specialists a sub-task can be handed to (defined in :mod:`specialists`)."""

SPECIALISTS: tuple[Specialist, ...] = TASK_SPECIALISTS

__all__ = [
    "SPECIALISTS",
    "Attempt",
    "InputState",
    "RouteInfo",
    "Specialist",
    "State",
    "SubTask",
    "TaskInput",
    "TaskResult",
    "merge_results",
]


class TaskResult(TypedDict):
    """The outcome of one sub-task."""

    id: int
    """Id of the sub-task."""
    specialist: Specialist
    """Which specialist ran it."""
    instruction: str
    """The sub-task's instruction."""
    status: Literal["ok", "failed", "skipped", "awaiting_approval", "rejected"]
    """``ok``: it produced a result; ``failed``: it could not; ``skipped``: its dependency
    failed; ``awaiting_approval``: a validated write waits for a human; ``rejected``: a human
    declined the write."""
    output: str
    """Text for the final answer: the summary, a description of the rows, or the failure reason."""
    query: str | None
    """The validated SQL / SOQL that was executed, if any."""
    columns: list[str]
    """Column names of the result rows."""
    rows: list[list[Any]]
    """Result rows (JSON-friendly values)."""
    truncated: bool
    """True when more rows existed than were kept."""
    attempts: list[Attempt]
    """Every generation and why it was rejected, in order."""
    timings: dict[str, float]
    """Seconds spent: ``model`` (inside the model), ``tool`` (validation and execution),
    ``total``."""
    action: dict[str, Any] | None
    """The validated Salesforce action (as JSON), for a Salesforce sub-task."""
    inputs: NotRequired[list[dict[str, Any]]]
    """What it took from earlier results: ``{"from", "as", "column", "value"}`` per binding
    (absent or empty: nothing)."""


class RouteInfo(TypedDict):
    """How the router decided."""

    path: Literal["rules", "model", "rejected"]
    """``rules``: the fast path; ``model``: the router model;
    ``rejected``: nothing could be planned."""
    seconds: float
    """Time spent routing."""
    note: str
    """Why the router decided as it did (shown in the answer when nothing was planned)."""


def merge_results(left: list[TaskResult], right: list[TaskResult] | None) -> list[TaskResult]:
    """Merge sub-task results by id; a newer result for the same id replaces the older one.

    Parallel specialists each return a one-item list, so this reducer is what lets
    them write to ``results`` in the same step. ``None`` clears the results: the
    router sends it when a new request starts on an existing thread.
    """
    if right is None:
        return []
    by_id = {r["id"]: r for r in left}
    for result in right:
        by_id[result["id"]] = result
    return [by_id[k] for k in sorted(by_id)]


@dataclass
class InputState:
    """What a caller sends: the request only."""

    request: str = ""
    """The user's request, in natural language."""


@dataclass
class State(InputState):
    """Everything a thread holds."""

    route: RouteInfo | None = None
    """How the request was routed."""
    plan: list[SubTask] = field(default_factory=list)
    """The sub-tasks, in order."""
    results: Annotated[list[TaskResult], merge_results] = field(default_factory=list)
    """Results of the sub-tasks run so far, ordered by id."""
    answer: str = ""
    """The final answer, written by ``respond``."""


class TaskInput(TypedDict):
    """What the dispatcher sends to a specialist node for one sub-task."""

    task: SubTask
    """The sub-task to run."""
    dependency: TaskResult | None
    """The result of the sub-task it depends on, if any."""
    pending: TaskResult | None
    """For ``approve_write``: the sub-task's result that holds the write awaiting approval."""
    sources: NotRequired[list[TaskResult]]
    """The results its bindings take values from (:mod:`specialists.bindings`)."""
