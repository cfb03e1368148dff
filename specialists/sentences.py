"""Sentences written by code from query rows: faithful by construction.

They are the summariser's fallback when its own summary fails the faithfulness check, the
gold of its training data, and the final answer's sentence for each query result.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

_HOW_MANY = re.compile(
    r"^\s*(?:and\s+|also\s+|then\s+)?how\s+many\s+(?P<noun>[\w\s-]+?)\s+"
    r"(?P<verb>are|is|were|was|have|has|had|do|does|did)\b\s*(?P<rest>.*?)[\s?.!]*$",
    re.IGNORECASE,
)
_COUNT_LABEL = re.compile(r"^(?:count\(.*\)|count|n|total|num\w*)$", re.IGNORECASE)
SHOWN_ITEMS = 8
"""Most labels or rows a deterministic sentence names before it says how many more."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "nothing" if value is None else str(value)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _noun(request: str) -> str:
    """What a "how many … per/in each …" question counts ("products"), or ''."""
    match = re.search(r"how\s+many\s+([\w-]+(?:\s+[\w-]+)?)", request, re.IGNORECASE)
    if not match:
        return ""
    words = match.group(1).split()
    stop = {"are", "is", "were", "was", "do", "does", "did", "have", "has", "per", "in", "by"}
    kept = list(itertools.takewhile(lambda w: w.lower() not in stop, words))
    return " ".join(kept)


def _single_value(column: str, value: Any, request: str) -> str:
    match = _HOW_MANY.match(request)
    if match and _number(value):
        noun, verb = match["noun"], match["verb"].lower()
        rest = re.sub(r"^there\b\s*", "", match["rest"], flags=re.IGNORECASE)
        if verb in ("are", "is", "were", "was"):
            if value == 1:
                verb = "was" if verb in ("were", "was") else "is"
                noun = noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun
            else:
                verb = "were" if verb in ("were", "was") else "are"
            tail = f" {rest}" if rest else ""
            return f"There {verb} {_text(value)} {noun}{tail}."
        return f"{noun[:1].upper()}{noun[1:]}: {_text(value)}."
    if _COUNT_LABEL.match(column):
        return f"The count is {_text(value)}."
    return f"{column} is {_text(value)}."


def _grouped(columns: list[str], rows: list[list[Any]], request: str) -> str:
    """A label column and a number column: labels grouped by equal value, largest first."""
    noun = _noun(request)
    ordered = sorted(rows, key=lambda row: (-float(row[1]), str(row[0])))
    groups: list[tuple[Any, list[str]]] = []
    for label, value in ((str(r[0]), r[1]) for r in ordered):
        if groups and groups[-1][0] == value:
            groups[-1][1].append(label)
        else:
            groups.append((value, [label]))
    parts = []
    for position, (value, labels) in enumerate(groups[:SHOWN_ITEMS]):
        shown = _text(value)
        if position == 0:
            what = f" {noun}" if noun else ""
            each = " each" if len(labels) > 1 else ""
            verb = "have" if len(labels) > 1 else "has"
            parts.append(f"{_join(labels)} {verb} {shown}{what}{each}")
        else:
            parts.append(f"{_join(labels)} {shown}" + (" each" if len(labels) > 1 else ""))
    sentence = "; ".join(parts[:1] + [", ".join(parts[1:])] if parts[1:] else parts)
    left = len(groups) - SHOWN_ITEMS
    more = f" ({left} more value(s) not shown)" if left > 0 else ""
    return f"{sentence}{more}."


_DOUBLE_STOP = re.compile(r"(?<=\w)\.\.(?=\s|$)")
"""A name that ends in a full stop ("Acme Inc.") at the end of a sentence."""


def describe_result(
    columns: list[str], rows: list[list[Any]], truncated: bool, *, request: str = ""
) -> str:
    """A sentence about query rows, written by code from the rows alone (so it is faithful).

    One number answers a "how many" question in its own words ("There are 9 customers in
    Brazil."); a label with a number lists the labels by value, ties together ("Hardware and
    Software have 12 products each; Services and Support 8 each."); one column lists its
    values; anything else says how many rows and which columns.
    """
    return _DOUBLE_STOP.sub(".", _describe(columns, rows, truncated, request))


def _describe(columns: list[str], rows: list[list[Any]], truncated: bool, request: str) -> str:
    cut = " The result was cut at that many rows; more exist." if truncated else ""
    if not rows:
        return "The query returned no rows."
    if len(columns) == 1 and len(rows) == 1:
        return _single_value(columns[0], rows[0][0], request) + cut
    if (
        len(columns) == 2
        and all(_number(r[1]) for r in rows)
        and not any(_number(r[0]) for r in rows)
    ):
        return _grouped(columns, rows, request) + cut
    if len(columns) == 1:
        values = [_text(r[0]) for r in rows[:SHOWN_ITEMS]]
        left = len(rows) - len(values)
        more = f" and {left} more" if left > 0 else ""
        return f"{len(rows)} {columns[0]} value(s): {', '.join(values)}{more}.{cut}"
    if len(rows) == 1:
        pairs = [f"{c} {_text(v)}" for c, v in zip(columns, rows[0], strict=False)]
        return f"One row: {', '.join(pairs)}.{cut}"
    return f"{len(rows)} rows with columns {', '.join(columns)}.{cut}"


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def lead_sentences(text: str, limit: int = 240) -> str:
    """The first sentences of ``text`` that fit in ``limit`` characters (at least one, cut)."""
    kept: list[str] = []
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        if kept and len(" ".join([*kept, sentence])) > limit:
            break
        kept.append(sentence)
    lead = " ".join(kept)
    return lead if len(lead) <= limit else lead[: limit - 1].rstrip() + "…"
