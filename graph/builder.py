"""The one place the dispatcher graph is wired.

``build_graph()`` returns the uncompiled builder; ``compile_graph(checkpointer)``
compiles it for services and tests; the module-level ``graph`` is compiled without a
checkpointer for LangGraph Studio, which supplies its own.
"""

from __future__ import annotations

import sqlite3

import psycopg
import requests
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import RetryPolicy

from graph.approvals import APPROVE_NODE
from graph.context import Context
from graph.state import InputState, State, TaskInput
from nodes.respond import compose_answer
from nodes.router import dispatch_ready, join_wave, route_request
from nodes.salesforce import answer_with_salesforce, perform_approved_write
from nodes.sql import answer_with_sql
from nodes.summarize import summarize_content
from specialists import TASK_SPECIALISTS

SPECIALIST_NODES = {
    "sql": answer_with_sql,
    "salesforce": answer_with_salesforce,
    "summarize": summarize_content,
}
"""The node of each task specialist, by the specialist's name (one line per specialist)."""

if set(SPECIALIST_NODES) != set(TASK_SPECIALISTS):  # pragma: no cover
    raise ImportError(f"nodes {sorted(SPECIALIST_NODES)} != specialists {TASK_SPECIALISTS}")


def is_transient(exc: Exception) -> bool:
    """True for faults that go away on their own, worth running the node again for.

    Transient: SQLite ``database is locked`` / ``busy``; a PostgreSQL connection lost or
    refused (``psycopg.OperationalError``); a dropped or timed-out HTTP connection. Not
    transient (a retry would fail the same way): everything else, including validation
    errors, a missing model file, and ``BackendError`` (the runtime already retries Ollama's
    resets and 5xx; what reaches a node is final and becomes a failed sub-task there).
    """
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text
    return isinstance(
        exc,
        psycopg.OperationalError
        | requests.ConnectionError
        | requests.Timeout
        | ConnectionError
        | TimeoutError,
    )


RETRY_POLICY = RetryPolicy(
    initial_interval=0.2,
    backoff_factor=2.0,
    max_interval=5.0,
    max_attempts=3,
    retry_on=is_transient,
)
"""Every node's retry policy: three attempts, 0.2 s then 0.4 s apart, transient faults only.

Retrying ``approve_write`` is safe: the write journal makes the write exactly-once."""


def build_graph() -> StateGraph[State, Context, InputState, State]:
    """Wire router → specialists (fan-out with ``Send``) → advance → … → respond.

    A Salesforce write that needs approval goes from ``advance`` to ``approve_write``
    (:data:`graph.approvals.APPROVE_NODE`),
    which pauses the thread with ``interrupt()`` until a human decides.
    """
    builder = StateGraph(State, context_schema=Context, input_schema=InputState)
    builder.add_node("router", route_request, retry_policy=RETRY_POLICY)
    # Specialists take a TaskInput (sent with Send), not the graph state; langgraph's
    # overloads do not express a Runtime-taking node with its own input schema.
    task_nodes = {**SPECIALIST_NODES, APPROVE_NODE: perform_approved_write}
    for name, node in task_nodes.items():
        builder.add_node(name, node, input_schema=TaskInput, retry_policy=RETRY_POLICY)  # type: ignore[call-overload]
    builder.add_node("advance", join_wave)
    builder.add_node("respond", compose_answer)

    builder.add_edge(START, "router")
    targets = [*task_nodes, "respond"]
    builder.add_conditional_edges("router", dispatch_ready, targets)
    for name in task_nodes:
        builder.add_edge(name, "advance")
    builder.add_conditional_edges("advance", dispatch_ready, targets)
    builder.add_edge("respond", END)
    return builder


def compile_graph(
    checkpointer: BaseCheckpointSaver | None = None,
) -> CompiledStateGraph[State, Context, InputState, State]:
    """Compile the dispatcher with ``checkpointer`` (None: no persistence)."""
    return build_graph().compile(checkpointer=checkpointer, name="slm-dispatch")


graph = compile_graph()
"""The dispatcher without a checkpointer, for LangGraph Studio (``langgraph.json``)."""
