"""The intents of the Salesforce engine: their families and what each one means.

An :class:`Intent` holds its family, its entity string, the action it asks for and its
:class:`Meaning`: the parts a request puts into words (the object, the :class:`Condition`
filters, the fields, a measure, a record). :data:`FAMILIES` are the intents' shapes and
:data:`WEIGHTS` their shares of the records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypedDict

from pydantic import BaseModel

from finetune.engine.salesforce.profile import _NUMBER_TYPES, OrgProfile
from tools.salesforce import ActionRequest

FAMILIES: Final = (
    "list",
    "count",
    "aggregate",
    "group",
    "top",
    "parent",
    "lookup",
    "get",
    "create",
    "update",
    "delete",
    "describe",
)
"""The intent shapes: seven kinds of query, then get, the three writes and describe."""

WEIGHTS: Final[Mapping[str, float]] = {
    "list": 1.6,
    "count": 1.0,
    "aggregate": 0.8,
    "group": 1.0,
    "top": 0.8,
    "parent": 0.8,
    "lookup": 0.6,
    "get": 0.8,
    "create": 0.7,
    "update": 1.0,
    "delete": 0.5,
    "describe": 0.3,
}
"""The share of records each family gets (relative; a family that runs dry leaves its share)."""

ACTION_OF: Final[Mapping[str, str]] = {
    **{family: "query" for family in FAMILIES[:7]},
    **{family: family for family in FAMILIES[7:]},
}
"""The action kind each family's target holds."""


@dataclass(frozen=True)
class Condition:
    """One filter of a WHERE clause.

    ``kind`` is one of ``eq``, ``ne``, ``in``, ``not_in`` (text and picklists), ``prefix``,
    ``contains``, ``suffix`` (LIKE), ``gt``, ``lt``, ``between`` (numbers), ``literal``,
    ``since``, ``before``, ``year`` (dates), ``true``, ``false`` (booleans), ``null``,
    ``notnull`` and ``ref`` (a reference field equal to a parent's Id).
    """

    kind: str
    path: str
    """The field as SOQL names it: ``Industry``, ``Account.Industry``."""
    type: str
    """The field's describe type."""
    values: tuple[Any, ...] = ()

    def soql(self) -> str:
        """The condition in SOQL."""
        p, v, kind = self.path, self.values, self.kind
        simple = {"eq": "=", "ne": "!=", "gt": ">", "lt": "<", "ref": "="}
        if kind in simple:
            return f"{p} {simple[kind]} {_soql_value(self.type, v[0])}"
        if kind in ("in", "not_in"):
            word = "IN" if kind == "in" else "NOT IN"
            return f"{p} {word} ({', '.join(_soql_value(self.type, x) for x in v)})"
        if kind == "prefix":
            return f"{p} LIKE '{v[0]}%'"
        if kind == "contains":
            return f"{p} LIKE '%{v[0]}%'"
        if kind == "suffix":
            return f"{p} LIKE '%{v[0]}'"
        if kind == "between":
            return f"{p} >= {_number(v[0])} AND {p} <= {_number(v[1])}"
        if kind == "literal":
            return f"{p} = {v[0]}"
        if kind in ("since", "before"):
            day = f"{v[0]}T00:00:00Z" if self.type == "datetime" else str(v[0])
            return f"{p} {'>=' if kind == 'since' else '<'} {day}"
        if kind == "year":
            return f"CALENDAR_YEAR({p}) = {v[0]}"
        if kind in ("null", "notnull"):
            return f"{p} {'=' if kind == 'null' else '!='} null"
        if kind in ("true", "false"):
            return f"{p} = {kind}"
        raise ValueError(f"unknown condition kind {kind!r}")

    @property
    def entity(self) -> str:
        """The condition as a record's ``entity`` field writes it."""
        signs = {"gt": ">", "lt": "<", "ne": "!=", "since": ">=", "before": "<"}
        if self.kind in ("null", "notnull", "true", "false"):
            return f"{self.path}={self.kind}"
        if self.kind in signs:
            return f"{self.path}{signs[self.kind]}{self.values[0]}"
        if self.kind in ("prefix", "contains", "suffix", "not_in", "year"):
            return f"{self.path}~{self.kind}=" + "/".join(str(x) for x in self.values)
        return f"{self.path}=" + "/".join(str(x) for x in self.values)


@dataclass(frozen=True)
class Meaning:
    """What an intent asks for, in the parts its phrasing puts into words."""

    family: str
    """The intent's family (one of :data:`FAMILIES`)."""
    variant: str
    """The variant of the family, e.g. ``having`` or ``by_parent_id``."""
    sobject: str
    """The object the action is on."""
    conditions: tuple[Condition, ...] = ()
    """Filters, all of which hold (AND)."""
    either: tuple[Condition, Condition] | None = None
    """Two filters of which one holds (OR), with ``conditions``."""
    fields: tuple[str, ...] = ()
    """Fields asked for: shown by a query, read by a get."""
    measure: tuple[str, str] | None = None
    """An aggregate ``(function, path)``: ``("SUM", "Amount")``, ``("COUNT", "Id")``."""
    group: str | None = None
    """The path rows are grouped by (a date's year when ``variant`` ends in ``year``)."""
    having: int | None = None
    """A lower bound on the group size (``HAVING COUNT(Id) > n``)."""
    order: tuple[str, str] | None = None
    """``(path, "DESC" or "ASC")`` the rows are ranked by."""
    limit: int | None = None
    """How many rows or groups a top-k keeps."""
    record_id: str | None = None
    """The record a get, update or delete names."""
    record_name: str | None = None
    """That record's name, when the request may say it."""
    values: tuple[tuple[str, Any], ...] = ()
    """The field values a create or update sets, in target order."""


class Intent(TypedDict):
    """One composed intent: its family, entity string, action and meaning."""

    family: str
    entity: str
    action: dict[str, Any]
    """The action as ``ActionRequest(...).model_dump(mode="json")["action"]`` gives it."""
    meaning: Meaning


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, int | float) and value == int(value) else str(value)


def _soql_value(ftype: str, value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if ftype in _NUMBER_TYPES:
        return _number(value)
    return f"'{value}'"


def target_of(action: BaseModel) -> str:
    """The record's ``target``: ``{"action": {...}}`` in the model's field order."""
    return json.dumps(ActionRequest.model_validate({"action": action}).model_dump(mode="json"))


def _ids_of(profile: OrgProfile, meaning: Meaning) -> list[str]:
    """Every record Id the target holds: the record's, references' and those in filters."""
    found = [meaning.record_id] if meaning.record_id else []
    obj = profile.objects[meaning.sobject]
    found += [
        str(v)
        for name, v in meaning.values
        if isinstance(v, str) and name in obj.fields and obj.fields[name].type == "reference"
    ]
    conditions = [*meaning.conditions, *(meaning.either or ())]
    found += [str(c.values[0]) for c in conditions if c.kind == "ref"]
    return list(dict.fromkeys(found))


def _next_family(made: Mapping[str, int], closed: set[str]) -> str | None:
    """The open family furthest below its share of :data:`WEIGHTS`."""
    open_families = [f for f in FAMILIES if f not in closed]
    if not open_families:
        return None
    return min(open_families, key=lambda f: (made.get(f, 0) / WEIGHTS[f], FAMILIES.index(f)))
