"""Chains: a sub-task takes values from earlier results, and the runtime copies them in.

A sub-task of a plan can hold *bindings* (:data:`specialists.base.Binding`): "the value of
column ``name`` in step 1's single row, as ``customer``". Its instruction carries the
placeholder ``{customer}`` where the value goes; before the specialist is called,
:func:`fill` replaces each placeholder with the value taken from the earlier result, so a
name or a record Id reaches the specialist exactly as the earlier step returned it and is
never retyped from memory. The specialist's check then requires the value in what it
wrote (:func:`missing_values`), so a query that dropped or misspelt it is repaired.

Plans get their bindings from :func:`bind_plan`, for the router's rules and its model
alike: a clause that refers back to an earlier result ("that customer", "those accounts",
"it", "each of them", "their orders", "that many") takes its value from the sub-task
before it. A binding that cannot be filled (the earlier step failed, returned no rows, or
several where one was needed) raises :class:`BindingError`, whose message says why that
branch stopped; the sub-tasks that do not depend on it still run.

This layer knows no LangGraph: results are plain mappings with ``status``, ``columns``,
``rows``, ``truncated`` and ``specialist``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from specialists.base import Binding, BindingKind, SubTask

MAX_LIST: Final = 25
"""Most values one list binding copies into a step; a longer list stops the branch (the
earlier step should be narrowed)."""

BOUND_SPECIALISTS: Final = ("sql", "salesforce")
"""Specialists whose sub-tasks take bindings (a summary reads its dependency's result whole)."""

GENERIC_NOUNS: Final = frozenset(
    {
        "one", "ones", "record", "records", "row", "rows", "result", "results", "item",
        "items", "entry", "entries", "value", "values", "person", "people", "company",
        "companies", "guy", "guys", "name", "names", "list", "id", "ids", "thing", "things",
        "firm", "firms", "org", "organisation", "organization", "business", "businesses",
    }
)  # fmt: skip
"""Nouns after "that" / "those" that refer back to a result whatever the schema calls it."""

_DETERMINER = re.compile(
    r"\b(?P<det>(?:that|this|the) same|that|this|those|these)\s+(?P<noun>[a-z][a-z-]*)"
    r"(?P<owner>'s)?(?![a-z'])",
    re.IGNORECASE,
)
_OWNER = re.compile(r"\bthe\s+(?P<noun>[a-z][a-z-]*)'s\b", re.IGNORECASE)
"""``the account's biggest deal``: the account found before."""
_POSSESSIVE = re.compile(
    r"\b(?P<det>their|its|it's|his|her)\s+(?P<words>[a-z0-9][a-z0-9-]*"
    r"(?:\s+[a-z0-9][a-z0-9-]*){0,2})",
    re.IGNORECASE,
)
_THERE = re.compile(
    r"\b(?P<verb>billed|based|located|headquartered|registered|living|live|lives)\s+there\b",
    re.IGNORECASE,
)
"""``accounts billed there``: the place found before."""
_COUNT = re.compile(r"\b(?:that many|the same number(?: of)?|that number(?: of)?)\b", re.IGNORECASE)
_PRONOUN = re.compile(
    r"\b(?P<list>each of (?:them|those|these)|all of (?:them|those|these)|every one of them"
    r"|the ones you found|them|those|these)\b"
    r"|\b(?P<one>the one you found|that one|it|him|her)\b(?!')",
    re.IGNORECASE,
)
_NOT_A_NOUN: Final = frozenset(
    {
        "is", "are", "was", "were", "be", "been", "has", "have", "had", "do", "does", "did",
        "will", "would", "can", "could", "should", "may", "might", "must", "shall", "and",
        "or", "with", "in", "on", "of", "for", "to", "from", "by", "at", "as", "who", "which",
        "that", "the", "a", "an", "we", "you", "they", "i", "he", "she", "it", "there",
        "many", "much", "same",
    }
)  # fmt: skip


class BindingError(ValueError):
    """A binding cannot be filled from the earlier result; the message says why."""


@dataclass(frozen=True)
class Reference:
    """A phrase in a clause that refers back to an earlier result."""

    start: int
    end: int
    kind: BindingKind
    name: str
    """The placeholder's name (the noun referred with, or ``it`` / ``them`` / ``count``)."""
    replacement: str
    """What the phrase becomes in the instruction, with ``{name}`` where the value goes."""
    probe_end: int | None = None
    """Where the words that stand for the earlier result end, when that is before ``end``
    ("its" of "its cases": the cases are this clause's own)."""

    def without(self, clause: str) -> str:
        """``clause`` without the words that stand for the earlier result."""
        end = self.end if self.probe_end is None else self.probe_end
        return clause[: self.start] + clause[end:]


def _plural(noun: str) -> bool:
    return noun.endswith("s") and not noun.endswith(("ss", "us", "is"))


def find_reference(clause: str, is_noun: Callable[[str], bool]) -> Reference | None:
    """The first phrase of ``clause`` that refers back to an earlier result, or None.

    ``is_noun`` says whether a word after "that" / "those" / "their" names something
    ("that customer", not "that are"): schema words and :data:`GENERIC_NOUNS`.
    """
    found: list[Reference] = []
    match = _COUNT.search(clause)
    if match:
        found.append(Reference(match.start(), match.end(), "count", "count", "{count}"))
    for match in _DETERMINER.finditer(clause):
        det, noun = match["det"].lower(), match["noun"].lower()
        if noun in _NOT_A_NOUN or not is_noun(noun):
            continue
        many = det in ("those", "these") or _plural(noun)
        kind: BindingKind = "list" if many else "value"
        owner = "'s" if match["owner"] else ""
        replacement = f"the {noun} {{{noun}}}{owner}"
        found.append(Reference(match.start(), match.end(), kind, noun, replacement))
        break
    for match in _OWNER.finditer(clause):
        noun = match["noun"].lower()
        if noun in _NOT_A_NOUN or not is_noun(noun):
            continue
        kind = "list" if _plural(noun) else "value"
        replacement = f"the {noun} {{{noun}}}'s"
        found.append(Reference(match.start(), match.end(), kind, noun, replacement))
        break
    for match in _POSSESSIVE.finditer(clause):
        # "its" / "their" always point back, so the words after it need not be schema nouns;
        # the phrase owned runs to the first word that is no part of it ("its cases that").
        det = match["det"].lower()
        words = []
        for word in match["words"].split():
            if word.lower() in _NOT_A_NOUN:
                break
            words.append(word)
        if not words:
            continue
        kind = "list" if det == "their" else "value"
        name = "them" if kind == "list" else "it"
        phrase = " ".join(words)
        end = match.start("words") + match["words"].find(words[-1]) + len(words[-1])
        found.append(
            Reference(
                match.start(),
                end,
                kind,
                name,
                f"the {phrase} of {{{name}}}",
                probe_end=match.start("words"),
            )
        )
        break
    there = _THERE.search(clause)
    if there:
        replacement = f"{there['verb']} in {{place}}"
        found.append(Reference(there.start(), there.end(), "value", "place", replacement))
    for match in _PRONOUN.finditer(clause):
        if match["list"]:
            phrase = match["list"].lower()
            lead = phrase.split(" of ")[0] + " of " if " of " in phrase else ""
            found.append(Reference(match.start(), match.end(), "list", "them", lead + "{them}"))
        else:
            found.append(Reference(match.start(), match.end(), "value", "it", "{it}"))
        break
    if not found:
        return None
    return min(found, key=lambda ref: ref.start)


def bind_plan(plan: list[SubTask], is_noun: Callable[[str], bool]) -> list[SubTask]:
    """Give every SQL / Salesforce sub-task that refers back a binding to the step before.

    The step before must be a SQL or Salesforce sub-task (a summary's prose is no value to
    copy); a sub-task that already has bindings, or already depends on another step than
    the one before, keeps what it has. The reference in the instruction becomes the
    placeholder ("create a case for that customer" -> "create a case for the customer
    {customer}").
    """
    by_id = {task["id"]: task for task in plan}
    bound: list[SubTask] = []
    for task in plan:
        task = SubTask(**task)  # type: ignore[typeddict-item]
        previous = by_id.get(task["id"] - 1)
        eligible = (
            task["specialist"] in BOUND_SPECIALISTS
            and not task.get("inputs")
            and previous is not None
            and previous["specialist"] in BOUND_SPECIALISTS
            and task["depends_on"] in (None, previous["id"])
        )
        if eligible and previous is not None:
            reference = find_reference(task["instruction"], is_noun)
            if reference is not None:
                text = task["instruction"]
                task["instruction"] = (
                    text[: reference.start] + reference.replacement + text[reference.end :]
                )
                task["depends_on"] = previous["id"]
                task["inputs"] = [
                    Binding(
                        {
                            "from": previous["id"],
                            "column": None,
                            "kind": reference.kind,
                            "as": reference.name,
                        }
                    )
                ]
        bound.append(task)
    return bound


def sources_of(task: SubTask) -> list[int]:
    """Ids of the sub-tasks whose results ``task`` needs (its dependency and bindings)."""
    ids = [task["depends_on"]] if task["depends_on"] is not None else []
    for binding in task.get("inputs") or []:
        if binding["from"] not in ids:
            ids.append(binding["from"])
    return ids


@dataclass
class Filled:
    """A sub-task's instruction with its bindings' values in place."""

    instruction: str
    values: list[str] = field(default_factory=list)
    """Every value copied in, as text: what the specialist's output must contain."""
    taken: list[dict[str, Any]] = field(default_factory=list)
    """What was taken from where: ``{"from", "as", "column", "value"}`` per binding."""


def as_text(value: Any) -> str:
    """A result cell as it is written into an instruction."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | decimal.Decimal) and value == int(value):
        return str(int(value))
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _words(name: str) -> set[str]:
    parts = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+", name.replace(".", "_"))
    words = {part.lower() for part in parts}
    return words | {word[:-1] for word in words if _plural(word)}


def _singular(noun: str) -> str:
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    return noun[:-1] if _plural(noun) else noun


def pick_column(columns: Sequence[str], hint: str, *, want_id: bool) -> int:
    """The column a binding named ``hint`` reads when the plan names none.

    A column named like the hint ("that industry" -> ``industry``, ``Industry``); then the
    record ``Id`` when an Id is wanted (a Salesforce step after a Salesforce step); then a
    name column (``name``, ``Name``, ``customer_name``); then the first column.
    """
    if not columns:
        raise BindingError("the earlier result has no columns")
    noun = _singular(hint.lower())
    lowered = [column.lower() for column in columns]
    for index, column in enumerate(lowered):
        if column in (hint.lower(), noun) or column.replace("_", " ") == noun:
            return index
    if want_id:
        for index, column in enumerate(lowered):
            if column == "id":
                return index
    for index, column in enumerate(columns):
        words = _words(column)
        if noun in words and "name" in words:
            return index
    for index, column in enumerate(lowered):
        if column == "name" or column.endswith(".name"):
            return index
    for index, column in enumerate(columns):
        if "name" in _words(column):
            return index
    for index, column in enumerate(columns):
        if noun in _words(column) and not lowered[index].endswith("id"):
            return index
    return 0


def _joined(values: Sequence[str]) -> str:
    shown = [f'"{value}"' if "," in value else value for value in values]
    if len(shown) <= 2:
        return " and ".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _preview(values: Iterable[Any]) -> str:
    listed = [as_text(value) for value in values]
    return ", ".join(listed[:3]) + (", …" if len(listed) > 3 else "")


def fill(task: SubTask, sources: Mapping[int, Mapping[str, Any]]) -> Filled:
    """``task``'s instruction with each binding's value copied in from ``sources``.

    Args:
        task: The sub-task.
        sources: Earlier results by sub-task id (``status``, ``columns``, ``rows``,
            ``truncated``, ``specialist``).

    Raises:
        BindingError: A value cannot be taken; the message says which step and why, in
            words for the answer ("step 1 returned 3 rows where one customer was needed").
    """
    filled = Filled(task["instruction"])
    for binding in task.get("inputs") or []:
        step, name, kind = binding["from"], binding["as"], binding["kind"]
        source = sources.get(step)
        if source is None or source.get("status") != "ok":
            raise BindingError(f"step {step}, whose result it needs, did not produce one")
        columns: list[str] = list(source.get("columns") or [])
        rows: list[list[Any]] = list(source.get("rows") or [])
        label = name if name not in ("it", "them", "count") else "value"
        if kind == "count":
            if len(rows) == 1 and len(rows[0]) == 1 and isinstance(rows[0][0], int | float):
                text = as_text(rows[0][0])
            elif source.get("truncated"):
                raise BindingError(f"step {step} returned more rows than were kept to count")
            else:
                text = str(len(rows))
            column = binding["column"] or ""
            values = [text]
        else:
            if not rows:
                raise BindingError(f"step {step} returned no rows, so there is no {label} to use")
            want_id = task["specialist"] == "salesforce" and source.get("specialist") == (
                "salesforce"
            )
            if binding["column"] is not None:
                lowered = [c.lower() for c in columns]
                if binding["column"].lower() not in lowered:
                    raise BindingError(
                        f"step {step}'s result has no column {binding['column']} "
                        f"(it has {', '.join(columns) or 'none'})"
                    )
                index = lowered.index(binding["column"].lower())
            else:
                index = pick_column(columns, name, want_id=want_id or kind == "id")
            column = columns[index]
            cells = [row[index] for row in rows if index < len(row)]
            if kind in ("value", "id") and len(cells) != 1:
                raise BindingError(
                    f"step {step} returned {len(cells)} rows where one {label} was needed "
                    f"({_preview(cells)})"
                )
            if kind == "list" and (len(cells) > MAX_LIST or source.get("truncated")):
                raise BindingError(
                    f"step {step} returned {len(cells)}{'+' if source.get('truncated') else ''}"
                    f" rows, more than the {MAX_LIST} one step takes; narrow step {step}"
                )
            if any(cell is None for cell in cells):
                raise BindingError(f"step {step}'s {column} is empty")
            values = [as_text(cell) for cell in cells]
            text = _joined(values)
        placeholder = "{" + name + "}"
        if placeholder in filled.instruction:
            filled.instruction = filled.instruction.replace(placeholder, text)
        else:
            filled.instruction = f"{filled.instruction.rstrip()} ({name}: {text})"
        filled.values += values
        filled.taken.append({"from": step, "as": name, "column": column, "value": text})
    return filled


def missing_values(values: Sequence[str], written: Iterable[str]) -> list[str]:
    """The bound values that none of ``written`` (literals, field values) contains.

    A value counts as used when a written text equals it or contains it whole, ignoring
    case (a case Subject "Follow-up for Acme Retail" uses "Acme Retail"); a number also
    when a written number has the same value.
    """
    texts = [str(text) for text in written]
    lowered = [text.lower() for text in texts]
    missing = []
    for value in values:
        wanted = value.lower()
        if any(wanted == text or wanted in text for text in lowered):
            continue
        if _same_number(value, texts):
            continue
        missing.append(value)
    return missing


NEAR: Final = 0.85
"""How alike a written text must be to a bound value to be taken for it, retyped (difflib
ratio): "Lakeide Industries LLC" for "Lakeside Industries LLC"."""


def respelled(text: str, value: str) -> str | None:
    """``text`` with a retyped copy of ``value`` in it replaced by ``value`` exactly, or None.

    The model was given the value and wrote it back with a letter dropped or changed; the
    runtime puts the value it gave back in its place, as it does for record Ids. Only a
    stretch of ``text`` about as long as ``value`` and at least :data:`NEAR` alike counts.
    """
    if not value or value.lower() in text.lower():
        return None
    size = len(value)
    best: tuple[float, int, int] = (0.0, 0, 0)
    lowered, wanted = text.lower(), value.lower()
    for start in range(len(text)):
        if start and text[start - 1].isalnum():
            continue
        for length in range(max(1, size - 3), size + 4):
            end = start + length
            if end > len(text) or (end < len(text) and text[end].isalnum()):
                continue
            ratio = difflib.SequenceMatcher(None, lowered[start:end], wanted).ratio()
            if ratio > best[0]:
                best = (ratio, start, end)
    ratio, start, end = best
    if ratio < NEAR:
        return None
    return text[:start] + value + text[end:]


def _same_number(value: str, texts: Sequence[str]) -> bool:
    try:
        number = decimal.Decimal(value)
    except decimal.InvalidOperation:
        return False
    for text in texts:
        try:
            if decimal.Decimal(text) == number:
                return True
        except decimal.InvalidOperation:
            continue
    return False


def describe_taken(taken: Sequence[Mapping[str, Any]]) -> str:
    """One line saying what a step took from which earlier step (for the CLI)."""
    parts = []
    for entry in taken:
        value = str(entry["value"])
        shown = value if len(value) <= 60 else value[:59] + "…"
        column = f" ({entry['column']})" if entry.get("column") else ""
        parts.append(f"{entry['as']} = {shown} from step {entry['from']}{column}")
    return "; ".join(parts)
