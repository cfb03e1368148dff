"""The PostgreSQL checkpointer on the machine's real server: run, crash, resume elsewhere."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from graph.api import AsyncDispatcher, Dispatcher, RunFailedError
from graph.checkpoint import open_checkpointer
from graph.context import Context
from tests.fakes import ScriptedChatModel

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_postgres_checkpoints_survive_a_crash(postgres_database: str, demo_db: Path) -> None:
    sql = ScriptedChatModel.of(["SELECT COUNT(*) AS n FROM products"])
    summarize = ScriptedChatModel.of([RuntimeError("killed"), "There are 40 products."])
    context = Context(database_url=str(demo_db), chat_models={"sql": sql, "summarize": summarize})
    request = "How many products are there? Then summarise the result."
    with open_checkpointer(postgres_database) as saver:
        with pytest.raises(RunFailedError):
            Dispatcher(saver, context).ask(request, thread_id="pg-1")
    with open_checkpointer(postgres_database) as saver:
        result = Dispatcher(saver, context).resume("pg-1")
        assert result.finished
        assert [r["status"] for r in result.results] == ["ok", "ok"]
        assert len(sql.calls) == 1
        assert len(Dispatcher(saver, context).history("pg-1")) >= 4


def test_async_api_on_postgres(postgres_database: str, demo_db: Path) -> None:
    sql = ScriptedChatModel.of(["SELECT COUNT(*) FROM sales_reps"])
    context = Context(database_url=str(demo_db), chat_models={"sql": sql})

    async def scenario() -> None:
        async with AsyncDispatcher.open(postgres_database, context=context) as dispatcher:
            result = await dispatcher.ask("How many sales reps are there?", thread_id="a-1")
            assert result.finished and result.results[0]["rows"] == [[12]]
            state = await dispatcher.state("a-1")
            assert state.answer == result.answer
            history = await dispatcher.history("a-1")
            assert history[-1].next == []

    asyncio.run(scenario())
