"""Grammar-constrained SQL on the real embedded model: llama.cpp takes the schema grammar,
and every query the model writes under it is a lone SELECT over existing tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from graph.context import Context
from nodes.sql import sql_settings
from runtime import SchemaGrammarError, get_chat_model
from specialists.base import Timer
from specialists.sql import answer_sql, sql_grammar
from tools.sql import SqlDatabase
from tools.sql_grammar import DECLINE

pytestmark = pytest.mark.integration
pytest.importorskip("llama_cpp")


def test_llama_cpp_accepts_the_schema_grammar_and_refuses_a_broken_one(
    base_model: None, demo_db: Path
) -> None:
    model = get_chat_model("sql", backend="embedded")
    with SqlDatabase.open(str(demo_db)) as database:
        grammar = sql_grammar(database, "sqlite")
    reply = model.invoke([HumanMessage("How many orders are there?")], grammar=grammar)
    assert str(reply.content).startswith("SELECT ")
    assert reply.response_metadata["format"] == "grammar"
    with pytest.raises(SchemaGrammarError, match="rejected the GBNF grammar"):
        model.invoke([HumanMessage("hi")], grammar='root ::= "SELECT" (')
    with pytest.raises(SchemaGrammarError, match="empty GBNF grammar"):
        model.invoke([HumanMessage("hi")], grammar=" ")


@pytest.mark.parametrize(
    "question",
    ["How many customers are in the Enterprise segment?", "What is the average product price?"],
)
def test_grammar_decoding_only_writes_selects_over_known_tables(
    base_model: None, demo_db: Path, question: str
) -> None:
    context = Context(
        backend="embedded", database_url=str(demo_db), sql_decoding="grammar", max_repairs=1
    )
    model = get_chat_model("sql", backend="embedded")
    with SqlDatabase.open(str(demo_db)) as database:
        answer = answer_sql(model, database, question, sql_settings(context), Timer())
        tables = set(database.tables())
    assert answer.decoding == "grammar"
    assert answer.attempts
    # The grammar's one other output is the decline, which is not taken for a request that
    # names what the database holds: the last attempt is a SELECT.
    assert answer.attempts[-1]["query"].startswith("SELECT ")
    for attempt in answer.attempts:
        query = attempt["query"]
        if query == DECLINE:
            continue
        bare = re.sub(r"'[^']*'", "''", query).rstrip(";")
        assert query.startswith("SELECT ") and ";" not in bare
        named = re.findall(r"\b(?:FROM|JOIN) (\w+)", query)
        assert named and set(named) <= tables, query
    # Accuracy is not asserted (the base model is weak): `evals.sql_bench` measures it.
