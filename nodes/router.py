"""The router nodes: plan the request, send ready sub-tasks, join each wave.

``route_request`` plans with :mod:`specialists.router` (rules fast path, then the router
model); ``dispatch_ready`` fans the ready sub-tasks out with ``Send``; ``join_wave`` is
the join point after each wave.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Send

from graph.approvals import APPROVE_NODE
from graph.context import Context
from graph.state import RouteInfo, State, TaskInput, TaskResult
from nodes import resources
from specialists.base import SUBTASK_ERRORS, Timer
from specialists.bindings import bind_plan, sources_of
from specialists.router import ROUTER, out_of_scope, plan_by_rules, plan_with_model

OUT_OF_SCOPE = (
    "None of the specialists can answer this: it names nothing that the SQL database or the "
    "Salesforce org holds, and it asks for no summary."
)
"""The answer to a request outside every system's scope."""


def route_request(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Plan the request: rules fast path first, then the router model."""
    started = time.perf_counter()
    context = runtime.context
    request = state.request.strip()

    def reject(note: str) -> dict[str, Any]:
        route = RouteInfo(path="rejected", seconds=time.perf_counter() - started, note=note)
        return {"route": route, "plan": [], "results": None, "answer": ""}

    if not request:
        return reject(
            "The request is empty: ask a question about the sales database, "
            "the Salesforce org, or give a text to summarise."
        )
    if len(request) > context.max_request_chars:
        return reject(
            f"The request is {len(request):,} characters long; the limit is "
            f"{context.max_request_chars:,} (SLM_MAX_REQUEST_CHARS). Shorten it or split it."
        )
    cues = resources.cues(context)
    if context.router_rules:
        planned = plan_by_rules(request, cues)
        if planned is not None:
            route = RouteInfo(
                path="rules",
                seconds=time.perf_counter() - started,
                note="every clause matched exactly one specialist",
            )
            return {"route": route, "plan": planned, "results": None, "answer": ""}
    if out_of_scope(request, cues):
        return reject(OUT_OF_SCOPE)
    try:
        model = resources.chat_model(context, ROUTER.name)
        tasks, error = plan_with_model(
            model, request, system=resources.system_text(context, ROUTER.name), timer=Timer()
        )
    except SUBTASK_ERRORS as exc:
        return reject(f"The {ROUTER.label} model is not available: {exc}")
    if tasks is None:
        return reject(error or "The router model wrote no plan.")
    if not tasks:
        return reject(OUT_OF_SCOPE)
    tasks = bind_plan(tasks, cues.names_thing)
    route = RouteInfo(
        path="model", seconds=time.perf_counter() - started, note="planned by the router model"
    )
    return {"route": route, "plan": tasks, "results": None, "answer": ""}


def dispatch_ready(state: State) -> list[Send] | Literal["respond"]:
    """Send every sub-task whose dependency has finished; go to ``respond`` when all are done.

    Independent sub-tasks leave in the same step and run in parallel; a sub-task that
    depends on others (its ``depends_on`` and its bindings' sources) leaves in the step
    after the last of their results arrives, carrying those results.
    """
    results: dict[int, TaskResult] = {r["id"]: r for r in state.results}
    done = {k: r for k, r in results.items() if r["status"] != "awaiting_approval"}
    sends = []
    for task in state.plan:
        result = results.get(task["id"])
        if result is not None and result["status"] == "awaiting_approval":
            payload = TaskInput(task=task, dependency=None, pending=result)
            sends.append(Send(APPROVE_NODE, payload))
            continue
        if result is not None:
            continue
        needed = sources_of(task)
        if any(source not in done for source in needed):
            continue
        dependency = task["depends_on"]
        payload = TaskInput(
            task=task,
            dependency=done.get(dependency) if dependency else None,
            pending=None,
            sources=[done[source] for source in needed],
        )
        sends.append(Send(task["specialist"], payload))
    return sends or "respond"


def join_wave(state: State) -> dict[str, Any]:
    """Join point after each wave of specialists; ``dispatch_ready`` decides what runs next.

    It writes nothing: it gathers the parallel ``Send``s of one wave so that
    ``dispatch_ready`` runs once per wave.
    """
    return {}
