"""The one place the dispatcher graph is wired.

``build_graph()`` returns the uncompiled builder; ``compile_graph(checkpointer)``
compiles it for services and tests; the module-level ``graph`` is compiled without a
checkpointer for LangGraph Studio, which supplies its own.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.context import Context
from graph.state import InputState, State, TaskInput
from nodes.respond import compose_answer
from nodes.router import advance_plan, dispatch_ready, route_request
from nodes.salesforce import answer_with_salesforce, perform_approved_write
from nodes.sql import answer_with_sql
from nodes.summarize import summarize_content

SPECIALIST_NODES = ("sql", "salesforce", "summarize")


def build_graph() -> StateGraph[State, Context, InputState, State]:
    """Wire router → specialists (fan-out with ``Send``) → advance → … → respond.

    A Salesforce write that needs approval goes from ``advance`` to ``approve_write``,
    which pauses the thread with ``interrupt()`` until a human decides.
    """
    builder = StateGraph(State, context_schema=Context, input_schema=InputState)
    builder.add_node("router", route_request)
    # Specialists take a TaskInput (sent with Send), not the graph state; langgraph's
    # overloads do not express a Runtime-taking node with its own input schema.
    builder.add_node("sql", answer_with_sql, input_schema=TaskInput)  # type: ignore[call-overload]
    builder.add_node(
        "salesforce",
        answer_with_salesforce,
        input_schema=TaskInput,
    )  # type: ignore[call-overload]
    builder.add_node(
        "summarize",
        summarize_content,
        input_schema=TaskInput,
    )  # type: ignore[call-overload]
    builder.add_node(
        "approve_write",
        perform_approved_write,
        input_schema=TaskInput,
    )  # type: ignore[call-overload]
    builder.add_node("advance", advance_plan)
    builder.add_node("respond", compose_answer)

    builder.add_edge(START, "router")
    targets = [*SPECIALIST_NODES, "approve_write", "respond"]
    builder.add_conditional_edges("router", dispatch_ready, targets)
    for name in (*SPECIALIST_NODES, "approve_write"):
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
