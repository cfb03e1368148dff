"""What a SOQL query may contain here: clause and object allow-lists, size limits.

:mod:`tools.salesforce` checks every query the specialist writes against these lists before
it reaches the org, and rejects anything not on them (fail closed):

- **Size.** A query is at most :data:`MAX_SOQL_LENGTH` characters, nests parentheses at
  most :data:`MAX_SOQL_NESTING` deep and joins at most :data:`MAX_SOQL_CONDITIONS`
  conditions with AND / OR / NOT. The limits are checked on the tokens, before anything is
  parsed, so that no query can exhaust the parser's recursion.
- **Clauses.** A read query has ``SELECT``, ``FROM``, ``USING SCOPE`` (one of
  :data:`USING_SCOPES`), ``WHERE``, ``WITH`` (one of :data:`WITH_CLAUSES`), ``GROUP BY``,
  ``HAVING``, ``ORDER BY ... ASC|DESC NULLS FIRST|LAST``, ``LIMIT`` and ``OFFSET``; every
  other clause is refused, by name. :data:`SIDE_EFFECT_CLAUSES` explains the ones that
  write: ``FOR VIEW`` / ``FOR REFERENCE`` stamp the records' last-viewed / last-referenced
  dates, ``FOR UPDATE`` locks them, ``UPDATE TRACKING`` / ``UPDATE VIEWSTAT`` record article
  statistics.
- **SOQL's own limits.** ``OFFSET`` at most :data:`MAX_OFFSET`; ``FIELDS(ALL)`` and
  ``FIELDS(CUSTOM)`` need a ``LIMIT`` of at most :data:`MAX_FIELDS_ALL_LIMIT`; ``LIMIT``
  and ``OFFSET`` are whole numbers from 0 up.
- **Objects.** Only the objects of :data:`DEFAULT_OBJECTS` (the ones the specialist is
  trained for) unless the client is configured otherwise (``allowed_objects``, or the
  ``SF_OBJECTS`` environment variable, see :func:`parse_objects`).

``WITH SECURITY_ENFORCED`` and ``WITH USER_MODE`` are allowed: both only narrow what the
query returns to what the running user may see. ``WITH SYSTEM_MODE`` (an elevation, and
Apex-only), ``WITH DATA CATEGORY`` (Knowledge articles) and every other ``WITH`` filter are
refused. ``GROUP BY ROLLUP(...)`` / ``CUBE(...)`` are plain reads and allowed; their fields
are checked like any other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "ALL_OBJECTS",
    "DEFAULT_OBJECTS",
    "MAX_FIELDS_ALL_LIMIT",
    "MAX_OFFSET",
    "MAX_SOQL_CONDITIONS",
    "MAX_SOQL_LENGTH",
    "MAX_SOQL_NESTING",
    "OBJECTS_ENV_VAR",
    "SIDE_EFFECT_CLAUSES",
    "USING_SCOPES",
    "WITH_CLAUSES",
    "parse_objects",
]

MAX_SOQL_LENGTH: Final = 4000
"""The most characters a query may have (the action grammar allows no more either)."""

MAX_SOQL_NESTING: Final = 12
"""The deepest nesting of parentheses (functions, subqueries, grouped conditions)."""

MAX_SOQL_CONDITIONS: Final = 200
"""The most AND / OR / NOT operators in one query."""

MAX_OFFSET: Final = 2000
"""SOQL's largest OFFSET."""

MAX_FIELDS_ALL_LIMIT: Final = 200
"""The largest LIMIT a query with FIELDS(ALL) or FIELDS(CUSTOM) may have (SOQL's rule)."""

USING_SCOPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "everything": "everything",
        "mine": "mine",
        "team": "team",
        "delegated": "delegated",
        "my_territory": "my_territory",
        "my_team_territory": "my_team_territory",
    }
)
"""``USING SCOPE`` values allowed (lower-case as written -> the documented spelling).

Salesforce also knows ``mine_and_my_groups`` (ProcessInstanceWorkItem only) and
``scopingRule`` (scoping rules an admin set up); neither applies to the objects here.
"""

WITH_CLAUSES: Final = frozenset({"SECURITY_ENFORCED", "USER_MODE"})
"""``WITH`` clauses allowed: both only narrow the result to what the user may see."""

SIDE_EFFECT_CLAUSES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "FOR VIEW": "it stamps the records' LastViewedDate",
        "FOR REFERENCE": "it stamps the records' LastReferencedDate",
        "FOR UPDATE": "it locks the records",
        "UPDATE TRACKING": "it records article search statistics",
        "UPDATE VIEWSTAT": "it updates article view statistics",
    }
)
"""Clauses that make a query write, with what each one writes."""

DEFAULT_OBJECTS: Final = frozenset({"Account", "Contact", "Opportunity", "Lead", "Case"})
"""The objects the Salesforce specialist is trained for: the default allow-list."""

ALL_OBJECTS: Final = "*"
"""In an allow-list (or ``SF_OBJECTS``): every object the org describes."""

OBJECTS_ENV_VAR: Final = "SF_OBJECTS"
"""The environment variable with the allow-list: ``Account,Contact`` or ``*``."""

_NAME_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def parse_objects(text: str | None) -> frozenset[str] | None:
    """Parse an object allow-list such as ``SF_OBJECTS`` holds.

    Args:
        text: Comma-separated object API names (``Account, Contact``), or ``*`` for every
            object the org describes; None or blank for the default.

    Returns:
        The names (``frozenset({"*"})`` for every object), or None for the default
        (:data:`DEFAULT_OBJECTS`).

    Raises:
        ValueError: An entry is not an object API name (the setting is refused rather
            than half applied).
    """
    if text is None or not text.strip():
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    if ALL_OBJECTS in names:
        return frozenset({ALL_OBJECTS})
    bad = [name for name in names if not _NAME_RE.fullmatch(name)]
    if bad:
        raise ValueError(
            f"{OBJECTS_ENV_VAR} lists object API names separated by commas (or `*` for "
            f"every object); {', '.join(repr(b) for b in bad[:3])} is not one"
        )
    return frozenset(names)
