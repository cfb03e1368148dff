"""Few-shot chats for a prompted base model, zero-shot chats for a fine-tuned specialist."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from graph.context import Context
from nodes.sql import sql_settings
from prompts.sql import SQL_EXAMPLES
from runtime import is_finetuned
from runtime.embedded import EmbeddedChatModel
from specialists.base import Timer, to_messages
from specialists.router import router_chat
from specialists.salesforce import salesforce_chat
from specialists.sql import answer_sql, sql_chat
from tests.fakes import ScriptedChatModel
from tools.sql import SqlDatabase


class FineTunedScript(ScriptedChatModel):
    """A scripted model that says it applies an adapter."""

    adapter_path: str | None = "sql.gguf"


def test_router_chat_forms() -> None:
    fewshot = router_chat("SYS", "How many orders?", fewshot=True)
    zero = router_chat("SYS", "How many orders?", fewshot=False)
    assert fewshot[0] == ("system", "SYS") and zero[0] == ("system", "SYS")
    assert "Example plan" in fewshot[1][1] and fewshot[1][1].endswith("Plan:")
    assert zero[1] == ("user", "How many orders?")
    assert router_chat("", "x", fewshot=False) == [("user", "x")]


def test_sql_chat_forms() -> None:
    fewshot = sql_chat("SYS", "Q?", fewshot=True, schema="CREATE TABLE t (a INT);")
    zero = sql_chat("SYS", "Q?", fewshot=False, schema="CREATE TABLE t (a INT);")
    assert zero == [("system", "SYS\n\nDatabase schema:\nCREATE TABLE t (a INT);"), ("user", "Q?")]
    assert fewshot[0] == zero[0] and fewshot[-1] == zero[-1]
    assert len(fewshot) == 2 + 2 * len(SQL_EXAMPLES)
    assert [role for role, _ in fewshot[1:-1]] == ["user", "assistant"] * len(SQL_EXAMPLES)


def test_salesforce_chat_forms() -> None:
    fewshot = salesforce_chat("SYS", "How many leads?", fewshot=True)
    zero = salesforce_chat("SYS", "How many leads?", fewshot=False)
    assert fewshot[0] == ("system", "SYS") and "Action:" in fewshot[1][1]
    assert "Lead(" in zero[0][1] and zero[1] == ("user", "How many leads?")


def test_to_messages_keeps_roles() -> None:
    messages = to_messages([("system", "s"), ("user", "u"), ("assistant", "a")])
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage, AIMessage]
    assert [m.content for m in messages] == ["s", "u", "a"]


def test_is_finetuned_follows_the_adapter() -> None:
    base = EmbeddedChatModel(model_path="base.gguf")
    tuned = EmbeddedChatModel(model_path="base.gguf", adapter_path="sql.gguf")
    assert not is_finetuned(base, "sql")
    assert is_finetuned(tuned, "sql")
    scripted = ScriptedChatModel.of(["x"])
    assert not is_finetuned(scripted, "sql")
    claimed = FineTunedScript(replies=["x"])
    assert is_finetuned(claimed, "sql")


def test_sql_node_sends_the_fine_tuned_model_the_zero_shot_chat(demo_db: Path) -> None:
    sql = "SELECT COUNT(*) FROM customers"
    with SqlDatabase.open(str(demo_db)) as database:
        for model, fewshot in (
            (FineTunedScript(replies=[sql]), False),
            (ScriptedChatModel.of([sql]), True),
        ):
            context = Context(chat_models={"sql": model}, sql_decoding="free")
            settings = sql_settings(context)
            answer = answer_sql(model, database, "How many customers?", settings, Timer())
            assert answer.result is not None and answer.result.rows == [[200]]
            sent = model.calls[0][0]
            assert str(sent[-1].content) == "How many customers?"
            if fewshot:
                assert len(sent) == 2 + 2 * len(SQL_EXAMPLES)
                assert "--   customers.industry:" in str(sent[0].content)
            else:
                # The shipped SQL adapter learnt the schema: it is sent the request alone
                # (after the SYSTEM text, when there is one).
                assert len(sent) <= 2
                assert not any("CREATE TABLE" in str(message.content) for message in sent)


def test_a_fine_tuned_model_on_another_schema_says_so_with_its_answer(
    demo_db: Path, tmp_path: Path
) -> None:
    import sqlite3

    from specialists.sql import OTHER_SCHEMA, schema_note

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT)")
        connection.execute("INSERT INTO books (title) VALUES ('Atlas')")
    context = Context(sql_decoding="free")
    with SqlDatabase.open(str(demo_db)) as database:
        # The shipped adapter records the demo schema: nothing to say there.
        assert schema_note(database, fewshot=False) == ""
        model = FineTunedScript.of(["SELECT COUNT(*) FROM customers"])
        answer = answer_sql(model, database, "How many customers?", sql_settings(context), Timer())
        assert answer.schema_note == ""
    with SqlDatabase.open(str(other)) as database:
        assert schema_note(database, fewshot=True) == ""  # a prompted model reads the schema
        model = FineTunedScript.of(["SELECT COUNT(*) FROM books"])
        answer = answer_sql(model, database, "How many books?", sql_settings(context), Timer())
    assert answer.result is not None and answer.schema_note == OTHER_SCHEMA


def test_the_sql_sub_task_output_carries_the_note(tmp_path: Path) -> None:
    import sqlite3

    from langgraph.checkpoint.memory import InMemorySaver

    from graph.api import Dispatcher

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT)")
        connection.execute("INSERT INTO books (title) VALUES ('Atlas')")
    model = FineTunedScript.of(["SELECT COUNT(*) FROM books"])
    context = Context(
        backend="embedded", database_url=str(other), sql_decoding="free", chat_models={"sql": model}
    )
    (task,) = Dispatcher(InMemorySaver(), context).ask("How many books are there?").results
    assert task["status"] == "ok" and "fine-tuned for another database schema" in task["output"]
