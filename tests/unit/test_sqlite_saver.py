"""The compact SQLite savers: values stored once, readable by sync and async, old data kept."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from graph.api import AsyncDispatcher, Dispatcher
from graph.context import Context
from graph.sqlite_saver import VALUES_TABLE, AsyncCompactSqliteSaver, CompactSqliteSaver
from tests.fakes import ScriptedChatModel


def context(demo_db: Path, *replies: str) -> Context:
    sql = ScriptedChatModel.of(list(replies))
    return Context(database_url=str(demo_db), chat_models={"sql": sql})


def test_sync_written_thread_reads_back_whole(demo_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    conn = sqlite3.connect(path, check_same_thread=False)
    saver = CompactSqliteSaver(conn)
    ctx = context(demo_db, "SELECT name FROM products ORDER BY id LIMIT 5")
    first = Dispatcher(saver, ctx).ask("List five products.", thread_id="t")
    conn.close()
    # A new connection (a new process) reads every value back, history included.
    conn = sqlite3.connect(path, check_same_thread=False)
    again = Dispatcher(CompactSqliteSaver(conn), ctx)
    state = again.state("t")
    assert state.results == first.results and len(state.results[0]["rows"]) == 5
    assert all(entry.step >= -1 for entry in again.history("t"))
    stored = conn.execute(f"SELECT COUNT(*) FROM {VALUES_TABLE}").fetchone()[0]
    inline = conn.execute("SELECT MAX(LENGTH(checkpoint)) FROM checkpoints").fetchone()[0]
    assert stored > 0 and inline < 2_000
    conn.close()


def test_async_and_sync_savers_share_one_file(demo_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ctx = context(demo_db, "SELECT COUNT(*) FROM customers")

    async def write() -> None:
        async with AsyncCompactSqliteSaver.from_conn_string(str(path)) as saver:
            await AsyncDispatcher(saver, ctx).ask("How many customers?", thread_id="a")

    asyncio.run(write())
    conn = sqlite3.connect(path, check_same_thread=False)
    state = Dispatcher(CompactSqliteSaver(conn), ctx).state("a")
    assert state.finished and state.results[0]["rows"] == [[200]]
    conn.close()


def test_threads_written_by_the_stock_saver_still_read(demo_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ctx = context(demo_db, "SELECT COUNT(*) FROM products")
    conn = sqlite3.connect(path, check_same_thread=False)
    Dispatcher(SqliteSaver(conn), ctx).ask("How many products?", thread_id="old")
    conn.close()
    conn = sqlite3.connect(path, check_same_thread=False)
    state = Dispatcher(CompactSqliteSaver(conn), ctx).state("old")
    assert state.finished and state.results[0]["rows"] == [[40]]
    conn.close()

    async def read_async() -> None:
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            assert (await AsyncDispatcher(saver, ctx).state("old")).finished

    asyncio.run(read_async())


def test_delete_thread_removes_its_values(demo_db: Path, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "c.sqlite", check_same_thread=False)
    saver = CompactSqliteSaver(conn)
    Dispatcher(saver, context(demo_db, "SELECT 1 FROM products LIMIT 1")).ask(
        "Any product?", thread_id="gone"
    )
    saver.delete_thread("gone")
    assert conn.execute(f"SELECT COUNT(*) FROM {VALUES_TABLE}").fetchone()[0] == 0
    conn.close()
