"""SQLite checkpointers that store each channel value once per version.

LangGraph's SQLite savers write every channel's value into every checkpoint, so a large
tool result is copied into each checkpoint taken after it. These subclasses keep channel
values in a side table keyed by (thread, namespace, channel, version), as LangGraph's
PostgreSQL saver does: ``put`` writes only the channels that changed and stores the
checkpoint without values; reads fill the values back in from the side table. Checkpoints
written by the stock savers (values inline) still read correctly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

VALUES_TABLE = "slm_checkpoint_values"
"""Side table holding each channel value once per version."""

_DDL = f"""CREATE TABLE IF NOT EXISTS {VALUES_TABLE} (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL,
    version TEXT NOT NULL,
    type TEXT NOT NULL,
    value BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
)"""
_INSERT = f"INSERT OR IGNORE INTO {VALUES_TABLE} VALUES (?, ?, ?, ?, ?, ?)"
_SELECT = (
    f"SELECT type, value FROM {VALUES_TABLE} "
    "WHERE thread_id = ? AND checkpoint_ns = ? AND channel = ? AND version = ?"
)
_DELETE = f"DELETE FROM {VALUES_TABLE} WHERE thread_id = ?"
_EMPTY = "empty"


def _value_rows(
    serde: SerializerProtocol,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    new_versions: ChannelVersions,
) -> list[tuple[str, str, str, str, str, bytes | None]]:
    """One row per channel that changed in this checkpoint."""
    configurable = config["configurable"]
    thread_id = str(configurable["thread_id"])
    namespace = str(configurable.get("checkpoint_ns", ""))
    values = checkpoint["channel_values"]
    rows: list[tuple[str, str, str, str, str, bytes | None]] = []
    for channel, version in new_versions.items():
        if channel in values:
            kind, blob = serde.dumps_typed(values[channel])
            rows.append((thread_id, namespace, channel, str(version), kind, blob))
        else:
            rows.append((thread_id, namespace, channel, str(version), _EMPTY, None))
    return rows


def _without_values(checkpoint: Checkpoint) -> Checkpoint:
    stripped = dict(checkpoint)
    stripped["channel_values"] = {}
    return stripped  # type: ignore[return-value]


def _missing(found: CheckpointTuple) -> list[tuple[str, str, str, str]]:
    """(thread, namespace, channel, version) of each channel whose value is not inline."""
    configurable = found.config["configurable"]
    thread_id = str(configurable["thread_id"])
    namespace = str(configurable.get("checkpoint_ns", ""))
    checkpoint = found.checkpoint
    inline = checkpoint["channel_values"]
    return [
        (thread_id, namespace, channel, str(version))
        for channel, version in checkpoint["channel_versions"].items()
        if channel not in inline
    ]


class CompactSqliteSaver(SqliteSaver):
    """A ``SqliteSaver`` that stores each channel value once per version."""

    def setup(self) -> None:
        """Create LangGraph's tables and the values table (called under ``self.lock``)."""
        if self.is_setup:
            return
        super().setup()
        self.conn.execute(_DDL)
        self.conn.commit()

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store the changed channel values once, then the checkpoint without values."""
        rows = _value_rows(self.serde, config, checkpoint, new_versions)
        with self.cursor() as cur:
            cur.executemany(_INSERT, rows)
        return super().put(config, _without_values(checkpoint), metadata, new_versions)

    def _filled(self, found: CheckpointTuple) -> CheckpointTuple:
        missing = _missing(found)
        if not missing:
            return found
        values = found.checkpoint["channel_values"]
        with self.cursor(transaction=False) as cur:
            for key in missing:
                row = cur.execute(_SELECT, key).fetchone()
                if row is not None and row[0] != _EMPTY:
                    values[key[2]] = self.serde.loads_typed((row[0], row[1]))
        return found

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint with its channel values filled in."""
        found = super().get_tuple(config)
        return self._filled(found) if found is not None else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints, newest first, with their channel values filled in."""
        # The parent holds the connection lock while it iterates: read everything first.
        found = list(super().list(config, filter=filter, before=before, limit=limit))
        for item in found:
            yield self._filled(item)

    def delete_thread(self, thread_id: str) -> None:
        """Delete the thread's checkpoints, writes and stored values."""
        super().delete_thread(thread_id)
        with self.cursor() as cur:
            cur.execute(_DELETE, (str(thread_id),))


class AsyncCompactSqliteSaver(AsyncSqliteSaver):
    """An ``AsyncSqliteSaver`` that stores each channel value once per version."""

    _values_ready = False

    async def setup(self) -> None:
        """Create LangGraph's tables and the values table."""
        await super().setup()
        if self._values_ready:
            return
        async with self.lock:
            await self.conn.execute(_DDL)
            await self.conn.commit()
            self._values_ready = True

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store the changed channel values once, then the checkpoint without values."""
        await self.setup()
        rows = _value_rows(self.serde, config, checkpoint, new_versions)
        async with self.lock:
            await self.conn.executemany(_INSERT, rows)
            await self.conn.commit()
        return await super().aput(config, _without_values(checkpoint), metadata, new_versions)

    async def _filled(self, found: CheckpointTuple) -> CheckpointTuple:
        missing = _missing(found)
        if not missing:
            return found
        values = found.checkpoint["channel_values"]
        async with self.lock:
            for key in missing:
                async with self.conn.execute(_SELECT, key) as cur:
                    row = await cur.fetchone()
                if row is not None and row[0] != _EMPTY:
                    values[key[2]] = self.serde.loads_typed((row[0], row[1]))
        return found

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint with its channel values filled in."""
        found = await super().aget_tuple(config)
        return await self._filled(found) if found is not None else None

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints, newest first, with their channel values filled in."""
        found = [
            item async for item in super().alist(config, filter=filter, before=before, limit=limit)
        ]
        for item in found:
            yield await self._filled(item)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete the thread's checkpoints, writes and stored values."""
        await super().adelete_thread(thread_id)
        async with self.lock:
            await self.conn.execute(_DELETE, (str(thread_id),))
            await self.conn.commit()


__all__: Sequence[str] = ["AsyncCompactSqliteSaver", "CompactSqliteSaver", "VALUES_TABLE"]
