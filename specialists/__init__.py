"""The specialists, defined once: the registry every other layer reads.

Each specialist is one module here holding its output contract, its chat in both forms,
its decoding constraint, the check its output must pass and its repair policy (see
:class:`specialists.base.Specialist`). Nodes, training, evaluation and the CLI take the list
of specialists from :data:`SPECIALISTS`; adding one means a module here, a Modelfile in
``ollama/Modelfiles`` and a node line in ``graph/builder.py``.

This layer imports no LangGraph, no graph code and no concrete model backend.
"""

from __future__ import annotations

from typing import get_args

from specialists.base import (
    SUBTASK_ERRORS,
    Attempt,
    Specialist,
    SubTask,
    TaskSpecialist,
    Timer,
    Turn,
)
from specialists.router import ROUTER
from specialists.salesforce import SALESFORCE
from specialists.sql import SQL
from specialists.summarize import SUMMARIZE

SPECIALISTS: dict[str, Specialist] = {s.name: s for s in (ROUTER, SQL, SALESFORCE, SUMMARIZE)}
"""Every specialist by name: the router first, then the task specialists."""

TASK_SPECIALISTS: tuple[TaskSpecialist, ...] = get_args(TaskSpecialist)
"""The specialists a sub-task can be handed to (each has a graph node of its name)."""

TRAINABLE: tuple[str, ...] = tuple(name for name, s in SPECIALISTS.items() if s.trainable)
"""The specialists that have a dataset and can be fine-tuned."""

if set(TASK_SPECIALISTS) != set(SPECIALISTS) - {ROUTER.name}:  # pragma: no cover
    raise ImportError(
        f"TaskSpecialist {TASK_SPECIALISTS} does not match the registry {tuple(SPECIALISTS)}"
    )


def get(name: str) -> Specialist:
    """The specialist called ``name``.

    Raises:
        ValueError: No specialist has that name.
    """
    try:
        return SPECIALISTS[name]
    except KeyError:
        raise ValueError(
            f"unknown specialist {name!r}: expected one of {', '.join(SPECIALISTS)}"
        ) from None


__all__ = [
    "SPECIALISTS",
    "SUBTASK_ERRORS",
    "TASK_SPECIALISTS",
    "TRAINABLE",
    "Attempt",
    "Specialist",
    "SubTask",
    "TaskSpecialist",
    "Timer",
    "Turn",
    "get",
]
