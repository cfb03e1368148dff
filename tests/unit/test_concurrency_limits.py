"""Bounded admission (BusyError), the retry policy's transient faults, the write journal."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from graph.api import AsyncDispatcher, BusyError, Dispatcher
from graph.approvals import WriteJournal
from graph.builder import is_transient
from graph.context import Context
from runtime.errors import BackendError
from tests.fakes import ScriptedChatModel


def slow_summary(seconds: float) -> ScriptedChatModel:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        time.sleep(seconds)
        return "Summary."

    return ScriptedChatModel.of([reply], repeat_last=True)


def context(**extra: Any) -> Context:
    return Context(backend="embedded", chat_models={"summarize": slow_summary(0.3)}, **extra)


def test_async_dispatcher_refuses_past_its_bound_and_recovers() -> None:
    dispatcher = AsyncDispatcher(InMemorySaver(), context(max_in_flight=2))

    async def burst() -> list[Any]:
        asks = [dispatcher.ask(f"Summarise: text number {i}.") for i in range(5)]
        return await asyncio.gather(*asks, return_exceptions=True)

    outcomes = asyncio.run(burst())
    busy = [o for o in outcomes if isinstance(o, BusyError)]
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(busy) == 3 and len(done) == 2
    assert all(o.finished for o in done)
    assert "max_in_flight=2" in str(busy[0])
    assert dispatcher.in_flight == 0
    again = asyncio.run(dispatcher.ask("Summarise: one more text."))
    assert again.finished


def test_sync_dispatcher_refuses_past_its_bound_from_threads() -> None:
    dispatcher = Dispatcher(InMemorySaver(), context(max_in_flight=1))
    outcomes: list[Any] = []

    def ask(i: int) -> None:
        try:
            outcomes.append(dispatcher.ask(f"Summarise: text number {i}."))
        except BusyError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(o, BusyError) for o in outcomes) == 2
    assert dispatcher.ask("Summarise: after the burst.").finished


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        Context(max_in_flight=0)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("no such table: orders"), False),
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (requests.ConnectionError("reset"), True),
        (requests.Timeout("read timed out"), True),
        (ConnectionResetError("reset"), True),
        (TimeoutError(), True),
        (BackendError("llama.cpp failed"), False),
        (ValueError("bad"), False),
    ],
)
def test_only_transient_faults_are_retried(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_write_journal_records_and_finds(tmp_path: Path) -> None:
    journal = WriteJournal(str(tmp_path / "j.sqlite"))
    assert journal.lookup("k") is None
    journal.begin("k", thread_id="t", task="approve_write:1", action="{}")
    journal.begin("k", thread_id="t", task="approve_write:1", action="{}")  # idempotent
    entry = journal.lookup("k")
    assert entry is not None and entry["state"] == "started" and entry["record_id"] is None
    assert journal.started_tasks("t") == {"approve_write:1"}
    journal.finish("k", "00Q000000000001AAA")
    again = WriteJournal(str(tmp_path / "j.sqlite")).lookup("k")  # another process
    assert again is not None and again["state"] == "done"
    assert again["record_id"] == "00Q000000000001AAA"
