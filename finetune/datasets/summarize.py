"""The summariser's examples: real query results of the demo database, and a sentence on each.

Every question of the sql dataset is run, with its gold query, on the demo database
(:meth:`tools.sql.SqlDatabase.run`, at most :data:`SUMMARY_ROW_LIMIT` rows), in up to three
forms:

* as it is (one value, labels with numbers, a list ...);
* cut at a few rows (``row_limit`` smaller than its rows: a truncated result), when it has
  more than three rows and no LIMIT of its own;
* with one of its values, written both in the question and in the query, replaced by one
  that matches nothing (no rows, or a count of 0); a form that still finds something, or
  finds a NULL aggregate, is dropped.

The result becomes what the summarisation node sends for it: the user turn
:func:`specialists.summarize.summary_request` of an instruction (:data:`INSTRUCTIONS`) and
:func:`specialists.summarize.dependency_content` of the result, whose instruction is the
SQL question and whose query is the SQL that ran. The target is
:func:`specialists.summarize.describe_result`, written by code from the rows, in the style
drawn (seeded) for its instruction: as it is, led by "In short,", or led by the row count.
Every target is checked with :func:`specialists.facts.unsupported` against the rows, the
question and the query (the source the node checks a summary against); a target it
questions, or a chat longer than about :data:`MAX_CHAT_TOKENS` tokens, is dropped.

The family of an example is the kind of result (``single_value``, ``grouped``, ``list``,
``one_row``, ``rows``, ``truncated``, ``no_match``), its template the instruction's name,
its entity the sql example's. Training examples come from the sql training questions and
use the trained instructions; held-out ones come from the sql held-out questions, so no
question is shared, and use a held-out instruction unless their entity is held out.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finetune.datasets.common import (
    _SQL_TIMEOUT_S,
    GOLD_ROWS,
    _Candidate,
    _Check,
    _Checked,
    _HeldOut,
    _select,
    _SplitResult,
)
from specialists.facts import Source, unsupported
from specialists.summarize import (
    SUMMARIZE,
    dependency_content,
    describe_result,
    summary_request,
)

SPECIALIST = "summarize"

SUMMARY_TRAIN_SIZE = 800
"""Training examples aimed at (at scale 1.0, before drops)."""

SUMMARY_HELDOUT_SIZE = 100
"""Held-out examples aimed at (at scale 1.0, before drops)."""

SUMMARY_ROW_LIMIT = GOLD_ROWS
"""Most rows of a result (the content's table shows them all)."""

MAX_CHAT_TOKENS = 400
"""Longest chat kept (system text, request and target), counted at four characters a token."""

CHARS_PER_TOKEN = 4

INSTRUCTIONS: tuple[tuple[str, str], ...] = (
    # What the router writes (finetune.datasets.router): always trained.
    ("summarise_result", "Summarise the result."),
    ("short_summary_of_it", "Give me a short summary of it."),
    ("two_sentences", "Summarize the answer in two sentences."),
    ("brief_summary", "Write a brief summary of the results."),
    ("summarise_for_me", "Summarise that for me."),
    ("one_paragraph", "Give me a one-paragraph summary of the answer."),
    ("results_briefly", "Summarize the results briefly."),
    ("plain_words", "Sum up the result in plain words."),
    # Other ways of asking.
    ("summarize_result", "Summarize the result."),
    ("sum_that_up", "sum that up"),
    ("tldr", "tl;dr"),
    ("one_sentence_please", "in one sentence please"),
    ("what_does_this_show", "what does this show?"),
    ("gist", "give me the gist"),
    ("what_came_back", "What came back?"),
    ("recap", "Recap the result."),
    ("findings", "Summarise the findings."),
    ("sumarize_results", "sumarize the results"),
    ("summerise_this", "summerise this"),
    ("sumamrise_pls", "sumamrise pls"),
    ("bare_summarise", "summarise"),
    ("shouted", "SUMMARISE THE RESULT"),
    ("key_points", "What are the key points?"),
    ("describe_returned", "Describe what the query returned."),
    ("what_does_it_say", "so what does it say?"),
    ("boil_it_down", "Boil it down for me."),
    ("quick_summary", "quick summary?"),
    ("into_words", "Put the result into words."),
    ("takeaway", "What's the main takeaway?"),
    ("result_says", "What does the result say?"),
    ("short_version", "short version please"),
    ("nutshell", "In a nutshell?"),
    ("overview", "Give me an overview of the result."),
    ("headline", "What's the headline?"),
    ("what_it_found", "tell me what it found"),
    ("condense", "Condense the result into one sentence."),
    ("summary_of_rows", "summary of those rows"),
    ("explain_briefly", "Explain briefly what we got."),
)
"""``(template name, instruction)``: the instructions a summary is asked with."""

_ALWAYS_TRAINED = 8
"""The first instructions, the router's own, are never held out."""

HELDOUT_INSTRUCTIONS = 6
"""Instructions seen only in held-out examples."""

STYLES: tuple[str, ...] = ("plain", "in_short", "row_count")
"""How a target is written: as :func:`describe_result` writes it, led by "In short,", or led
by the row count (labels with numbers, and cut results, of more than one row; other results
are written plain)."""

_STYLE_WEIGHTS = (5, 2, 2)

FAMILY_WEIGHTS: Mapping[str, float] = {
    "single_value": 3,
    "grouped": 3,
    "list": 2,
    "truncated": 2,
    "no_match": 1.5,
    "one_row": 1,
    "rows": 1,
}
"""Share of each kind of result in a split (of the kinds present)."""

_CUT_AT = (3, 4, 5, 6, 8)
_NO_MATCH_NAMES = ("Atlantis", "Narnia", "Wakanda", "Genovia", "Elbonia", "Freedonia")
_NO_MATCH_YEARS = ("1987", "1994", "1999")
_LITERAL = re.compile(r"'([^']*)'")
_HAS_LIMIT = re.compile(r"\bLIMIT\s+\d+\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class _Question:
    """One sql example: its question, gold query and entity."""

    request: str
    sql: str
    entity: tuple[str, ...]


@dataclass(frozen=True)
class _Result:
    """A query as it ran, and its rows."""

    question: str
    sql: str
    row_limit: int
    query: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def result_kind(columns: Sequence[str], rows: Sequence[Sequence[Any]], truncated: bool) -> str:
    """The family of a result: which of :func:`describe_result`'s sentences it gets."""
    if truncated:
        return "truncated"
    if not rows:
        return "no_match"
    if len(columns) == 1 and len(rows) == 1:
        return "single_value"
    if (
        len(columns) == 2
        and all(_number(row[1]) for row in rows)
        and not any(_number(row[0]) for row in rows)
    ):
        return "grouped"
    if len(columns) == 1:
        return "list"
    return "one_row" if len(rows) == 1 else "rows"


def result_mapping(result: _Result) -> dict[str, Any]:
    """The earlier sub-task's result as the summarisation node receives it."""
    return {
        "instruction": result.question,
        "query": result.query,
        "columns": result.columns,
        "rows": result.rows,
        "output": "",
        "truncated": result.truncated,
    }


def summary_source_context(question: str, query: str) -> str:
    """The words besides the rows a summary may draw on: the question and the query."""
    return f"{question} {query}"


def _styled(style: str, sentence: str, kind: str, rows: int) -> str:
    """``sentence`` (as :func:`describe_result` wrote it) in ``style`` (see :data:`STYLES`)."""
    if style == "in_short":
        first, _, rest = sentence.partition(" ")
        if first in ("The", "One", "There"):
            first = first.lower()
        return f"In short, {first} {rest}".rstrip()
    if style == "row_count" and rows > 1 and kind in ("grouped", "truncated"):
        return f"The query returned {rows} rows: {sentence}"
    return sentence


def _no_match(question: str, sql: str, rng: random.Random) -> tuple[str, str] | None:
    """The question and query with one value replaced by one that matches nothing."""
    values = []
    for literal in dict.fromkeys(_LITERAL.findall(sql)):
        core = literal.strip("%")
        if (
            core
            and len(core) >= 3
            and question.count(core) == 1
            and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", core)
        ):
            values.append(core)
    if not values:
        return None
    core = rng.choice(values)
    pool = _NO_MATCH_YEARS if re.fullmatch(r"\d{4}", core) else _NO_MATCH_NAMES
    choices = [value for value in pool if value not in question and value not in sql]
    if not choices:
        return None
    other = rng.choice(choices)

    def swap(match: re.Match[str]) -> str:
        literal = match.group(1)
        if literal.strip("%") != core:
            return match.group(0)
        return "'" + literal.replace(core, other) + "'"

    new_sql = _LITERAL.sub(swap, sql)
    return question.replace(core, other), new_sql


def _instruction_styles(rng: random.Random) -> dict[str, str]:
    return {name: rng.choices(STYLES, weights=_STYLE_WEIGHTS)[0] for name, _ in INSTRUCTIONS}


def _heldout_instructions(rng: random.Random) -> set[str]:
    names = [name for name, _ in INSTRUCTIONS[_ALWAYS_TRAINED:]]
    return set(rng.sample(names, HELDOUT_INSTRUCTIONS))


class _Runner:
    """Runs queries on the demo database and builds the summariser's candidates."""

    def __init__(self, database: Any, system: str) -> None:
        self._database = database
        self._system = system
        self.extra: dict[_Candidate, dict[str, Any]] = {}
        self.results: dict[_Candidate, _Result] = {}

    def run(self, question: str, sql: str, row_limit: int) -> _Result | None:
        from tools.sql import SqlToolError

        try:
            result = self._database.run(
                sql, read_dialect="sqlite", row_limit=row_limit, timeout_s=_SQL_TIMEOUT_S
            )
        except SqlToolError:
            return None
        return _Result(
            question, sql, row_limit, result.sql, result.columns, result.rows, result.truncated
        )

    def candidate(
        self, result: _Result, entity: tuple[str, ...], template: str, style: str
    ) -> _Candidate:
        instruction = dict(INSTRUCTIONS)[template]
        kind = result_kind(result.columns, result.rows, result.truncated)
        request = summary_request(instruction, dependency_content(result_mapping(result)))
        sentence = describe_result(
            result.columns, result.rows, result.truncated, request=result.question
        )
        target = _styled(style, sentence, kind, len(result.rows))
        candidate = _Candidate(kind, template, entity, request, target)
        self.extra[candidate] = {
            "instruction": instruction,
            "question": result.question,
            "sql": result.sql,
            "row_limit": result.row_limit,
            "query": result.query,
            "gold_columns": list(result.columns),
            "gold_rows": result.rows,
            "truncated": result.truncated,
        }
        self.results[candidate] = result
        return candidate

    def check(self, candidate: _Candidate) -> tuple[_Checked | None, str | None]:
        result = self.results[candidate]
        source = Source.of_rows(
            result.columns,
            result.rows,
            context=summary_source_context(result.question, result.query),
        )
        problems = unsupported(candidate.target, source)
        if problems:
            return None, f"target not supported by the rows ({problems[0].split()[0]})"
        chars = len(self._system) + len(candidate.request) + len(candidate.target)
        if chars > MAX_CHAT_TOKENS * CHARS_PER_TOKEN:
            return None, f"chat over {MAX_CHAT_TOKENS} tokens"
        return _Checked(dict(self.extra[candidate])), None


def _pools(
    runner: _Runner,
    questions: Iterable[_Question],
    rng: random.Random,
    pick: Callable[[_Question], Sequence[str]],
    styles: Mapping[str, str],
    dropped: Counter[str],
) -> dict[str, list[_Candidate]]:
    """Every form of every question, each with an instruction drawn from ``pick(question)``."""
    pools: dict[str, list[_Candidate]] = {}
    seen: set[str] = set()

    def add(result: _Result, question: _Question) -> None:
        template = rng.choice(list(pick(question)))
        candidate = runner.candidate(result, question.entity, template, styles[template])
        if candidate.request in seen:
            return
        seen.add(candidate.request)
        pools.setdefault(candidate.family, []).append(candidate)

    for question in questions:
        whole = runner.run(question.request, question.sql, SUMMARY_ROW_LIMIT)
        if whole is None:
            dropped["query failed"] += 1
            continue
        if len(whole.rows) == 1 and all(value is None for value in whole.rows[0]):
            dropped["aggregate over no rows (NULL)"] += 1
        elif whole.rows:
            add(whole, question)
        cuts = [cut for cut in _CUT_AT if cut < len(whole.rows)]
        if cuts and not _HAS_LIMIT.search(question.sql):
            cut = runner.run(question.request, question.sql, rng.choice(cuts))
            if cut is not None and cut.truncated:
                add(cut, question)
        changed = _no_match(question.request, question.sql, rng)
        if changed is None:
            continue
        nothing = runner.run(changed[0], changed[1], SUMMARY_ROW_LIMIT)
        if nothing is None:
            dropped["no-match form failed"] += 1
        elif not nothing.rows or nothing.rows == [[0]]:
            add(nothing, question)
        elif all(value is None for value in nothing.rows[0]) and len(nothing.rows) == 1:
            dropped["no-match form: aggregate over no rows (NULL)"] += 1
        else:
            dropped["no-match form still found rows"] += 1
    return pools


def _weighted_select(
    pools: Mapping[str, list[_Candidate]], total: int, rng: random.Random, check: _Check
) -> _SplitResult:
    """About ``total`` checked examples, shared over the families by :data:`FAMILY_WEIGHTS`."""
    present = sorted(name for name, rows in pools.items() if rows)
    weight = sum(FAMILY_WEIGHTS.get(name, 1) for name in present)
    result = _SplitResult()
    for name in present:
        quota = max(1, round(total * FAMILY_WEIGHTS.get(name, 1) / weight))
        chosen = _select({name: pools[name]}, quota, rng, check)
        result.examples += chosen.examples
        result.dropped.update(chosen.dropped)
    return result


def _questions(result: _SplitResult) -> list[_Question]:
    return [
        _Question(candidate.request, candidate.target, candidate.entity)
        for candidate, _ in result.examples
    ]


def summarize_results(
    database: Any,
    sql_results: Mapping[str, _SplitResult],
    heldout: _HeldOut,
    seed: int,
    *,
    scale: float = 1.0,
    system: str | None = None,
) -> dict[str, _SplitResult]:
    """The summariser's two splits, from the sql dataset's questions of the same split.

    Args:
        database: The demo database (:class:`tools.sql.SqlDatabase`).
        sql_results: The sql dataset's splits (``train``, ``heldout``).
        heldout: Receives the held-out instructions (template ids) of every family.
        seed: The dataset seed; the summariser draws from streams of its own.
        scale: Multiplies the example counts.
        system: The summariser's SYSTEM text (default: its Modelfile's).

    Returns:
        The checked examples and the drops of each split.
    """
    runner = _Runner(database, SUMMARIZE.system() if system is None else system)
    styles = _instruction_styles(random.Random(f"{seed}/{SPECIALIST}/styles"))
    held_names = _heldout_instructions(random.Random(f"{seed}/{SPECIALIST}/heldout"))
    trained = [name for name, _ in INSTRUCTIONS if name not in held_names]
    held_sorted = sorted(held_names)
    everything = [name for name, _ in INSTRUCTIONS]

    def pick_held(question: _Question) -> Sequence[str]:
        if any(heldout.entity_held(part) for part in question.entity):
            return everything
        return held_sorted

    sizes = {
        "train": max(1, round(SUMMARY_TRAIN_SIZE * scale)),
        "heldout": max(1, round(SUMMARY_HELDOUT_SIZE * scale)),
    }
    picks: dict[str, Callable[[_Question], Sequence[str]]] = {
        "train": lambda _question: trained,
        "heldout": pick_held,
    }
    results: dict[str, _SplitResult] = {}
    trained_families: set[str] = set()
    trained_questions: set[str] = set()
    for split in ("train", "heldout"):
        rng = random.Random(f"{seed}/{SPECIALIST}/{split}")
        dropped: Counter[str] = Counter()
        pools = _pools(runner, _questions(sql_results[split]), rng, picks[split], styles, dropped)
        if split == "heldout":
            for family in sorted(set(pools) - trained_families):
                dropped["kind of result not in training"] += len(pools.pop(family))
            for family, rows in pools.items():
                kept = [c for c in rows if runner.extra[c]["question"] not in trained_questions]
                dropped["question also in training"] += len(rows) - len(kept)
                pools[family] = kept
        chosen = _weighted_select(pools, sizes[split], rng, runner.check)
        chosen.dropped.update(+dropped)
        results[split] = chosen
        if split == "train":
            trained_families = {candidate.family for candidate, _ in chosen.examples}
            trained_questions = {checked.extra["question"] for _, checked in chosen.examples}
    for family in sorted(trained_families):
        heldout.templates[(SPECIALIST, family)] = set(held_names)
    return results
