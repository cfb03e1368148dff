"""Faults injected into real systems: each ends in a bounded retry or a clear final
error, nothing recorded is lost, nothing is done twice, and the thread resumes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from graph.api import Dispatcher, RunFailedError
from graph.approvals import WriteJournal
from graph.checkpoint import open_checkpointer
from graph.context import Context
from runtime.errors import BackendError
from tests.fakes import ScriptedChatModel
from tools.salesforce import QueryAction, SalesforceClient
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox

pytestmark = pytest.mark.integration

REQUEST = "How many orders have each status? Then summarise the result."
SQL = "SELECT status, COUNT(*) AS n FROM orders GROUP BY status"
NEW_LEAD = json.dumps(
    {
        "action": {
            "action": "create",
            "sobject": "Lead",
            "values": {
                "FirstName": "Grace",
                "LastName": "Faultline",
                "Company": "Harvard Mark I",
                "Status": "Open - Not Contacted",
            },
        }
    }
)


def context_for(
    demo_db: Path, sql: Any, summarize: Any, router: Any = None, **extra: Any
) -> Context:
    models = {"sql": sql, "summarize": summarize} | ({"router": router} if router else {})
    return Context(backend="embedded", database_url=str(demo_db), chat_models=models, **extra)


# -- the model backend --------------------------------------------------------------------


def test_backend_crash_mid_generation_is_a_clear_failed_subtask(
    demo_db: Path, tmp_path: Path
) -> None:
    sql = ScriptedChatModel.of([SQL])
    broken = ScriptedChatModel.of([BackendError("llama.cpp failed while generating: decode -3")])
    with open_checkpointer(str(tmp_path / "c.sqlite")) as saver:
        result = Dispatcher(saver, context_for(demo_db, sql, broken)).ask(REQUEST)
    assert result.finished
    assert [r["status"] for r in result.results] == ["ok", "failed"]
    assert "summarisation model is not available" in result.results[1]["output"]
    assert "decode -3" in result.answer
    assert len(broken.calls) == 1  # final: not retried


def test_transient_fault_is_retried_by_the_node_policy(demo_db: Path) -> None:
    sql = ScriptedChatModel.of([SQL])
    flaky = ScriptedChatModel.of([ConnectionResetError("connection reset by peer"), "Summary."])
    result = Dispatcher(InMemorySaver(), context_for(demo_db, sql, flaky)).ask(REQUEST)
    assert result.finished and result.results[1]["output"] == "Summary."
    assert len(flaky.calls) == 2 and len(sql.calls) == 1


def test_unexpected_fault_stops_the_run_and_the_thread_resumes(
    demo_db: Path, tmp_path: Path
) -> None:
    store = str(tmp_path / "c.sqlite")
    sql = ScriptedChatModel.of([SQL])
    dead = ScriptedChatModel.of([ConnectionResetError("reset")], repeat_last=True)
    with open_checkpointer(store) as saver:
        with pytest.raises(RunFailedError) as failed:
            Dispatcher(saver, context_for(demo_db, sql, dead)).ask(REQUEST, thread_id="t")
    assert failed.value.thread_id == "t"
    assert len(dead.calls) == 3  # bounded: the policy's three attempts
    fixed = ScriptedChatModel.of(["Summary."])
    with open_checkpointer(store) as saver:
        resumed = Dispatcher(saver, context_for(demo_db, sql, fixed)).resume("t")
    assert resumed.finished and [r["status"] for r in resumed.results] == ["ok", "ok"]
    assert len(sql.calls) == 1  # the finished SQL sub-task was not run again


# -- the SQL database -----------------------------------------------------------------------


def test_sql_database_locked_briefly_is_waited_out(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    shutil.copy(demo_db, db)
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, lambda: holder.execute("ROLLBACK")).start()
    sql = ScriptedChatModel.of([SQL])
    started = time.monotonic()
    result = Dispatcher(InMemorySaver(), context_for(db, sql, ScriptedChatModel.of(["S."]))).ask(
        REQUEST
    )
    assert result.results[0]["status"] == "ok" and time.monotonic() - started >= 0.9
    holder.close()


def test_sql_database_locked_for_long_or_gone_is_a_clear_failure_and_retry_works(
    demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "demo.sqlite"
    shutil.copy(demo_db, db)
    # While the database cannot be read, its schema is unknown and the router's model plans.
    plan = json.dumps(
        {
            "tasks": [
                {"specialist": "sql", "instruction": REQUEST.split("?")[0] + "?"},
                {
                    "specialist": "summarize",
                    "instruction": "Summarise the result.",
                    "depends_on": 1,
                },
            ]
        }
    )
    dispatcher_for = lambda: Dispatcher(  # noqa: E731
        saver,
        context_for(
            db,
            ScriptedChatModel.of([SQL]),
            ScriptedChatModel.of(["S."]),
            router=ScriptedChatModel.of([plan]),
        ),
    )
    saver = InMemorySaver()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    locked = dispatcher_for().ask(REQUEST, thread_id="t")
    holder.execute("ROLLBACK")
    holder.close()
    assert locked.finished and locked.results[0]["status"] == "failed"
    assert "database is locked" in locked.results[0]["output"]
    assert locked.results[1]["status"] == "skipped"

    db.rename(tmp_path / "moved.sqlite")
    gone = dispatcher_for().ask(REQUEST, thread_id="t")
    assert gone.results[0]["status"] == "failed" and "not found" in gone.results[0]["output"]

    (tmp_path / "moved.sqlite").rename(db)
    again = dispatcher_for().ask(REQUEST, thread_id="t")  # a new turn on the same thread
    assert [r["status"] for r in again.results] == ["ok", "ok"]


# -- the Salesforce org --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as server:
        yield server


def faultline_leads(client: SalesforceClient) -> int:
    result = client.run(QueryAction(soql="SELECT Id FROM Lead WHERE LastName = 'Faultline'"))
    return len(result.rows)


@pytest.mark.parametrize("fault", ["http_500", "expired_session"])
def test_salesforce_fault_on_an_approved_write_fails_clearly_and_writes_nothing(
    fault: str, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.reset()
    sandbox.new_session(sandbox.session_id)
    client = sandbox_client(sandbox)
    model = ScriptedChatModel.of([NEW_LEAD])
    context = Context(
        salesforce_client=client,
        chat_models={"salesforce": model},
        write_journal=WriteJournal(str(tmp_path / "journal.sqlite")),
    )
    with open_checkpointer(str(tmp_path / "c.sqlite")) as saver:
        dispatcher = Dispatcher(saver, context)
        first = dispatcher.ask("Create a lead for Grace Faultline", thread_id="sf")
        assert first.pending
        if fault == "http_500":

            def broken(*args: Any, **kwargs: Any) -> str:
                raise RuntimeError("injected")

            monkeypatch.setattr(sandbox.org, "create", broken)
        else:
            sandbox.expire_sessions()
        result = dispatcher.approve("sf")
        monkeypatch.undo()
        assert result.finished
        (task,) = result.results
        assert task["status"] == "failed" and task["output"].startswith("The approved write failed")
        sandbox.new_session(sandbox.session_id)
        # A fresh connection: after a 401 the sandbox leaves the refused body unread on the
        # kept-alive socket (a sandbox quirk), which would garble the next request.
        assert faultline_leads(sandbox_client(sandbox)) == 0
        assert dispatcher.resume("sf").finished  # nothing left to do, nothing written
    assert faultline_leads(sandbox_client(sandbox)) == 0


# -- the checkpoint stores ----------------------------------------------------------------


def test_postgres_connection_lost_during_a_checkpoint_write(
    postgres_database: str, demo_db: Path
) -> None:
    database = postgres_database.rsplit("/", 1)[1]
    terminated: list[int] = []

    def kill_the_next_checkpoint_write(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        # Lock the writes table so the saver's next write waits on the lock, then end that
        # backend while it is inside its write, from another connection.
        admin = psycopg.connect(postgres_database)
        admin.execute("LOCK TABLE checkpoint_writes IN ACCESS EXCLUSIVE MODE")

        def terminate_waiting_writer() -> None:
            with psycopg.connect(postgres_database, autocommit=True) as watcher:
                for _ in range(200):
                    rows = watcher.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s "
                        "AND wait_event_type = 'Lock' AND query ILIKE '%%checkpoint_writes%%'",
                        (database,),
                    ).fetchall()
                    if rows:
                        for (pid,) in rows:
                            watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
                            terminated.append(pid)
                        break
                    time.sleep(0.02)
            admin.rollback()
            admin.close()

        threading.Thread(target=terminate_waiting_writer, daemon=True).start()
        return "Summary."

    sql = ScriptedChatModel.of([SQL])
    summarize = ScriptedChatModel.of([kill_the_next_checkpoint_write, "Summary."])
    with open_checkpointer(postgres_database) as saver:
        dispatcher = Dispatcher(saver, context_for(demo_db, sql, summarize))
        with pytest.raises(RunFailedError) as failed:
            dispatcher.ask(REQUEST, thread_id="pg")
        assert terminated, "the checkpoint write never waited on the lock"
        assert "OperationalError" in str(failed.value) or "connection" in str(failed.value), str(
            failed.value
        )
        # Same process, same dispatcher: the pool replaces the dropped connection.
        resumed = dispatcher.resume("pg")
    assert resumed.finished and [r["status"] for r in resumed.results] == ["ok", "ok"]
    assert len(sql.calls) == 1  # its result was checkpointed before the connection died
    # The lost write was the summary task's own record; LangGraph saves task records in the
    # background while the next step's checkpoint (with the summary in the state) still went
    # through, so the run ended its work before reporting the failure: nothing is rerun.
    assert len(summarize.calls) == 1


def fill_sqlite(saver: Any, pages_free: int) -> None:
    count = saver.conn.execute("PRAGMA page_count").fetchone()[0]
    saver.conn.execute(f"PRAGMA max_page_count = {count + pages_free}")


def test_sqlite_checkpoint_store_full_then_freed(demo_db: Path, tmp_path: Path) -> None:
    """Disk full, simulated with SQLite's own limit (``PRAGMA max_page_count``)."""
    store = str(tmp_path / "c.sqlite")
    sql = ScriptedChatModel.of([SQL], repeat_last=True)
    summarize = ScriptedChatModel.of(["Summary."], repeat_last=True)
    with open_checkpointer(store) as saver:
        dispatcher = Dispatcher(saver, context_for(demo_db, sql, summarize))
        fill_sqlite(saver, 0)
        with pytest.raises(RunFailedError, match="database or disk is full"):
            dispatcher.ask(REQUEST, thread_id="full")
        saver.conn.execute("PRAGMA max_page_count = 1073741823")
        result = dispatcher.resume("full")
    assert result.finished and [r["status"] for r in result.results] == ["ok", "ok"]
    # At most the step in flight when the store filled runs again; a step whose
    # checkpoint (or task writes) was saved does not.
    assert len(sql.calls) + len(summarize.calls) <= 3
    assert len(sql.calls) <= 2 and len(summarize.calls) <= 2


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_sqlite_checkpoint_disk_really_full_then_freed(
    demo_db: Path, tiny_filesystem: Path
) -> None:
    store = str(tiny_filesystem / "c.sqlite")
    sql = ScriptedChatModel.of([SQL], repeat_last=True)
    summarize = ScriptedChatModel.of(["Summary."], repeat_last=True)
    with open_checkpointer(store) as saver:
        dispatcher = Dispatcher(saver, context_for(demo_db, sql, summarize))
        assert dispatcher.ask(REQUEST, thread_id="before").finished
        filler = tiny_filesystem / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as out:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
                os.fsync(out.fileno())
        with pytest.raises(RunFailedError, match="full"):
            dispatcher.ask(REQUEST, thread_id="full")
        filler.unlink()
        calls = len(sql.calls)
        state = dispatcher.state("full") if _has_thread(dispatcher, "full") else None
        result = (
            dispatcher.resume("full")
            if state is not None
            else dispatcher.ask(REQUEST, thread_id="full")
        )
        assert result.finished and [r["status"] for r in result.results] == ["ok", "ok"]
        assert len(sql.calls) <= calls + 1
        assert dispatcher.state("before").finished  # nothing written before was lost


def _has_thread(dispatcher: Dispatcher, thread_id: str) -> bool:
    try:
        dispatcher.state(thread_id)
    except LookupError:
        return False
    return True
