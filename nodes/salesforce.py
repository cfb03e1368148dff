"""The Salesforce specialist node: a typed action, checked against the org, then run."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Attempt, TaskInput
from nodes.sql import describe_rows
from nodes.support import Timer, chat_model, invoke_structured, make_result, system_message
from prompts.render import render
from prompts.salesforce import SALESFORCE_OBJECTS, SOQL_PROMPT, SOQL_REPAIR_PROMPT
from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError
from tools.salesforce import (
    SalesforceClient,
    SalesforceCredentials,
    SalesforceError,
    SoqlQuery,
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


def answer_with_salesforce(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer one sub-task from the Salesforce org.

    Without credentials in the environment the sub-task fails at once with a message
    naming the variables to set; no model is called.
    """
    task = task_input["task"]
    context = runtime.context
    timer = Timer()
    attempts: list[Attempt] = []

    def fail(reason: str) -> dict[str, Any]:
        result = make_result(task, status="failed", output=reason, timer=timer, attempts=attempts)
        return {"results": [result]}

    credentials = SalesforceCredentials.from_env()
    if credentials is None:
        return fail(missing_credentials_message())
    since = time.perf_counter()
    try:
        client = connect(credentials)
    except SalesforceError as exc:
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
            action, reply, error = invoke_structured(model, messages, SoqlQuery, timer)
            if action is None:
                error_text = f"the action is not valid JSON for the schema: {error}"
                attempts.append(Attempt(query=str(reply.content), error=error_text))
                messages += [reply, HumanMessage(render(SOQL_REPAIR_PROMPT, error=error_text))]
                continue
            since = time.perf_counter()
            try:
                result = client.query(action.soql, row_limit=context.row_limit)
            except SalesforceError as exc:
                attempts.append(Attempt(query=action.soql, error=exc.message))
                if not exc.retryable:
                    return fail(f"Salesforce refused the query: {exc.message}")
                messages += [reply, HumanMessage(render(SOQL_REPAIR_PROMPT, error=exc.message))]
                continue
            finally:
                timer.add("tool", since)
            attempts.append(Attempt(query=result.soql, error=None))
            record = make_result(
                task,
                status="ok",
                output=describe_rows(result.columns, result.rows, result.truncated),
                timer=timer,
                query=result.soql,
                columns=result.columns,
                rows=result.rows,
                truncated=result.truncated,
                attempts=attempts,
            )
            return {"results": [record]}
    except (ModelUnavailableError, BackendError, SchemaGrammarError) as exc:
        return fail(f"The Salesforce model is not available: {exc}")
    last = attempts[-1]["error"] if attempts else "no attempt was made"
    return fail(
        f"No valid SOQL after {len(attempts)} attempt(s) (max_repairs={context.max_repairs}); "
        f"last error: {last}"
    )
