"""The router: turns a request into a plan of sub-tasks.

Two paths. The rules fast path splits the request into clauses and matches each
against patterns per specialist; when every clause clearly belongs to exactly one
specialist the plan is made without a model call. Anything else goes to the router
model, whose output is constrained to the ``Plan`` schema and then checked.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Send
from pydantic import BaseModel, Field

from graph.context import Context
from graph.state import RouteInfo, State, SubTask, TaskInput, TaskResult
from nodes.support import (
    Timer,
    chat_model,
    invoke_structured,
    is_finetuned,
    system_text,
    to_messages,
)
from prompts.chat import router_chat
from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError

logger = logging.getLogger(__name__)

MAX_TASKS = 5
"""Most sub-tasks one plan may hold."""


class PlannedTask(BaseModel):
    """One sub-task as the router model writes it."""

    specialist: Literal["sql", "salesforce", "summarize"] = Field(
        description="sql: the company database; salesforce: the CRM; summarize: summarise text "
        "or an earlier result."
    )
    instruction: str = Field(
        max_length=300, description="What the specialist must do, in one sentence."
    )
    depends_on: int | None = Field(
        default=None,
        description="Position (from 1) of an earlier sub-task whose result this one needs.",
    )


class Plan(BaseModel):
    """The router model's answer: the sub-tasks of the request, in order."""

    tasks: list[PlannedTask] = Field(
        max_length=MAX_TASKS, description="The sub-tasks, in the order they should run."
    )


SPECIALIST_PATTERNS: dict[str, re.Pattern[str]] = {
    "summarize": re.compile(
        r"\b(summari[sz]e|summary|summari[sz]ing|tl;?dr|recap|condense|sum up|"
        r"in (?:one|a|two|three) sentences?)\b",
        re.IGNORECASE,
    ),
    "salesforce": re.compile(
        r"\b(salesforce|soql|crm|accounts?|contacts?|opportunit(?:y|ies)|leads?|cases?|"
        r"pipeline|stage ?names?|closed won|closed lost)\b",
        re.IGNORECASE,
    ),
    "sql": re.compile(
        r"\b(database|sql|sales ?reps?|representatives?|customers?|products?|orders?|"
        r"order items?|revenue|unit prices?|shipped|delivered|cancell?ed|canceled|returned|"
        r"segments?)\b",
        re.IGNORECASE,
    ),
}
"""Words that clearly belong to one specialist's domain."""

_CLAUSE_SPLIT = re.compile(r"(?<=[.?!;])\s+|,?\s+\b(?:and then|then)\b\s+", re.IGNORECASE)
_LEADING_JOINER = re.compile(r"^(?:and\s+|then\s+|also\s+|finally\s+|please\s+)+", re.IGNORECASE)
_BACK_REFERENCE = re.compile(
    r"\b(it|that|this|them|these|those|the (?:results?|answer|above|output|rows|data|list|"
    r"numbers|figures))\b",
    re.IGNORECASE,
)
_SUMMARIZE_WITH_TEXT = re.compile(
    r"^\s*(?:please\s+)?(?:summari[sz]e|sum up|recap|condense|tl;?dr)\b"
    r"[^:\n]{0,80}:\s*(?P<text>\S.*)$",
    re.IGNORECASE | re.DOTALL,
)


_QUOTED_THEN_MORE = re.compile(r'^\s*"[^"]*"\W*\w', re.DOTALL)
"""A quoted text followed by more words: the request goes on after the text to summarise
("Summarise: \"...\" Then how many orders ..."), so the rules leave it to the router model."""


def split_clauses(request: str) -> list[str]:
    """Split a request into clauses at sentence ends, semicolons and ``then``."""
    parts = [_LEADING_JOINER.sub("", p.strip()) for p in _CLAUSE_SPLIT.split(request)]
    return [p for p in parts if p and re.search(r"\w", p)]


def matching_specialists(clause: str) -> list[str]:
    """Specialists whose patterns match ``clause``."""
    return [name for name, pattern in SPECIALIST_PATTERNS.items() if pattern.search(clause)]


def plan_by_rules(request: str) -> list[SubTask] | None:
    """Plan ``request`` with the rules, or return None when the rules cannot decide.

    The rules decide only when every clause matches exactly one specialist (a
    ``summarize`` clause that refers back to an earlier clause counts as summarize);
    a ``summarize`` clause then depends on the sub-task just before it.
    """
    with_text = _SUMMARIZE_WITH_TEXT.match(request)
    if with_text:
        if _QUOTED_THEN_MORE.match(with_text["text"]):
            return None
        return [SubTask(id=1, specialist="summarize", instruction=request.strip(), depends_on=None)]
    plan: list[SubTask] = []
    for clause in split_clauses(request):
        found = matching_specialists(clause)
        refers_back = bool(plan) and bool(_BACK_REFERENCE.search(clause))
        if "summarize" in found and refers_back:
            found = ["summarize"]
        if len(found) != 1:
            return None
        specialist = found[0]
        depends_on = None
        if specialist == "summarize":
            if not refers_back:
                return None
            depends_on = plan[-1]["id"]
        plan.append(
            SubTask(
                id=len(plan) + 1,
                specialist=specialist,  # type: ignore[typeddict-item]
                instruction=clause,
                depends_on=depends_on,
            )
        )
        if len(plan) > MAX_TASKS:
            return None
    return plan or None


def plan_from_model(plan: Plan, request: str) -> list[SubTask]:
    """Turn the router model's ``Plan`` into sub-tasks, repairing what can be repaired.

    Empty instructions take the request's text; a ``depends_on`` that does not name an
    earlier sub-task is dropped, so the plan can never wait on itself or on the future.
    """
    tasks: list[SubTask] = []
    for position, planned in enumerate(plan.tasks[:MAX_TASKS], start=1):
        depends_on = planned.depends_on
        if depends_on is not None and not 1 <= depends_on < position:
            depends_on = None
        if planned.specialist == "summarize" and depends_on is None and position > 1:
            depends_on = position - 1
        tasks.append(
            SubTask(
                id=position,
                specialist=planned.specialist,
                instruction=planned.instruction.strip() or request.strip(),
                depends_on=depends_on,
            )
        )
    return tasks


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
    if context.router_rules:
        planned = plan_by_rules(request)
        if planned is not None:
            route = RouteInfo(
                path="rules",
                seconds=time.perf_counter() - started,
                note="every clause matched exactly one specialist",
            )
            return {"route": route, "plan": planned, "results": None, "answer": ""}
    timer = Timer()
    try:
        model = chat_model(context, "router")
        fewshot = not is_finetuned(model, context, "router")
        messages = to_messages(
            router_chat(system_text(context, "router"), request, fewshot=fewshot)
        )
        plan, _, error = invoke_structured(model, messages, Plan, timer)
    except (ModelUnavailableError, SchemaGrammarError, BackendError) as exc:
        return reject(f"The router model is not available: {exc}")
    if plan is None:
        return reject(f"The router model wrote an invalid plan ({error}).")
    tasks = plan_from_model(plan, request)
    if not tasks:
        return reject(
            "No specialist can serve this request: it is not about the sales "
            "database, the Salesforce org, or a text to summarise."
        )
    route = RouteInfo(
        path="model", seconds=time.perf_counter() - started, note="planned by the router model"
    )
    return {"route": route, "plan": tasks, "results": None, "answer": ""}


def dispatch_ready(state: State) -> list[Send] | Literal["respond"]:
    """Send every sub-task whose dependency has finished; go to ``respond`` when all are done.

    Independent sub-tasks leave in the same step and run in parallel; a sub-task that
    depends on another leaves in the step after that one's result arrives.
    """
    results: dict[int, TaskResult] = {r["id"]: r for r in state.results}
    done = {k: r for k, r in results.items() if r["status"] != "awaiting_approval"}
    sends = []
    for task in state.plan:
        result = results.get(task["id"])
        if result is not None and result["status"] == "awaiting_approval":
            payload = TaskInput(task=task, dependency=None, pending=result)
            sends.append(Send("approve_write", payload))
            continue
        if result is not None:
            continue
        dependency = task["depends_on"]
        if dependency is not None and dependency not in done:
            continue
        payload = TaskInput(
            task=task, dependency=done.get(dependency) if dependency else None, pending=None
        )
        sends.append(Send(task["specialist"], payload))
    return sends or "respond"


def advance_plan(state: State) -> dict[str, Any]:
    """Join point after each wave of specialists; ``dispatch_ready`` decides what runs next."""
    return {}
