"""What validation knows of an org: field types, ``describe()`` lookups, the object allow-list."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tools.salesforce.errors import SoqlValidationError
from tools.salesforce.hints import _did_you_mean, _short
from tools.salesforce_limits import ALL_OBJECTS, DEFAULT_OBJECTS, parse_objects

_NUMERIC_TYPES: Final = frozenset({"currency", "double", "int", "percent", "long"})
_TEXT_TYPES: Final = frozenset(
    {
        "string",
        "picklist",
        "multipicklist",
        "email",
        "phone",
        "textarea",
        "url",
        "id",
        "reference",
        "combobox",
        "encryptedstring",
    }
)


@dataclass
class _ObjectInfo:
    """Field and relationship lookups for one object, built from describe()."""

    name: str
    fields: dict[str, dict[str, Any]]
    relationships: dict[str, dict[str, Any]]
    children: dict[str, dict[str, Any]]

    @classmethod
    def from_describe(cls, name: str, describe: Mapping[str, Any]) -> _ObjectInfo:
        fields: dict[str, dict[str, Any]] = {}
        relationships: dict[str, dict[str, Any]] = {}
        for item in describe.get("fields") or []:
            fields[str(item["name"]).lower()] = item
            rel = item.get("relationshipName")
            if rel:
                relationships[str(rel).lower()] = item
        children: dict[str, dict[str, Any]] = {}
        for child in describe.get("childRelationships") or []:
            rel = child.get("relationshipName")
            if rel:
                children[str(rel).lower()] = child
        return cls(str(describe.get("name") or name), fields, relationships, children)

    def field_names(self) -> list[str]:
        return [str(f["name"]) for f in self.fields.values()]

    def relationship_names(self) -> list[str]:
        return [str(f["relationshipName"]) for f in self.relationships.values()]


def _field_list(info: _ObjectInfo, limit: int = 30) -> str:
    names = info.field_names()
    shown = ", ".join(names[:limit])
    return shown + (", …" if len(names) > limit else "")


@dataclass(frozen=True)
class _AllowList:
    """The objects a client may query, traverse with a path and act on.

    Attributes:
        names: The object API names as configured; None allows every described object.
    """

    names: frozenset[str] | None

    @classmethod
    def of(cls, objects: Iterable[str] | str | None) -> _AllowList:
        """Build from ``allowed_objects``: None is the default, ``*`` every object.

        Raises:
            ValueError: An entry is not an object API name.
        """
        if objects is None:
            return cls(DEFAULT_OBJECTS)
        if isinstance(objects, str):
            parsed = parse_objects(objects)
            return cls(DEFAULT_OBJECTS) if parsed is None else cls.of(parsed)
        names = frozenset(str(o).strip() for o in objects if str(o).strip())
        if ALL_OBJECTS in names:
            return cls(None)
        bad = sorted(n for n in names if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", n))
        if bad:
            raise ValueError(f"allowed_objects holds object API names; {bad[0]!r} is not one")
        return cls(names)

    def allows(self, name: str) -> bool:
        """Whether ``name`` (any casing) may be used."""
        return self.names is None or name.lower() in {n.lower() for n in self.names}

    def listing(self) -> str:
        """The allowed names for messages."""
        if self.names is None:
            return "every object of the org"
        return ", ".join(sorted(self.names)) if self.names else "none"

    def refusal(self, name: str, object_names: Callable[[], list[str]]) -> SoqlValidationError:
        """The error for an object that is not on the list (it may or may not exist)."""
        if name.lower() in {n.lower() for n in object_names()}:
            return SoqlValidationError(
                f"`{_short(name)}` is not an object allowed here; use one of: {self.listing()}",
                code="INVALID_TYPE",
            )
        return SoqlValidationError(
            _no_object_message(name, self, object_names), code="INVALID_TYPE"
        )


_DEFAULT_ALLOW_LIST: Final = _AllowList(DEFAULT_OBJECTS)


def _no_object_message(
    name: str, allowed: _AllowList, object_names: Callable[[], list[str]]
) -> str:
    """``no object `X` in this org``, with a suggestion among the objects allowed here."""
    if allowed.names is None:
        return f"no object `{_short(name)}` in this org{_did_you_mean(name, object_names())}"
    hint = _did_you_mean(name, sorted(allowed.names))
    listing = "" if hint else f" (objects allowed here: {allowed.listing()})"
    return f"no object `{_short(name)}` in this org{hint}{listing}"
