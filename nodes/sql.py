"""The SQL specialist node: generate, validate with sqlglot, execute read-only, repair."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.runtime import Runtime

from graph.context import Context
from graph.state import Attempt, TaskInput
from nodes.support import (
    Timer,
    chat_model,
    is_finetuned,
    make_result,
    strip_fences,
    system_text,
    to_messages,
)
from prompts.chat import sql_chat
from prompts.render import render
from prompts.sql import SQL_REPAIR_PROMPT
from runtime.embedded import EmbeddedChatModel
from runtime.errors import BackendError, ModelUnavailableError
from tools.sql import (
    QueryResult,
    SqlDatabase,
    SqlExecutionError,
    SqlToolError,
    SqlValidationError,
)
from tools.sql_grammar import select_grammar

logger = logging.getLogger(__name__)

_databases: dict[tuple[str, str, bool], SqlDatabase] = {}
_databases_lock = threading.Lock()
_free_fallback_logged: set[str] = set()


def open_database(url: str, *, tables: str = "", allow_privileged: bool = False) -> SqlDatabase:
    """Open the database at ``url`` once per process and settings, and share it."""
    key = (url, tables, allow_privileged)
    with _databases_lock:
        database = _databases.get(key)
        if database is None:
            database = SqlDatabase.open(url, tables=tables, allow_privileged=allow_privileged)
            _databases[key] = database
        return database


def describe_rows(columns: list[str], rows: list[list[Any]], truncated: bool) -> str:
    """One line that says what a query returned, for the final answer."""
    if not rows:
        return "The query returned no rows."
    if len(rows) == 1 and len(columns) == 1:
        return f"{columns[0]} = {rows[0][0]}"
    more = " (truncated)" if truncated else ""
    return f"{len(rows)} row(s){more} with columns {', '.join(columns)}."


def sql_decoding(model: BaseChatModel, context: Context) -> str:
    """The decoding the SQL specialist uses with ``model``: ``grammar`` or ``free``.

    Grammar-constrained decoding needs the embedded (llama.cpp) backend; any other model
    (Ollama, which has no GBNF, or a model the context brings) decodes freely, and the
    fallback is logged once per model class.
    """
    if context.sql_decoding != "grammar":
        return "free"
    if isinstance(model, EmbeddedChatModel):
        return "grammar"
    kind = type(model).__name__
    if kind not in _free_fallback_logged:
        _free_fallback_logged.add(kind)
        logger.info(
            "SLM_SQL_DECODING=grammar needs the embedded backend; %s decodes SQL freely "
            "(validation and repair still apply)",
            kind,
        )
    return "free"


def sql_grammar(database: SqlDatabase, dialect: str) -> str:
    """The GBNF grammar of a SELECT over ``database``'s live schema, in ``dialect``."""
    tables = {
        name: [column.name for column in columns] for name, columns in database.tables().items()
    }
    return select_grammar(
        tables,
        dialect="postgres" if dialect.startswith("postgres") else "sqlite",
        foreign_keys=database.foreign_keys(),
    )


@dataclass
class SqlAnswer:
    """What :func:`write_and_run_sql` produced for one question."""

    result: QueryResult | None
    """The rows of the first query that validated and ran, or None when every attempt failed."""
    attempts: list[Attempt] = field(default_factory=list)
    """Every query the model wrote, with the reason it was rejected (None for the last one
    when it ran)."""
    decoding: str = "free"
    """``grammar`` or ``free``: how the model's text was decoded."""


def sql_messages(
    database: SqlDatabase, context: Context, question: str, *, fewshot: bool = True
) -> list[BaseMessage]:
    """The chat sent to the SQL model (see :func:`prompts.chat.sql_chat`).

    Few-shot (a prompted base model): the schema with sample values and the worked example
    turns. Fine-tuned: the bare schema and the question, as in its training data.
    """
    schema = database.schema_text(sample_values=fewshot)
    turns = sql_chat(system_text(context, "sql"), schema, question, fewshot=fewshot)
    return to_messages(turns)


def write_and_run_sql(
    model: BaseChatModel,
    database: SqlDatabase,
    question: str,
    context: Context,
    timer: Timer,
) -> SqlAnswer:
    """Have ``model`` write a SELECT for ``question``, validate and run it, repairing on error.

    At most ``1 + context.max_repairs`` generations; each rejected query goes back to the
    model with the validator's or the database's message.

    Raises:
        ModelUnavailableError: The model cannot be served.
        BackendError: The model backend failed.
        SqlConnectionError: The database schema cannot be read.
    """
    decoding = sql_decoding(model, context)
    options: dict[str, Any] = {}
    if decoding == "grammar":
        options["grammar"] = sql_grammar(database, context.sql_dialect)
    since = time.perf_counter()
    try:
        fewshot = not is_finetuned(model, context, "sql")
        messages = sql_messages(database, context, question, fewshot=fewshot)
    finally:
        timer.add("tool", since)
    answer = SqlAnswer(result=None, decoding=decoding)
    for attempt in range(1 + context.max_repairs):
        since = time.perf_counter()
        try:
            reply = _repair_model(model, attempt).invoke(list(messages), **options)
        finally:
            timer.add("model", since)
        if not isinstance(reply, AIMessage):
            reply = AIMessage(str(reply.content))
        sql = strip_fences(str(reply.content))
        since = time.perf_counter()
        try:
            answer.result = database.run(
                sql,
                read_dialect=context.sql_dialect,
                row_limit=context.row_limit,
                timeout_s=context.query_timeout_s,
            )
        except (SqlValidationError, SqlExecutionError) as exc:
            answer.attempts.append(Attempt(query=sql, error=exc.message))
            repair = render(SQL_REPAIR_PROMPT, error=exc.message, question=question)
            messages += [reply, HumanMessage(repair)]
            logger.info("sql: rejected %r: %s", sql, exc.message)
            continue
        finally:
            timer.add("tool", since)
        answer.attempts.append(Attempt(query=sql, error=None))
        return answer
    return answer


REPAIR_TEMPERATURE = 0.7
"""Sampling temperature of the embedded model's repair attempts (the first one is greedy)."""


def _repair_model(model: BaseChatModel, attempt: int) -> BaseChatModel:
    """The model for generation ``attempt``: greedy first, then sampled on the embedded backend.

    A small model decoding greedily tends to write the rejected query again word for word,
    whatever the error says; sampling (seeded, so a run is repeatable) gives the repair a
    different query to offer.
    """
    if attempt == 0 or not isinstance(model, EmbeddedChatModel) or model.temperature > 0:
        return model
    return model.model_copy(update={"temperature": REPAIR_TEMPERATURE, "seed": attempt})


def answer_with_sql(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer one sub-task from the SQL database.

    The model writes one SELECT (under a grammar built from the live schema when the
    context asks for it and the backend is embedded); ``tools.sql`` validates it against
    the live schema and runs it on a read-only connection. A rejected query goes back to
    the model with the error, at most ``max_repairs`` times, then the sub-task fails clearly.
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
        database = open_database(
            context.database_url,
            tables=context.sql_tables,
            allow_privileged=context.sql_allow_privileged,
        )
        database.schema_text(sample_values=True)
    except (SqlToolError, OSError) as exc:
        message = getattr(exc, "message", str(exc))
        return fail(f"The SQL database is not available: {message}")
    finally:
        timer.add("tool", since)

    try:
        model = chat_model(context, "sql")
        answer = write_and_run_sql(model, database, task["instruction"], context, timer)
    except (ModelUnavailableError, BackendError) as exc:
        return fail(f"The SQL model is not available: {exc}")
    except SqlToolError as exc:
        return fail(f"The SQL database is not available: {exc.message}")
    attempts = answer.attempts
    result = answer.result
    if result is not None:
        record = make_result(
            task,
            status="ok",
            output=describe_rows(result.columns, result.rows, result.truncated),
            timer=timer,
            query=result.sql,
            columns=result.columns,
            rows=result.rows,
            truncated=result.truncated,
            attempts=attempts,
        )
        return {"results": [record]}
    last = attempts[-1]["error"] if attempts else "no attempt was made"
    return fail(
        f"No valid SQL after {len(attempts)} attempt(s) (max_repairs={context.max_repairs}); "
        f"last error: {last}"
    )
