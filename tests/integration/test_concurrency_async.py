"""Many threads at once through the async API on a shared PostgreSQL checkpointer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from graph.api import AsyncDispatcher, BusyError
from graph.context import Context
from tests.fakes import ScriptedChatModel

pytestmark = pytest.mark.integration


def test_many_threads_at_once_are_bounded_and_each_is_complete(
    postgres_database: str, demo_db: Path
) -> None:
    def slow(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        time.sleep(0.2)
        return "Summary."

    context = Context(
        backend="embedded",
        database_url=str(demo_db),
        max_in_flight=16,
        chat_models={
            "sql": ScriptedChatModel.of(["SELECT COUNT(*) AS n FROM orders"], repeat_last=True),
            "summarize": ScriptedChatModel.of([slow], repeat_last=True),
        },
    )
    request = "How many orders are there? Then summarise the result."

    async def burst() -> tuple[list[Any], list[Any]]:
        async with AsyncDispatcher.open(postgres_database, context=context) as dispatcher:
            outcomes = await asyncio.gather(
                *(dispatcher.ask(request, thread_id=f"t{i}") for i in range(24)),
                return_exceptions=True,
            )
            states = [
                await dispatcher.state(o.thread_id)
                for o in outcomes
                if not isinstance(o, BaseException)
            ]
            return outcomes, states

    outcomes, states = asyncio.run(burst())
    busy = [o for o in outcomes if isinstance(o, BusyError)]
    assert len(busy) == 8 and len(states) == 16
    assert all(s.finished and [r["status"] for r in s.results] == ["ok", "ok"] for s in states)
    assert len({s.thread_id for s in states}) == 16
