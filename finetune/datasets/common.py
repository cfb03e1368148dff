"""Constants and building blocks: families, candidates, held-out choices, sampling and splits."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specialists import TRAINABLE

SPECIALISTS_WITH_DATA: tuple[str, ...] = TRAINABLE
"""The specialists that have generated datasets: the registry's trainable ones."""

SPLITS: tuple[str, ...] = ("train", "heldout")
"""The two splits written for each specialist."""

DATA_DIR: Path = Path(__file__).resolve().parent.parent / "data"
"""Where the committed datasets live: ``<specialist>/<split>.jsonl`` and the manifest."""

MANIFEST_NAME = "manifest.json"
"""The manifest's file name inside the data directory."""

DEFAULT_SEED = 20261126
"""Seed used when none is given; the committed files are generated from it."""

GENERATOR_VERSION = "3"
"""Changes whenever the generator writes different files for the same seed."""

SANDBOX_ANCHOR = dt.date(2026, 11, 26)
"""The day the sandbox org's dates and date literals are laid around during generation."""

ENTITY_SEPARATOR = " | "
"""Separates the entity values of an example that names several (``industry=Retail | ...``)."""

NO_ENTITY = "-"
"""The ``entity`` of an example that names no entity value."""

TRAIN_SIZE = 3300
"""Training examples aimed at per specialist (at scale 1.0, before drops)."""

HELDOUT_SIZE = 240
"""Held-out examples aimed at per specialist (at scale 1.0, before drops)."""

GOLD_ROWS = 20
"""Most result rows stored with a SQL example."""

HELDOUT_FRACTION = 0.2
"""Share of each kind of entity value kept for held-out (kinds with at least four values)."""

_SQL_TIMEOUT_S = 10.0
_SF_ROW_LIMIT = 2000
_MAX_INSTRUCTION = 300
_MAX_LITERAL = 60
_TOP_N = (3, 5, 10)


# ------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """One concrete intent of a family: what its phrasings are filled with, and its gold."""

    fill: Mapping[str, str]
    entity: tuple[str, ...]
    target: str


@dataclass(frozen=True)
class _Family:
    """An intent with several phrasings; each phrasing's index is its template id."""

    name: str
    phrasings: tuple[str, ...]
    slots: tuple[_Slot, ...]


@dataclass(frozen=True)
class _Candidate:
    """A request and its target before checking."""

    family: str
    template: str
    entity: tuple[str, ...]
    request: str
    target: str


@dataclass
class _Checked:
    """A target that passed its checks, with the gold data to store next to it."""

    extra: dict[str, Any]


_Check = Callable[[_Candidate], tuple[_Checked | None, str | None]]
"""Checks one candidate: the gold data to keep, or None and the reason to drop it."""

_Add = Callable[[str, Sequence[str], Iterable[_Slot]], None]
"""Adds one family (its name, phrasings and slots) to the families being built."""


@dataclass
class _SplitResult:
    """The examples kept for one split and the reasons others were dropped."""

    examples: list[tuple[_Candidate, _Checked]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)


class _HeldOut:
    """Decides which template ids and entity values only held-out examples may use."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._entities: dict[str, bool] = {}
        self.templates: dict[tuple[str, str], set[str]] = {}
        """(specialist, family) -> its held-out template ids."""

    def register_entities(self, kind: str, values: Iterable[str]) -> None:
        """Hold out about :data:`HELDOUT_FRACTION` of ``values`` of ``kind``.

        Values seen in an earlier call keep their decision, so a kind shared by the SQL
        database and the Salesforce org (industry, country) is held out consistently.
        """
        parts = [f"{kind}={value}" for value in sorted(dict.fromkeys(values))]
        undecided = [part for part in parts if part not in self._entities]
        if len(parts) < 4:
            self._entities.update(dict.fromkeys(undecided, False))
            return
        wanted = max(1, round(len(parts) * HELDOUT_FRACTION))
        already = sum(self._entities.get(part, False) for part in parts)
        picks = set(self._rng.sample(undecided, k=max(0, min(len(undecided), wanted - already))))
        for part in undecided:
            self._entities[part] = part in picks

    def register_family(
        self, specialist: str, family: str, templates: Sequence[str], keep: Sequence[str] = ()
    ) -> None:
        """Hold out one of the ``templates`` of a family (when it has at least three).

        Templates in ``keep`` are never held out (a plain one-clause request must be trained).
        """
        choices = [template for template in templates if template not in keep]
        held = {self._rng.choice(choices)} if len(templates) >= 3 and choices else set()
        self.templates[(specialist, family)] = held

    def reseed(self, rng: random.Random) -> random.Random:
        """Draw later decisions from ``rng``; returns the generator used until now."""
        previous, self._rng = self._rng, rng
        return previous

    def entity_held(self, part: str) -> bool:
        """Whether the entity value ``part`` (``kind=value``) is held out."""
        return self._entities.get(part, False)

    def is_heldout(self, specialist: str, candidate: _Candidate) -> bool:
        """Whether ``candidate`` belongs to held-out: a held-out template or entity value."""
        held = self.templates.get((specialist, candidate.family), set())
        return candidate.template in held or any(
            self.entity_held(part) for part in candidate.entity
        )

    def heldout_templates(self, specialist: str) -> list[list[str]]:
        """``[family, template]`` of every held-out template of ``specialist``, sorted."""
        return sorted(
            [family, template]
            for (owner, family), templates in self.templates.items()
            if owner == specialist
            for template in templates
        )

    def heldout_entities(self) -> list[str]:
        """Every held-out entity value, sorted."""
        return sorted(part for part, held in self._entities.items() if held)

    def register_entities_from(self, rng: random.Random, register: Callable[[], None]) -> None:
        """Run ``register`` with decisions drawn from ``rng``, leaving the own stream as it was."""
        previous = self.reseed(rng)
        try:
            register()
        finally:
            self.reseed(previous)


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def _lit(value: str) -> str:
    return f"'{value}'"


def _plain(value: object) -> bool:
    """Whether ``value`` can be written as a grammar string literal (and a SOQL one)."""
    return (
        isinstance(value, str)
        and bool(value)
        and len(value) <= _MAX_LITERAL
        and not any(char in value for char in "'\"\\\n|")
    )


def _candidates(families: Sequence[_Family]) -> dict[str, list[_Candidate]]:
    """Every (slot, phrasing) pair of each family, one request per distinct text."""
    seen: set[str] = set()
    found: dict[str, list[_Candidate]] = {}
    for family in families:
        rows = found.setdefault(family.name, [])
        for slot in family.slots:
            for index, phrasing in enumerate(family.phrasings):
                request = _sentence(phrasing.format(**slot.fill))
                if request in seen:
                    continue
                seen.add(request)
                rows.append(_Candidate(family.name, f"t{index}", slot.entity, request, slot.target))
    return found


def _quotas(available: Mapping[str, int], total: int) -> dict[str, int]:
    """Share ``total`` over families as evenly as their sizes allow (water filling)."""
    names = sorted(available)
    if not names or total <= 0:
        return dict.fromkeys(names, 0)
    if sum(available.values()) <= total:
        return {name: available[name] for name in names}
    low, high = 0, max(available.values())
    while low < high:
        middle = (low + high + 1) // 2
        if sum(min(available[name], middle) for name in names) <= total:
            low = middle
        else:
            high = middle - 1
    quotas = {name: min(available[name], low) for name in names}
    rest = total - sum(quotas.values())
    for name in names:
        if rest <= 0:
            break
        if available[name] > quotas[name]:
            quotas[name] += 1
            rest -= 1
    return quotas


def _select(
    pools: Mapping[str, list[_Candidate]],
    total: int,
    rng: random.Random,
    check: _Check,
) -> _SplitResult:
    """Take about ``total`` checked examples, spread over the families of ``pools``.

    Each family's candidates are shuffled and checked in that order until its quota is met;
    a candidate that fails its check is dropped (counted by reason) and the next one is tried.
    """
    result = _SplitResult()
    quotas = _quotas({name: len(rows) for name, rows in pools.items()}, total)
    for name in sorted(pools):
        rows = list(pools[name])
        rng.shuffle(rows)
        kept = 0
        for candidate in rows:
            if kept >= quotas[name]:
                break
            checked, reason = check(candidate)
            if checked is None:
                result.dropped[reason or "unknown"] += 1
                continue
            result.examples.append((candidate, checked))
            kept += 1
    return result


def _split_pools(
    specialist: str, families: Sequence[_Family], heldout: _HeldOut
) -> tuple[dict[str, list[_Candidate]], dict[str, list[_Candidate]]]:
    """Register each family's held-out template and sort its candidates into the two splits."""
    train: dict[str, list[_Candidate]] = {}
    held: dict[str, list[_Candidate]] = {}
    for family in families:
        ids = [f"t{index}" for index in range(len(family.phrasings))]
        heldout.register_family(specialist, family.name, ids)
    for name, rows in _candidates(families).items():
        for candidate in rows:
            pool = held if heldout.is_heldout(specialist, candidate) else train
            pool.setdefault(name, []).append(candidate)
    return train, held


def _shared_words(names: Sequence[str]) -> list[str]:
    """Capitalised words of four letters or more that occur in at least two of ``names``."""
    counts: Counter[str] = Counter()
    for name in names:
        words = {word for word in name.split() if word.isalpha() and len(word) >= 4}
        counts.update(word for word in words if word[0].isupper())
    return sorted(word for word, count in counts.items() if count >= 2)


def _thresholds(sizes: Sequence[int], step: int = 5) -> list[int]:
    """A few round counts that some, but not all, groups exceed."""
    rounded = sorted({size // step * step for size in sizes if size // step * step >= step})
    usable = [value for value in rounded if value < max(sizes)]
    return usable[-4:] if len(usable) > 4 else usable


def _or_list(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def entity_parts(entity: str) -> list[str]:
    """The entity values (``kind=value``) an example's ``entity`` field names."""
    return [] if entity == NO_ENTITY else entity.split(ENTITY_SEPARATOR)
