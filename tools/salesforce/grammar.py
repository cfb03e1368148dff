"""A llama.cpp GBNF grammar of the actions a model may write against one org.

:func:`action_grammar` turns the ``describe()`` of each object a client may use into a
grammar of the JSON the Salesforce specialist writes (``{"action": {...}}`` or the
decline), spaced as ``json.dumps`` spaces it, as in every training example:

* **objects and fields are the org's**: a query names one object after ``FROM`` and, in its
  select list, conditions, GROUP BY and ORDER BY, only that object's fields and one-hop
  parent paths (``Account.Name`` from a Case). The select list comes before ``FROM``, so
  llama.cpp keeps one branch per object alive until the fields written so far rule the
  others out; a get's ``fields``, a write's ``values`` and a describe name fields and
  objects the same way, and a create or update writes only createable or updateable
  fields;
* **values are typed by their field**: a picklist compared with ``=``, ``!=`` or ``IN`` (in
  SOQL) or written (in a create or update) is one of its active values, a boolean is
  ``true`` or ``false``, a number a number, a date an ISO date or a SOQL date literal, and
  text stays free;
* **record Ids come from the request**: the Id of a get, update or delete, and a reference
  field's value, is one of ``ids`` with the key prefix of its object; when ``ids`` holds
  none, any Id of that prefix may be written, and the runtime's own check refuses it
  (a record is never guessed).

The grammar admits a subset of what the validator accepts (no semi-joins, no child
subqueries, no functions other than the aggregates): whatever it lets through is still
checked by :meth:`tools.salesforce.SalesforceClient.validate_action` before it runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["DECLINE_JSON", "KINDS", "action_grammar"]

KINDS: Final = ("query", "get", "create", "update", "delete", "describe")
"""Every action kind, in the order the grammar lists them."""

DECLINE_JSON: Final = '{"decline": "cannot answer from this org"}'
"""The decline, exactly as the grammar writes it."""

_NUMERIC: Final = frozenset({"currency", "double", "int", "percent", "long"})
_ID_TYPES: Final = frozenset({"id", "reference"})
_MAX_ITEMS: Final = 12
_MAX_CONDITIONS: Final = 5
_MAX_LIST: Final = 10
_MAX_TEXT: Final = 120

_DATE_LITERALS: Final = (
    "YESTERDAY TODAY TOMORROW LAST_WEEK THIS_WEEK NEXT_WEEK LAST_MONTH THIS_MONTH "
    "NEXT_MONTH LAST_90_DAYS NEXT_90_DAYS THIS_QUARTER LAST_QUARTER NEXT_QUARTER THIS_YEAR "
    "LAST_YEAR NEXT_YEAR THIS_FISCAL_QUARTER LAST_FISCAL_QUARTER NEXT_FISCAL_QUARTER "
    "THIS_FISCAL_YEAR LAST_FISCAL_YEAR NEXT_FISCAL_YEAR"
).split()
_DATE_N_LITERALS: Final = (
    "LAST_N_DAYS NEXT_N_DAYS N_DAYS_AGO LAST_N_WEEKS NEXT_N_WEEKS N_WEEKS_AGO LAST_N_MONTHS "
    "NEXT_N_MONTHS N_MONTHS_AGO LAST_N_QUARTERS NEXT_N_QUARTERS N_QUARTERS_AGO "
    "LAST_N_YEARS NEXT_N_YEARS N_YEARS_AGO"
).split()


def _quote(text: str) -> str:
    """``text`` as a GBNF string literal."""
    return json.dumps(text, ensure_ascii=False)


def _json_inner(text: str) -> str:
    """``text`` as it stands between the quotes of a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


# Rules shared by every object.
_COMMON = rf"""
cmp ::= " = " | " != " | " < " | " <= " | " > " | " >= "
eq ::= " = " | " != "
sq ::= "'" schar{{0,{_MAX_TEXT}}} "'"
schar ::= [^'\\"\x00-\x1f] | "\\\\'"
num ::= "-"? [0-9]{{1,15}} ("." [0-9]{{1,4}})?
date ::= [0-9]{{4}} "-" [0-9]{{2}} "-" [0-9]{{2}}
datetime ::= date "T" [0-9]{{2}} ":" [0-9]{{2}} ":" [0-9]{{2}} "Z"
dlit ::= {" | ".join(_quote(name) for name in _DATE_LITERALS)} |
  ({" | ".join(_quote(name) for name in _DATE_N_LITERALS)}) ":" [0-9]{{1,4}}
limit ::= " LIMIT " [1-9] [0-9]{{0,3}} (" OFFSET " [0-9]{{1,4}})?
alias ::= " " [a-z] [a-zA-Z0-9_]{{0,20}}
jstr ::= "\"" jchar{{0,{_MAX_TEXT * 4}}} "\""
jchar ::= [^"\\\x00-\x1f] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{{4}})
jnum ::= "-"? [0-9]{{1,15}} ("." [0-9]{{1,4}})?
jdate ::= "\"" date "\""
jdatetime ::= "\"" datetime "\""
jbool ::= "true" | "false"
idchar ::= [a-zA-Z0-9]
"""


def _alternatives(options: Iterable[str]) -> str:
    return " | ".join(options)


@dataclass(frozen=True)
class _Field:
    """One field a query, a get or a write may name: its path and how its values look."""

    path: str
    type: str
    picklist: tuple[str, ...]
    id_prefixes: tuple[str, ...]
    nillable: bool
    createable: bool
    updateable: bool
    aggregatable: bool
    groupable: bool


def _fields(describe: Mapping[str, Any], prefixes: Mapping[str, str]) -> list[_Field]:
    found: list[_Field] = []
    own_prefix = str(describe.get("keyPrefix") or "")
    for spec in describe.get("fields") or []:
        kind = str(spec.get("type") or "string")
        if kind == "id":
            targets: tuple[str, ...] = (own_prefix,) if own_prefix else ()
        else:
            targets = tuple(
                prefixes[str(name)] for name in spec.get("referenceTo") or [] if name in prefixes
            )
        found.append(
            _Field(
                path=str(spec["name"]),
                type=kind,
                picklist=tuple(
                    str(entry["value"])
                    for entry in spec.get("picklistValues") or []
                    if entry.get("active", True) and entry.get("value")
                ),
                id_prefixes=targets,
                nillable=bool(spec.get("nillable", True)),
                createable=bool(spec.get("createable", False)),
                updateable=bool(spec.get("updateable", False)),
                aggregatable=bool(spec.get("aggregatable", True)),
                groupable=bool(spec.get("groupable", True)),
            )
        )
    return found


def _parent_paths(describe: Mapping[str, Any], objects: Mapping[str, list[_Field]]) -> list[_Field]:
    """One-hop paths through each single-target reference to an object in ``objects``."""
    paths: list[_Field] = []
    for spec in describe.get("fields") or []:
        relationship = spec.get("relationshipName")
        targets = [name for name in spec.get("referenceTo") or [] if name in objects]
        if not relationship or len(spec.get("referenceTo") or []) != 1 or not targets:
            continue
        for parent in objects[targets[0]]:
            paths.append(
                _Field(
                    path=f"{relationship}.{parent.path}",
                    type=parent.type,
                    picklist=parent.picklist,
                    id_prefixes=parent.id_prefixes,
                    nillable=True,
                    createable=False,
                    updateable=False,
                    aggregatable=parent.aggregatable,
                    groupable=parent.groupable,
                )
            )
    return paths


class _Writer:
    """Collects GBNF rules under short numbered names."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.rules: list[str] = []
        self.ids = list(dict.fromkeys(ids))
        self._id_rules: dict[str, str] = {}

    def add(self, name: str, body: str) -> str:
        self.rules.append(f"{name} ::= {body}")
        return name

    def id_rule(self, prefixes: Sequence[str]) -> str:
        """A record Id of one of ``prefixes``: one of the request's if it holds one."""
        key = ",".join(prefixes)
        if key in self._id_rules:
            return self._id_rules[key]
        held = [i for i in self.ids if any(i.startswith(p) for p in prefixes if p)]
        if held:
            body = _alternatives(_quote(i) for i in held)
        elif any(prefixes):
            body = (
                "(" + _alternatives(_quote(p) for p in prefixes if p) + ") idchar{12} (idchar{3})?"
            )
        else:
            body = "idchar{15} (idchar{3})?"
        name = self.add(f"id{len(self._id_rules)}", body)
        self._id_rules[key] = name
        return name


def _soql_value(value: str) -> str:
    """A picklist value as a SOQL literal between the quotes of the JSON string."""
    return _json_inner("'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'")


def _condition(w: _Writer, prefix: str, field: _Field) -> str:
    """The rule of the conditions SOQL may put on ``field``."""
    name = _quote(field.path)
    null = f'{name} eq "null"'
    if field.type in ("picklist", "multipicklist") and field.picklist:
        values = w.add(f"{prefix}v", _alternatives(_quote(_soql_value(v)) for v in field.picklist))
        options = [
            f"{name} eq {values}",
            f'{name} " NOT"? " IN (" {values} (", " {values}){{0,{_MAX_LIST - 1}}} ")"',
        ]
    elif field.type in _ID_TYPES:
        ident = w.id_rule(field.id_prefixes)
        quoted = f'"\'" {ident} "\'"'
        options = [
            f"{name} eq {quoted}",
            f'{name} " NOT"? " IN (" {quoted} (", " {quoted}){{0,{_MAX_LIST - 1}}} ")"',
        ]
    elif field.type in _NUMERIC:
        options = [f"{name} cmp num"]
    elif field.type == "boolean":
        return w.add(prefix, f'{name} eq ("true" | "false")')
    elif field.type == "date":
        options = [f"{name} cmp (date | dlit)"]
    elif field.type == "datetime":
        options = [f"{name} cmp (datetime | dlit)"]
    else:
        options = [
            f"{name} eq sq",
            f'{name} " LIKE " sq',
            f'{name} " NOT"? " IN (" sq (", " sq){{0,{_MAX_LIST - 1}}} ")"',
        ]
    return w.add(prefix, _alternatives([*options, null]))


def _query_rules(w: _Writer, o: str, sobject: str, fields: list[_Field]) -> str:
    """The SOQL over ``sobject``: select list, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT."""
    paths = w.add(f"{o}p", _alternatives(_quote(f.path) for f in fields))
    summed = [f for f in fields if f.aggregatable and f.type in _NUMERIC]
    ordered = [f for f in fields if f.aggregatable and f.type in _NUMERIC | {"date", "datetime"}]
    aggregate_parts = ['"COUNT(" ("Id" | ' + paths + ') ")"', '"COUNT_DISTINCT(" ' + paths + ' ")"']
    if summed:
        numeric = w.add(f"{o}n", _alternatives(_quote(f.path) for f in summed))
        aggregate_parts.append(f'("SUM" | "AVG") "(" {numeric} ")"')
    if ordered:
        comparable = w.add(f"{o}m", _alternatives(_quote(f.path) for f in ordered))
        aggregate_parts.append(f'("MIN" | "MAX") "(" {comparable} ")"')
    aggregate = w.add(f"{o}a", _alternatives(aggregate_parts))
    item = w.add(f"{o}i", f"{paths} | {aggregate} alias?")
    select = w.add(f"{o}s", f'"COUNT()" | {item} (", " {item}){{0,{_MAX_ITEMS - 1}}}')
    conditions = [_condition(w, f"{o}c{n}", f) for n, f in enumerate(fields)]
    condition = f"{o}c"
    w.add(
        condition,
        _alternatives(
            [
                *conditions,
                f'"(" {condition} ((" AND " | " OR ") {condition}){{1,3}} ")"',
                f'"NOT " {condition}',
            ]
        ),
    )
    where = w.add(
        f"{o}w",
        f'" WHERE " {condition} ((" AND " | " OR ") {condition}){{0,{_MAX_CONDITIONS - 1}}}',
    )
    groupable = [f for f in fields if f.groupable]
    group = ""
    if groupable:
        grouped = w.add(f"{o}g", _alternatives(_quote(f.path) for f in groupable))
        group = w.add(
            f"{o}gb",
            f'" GROUP BY " {grouped} (", " {grouped}){{0,2}} (" HAVING " {aggregate} cmp num)?',
        )
    key = w.add(
        f"{o}k",
        f'({paths} | {aggregate}) (" ASC" | " DESC")? (" NULLS FIRST" | " NULLS LAST")?',
    )
    order = w.add(f"{o}o", f'" ORDER BY " {key} (", " {key}){{0,2}}')
    clauses = f"{where}? " + (f"{group}? " if group else "") + f"{order}? limit?"
    return w.add(f"{o}q", f'"SELECT " {select} {_quote(" FROM " + sobject)} {clauses}')


def _value_rule(w: _Writer, name: str, field: _Field, *, clear: bool) -> str:
    """One ``"Field": value`` pair of a create (or, with ``clear``, an update)."""
    key = _quote(json.dumps(field.path) + ": ")
    if field.type in ("picklist", "multipicklist") and field.picklist:
        value = _alternatives(_quote(json.dumps(v)) for v in field.picklist)
        value = f"({value})"
    elif field.type in _ID_TYPES:
        value = f'"\\"" {w.id_rule(field.id_prefixes)} "\\""'
    elif field.type in _NUMERIC:
        value = "jnum"
    elif field.type == "boolean":
        value = "jbool"
    elif field.type == "date":
        value = "jdate"
    elif field.type == "datetime":
        value = "jdatetime"
    else:
        value = "jstr"
    if clear and field.nillable:
        value = f'({value} | "null")'
    return w.add(name, f"{key} {value}")


def action_grammar(
    objects: Mapping[str, Mapping[str, Any]],
    *,
    kinds: Sequence[str] = KINDS,
    ids: Sequence[str] = (),
    decline: bool = True,
) -> str:
    """The GBNF grammar of one action of ``kinds`` against the objects described.

    Args:
        objects: Object API name -> its ``describe()`` (``fields`` with ``name``,
            ``type``, ``picklistValues``, ``referenceTo``, ``relationshipName``,
            ``createable``, ``updateable``, ``nillable``; ``keyPrefix``).
        kinds: The action kinds allowed (a repair keeps the first attempt's).
        ids: Record Ids the request holds; an Id the action writes is one of them.
        decline: Whether the decline may be written instead of an action.

    Raises:
        ValueError: No object, or an unknown kind.
    """
    if not objects:
        raise ValueError("an action grammar needs at least one described object")
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        raise ValueError(f"unknown action kind(s): {', '.join(unknown) or 'none given'}")
    prefixes = {
        str(name): str(describe.get("keyPrefix") or "") for name, describe in objects.items()
    }
    own = {str(name): _fields(describe, prefixes) for name, describe in objects.items()}
    w = _Writer(ids)
    branches: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for number, (sobject, describe) in enumerate(sorted(objects.items())):
        o = f"o{number}"
        fields = own[sobject] + _parent_paths(describe, own)
        named = _quote(_json_inner(sobject) + '", ')
        record = w.id_rule((prefixes[sobject],))
        if "query" in kinds:
            branches["query"].append(_query_rules(w, o, sobject, fields))
        if "get" in kinds:
            listed = w.add(f"{o}f", _alternatives(_quote(json.dumps(f.path)) for f in fields))
            branches["get"].append(
                w.add(
                    f"{o}get",
                    f'{named} "\\"record_id\\": \\"" {record} "\\", \\"fields\\": [" '
                    f'({listed} (", " {listed}){{0,{_MAX_ITEMS * 2}}})? "]"',
                )
            )
        for kind, flag in (("create", "createable"), ("update", "updateable")):
            if kind not in kinds:
                continue
            settable = [f for f in own[sobject] if getattr(f, flag)]
            if not settable:
                continue
            pairs = [
                _value_rule(w, f"{o}set{kind[0]}{n}", f, clear=kind == "update")
                for n, f in enumerate(settable)
            ]
            pair = w.add(f"{o}set{kind[0]}", _alternatives(pairs))
            head = (
                f'{named} "\\"values\\": {{" '
                if kind == "create"
                else f'{named} "\\"record_id\\": \\"" {record} "\\", \\"values\\": {{" '
            )
            branches[kind].append(
                w.add(f"{o}{kind}", f'{head}{pair} (", " {pair}){{0,{_MAX_ITEMS * 2}}} "}}"')
            )
        if "delete" in kinds:
            branches["delete"].append(
                w.add(f"{o}del", f'{named} "\\"record_id\\": \\"" {record} "\\""')
            )
        if "describe" in kinds:
            branches["describe"].append(w.add(f"{o}des", _quote(_json_inner(sobject) + '"')))
    actions: list[str] = []
    for kind in KINDS:
        if not branches[kind]:
            continue
        if kind == "query":
            body = '"{\\"action\\": \\"query\\", \\"soql\\": \\"" soql "\\"}"'
            w.add("soql", _alternatives(branches["query"]))
        else:
            opening = _quote(f'{{"action": "{kind}", "sobject": "')
            body = f'{opening} ({_alternatives(branches[kind])}) "}}"'
        actions.append(w.add(f"act-{kind}", body))
    if not actions:
        raise ValueError("no object allows the action kind(s) asked for")
    root = f'"{{\\"action\\": " ({_alternatives(actions)}) "}}"'
    if decline:
        root += f" | {_quote(DECLINE_JSON)}"
    return "\n".join([f"root ::= {root}", *w.rules, _COMMON.strip()]) + "\n"
