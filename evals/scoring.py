"""Scoring of the ``slm-dispatch eval`` replies against their gold targets.

Every reply is scored three ways: syntactic validity (the SQL parses with sqlglot / the JSON
parses into ``Plan`` or ``ActionRequest``), semantic validity (the project's own validators
accept it) and task accuracy (router: the plan; sql: execution accuracy on the demo
database; salesforce: the normalised action, and the records it returns on the offline
sandbox org).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from pydantic import BaseModel, ValidationError
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from specialists import TASK_SPECIALISTS
from specialists.router import MAX_TASKS, Plan, plan_from_model
from specialists.sql import strip_fences
from tools.salesforce import (
    ActionRequest,
    ActionResult,
    AnyAction,
    QueryAction,
    SalesforceClient,
    SalesforceError,
    is_write,
    to_18_char_id,
)
from tools.sql import QueryResult, SqlDatabase, SqlToolError

__all__ = [
    "Score",
    "action_key",
    "actions_match",
    "normalise_instruction",
    "normalise_soql",
    "same_rows",
    "score_router",
    "score_salesforce",
    "score_sql",
    "sql_is_ordered",
    "sql_parses",
]

SQL_ROW_LIMIT = 10_000
"""Most rows read from a query when comparing results (the demo database is far smaller)."""

SQL_TIMEOUT_S = 10.0
"""Statement timeout of every query run during scoring."""

SALESFORCE_ROW_LIMIT = 2_000
"""Most records read from an action when comparing results."""

ROUTER_SPECIALISTS = frozenset(TASK_SPECIALISTS)
"""The specialists a router plan may name."""

_TRAILING_PUNCTUATION = ".!?;:, \t\n"
_SOQL_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")
_SOQL_SPACE_AROUND = re.compile(r"\s*([,()=<>!])\s*")
_SOQL_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


@dataclass(frozen=True)
class Score:
    """How one reply fared against its gold target."""

    syntactic: bool
    """The SQL parses (sqlglot, SQLite) / the JSON parses into the Pydantic model."""
    semantic: bool
    """The project's validators accept it (SQL validated and run; action validated against
    the org's metadata; plan non-empty with known specialists)."""
    correct: bool
    """The task metric: execution accuracy (sql), exact plan (router), action exact-match
    (salesforce)."""
    prediction: str = ""
    """What was scored: the SQL after fence stripping, or the parsed JSON re-serialised."""
    routing: bool | None = None
    """Router only: specialists and dependencies equal the gold, instructions aside."""
    result_match: bool | None = None
    """Salesforce only: the action returns the same records as the gold action."""
    error: str | None = None
    """Why the reply failed the first check it failed, if it did."""


def _cell(value: Any) -> Any:
    """One result value made comparable: numbers rounded to 2 decimals, containers as JSON."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return round(float(value), 2)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def same_rows(
    predicted: Iterable[Sequence[Any]], gold: Iterable[Sequence[Any]], ordered: bool
) -> bool:
    """Say whether two query results hold the same rows (column names are not compared).

    Args:
        predicted: Rows of the predicted query.
        gold: Rows of the gold query.
        ordered: Compare as sequences (the gold orders its rows) instead of multisets.

    Returns:
        True when the rows are equal, numbers compared after rounding to 2 decimals.
    """
    left = [tuple(_cell(value) for value in row) for row in predicted]
    right = [tuple(_cell(value) for value in row) for row in gold]
    if ordered:
        return left == right
    return Counter(left) == Counter(right)


def sql_parses(sql: str) -> bool:
    """Say whether ``sql`` parses with sqlglot (SQLite) as exactly one query."""
    if not sql.strip():
        return False
    try:
        statements = [
            statement
            for statement in sqlglot.parse(sql, read="sqlite")
            if statement is not None and not isinstance(statement, exp.Semicolon)
        ]
    except (ParseError, TokenError):
        return False
    return len(statements) == 1 and isinstance(statements[0], exp.Query)


def sql_is_ordered(sql: str) -> bool:
    """Say whether the outermost query of ``sql`` has an ORDER BY (its row order counts)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (ParseError, TokenError):
        return False
    return tree is not None and tree.args.get("order") is not None


def score_sql(output: str, gold_sql: str, database: SqlDatabase) -> Score:
    """Score one SQL reply by execution accuracy on ``database``.

    Args:
        output: The model's reply (fences and a trailing semicolon are stripped).
        gold_sql: The gold SELECT.
        database: The database both queries run on.

    Returns:
        The score; ``correct`` when both queries return the same rows (see :func:`same_rows`;
        ordered only when the gold has ORDER BY).

    Raises:
        SqlToolError: The gold query itself does not run (the held-out data is broken).
    """
    sql = strip_fences(output)
    if not sql_parses(sql):
        return Score(False, False, False, sql, error="does not parse as one SQLite query")
    try:
        predicted = _run_sql(database, sql)
    except SqlToolError as exc:
        return Score(True, False, False, sql, error=exc.message)
    gold = _run_sql(database, gold_sql)
    correct = same_rows(predicted.rows, gold.rows, sql_is_ordered(gold_sql))
    return Score(True, True, correct, sql, error=None if correct else "different rows")


def _run_sql(database: SqlDatabase, sql: str) -> QueryResult:
    return database.run(
        sql, read_dialect="sqlite", row_limit=SQL_ROW_LIMIT, timeout_s=SQL_TIMEOUT_S
    )


def _parse_json_reply(output: str, schema: type[BaseModel]) -> BaseModel:
    """Parse a reply into ``schema``: fences stripped, then the outermost ``{...}``."""
    text = strip_fences(output)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        text = text[start : end + 1]
    return schema.model_validate_json(text)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "output"
    return f"{where}: {first.get('msg', 'invalid')}"


def normalise_instruction(text: str) -> str:
    """An instruction for comparison: lower case, whitespace collapsed, no end punctuation."""
    return " ".join(text.split()).lower().rstrip(_TRAILING_PUNCTUATION)


def _plan_shape(plan: Plan, request: str) -> tuple[list[tuple[str, int | None]], list[str]]:
    tasks = plan_from_model(plan, request)
    pairs: list[tuple[str, int | None]] = [
        (str(task["specialist"]), task["depends_on"]) for task in tasks
    ]
    return pairs, [normalise_instruction(task["instruction"]) for task in tasks]


def score_router(output: str, gold_json: str, request: str) -> Score:
    """Score one router reply against the gold plan.

    Both plans are compared as the runtime would run them, after
    :func:`specialists.router.plan_from_model`.

    Args:
        output: The model's reply (JSON, possibly fenced or surrounded by text).
        gold_json: The gold ``Plan`` as JSON.
        request: The request the plan is for.

    Returns:
        The score; ``routing`` when the (specialist, depends_on) pairs equal the gold's,
        ``correct`` (exact plan) when the instructions also match after
        :func:`normalise_instruction`.
    """
    try:
        plan = _parse_json_reply(output, Plan)
    except ValidationError as exc:
        return Score(False, False, False, output.strip(), routing=False, error=_first_error(exc))
    assert isinstance(plan, Plan)
    prediction = plan.model_dump_json()
    pairs, instructions = _plan_shape(plan, request)
    if not pairs or len(pairs) > MAX_TASKS:
        return Score(True, False, False, prediction, routing=False, error="empty plan")
    unknown = sorted({name for name, _ in pairs} - ROUTER_SPECIALISTS)
    if unknown:
        problem = f"unknown specialist {', '.join(unknown)}"
        return Score(True, False, False, prediction, routing=False, error=problem)
    gold_pairs, gold_instructions = _plan_shape(Plan.model_validate_json(gold_json), request)
    routing = pairs == gold_pairs
    correct = routing and instructions == gold_instructions
    mismatch = None if correct else ("different instructions" if routing else "different routing")
    return Score(True, True, correct, prediction, routing=routing, error=mismatch)


def normalise_soql(soql: str) -> str:
    """SOQL for comparison: outside quoted literals, lower case with whitespace collapsed.

    Quoted literals are kept as written (their case matters); spaces around commas,
    parentheses and comparison operators are removed.
    """
    parts: list[str] = []
    position = 0
    for literal in _SOQL_QUOTED.finditer(soql):
        parts.append(_normalise_soql_code(soql[position : literal.start()]))
        parts.append(literal.group(0))
        position = literal.end()
    parts.append(_normalise_soql_code(soql[position:]))
    return "".join(parts).strip().rstrip(";").strip()


def _normalise_soql_code(code: str) -> str:
    collapsed = " ".join(code.split()).lower()
    if code[:1].isspace():
        collapsed = " " + collapsed
    if code[-1:].isspace() and collapsed.strip():
        collapsed += " "
    return _SOQL_SPACE_AROUND.sub(r"\1", collapsed)


def _record_id(record_id: str | None) -> str | None:
    if record_id is None:
        return None
    return to_18_char_id(record_id) if len(record_id) == 15 and record_id.isalnum() else record_id


def action_key(action: AnyAction) -> tuple[Any, ...]:
    """What identifies an action for exact-match.

    The action kind, the object (case-insensitive), the 18-character record Id, the SOQL
    after :func:`normalise_soql`, a ``get``'s field list as a case-insensitive set, and a
    write's values by lower-cased field name.
    """
    sobject = getattr(action, "sobject", None)
    fields = getattr(action, "fields", None)
    values = getattr(action, "values", None)
    soql = getattr(action, "soql", None)
    return (
        action.action,
        sobject.lower() if sobject else None,
        _record_id(getattr(action, "record_id", None)),
        normalise_soql(soql) if soql is not None else None,
        tuple(sorted({name.lower() for name in fields})) if fields is not None else None,
        tuple(sorted((k.lower(), json.dumps(v)) for k, v in values.items()))
        if values is not None
        else None,
    )


def actions_match(predicted: AnyAction, gold: AnyAction) -> bool:
    """Say whether two actions are the same after normalising (see :func:`action_key`)."""
    return action_key(predicted) == action_key(gold)


def _run_action(client: SalesforceClient, action: AnyAction) -> ActionResult:
    return client.run(action, row_limit=SALESFORCE_ROW_LIMIT)


def score_salesforce(output: str, gold_json: str, client: SalesforceClient) -> Score:
    """Score one Salesforce reply against the gold action on the org ``client`` reaches.

    Args:
        output: The model's reply (JSON of ``ActionRequest``, possibly fenced).
        gold_json: The gold ``ActionRequest`` as JSON.
        client: A client of the org the held-out set was written for (the sandbox).

    Returns:
        The score; ``correct`` when both actions, normalised by
        :meth:`~tools.salesforce.SalesforceClient.validate_action`, match (see
        :func:`action_key`); ``result_match`` when the predicted action is a read that
        returns the same records as the gold (ordered only when the gold SOQL has ORDER
        BY). Writes, predicted or gold, are validated and compared but never run; their
        ``result_match`` is the exact match.

    Raises:
        SalesforceError: The gold action itself does not validate or run.
    """
    try:
        request = _parse_json_reply(output, ActionRequest)
    except ValidationError as exc:
        return Score(
            False, False, False, output.strip(), result_match=False, error=_first_error(exc)
        )
    assert isinstance(request, ActionRequest)
    predicted: AnyAction = request.action
    prediction = request.model_dump_json()
    try:
        predicted = client.validate_action(predicted)
    except (SalesforceError, ValueError) as exc:
        return Score(True, False, False, prediction, result_match=False, error=str(exc))
    gold = client.validate_action(ActionRequest.model_validate_json(gold_json).action)
    correct = actions_match(predicted, gold)
    if is_write(predicted) or is_write(gold):
        # Writes are compared, never run: the same validated write has the same effect.
        error = None if correct else "different action (writes are compared, not run)"
        return Score(True, True, correct, prediction, result_match=correct, error=error)
    try:
        predicted_rows = _run_action(client, predicted).rows
    except SalesforceError as exc:
        error = f"validated but failed to run: {exc}"
        return Score(True, True, correct, prediction, result_match=False, error=error)
    gold_rows = _run_action(client, gold).rows
    ordered = isinstance(gold, QueryAction) and bool(
        _SOQL_ORDER_BY.search(_SOQL_QUOTED.sub("''", gold.soql))
    )
    result_match = same_rows(predicted_rows, gold_rows, ordered)
    mismatch = None if correct else "different action" + ("" if result_match else " and records")
    return Score(True, True, correct, prediction, result_match=result_match, error=mismatch)
