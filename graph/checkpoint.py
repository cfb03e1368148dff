"""Checkpointer selection: SQLite by default, PostgreSQL when a URL names one."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from graph.context import default_checkpoint_url, default_data_dir
from graph.sqlite_saver import AsyncCompactSqliteSaver, CompactSqliteSaver

logger = logging.getLogger(__name__)

CHECKPOINT_FILENAME = "checkpoints.sqlite"


class CheckpointError(Exception):
    """The checkpoint store cannot be opened (unwritable directory, unreachable database)."""


def checkpoint_url_from_env() -> str | None:
    """``$SLM_CHECKPOINT_URL``: a ``postgresql://`` URL, ``sqlite:///path`` or a path.

    Read by :func:`graph.context.default_checkpoint_url`, the default of
    ``Context.checkpoint_url``.
    """
    return default_checkpoint_url()


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
