"""The SQL specialist node: generate, validate with sqlglot, execute read-only, repair."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Attempt, TaskInput
from nodes.support import Timer, chat_model, invoke_text, make_result, strip_fences, system_message
from prompts.render import render
from prompts.sql import SQL_EXAMPLES, SQL_REPAIR_PROMPT, SQL_SCHEMA_PROMPT
from runtime.errors import BackendError, ModelUnavailableError
from tools.sql import SqlDatabase, SqlExecutionError, SqlToolError, SqlValidationError

logger = logging.getLogger(__name__)

_databases: dict[str, SqlDatabase] = {}
_databases_lock = threading.Lock()


def open_database(url: str) -> SqlDatabase:
    """Open the database at ``url`` once per process and share it."""
    with _databases_lock:
        database = _databases.get(url)
        if database is None:
            database = SqlDatabase.open(url)
            _databases[url] = database
        return database


def describe_rows(columns: list[str], rows: list[list[Any]], truncated: bool) -> str:
    """One line that says what a query returned, for the final answer."""
    if not rows:
        return "The query returned no rows."
    if len(rows) == 1 and len(columns) == 1:
        return f"{columns[0]} = {rows[0][0]}"
    more = " (truncated)" if truncated else ""
    return f"{len(rows)} row(s){more} with columns {', '.join(columns)}."


def answer_with_sql(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer one sub-task from the SQL database.

    The model writes one SELECT; ``tools.sql`` validates it against the live schema
    and runs it on a read-only connection. A rejected query goes back to the model
    with the error, at most ``max_repairs`` times, then the sub-task fails clearly.
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
        database = open_database(context.database_url)
        schema = database.schema_text(sample_values=True)
    except (SqlToolError, OSError) as exc:
        message = getattr(exc, "message", str(exc))
        return fail(f"The SQL database is not available: {message}")
    finally:
        timer.add("tool", since)

    try:
        model = chat_model(context, "sql")
        messages: list[BaseMessage] = [
            *system_message(context, "sql", render(SQL_SCHEMA_PROMPT, schema=schema)),
        ]
        for question, answer in SQL_EXAMPLES:
            messages += [HumanMessage(question), AIMessage(answer)]
        messages.append(HumanMessage(task["instruction"]))
        for _ in range(1 + context.max_repairs):
            reply = invoke_text(model, messages, timer)
            sql = strip_fences(str(reply.content))
            since = time.perf_counter()
            try:
                result = database.run(
                    sql,
                    read_dialect=context.sql_dialect,
                    row_limit=context.row_limit,
                    timeout_s=context.query_timeout_s,
                )
            except (SqlValidationError, SqlExecutionError) as exc:
                attempts.append(Attempt(query=sql, error=exc.message))
                repair = render(SQL_REPAIR_PROMPT, error=exc.message, question=task["instruction"])
                messages += [reply, HumanMessage(repair)]
                logger.info("sql task %s: rejected %r: %s", task["id"], sql, exc.message)
                continue
            finally:
                timer.add("tool", since)
            attempts.append(Attempt(query=sql, error=None))
            output = describe_rows(result.columns, result.rows, result.truncated)
            record = make_result(
                task,
                status="ok",
                output=output,
                timer=timer,
                query=result.sql,
                columns=result.columns,
                rows=result.rows,
                truncated=result.truncated,
                attempts=attempts,
            )
            return {"results": [record]}
    except (ModelUnavailableError, BackendError) as exc:
        return fail(f"The SQL model is not available: {exc}")
    last = attempts[-1]["error"] if attempts else "no attempt was made"
    return fail(
        f"No valid SQL after {len(attempts)} attempt(s) (max_repairs={context.max_repairs}); "
        f"last error: {last}"
    )
