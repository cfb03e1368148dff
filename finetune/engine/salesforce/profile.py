"""The profile of a Salesforce org: per object its described fields and a sample of records.

:func:`read_org` describes each object once and reads a sample of its records, parent fields
included, with one SOQL query; the engine composes and phrases intents from what it read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from finetune.engine.phrasing import plural
from tools.salesforce import QueryAction, SalesforceClient, SalesforceError
from tools.salesforce_limits import MAX_SOQL_LENGTH

SAMPLE_RECORDS: Final = 200
"""Records read per object for the profile's sample values."""

MAX_LITERAL: Final = 60
"""Longest text written into a SOQL literal or a value."""

_SAMPLED_TYPES: Final = frozenset(
    {
        "id", "string", "picklist", "email", "phone", "url", "reference", "currency",
        "double", "int", "long", "percent", "date", "datetime", "boolean",
    }
)  # fmt: skip
_NUMBER_TYPES: Final = frozenset({"currency", "double", "int", "long", "percent"})
_TEXT_TYPES: Final = frozenset({"string", "email", "phone", "url"})
_DATE_TYPES: Final = frozenset({"date", "datetime"})
_NAME_RE: Final = re.compile(r"(Name|Subject|Title)$")
_PARENT_FIELDS: Final = 8
"""Most fields of one parent sampled through its relationship."""


@dataclass(frozen=True)
class FieldProfile:
    """One field as ``describe()`` lists it, with the values a sample of records holds."""

    name: str
    """The field's API name (for a parent field, its name on the parent)."""
    label: str
    """Its label."""
    type: str
    """Its describe type: string, picklist, currency, date, reference, boolean, ..."""
    owner: str
    """The object the field belongs to."""
    picklist: tuple[str, ...] = ()
    """The active picklist values, in describe order."""
    references: tuple[str, ...] = ()
    """The objects a reference field points at."""
    relationship: str | None = None
    """A reference field's relationship name (``Account`` for ``AccountId``)."""
    createable: bool = False
    """Whether a create may set it."""
    updateable: bool = False
    """Whether an update may set it."""
    nillable: bool = True
    """Whether it may be empty."""
    defaulted: bool = False
    """Whether the org fills it in on create."""
    filterable: bool = True
    """Whether WHERE may use it."""
    groupable: bool = True
    """Whether GROUP BY may use it."""
    sortable: bool = True
    """Whether ORDER BY may use it."""
    aggregatable: bool = True
    """Whether an aggregate may use it."""
    length: int = 0
    """The most characters a text field holds (0: no limit given)."""
    precision: int = 0
    """Digits of a number field."""
    scale: int = 0
    """Digits after the point of a number field."""
    digits: int = 0
    """Digits of an integer field."""
    values: tuple[Any, ...] = ()
    """The distinct non-null values of the sample, in the order first seen."""
    filled: int = 0
    """How many sampled records hold a value."""
    nulls: int = 0
    """How many sampled records hold none."""

    @property
    def is_number(self) -> bool:
        """A number field (currency, double, int, long, percent)."""
        return self.type in _NUMBER_TYPES

    @property
    def is_date(self) -> bool:
        """A date or datetime field."""
        return self.type in _DATE_TYPES

    @property
    def is_text(self) -> bool:
        """A text field a LIKE can search (string, email, phone, url)."""
        return self.type in _TEXT_TYPES

    @property
    def required(self) -> bool:
        """Whether a create must set it (as :meth:`SalesforceClient.validate_action` asks)."""
        return (
            self.createable and not self.nillable and not self.defaulted and self.type != "boolean"
        )

    @property
    def is_category(self) -> bool:
        """A picklist, or a text field whose sampled values repeat: one to filter and group by."""
        if self.type == "picklist":
            return bool(self.values)
        return (
            self.type == "string"
            and not _NAME_RE.search(self.name)
            and self.name not in ("FirstName", "LastName")
            and 2 <= len(self.values) <= 25
            and self.filled >= 2 * len(self.values)
        )


@dataclass
class ObjectProfile:
    """One object: its fields, its parents and a sample of its records."""

    name: str
    """The object's API name."""
    label: str
    """Its label."""
    label_plural: str
    """Its plural label."""
    key_prefix: str
    """The first three characters of its Ids."""
    fields: dict[str, FieldProfile]
    """Field API name -> the field, in describe order."""
    paths: dict[str, FieldProfile] = field(default_factory=dict)
    """Parent paths (``Account.Industry``) -> the parent's field, with the values the
    sampled records reach through it."""
    parents: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Relationship name -> (reference field, parent object), for parents in the profile."""
    records: tuple[dict[str, Any], ...] = ()
    """The sampled records: column (``Name``, ``Account.Name``) -> value."""
    createable: bool = True
    """Whether records may be created."""
    updateable: bool = True
    """Whether records may be updated."""
    deletable: bool = True
    """Whether records may be deleted."""

    @property
    def ids(self) -> tuple[str, ...]:
        """The Ids of the sampled records."""
        return tuple(str(r["Id"]) for r in self.records if r.get("Id"))

    @property
    def name_fields(self) -> tuple[str, ...]:
        """The fields that name a record: ``Name``, or first and last name, or a subject."""
        if "Name" in self.fields and self.fields["Name"].type == "string":
            return ("Name",)
        if "FirstName" in self.fields and "LastName" in self.fields:
            return ("FirstName", "LastName")
        for spec in self.fields.values():
            if spec.type == "string" and _NAME_RE.search(spec.name):
                return (spec.name,)
        return ()

    @property
    def display(self) -> tuple[str, ...]:
        """The fields a listing shows: the name fields and other required text (a company)."""
        names = self.name_fields
        extra = tuple(
            f.name
            for f in self.fields.values()
            if f.type == "string" and f.required and f.name not in names
        )
        shown = names + extra
        if not shown or (len(names) == 1 and self.fields[names[0]].nillable):
            shown = ("Id", *shown)
        return shown

    def record_name(self, record: Mapping[str, Any]) -> str | None:
        """The name a person calls ``record`` by, or None when it has none."""
        parts = [record.get(name) for name in self.name_fields]
        if not parts or any(not isinstance(p, str) or not _writable(p) for p in parts):
            return None
        return " ".join(str(p) for p in parts)

    def spec(self, path: str) -> FieldProfile:
        """The field at ``path``: one of the object's own or a parent path."""
        return self.fields[path] if path in self.fields else self.paths[path]


@dataclass
class OrgProfile:
    """The objects of an org, as :func:`read_org` read them."""

    objects: dict[str, ObjectProfile]
    """Object API name -> its profile, in the order asked for."""
    today: dt.date | None = None
    """The latest audit date seen (a lower bound of the org's day), if any."""


def _field_profile(owner: str, described: Mapping[str, Any]) -> FieldProfile:
    entries = described.get("picklistValues") or []
    return FieldProfile(
        name=str(described["name"]),
        label=str(described.get("label") or described["name"]),
        type=str(described.get("type") or "string"),
        owner=owner,
        picklist=tuple(
            str(e["value"]) for e in entries if e.get("active", True) and e.get("value")
        ),
        references=tuple(str(t) for t in described.get("referenceTo") or ()),
        relationship=described.get("relationshipName") or None,
        createable=bool(described.get("createable")),
        updateable=bool(described.get("updateable")),
        nillable=described.get("nillable") is not False,
        defaulted=bool(described.get("defaultedOnCreate")),
        filterable=described.get("filterable") is not False,
        groupable=described.get("groupable") is not False,
        sortable=described.get("sortable") is not False,
        aggregatable=described.get("aggregatable") is not False,
        length=int(described.get("length") or 0),
        precision=int(described.get("precision") or 0),
        scale=int(described.get("scale") or 0),
        digits=int(described.get("digits") or 0),
    )


def _with_sample(spec: FieldProfile, column: Sequence[Any]) -> FieldProfile:
    values = [_plain(v) for v in column if v is not None and v != ""]
    return replace(
        spec,
        values=tuple(dict.fromkeys(values)),
        filled=len(values),
        nulls=len(column) - len(values),
    )


def _plain(value: Any) -> Any:
    """A sampled value as the engine uses it: integral floats as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _sampled(spec: FieldProfile) -> bool:
    return spec.type in _SAMPLED_TYPES and spec.filterable


def read_org(client: SalesforceClient, objects: Iterable[str]) -> OrgProfile:
    """Read the profile of ``objects`` from the org behind ``client``.

    Each object is described once (``client.describe``); then one SOQL query reads up to
    :data:`SAMPLE_RECORDS` of its records (ordered by Id), with every filterable field of a
    plain type and, through each relationship to another profiled object, that parent's
    name, picklist and text fields.

    Args:
        client: A client for the org.
        objects: The objects' API names.

    Returns:
        The profile.

    Raises:
        SalesforceError: An object cannot be described.
    """
    names = list(dict.fromkeys(objects))
    described = {name: client.describe(name) for name in names}
    profiles: dict[str, ObjectProfile] = {}
    for name, body in described.items():
        canonical = str(body.get("name") or name)
        profiles[canonical] = ObjectProfile(
            name=canonical,
            label=str(body.get("label") or canonical),
            label_plural=str(body.get("labelPlural") or plural(canonical)),
            key_prefix=str(body.get("keyPrefix") or ""),
            fields={str(f["name"]): _field_profile(canonical, f) for f in body.get("fields") or []},
            createable=body.get("createable") is not False,
            updateable=body.get("updateable") is not False,
            deletable=body.get("deletable") is not False,
        )
    for profile in profiles.values():
        for spec in profile.fields.values():
            if (
                spec.type == "reference"
                and spec.relationship
                and len(spec.references) == 1
                and spec.references[0] in profiles
            ):
                profile.parents[spec.relationship] = (spec.name, spec.references[0])
    for profile in profiles.values():
        _sample(client, profile, profiles)
    stamps = [
        dt.date.fromisoformat(str(v)[:10])
        for p in profiles.values()
        for f in p.fields.values()
        if f.type == "datetime" and not f.createable and not f.updateable
        for v in f.values
        if isinstance(v, str) and re.match(r"\d{4}-\d{2}-\d{2}", v)
    ]
    return OrgProfile(profiles, max(stamps) if stamps else None)


def _sample(
    client: SalesforceClient, profile: ObjectProfile, profiles: Mapping[str, ObjectProfile]
) -> None:
    """Fill in the sampled records and values of ``profile`` (left empty if unreadable)."""
    own = ["Id", *(f.name for f in profile.fields.values() if _sampled(f) and f.name != "Id")]
    reached: dict[str, FieldProfile] = {}
    for relationship, (_, parent_name) in profile.parents.items():
        parent = profiles[parent_name]
        chosen = [
            f
            for f in parent.fields.values()
            if _sampled(f)
            and (f.name in parent.name_fields or f.type in ("picklist", "string"))
            and f.name != "Id"
        ][:_PARENT_FIELDS]
        for spec in chosen:
            reached[f"{relationship}.{spec.name}"] = spec

    def statement() -> str:
        columns = ", ".join([*own, *reached])
        return f"SELECT {columns} FROM {profile.name} ORDER BY Id LIMIT {SAMPLE_RECORDS}"

    soql = statement()
    while len(soql) > MAX_SOQL_LENGTH and (reached or len(own) > 1):
        if reached:  # parents' fields go first, then the object's last fields
            reached.pop(next(reversed(reached)))
        else:
            own.pop()
        soql = statement()
    try:
        result = client.run(QueryAction(soql=soql), row_limit=SAMPLE_RECORDS)
    except SalesforceError:
        return
    records = tuple(dict(zip(result.columns, row, strict=False)) for row in result.rows)
    profile.records = records
    for name in own:
        profile.fields[name] = _with_sample(profile.fields[name], [r.get(name) for r in records])
    for path, spec in reached.items():
        profile.paths[path] = _with_sample(spec, [r.get(path) for r in records])


def _writable(text: str) -> bool:
    """Whether a text can go into a literal and a request as it is."""
    return (
        0 < len(text) <= MAX_LITERAL
        and not any(ch in text for ch in "'\\\n\r\t\"%_")
        and text == text.strip()
    )


def obj_name_fields(profile: OrgProfile, name: str) -> tuple[str, ...]:
    """The name fields of object ``name`` (none when it is not in the profile)."""
    obj = profile.objects.get(name)
    return obj.name_fields if obj is not None else ()
