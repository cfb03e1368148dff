"""The SQL node: one sub-task to :func:`specialists.sql.answer_sql`, its result to the state."""

from __future__ import annotations

import time
from typing import Any

from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import TaskInput
from nodes import resources
from nodes.results import bound_task, make_result, update
from specialists.base import SUBTASK_ERRORS, Timer
from specialists.sql import SQL, SqlSettings, answer_sql
from specialists.text import describe_rows
from tools.sql import SqlToolError


def sql_settings(context: Context, bound: tuple[str, ...] = ()) -> SqlSettings:
    """The SQL specialist's settings from the run's context (``bound``: chain values)."""
    return SqlSettings(
        dialect=context.sql_dialect,
        decoding=context.sql_decoding,
        ground_values=context.sql_ground_values,
        votes=context.sql_votes,
        max_repairs=context.max_repairs,
        row_limit=context.row_limit,
        timeout_s=context.query_timeout_s,
        system=resources.system_text(context, SQL.name),
        bound=bound,
    )


def answer_with_sql(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer one sub-task from the SQL database.

    The model writes one SELECT (under a grammar built from the live schema when the
    context asks for it and the runtime supports it); ``tools.sql`` validates it against
    the live schema and runs it on a read-only connection. A rejected query goes back to
    the model with the error, at most ``max_repairs`` times, then the sub-task fails clearly.
    Values a chain binds from earlier steps are copied into the question first, and the
    query must use them (:mod:`specialists.bindings`).
    """
    context = runtime.context
    timer = Timer()
    bound = bound_task(task_input, timer)
    if isinstance(bound, dict):
        return bound
    task, filled = bound
    taken = filled.taken
    since = time.perf_counter()
    try:
        database = resources.database(context)
        # Reading the schema here (with the sample values a base model is shown) tells an
        # unreachable database apart from a failing query before any model is loaded.
        database.schema_text(sample_values=True)
    except (SqlToolError, OSError) as exc:
        message = getattr(exc, "message", str(exc))
        reason = f"The SQL database is not available: {message}"
        return update(make_result(task, status="failed", output=reason, timer=timer, taken=taken))
    finally:
        timer.add("tool", since)
    try:
        model = resources.chat_model(context, SQL.name)
        settings = sql_settings(context, tuple(filled.values))
        answer = answer_sql(model, database, task["instruction"], settings, timer)
    except SUBTASK_ERRORS as exc:
        reason = f"The {SQL.label} model is not available: {exc}"
        return update(make_result(task, status="failed", output=reason, timer=timer, taken=taken))
    except SqlToolError as exc:
        reason = f"The SQL database is not available: {exc.message}"
        return update(make_result(task, status="failed", output=reason, timer=timer, taken=taken))
    result = answer.result
    if result is None:
        reason = " ".join(
            part for part in (answer.failure(context.max_repairs), answer.schema_note) if part
        )
        return update(
            make_result(
                task,
                status="failed",
                output=reason,
                timer=timer,
                attempts=answer.attempts,
                taken=taken,
            )
        )
    return update(
        make_result(
            task,
            status="ok",
            output=" ".join(
                part
                for part in (
                    describe_rows(result.columns, result.rows, result.truncated),
                    answer.agreement_note(),
                    answer.schema_note,
                )
                if part
            ),
            timer=timer,
            query=result.sql,
            columns=result.columns,
            rows=result.rows,
            truncated=result.truncated,
            attempts=answer.attempts,
            taken=taken,
        )
    )
