"""The specialist layer: the registry, the shared repair loop and its error decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

import specialists
from graph.api import Dispatcher
from graph.builder import SPECIALIST_NODES, build_graph
from graph.context import Context
from runtime import modelfile_path
from runtime.errors import BackendError, SchemaGrammarError
from specialists.base import Rejected, Timer, repair_loop
from specialists.router import Plan
from specialists.sql import SQL
from tests.fakes import ScriptedChatModel


def test_the_registry_is_the_one_list() -> None:
    names = list(specialists.SPECIALISTS)
    assert names[0] == "router"
    assert set(specialists.TASK_SPECIALISTS) == set(names) - {"router"}
    assert set(SPECIALIST_NODES) == set(specialists.TASK_SPECIALISTS)
    assert set(specialists.TASK_SPECIALISTS) <= set(build_graph().nodes)
    for name in names:
        assert modelfile_path(name).exists(), name
    assert specialists.TRAINABLE == ("router", "sql", "salesforce", "summarize")
    schema = json.dumps(Plan.model_json_schema())
    assert all(f'"{name}"' in schema for name in specialists.TASK_SPECIALISTS)


def test_get_names_the_known_specialists() -> None:
    assert specialists.get("sql") is SQL
    with pytest.raises(ValueError, match="router, sql, salesforce, summarize"):
        specialists.get("poetry")


def accept_select(reply: AIMessage) -> tuple[str, str]:
    text = str(reply.content)
    if not text.startswith("SELECT"):
        raise Rejected(text, f"not a SELECT: {text}")
    return text, text


def test_loop_repairs_with_the_error_and_keeps_every_attempt() -> None:
    model = ScriptedChatModel.of(["DROP t", "SELECT 1"])
    messages = [HumanMessage("q")]
    outcome = repair_loop(
        SQL, model, messages, accept_select, request="q", max_repairs=2, timer=Timer()
    )
    assert outcome.value == "SELECT 1"
    assert outcome.attempts == [
        {"query": "DROP t", "error": "not a SELECT: DROP t"},
        {"query": "SELECT 1", "error": None},
    ]
    second = model.calls[1][0]
    assert second[-2].content == "DROP t" and "not a SELECT: DROP t" in second[-1].content


def test_loop_is_bounded_and_says_why() -> None:
    model = ScriptedChatModel.of(["x"], repeat_last=True)
    outcome = repair_loop(
        SQL, model, [HumanMessage("q")], accept_select, request="q", max_repairs=1, timer=Timer()
    )
    assert outcome.value is None and len(outcome.attempts) == 2
    assert outcome.failure("SQL", 1) == (
        "No valid SQL after 2 attempt(s) (max_repairs=1); last error: not a SELECT: x"
    )


def test_a_final_rejection_ends_the_loop_at_once() -> None:
    def refuse(reply: AIMessage) -> tuple[str, str]:
        raise Rejected("it", "forbidden", final=True, final_text="The system refused it.")

    model = ScriptedChatModel.of(["a", "b", "c"])
    outcome = repair_loop(
        SQL, model, [HumanMessage("q")], refuse, request="q", max_repairs=2, timer=Timer()
    )
    assert len(model.calls) == 1
    assert outcome.stopped == "The system refused it."
    assert outcome.attempts == [{"query": "it", "error": "forbidden"}]


@pytest.mark.parametrize("error", [BackendError("down"), SchemaGrammarError("bad grammar")])
def test_a_model_error_ends_the_sub_task_and_keeps_the_attempts(error: Exception) -> None:
    model = ScriptedChatModel.of(["nope", error])
    outcome = repair_loop(
        SQL, model, [HumanMessage("q")], accept_select, request="q", max_repairs=2, timer=Timer()
    )
    assert outcome.stopped == f"The SQL model is not available: {error}"
    assert outcome.attempts == [{"query": "nope", "error": "not a SELECT: nope"}]


def test_other_errors_end_the_step() -> None:
    def broken(reply: AIMessage) -> tuple[str, str]:
        raise ConnectionError("lost")

    with pytest.raises(ConnectionError):
        repair_loop(
            SQL,
            ScriptedChatModel.of(["SELECT 1"]),
            [HumanMessage("q")],
            broken,
            request="q",
            max_repairs=2,
            timer=Timer(),
        )


def test_a_grammar_refused_by_the_backend_fails_only_the_sql_sub_task(demo_db: Path) -> None:
    plan = json.dumps(
        {
            "tasks": [
                {"specialist": "summarize", "instruction": "Summarise: a b c", "depends_on": None},
                {"specialist": "sql", "instruction": "How many customers?", "depends_on": None},
            ]
        }
    )
    context = Context(
        backend="embedded",
        database_url=str(demo_db),
        router_rules=False,
        chat_models={
            "router": ScriptedChatModel.of([plan]),
            "sql": ScriptedChatModel.of([SchemaGrammarError("grammar rejected")]),
            "summarize": ScriptedChatModel.of(["The letters a, b and c."]),
        },
    )
    result = Dispatcher(InMemorySaver(), context).ask("Summarise a b c and count the customers")
    summary, sql = result.results
    assert result.finished
    assert sql["status"] == "failed"
    assert sql["output"] == "The SQL model is not available: grammar rejected"
    assert summary["status"] == "ok" and summary["output"] == "The letters a, b and c."
