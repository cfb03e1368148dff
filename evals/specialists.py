"""``slm-dispatch eval``: the prompted base model against the fine-tuned specialists.

Each specialist that has a dataset (:data:`finetune.datasets.SPECIALISTS_WITH_DATA`) is
asked its held-out requests under up to four configurations:

* ``base-prompted/free`` and ``base-prompted/constrained``: the base model with the few-shot
  prompt of :mod:`prompts.chat` (and, for SQL, the schema with sample values);
* ``fine-tuned/free`` and ``fine-tuned/constrained``: the base model with the specialist's
  LoRA adapter (``ollama/adapters/<specialist>.gguf``), zero-shot, with the prompt it was
  trained on. A specialist without an adapter file has these configurations skipped.

``constrained`` decodes SQL under the grammar of the live schema
(:func:`nodes.sql.sql_grammar`) and JSON under the grammar of its Pydantic schema; ``free``
decodes plain text, which is then parsed.

Every reply is scored three ways: syntactic validity (the SQL parses with sqlglot / the JSON
parses into ``Plan`` or ``ActionRequest``), semantic validity (the project's own validators
accept it) and task accuracy (router: the plan; sql: execution accuracy on the demo
database; salesforce: the normalised action, and the records it returns on the offline
sandbox org). Latency is the time of the model call alone. From the per-item outcomes it
also estimates how often a chain of ten sub-tasks succeeds end to end.

:func:`run_eval` runs the evaluation and writes ``results.json`` (every per-item outcome),
``report.md`` and PNG charts; :func:`render_report` draws the report from a summary;
:func:`add_eval_command` registers ``slm-dispatch eval``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlglot
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from finetune.datasets import DATA_DIR, SANDBOX_ANCHOR, SPECIALISTS_WITH_DATA, load_examples
from nodes.router import MAX_TASKS, Plan, plan_from_model
from nodes.sql import sql_grammar
from nodes.support import strip_fences
from prompts.chat import Turn, router_chat, salesforce_chat, sql_chat
from runtime.embedded import EmbeddedChatModel
from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError
from runtime.paths import (
    BASE_MODEL_FILENAME,
    MODELS_DIR,
    PROJECT_ROOT,
    display_path,
    file_sha256,
)
from runtime.registry import load_modelfile, system_prompt
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
    "ADAPTERS_DIR",
    "CHAIN_STEPS",
    "CONFIGS",
    "DEFAULT_CHAINS",
    "DEFAULT_LIMIT",
    "DEFAULT_OUT_DIR",
    "DEFAULT_SEED",
    "EvalSetupError",
    "Score",
    "action_key",
    "actions_match",
    "add_eval_command",
    "chain_outcomes",
    "cmd_eval",
    "draw_chains",
    "normalise_instruction",
    "normalise_soql",
    "render_report",
    "run_eval",
    "same_rows",
    "score_router",
    "score_salesforce",
    "score_sql",
    "sql_is_ordered",
    "sql_parses",
]

logger = logging.getLogger(__name__)

CONFIGS: tuple[str, ...] = (
    "base-prompted/free",
    "base-prompted/constrained",
    "fine-tuned/free",
    "fine-tuned/constrained",
)
"""Every configuration: ``<model>/<decoding>``."""

FAMILIES: tuple[str, ...] = ("base-prompted", "fine-tuned")
"""The two models compared; each is run with both decodings."""

ADAPTERS_DIR = PROJECT_ROOT / "ollama" / "adapters"
"""Where the fine-tuned LoRA adapters live, one ``<specialist>.gguf`` each."""

DEFAULT_LIMIT = 60
"""Held-out items evaluated per specialist unless told otherwise."""

DEFAULT_CHAINS = 50
"""Simulated ten-step chains per model unless told otherwise."""

CHAIN_STEPS = 10
"""Sub-tasks in one simulated chain."""

DEFAULT_SEED = 0
"""Seed of the held-out sample and of the chain draws unless told otherwise."""

DEFAULT_OUT_DIR = Path("bench-results") / "eval"
"""Where the report goes unless told otherwise (relative to the working directory)."""

SQL_ROW_LIMIT = 10_000
"""Most rows read from a query when comparing results (the demo database is far smaller)."""

SQL_TIMEOUT_S = 10.0
"""Statement timeout of every query run during scoring."""

SALESFORCE_ROW_LIMIT = 2_000
"""Most records read from an action when comparing results."""

ROUTER_SPECIALISTS = frozenset({"sql", "salesforce", "summarize"})
"""The specialists a router plan may name."""

_TRAILING_PUNCTUATION = ".!?;:, \t\n"
_SOQL_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")
_SOQL_SPACE_AROUND = re.compile(r"\s*([,()=<>!])\s*")
_SOQL_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)
_MESSAGE_TYPES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "user": HumanMessage,
    "assistant": AIMessage,
}


class EvalSetupError(Exception):
    """The evaluation cannot start: a usage mistake or something missing, said plainly."""


# ------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------


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
    :func:`nodes.router.plan_from_model`.

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


# ------------------------------------------------------------------------------------------
# Models and prompts
# ------------------------------------------------------------------------------------------


def _family(config: str) -> str:
    return config.split("/", 1)[0]


def _constrained(config: str) -> bool:
    return config.endswith("/constrained")


def _messages(turns: Sequence[Turn]) -> list[BaseMessage]:
    return [_MESSAGE_TYPES[role](content) for role, content in turns]


def _specialist_model(specialist: str, base: Path, adapter: Path | None) -> EmbeddedChatModel:
    """The specialist's model with its Modelfile's decoding parameters and ``adapter``."""
    parameters = load_modelfile(specialist).parameters
    return EmbeddedChatModel(
        model_path=str(base),
        adapter_path=str(adapter) if adapter is not None else None,
        n_ctx=int(parameters.get("num_ctx", 2048)),
        temperature=0.0,
        max_tokens=int(parameters.get("num_predict", 256)),
        stop=list(parameters.get("stop", [])),
        seed=int(parameters.get("seed", 0)),
        repeat_penalty=float(parameters.get("repeat_penalty", 1.1)),
        specialist=specialist,
    )


class _Task:
    """How one specialist is prompted, decoded and scored."""

    name = ""

    def messages(self, item: Mapping[str, Any], fewshot: bool) -> list[BaseMessage]:
        raise NotImplementedError

    def constraint(self) -> dict[str, Any]:
        raise NotImplementedError

    def score(self, output: str, item: Mapping[str, Any]) -> Score:
        raise NotImplementedError


class _RouterTask(_Task):
    name = "router"

    def messages(self, item: Mapping[str, Any], fewshot: bool) -> list[BaseMessage]:
        return _messages(router_chat(system_prompt("router"), item["request"], fewshot=fewshot))

    def constraint(self) -> dict[str, Any]:
        return {"format": Plan.model_json_schema()}

    def score(self, output: str, item: Mapping[str, Any]) -> Score:
        return score_router(output, item["target"], item["request"])


class _SqlTask(_Task):
    name = "sql"

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        self.grammar = sql_grammar(database, "sqlite")
        self.schemas = {
            fewshot: database.schema_text(sample_values=fewshot) for fewshot in (False, True)
        }

    def messages(self, item: Mapping[str, Any], fewshot: bool) -> list[BaseMessage]:
        turns = sql_chat(
            system_prompt("sql"), self.schemas[fewshot], item["request"], fewshot=fewshot
        )
        return _messages(turns)

    def constraint(self) -> dict[str, Any]:
        return {"grammar": self.grammar}

    def score(self, output: str, item: Mapping[str, Any]) -> Score:
        return score_sql(output, item["target"], self.database)


class _SalesforceTask(_Task):
    name = "salesforce"

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    def messages(self, item: Mapping[str, Any], fewshot: bool) -> list[BaseMessage]:
        turns = salesforce_chat(system_prompt("salesforce"), item["request"], fewshot=fewshot)
        return _messages(turns)

    def constraint(self) -> dict[str, Any]:
        return {"format": ActionRequest.model_json_schema()}

    def score(self, output: str, item: Mapping[str, Any]) -> Score:
        return score_salesforce(output, item["target"], self.client)


# ------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def _sha12(path: Path) -> str:
    return file_sha256(path)[:12]


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _select(
    examples: list[dict[str, Any]], limit: int, seed: int, specialist: str
) -> list[dict[str, Any]]:
    """A seeded sample of ``limit`` examples, kept in file order."""
    if len(examples) <= limit:
        return list(examples)
    chosen = random.Random(f"{seed}/{specialist}").sample(range(len(examples)), limit)
    return [examples[index] for index in sorted(chosen)]


def _check_arguments(
    specialists: Sequence[str], limit: int, configs: Sequence[str], chains: int
) -> None:
    if not specialists:
        raise EvalSetupError("no specialist to evaluate")
    for name in specialists:
        if name not in SPECIALISTS_WITH_DATA:
            hint = " (summarize has no held-out set)" if name == "summarize" else ""
            raise EvalSetupError(
                f"unknown specialist {name!r}{hint}: expected one of "
                f"{', '.join(SPECIALISTS_WITH_DATA)}"
            )
    if not configs:
        raise EvalSetupError("no configuration to evaluate")
    for config in configs:
        if config not in CONFIGS:
            raise EvalSetupError(
                f"unknown configuration {config!r}: expected one of {', '.join(CONFIGS)}"
            )
    if limit < 1:
        raise EvalSetupError("--limit must be at least 1")
    if chains < 0:
        raise EvalSetupError("--chains must be >= 0")


def _evaluate_config(
    task: _Task,
    config: str,
    model: EmbeddedChatModel,
    items: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Ask every item under one configuration; return the per-item outcomes.

    One unscored call first (the last item's prompt) loads the model's prompt cache and
    checks the grammar, so that the first item's latency is not the cold start's.
    """
    fewshot = _family(config) == "base-prompted"
    options = task.constraint() if _constrained(config) else {}
    try:
        model.invoke(task.messages(items[-1], fewshot), **options)
    except (BackendError, SchemaGrammarError) as exc:
        logger.warning("%s %s: the warm-up call failed: %s", task.name, config, exc)
    outcomes: list[dict[str, Any]] = []
    for item in items:
        messages = task.messages(item, fewshot)
        started = time.perf_counter()
        try:
            reply = model.invoke(messages, **options)
        except (BackendError, SchemaGrammarError) as exc:
            seconds = time.perf_counter() - started
            output, metadata, score = "", {}, Score(False, False, False, error=f"model: {exc}")
        else:
            seconds = time.perf_counter() - started
            output = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
            metadata = reply.response_metadata
            try:
                score = task.score(output, item)
            except (SqlToolError, SalesforceError) as exc:
                raise EvalSetupError(
                    f"the gold target of {task.name} item {item['id']} does not run: {exc}"
                ) from exc
        outcomes.append(
            {
                "specialist": task.name,
                "config": config,
                "id": item["id"],
                "family": item.get("family"),
                "template": item.get("template"),
                "request": item["request"],
                "target": item["target"],
                "output": output,
                **asdict(score),
                "seconds": round(seconds, 4),
                "prompt_tokens": int(metadata.get("prompt_tokens", 0)),
                "completion_tokens": int(metadata.get("completion_tokens", 0)),
            }
        )
    return outcomes


def _summarise(
    specialist: str, outcomes: Sequence[Mapping[str, Any]], wall_s: float
) -> dict[str, Any]:
    """The metrics of one specialist × configuration from its per-item outcomes."""
    n = len(outcomes)

    def rate(key: str) -> float:
        return sum(1 for outcome in outcomes if outcome[key]) / n if n else 0.0

    seconds = [float(outcome["seconds"]) for outcome in outcomes]
    tokens = sum(int(outcome["completion_tokens"]) for outcome in outcomes)
    summary: dict[str, Any] = {
        "status": "ok",
        "n": n,
        "correct": sum(1 for outcome in outcomes if outcome["correct"]),
        "syntactic": rate("syntactic"),
        "semantic": rate("semantic"),
        "accuracy": rate("correct"),
        "latency_mean_s": sum(seconds) / n if n else 0.0,
        "latency_p95_s": _p95(seconds) if n else 0.0,
        "tokens_per_s": tokens / sum(seconds) if sum(seconds) > 0 else 0.0,
        "model_errors": sum(
            1 for outcome in outcomes if (outcome["error"] or "").startswith("model: ")
        ),
        "wall_s": round(wall_s, 2),
    }
    if specialist == "router":
        summary["routing_accuracy"] = rate("routing")
    if specialist == "salesforce":
        summary["result_match"] = rate("result_match")
    return summary


def draw_chains(
    pool: Mapping[str, Sequence[str]], chains: int, steps: int, seed: int
) -> list[list[tuple[str, str]]]:
    """Draw chains of held-out items: each step picks a specialist, then one of its items.

    Args:
        pool: Item ids per specialist.
        chains: How many chains.
        steps: Items per chain.
        seed: Seed of the draws (the same seed draws the same chains).

    Returns:
        ``chains`` lists of ``steps`` ``(specialist, item id)`` pairs.
    """
    names = sorted(name for name, ids in pool.items() if ids)
    if not names:
        return []
    rng = random.Random(f"{seed}/chains")
    drawn: list[list[tuple[str, str]]] = []
    for _ in range(chains):
        chain = []
        for _ in range(steps):
            name = rng.choice(names)
            chain.append((name, pool[name][rng.randrange(len(pool[name]))]))
        drawn.append(chain)
    return drawn


def chain_outcomes(
    chains: Sequence[Sequence[tuple[str, str]]], correct: Mapping[tuple[str, str], bool]
) -> list[bool]:
    """Say which chains succeed: every step's item was answered correctly."""
    return [all(correct[step] for step in chain) for chain in chains]


def _chains_summary(
    specialists: Sequence[str],
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    outcomes: Sequence[Mapping[str, Any]],
    items: Mapping[str, Sequence[Mapping[str, Any]]],
    chains: int,
    seed: int,
) -> dict[str, Any]:
    """Ten-step chain success per model, each specialist on its better decoding."""
    pool = {name: [str(item["id"]) for item in items[name]] for name in specialists}
    drawn = draw_chains(pool, chains, CHAIN_STEPS, seed)
    summary: dict[str, Any] = {"steps": CHAIN_STEPS, "n": len(drawn), "families": {}}
    for family in FAMILIES:
        chosen: dict[str, str] = {}
        missing = []
        for name in specialists:
            ran = [
                (metrics["accuracy"], _constrained(config), config)
                for config, metrics in results[name].items()
                if _family(config) == family and metrics["status"] == "ok"
            ]
            if ran:
                chosen[name] = max(ran)[2]
            else:
                missing.append(name)
        if len(missing) == len(specialists):
            continue
        if missing:
            summary["families"][family] = {
                "status": "skipped",
                "reason": f"no {family} results for {', '.join(missing)}",
            }
            continue
        correct = {
            (outcome["specialist"], str(outcome["id"])): bool(outcome["correct"])
            for outcome in outcomes
            if chosen.get(outcome["specialist"]) == outcome["config"]
        }
        succeeded = chain_outcomes(drawn, correct)
        per_step = sum(results[name][chosen[name]]["accuracy"] for name in specialists) / len(
            specialists
        )
        summary["families"][family] = {
            "status": "ok",
            "decodings": chosen,
            "successes": sum(succeeded),
            "success_rate": sum(succeeded) / len(succeeded) if succeeded else 0.0,
            "per_step_accuracy": per_step,
            "per_step_accuracy_pow": per_step**CHAIN_STEPS,
            "chains": [
                {"steps": [f"{name}:{item}" for name, item in chain], "success": ok}
                for chain, ok in zip(drawn, succeeded, strict=True)
            ],
        }
    return summary


def run_eval(
    specialists: Sequence[str] = SPECIALISTS_WITH_DATA,
    limit: int = DEFAULT_LIMIT,
    configs: Sequence[str] = CONFIGS,
    out_dir: Path = DEFAULT_OUT_DIR,
    seed: int = DEFAULT_SEED,
    chains: int = DEFAULT_CHAINS,
    progress: bool = True,
    *,
    data_dir: Path = DATA_DIR,
    database_path: Path | None = None,
    adapters_dir: Path = ADAPTERS_DIR,
    base_model: Path | None = None,
) -> dict[str, Any]:
    """Evaluate the specialists on their held-out sets and write the report.

    Writes ``results.json`` (the summary and every per-item outcome), ``report.md`` and the
    charts in ``out_dir``.

    Args:
        specialists: Specialists to evaluate (of :data:`SPECIALISTS_WITH_DATA`).
        limit: Held-out items per specialist (a seeded sample when the set is larger).
        configs: Configurations to run (of :data:`CONFIGS`); a fine-tuned one is skipped,
            and the report says so, when the specialist has no adapter file.
        out_dir: Where the results go; created if missing.
        seed: Seed of the held-out sample and of the chain draws.
        chains: Ten-step chains simulated per model (0: none).
        progress: Report each specialist × configuration on stderr.
        data_dir: The held-out data directory (``<specialist>/heldout.jsonl``).
        database_path: The demo SQLite database; default ``demo.sqlite`` in the data
            directory (:func:`graph.context.default_data_dir`).
        adapters_dir: Where ``<specialist>.gguf`` adapters are looked for.
        base_model: The base GGUF; default the one the Modelfiles name.

    Returns:
        The summary (also under ``summary`` in ``results.json``).

    Raises:
        EvalSetupError: A bad argument, or held-out data, the database or the base model
            is missing.
        OSError: ``out_dir`` cannot be written.
    """
    from graph.context import default_data_dir

    _check_arguments(specialists, limit, configs, chains)
    specialists = list(dict.fromkeys(specialists))
    configs = [config for config in CONFIGS if config in configs]
    base = Path(base_model) if base_model is not None else MODELS_DIR / BASE_MODEL_FILENAME
    if not base.is_file():
        raise EvalSetupError(
            f"the base model {display_path(base)} is missing: run `slm-dispatch setup`"
        )
    database_file = Path(database_path or default_data_dir() / "demo.sqlite")
    if "sql" in specialists and not database_file.is_file():
        raise EvalSetupError(
            f"the demo database {database_file} is missing: run `slm-dispatch setup`"
        )
    heldout: dict[str, list[dict[str, Any]]] = {}
    items: dict[str, list[dict[str, Any]]] = {}
    for name in specialists:
        try:
            heldout[name] = load_examples(name, "heldout", data_dir)
        except FileNotFoundError as exc:
            raise EvalSetupError(str(exc)) from exc
        if not heldout[name]:
            raise EvalSetupError(f"the held-out set of {name} in {data_dir} is empty")
        items[name] = _select(heldout[name], limit, seed, name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    adapters = {name: Path(adapters_dir) / f"{name}.gguf" for name in specialists}
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in specialists}
    outcomes: list[dict[str, Any]] = []
    with ExitStack() as stack:
        for name in specialists:
            task = _open_task(name, database_file, stack)
            for config in configs:
                adapter = adapters[name] if _family(config) == "fine-tuned" else None
                if adapter is not None and not adapter.is_file():
                    reason = f"no adapter at {display_path(adapter)}"
                    results[name][config] = {"status": "skipped", "reason": reason}
                    _say(progress, f"eval: {name} · {config}: skipped ({reason})")
                    continue
                model = _specialist_model(name, base, adapter)
                try:
                    model.load()
                except ModelUnavailableError as exc:
                    results[name][config] = {"status": "skipped", "reason": str(exc)}
                    _say(progress, f"eval: {name} · {config}: skipped ({exc})")
                    continue
                _say(progress, f"eval: {name} · {config}: {len(items[name])} items …")
                config_started = time.perf_counter()
                done = _evaluate_config(task, config, model, items[name])
                metrics = _summarise(name, done, time.perf_counter() - config_started)
                results[name][config] = metrics
                outcomes += done
                _say(
                    progress,
                    f"eval: {name} · {config}: {metrics['n']} done in {metrics['wall_s']:.1f} s — "
                    f"syntactic {_count(done, 'syntactic')}, semantic {_count(done, 'semantic')}, "
                    f"correct {metrics['correct']}",
                )

    summary: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "limit": limit,
        "configs": configs,
        "specialists": specialists,
        "models": {
            "base": {"file": base.name, "sha256": _sha12(base)},
            "adapters": {
                name: (
                    {"file": path.name, "sha256": _sha12(path)}
                    if path.is_file()
                    else {"file": path.name, "missing": True}
                )
                for name, path in adapters.items()
            },
        },
        "heldout": {
            name: {"size": len(heldout[name]), "evaluated": len(items[name])}
            for name in specialists
        },
        "database": database_file.name if "sql" in specialists else None,
        "results": results,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    chains_summary = _chains_summary(specialists, results, outcomes, items, chains, seed)
    draws = {
        family: entry.pop("chains", []) for family, entry in chains_summary["families"].items()
    }
    summary["chains"] = chains_summary
    results_path = out_dir / "results.json"
    results_path.write_text(
        json.dumps({"summary": summary, "items": outcomes, "chains": draws}, indent=1) + "\n",
        encoding="utf-8",
    )
    render_report(summary, out_dir)
    return summary


def _count(outcomes: Sequence[Mapping[str, Any]], key: str) -> int:
    return sum(1 for outcome in outcomes if outcome[key])


def _open_task(name: str, database_file: Path, stack: ExitStack) -> _Task:
    """The task of one specialist, with what it needs opened on ``stack``."""
    if name == "router":
        return _RouterTask()
    if name == "sql":
        database = SqlDatabase.open(str(database_file))
        stack.callback(database.close)
        return _SqlTask(database)
    from tools.salesforce_sandbox import sandbox_client, start_sandbox

    directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="slm-eval-sandbox-"))
    server = stack.enter_context(start_sandbox(Path(directory), anchor=SANDBOX_ANCHOR))
    return _SalesforceTask(sandbox_client(server))


# ------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------

_ACCURACY_LABELS = {
    "router": "exact plan",
    "sql": "execution accuracy",
    "salesforce": "action exact-match",
}


def _percent(value: float | None, n: int | None = None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:.0f}%"
    return f"{text} ({round(value * n)}/{n})" if n is not None else text


def _table_text(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _metric_columns(specialist: str) -> list[tuple[str, str]]:
    columns = [("syntactic", "syntactic validity"), ("semantic", "semantic validity")]
    if specialist == "router":
        columns.append(("routing_accuracy", "routing accuracy"))
    columns.append(("accuracy", _ACCURACY_LABELS[specialist]))
    if specialist == "salesforce":
        columns.append(("result_match", "result match"))
    return columns


def _specialist_table(specialist: str, results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    metric_columns = _metric_columns(specialist)
    header = ["config", "n", *(label for _, label in metric_columns)]
    header += ["mean s", "p95 s", "tokens/s", "model errors"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for config, metrics in results.items():
        if metrics["status"] != "ok":
            cells = [config, "–", f"skipped: {_table_text(metrics['reason'])}"]
            cells += [""] * (len(header) - len(cells))
        else:
            n = int(metrics["n"])
            cells = [config, str(n)]
            cells += [_percent(metrics[key], n) for key, _ in metric_columns]
            cells += [
                f"{metrics['latency_mean_s']:.2f}",
                f"{metrics['latency_p95_s']:.2f}",
                f"{metrics['tokens_per_s']:.1f}",
                str(metrics["model_errors"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _chain_table(chains: Mapping[str, Any]) -> list[str]:
    steps = chains["steps"]
    lines = [
        f"| model | decoding per specialist | chains ok | success rate | per-step p | p^{steps} |",
        "|---|---|---|---|---|---|",
    ]
    for family, entry in chains["families"].items():
        if entry["status"] != "ok":
            lines.append(f"| {family} | skipped: {_table_text(entry['reason'])} | | | | |")
            continue
        decodings = ", ".join(
            f"{name}: {config.split('/', 1)[1]}" for name, config in entry["decodings"].items()
        )
        lines.append(
            f"| {family} | {decodings} | {entry['successes']}/{chains['n']} | "
            f"{_percent(entry['success_rate'])} | {entry['per_step_accuracy']:.3f} | "
            f"{entry['per_step_accuracy_pow']:.4f} |"
        )
    return lines


def render_report(summary: Mapping[str, Any], out_dir: Path) -> Path:
    """Write ``report.md`` and the PNG charts for a summary from :func:`run_eval`.

    Args:
        summary: The summary :func:`run_eval` returned (or ``results.json``'s ``summary``).
        out_dir: Where the report and charts go; created if missing.

    Returns:
        The path of ``report.md``.

    Raises:
        OSError: ``out_dir`` cannot be written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = _draw_charts(summary, out_dir)
    models = summary["models"]
    lines = [
        "# Specialists: prompted base model vs fine-tuned",
        "",
        f"Date: {summary['date']} · seed {summary['seed']} · up to {summary['limit']} held-out "
        f"items per specialist · {summary['elapsed_s']} s in all.",
        "",
        "## Models and data",
        "",
        "| what | file | sha256[:12] |",
        "|---|---|---|",
        f"| base model | {models['base']['file']} | {models['base']['sha256']} |",
    ]
    for name, adapter in models["adapters"].items():
        if adapter.get("missing"):
            lines.append(
                f"| {name} adapter | {adapter['file']} | missing: fine-tuned configs skipped |"
            )
        else:
            lines.append(f"| {name} adapter | {adapter['file']} | {adapter['sha256']} |")
    lines += ["", "| specialist | held-out size | evaluated |", "|---|---|---|"]
    for name, sizes in summary["heldout"].items():
        lines.append(f"| {name} | {sizes['size']} | {sizes['evaluated']} |")
    if summary.get("database"):
        lines += [
            "",
            f"SQL runs on the demo database `{summary['database']}`; Salesforce "
            "actions on the offline sandbox org (fixed day).",
        ]
    lines += [
        "",
        "Configurations: `base-prompted` is the base model with the few-shot prompt (SQL: "
        "schema with sample values); `fine-tuned` is the base model with the specialist's LoRA "
        "adapter and the zero-shot prompt it was trained on. `constrained` decodes SQL under "
        "the grammar of the live schema and JSON under its schema's grammar; `free` decodes "
        "plain text, then parses it. Latency is the model call alone (prompt processing "
        "included), after one unscored warm-up call per configuration.",
        "",
    ]
    for name, results in summary["results"].items():
        lines += [f"## {name}", "", *_specialist_table(name, results), ""]
        lines += [_METRIC_NOTES[name], ""]
        for chart in charts.get(name, []):
            lines += [f"![{name}: {chart.stem}]({chart.name})", ""]
    chains = summary.get("chains") or {}
    if chains.get("families"):
        lines += [
            f"## End to end: chains of {chains['steps']} sub-tasks",
            "",
            f"{chains['n']} chains, each step a held-out item drawn (seeded) from a specialist "
            "chosen at random, the same draws for both models. A chain succeeds when every one "
            "of its steps was answered correctly, judged by the per-item outcomes measured "
            "above (router: exact plan; sql: execution accuracy; salesforce: action "
            "exact-match); each model uses, per specialist, the decoding with the higher "
            f"accuracy. p is the mean per-step accuracy and p^{chains['steps']} the success "
            "rate independent steps would give.",
            "",
            *_chain_table(chains),
            "",
        ]
        for chart in charts.get("chains", []):
            lines += [f"![chains]({chart.name})", ""]
    if "error" in charts:
        lines += [f"Charts were not drawn: {charts['error'][0]}", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


_METRIC_NOTES = {
    "router": (
        "Syntactic: the reply parses as a `Plan`. Semantic: `plan_from_model` keeps a "
        "non-empty plan of known specialists. Routing accuracy: the list of (specialist, "
        "depends_on) equals the gold's; exact plan: and every instruction equals the gold's "
        "after folding case, whitespace and end punctuation (both plans as `plan_from_model` "
        "leaves them)."
    ),
    "sql": (
        "Syntactic: one SQLite query for sqlglot. Semantic: the project's validator accepts it "
        "and it runs. Execution accuracy: the prediction and the gold return the same rows on "
        "the demo database (multisets; order counts only when the gold has ORDER BY; column "
        "names ignored; numbers rounded to 2 decimals)."
    ),
    "salesforce": (
        "Syntactic: the reply parses as an `ActionRequest`. Semantic: `validate_action` "
        "accepts it against the org's metadata. Action exact-match: the validated actions have "
        "the same kind, object, record Id, `get` fields and SOQL (outside quoted literals "
        "compared case-insensitively with whitespace collapsed). Result match: a predicted "
        "read returns the same records as the gold on the sandbox (writes are never run)."
    ),
}


def _draw_charts(summary: Mapping[str, Any], out_dir: Path) -> dict[str, Any]:
    """Draw the charts; return their paths per section (``error`` when none could be)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return {"error": [f"matplotlib is not installed ({exc})"]}

    configs = list(summary["configs"])
    results = summary["results"]
    drawn: dict[str, Any] = {}

    def grouped(ax: Any, name: str, keys: Sequence[tuple[str, str]], scale: float) -> None:
        width = 0.8 / max(1, len(configs))
        positions = range(len(keys))
        for index, config in enumerate(configs):
            metrics = results[name].get(config, {"status": "skipped"})
            values = [
                float(metrics.get(key, 0.0)) * scale if metrics["status"] == "ok" else 0.0
                for key, _ in keys
            ]
            xs = [p - 0.4 + width * (index + 0.5) for p in positions]
            bars = ax.bar(xs, values, width, label=config)
            if metrics["status"] != "ok":
                for x in xs:
                    ax.text(x, 0, "skipped", rotation=90, ha="center", va="bottom", fontsize=7)
            else:
                ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(list(positions), [label for _, label in keys])

    for name in results:
        paths = []
        figure, ax = plt.subplots(figsize=(7, 4))
        accuracy_keys = [(key, label) for key, label in _metric_columns(name)[2:]]
        grouped(ax, name, accuracy_keys, 1.0)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("share of held-out items")
        ax.set_title(f"{name}: task accuracy by configuration")
        ax.legend(fontsize=8)
        paths.append(_save(figure, out_dir / f"{name}-accuracy.png"))

        figure, ax = plt.subplots(figsize=(7, 4))
        grouped(ax, name, _metric_columns(name)[:2], 1.0)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("share of held-out items")
        ax.set_title(f"{name}: validity by configuration")
        ax.legend(fontsize=8)
        paths.append(_save(figure, out_dir / f"{name}-validity.png"))

        figure, ax = plt.subplots(figsize=(7, 4))
        grouped(ax, name, [("latency_mean_s", "mean"), ("latency_p95_s", "p95")], 1.0)
        ax.set_ylabel("seconds per request")
        ax.set_title(f"{name}: latency by configuration")
        ax.legend(fontsize=8)
        paths.append(_save(figure, out_dir / f"{name}-latency.png"))
        drawn[name] = paths

    chains = summary.get("chains") or {}
    ran = {
        family: entry
        for family, entry in (chains.get("families") or {}).items()
        if entry["status"] == "ok"
    }
    if ran:
        figure, ax = plt.subplots(figsize=(6, 4))
        names = list(ran)
        bars = ax.bar(
            names,
            [ran[family]["success_rate"] for family in names],
            0.5,
            label="measured chain success",
        )
        ax.bar_label(bars, fmt="%.2f")
        ax.scatter(
            names,
            [ran[family]["per_step_accuracy_pow"] for family in names],
            color="black",
            zorder=3,
            label=f"p^{chains['steps']} (independent steps)",
        )
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share of chains")
        ax.set_title(f"{chains['n']} chains of {chains['steps']} sub-tasks")
        ax.legend(fontsize=8)
        drawn["chains"] = [_save(figure, out_dir / "chains.png")]
    return drawn


def _save(figure: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------

EVAL_HELP = "compare the prompted base model with the fine-tuned specialists on held-out sets"
EVAL_DESCRIPTION = f"""\
Ask each specialist its held-out requests (finetune/data/<specialist>/heldout.jsonl) under
up to four configurations and score the replies:

  base-prompted/free         base model, few-shot prompt, unconstrained decoding
  base-prompted/constrained  base model, few-shot prompt, grammar-constrained decoding
  fine-tuned/free            base model + ollama/adapters/<specialist>.gguf, zero-shot
  fine-tuned/constrained     the same, grammar-constrained

A specialist with no adapter file has its fine-tuned configurations skipped (the report
says so). Metrics: syntactic and semantic validity, task accuracy (router: plan; sql:
execution accuracy on the demo database; salesforce: action exact-match and result match
on the offline sandbox org), latency per request and tokens/s, and the success rate of
simulated chains of {CHAIN_STEPS} sub-tasks.

Writes DIR/report.md, DIR/results.json (every per-item outcome) and PNG charts. The base
model's few-shot prompts are long: on 2 CPU cores count a few seconds per request."""


def add_eval_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``eval`` on the CLI's sub-command parsers.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.
    """
    command = subparsers.add_parser(
        "eval",
        help=EVAL_HELP,
        description=EVAL_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument(
        "--specialist",
        metavar="NAME",
        action="append",
        default=None,
        help=f"a specialist to evaluate; repeat for several (default: "
        f"{', '.join(SPECIALISTS_WITH_DATA)})",
    )
    command.add_argument(
        "--limit",
        metavar="N",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"held-out items per specialist, a seeded sample (default {DEFAULT_LIMIT})",
    )
    command.add_argument(
        "--configs",
        metavar="CONFIG",
        nargs="+",
        default=None,
        help="configurations to run: any of " + ", ".join(CONFIGS) + ", or base-prompted / "
        "fine-tuned for both decodings of one model (default: all four)",
    )
    command.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"where report.md, results.json and the charts go (default {DEFAULT_OUT_DIR})",
    )
    command.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the held-out sample and the chain draws (default {DEFAULT_SEED})",
    )
    command.add_argument(
        "--record",
        action="store_true",
        help="copy the scores into ollama/adapters/manifest.json, next to the adapters measured",
    )
    command.add_argument(
        "--chains",
        metavar="N",
        type=int,
        default=DEFAULT_CHAINS,
        help=f"simulated {CHAIN_STEPS}-step chains per model (default {DEFAULT_CHAINS}; 0: none)",
    )
    command.add_argument(
        "--heldout-dir",
        metavar="DIR",
        type=Path,
        default=DATA_DIR,
        help="the dataset directory holding <specialist>/heldout.jsonl (default finetune/data)",
    )
    command.add_argument(
        "--adapters-dir",
        metavar="DIR",
        type=Path,
        default=ADAPTERS_DIR,
        help="where <specialist>.gguf LoRA adapters are found (default ollama/adapters)",
    )
    command.set_defaults(func=cmd_eval)


def _expand_configs(values: Sequence[str] | None) -> list[str]:
    if not values:
        return list(CONFIGS)
    chosen: list[str] = []
    for value in values:
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name in FAMILIES:
                chosen += [config for config in CONFIGS if _family(config) == name]
            elif name in CONFIGS:
                chosen.append(name)
            else:
                raise EvalSetupError(
                    f"unknown configuration {name!r}: expected {', '.join(CONFIGS)}, "
                    f"or {' / '.join(FAMILIES)}"
                )
    return list(dict.fromkeys(chosen))


def cmd_eval(args: argparse.Namespace) -> int:
    """Run ``slm-dispatch eval``: evaluate, write the report, print where it is.

    Args:
        args: Parsed arguments (``specialist``, ``limit``, ``configs``, ``out``, ``seed``,
            ``chains``, ``heldout_dir``, ``adapters_dir`` and the global ``data_dir``).

    Returns:
        The exit status: 0 when the report was written, 2 for a usage or set-up error.
    """
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return _error(f"--out {str(out)!r} is a file, not a directory")
    data_dir = getattr(args, "data_dir", None)
    try:
        configs = _expand_configs(args.configs)
        summary = run_eval(
            specialists=args.specialist or list(SPECIALISTS_WITH_DATA),
            limit=args.limit,
            configs=configs,
            out_dir=out,
            seed=args.seed,
            chains=args.chains,
            progress=True,
            data_dir=args.heldout_dir,
            database_path=Path(data_dir) / "demo.sqlite" if data_dir else None,
            adapters_dir=args.adapters_dir,
        )
    except EvalSetupError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"cannot write the results in {str(out)!r}: {exc}")
    for name, results in summary["results"].items():
        for config, metrics in results.items():
            if metrics["status"] == "ok":
                print(
                    f"{name:<10} {config:<26} {_ACCURACY_LABELS[name]} "
                    f"{_percent(metrics['accuracy'], metrics['n'])}, "
                    f"valid {_percent(metrics['semantic'])}, "
                    f"{metrics['latency_mean_s']:.2f} s/request"
                )
            else:
                print(f"{name:<10} {config:<26} skipped: {metrics['reason']}")
    for family, entry in (summary["chains"].get("families") or {}).items():
        if entry["status"] == "ok":
            print(
                f"chains     {family:<26} {entry['successes']}/{summary['chains']['n']} "
                f"chains of {CHAIN_STEPS} steps succeeded (p = {entry['per_step_accuracy']:.3f}, "
                f"p^{CHAIN_STEPS} = {entry['per_step_accuracy_pow']:.4f})"
            )
    print(f"report: {out / 'report.md'}")
    if args.record:
        from finetune.cli import ADAPTERS_DIR, record_eval

        adapters_dir = Path(args.adapters_dir) if args.adapters_dir else ADAPTERS_DIR
        recorded = record_eval(summary, out / "report.md", adapters_dir)
        print(f"scores recorded in the adapters' manifest for: {', '.join(recorded) or 'none'}")
    return 0


def _error(text: str) -> int:
    print(f"slm-dispatch: error: {text}", file=sys.stderr)
    return 2
