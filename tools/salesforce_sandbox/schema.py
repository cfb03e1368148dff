"""The sandbox org's metadata: the five objects of the demo spec, shaped like ``describe()``.

The objects, fields, types and picklists are exactly those of ``spec/demo_domain.md``
section 2; lengths, flags (createable, updateable, nillable, ...) and relationship names
follow a real org's standard objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from tools.salesforce import KEY_PREFIXES

__all__ = [
    "API_VERSION",
    "OBJECTS",
    "FieldSpec",
    "ObjectSpec",
    "describe_global",
    "describe_object",
    "field_spec",
    "object_spec",
]

API_VERSION: Final = "59.0"
"""The API version the sandbox reports; any ``vNN.N`` in a URL is accepted."""

INDUSTRIES: Final = (
    "Agriculture",
    "Banking",
    "Education",
    "Energy",
    "Healthcare",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Telecommunications",
)
ACCOUNT_TYPES: Final = ("Prospect", "Customer - Direct", "Customer - Channel", "Partner")
STAGES: Final = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
STAGE_PROBABILITY: Final[Mapping[str, int]] = MappingProxyType(
    dict(zip(STAGES, (10, 10, 20, 50, 60, 70, 75, 90, 100, 0), strict=True))
)
OPPORTUNITY_TYPES: Final = ("New Business", "Existing Business")
LEAD_SOURCES: Final = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
LEAD_STATUSES: Final = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
RATINGS: Final = ("Hot", "Warm", "Cold")
CASE_STATUSES: Final = ("New", "Working", "Escalated", "Closed")
PRIORITIES: Final = ("High", "Medium", "Low")
ORIGINS: Final = ("Phone", "Email", "Web")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a sandbox object."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    picklist: tuple[str, ...] = ()
    default: str | None = None
    reference_to: str | None = None
    relationship_name: str | None = None
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    calculated: bool = False
    precision: int = 0
    scale: int = 0
    digits: int = 0

    @property
    def sql_type(self) -> str:
        """The SQLite column type."""
        if self.type in ("currency", "double", "percent"):
            return "REAL"
        if self.type in ("int", "boolean"):
            return "INTEGER"
        return "TEXT COLLATE NOCASE"


@dataclass(frozen=True)
class ObjectSpec:
    """One sandbox object: its fields and the child relationships that point at it."""

    name: str
    label_plural: str
    fields: tuple[FieldSpec, ...]
    children: tuple[tuple[str, str, str], ...] = field(default=())  # (child, field, rel)

    @property
    def key_prefix(self) -> str:
        """The first three characters of every Id of this object."""
        return KEY_PREFIXES[self.name]


def _id() -> FieldSpec:
    return FieldSpec(
        "Id", "id", "Record ID", length=18, createable=False, updateable=False, nillable=False
    )


def _created() -> FieldSpec:
    return FieldSpec(
        "CreatedDate", "datetime", "Created Date", createable=False, updateable=False,
        nillable=False,
    )  # fmt: skip


def _text(name: str, length: int, *, nillable: bool = True, label: str = "") -> FieldSpec:
    return FieldSpec(name, "string", label or name, length=length, nillable=nillable)


def _pick(name: str, values: tuple[str, ...], *, nillable: bool = True) -> FieldSpec:
    return FieldSpec(name, "picklist", name, length=255, picklist=values, nillable=nillable)


def _ref(name: str, target: str, rel: str) -> FieldSpec:
    return FieldSpec(
        name, "reference", f"{target} ID", length=18, reference_to=target, relationship_name=rel
    )


OBJECTS: Final[Mapping[str, ObjectSpec]] = MappingProxyType(
    {
        "Account": ObjectSpec(
            "Account",
            "Accounts",
            (
                _id(),
                _text("Name", 255, nillable=False, label="Account Name"),
                _pick("Industry", INDUSTRIES),
                _pick("Type", ACCOUNT_TYPES),
                _text("BillingCity", 40),
                _text("BillingCountry", 80),
                FieldSpec("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
                FieldSpec("NumberOfEmployees", "int", "Employees", digits=8),
                _created(),
            ),
            (
                ("Contact", "AccountId", "Contacts"),
                ("Opportunity", "AccountId", "Opportunities"),
                ("Case", "AccountId", "Cases"),
            ),
        ),
        "Contact": ObjectSpec(
            "Contact",
            "Contacts",
            (
                _id(),
                _text("FirstName", 40),
                _text("LastName", 80, nillable=False),
                FieldSpec("Email", "email", "Email", length=80),
                FieldSpec("Phone", "phone", "Business Phone", length=40),
                _text("Title", 128),
                _ref("AccountId", "Account", "Account"),
                _created(),
            ),
            (("Case", "ContactId", "Cases"),),
        ),
        "Opportunity": ObjectSpec(
            "Opportunity",
            "Opportunities",
            (
                _id(),
                _text("Name", 120, nillable=False),
                _ref("AccountId", "Account", "Account"),
                FieldSpec("Amount", "currency", "Amount", precision=18, scale=2),
                _pick("StageName", STAGES, nillable=False),
                FieldSpec("CloseDate", "date", "Close Date", nillable=False),
                FieldSpec("Probability", "percent", "Probability (%)", precision=3, scale=0),
                _pick("Type", OPPORTUNITY_TYPES),
                _pick("LeadSource", LEAD_SOURCES),
                FieldSpec(
                    "IsClosed",
                    "boolean",
                    "Closed",
                    createable=False,
                    updateable=False,
                    nillable=False,
                    calculated=True,
                ),
                FieldSpec(
                    "IsWon",
                    "boolean",
                    "Won",
                    createable=False,
                    updateable=False,
                    nillable=False,
                    calculated=True,
                ),
                _created(),
            ),  # fmt: skip
        ),
        "Lead": ObjectSpec(
            "Lead",
            "Leads",
            (
                _id(),
                _text("FirstName", 40),
                _text("LastName", 80, nillable=False),
                _text("Company", 255, nillable=False),
                FieldSpec("Email", "email", "Email", length=80),
                FieldSpec("Phone", "phone", "Phone", length=40),
                FieldSpec(
                    "Status",
                    "picklist",
                    "Status",
                    length=255,
                    picklist=LEAD_STATUSES,
                    default="Open - Not Contacted",
                    nillable=False,
                ),
                _pick("LeadSource", LEAD_SOURCES),
                _pick("Industry", INDUSTRIES),
                _pick("Rating", RATINGS),
                _created(),
            ),  # fmt: skip
        ),
        "Case": ObjectSpec(
            "Case",
            "Cases",
            (
                _id(),
                _text("Subject", 255),
                FieldSpec("Description", "textarea", "Description", length=32000),
                FieldSpec(
                    "Status",
                    "picklist",
                    "Status",
                    length=255,
                    picklist=CASE_STATUSES,
                    default="New",
                ),
                FieldSpec(
                    "Priority",
                    "picklist",
                    "Priority",
                    length=255,
                    picklist=PRIORITIES,
                    default="Medium",
                ),
                _pick("Origin", ORIGINS),
                _ref("AccountId", "Account", "Account"),
                _ref("ContactId", "Contact", "Contact"),
                _created(),
                FieldSpec(
                    "ClosedDate", "datetime", "Closed Date", createable=False, updateable=False
                ),
            ),
        ),
    }
)
"""The sandbox's objects, by API name."""


def object_spec(name: str) -> ObjectSpec | None:
    """Look an object up by name, case-insensitively."""
    for spec in OBJECTS.values():
        if spec.name.lower() == name.lower():
            return spec
    return None


def field_spec(obj: ObjectSpec, name: str) -> FieldSpec | None:
    """Look a field up by name, case-insensitively."""
    lower = name.lower()
    return next((f for f in obj.fields if f.name.lower() == lower), None)


def _sobject_urls(name: str) -> dict[str, str]:
    base = f"/services/data/v{API_VERSION}/sobjects/{name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _describe_field(spec: FieldSpec) -> dict[str, Any]:
    long_text = spec.type == "textarea"
    soap = {
        "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
        "currency": "xsd:double", "double": "xsd:double", "percent": "xsd:double",
        "date": "xsd:date", "datetime": "xsd:dateTime",
    }.get(spec.type, "xsd:string")  # fmt: skip
    return {
        "name": spec.name,
        "label": spec.label or spec.name,
        "type": spec.type,
        "soapType": soap,
        "length": spec.length if spec.type not in ("boolean", "int", "date", "datetime") else 0,
        "precision": spec.precision,
        "scale": spec.scale,
        "digits": spec.digits,
        "createable": spec.createable,
        "updateable": spec.updateable,
        "nillable": spec.nillable and spec.type != "boolean",
        "defaultedOnCreate": spec.default is not None
        or spec.name in ("Id", "CreatedDate")
        or spec.type == "boolean",
        "calculated": spec.calculated,
        "filterable": not long_text,
        "groupable": not long_text and spec.type not in ("currency", "double", "percent"),
        "sortable": not long_text,
        "aggregatable": not long_text and spec.type != "boolean",
        "unique": False,
        "idLookup": spec.type == "id",
        "custom": False,
        "restrictedPicklist": False,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == spec.default,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in spec.picklist
        ],
        "referenceTo": [spec.reference_to] if spec.reference_to else [],
        "relationshipName": spec.relationship_name,
    }


def describe_object(name: str) -> dict[str, Any] | None:
    """The ``/sobjects/<Object>/describe`` body of one object, or None when unknown."""
    spec = object_spec(name)
    if spec is None:
        return None
    return {
        "name": spec.name,
        "label": spec.name,
        "labelPlural": spec.label_plural,
        "keyPrefix": spec.key_prefix,
        "custom": False,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "urls": _sobject_urls(spec.name),
        "fields": [_describe_field(f) for f in spec.fields],
        "childRelationships": [
            {
                "cascadeDelete": spec.name == "Account",
                "childSObject": child,
                "field": fld,
                "relationshipName": rel,
                "deprecatedAndHidden": False,
            }
            for child, fld, rel in spec.children
        ],
        "recordTypeInfos": [],
    }


def describe_global() -> dict[str, Any]:
    """The ``/sobjects`` (describeGlobal) body."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [
            {
                "name": spec.name,
                "label": spec.name,
                "labelPlural": spec.label_plural,
                "keyPrefix": spec.key_prefix,
                "custom": False,
                "queryable": True,
                "createable": True,
                "updateable": True,
                "deletable": True,
                "urls": _sobject_urls(spec.name),
            }
            for spec in OBJECTS.values()
        ],
    }
