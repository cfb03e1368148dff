"""Checkpointer selection: SQLite by default, PostgreSQL when a URL names one."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from graph.context import default_data_dir
from graph.sqlite_saver import AsyncCompactSqliteSaver, CompactSqliteSaver

logger = logging.getLogger(__name__)

CHECKPOINT_FILENAME = "checkpoints.sqlite"


class CheckpointError(Exception):
    """The checkpoint store cannot be opened (unwritable directory, unreachable database)."""


def checkpoint_url_from_env() -> str | None:
    """``$SLM_CHECKPOINT_URL``: a ``postgresql://`` URL, ``sqlite:///path`` or a path."""
    return os.environ.get("SLM_CHECKPOINT_URL") or None


def is_postgres(url: str | None) -> bool:
    """True when ``url`` names a PostgreSQL database."""
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str | None, data_dir: Path | None) -> Path:
    """The SQLite checkpoint file for ``url`` (or the data directory's default) made writable.

    Raises:
        CheckpointError: The directory cannot be created or written to.
    """
    if url:
        path = Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
    else:
        path = (data_dir or default_data_dir()) / CHECKPOINT_FILENAME
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(
            f"cannot create the data directory {directory}: {exc.strerror or exc}. "
            "Set SLM_DATA_DIR (or --data-dir) to a writable directory."
        ) from exc
    if not os.access(directory, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CheckpointError(
            f"the checkpoint store {path} is not writable. "
            "Set SLM_DATA_DIR (or --data-dir) to a writable directory."
        )
    return path


POOL_CONNECT_TIMEOUT_S = 10.0
"""Seconds to wait for the first PostgreSQL connection before reporting the server down."""


def _pool_settings() -> dict[str, Any]:
    """Connection-pool settings for the PostgreSQL savers.

    A pool (not one connection) so that a connection PostgreSQL dropped (restart, failover,
    ``pg_terminate_backend``) is noticed when it is next taken (``check``) and replaced:
    the run that was using it fails with ``RunFailedError`` and the thread resumes on a
    fresh connection, in the same process.
    """
    return {
        "min_size": 1,
        "max_size": 8,
        "open": False,  # opened by the `with` block
        "check": ConnectionPool.check_connection,
        "kwargs": {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    }


@contextmanager
def open_checkpointer(
    url: str | None = None, *, data_dir: Path | None = None
) -> Iterator[BaseCheckpointSaver]:
    """Open a synchronous checkpointer (SQLite file, or PostgreSQL for a ``postgresql://`` URL).

    Args:
        url: Where checkpoints live; None means ``$SLM_CHECKPOINT_URL``, else SQLite in the
            data directory.
        data_dir: Data directory for the default SQLite file.
    """
    url = url or checkpoint_url_from_env()
    if is_postgres(url):
        assert url is not None
        try:
            with ConnectionPool(url, **_pool_settings()) as pool:
                pool.wait(timeout=POOL_CONNECT_TIMEOUT_S)
                saver = PostgresSaver(pool)  # type: ignore[arg-type]
                saver.setup()
                yield saver
        except Exception as exc:  # psycopg raises many classes for an unreachable server
            if type(exc).__module__.startswith("psycopg"):
                raise CheckpointError(f"cannot use the PostgreSQL checkpointer: {exc}") from exc
            raise
        return
    path = sqlite_path(url, data_dir)
    try:
        connection = sqlite3.connect(path, check_same_thread=False)
        sqlite_saver = CompactSqliteSaver(connection)
        sqlite_saver.setup()
    except sqlite3.DatabaseError as exc:
        raise CheckpointError(f"cannot open the checkpoint store {path}: {exc}") from exc
    try:
        yield sqlite_saver
    finally:
        connection.close()


@asynccontextmanager
async def open_async_checkpointer(
    url: str | None = None, *, data_dir: Path | None = None
) -> AsyncIterator[BaseCheckpointSaver]:
    """Async twin of :func:`open_checkpointer`."""
    url = url or checkpoint_url_from_env()
    if is_postgres(url):
        assert url is not None
        try:
            settings = _pool_settings()
            settings["check"] = AsyncConnectionPool.check_connection
            async with AsyncConnectionPool(url, **settings) as async_pool:
                await async_pool.wait(timeout=POOL_CONNECT_TIMEOUT_S)
                async_saver = AsyncPostgresSaver(async_pool)  # type: ignore[arg-type]
                await async_saver.setup()
                yield async_saver
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise CheckpointError(f"cannot use the PostgreSQL checkpointer: {exc}") from exc
            raise
        return
    path = sqlite_path(url, data_dir)
    async with AsyncCompactSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()
        yield saver


JOURNAL_TABLE = "slm_write_journal"
"""The write-ahead journal's table, in the checkpoint store's own database."""


class WriteJournal:
    """Write-ahead record of approved Salesforce writes, for exactly-once performance.

    A write is keyed by the thread, the graph task that performs it (its checkpoint
    namespace, which is the same every time the task is retried or resumed from the same
    checkpoint) and a hash of the action. Before the HTTP call the node records ``started``;
    after it, ``done`` with the record Id. A task that finds ``done`` returns the recorded
    Id without calling Salesforce; one that finds ``started`` (the process died between the
    HTTP call and the ``done`` record) first looks in the org for the write's effect.

    The journal lives in the checkpoint store's database (a table beside the checkpoints),
    so every replica that can resume a thread sees the same journal. Each call opens its
    own short connection: a journal is safe to share between threads and processes.
    """

    def __init__(self, url: str) -> None:
        """Journal in ``url``: a ``postgresql://`` URL or a SQLite file path."""
        self.url = url
        self._postgres = is_postgres(url)
        self._placeholder = "%s" if self._postgres else "?"
        self._execute(
            f"CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} ("
            "key TEXT PRIMARY KEY, thread_id TEXT NOT NULL, task TEXT NOT NULL, "
            "action TEXT NOT NULL, state TEXT NOT NULL, record_id TEXT, "
            "started_at TEXT NOT NULL, finished_at TEXT)"
        )

    @classmethod
    def for_checkpoints(
        cls, url: str | None = None, *, data_dir: Path | None = None
    ) -> WriteJournal:
        """The journal beside the checkpoints that ``url`` names (as ``open_checkpointer``)."""
        url = url or checkpoint_url_from_env()
        if is_postgres(url):
            assert url is not None
            return cls(url)
        return cls(str(sqlite_path(url, data_dir)))

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        sql = sql.replace("?", self._placeholder)
        if self._postgres:
            with psycopg.connect(self.url, autocommit=True) as pg:
                cursor = pg.execute(sql, params)  # type: ignore[arg-type]
                return list(cursor.fetchall()) if cursor.description else []
        connection = sqlite3.connect(self.url, timeout=30)
        try:
            with connection:
                rows = connection.execute(sql, params).fetchall()
            return list(rows)
        finally:
            connection.close()

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The journal entry for ``key`` (``state``, ``record_id``, ``started_at``), or None."""
        rows = self._execute(
            f"SELECT state, record_id, started_at FROM {JOURNAL_TABLE} WHERE key = ?", (key,)
        )
        if not rows:
            return None
        state, record_id, started_at = rows[0]
        return {"state": state, "record_id": record_id, "started_at": started_at}

    def started_tasks(self, thread_id: str) -> set[str]:
        """The graph tasks of ``thread_id`` that began a write (so it had been approved)."""
        rows = self._execute(f"SELECT task FROM {JOURNAL_TABLE} WHERE thread_id = ?", (thread_id,))
        return {str(row[0]) for row in rows}

    def begin(self, key: str, *, thread_id: str, task: str, action: str) -> None:
        """Record that the write ``key`` is about to be sent (before the HTTP call)."""
        now = dt.datetime.now(dt.UTC).isoformat()
        self._execute(
            f"INSERT INTO {JOURNAL_TABLE} (key, thread_id, task, action, state, started_at) "
            "VALUES (?, ?, ?, ?, 'started', ?) ON CONFLICT (key) DO NOTHING",
            (key, thread_id, task, action, now),
        )

    def finish(self, key: str, record_id: str | None) -> None:
        """Record that the write ``key`` was performed (after the HTTP call)."""
        now = dt.datetime.now(dt.UTC).isoformat()
        self._execute(
            f"UPDATE {JOURNAL_TABLE} SET state = 'done', record_id = ?, finished_at = ? "
            "WHERE key = ?",
            (record_id, now, key),
        )
