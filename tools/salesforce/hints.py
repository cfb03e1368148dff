"""Pieces of validation messages: "did you mean" suggestions and shortened values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def _suggest(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> list[str]:
    """Return the candidates closest to ``name`` (case-insensitive), best first.

    Only candidates nearly as close as the best one are kept, so a clear winner is
    suggested alone.
    """
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    target = name.lower()
    scored = []
    for lower, original in by_lower.items():
        ratio = difflib.SequenceMatcher(None, target, lower).ratio()
        if ratio >= cutoff:
            scored.append((ratio, original))
    scored.sort(key=lambda item: -item[0])
    if not scored:
        return []
    best = scored[0][0]
    return [original for ratio, original in scored[:3] if best - ratio < 0.08]


def _did_you_mean(name: str, candidates: Iterable[str], *, quote: str = "`") -> str:
    found = _suggest(name, candidates)
    if not found:
        return ""
    if len(found) == 1:
        return f"; did you mean {quote}{found[0]}{quote}?"
    return "; did you mean one of " + ", ".join(f"{quote}{f}{quote}" for f in found) + "?"


def _short(value: Any, most: int = 40) -> str:
    text = str(value)
    return text if len(text) <= most else text[: most - 1] + "…"
