"""The summariser's validator: every number and name in a summary must come from its source.

A number is supported when it occurs in the source, or when it is a figure the check
recomputes from the source's rows: the row count, a column's total, mean, maximum or
minimum, the difference of two values of a column, a value's share of its column's total
(in per cent), or how many rows hold one value; a number said of "each", "every" or
"all" rows must hold in every row of its column, and a number said of a row's label
("Software has 8") must be that row's (or a share, sum or difference of the rows named with
it, or a total of the whole result). A name (a capitalised word that does not
open a sentence, or a quoted string) is supported when the source holds it. Numbers
written in words ("twelve") count as numbers.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'&-]*")
_QUOTED = re.compile(r"[\"“']([^\"”']{2,60})[\"”']")
_EVERY = re.compile(r"\b(?:each|every|all)\s+(?:of\s+the\s+)?[a-z]{3,}", re.IGNORECASE)
_SENTENCES = re.compile(r"[^.!?;]+")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)\s*[\"“(]?$")

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}  # fmt: skip
"""Numbers a summary may write in words; "one" is left out of the check (see below)."""

STARTERS = frozenset(
    """a an the this that these those there here it its they their we our you your i in on
    at of for with by from to into over under and but or so yet as if when while since
    each every all both most many more some several few no none not only just also overall
    total totals summary summarised summarized result results altogether together among
    between across according based about around approximately roughly nearly almost over
    one two three four five six seven eight nine ten first second third last top bottom
    highest lowest largest smallest biggest least the following below above note please
    tl dr tldr gist short brief basically essentially yes ok okay sure however additionally
    furthermore moreover meanwhile therefore thus then finally next despite although though
    because after before during until unless whether which what who how why where
    specifically notably currently today recently instead otherwise similarly likewise still
    again now later earlier soon""".split()
)
"""Words that may open a sentence without being a name the source must hold."""

TABLE_WORDS = frozenset({"row", "rows", "query", "queries", "column", "columns"})
"""Words of a query result that a summary of a free text may use only if the text does."""

_FREE_WORDS = frozenset(
    {"one"}  # "one of the categories", "each one": too common to hold the summary to it
)

MAX_PAIRS = 60
"""Most values of a column whose pairwise differences are recomputed (n² grows fast)."""


@dataclass(frozen=True)
class Source:
    """What a summary may draw on: the text of the source and the numbers it supports."""

    text: str
    """Every word of the source (the instruction, column names, cells or the free text)."""
    numbers: frozenset[Decimal]
    """The numbers the source holds or that the check recomputes from it."""
    uniform: frozenset[Decimal] | None = None
    """For rows: the values that a whole numeric column holds in every row (what "12 in
    each category" may claim); None for a free text."""
    labelled: tuple[tuple[str, frozenset[Decimal], tuple[Decimal, ...]], ...] = ()
    """For rows: each row's text label, the numbers said of it alone (its cells and their
    shares of their column's total), and its cells by numeric column (for sums and
    differences between labels)."""
    overall: frozenset[Decimal] = frozenset()
    """For rows: the figures of the whole result (totals, row count), which may stand next
    to any label."""

    @classmethod
    def of_text(cls, text: str) -> Source:
        """A free text: its own numbers (digits and words) and words."""
        return cls(text=text, numbers=frozenset(_numbers_in(text)))

    @classmethod
    def of_rows(
        cls, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, context: str = ""
    ) -> Source:
        """Query rows: their values, the figures recomputed from them, and ``context``."""
        words = [context, *map(str, columns)]
        numbers: set[Decimal] = set(_numbers_in(" ".join(words)))
        uniform: set[Decimal] = set()
        numbers.add(Decimal(len(rows)))
        numbers.add(Decimal(len(columns)))
        for index in range(len(columns)):
            cells = [row[index] if index < len(row) else None for row in rows]
            words.extend(str(cell) for cell in cells if cell is not None)
            values = [v for v in map(_decimal, cells) if v is not None]
            for cell in cells:
                if isinstance(cell, str):
                    numbers.update(_numbers_in(cell))
            numbers.update(values)
            numbers.update(_derived(values))
            if values and len(values) == len(cells) and len(set(values)) == 1:
                uniform.add(values[0])
            numbers.update(Decimal(n) for n in Counter(map(str, cells)).values())
        return cls(
            text=" \n".join(words),
            numbers=frozenset(numbers),
            uniform=frozenset(uniform),
            labelled=_labelled(columns, rows),
            overall=frozenset(_overall(columns, rows)),
        )


def _numeric_columns(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    return [
        i
        for i in range(len(columns))
        if rows and all(_decimal(r[i] if i < len(r) else None) is not None for r in rows)
    ]


def _overall(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> set[Decimal]:
    found = {Decimal(len(rows)), Decimal(len(columns))}
    for i in _numeric_columns(columns, rows):
        found.add(sum((_decimal(r[i]) or Decimal(0) for r in rows), Decimal(0)))
    return found


def _labelled(
    columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[tuple[str, frozenset[Decimal], tuple[Decimal, ...]], ...]:
    """Each row's label (its first text cell) with the numbers that row supports alone."""
    numeric = _numeric_columns(columns, rows)
    text = [i for i in range(len(columns)) if i not in numeric]
    if not numeric or not text:
        return ()
    totals = {i: sum((_decimal(r[i]) or Decimal(0) for r in rows), Decimal(0)) for i in numeric}
    labelled = []
    for row in rows:
        label = str(row[text[0]]).strip() if row[text[0]] is not None else ""
        if not label:
            continue
        cells = tuple(_decimal(row[i]) or Decimal(0) for i in numeric)
        own = set(cells)
        own.update(c * 100 / totals[i] for c, i in zip(cells, numeric, strict=True) if totals[i])
        labelled.append((label, frozenset(own), cells))
    return tuple(labelled)


_CLAUSE_END = re.compile(r"[;!?()\n]|[.,:](?!\d)")
"""Where a clause ends: punctuation, but not the comma or point inside a number."""


def _misattributed(summary: str, source: Source) -> list[str]:
    """Numbers said of a row's label that the row does not hold ("Software has 8")."""
    problems = []
    labels = sorted(source.labelled, key=lambda item: -len(item[0]))
    for clause in _CLAUSE_END.split(summary):
        rest, named = clause, []
        for label, own, cells in labels:
            pattern = rf"(?<![\w]){re.escape(label)}(?![\w])"
            if re.search(pattern, rest, re.IGNORECASE):
                named.append((label, own, cells))
                rest = re.sub(pattern, " ", rest, flags=re.IGNORECASE)
        if not named:
            continue
        allowed = set(source.overall)
        allowed.update(frozenset.intersection(*(own for _, own, _ in named)))
        if len(named) > 1:
            for column in zip(*(cells for _, _, cells in named), strict=True):
                allowed.add(sum(column, Decimal(0)))
                allowed.update(abs(a - b) for a, b in itertools.combinations(column, 2))
        for match in _NUMBER.finditer(rest):
            if not _supported(match.group(), allowed):
                who = " and ".join(label for label, _, _ in named)
                problems.append(f"{match.group()} said of {who}")
    return problems


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _derived(values: Sequence[Decimal]) -> set[Decimal]:
    """Totals, means, extremes, differences and shares of one column's numbers."""
    if not values:
        return set()
    total = sum(values, Decimal(0))
    found = {total, max(values), min(values), total / len(values)}
    found.add(max(values) - min(values))
    for a, b in itertools.combinations(values[:MAX_PAIRS], 2):
        found.add(abs(a - b))
        if b:
            found.add(a / b)
        if a:
            found.add(b / a)
    if total:
        found.update(value * 100 / total for value in values)
    return found


def _numbers_in(text: str) -> list[Decimal]:
    numbers = [Decimal(m.group().replace(",", "")) for m in _NUMBER.finditer(text)]
    for word in _WORD.findall(text):
        value = NUMBER_WORDS.get(word.lower())
        if value is not None:
            numbers.append(Decimal(value))
    return numbers


def _decimals(text: str) -> int:
    _, _, fraction = text.partition(".")
    return len(fraction)


def _supported(written: str, allowed: Iterable[Decimal]) -> bool:
    """True when ``written`` equals an allowed number, rounded to the digits it shows."""
    number = Decimal(written.replace(",", ""))
    places = _decimals(written)
    tolerance = Decimal(1).scaleb(-places) / 2
    for value in allowed:
        if abs(value - number) <= tolerance or abs(abs(value) - abs(number)) <= tolerance:
            return True
    return False


def _opens_sentence(summary: str, start: int) -> bool:
    return bool(_SENTENCE_START.search(summary[:start]))


def unsupported(summary: str, source: Source) -> list[str]:
    """The numbers and names in ``summary`` that ``source`` does not support, in order.

    Args:
        summary: What the summariser wrote.
        source: What it summarised.

    Returns:
        One entry per unsupported item (``number 12`` / ``name Brazil``); empty when the
        summary is faithful.
    """
    problems: list[str] = []
    held = source.text.casefold()
    for match in _NUMBER.finditer(summary):
        if not _supported(match.group(), source.numbers):
            problems.append(f"number {match.group()}")
    for match in _WORD.finditer(summary):
        word = match.group()
        value = NUMBER_WORDS.get(word.lower())
        if value is not None and word.lower() not in _FREE_WORDS:
            if not _supported(str(value), source.numbers):
                problems.append(f"number {word}")
            continue
        if not word[0].isupper():
            continue
        if _opens_sentence(summary, match.start()) and word.lower() in STARTERS:
            continue
        if not re.search(rf"(?<![a-z0-9]){re.escape(word.casefold())}", held):
            problems.append(f"name {word}")
    problems.extend(_misattributed(summary, source))
    if source.uniform is not None:
        for part in _SENTENCES.findall(summary):
            if not _EVERY.search(part):
                continue
            written = [m.group() for m in _NUMBER.finditer(part)]
            written += [
                str(NUMBER_WORDS[w.lower()])
                for w in _WORD.findall(part)
                if w.lower() in NUMBER_WORDS and w.lower() not in _FREE_WORDS
            ]
            for number in written:
                if not _supported(number, source.uniform):
                    problems.append(f"{number} claimed for every row")
    if source.uniform is None:  # a free text has no rows: a summary that speaks of them
        for word in _WORD.findall(summary):  # is the template of a result summary
            if word.lower() in TABLE_WORDS and not re.search(rf"\b{word.lower()}", held):
                problems.append(f"word {word.lower()}")
    for match in _QUOTED.finditer(summary):
        quoted = match.group(1).strip()
        if quoted and quoted.casefold() not in held:
            problems.append(f"name {quoted!r}")
    return list(dict.fromkeys(problems))
