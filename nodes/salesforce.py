"""The Salesforce specialist: a typed action, checked against the org, approved, then run.

``answer_with_salesforce`` asks the model for one action (decoding constrained to the
``ActionRequest`` schema), validates it against the org's ``describe()`` metadata and
repairs it with the error when it is rejected. Reads run at once. A write (create,
update, delete) stops there with status ``awaiting_approval`` unless the context
pre-approves it; ``perform_approved_write`` then pauses the graph with ``interrupt()``,
showing exactly what will be written, and performs the write only on an explicit
approval: the resume value must be exactly ``True`` or ``{"approved": True}`` (see
``approval_decision``); anything else, a typed "yes" included, rejects the write. Because
the write happens in its own node after the approval, resuming the thread never generates
the action again.

Exactly once across crashes: a process can die after Salesforce accepted the write but
before the step's checkpoint was saved, and the resumed step would send it again. With a
``graph.checkpoint.WriteJournal`` in the context (``Dispatcher.open`` provides one) the
write goes through ``_perform_once``: a ``started`` record keyed by thread, graph task and
action hash is written before the HTTP call and ``done`` (with the record Id) after it. On
resume, ``done`` returns the recorded Id without calling Salesforce; ``started`` first looks
in the org for the write's effect (``find_performed``) and sends the write only if it is
not there. The look-up puts no written value into SOQL: it reads the records created since
the ``started`` record and compares the written fields in Python, each normalised by its
``describe()`` type.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import reprlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from graph.context import Context
from graph.state import Attempt, SubTask, TaskInput, TaskResult
from nodes.sql import describe_rows
from nodes.support import (
    Timer,
    chat_model,
    invoke_structured,
    is_finetuned,
    make_result,
    system_text,
    to_messages,
)
from prompts.chat import salesforce_chat
from prompts.render import render
from prompts.salesforce import SOQL_REPAIR_PROMPT
from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError
from tools.salesforce import (
    ActionRequest,
    ActionResult,
    AnyAction,
    CreateAction,
    DeleteAction,
    GetAction,
    SalesforceClient,
    SalesforceCredentials,
    SalesforceError,
    UpdateAction,
    is_write,
    missing_credentials_message,
    to_18_char_id,
)

logger = logging.getLogger(__name__)

CLOCK_SKEW = dt.timedelta(minutes=5)
"""Margin between our clock and the org's when looking for a create that was not recorded."""

_clients: dict[SalesforceCredentials, SalesforceClient] = {}
_clients_lock = threading.Lock()

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


def connect(credentials: SalesforceCredentials) -> SalesforceClient:
    """Connect once per process and set of credentials, and share the client."""
    with _clients_lock:
        client = _clients.get(credentials)
        if client is None:
            client = SalesforceClient.connect(credentials)
            _clients[credentials] = client
        return client


def client_for(context: Context) -> SalesforceClient:
    """The context's client, or one connected from the environment's credentials.

    Raises:
        SalesforceError: No credentials are set (``code == "NOT_CONFIGURED"``), or the
            connection failed.
    """
    if context.salesforce_client is not None:
        client: SalesforceClient = context.salesforce_client
        return client
    credentials = SalesforceCredentials.from_env()
    if credentials is None:
        raise SalesforceError(missing_credentials_message(), code="NOT_CONFIGURED")
    return connect(credentials)


def _outcome(
    task: SubTask,
    result: ActionResult,
    timer: Timer,
    action: dict[str, Any],
    attempts: list[Attempt],
) -> TaskResult:
    if result.record_id and result.action in ("create", "update", "delete"):
        past = {"create": "Created", "update": "Updated", "delete": "Deleted"}[result.action]
        output = f"{past} {action.get('sobject', 'record')} {result.record_id}."
    else:
        output = describe_rows(result.columns, result.rows, result.truncated)
    query = action.get("soql") if result.action == "query" else None
    return make_result(
        task,
        status="ok",
        output=output,
        timer=timer,
        query=query,
        columns=result.columns,
        rows=result.rows,
        truncated=result.truncated,
        attempts=attempts,
        action=action,
    )


def answer_with_salesforce(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer one sub-task from the Salesforce org (a write waits for approval).

    Without credentials (and no client in the context) the sub-task fails at once with
    a message naming the variables to set; no model is called.
    """
    task = task_input["task"]
    context = runtime.context
    timer = Timer()
    attempts: list[Attempt] = []

    def fail(reason: str) -> dict[str, Any]:
        result = make_result(task, status="failed", output=reason, timer=timer, attempts=attempts)
        return {"results": [result]}

    since = time.perf_counter()
    try:
        client = client_for(context)
    except SalesforceError as exc:
        if exc.code == "NOT_CONFIGURED":
            return fail(exc.message)
        return fail(f"Could not connect to Salesforce: {exc.message}")
    finally:
        timer.add("tool", since)

    try:
        model = chat_model(context, "salesforce")
        fewshot = not is_finetuned(model, context, "salesforce")
        messages: list[BaseMessage] = to_messages(
            salesforce_chat(
                system_text(context, "salesforce"), task["instruction"], fewshot=fewshot
            )
        )
        for _ in range(1 + context.max_repairs):
            request, reply, error = invoke_structured(model, messages, ActionRequest, timer)
            if request is None:
                error_text = f"the action does not fit the schema: {error}"
                attempts.append(Attempt(query=str(reply.content), error=error_text))
                messages += [reply, HumanMessage(render(SOQL_REPAIR_PROMPT, error=error_text))]
                continue
            action = request.action
            shown = action.model_dump_json()
            since = time.perf_counter()
            try:
                action = client.validate_action(action)
                sobject = getattr(action, "sobject", "")
                if is_write(action) and not context.is_preapproved(sobject, action.action):
                    preview = client.preview(action)
                    attempts.append(Attempt(query=shown, error=None))
                    record = make_result(
                        task,
                        status="awaiting_approval",
                        output=preview,
                        timer=timer,
                        attempts=attempts,
                        action=action.model_dump(mode="json"),
                    )
                    return {"results": [record]}
                outcome = client.run(action, row_limit=context.row_limit)
            except SalesforceError as exc:
                attempts.append(Attempt(query=shown, error=exc.message))
                if not exc.retryable:
                    return fail(f"Salesforce refused the action: {exc.message}")
                messages += [reply, HumanMessage(render(SOQL_REPAIR_PROMPT, error=exc.message))]
                continue
            finally:
                timer.add("tool", since)
            attempts.append(Attempt(query=shown, error=None))
            dumped = action.model_dump(mode="json")
            return {"results": [_outcome(task, outcome, timer, dumped, attempts)]}
    except (ModelUnavailableError, BackendError, SchemaGrammarError) as exc:
        return fail(f"The Salesforce model is not available: {exc}")
    last = attempts[-1]["error"] if attempts else "no attempt was made"
    return fail(
        f"No valid action after {len(attempts)} attempt(s) (max_repairs={context.max_repairs}); "
        f"last error: {last}"
    )


def perform_approved_write(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause for a human decision on a validated write, then perform it once or drop it.

    The value shown to the human (``interrupt``) holds the exact preview of the write.
    Resuming runs this node again from the top: ``interrupt`` then returns the decision
    instead of pausing, and the write is performed at most once, in this step. Only an
    explicit approval (``approval_decision``) performs it; any other resume value ends the
    sub-task as ``rejected`` with a message saying what was received and how to approve.
    """
    task = task_input["task"]
    pending = task_input["pending"]
    assert pending is not None and pending["action"] is not None
    timer = Timer()
    value = interrupt(
        {
            "task_id": task["id"],
            "preview": pending["output"],
            "action": pending["action"],
            "how_to_approve": HOW_TO_APPROVE,
        }
    )
    decision = approval_decision(value)
    attempts = list(pending["attempts"])
    if not decision.approved:
        logger.info("write of sub-task %s not approved: %s", task["id"], decision.received)
        record = make_result(
            task,
            status="rejected",
            output=decision.rejection_text(),
            timer=timer,
            attempts=attempts,
            action=pending["action"],
        )
        return {"results": [record]}
    since = time.perf_counter()
    try:
        client = client_for(runtime.context)
        action = ActionRequest.model_validate({"action": pending["action"]}).action
        action = client.validate_action(action)
        outcome = _perform_once(client, action, runtime.context.write_journal)
    except (SalesforceError, ValidationError) as exc:
        message = exc.message if isinstance(exc, SalesforceError) else f"invalid action: {exc}"
        record = make_result(
            task,
            status="failed",
            output=f"The approved write failed: {message}",
            timer=timer,
            attempts=attempts,
            action=pending["action"],
        )
        return {"results": [record]}
    finally:
        timer.add("tool", since)
    return {"results": [_outcome(task, outcome, timer, pending["action"], attempts)]}


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


def _perform_once(client: SalesforceClient, action: AnyAction, journal: Any) -> ActionResult:
    """Perform an approved write exactly once, even across a crash, when a journal is set.

    Order: look the key up; ``done`` → the recorded result, no HTTP; ``started`` → look in
    the org for the write's effect (the process died after the HTTP call); otherwise record
    ``started``, send the write, record ``done`` with the new Id.
    """
    if journal is None:
        return client.run(action)
    config = get_config().get("configurable", {})
    thread_id = str(config.get("thread_id", ""))
    task = str(config.get("checkpoint_ns", ""))
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
