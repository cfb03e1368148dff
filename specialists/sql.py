"""The SQL specialist: one SELECT per question, validated with sqlglot and run read-only.

Its chat carries the live schema (with sample values for a prompted base model, bare for a
fine-tuned one, as in its training data). On a runtime that decodes under grammars it is
constrained to a SELECT over that schema; ``tools.sql`` validates every query against the
schema and runs it on a read-only connection, and a rejected query goes back to the model
with the validator's or the database's message.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlglot
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from sqlglot import exp

import runtime
from prompts.render import render
from prompts.sql import SQL_EXAMPLES, SQL_REPAIR_PROMPT, SQL_SCHEMA_PROMPT
from specialists.base import (
    SUBTASK_ERRORS,
    Attempt,
    Outcome,
    Rejected,
    RepairPolicy,
    Specialist,
    Timer,
    Turn,
    invoke_text,
    repair_loop,
    system_turns,
)
from specialists.bindings import missing_values, respelled
from specialists.scope import SYSTEM_WORDS, build_cues
from specialists.spellings import spelled_as_held
from tools.sql import QueryResult, SqlDatabase, SqlExecutionError, SqlValidationError
from tools.sql.values import unknown_value
from tools.sql_grammar import DECLINE, select_grammar

logger = logging.getLogger(__name__)

Decoding = Literal["grammar", "free"]
"""How the model's text is decoded: under the schema's grammar, or freely."""

_free_fallback_logged: set[str] = set()


def sql_chat(system: str, request: str, *, fewshot: bool, schema: str = "") -> list[Turn]:
    """The SQL specialist's chat: system + schema, example turns when ``fewshot``, question.

    Without ``schema`` (a fine-tuned model that learnt its schema, see :func:`schema_shown`)
    the system turn holds the SYSTEM text alone.
    """
    turns = system_turns(system, render(SQL_SCHEMA_PROMPT, schema=schema) if schema else "")
    if fewshot:
        for example_question, answer in SQL_EXAMPLES:
            turns += [("user", example_question), ("assistant", answer)]
    turns.append(("user", request))
    return turns


DECLINED = (
    "The SQL specialist declined: the database holds nothing that this request asks about, "
    "so no query was run."
)
"""The sub-task's output when the model writes :data:`tools.sql_grammar.DECLINE`."""

REPAIR_TEMPERATURE = 0.7
"""Sampling temperature of the repair attempts on a greedy model (the first one is greedy)."""


def _repair_prompt(error: str, question: str) -> str:
    return render(SQL_REPAIR_PROMPT, error=error, question=question)


SQL = Specialist(
    name="sql",
    label="SQL",
    chat=sql_chat,
    checked_by="tools.sql: sqlglot validation against the live schema, read-only execution",
    grammar=True,
    trainable=True,
    digits=True,
    repair=RepairPolicy(prompt=_repair_prompt, sampled=True, temperature=REPAIR_TEMPERATURE),
)
"""The SQL specialist (repairs are sampled: a greedy small model repeats itself)."""


@dataclass(frozen=True)
class SqlSettings:
    """What the SQL specialist needs of a run's settings.

    Attributes:
        dialect: The dialect the model writes (``sqlite`` or ``postgres``).
        decoding: ``grammar`` (when the runtime supports it) or ``free``.
        ground_values: Compare low-cardinality text columns only with values they hold
            (in the grammar, and checked after validation).
        votes: Candidate queries per question (1: no voting). With more, the extra
            candidates are sampled, each validated and run, and the answer is the result
            most of them return.
        sampled_repairs: Sample the repairs (True) or decode them greedily (False); None
            keeps the specialist's policy (sampled at :data:`REPAIR_TEMPERATURE`).
        max_repairs: Repairs allowed after the first attempt.
        row_limit: Most rows kept from a query.
        timeout_s: A query's time limit.
        system: The SYSTEM text ('' for a model that brings its own).
    """

    dialect: str = "sqlite"
    decoding: str = "grammar"
    ground_values: bool = True
    votes: int = 1
    sampled_repairs: bool | None = None
    max_repairs: int = 2
    row_limit: int = 50
    timeout_s: float = 10.0
    system: str = ""
    bound: tuple[str, ...] = ()
    """Values copied in from earlier steps of a chain (:mod:`specialists.bindings`): the
    query must compare with or return each of them as a literal."""


@dataclass
class SqlAnswer:
    """What :func:`answer_sql` produced for one question."""

    result: QueryResult | None
    """The rows of the first query that validated and ran, or None when every attempt failed."""
    attempts: list[Attempt] = field(default_factory=list)
    """Every query the model wrote, with the reason it was rejected (None for the last one
    when it ran)."""
    decoding: str = "free"
    """``grammar`` or ``free``: how the model's text was decoded."""
    stopped: str | None = None
    """Why no query was accepted before the attempts ran out (the model is unavailable)."""
    schema_note: str = ""
    """Said when the fine-tuned model was trained for another schema than the live one."""
    agreement: tuple[int, int] | None = None
    """With voting: how many of the candidates that ran returned the chosen result, of
    how many ran."""

    def failure(self, max_repairs: int) -> str:
        """The sub-task's output when no query ran."""
        return Outcome(attempts=self.attempts, stopped=self.stopped).failure("SQL", max_repairs)

    def agreement_note(self) -> str:
        """A sentence saying that the candidates disagreed, or '' when they agreed."""
        if self.agreement is None or self.agreement[0] == self.agreement[1]:
            return ""
        agreed, ran = self.agreement
        return (
            f"The candidate queries disagreed: {agreed} of {ran} returned this result, "
            "so it may be wrong."
        )


def sql_decoding(model: BaseChatModel, requested: str) -> Decoding:
    """The decoding the SQL specialist uses with ``model``: ``grammar`` or ``free``.

    Grammar-constrained decoding needs a runtime that supports grammars (the embedded
    llama.cpp backend); any other model (Ollama, which has no GBNF, or a model the context
    brings) decodes freely, and the fallback is logged once per model class.
    """
    if requested != "grammar":
        return "free"
    if runtime.supports_grammar(model):
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


def _column_names(database: SqlDatabase) -> dict[str, list[str]]:
    return {
        name: [column.name for column in columns] for name, columns in database.tables().items()
    }


def sql_grammar(
    database: SqlDatabase, dialect: str, *, ground_values: bool = True, decline: bool = True
) -> str:
    """The GBNF grammar of a SELECT over ``database``'s live schema, in ``dialect``.

    With ``ground_values`` a string compared with a low-cardinality text column can only
    be one of the values the column holds (read from the database, re-read after a minute);
    with ``decline`` the decline may be written instead of a SELECT.
    """
    return select_grammar(
        _column_names(database),
        dialect="postgres" if dialect.startswith("postgres") else "sqlite",
        foreign_keys=database.foreign_keys(),
        values=database.text_values() if ground_values else None,
        decline=decline,
    )


def held_names(database: SqlDatabase, request: str) -> set[str]:
    """The database's column names and values (as words) that ``request`` names.

    A table's own name does not count: "the salary of each sales rep" names a table, and
    asks for something it does not hold; "the average product price" names a column.
    """
    tables = {name: [c.name for c in columns] for name, columns in database.tables().items()}
    everything = build_cues(tables=tables, values=database.text_values(), describes={})
    table_names = build_cues(tables={name: [] for name in tables}, describes={})
    found = everything.named(request)["sql"] - table_names.named(request)["sql"]
    return found - set(SYSTEM_WORDS["sql"])


def value_problem(database: SqlDatabase, sql: str, dialect: str) -> str | None:
    """Why ``sql`` compares a column with a value it never holds, or None.

    See :func:`tools.sql.values.unknown_value`.
    """
    return unknown_value(
        sql,
        dialect=_normalize(dialect),
        tables=_column_names(database),
        values=database.text_values(),
    )


_STRING = re.compile(r"'((?:[^']|'')*)'")


def with_bound_values(sql: str, bound: Sequence[str]) -> str:
    """``sql`` with each retyped copy of a chain's value, in a string literal, made exact.

    See :func:`specialists.bindings.respelled`.
    """

    def exact(match: re.Match[str]) -> str:
        text = match[1].replace("''", "'")
        for value in bound:
            fixed = respelled(text, value) if text.lower() != value.lower() else None
            if fixed is not None:
                return "'" + fixed.replace("'", "''") + "'"
        return match[0]

    return _STRING.sub(exact, sql) if bound else sql


def bound_problem(sql: str, dialect: str, bound: Sequence[str]) -> str | None:
    """Why ``sql`` does not use every value an earlier step gave it, or None.

    The values were copied into the request from an earlier result; a query that leaves one
    out, or writes it otherwise, answers another question.
    """
    try:
        tree = sqlglot.parse_one(sql, read=_normalize(dialect))
    except sqlglot.errors.ParseError:
        return None
    literals = [str(node.this) for node in tree.find_all(exp.Literal)]
    missing = missing_values(bound, literals)
    if not missing:
        return None
    shown = ", ".join(f"'{value}'" for value in missing[:5])
    return f"the query must use the value(s) the earlier step found, written exactly: {shown}"


def _normalize(dialect: str) -> str:
    return "postgres" if dialect.startswith("postgres") else "sqlite"


def strip_fences(text: str) -> str:
    """Remove markdown code fences and a leading ``SQL:`` label from model output."""
    cleaned = text.strip()
    if cleaned.startswith("```"):
        cleaned = cleaned.strip("`")
        first, _, rest = cleaned.partition("\n")
        cleaned = rest if first.strip().lower() in ("sql", "soql", "") else cleaned
        cleaned = cleaned.split("```")[0]
    for label in ("SQL:", "sql:", "SOQL:"):
        if cleaned.startswith(label):
            cleaned = cleaned[len(label) :]
    return cleaned.strip().rstrip(";").strip()


def sql_schema_text(database: SqlDatabase, *, fewshot: bool) -> str:
    """The schema as the chat shows it: with sample values only for the few-shot form."""
    return database.schema_text(sample_values=fewshot)


def schema_digest(database: SqlDatabase) -> str:
    """The sha256 of the database's schema as the fine-tuned chat would show it."""
    return hashlib.sha256(database.schema_text(sample_values=False).encode()).hexdigest()


OTHER_SCHEMA = (
    "Note: the SQL specialist was fine-tuned for another database schema than this one, so "
    "its queries here are less often right; train it for this database with the data engine "
    "(python -m finetune.engine, then slm-dispatch train sql --examples FILE)."
)
"""Said with an answer whose fine-tuned SQL model was trained for another schema."""


def schema_note(database: SqlDatabase, fewshot: bool) -> str:
    """:data:`OTHER_SCHEMA` when a fine-tuned model's adapter records another schema."""
    if fewshot:
        return ""
    trained_for = runtime.adapter_schema(SQL.name)
    if trained_for is None or trained_for == schema_digest(database):
        return ""
    return OTHER_SCHEMA


def schema_shown(fewshot: bool) -> bool:
    """Whether the chat carries the schema text.

    Always for the prompted base model; for the fine-tuned one when its adapter was trained
    so (:func:`runtime.adapter_prompt`).
    """
    return fewshot or runtime.adapter_prompt(SQL.name) == "schema"


def answer_sql(
    model: BaseChatModel,
    database: SqlDatabase,
    question: str,
    settings: SqlSettings,
    timer: Timer,
) -> SqlAnswer:
    """Have ``model`` write a SELECT for ``question``, validate and run it, repairing on error.

    At most ``1 + settings.max_repairs`` generations (see :func:`specialists.base.repair_loop`);
    each rejected query goes back to the model with the validator's or the database's message.

    Raises:
        SqlConnectionError: The database schema cannot be read or the connection was lost.
    """
    decoding = sql_decoding(model, settings.decoding)
    since = time.perf_counter()
    try:
        options = (
            {
                "grammar": sql_grammar(
                    database, settings.dialect, ground_values=settings.ground_values
                )
            }
            if decoding == "grammar"
            else {}
        )
        fewshot = not runtime.is_finetuned(model, SQL.name)
        schema = sql_schema_text(database, fewshot=fewshot) if schema_shown(fewshot) else ""
        if settings.ground_values:
            question = spelled_as_held(question, database.text_values())
        messages = SQL.messages(settings.system, question, fewshot=fewshot, schema=schema)
    finally:
        timer.add("tool", since)

    def check(reply: AIMessage) -> tuple[QueryResult, str]:
        sql = strip_fences(str(reply.content))
        if sql == DECLINE:
            named = held_names(database, question)
            if not named:
                raise Rejected(sql, DECLINED, final=True)
            # The database holds what the request names: a decline is not taken from the
            # model, and the repair decodes without it.
            shown = ", ".join(sorted(named)[:5])
            raise Rejected(
                sql,
                f"the database holds what the request names ({shown}): write the SELECT",
                repair_options=(
                    {"grammar": sql_grammar(database, settings.dialect, decline=False)}
                    if decoding == "grammar"
                    else None
                ),
            )
        sql = with_bound_values(sql, settings.bound)
        try:
            checked = database.validate(sql, read_dialect=settings.dialect)
            problem = (
                value_problem(database, checked, database.dialect)
                if settings.ground_values
                else None
            )
            if problem is None and settings.bound:
                problem = bound_problem(checked, database.dialect, settings.bound)
            if problem is not None:
                raise SqlValidationError(problem)
            result = database.execute(
                checked, row_limit=settings.row_limit, timeout_s=settings.timeout_s
            )
        except (SqlValidationError, SqlExecutionError) as exc:
            logger.info("sql: rejected %r: %s", sql, exc.message)
            raise Rejected(sql, exc.message) from exc
        return result, sql

    first_messages = list(messages)
    outcome: Outcome[QueryResult] = repair_loop(
        SQL.repairing(settings.sampled_repairs),
        model,
        messages,
        check,
        request=question,
        max_repairs=settings.max_repairs,
        timer=timer,
        options=options,
    )
    answer = SqlAnswer(
        result=outcome.value,
        attempts=outcome.attempts,
        decoding=decoding,
        stopped=outcome.stopped,
        schema_note=schema_note(database, fewshot),
    )
    if outcome.value is not None and settings.votes > 1:
        _vote(answer, model, first_messages, check, settings.votes, timer, options)
    return answer


VOTE_TEMPERATURE = 0.7
"""Sampling temperature of the extra candidates when voting."""


def _result_key(result: QueryResult) -> str:
    return repr(sorted(repr(row) for row in result.rows))


def _vote(
    answer: SqlAnswer,
    model: BaseChatModel,
    messages: list[BaseMessage],
    check: Callable[[AIMessage], tuple[QueryResult, str]],
    votes: int,
    timer: Timer,
    options: dict[str, Any],
) -> None:
    """Sample ``votes - 1`` more candidates; keep the result most of them return.

    Each candidate is validated and run like the first; one that is rejected casts no
    vote. On a tie the first (greedy) query's result stands.
    """
    assert answer.result is not None
    results = [answer.result]
    for seed in range(1, votes):
        sampled = runtime.repair_variant(model, temperature=VOTE_TEMPERATURE, seed=seed)
        try:
            reply = invoke_text(sampled, messages, timer, **options)
        except SUBTASK_ERRORS:
            break
        since = time.perf_counter()
        try:
            result, _ = check(reply)
        except Rejected:
            continue
        finally:
            timer.add("tool", since)
        results.append(result)
    groups: dict[str, list[QueryResult]] = {}
    for result in results:
        groups.setdefault(_result_key(result), []).append(result)
    first_key = _result_key(answer.result)
    best = max(groups, key=lambda key: (len(groups[key]), key == first_key))
    answer.result = groups[best][0]
    answer.agreement = (len(groups[best]), len(results))
