"""The Salesforce specialist: a typed action, checked against the org, approved, then run.

``answer_with_salesforce`` asks the model for one action (decoding constrained to the
``ActionRequest`` schema), validates it against the org's ``describe()`` metadata and
repairs it with the error when it is rejected. Reads run at once. A write (create,
update, delete) stops there with status ``awaiting_approval`` unless the context
pre-approves it; ``perform_approved_write`` then pauses the graph with ``interrupt()``,
showing exactly what will be written, and performs the write only on an explicit
approval. Because the write happens in its own node after the approval, resuming the
thread never generates the action again.

Exactly once across crashes: a process can die after Salesforce accepted the write but
before the step's checkpoint was saved, and the resumed step would send it again. With a
``graph.checkpoint.WriteJournal`` in the context (``Dispatcher.open`` provides one) the
write goes through ``_perform_once``: a ``started`` record keyed by thread, graph task and
action hash is written before the HTTP call and ``done`` (with the record Id) after it. On
resume, ``done`` returns the recorded Id without calling Salesforce; ``started`` first looks
in the org for the write's effect (``find_performed``) and sends the write only if it is
not there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from simple_salesforce import format_soql

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
    QueryAction,
    SalesforceClient,
    SalesforceCredentials,
    SalesforceError,
    UpdateAction,
    is_write,
    missing_credentials_message,
)

logger = logging.getLogger(__name__)

CLOCK_SKEW = dt.timedelta(minutes=5)
"""Margin between our clock and the org's when looking for a create that was not recorded."""

_clients: dict[SalesforceCredentials, SalesforceClient] = {}
_clients_lock = threading.Lock()


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
    instead of pausing, and the write is performed at most once, in this step.
    """
    task = task_input["task"]
    pending = task_input["pending"]
    assert pending is not None and pending["action"] is not None
    timer = Timer()
    decision = interrupt(
        {"task_id": task["id"], "preview": pending["output"], "action": pending["action"]}
    )
    approved = bool(decision.get("approved")) if isinstance(decision, dict) else bool(decision)
    attempts = list(pending["attempts"])
    if not approved:
        who = decision.get("by", "") if isinstance(decision, dict) else ""
        reason = decision.get("reason", "") if isinstance(decision, dict) else ""
        text = "The write was rejected" + (f" by {who}" if who else "")
        text += f": {reason}" if reason else "."
        record = make_result(
            task,
            status="rejected",
            output=text,
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
    except SalesforceError as exc:
        record = make_result(
            task,
            status="failed",
            output=f"The approved write failed: {exc.message}",
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


def find_performed(
    client: SalesforceClient, action: AnyAction, started_at: str
) -> ActionResult | None:
    """Look in the org for the effect of a write whose outcome was not recorded.

    Create: a record of the object with exactly the written values, created since the
    journal's ``started`` record (less a margin for clock skew). Update: the record already
    holds every written value. Delete: the record is gone.

    Returns:
        The write's result when its effect is found, else None (it was not performed).
    """
    if isinstance(action, CreateAction):
        since = dt.datetime.fromisoformat(started_at) - CLOCK_SKEW
        clauses = [format_soql(f"{name} = {{}}", value) for name, value in action.values.items()]
        clauses.append(f"CreatedDate >= {since.strftime('%Y-%m-%dT%H:%M:%SZ')}")
        soql = f"SELECT Id FROM {action.sobject} WHERE {' AND '.join(clauses)} "
        soql += "ORDER BY CreatedDate LIMIT 1"
        found = client.run(QueryAction(soql=soql))
        return _recorded(action, str(found.rows[0][0])) if found.rows else None
    if isinstance(action, UpdateAction):
        fields = list(action.values)
        current = client.run(
            GetAction(
                action="get", sobject=action.sobject, record_id=action.record_id, fields=fields
            )
        )
        held = dict(zip(current.columns, current.rows[0], strict=False)) if current.rows else {}
        same = all(held.get(k) == v for k, v in action.values.items())
        return _recorded(action, action.record_id) if same else None
    if isinstance(action, DeleteAction):
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
