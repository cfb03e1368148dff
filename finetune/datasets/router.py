"""Router families: plan shapes over the sql and salesforce requests, and the plan checker."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finetune.datasets.common import (
    _MAX_INSTRUCTION,
    _Candidate,
    _Check,
    _Checked,
    _HeldOut,
    _SplitResult,
)
from finetune.datasets.salesforce_domain import _SfDomain
from finetune.datasets.sql_domain import _SqlDomain

# ------------------------------------------------------------------------------------------
# Router: plans over the sql and salesforce requests
# ------------------------------------------------------------------------------------------

_ROUTER_SHAPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sql", ("sql",)),
    ("salesforce", ("salesforce",)),
    ("summarize_text", ("text",)),
    ("sql_summarize", ("sql", "ref")),
    ("salesforce_summarize", ("salesforce", "ref")),
    ("sql_salesforce", ("sql", "salesforce")),
    ("salesforce_sql", ("salesforce", "sql")),
    ("sql_sql", ("sql", "sql")),
    ("salesforce_salesforce", ("salesforce", "salesforce")),
    ("text_sql", ("text", "sql")),
    ("text_salesforce", ("text", "salesforce")),
    ("sql_salesforce_summarize", ("sql", "salesforce", "ref")),
    ("salesforce_sql_summarize", ("salesforce", "sql", "ref")),
    ("sql_summarize_salesforce", ("sql", "ref", "salesforce")),
    ("salesforce_summarize_sql", ("salesforce", "ref", "sql")),
    ("sql_summarize_salesforce_summarize", ("sql", "ref", "salesforce", "ref")),
    ("salesforce_summarize_sql_summarize", ("salesforce", "ref", "sql", "ref")),
)
"""Plan shapes: each is a family; ``text`` is a summarise clause with its text inline, ``ref``
one that summarises the sub-task before it."""

_SINGLE_STYLES = ("bare", "marker", "quick_question", "please_answer")
_SINGLE_PREFIXES = {"quick_question": "Quick question: ", "please_answer": "Please answer this: "}
_MULTI_STYLES = ("sentences", "then", "comma_then", "and", "and_then", "also", "first_then",
                 "newline")  # fmt: skip
_INLINE_STYLES = (
    "Summarise: {text}",
    "Summarize this: {text}",
    "Give me a short summary of the following text: {text}",
    "Please summarise the following note: {text}",
    "Summarise this in one sentence: {text}",
    "Can you summarize this for me? {text}",
)
_INLINE_QUOTED = (
    'Summarise this note: "{text}"',
    'Summarize the following text: "{text}"',
    'Give me a short summary of this message: "{text}"',
)
_SUMMARY_CLAUSES = (
    "Summarise the result.",
    "Give me a short summary of it.",
    "Summarize the answer in two sentences.",
    "Write a brief summary of the results.",
    "Summarise that for me.",
    "Give me a one-paragraph summary of the answer.",
    "Summarize the results briefly.",
    "Sum up the result in plain words.",
)
_MARKERS = {
    "sql": (" in the database", " in our sales database"),
    "salesforce": (" in Salesforce", " in the CRM"),
}
_TEXTS = (
    "Meeting notes: {rep} met {customer} on Tuesday. They want to expand their {product} "
    "rollout next quarter and asked for a revised quote by Friday.",
    "Email from {customer}: our last order arrived two weeks late and one {product} was "
    "damaged. Please send a replacement and a credit note.",
    "Feedback from {customer}: onboarding went smoothly and the {product} works well, but "
    "invoices are hard to read and often arrive late.",
    "Internal note: {rep} reports that {customer} is comparing our {product} with a cheaper "
    "competitor and may delay its order until January.",
    "Support update for {account}: the integration error is fixed, monitoring continues for "
    "two days, and the case can be closed on Monday if nothing new appears.",
    "Quarterly review: {account} added two new opportunities, but its renewal is at risk "
    "because the budget owner left. Next step is a meeting with the new CFO.",
    "Visit report: {account} plans to open a new office next year and needs hardware, training "
    "and a support contract. Budget approval is expected in March.",
    "Complaint from {account}: three support cases were opened this month about slow "
    "performance and nobody has called back yet.",
)


@dataclass(frozen=True)
class _Clause:
    """One sub-request of a router example."""

    specialist: str
    instruction: str
    entity: tuple[str, ...]


def _lower_first(text: str) -> str:
    word = text.split(" ", 1)[0]
    if word in ("I", "I'd", "I'm") or (len(word) > 1 and word[1].isupper()):
        return text
    return text[:1].lower() + text[1:]


def _strip_end(text: str) -> str:
    return text.rstrip(".?!")


def _with_marker(text: str, marker: str) -> str:
    """Name the system in a clause (``... in Salesforce?``); the instruction stays without."""
    if text and text[-1] in ".?!":
        return text[:-1] + marker + text[-1]
    return text + marker


def _join_clauses(shown: Sequence[str], style: str) -> str:
    """Write the clauses of a multi-part request in one joining ``style``."""
    first, rest = shown[0], list(shown[1:])
    if style == "sentences":
        return " ".join(shown)
    if style == "newline":
        return "\n".join(shown)
    if style == "first_then":
        text = "First, " + _lower_first(first)
        for index, clause in enumerate(rest):
            last = index == len(rest) - 1 and len(rest) > 1
            text += (" Finally, " if last else " Then ") + _lower_first(clause)
        return text
    text = first
    for clause in rest:
        following = _lower_first(clause)
        if style == "then":
            text += " Then " + following
        elif style == "comma_then":
            text = _strip_end(text) + ", then " + following
        elif style == "and":
            text = _strip_end(text) + " and " + following
        elif style == "and_then":
            text = _strip_end(text) + ", and then " + following
        elif style == "also":
            text += " Also, " + following
        else:
            raise ValueError(f"unknown joining style {style!r}")
    return text


def _router_texts(sql: _SqlDomain, sf: _SfDomain, rng: random.Random) -> list[_Clause]:
    """Short texts to summarise inline, each naming values of the two systems."""
    texts: list[_Clause] = []
    for index, template in enumerate(_TEXTS):
        for _ in range(40):
            fill: dict[str, str] = {}
            entity: list[str] = [f"text={index}"]
            if "{customer}" in template:
                fill["customer"] = rng.choice(sql.customers)
                entity.append(f"customer={fill['customer']}")
            if "{rep}" in template:
                fill["rep"] = rng.choice(sql.reps)[0]
                entity.append(f"rep={fill['rep']}")
            if "{product}" in template:
                fill["product"] = rng.choice(sql.products)
                entity.append(f"product={fill['product']}")
            if "{account}" in template:
                fill["account"] = rng.choice(sf.accounts)
                entity.append(f"account={fill['account']}")
            texts.append(_Clause("summarize", template.format(**fill), tuple(entity)))
    return list({clause.instruction: clause for clause in texts}.values())


def _router_candidates(
    shape: str,
    parts: tuple[str, ...],
    style: str,
    draws: int,
    pools: Mapping[str, Sequence[_Clause]],
    rng: random.Random,
) -> list[_Candidate]:
    """Up to ``draws`` random requests of one plan shape, written in one joining ``style``."""
    found: list[_Candidate] = []
    for _ in range(draws):
        clauses: list[_Clause] = []
        shown: list[str] = []
        tasks: list[dict[str, Any]] = []
        for position, part in enumerate(parts, start=1):
            depends_on: int | None = None
            if part == "ref":
                clause = rng.choice(pools["summary"])
                text = clause.instruction
                depends_on = position - 1
            elif part == "text":
                inline = rng.choice(pools["text"])
                if len(parts) == 1:
                    wording = _INLINE_STYLES[int(style[1:])]
                else:
                    wording = rng.choice(_INLINE_QUOTED)
                text = wording.format(text=inline.instruction)
                clause = _Clause("summarize", text, inline.entity)
            else:
                clause = rng.choice(pools[part])
                text = clause.instruction
                if (style == "marker") or (len(parts) > 1 and rng.random() < 0.25):
                    text = _with_marker(text, rng.choice(_MARKERS[part]))
            clauses.append(clause)
            shown.append(text)
            tasks.append(
                {
                    "specialist": clause.specialist,
                    "instruction": clause.instruction,
                    "depends_on": depends_on,
                }
            )
        if any(len(task["instruction"]) > _MAX_INSTRUCTION for task in tasks):
            continue
        if len(parts) > 1:
            request = _join_clauses(shown, style)
        elif style in _SINGLE_PREFIXES:
            request = _SINGLE_PREFIXES[style] + shown[0]
        else:
            request = shown[0]
        entity = tuple(dict.fromkeys(part for clause in clauses for part in clause.entity))
        found.append(_Candidate(shape, style, entity, request, json.dumps({"tasks": tasks})))
    return found


def _router_templates(parts: tuple[str, ...]) -> tuple[str, ...]:
    """The template ids of a plan shape: its joining styles (inline wordings for a text)."""
    if parts == ("text",):
        return tuple(f"t{index}" for index in range(len(_INLINE_STYLES)))
    return _SINGLE_STYLES if len(parts) == 1 else _MULTI_STYLES


def _router_clauses(
    heldout: _HeldOut,
    results: Mapping[str, Mapping[str, _SplitResult]],
    texts: Sequence[_Clause],
) -> tuple[dict[str, list[_Clause]], dict[str, list[_Clause]]]:
    """Clauses for training requests, and clauses that carry a held-out entity value.

    The sql and salesforce clauses are the requests kept for those specialists: training
    requests from their training split, held-out ones from their held-out split (only those
    whose entity is held out, so that a held-out router example always shows why).
    """
    kinds = ("sql", "salesforce", "text", "summary")
    train: dict[str, list[_Clause]] = {kind: [] for kind in kinds}
    held: dict[str, list[_Clause]] = {kind: [] for kind in kinds}
    for name in ("sql", "salesforce"):
        for candidate, _ in results[name]["train"].examples:
            train[name].append(_Clause(name, candidate.request, candidate.entity))
        for candidate, _ in results[name]["heldout"].examples:
            if any(heldout.entity_held(part) for part in candidate.entity):
                held[name].append(_Clause(name, candidate.request, candidate.entity))
    for clause in texts:
        pool = held if any(heldout.entity_held(part) for part in clause.entity) else train
        pool["text"].append(clause)
    for index, text in enumerate(_SUMMARY_CLAUSES):
        clause = _Clause("summarize", text, (f"summary={index}",))
        pool = held if heldout.entity_held(clause.entity[0]) else train
        pool["summary"].append(clause)
    return train, held


def _router_split_pools(
    heldout: _HeldOut,
    train_clauses: Mapping[str, Sequence[_Clause]],
    held_clauses: Mapping[str, Sequence[_Clause]],
    scale: float,
    rng: random.Random,
) -> tuple[dict[str, list[_Candidate]], dict[str, list[_Candidate]]]:
    """Router candidates of every shape and style, sorted into the two splits.

    Most are drawn from training clauses only; a few per style put held-out clauses in one
    kind of position, so that held-out examples with new entity values exist for every shape.
    """
    train: dict[str, list[_Candidate]] = {}
    held: dict[str, list[_Candidate]] = {}
    draws = max(4, round(150 * scale))
    seen: set[str] = set()
    for name, parts in _ROUTER_SHAPES:
        templates = _router_templates(parts)
        heldout.register_family("router", name, templates, keep=("bare",))
        for style in templates:
            found = _router_candidates(name, parts, style, draws, train_clauses, rng)
            for kind in dict.fromkeys("summary" if part == "ref" else part for part in parts):
                if held_clauses[kind]:
                    mixed = {**train_clauses, kind: held_clauses[kind]}
                    found += _router_candidates(name, parts, style, max(2, draws // 6), mixed, rng)
            for candidate in found:
                if candidate.request in seen:
                    continue
                seen.add(candidate.request)
                pool = held if heldout.is_heldout("router", candidate) else train
                pool.setdefault(name, []).append(candidate)
    return train, held


def _router_checker() -> _Check:
    """A check that the plan parses as a ``Plan`` and that ``plan_from_model`` keeps it."""
    from pydantic import ValidationError

    from specialists.router import Plan, plan_from_model

    def check(candidate: _Candidate) -> tuple[_Checked | None, str | None]:
        try:
            plan = Plan.model_validate_json(candidate.target)
        except ValidationError:
            return None, "not a valid Plan"
        if json.dumps(plan.model_dump(mode="json")) != candidate.target:
            return None, "not in the model's field order"
        planned = [(t.specialist, t.instruction, t.depends_on) for t in plan.tasks]
        kept = [
            (t["specialist"], t["instruction"], t["depends_on"])
            for t in plan_from_model(plan, candidate.request)
        ]
        if kept != planned:
            return None, "changed by plan_from_model"
        return _Checked({}), None

    return check
