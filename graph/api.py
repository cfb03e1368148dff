"""The public Python API for services: ask, resume, read a thread's state and history.

Example::

    from graph.api import Dispatcher

    with Dispatcher.open() as dispatcher:          # SQLite checkpoints in the data dir
        result = dispatcher.ask("How many customers are in each segment?")
        print(result.answer)
        again = dispatcher.resume(result.thread_id)   # continue an interrupted thread

``AsyncDispatcher`` offers the same with ``await``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import Command, StateSnapshot

from graph.approvals import (
    JOURNAL_APPROVER,
    WriteJournal,
    approval_value,
    approved_before_crash,
    rejection_value,
)
from graph.builder import compile_graph
from graph.checkpoint import open_async_checkpointer, open_checkpointer
from graph.context import Context
from graph.state import RouteInfo, SubTask, TaskResult

__all__ = [
    "JOURNAL_APPROVER",
    "AsyncDispatcher",
    "BusyError",
    "Dispatcher",
    "HistoryEntry",
    "NothingToApproveError",
    "RunFailedError",
    "RunResult",
    "StepCallback",
    "ThreadNotFoundError",
    "approval_value",
    "rejection_value",
]

StepCallback = Callable[[str, dict[str, Any]], None]
"""Called after each node with the node's name and the update it wrote."""


class ThreadNotFoundError(LookupError):
    """No checkpoint exists for the thread id."""


class NothingToApproveError(LookupError):
    """The thread has no write waiting for approval (or not the one named)."""


class BusyError(RuntimeError):
    """The dispatcher already has ``max_in_flight`` runs in progress; try again later.

    Raised at once, before anything is checkpointed: the request was not started.
    """

    def __init__(self, in_flight: int) -> None:
        super().__init__(
            f"busy: {in_flight} runs already in progress (max_in_flight={in_flight}, "
            "SLM_MAX_IN_FLIGHT); retry later or raise the bound"
        )
        self.in_flight = in_flight


class RunFailedError(RuntimeError):
    """A run stopped on an unexpected error; its thread can be resumed.

    Attributes:
        thread_id: The thread to pass to ``resume`` once the cause is fixed.
    """

    def __init__(self, thread_id: str, cause: BaseException) -> None:
        super().__init__(
            f"run of thread {thread_id} stopped: {type(cause).__name__}: {cause}. "
            f"Completed steps are checkpointed; resume the thread to continue."
        )
        self.thread_id = thread_id


@dataclass
class RunResult:
    """What a run produced (or a thread holds)."""

    thread_id: str
    """The thread's id; pass it to ``resume`` or ``history``."""
    request: str
    """The request."""
    answer: str
    """The final answer ('' while the thread is unfinished)."""
    finished: bool
    """True when the graph reached its end."""
    route: RouteInfo | None = None
    """How the router decided."""
    plan: list[SubTask] = field(default_factory=list)
    """The sub-tasks."""
    results: list[TaskResult] = field(default_factory=list)
    """Each sub-task's result."""
    pending: list[dict[str, Any]] = field(default_factory=list)
    """Writes waiting for approval: ``interrupt_id``, ``task_id``, ``preview``, ``action``."""
    elapsed_s: float = 0.0
    """Wall time of this call."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return asdict(self)


@dataclass
class HistoryEntry:
    """One checkpoint of a thread."""

    checkpoint_id: str
    step: int
    created_at: str | None
    source: str | None
    next: list[str]
    wrote: list[str]


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def _with_journal(
    context: Context | None, checkpoint_url: str | None, data_dir: Path | None
) -> Context:
    """``context`` with the write journal beside the checkpoints (unless it brings one)."""
    context = context or Context()
    if context.write_journal is not None:
        return context
    journal = WriteJournal.for_checkpoints(checkpoint_url, data_dir=data_dir)
    return replace(context, write_journal=journal)


def _finished(snapshot: StateSnapshot) -> bool:
    """True when nothing is left to run.

    ``snapshot.next`` alone is not enough: when a process dies after a step's tasks saved
    their writes but before the step's checkpoint was saved, the tasks show results and
    ``next`` is empty, yet their writes still have to be applied and the graph run on.
    """
    return not snapshot.next and not snapshot.tasks


def _pending(snapshot: StateSnapshot) -> list[dict[str, Any]]:
    pending = []
    for item in snapshot.interrupts:
        value = item.value if isinstance(item.value, dict) else {"preview": str(item.value)}
        pending.append({"interrupt_id": item.id, **value})
    return pending


def _decision(
    snapshot: StateSnapshot, thread_id: str, interrupt_id: str | None, value: dict[str, Any]
) -> Command[Any]:
    ids = [item.id for item in snapshot.interrupts]
    if not ids:
        raise NothingToApproveError(f"thread {thread_id} has no write waiting for approval")
    if interrupt_id is not None:
        if interrupt_id not in ids:
            raise NothingToApproveError(
                f"thread {thread_id} has no pending write {interrupt_id!r}; pending: "
                + ", ".join(ids)
            )
        ids = [interrupt_id]
    return Command(resume={i: value for i in ids})


def _result(thread_id: str, snapshot: StateSnapshot, elapsed: float) -> RunResult:
    values = snapshot.values or {}
    return RunResult(
        thread_id=thread_id,
        request=values.get("request", ""),
        answer=values.get("answer", ""),
        finished=not snapshot.next and bool(values.get("answer")),
        route=values.get("route"),
        plan=list(values.get("plan", [])),
        results=list(values.get("results", [])),
        pending=_pending(snapshot),
        elapsed_s=round(elapsed, 6),
    )


def _history_entry(snapshot: StateSnapshot) -> HistoryEntry:
    metadata = snapshot.metadata or {}
    checkpoint_id = snapshot.config["configurable"].get("checkpoint_id", "")
    writes = metadata.get("writes") or {}
    return HistoryEntry(
        checkpoint_id=str(checkpoint_id),
        step=int(metadata.get("step", -1)),
        created_at=snapshot.created_at,
        source=metadata.get("source"),
        next=list(snapshot.next),
        wrote=sorted(writes) if isinstance(writes, dict) else [],
    )


class Dispatcher:
    """Synchronous entry point: one compiled graph with one checkpointer."""

    def __init__(
        self, checkpointer: BaseCheckpointSaver | None = None, context: Context | None = None
    ) -> None:
        """Compile the graph with ``checkpointer``; ``context`` defaults to ``Context()``."""
        self.graph = compile_graph(checkpointer)
        self.context = context or Context()
        self._slots = threading.BoundedSemaphore(self.context.max_in_flight)

    @classmethod
    @contextmanager
    def open(
        cls,
        checkpoint_url: str | None = None,
        *,
        data_dir: Path | None = None,
        context: Context | None = None,
    ) -> Iterator[Dispatcher]:
        """A dispatcher over the checkpointer named by ``checkpoint_url``.

        See :func:`graph.checkpoint.open_checkpointer` for what the URL may name; without
        one, the context's ``checkpoint_url`` and ``data_dir`` say where checkpoints go.
        """
        context = context or Context()
        checkpoint_url = checkpoint_url or context.checkpoint_url
        data_dir = data_dir or context.data_dir
        with open_checkpointer(checkpoint_url, data_dir=data_dir) as saver:
            yield cls(saver, _with_journal(context, checkpoint_url, data_dir))

    def _run(self, payload: Any, thread_id: str, on_step: StepCallback | None) -> RunResult:
        if not self._slots.acquire(blocking=False):
            raise BusyError(self.context.max_in_flight)
        try:
            return self._run_now(payload, thread_id, on_step)
        finally:
            self._slots.release()

    def _run_now(self, payload: Any, thread_id: str, on_step: StepCallback | None) -> RunResult:
        started = time.perf_counter()
        try:
            for chunk in self.graph.stream(
                payload, _config(thread_id), context=self.context, stream_mode="updates"
            ):
                for node, update in chunk.items():
                    if on_step is not None:
                        on_step(node, update if isinstance(update, dict) else {})
        except Exception as exc:
            raise RunFailedError(thread_id, exc) from exc
        snapshot = self.graph.get_state(_config(thread_id))
        return _result(thread_id, snapshot, time.perf_counter() - started)

    def ask(
        self, request: str, *, thread_id: str | None = None, on_step: StepCallback | None = None
    ) -> RunResult:
        """Run ``request`` on a new thread (or a new turn of ``thread_id``) to the end."""
        thread_id = thread_id or str(uuid.uuid4())
        return self._run({"request": request}, thread_id, on_step)

    def resume(self, thread_id: str, *, on_step: StepCallback | None = None) -> RunResult:
        """Continue a thread from its last checkpoint; steps already done are not run again."""
        snapshot = self.graph.get_state(_config(thread_id))
        if not snapshot.values and not snapshot.next:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in the checkpoint store")
        if _finished(snapshot):
            return _result(thread_id, snapshot, 0.0)
        if snapshot.interrupts:
            again = approved_before_crash(snapshot, thread_id, self.context.write_journal)
            if again is None:
                return _result(thread_id, snapshot, 0.0)
            return self._run(again, thread_id, on_step)
        return self._run(None, thread_id, on_step)

    def approve(
        self,
        thread_id: str,
        *,
        interrupt_id: str | None = None,
        by: str = "api",
        on_step: StepCallback | None = None,
    ) -> RunResult:
        """Approve the thread's pending write(s) (all, or the one named) and run on.

        The write is performed once; a thread resumed later does not perform it again.
        """
        snapshot = self.graph.get_state(_config(thread_id))
        command = _decision(snapshot, thread_id, interrupt_id, approval_value(by))
        return self._run(command, thread_id, on_step)

    def reject(
        self,
        thread_id: str,
        *,
        interrupt_id: str | None = None,
        reason: str = "",
        by: str = "api",
        on_step: StepCallback | None = None,
    ) -> RunResult:
        """Decline the thread's pending write(s); the sub-task ends as ``rejected``."""
        snapshot = self.graph.get_state(_config(thread_id))
        value = rejection_value(by, reason)
        return self._run(_decision(snapshot, thread_id, interrupt_id, value), thread_id, on_step)

    def state(self, thread_id: str) -> RunResult:
        """The thread's latest state."""
        snapshot = self.graph.get_state(_config(thread_id))
        if not snapshot.values and not snapshot.next:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in the checkpoint store")
        return _result(thread_id, snapshot, 0.0)

    def history(self, thread_id: str) -> list[HistoryEntry]:
        """Every checkpoint of the thread, oldest first."""
        entries = [_history_entry(s) for s in self.graph.get_state_history(_config(thread_id))]
        if not entries:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in the checkpoint store")
        return entries[::-1]


class AsyncDispatcher:
    """Asynchronous entry point, for services running an event loop."""

    def __init__(
        self, checkpointer: BaseCheckpointSaver | None = None, context: Context | None = None
    ) -> None:
        """Compile the graph with an async-capable ``checkpointer``.

        At most ``context.max_in_flight`` runs are accepted at once; the rest fail at once
        with ``BusyError``. Runs on the embedded backend share one model per process and
        take turns on it (one lock per loaded model), so accepted runs queue there.
        """
        self.graph = compile_graph(checkpointer)
        self.context = context or Context()
        self._in_flight = 0

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        checkpoint_url: str | None = None,
        *,
        data_dir: Path | None = None,
        context: Context | None = None,
    ) -> AsyncIterator[AsyncDispatcher]:
        """An async dispatcher over the checkpointer named by ``checkpoint_url``.

        Without one, the context's ``checkpoint_url`` and ``data_dir`` say where checkpoints go.
        """
        context = context or Context()
        checkpoint_url = checkpoint_url or context.checkpoint_url
        data_dir = data_dir or context.data_dir
        async with open_async_checkpointer(checkpoint_url, data_dir=data_dir) as saver:
            yield cls(saver, _with_journal(context, checkpoint_url, data_dir))

    @property
    def in_flight(self) -> int:
        """Runs in progress now."""
        return self._in_flight

    async def _run(self, payload: Any, thread_id: str, on_step: StepCallback | None) -> RunResult:
        # One event loop: check-and-increment cannot interleave with another coroutine.
        if self._in_flight >= self.context.max_in_flight:
            raise BusyError(self.context.max_in_flight)
        self._in_flight += 1
        try:
            return await self._run_now(payload, thread_id, on_step)
        finally:
            self._in_flight -= 1

    async def _run_now(
        self, payload: Any, thread_id: str, on_step: StepCallback | None
    ) -> RunResult:
        started = time.perf_counter()
        try:
            async for chunk in self.graph.astream(
                payload, _config(thread_id), context=self.context, stream_mode="updates"
            ):
                for node, update in chunk.items():
                    if on_step is not None:
                        on_step(node, update if isinstance(update, dict) else {})
        except Exception as exc:
            raise RunFailedError(thread_id, exc) from exc
        snapshot = await self.graph.aget_state(_config(thread_id))
        return _result(thread_id, snapshot, time.perf_counter() - started)

    async def ask(
        self, request: str, *, thread_id: str | None = None, on_step: StepCallback | None = None
    ) -> RunResult:
        """Run ``request`` on a new thread (or a new turn of ``thread_id``) to the end."""
        thread_id = thread_id or str(uuid.uuid4())
        return await self._run({"request": request}, thread_id, on_step)

    async def resume(self, thread_id: str, *, on_step: StepCallback | None = None) -> RunResult:
        """Continue a thread from its last checkpoint."""
        snapshot = await self.graph.aget_state(_config(thread_id))
        if not snapshot.values and not snapshot.next:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in the checkpoint store")
        if _finished(snapshot):
            return _result(thread_id, snapshot, 0.0)
        if snapshot.interrupts:
            again = approved_before_crash(snapshot, thread_id, self.context.write_journal)
            if again is None:
                return _result(thread_id, snapshot, 0.0)
            return await self._run(again, thread_id, on_step)
        return await self._run(None, thread_id, on_step)

    async def approve(
        self,
        thread_id: str,
        *,
        interrupt_id: str | None = None,
        by: str = "api",
        on_step: StepCallback | None = None,
    ) -> RunResult:
        """Approve the thread's pending write(s) and run on (see ``Dispatcher.approve``)."""
        snapshot = await self.graph.aget_state(_config(thread_id))
        command = _decision(snapshot, thread_id, interrupt_id, approval_value(by))
        return await self._run(command, thread_id, on_step)

    async def reject(
        self,
        thread_id: str,
        *,
        interrupt_id: str | None = None,
        reason: str = "",
        by: str = "api",
        on_step: StepCallback | None = None,
    ) -> RunResult:
        """Decline the thread's pending write(s)."""
        snapshot = await self.graph.aget_state(_config(thread_id))
        value = rejection_value(by, reason)
        command = _decision(snapshot, thread_id, interrupt_id, value)
        return await self._run(command, thread_id, on_step)

    async def state(self, thread_id: str) -> RunResult:
        """The thread's latest state."""
        snapshot = await self.graph.aget_state(_config(thread_id))
        if not snapshot.values and not snapshot.next:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in the checkpoint store")
        return _result(thread_id, snapshot, 0.0)

    async def history(self, thread_id: str) -> list[HistoryEntry]:
        """Every checkpoint of the thread, oldest first."""
        entries = [
            _history_entry(s) async for s in self.graph.aget_state_history(_config(thread_id))
        ]
        if not entries:
            raise ThreadNotFoundError(f"no thread {thread_id!r} in the checkpoint store")
        return entries[::-1]
