"""What queries and actions return, and how records are flattened into a table."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class SoqlResult:
    """Rows returned by a SOQL query.

    Attributes:
        soql: The query as sent to Salesforce.
        columns: Column names; relationship fields are flattened (``Account.Name``).
        rows: One list of values per record, in ``columns`` order.
        truncated: True when Salesforce had more rows than the row limit.
        elapsed_s: Wall time of the Salesforce call, in seconds.
    """

    soql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_s: float


@dataclass
class ActionResult:
    """What one action returned.

    Attributes:
        action: The action kind (query, get, create, update, delete, describe).
        columns: Column names; relationship fields are flattened (``Account.Name``). A write
            returns ``Id`` and the fields it set; describe returns name, type, picklist.
        rows: One list of values per record, in ``columns`` order.
        truncated: True when a query had more rows than the row limit.
        record_id: The record read or written (the new Id for a create); None otherwise.
        elapsed_s: Wall time of the whole call, validation included, in seconds.
        http_s: Time spent in Salesforce HTTP calls.
        validation_s: Time spent validating against describe() (metadata fetches included).
    """

    action: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    record_id: str | None
    elapsed_s: float
    http_s: float
    validation_s: float


def _describe_row(fld: Mapping[str, Any]) -> list[Any]:
    ftype = str(fld.get("type") or "")
    targets = fld.get("referenceTo") or []
    if targets:
        ftype += f" → {', '.join(str(t) for t in targets)}"
    values = [
        str(e.get("value"))
        for e in fld.get("picklistValues") or []
        if e.get("active", True) and e.get("value")
    ]
    return [str(fld.get("name")), ftype, ", ".join(values)]


def _show_value(value: Any) -> str:
    if value is None:
        return "null (clears the field)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _is_child_result(value: Mapping[str, Any]) -> bool:
    return "records" in value and isinstance(value.get("records"), list)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten one record: drop ``attributes``, expand parent records into dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if _is_child_result(value):
                flat[name] = [_flatten(child) for child in value["records"]]
            else:
                flat.update(_flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def _table(records: list[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    flat = [_flatten(r) for r in records]
    columns: dict[str, None] = {}
    for row in flat:
        for key in row:
            columns.setdefault(key, None)
    # A parent that is null in one record and present in another: keep only the dotted keys.
    names = [c for c in columns if not any(other.startswith(c + ".") for other in columns)]
    return names, [[row.get(c) for c in names] for row in flat]
