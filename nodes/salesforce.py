"""The Salesforce specialist: a typed action, checked against the org, approved, then run.

``answer_with_salesforce`` asks the model for one action (decoding constrained to the
``ActionRequest`` schema), validates it against the org's ``describe()`` metadata and
repairs it with the error when it is rejected. Reads run at once. A write (create,
update, delete) stops there with status ``awaiting_approval`` unless the context
pre-approves it; ``perform_approved_write`` then pauses the graph with ``interrupt()``,
showing exactly what will be written, and performs the write only on an explicit
approval. Because the write happens in its own node after the approval, resuming the
thread never generates the action again nor performs the write twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from graph.context import Context
from graph.state import Attempt, SubTask, TaskInput, TaskResult
from nodes.sql import describe_rows
from nodes.support import Timer, chat_model, invoke_structured, make_result, system_message
from prompts.render import render
from prompts.salesforce import SALESFORCE_OBJECTS, SOQL_PROMPT, SOQL_REPAIR_PROMPT
from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError
from tools.salesforce import (
    ActionRequest,
    ActionResult,
    SalesforceClient,
    SalesforceCredentials,
    SalesforceError,
    is_write,
    missing_credentials_message,
)

logger = logging.getLogger(__name__)

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
        messages: list[BaseMessage] = [
            *system_message(context, "salesforce"),
            HumanMessage(
                render(SOQL_PROMPT, objects=SALESFORCE_OBJECTS, request=task["instruction"])
            ),
        ]
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
        outcome = client.run(action)
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
