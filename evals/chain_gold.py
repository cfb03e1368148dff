"""The chains set: requests whose later sub-tasks take values from earlier results.

Usage::

    python -m evals.chain_gold              # resolve every item's gold, one line per item
    python -m evals.chain_gold --id c07     # only the items named (repeatable)

Each item of ``chains_handwritten.jsonl`` (see ``evals/data/README.md``) is a request, written
by hand, that a correct plan splits into 2 to 10 steps for the ``sql``, ``salesforce`` and
``summarize`` specialists, where a later step needs a value from an earlier step's result:
a name, an Id, a list of values, a count. The gold of a step is written with placeholders
that stand for those values, filled from the **gold results** of the earlier steps:

* ``{N.col}``: the value of column ``col`` in the single row of step N's result (step N must
  return exactly one row); in SQL and SOQL gold it becomes a quoted literal (``'Acme Corp'``,
  ``'O''Brien'`` in SQL, a backslash before the quote in SOQL; numbers unquoted), in
  ``mentions``, ``record_id`` and write ``values`` the raw value;
* ``{N.col[]}``: every value of that column, as a comma-separated list of quoted literals
  (for ``IN ({1.name[]})``);
* ``{N#}``: the number of rows of step N's result.

Column names match case-insensitively; for a Salesforce query they are the names the
client returns (``Id``, ``Name``, ``Account.Name``, ``COUNT()`` for a bare count, ``expr0``
for an unnamed aggregate). An item with ``stops_at`` is one whose chain a correct run must
stop at that step, because the value it needs cannot be filled (the earlier step returned no
rows, or several where one was needed): :func:`resolve` runs the steps before it and checks
that its placeholders indeed cannot be filled, for the reason the item gives.

Writes (create, update, delete) are never performed: their gold is filled and validated,
and they return no rows.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from evals.scoring import SALESFORCE_ROW_LIMIT, SQL_ROW_LIMIT, SQL_TIMEOUT_S
from specialists import TASK_SPECIALISTS
from tools.salesforce import ActionRequest, SalesforceClient, SalesforceError, is_write
from tools.sql import SqlDatabase, SqlToolError

__all__ = [
    "DATA",
    "DIRECTIONS",
    "FILE",
    "STOP_REASONS",
    "GoldError",
    "GoldStep",
    "Placeholder",
    "Results",
    "direction_of",
    "fill",
    "fill_action",
    "load",
    "placeholders",
    "resolve",
    "shape_problems",
]

DATA: Final = Path(__file__).resolve().parent / "data"
FILE: Final = DATA / "chains_handwritten.jsonl"

DIRECTIONS: Final = (
    "sql>sql",
    "sql>salesforce",
    "salesforce>sql",
    "salesforce>salesforce",
    "mixed",
)
"""How a chain moves between the systems (summaries aside)."""

STOP_REASONS: Final = ("no rows", "several rows")
"""Why a chain must stop: the step it needs returned no rows, or more than the one it needs."""

SPECIALISTS: Final = TASK_SPECIALISTS
MIN_STEPS: Final = 2
MAX_STEPS: Final = 10

Quote = Literal["sql", "soql", "raw"]
Results = Mapping[int, tuple[Sequence[str], Sequence[Sequence[Any]]]]
"""Step number (1-based) -> (columns, rows) of that step's gold result."""

_PLACEHOLDER: Final = re.compile(r"\{(\d+)(?:(#)|\.([^{}\[\]]+?)(\[\])?)\}")


class GoldError(ValueError):
    """A gold step cannot be filled or run; ``reason`` is ``no rows``/``several rows`` or None."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Placeholder:
    """One placeholder in a gold template."""

    text: str
    """As written, braces included: ``{2.Id}``, ``{1.name[]}``, ``{3#}``."""
    step: int
    """The 1-based step whose result it reads."""
    column: str | None
    """The column it reads; None for a row count."""
    kind: Literal["value", "list", "count"]
    """``value`` (the single row's value), ``list`` (every row's value), ``count`` (rows)."""


@dataclass(frozen=True)
class GoldStep:
    """One resolved gold step of an item."""

    number: int
    """Its 1-based position in the item."""
    specialist: str
    """``sql``, ``salesforce`` or ``summarize``."""
    gold: str | dict[str, Any] | None
    """The filled gold: SQL text, a Salesforce action (the inner action), None for a summary."""
    columns: list[str] = field(default_factory=list)
    """The result's columns (empty for writes and summaries)."""
    rows: list[list[Any]] = field(default_factory=list)
    """The result's rows (empty for writes and summaries)."""
    mentions: list[str] = field(default_factory=list)
    """The filled values that must appear verbatim in some field of the step's action."""
    write: bool = False
    """A create, update or delete: validated, never performed."""


def load(path: Path = FILE) -> list[dict[str, Any]]:
    """The items of the chains set."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------- placeholders


def placeholders(template: str) -> list[Placeholder]:
    """The placeholders in ``template``, in order of appearance."""
    found = []
    for match in _PLACEHOLDER.finditer(template):
        step, count, column, listed = match.groups()
        kind: Literal["value", "list", "count"] = (
            "count" if count else "list" if listed else "value"
        )
        found.append(Placeholder(match.group(0), int(step), column, kind))
    return found


def _number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _literal(value: Any, quote: Quote) -> str:
    """One value as written in a gold of kind ``quote``."""
    if isinstance(value, bool):
        if quote == "sql":
            return "1" if value else "0"
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if value is None:
        return {"sql": "NULL", "soql": "null", "raw": ""}[quote]
    text = str(value)
    if quote == "sql":
        return "'" + text.replace("'", "''") + "'"
    if quote == "soql":
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def _column(placeholder: Placeholder, columns: Sequence[str]) -> int:
    wanted = str(placeholder.column).lower()
    for index, name in enumerate(columns):
        if name.lower() == wanted:
            return index
    raise GoldError(
        f"{placeholder.text}: step {placeholder.step} has no column `{placeholder.column}` "
        f"(its columns: {', '.join(columns) or 'none'})"
    )


def _result(placeholder: Placeholder, results: Results) -> tuple[Sequence[str], Sequence[Any]]:
    if placeholder.step not in results:
        raise GoldError(
            f"{placeholder.text}: step {placeholder.step} has no result to read "
            "(it is not an earlier read step)"
        )
    return results[placeholder.step]


def _value(placeholder: Placeholder, results: Results) -> Any:
    """The value ``placeholder`` stands for (a count, a list or one value)."""
    columns, rows = _result(placeholder, results)
    if placeholder.kind == "count":
        return len(rows)
    if not rows and not columns:
        # An empty Salesforce result names no columns: nothing to check them against.
        raise GoldError(
            f"{placeholder.text}: step {placeholder.step} returned no rows", reason="no rows"
        )
    index = _column(placeholder, columns)
    if placeholder.kind == "list":
        if not rows:
            raise GoldError(
                f"{placeholder.text}: step {placeholder.step} returned no rows to list",
                reason="no rows",
            )
        return [row[index] for row in rows]
    if len(rows) != 1:
        reason = "no rows" if not rows else "several rows"
        raise GoldError(
            f"{placeholder.text}: step {placeholder.step} returned {len(rows)} rows, "
            "not the one row it needs",
            reason=reason,
        )
    return rows[0][index]


def fill(template: str, results: Results, *, quote: Quote) -> str:
    """Substitute the placeholders of a gold string.

    Args:
        template: SQL, SOQL or a mention with ``{N.col}``, ``{N.col[]}`` and ``{N#}``.
        results: The earlier steps' results: step number -> (columns, rows).
        quote: ``sql`` (SQLite literals, ``''`` escaping), ``soql`` (backslash escaping)
            or ``raw`` (the bare value, lists joined with ``, ``).

    Returns:
        The text with every placeholder replaced.

    Raises:
        GoldError: A ``{N.col}`` step has no result or not exactly one row, a list step has
            no rows, or the column is missing.
    """

    def replace(match: re.Match[str]) -> str:
        (placeholder,) = placeholders(match.group(0))
        value = _value(placeholder, results)
        if placeholder.kind == "list":
            return ", ".join(_literal(item, quote) for item in value)
        return _literal(value, quote)

    return _PLACEHOLDER.sub(replace, template)


def _fill_value(value: Any, results: Results) -> Any:
    """A write's field value: the typed value when a lone placeholder is the whole value."""
    if not isinstance(value, str):
        return value
    found = placeholders(value)
    if len(found) == 1 and found[0].text == value and found[0].kind != "list":
        return _value(found[0], results)
    return fill(value, results, quote="raw")


def fill_action(gold: Mapping[str, Any], results: Results) -> dict[str, Any]:
    """Substitute the placeholders of a Salesforce gold action.

    ``soql`` is filled with SOQL quoting; ``record_id`` and ``values`` with the raw values,
    and a value that is one placeholder alone takes the value's own type (a number stays a
    number).

    Args:
        gold: The inner action (``{"action": "update", "record_id": "{1.Id}", ...}``).
        results: The earlier steps' results: step number -> (columns, rows).

    Returns:
        A filled copy of ``gold``.

    Raises:
        GoldError: See :func:`fill`.
    """
    filled = copy.deepcopy(dict(gold))
    if isinstance(filled.get("soql"), str):
        filled["soql"] = fill(filled["soql"], results, quote="soql")
    if isinstance(filled.get("record_id"), str):
        filled["record_id"] = fill(filled["record_id"], results, quote="raw")
    if isinstance(filled.get("values"), dict):
        filled["values"] = {
            name: _fill_value(value, results) for name, value in filled["values"].items()
        }
    return filled


def _templates(step: Mapping[str, Any]) -> Iterator[str]:
    """Every string of a step's gold and mentions that may hold placeholders."""
    gold = step.get("gold")
    if isinstance(gold, str):
        yield gold
    elif isinstance(gold, Mapping):
        for key in ("soql", "record_id"):
            if isinstance(gold.get(key), str):
                yield gold[key]
        for value in (gold.get("values") or {}).values():
            if isinstance(value, str):
                yield value
    for mention in step.get("mentions") or []:
        yield str(mention)


def _is_write_step(step: Mapping[str, Any]) -> bool:
    gold = step.get("gold")
    return (
        step.get("specialist") == "salesforce"
        and isinstance(gold, Mapping)
        and is_write(str(gold.get("action")))
    )


# ------------------------------------------------------------------------------- shape


def direction_of(steps: Sequence[Mapping[str, Any]]) -> str:
    """The direction of a chain from its steps' specialists (summaries left out).

    ``sql>sql`` / ``salesforce>salesforce`` when one system serves every step,
    ``sql>salesforce`` when every SQL step comes before every Salesforce step (and the
    reverse for ``salesforce>sql``), ``mixed`` when the chain goes both ways.
    """
    systems = [s["specialist"] for s in steps if s.get("specialist") in ("sql", "salesforce")]
    runs = [name for i, name in enumerate(systems) if i == 0 or systems[i - 1] != name]
    if len(runs) == 1:
        return f"{runs[0]}>{runs[0]}"
    if len(runs) == 2:
        return f"{runs[0]}>{runs[1]}"
    return "mixed"


def shape_problems(item: Mapping[str, Any]) -> list[str]:
    """What is wrong with one item's shape (empty when nothing is).

    Checked: the fields, 2 to 10 steps of known specialists, every placeholder names an
    earlier step that reads (SQL or a Salesforce query/get; not a summary or a write), every
    step after the first but a summary takes a value from an earlier one, ``stops_at`` (null,
    or a step from 2 on that is not a summary, with a ``stop_reason``), ``direction`` and
    ``writes`` agreeing with the steps. Whether the values really fill is :func:`resolve`'s
    business.
    """
    problems: list[str] = []
    for name in ("id", "request", "style", "direction", "writes", "steps"):
        if name not in item:
            problems.append(f"no `{name}`")
    steps = item.get("steps") or []
    if not MIN_STEPS <= len(steps) <= MAX_STEPS:
        problems.append(f"{len(steps)} steps, not {MIN_STEPS} to {MAX_STEPS}")
    readable: set[int] = set()
    for number, step in enumerate(steps, start=1):
        specialist = step.get("specialist")
        if specialist not in SPECIALISTS:
            problems.append(f"step {number}: unknown specialist {specialist!r}")
            continue
        if specialist == "summarize":
            if step.get("gold") is not None:
                problems.append(f"step {number}: a summary's gold must be null")
            if number == 1:
                problems.append("step 1: a summary needs a step before it")
            continue
        if specialist == "sql" and not isinstance(step.get("gold"), str):
            problems.append(f"step {number}: SQL gold is one SELECT string")
        if specialist == "salesforce":
            gold = step.get("gold")
            if not isinstance(gold, Mapping):
                problems.append(f"step {number}: Salesforce gold is an action object")
            else:
                try:  # placeholders are strings, so the unfilled action validates too
                    ActionRequest.model_validate({"action": gold})
                except ValueError as exc:
                    problems.append(f"step {number}: not an action: {exc}")
        used = [p for t in _templates(step) for p in placeholders(t)]
        for placeholder in used:
            if placeholder.step not in readable:
                problems.append(
                    f"step {number}: {placeholder.text} does not name an earlier read step"
                )
        if number > 1 and not used:
            problems.append(f"step {number}: takes no value from an earlier step")
        if not _is_write_step(step):
            readable.add(number)
    stop = item.get("stops_at")
    if stop is not None:
        if not isinstance(stop, int) or not 2 <= stop <= len(steps):
            problems.append(f"stops_at {stop!r} is not a step from 2 to {len(steps)}")
        elif item.get("stop_reason") not in STOP_REASONS:
            problems.append(f"stop_reason {item.get('stop_reason')!r} not in {STOP_REASONS}")
        elif steps[stop - 1].get("specialist") == "summarize":
            problems.append(f"stops_at {stop} is a summary")
    elif "stop_reason" in item:
        problems.append("stop_reason without stops_at")
    if item.get("direction") not in DIRECTIONS:
        problems.append(f"direction {item.get('direction')!r} not in {DIRECTIONS}")
    elif steps and item.get("direction") != direction_of(steps):
        problems.append(f"direction {item.get('direction')} but the steps go {direction_of(steps)}")
    if bool(item.get("writes")) != any(_is_write_step(s) for s in steps):
        problems.append(f"writes is {item.get('writes')} but the steps say otherwise")
    return problems


# ----------------------------------------------------------------------------- resolve


def _run_sql(database: SqlDatabase, sql: str) -> tuple[list[str], list[list[Any]]]:
    result = database.run(
        sql, read_dialect="sqlite", row_limit=SQL_ROW_LIMIT, timeout_s=SQL_TIMEOUT_S
    )
    if result.truncated:
        raise GoldError(f"the query returned more than {SQL_ROW_LIMIT} rows: {sql}")
    return list(result.columns), [list(row) for row in result.rows]


def _run_action(
    client: SalesforceClient, action: dict[str, Any]
) -> tuple[bool, list[str], list[list[Any]]]:
    typed = ActionRequest.model_validate({"action": action}).action
    if is_write(typed):
        client.validate_action(typed)
        return True, [], []
    result = client.run(typed, row_limit=SALESFORCE_ROW_LIMIT)
    if result.truncated:
        raise GoldError(f"the action returned more than {SALESFORCE_ROW_LIMIT} rows: {action}")
    return False, list(result.columns), [list(row) for row in result.rows]


def _check_stop(item: Mapping[str, Any], results: Results) -> None:
    """Raise unless the item's ``stops_at`` step really cannot be filled, for its reason."""
    stop = int(item["stops_at"])
    step = item["steps"][stop - 1]
    try:
        for template in _templates(step):
            fill(template, results, quote="raw")
    except GoldError as exc:
        if exc.reason != item.get("stop_reason"):
            raise GoldError(
                f"step {stop} cannot be filled, but for another reason than "
                f"{item.get('stop_reason')!r}: {exc}"
            ) from exc
        return
    raise GoldError(f"the item stops at step {stop}, but every value it needs is there")


def resolve(
    item: Mapping[str, Any], database: SqlDatabase, client: SalesforceClient
) -> list[GoldStep]:
    """Run an item's gold steps in order, each filled from the results before it.

    Steps from ``stops_at`` on are not run; instead the ``stops_at`` step is checked to need
    a value that the earlier results cannot give, for the item's ``stop_reason``.

    Args:
        item: One item of the set.
        database: The demo database.
        client: A client of the sandbox org (writes are validated, never performed).

    Returns:
        One :class:`GoldStep` per step run.

    Raises:
        GoldError: A placeholder cannot be filled, a gold fails to run, or the stop is wrong.
    """
    stop = item.get("stops_at")
    results: dict[int, tuple[list[str], list[list[Any]]]] = {}
    resolved: list[GoldStep] = []
    for number, step in enumerate(item["steps"], start=1):
        if stop is not None and number >= stop:
            break
        specialist = step["specialist"]
        mentions = [fill(str(m), results, quote="raw") for m in step.get("mentions") or []]
        if specialist == "summarize":
            resolved.append(GoldStep(number, specialist, None, mentions=mentions))
            continue
        try:
            if specialist == "sql":
                sql = fill(step["gold"], results, quote="sql")
                columns, rows = _run_sql(database, sql)
                resolved.append(GoldStep(number, specialist, sql, columns, rows, mentions))
                results[number] = (columns, rows)
                continue
            action = fill_action(step["gold"], results)
            write, columns, rows = _run_action(client, action)
        except GoldError as exc:
            raise GoldError(f"step {number}: {exc}", reason=exc.reason) from exc
        except (SqlToolError, SalesforceError, ValueError) as exc:
            raise GoldError(f"step {number} ({specialist}) fails: {exc}") from exc
        resolved.append(GoldStep(number, specialist, action, columns, rows, mentions, write))
        if not write:
            results[number] = (columns, rows)
    if stop is not None:
        _check_stop(item, results)
    return resolved


# -------------------------------------------------------------------------------- main


def _bucket(steps: int) -> str:
    if steps == MIN_STEPS:
        return "2"
    if steps <= 4:
        return "3-4"
    if steps <= 7:
        return "5-7"
    return "8-10"


def _describe(step: GoldStep) -> str:
    if step.specialist == "summarize":
        return "sum"
    if step.write:
        return "write"
    return str(len(step.rows))


def main(argv: list[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    """Resolve every item against the demo database and a fresh sandbox org; 1 on any error."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.chain_gold",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--id", action="append", help="an item to resolve (repeatable)")
    args = parser.parse_args(argv)
    from graph.context import Context
    from tools.salesforce_sandbox import sandbox_client, start_sandbox

    database_url = Context().database_url
    if not database_url.startswith("postgres") and not Path(database_url).exists():
        print(f"demo database {database_url} missing: run `slm-dispatch setup`", file=sys.stderr)
        return 2
    items = [i for i in load() if not args.id or i["id"] in args.id]
    failed: list[str] = []
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("steps", "direction", "style")}
    with ExitStack() as stack:
        database = stack.enter_context(SqlDatabase.open(database_url))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        client = sandbox_client(stack.enter_context(start_sandbox(tmp)))
        for item in items:
            problems = shape_problems(item)
            try:
                if problems:
                    raise GoldError("; ".join(problems))
                resolved = resolve(item, database, client)
            except GoldError as exc:
                failed.append(item["id"])
                out(f"{item['id']}  FAILED  {exc}")
                continue
            counts["steps"][_bucket(len(item["steps"]))] += 1
            counts["direction"][item["direction"]] += 1
            counts["style"][item["style"]] += 1
            rows = " ".join(_describe(step) for step in resolved)
            stop = item.get("stops_at")
            tail = f"  stops at {stop} ({item['stop_reason']})" if stop else ""
            out(f"{item['id']}  {len(item['steps'])} steps  rows {rows}{tail}")
    writes = sum(bool(i["writes"]) for i in items)
    stops = sum(i.get("stops_at") is not None for i in items)
    out(f"{len(items)} items, {len(items) - len(failed)} resolved, {len(failed)} failed")
    for name, counter in counts.items():
        out(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))
    out(f"  writes: {writes}, stops: {stops}")
    if failed:
        out("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
