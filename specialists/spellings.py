"""Values as people write them, shown to a specialist as the data writes them.

People write "canceled" where the column holds ``cancelled``, "mid market" for
``Mid-Market``, "enterprize" for ``Enterprise``, "the UK" for ``United Kingdom``. A
specialist decoding under a value-grounded grammar cannot write the value as the request
does, and a model that cannot write what it was about to write goes elsewhere (a filter on
another column, a dropped condition). So the request is shown to it with each such mention
written as the held value, read from the live data (:meth:`tools.sql.SqlDatabase.text_values`):

* the same letters and digits, whatever the case, spaces and hyphens ("mid market",
  "SMB", "usa");
* a word of six letters or more misspelt by about a letter ("retruned", "enterprize"),
  when one held value alone is that close;
* a few names that stand for a country in every database ("UK", "Holland", "the States"),
  when the database holds that country under one of its names.

A mention that differs only in case and is an everyday word ("other", "new") is left as
written, so that "any other customers" does not become a filter. The request as written is
kept everywhere else (the answer, the checkpoint).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

COUNTRY_NAMES: Final[Mapping[str, tuple[str, ...]]] = {
    "uk": ("United Kingdom", "UK", "Great Britain"),
    "britain": ("United Kingdom", "UK", "Great Britain"),
    "greatbritain": ("United Kingdom", "UK", "Great Britain"),
    "england": ("United Kingdom", "UK", "England"),
    "us": ("USA", "United States", "US"),
    "usa": ("USA", "United States", "US"),
    "unitedstates": ("USA", "United States", "US"),
    "thestates": ("USA", "United States", "US"),
    "holland": ("Netherlands", "The Netherlands"),
    "thenetherlands": ("Netherlands", "The Netherlands"),
    "deutschland": ("Germany",),
    "espana": ("Spain",),
}
"""Names that stand for a country (folded), and the names a database may hold it under."""

EVERYDAY: Final = frozenset(
    {"other", "new", "open", "closed", "none", "all", "any", "unknown", "active", "yes", "no",
     "high", "low", "medium", "us", "it", "in", "on", "one", "may"}
)  # fmt: skip
"""Words that are rarely a value when written in lower case; their case is left alone."""

MIN_FUZZY = 6
"""Shortest word (in letters) matched despite a misspelling."""

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['&.][A-Za-z0-9]+)*")


def fold(text: str) -> str:
    """``text`` in lower case with only its letters and digits ("Mid-Market" -> "midmarket")."""
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def _held_forms(values: Iterable[str]) -> dict[str, str]:
    forms: dict[str, str] = {}
    for value in values:
        folded = fold(value)
        if folded:
            forms.setdefault(folded, value)
    return forms


def _respelt(span: str, forms: Mapping[str, str], fuzzy: Sequence[str]) -> str | None:
    """The held value ``span`` (a run of 1-3 words) stands for, or None.

    A span already written as a held value stands for itself.
    """
    folded = fold(span)
    if span.islower() and span in EVERYDAY:
        return None
    if folded in forms:
        return forms[folded]
    for name in COUNTRY_NAMES.get(folded, ()):
        if fold(name) in forms:
            return forms[fold(name)]
    if len(folded) < MIN_FUZZY or not span.isalpha():
        return None
    near = [
        form
        for form in difflib.get_close_matches(folded, fuzzy, n=2, cutoff=0.85)
        if form[0] == folded[0] and abs(len(form) - len(folded)) <= 2
    ]
    return forms[near[0]] if len(near) == 1 else None


def spelled_as_held(request: str, values: Mapping[Any, Sequence[str]]) -> str:
    """``request`` with mentions of held values written as the data writes them.

    ``values`` maps each low-cardinality text column to the values it holds (any key).
    Longer mentions are read first, so "North America" stays itself and is not read as
    "North" and a country.
    """
    forms = _held_forms(value for texts in values.values() for value in texts)
    if not forms:
        return request
    fuzzy = [form for form in forms if len(form) >= MIN_FUZZY]
    tokens = list(_TOKEN.finditer(request))
    pieces: list[str] = []
    last = index = 0
    while index < len(tokens):
        for width in (3, 2, 1):
            if index + width > len(tokens):
                continue
            start, end = tokens[index].start(), tokens[index + width - 1].end()
            span = request[start:end]
            if width > 1 and not re.fullmatch(r"[A-Za-z0-9'&.]+(?:[ -][A-Za-z0-9'&.]+)*", span):
                continue
            held = _respelt(span, forms, fuzzy if width == 1 else ())
            if held is not None:
                pieces += [request[last:start], held]
                last, index = end, index + width
                break
        else:
            index += 1
    pieces.append(request[last:])
    return "".join(pieces)
