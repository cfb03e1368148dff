"""Approved writes, exactly once: the human decision, the write journal and crash recovery.

The protocol in one place:

1. The Salesforce node validates a write and stops with status ``awaiting_approval``.
2. The :data:`APPROVE_NODE` node pauses the thread with ``interrupt()``, showing exactly what
   will be written, and reads the resume value with :func:`approval_decision`: only ``True``
   or ``{"approved": True}`` approves; anything else, a typed "yes" included, rejects.
3. An approved write goes through :func:`perform_once`. With a :class:`WriteJournal` (the
   API opens one beside the checkpoints) a ``started`` record keyed by thread, graph task
   and action hash (:func:`write_key`) is written before the HTTP call and ``done`` with
   the record Id after it. On a resume, ``done`` returns the recorded Id without calling
   Salesforce; ``started`` first looks in the org for the write's effect
   (:func:`find_performed`) and sends the write only if it is not there. The look-up puts
   no written value into SOQL: it reads the records created since the ``started`` record
   and compares the written fields in Python, each normalised by its ``describe()`` type.
4. A process killed inside the approving step leaves the thread paused again; the API
   re-issues the approvals that the journal proves (:func:`approved_before_crash`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import reprlib
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, TypedDict

import psycopg
from langgraph.types import Command, StateSnapshot

from graph.checkpoint import checkpoint_url_from_env, is_postgres, sqlite_path
from tools.salesforce import (
    ActionResult,
    AnyAction,
    CreateAction,
    DeleteAction,
    GetAction,
    SalesforceClient,
    SalesforceError,
    UpdateAction,
    to_18_char_id,
)

logger = logging.getLogger(__name__)

APPROVE_NODE: Final = "approve_write"
"""The graph node that pauses for a decision and performs an approved write."""

CLOCK_SKEW = dt.timedelta(minutes=5)
"""Margin between our clock and the org's when looking for a create that was not recorded."""


HOW_TO_APPROVE: Final = (
    'To perform this write, resume with true or {"approved": true} (JSON); any other value, '
    '"yes" included, rejects it.'
)
"""The instruction shown with every paused write (the ``how_to_approve`` of the interrupt)."""

APPROVAL_FORMAT: Final = 'a write is approved only by true or {"approved": true} (JSON)'
"""How to approve, as said in the output of a rejected write."""

_APPROVAL_KEYS: Final = frozenset({"approved", "by", "reason"})
_SHOWN_LENGTH: Final = 80
_repr = reprlib.Repr()
_repr.maxstring = _SHOWN_LENGTH
_repr.maxother = _SHOWN_LENGTH
_repr.maxlevel = 3


@dataclass(frozen=True)
class Decision:
    """A human's decision on a paused write, as read from the graph's resume value.

    Attributes:
        approved: True only for an explicit approval: the write may be performed.
        by: Who decided, when the value said so ('' otherwise).
        reason: Why, when the value said so ('' otherwise).
        received: The resume value as received (its repr, shortened to about 80 chars).
        problem: Why the value is not an approval when it is not an explicit decision
            either ('' for an approval and for a well-formed rejection).
    """

    approved: bool
    by: str = ""
    reason: str = ""
    received: str = ""
    problem: str = ""

    def rejection_text(self) -> str:
        """The output of the rejected sub-task: who and why, what was received, how to approve.

        Returns:
            One or two sentences for the sub-task's ``output``.
        """
        if self.problem:
            text = f"The write was not approved: {self.problem}"
        else:
            text = "The write was rejected" + (f" by {self.by}" if self.by else "")
            text += f": {self.reason.rstrip('.')}" if self.reason else ""
        return (
            f"{text}. Nothing was written. Resume value received: {self.received}; "
            f"{APPROVAL_FORMAT}."
        )


def shown_value(value: Any) -> str:
    """``repr(value)`` shortened to about 80 characters, safe for any object.

    Args:
        value: Whatever a client sent.

    Returns:
        The shortened representation.
    """
    try:
        text = _repr.repr(value)
    except Exception:  # a hostile __repr__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 1] + "…"


def approval_decision(value: Any) -> Decision:
    """Read a resume value as a decision on a paused write; only an explicit approval writes.

    Approvals are exactly the bool ``True`` and a dict whose ``approved`` is the bool
    ``True``, with optional ``by`` and ``reason`` strings and no other key. Everything else
    rejects the write: ``False``, None, every string ("yes", "true", "approve"), numbers
    (``1`` included), lists, dicts without ``approved`` or with ``approved="yes"``, and
    dicts with an unknown key or a ``by``/``reason`` that is not a string.

    Args:
        value: The value the graph was resumed with (``interrupt()``'s return value).

    Returns:
        The decision; ``approved`` is False unless the value is an explicit approval.
    """
    received = shown_value(value)
    if value is True:
        return Decision(approved=True, received=received)
    if value is False:
        return Decision(approved=False, received=received)
    if not isinstance(value, dict):
        kind = type(value).__name__
        return Decision(
            approved=False,
            received=received,
            problem=f"the resume value is a {kind}, not an approval",
        )
    extra = sorted(str(k) for k in value if k not in _APPROVAL_KEYS)
    by, reason = value.get("by", ""), value.get("reason", "")
    flag = value.get("approved")
    if extra or not isinstance(by, str) or not isinstance(reason, str):
        problem = (
            f"the resume value has unknown key(s) {', '.join(extra)}"
            if extra
            else 'the resume value\'s "by" and "reason" must be strings'
        )
        return Decision(approved=False, received=received, problem=problem)
    if flag is True:
        return Decision(approved=True, by=by, reason=reason, received=received)
    if flag is False:
        return Decision(approved=False, by=by, reason=reason, received=received)
    problem = (
        'the resume value has no "approved" key'
        if "approved" not in value
        else f'"approved" is {shown_value(flag)}, not the boolean true'
    )
    return Decision(approved=False, by=by, reason=reason, received=received, problem=problem)


def approval_value(by: str) -> dict[str, Any]:
    """The resume value that approves a paused write (``{"approved": True, "by": by}``).

    Raises:
        ValueError: The value would not pass ``approval_decision`` (it always does).
    """
    value: dict[str, Any] = {"approved": True, "by": str(by)}
    if not approval_decision(value).approved:  # the node reads it with the same function
        raise ValueError(f"not an approval: {value!r}")
    return value


def rejection_value(by: str, reason: str) -> dict[str, Any]:
    """The resume value that declines a paused write."""
    return {"approved": False, "by": str(by), "reason": str(reason)}


JOURNAL_APPROVER = "write journal"
"""The ``by`` of an approval that the write journal re-issues after a crash."""


def approved_before_crash(
    snapshot: StateSnapshot, thread_id: str, journal: WriteJournal | None
) -> Command[Any] | None:
    """Re-issue approvals that a crash lost, as the write journal proves them.

    An approval reaches the checkpoint only with the step that performs the write; a
    process killed inside that step leaves the thread paused again. The journal holds a
    ``started`` record only for approved writes (the node records it only after
    ``approval_decision`` accepted the resume value), so such a write is approved again
    (and the journal then makes sure it is not performed twice). Nothing else is taken
    for an approval: no journal, no ``started`` record, no re-issue.
    """
    if journal is None or not snapshot.interrupts:
        return None
    started = journal.started_tasks(thread_id)
    ids = [
        item.id
        for task in snapshot.tasks
        if task.name == APPROVE_NODE and task_namespace(task.name, task.id) in started
        for item in task.interrupts
    ]
    if not ids:
        return None
    return Command(resume={i: approval_value(JOURNAL_APPROVER) for i in ids})


def task_namespace(node: str, task_id: str) -> str:
    """The checkpoint namespace LangGraph gives a node's task (``node:task_id``).

    The node passes its own namespace (``config["configurable"]["checkpoint_ns"]``) to
    :func:`perform_once`; the API rebuilds it from a paused task to match the journal.
    """
    return f"{node}:{task_id}"


def write_key(thread_id: str, task: str, action: AnyAction) -> str:
    """The journal key of one approved write: thread, graph task and action, hashed."""
    body = json.dumps(action.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(f"{thread_id}\x00{task}\x00{body}".encode()).hexdigest()


def _recorded(action: AnyAction, record_id: str | None) -> ActionResult:
    """The result of a write the journal (or a look-up in the org) shows was performed."""
    values = dict(getattr(action, "values", {}) or {})
    return ActionResult(
        action=action.action,
        columns=["Id", *values],
        rows=[[record_id, *values.values()]],
        truncated=False,
        record_id=record_id,
        elapsed_s=0.0,
        http_s=0.0,
        validation_s=0.0,
    )


CANDIDATE_PAGE: Final = 200
"""Records read per query when looking for a create that was not recorded."""

CANDIDATE_PAGES: Final = 50
"""Pages read at most; past that the look-up gives up (fails closed) rather than guess."""

_GET_FIELDS: Final = 60
"""Fields read per ``GetAction`` (its schema's limit)."""

_UNCOMPARABLE: Final = frozenset({"base64", "address", "location", "encryptedstring"})
"""Field types whose stored value cannot be read back as written (blobs, compound, masked)."""

_ID_TEXT: Final = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_DIFFERENT: Final = object()
"""A normalised value equal to nothing (a written value that could not be read)."""


def _utc(text: str) -> dt.datetime:
    """Parse an ISO datetime as Salesforce or the journal writes it; naive means UTC."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _step(fld: Mapping[str, Any]) -> Decimal | None:
    """The smallest difference a number field stores (None when describe does not say)."""
    if str(fld.get("type")) in ("int", "long"):
        return Decimal(1)
    scale = fld.get("scale")
    if isinstance(scale, int) and not isinstance(scale, bool) and scale >= 0:
        if scale or fld.get("precision"):
            return Decimal(1).scaleb(-scale)
    return None


def _number(fld: Mapping[str, Any], value: Any) -> Any:
    number = Decimal(str(value).strip())
    if not number.is_finite():
        return _DIFFERENT
    step = _step(fld)
    return number if step is None else number.quantize(step, rounding=ROUND_HALF_UP)


def _normalised(fld: Mapping[str, Any], value: Any) -> Any:
    """``value`` in a form that compares equal however the org writes it back.

    Dates and datetimes (in UTC, to the second) are parsed, numbers rounded to the field's
    scale, Ids made 18 characters long, booleans kept, multi-select picklists made sets and
    text compared without case, surrounding space or line-ending differences, as SOQL's own
    ``=`` compares it.
    """
    if value is None:
        return None
    ftype = str(fld.get("type") or "string")
    try:
        if ftype == "boolean":
            if isinstance(value, str):
                return value.strip().lower() == "true"
            return bool(value)
        if ftype in ("int", "long", "double", "currency", "percent"):
            if isinstance(value, bool):
                return _DIFFERENT
            return _number(fld, value)
        if ftype == "date":
            return dt.date.fromisoformat(str(value).strip()[:10])
        if ftype == "datetime":
            return _utc(str(value)).replace(microsecond=0)
        if ftype == "time":
            moment = dt.time.fromisoformat(str(value).strip().rstrip("Zz")[:8])
            return moment.replace(microsecond=0)
        if ftype in ("id", "reference"):
            text = str(value).strip()
            return to_18_char_id(text) if _ID_TEXT.fullmatch(text) else text
    except (ValueError, TypeError, ArithmeticError, InvalidOperation):
        pass  # compare it as text below
    text = str(value).replace("\r\n", "\n").replace("\r", "\n").strip().casefold()
    if ftype == "multipicklist":
        return frozenset(part.strip() for part in text.split(";") if part.strip())
    return text


def _same(fld: Mapping[str, Any], written: Any, held: Any, *, created: bool) -> bool:
    """True when the org's ``held`` value is what writing ``written`` leaves in the field."""
    if written is None and created and fld.get("defaultedOnCreate"):
        return True  # null on create: the org may fill in the field's default
    wanted = _normalised(fld, written)
    if wanted is _DIFFERENT:
        return False
    have = _normalised(fld, held)
    if isinstance(wanted, Decimal) and isinstance(have, Decimal) and _step(fld) is None:
        # No scale in describe: compare as the doubles Salesforce stores.
        return math.isclose(float(wanted), float(have), rel_tol=1e-9, abs_tol=1e-9)
    return bool(wanted == have)  # numbers both rounded half up to the scale, as Salesforce does


def _compared_fields(
    client: SalesforceClient, sobject: str, values: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The written fields that can be read back, by canonical name, with their describe."""
    described = client.describe(sobject)
    by_name = {str(f.get("name", "")).lower(): dict(f) for f in described.get("fields") or []}
    compared: dict[str, dict[str, Any]] = {}
    for name in values:
        fld = by_name.get(str(name).lower())
        if fld is None or str(fld.get("type")) in _UNCOMPARABLE:
            continue
        compared[str(fld["name"])] = fld
    return compared


def _matches(
    fields: Mapping[str, Mapping[str, Any]],
    values: Mapping[str, Any],
    held: Mapping[str, Any],
    *,
    created: bool,
) -> bool:
    written = {str(k).lower(): v for k, v in values.items()}
    lowered = {str(k).lower(): v for k, v in held.items()}
    return all(
        _same(fld, written[name.lower()], lowered.get(name.lower()), created=created)
        for name, fld in fields.items()
    )


def _soql_datetime(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _find_created(
    client: SalesforceClient, action: CreateAction, started_at: str
) -> ActionResult | None:
    since = _utc(started_at) - CLOCK_SKEW
    sobject = str(client.describe(action.sobject).get("name") or action.sobject)
    fields = _compared_fields(client, sobject, action.values)
    if not fields:
        raise SalesforceError(
            f"cannot tell whether the interrupted create of a {sobject} was performed: none of "
            "its fields can be read back; check the org before resuming again",
            code="UNCONFIRMED_WRITE",
        )
    select = ", ".join(
        ["Id", "CreatedDate", *(f for f in fields if f not in ("Id", "CreatedDate"))]
    )
    window = f"CreatedDate >= {_soql_datetime(since)}"
    found: list[tuple[dt.datetime, str]] = []
    after = ""
    for _ in range(CANDIDATE_PAGES):
        where = window + (f" AND Id > '{after}'" if after else "")
        soql = f"SELECT {select} FROM {sobject} WHERE {where} ORDER BY Id LIMIT {CANDIDATE_PAGE}"
        page = client.query(soql, row_limit=CANDIDATE_PAGE)
        for row in page.rows:
            held = dict(zip(page.columns, row, strict=False))
            if _matches(fields, action.values, held, created=True):
                created = held.get("CreatedDate")
                moment = _utc(str(created)) if created else since
                found.append((moment, str(held.get("Id"))))
        if len(page.rows) < CANDIDATE_PAGE:
            break
        last = str(dict(zip(page.columns, page.rows[-1], strict=False)).get("Id") or "")
        if not _ID_TEXT.fullmatch(last):
            raise SalesforceError(
                f"unexpected record Id {shown_value(last)} while looking for an interrupted create",
                code="UNCONFIRMED_WRITE",
            )
        after = last
    else:
        raise SalesforceError(
            f"cannot tell whether the interrupted create of a {sobject} was performed: more "
            f"than {CANDIDATE_PAGE * CANDIDATE_PAGES:,} {sobject} records were created since "
            "it started; check the org before resuming again",
            code="UNCONFIRMED_WRITE",
        )
    if not found:
        return None
    return _recorded(action, min(found)[1])


def _find_updated(client: SalesforceClient, action: UpdateAction) -> ActionResult | None:
    fields = _compared_fields(client, action.sobject, action.values)
    if not fields:
        return None  # sending an update again is harmless: it sets the same values
    held: dict[str, Any] = {}
    names = list(fields)
    for i in range(0, len(names), _GET_FIELDS):
        current = client.run(
            GetAction(
                action="get",
                sobject=action.sobject,
                record_id=action.record_id,
                fields=names[i : i + _GET_FIELDS],
            )
        )
        if current.rows:
            held.update(zip(current.columns, current.rows[0], strict=False))
    same = _matches(fields, action.values, held, created=False)
    return _recorded(action, action.record_id) if same else None


def _find_deleted(client: SalesforceClient, action: DeleteAction) -> ActionResult | None:
    try:
        client.run(
            GetAction(
                action="get", sobject=action.sobject, record_id=action.record_id, fields=["Id"]
            )
        )
    except SalesforceError as exc:
        if exc.code == "NOT_FOUND":
            return _recorded(action, action.record_id)
        raise
    return None


def find_performed(
    client: SalesforceClient, action: AnyAction, started_at: str
) -> ActionResult | None:
    """Look in the org for the effect of a write whose outcome was not recorded.

    Create: a record of the object created since the journal's ``started`` record (less a
    margin for clock skew) whose written fields hold the written values. The candidates are
    read by ``CreatedDate`` alone (paged by Id) and compared in Python, each field
    normalised by its ``describe()`` type, so no written value is put into SOQL: dates,
    long text areas (not filterable) and text of any length all work. When several match,
    the earliest created is taken. Update: the record already holds every written value.
    Delete: the record is gone.

    Args:
        client: The org's client.
        action: The validated write.
        started_at: The journal's ``started`` time (ISO 8601).

    Returns:
        The write's result when its effect is found, else None (it was not performed).

    Raises:
        SalesforceError: The org could not be read, or the effect cannot be told either
            way (``code == "UNCONFIRMED_WRITE"``); nothing else escapes, so the write fails
            closed instead of being sent twice.
    """
    try:
        if isinstance(action, CreateAction):
            return _find_created(client, action, started_at)
        if isinstance(action, UpdateAction):
            return _find_updated(client, action)
        if isinstance(action, DeleteAction):
            return _find_deleted(client, action)
        return None
    except SalesforceError:
        raise
    except Exception as exc:  # a look-up that cannot run must not pass for "not performed"
        logger.warning("looking for an interrupted %s failed", action.action, exc_info=True)
        raise SalesforceError(
            f"cannot tell whether the interrupted {action.action} was performed "
            f"({type(exc).__name__}: {shown_value(str(exc))}); check the org before resuming "
            "again",
            code="UNCONFIRMED_WRITE",
        ) from exc


def perform_once(
    client: SalesforceClient,
    action: AnyAction,
    journal: WriteJournal | None,
    *,
    thread_id: str,
    task: str,
) -> ActionResult:
    """Perform an approved write exactly once, even across a crash, when a journal is set.

    Order: look the key up; ``done`` → the recorded result, no HTTP; ``started`` → look in
    the org for the write's effect (the process died after the HTTP call); otherwise record
    ``started``, send the write, record ``done`` with the new Id.

    Args:
        client: The org's client.
        action: The validated, approved write.
        journal: The write journal (None: the write is simply sent).
        thread_id: The graph thread.
        task: The graph task that performs the write (its checkpoint namespace, the same
            every time the task is retried or resumed from the same checkpoint).

    Returns:
        What the write did (or what the journal or the org shows it did).
    """
    if journal is None:
        return client.run(action)
    key = write_key(thread_id, task, action)
    entry = journal.lookup(key)
    if entry is not None and entry["state"] == "done":
        logger.info("write %s already performed (journal): %s", key[:12], entry["record_id"])
        return _recorded(action, entry["record_id"])
    if entry is not None:
        found = find_performed(client, action, entry["started_at"])
        if found is not None:
            logger.warning("write %s was performed before a crash: %s", key[:12], found.record_id)
            journal.finish(key, found.record_id)
            return found
    else:
        journal.begin(key, thread_id=thread_id, task=task, action=action.model_dump_json())
    outcome = client.run(action)
    journal.finish(key, outcome.record_id)
    return outcome


class JournalEntry(TypedDict):
    """What the journal holds for one write."""

    state: str
    """``started`` (sent, outcome not recorded) or ``done``."""
    record_id: str | None
    """The record Id, once ``done``."""
    started_at: str
    """When the write began (ISO 8601, UTC)."""


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

    def lookup(self, key: str) -> JournalEntry | None:
        """The journal entry for ``key`` (``state``, ``record_id``, ``started_at``), or None."""
        rows = self._execute(
            f"SELECT state, record_id, started_at FROM {JOURNAL_TABLE} WHERE key = ?", (key,)
        )
        if not rows:
            return None
        state, record_id, started_at = rows[0]
        return JournalEntry(state=state, record_id=record_id, started_at=started_at)

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
