"""The SQL grammar built from the live schema, and how the node chooses its decoding."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from graph.context import Context
from nodes.sql import sql_settings
from runtime.embedded import EmbeddedChatModel
from runtime.errors import SchemaGrammarError
from specialists.base import Timer
from specialists.sql import answer_sql, sql_decoding, sql_grammar
from tests.fakes import RecordingEmbeddedModel, ScriptedChatModel
from tools.sql import SqlDatabase
from tools.sql_grammar import DECLINE, select_grammar


def rules(grammar: str) -> dict[str, str]:
    found: dict[str, str] = {}
    name = ""
    for line in grammar.splitlines():
        match = re.match(r"^([a-z0-9-]+) ::= (.*)$", line)
        if match:
            name = match.group(1)
            found[name] = match.group(2)
        elif line.startswith("  ") and name:
            found[name] += " " + line.strip()
    return found


def test_grammar_scopes_columns_to_their_table_and_joins_to_foreign_keys(demo_db: Path) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        grammar = sql_grammar(database, "sqlite")
        tables = database.tables()
        foreign_keys = database.foreign_keys()
    found = rules(grammar)
    assert set(re.findall(r'"([a-z_]+)"', found["from-table"])) == set(tables)
    for index, (table, columns) in enumerate(tables.items()):
        # One single-table branch per table, whose columns are that table's only.
        assert f'" FROM " "{table}" clauses-t{index}' in found["root"]
        listed = set(re.findall(r'"([a-z_]+)"', found[f"columns-t{index}"]))
        assert listed == {column.name for column in columns}
        assert found[f"col-t{index}"] == f'"{table}."? columns-t{index}'
        assert f'"{table}." columns-t{index}' in found["col-j"]
    joins = set(re.findall(r'" JOIN ([^"]+)"', found["join"]))
    assert len(joins) == 2 * len(foreign_keys)
    for table, column, ref_table, ref_column in foreign_keys:
        assert f"{table} ON {table}.{column} = {ref_table}.{ref_column}" in joins
        assert f"{ref_table} ON {ref_table}.{ref_column} = {table}.{column}" in joins


def test_grammar_has_no_way_to_write_other_statements(demo_db: Path) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        grammar = sql_grammar(database, "sqlite")
    literals = " ".join(re.findall(r'"((?:[^"\\]|\\.)*)"', grammar)).upper()
    for word in ("DELETE", "UPDATE", "INSERT", "DROP", "PRAGMA", "ATTACH", "UNION", "--", "/*"):
        assert word not in literals
    # Text values cannot end the string early, and there is exactly one statement.
    assert "[^'\\n\\\\]" in grammar
    # ... or, instead, the decline (which no database runs).
    assert rules(grammar)["root"].endswith(f'";"? | "{DECLINE}"')


def test_few_shot_examples_stay_inside_the_grammar_shape(demo_db: Path) -> None:
    from prompts.sql import SQL_EXAMPLES

    with SqlDatabase.open(str(demo_db)) as database:
        joins = set(re.findall(r'" JOIN ([^"]+)"', rules(sql_grammar(database, "sqlite"))["join"]))
        for _, sql in SQL_EXAMPLES:
            assert database.validate(sql) == sql
            for join in re.findall(r" JOIN (.+? ON \S+ = \S+)", sql):
                assert join in joins, join
            assert not re.search(r"\b(?:FROM|JOIN) \w+ (?!JOIN|WHERE|GROUP|ORDER|LIMIT|ON)\w", sql)


def test_grammar_quotes_odd_names_and_escapes_literals() -> None:
    grammar = select_grammar({"Order Lines": ["qty", 'we"ird'], "t": ["a"]})
    assert '"\\"Order Lines\\"."' in grammar
    assert '"\\"we\\"\\"ird\\""' in grammar
    assert "join ::=" not in grammar  # no foreign keys: single-table queries only


def test_grammar_dialects_and_errors() -> None:
    tables = {"t": ["a", "b"]}
    assert "strftime" in select_grammar(tables, "sqlite")
    postgres = select_grammar(tables, "postgres")
    assert "strftime" not in postgres and "EXTRACT(" in postgres
    assert select_grammar(tables) is select_grammar(dict(tables))  # cached per schema
    with pytest.raises(ValueError, match="no tables"):
        select_grammar({})
    with pytest.raises(ValueError, match="has no columns"):
        select_grammar({"t": []})
    with pytest.raises(ValueError, match="no SQL grammar for dialect"):
        select_grammar(tables, "mysql")
    with pytest.raises(ValueError, match="names an unknown table"):
        select_grammar(tables, foreign_keys=[("t", "a", "nope", "id")])


@pytest.mark.parametrize(("decoding", "grammar_sent"), [("grammar", True), ("free", False)])
def test_node_passes_the_grammar_to_the_embedded_model(
    demo_db: Path, decoding: str, grammar_sent: bool
) -> None:
    model = RecordingEmbeddedModel(
        model_path="unused.gguf", reply="SELECT COUNT(*) FROM customers;", seen=[]
    )
    context = Context(backend="embedded", database_url=str(demo_db), sql_decoding=decoding)
    with SqlDatabase.open(str(demo_db)) as database:
        answer = answer_sql(model, database, "How many customers?", sql_settings(context), Timer())
        expected = sql_grammar(database, "sqlite")
    assert answer.decoding == decoding
    assert answer.result is not None and answer.result.rows == [[200]]
    assert ("grammar" in model.seen[0]) is grammar_sent
    if grammar_sent:
        assert model.seen[0]["grammar"] == expected


def test_other_backends_fall_back_to_free_decoding_and_say_so_once(
    demo_db: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("specialists.sql._free_fallback_logged", set())
    context = Context(backend="embedded", database_url=str(demo_db), sql_decoding="grammar")
    model = ScriptedChatModel.of(["SELECT COUNT(*) FROM orders"], repeat_last=True)
    with caplog.at_level(logging.INFO, logger="specialists.sql"):
        assert sql_decoding(model, context.sql_decoding) == "free"
        assert sql_decoding(model, context.sql_decoding) == "free"
        with SqlDatabase.open(str(demo_db)) as database:
            answer = answer_sql(model, database, "How many orders?", sql_settings(context), Timer())
    assert answer.decoding == "free" and answer.result is not None
    fallbacks = [r for r in caplog.records if "needs the embedded backend" in r.message]
    assert len(fallbacks) == 1 and "ScriptedChatModel" in fallbacks[0].message
    assert all("grammar" not in kwargs for _, kwargs in model.calls)


def test_sql_decoding_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLM_SQL_DECODING", "free")
    assert Context().sql_decoding == "free"
    with pytest.raises(ValueError, match="unknown SQL decoding 'beam'"):
        Context(sql_decoding="beam")


def test_embedded_model_refuses_format_and_grammar_together() -> None:
    model = EmbeddedChatModel(model_path="unused.gguf")
    with pytest.raises(ValueError, match="either format= or grammar="):
        model.invoke("hi", format="json", grammar='root ::= "a"')
    with pytest.raises(TypeError, match="grammar must be GBNF text"):
        model.invoke("hi", grammar={"type": "object"})
    with pytest.raises(SchemaGrammarError, match="empty GBNF grammar"):
        model.invoke("hi", grammar="  ")  # llama.cpp would decode it unconstrained
