"""Record Ids (key prefixes, the 18-character checksum) and values checked against their field."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from tools.salesforce.errors import PicklistValueError, SoqlValidationError
from tools.salesforce.hints import _did_you_mean, _short
from tools.salesforce.metadata import _NUMERIC_TYPES

KEY_PREFIXES: Final[Mapping[str, str]] = MappingProxyType(
    {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q", "Case": "500"}
)
"""Standard object key prefixes: the first three characters of every record Id."""

_ID_SUFFIX_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE: Final = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE_VALUE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_VALUE_RE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


def id_checksum(id15: str) -> str:
    """Return the three-character suffix that turns a 15-character Id into 18.

    Args:
        id15: A case-sensitive 15-character record Id.

    Returns:
        The suffix Salesforce appends (one character per five-character chunk).
    """
    suffix = ""
    for start in (0, 5, 10):
        chunk = id15[start : start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _ID_SUFFIX_CHARS[bits]
    return suffix


def to_18_char_id(record_id: str) -> str:
    """Turn a 15-character Id into its 18-character form (18-character Ids pass through)."""
    return record_id + id_checksum(record_id) if len(record_id) == 15 else record_id


def check_record_id(record_id: str, sobject: str, key_prefix: str | None) -> str:
    """Check that ``record_id`` is a well-formed Id of ``sobject``.

    Args:
        record_id: The Id as written (15 or 18 characters).
        sobject: The object it should belong to, for messages.
        key_prefix: That object's key prefix (``001`` for Account); None skips the check.

    Returns:
        The 18-character Id.

    Raises:
        SoqlValidationError: The Id is malformed or belongs to another object.
    """
    example = f"{key_prefix or '001'}5g00000AbCdEAAZ"[:18]
    if not isinstance(record_id, str) or not _ID_RE.fullmatch(record_id):
        raise SoqlValidationError(
            f"`{_short(record_id)}` is not a Salesforce Id: an Id is 15 or 18 letters and "
            f"digits, e.g. {example}",
            code="MALFORMED_ID",
        )
    if key_prefix and record_id[:3] != key_prefix:
        owner = next((o for o, p in KEY_PREFIXES.items() if p == record_id[:3]), None)
        what = f"an Id of {owner}" if owner else f"an Id with key prefix {record_id[:3]}"
        raise SoqlValidationError(
            f"`{record_id}` is {what}, not of {sobject}: {sobject} Ids start with {key_prefix}",
            code="MALFORMED_ID",
        )
    if len(record_id) == 18 and id_checksum(record_id[:15]) != record_id[15:].upper():
        raise SoqlValidationError(
            f"`{record_id}` is not a valid 18-character Id (its last three characters do not "
            "match); copy the Id exactly as a query returned it",
            code="MALFORMED_ID",
        )
    return to_18_char_id(record_id)


def check_field_value(
    sobject: str,
    fld: Mapping[str, Any],
    value: Any,
    *,
    key_prefix_of: Callable[[str], str | None] = KEY_PREFIXES.get,
) -> Any:
    """Check one value against a field's ``describe()`` entry and return it normalised.

    Used by the client before a create/update, and by the offline sandbox as the org's
    own check.

    Args:
        sobject: The object's name, for messages.
        fld: The field's describe entry (``name``, ``type``, ``length``, ``nillable``,
            ``picklistValues``, ``referenceTo``, ...).
        value: The value from the request (JSON scalar).
        key_prefix_of: Maps an object name to its key prefix, for reference fields.

    Returns:
        The value to send: 18-character Ids, integral numbers as ints, booleans as bools.

    Raises:
        SoqlValidationError: The value does not fit; the message says what would.
    """
    name = fld.get("name")
    ftype = str(fld.get("type") or "string")
    where = f"`{name}` on {sobject}"
    if value is None:
        if fld.get("nillable") is False and ftype != "boolean":
            raise SoqlValidationError(
                f"{where} is required and cannot be set to null", code="REQUIRED_FIELD_MISSING"
            )
        return None
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SoqlValidationError(
            f"{where} is a boolean: write true or false", code="INVALID_TYPE_ON_FIELD"
        )
    if ftype in _NUMERIC_TYPES:
        return _check_number(where, fld, ftype, value)
    if not isinstance(value, str):
        raise SoqlValidationError(
            f"{where} is a {ftype} field: give the value as text in quotes",
            code="INVALID_TYPE_ON_FIELD",
        )
    if "\x00" in value:
        raise SoqlValidationError(f"{where} cannot hold a NUL character", code="INVALID_VALUE")
    if ftype == "date":
        if not _DATE_VALUE_RE.fullmatch(value) or not _valid_date(value):
            raise SoqlValidationError(
                f"{where} is a date: write it as YYYY-MM-DD, e.g. 2024-01-31",
                code="INVALID_TYPE_ON_FIELD",
            )
        return value
    if ftype == "datetime":
        if not _DATETIME_VALUE_RE.fullmatch(value) or not _valid_date(value[:10]):
            raise SoqlValidationError(
                f"{where} is a datetime: write it as 2024-01-31T09:30:00Z",
                code="INVALID_TYPE_ON_FIELD",
            )
        return value
    if ftype in ("reference", "id"):
        targets = [str(t) for t in fld.get("referenceTo") or []]
        prefix = key_prefix_of(targets[0]) if len(targets) == 1 else None
        target = targets[0] if len(targets) == 1 else "the referenced object"
        return check_record_id(value, f"{target} (for {name})", prefix)
    length = fld.get("length")
    if isinstance(length, int) and length > 0 and len(value) > length:
        raise SoqlValidationError(
            f"{where} holds at most {length} characters; the value has {len(value)}",
            code="STRING_TOO_LONG",
        )
    if ftype == "email" and not _EMAIL_RE.fullmatch(value):
        raise SoqlValidationError(
            f"{where} is an e-mail field: `{_short(value)}` is not an e-mail address",
            code="INVALID_EMAIL_ADDRESS",
        )
    if ftype == "picklist":
        return _check_picklist_value(where, fld, value)
    return value


def _check_number(where: str, fld: Mapping[str, Any], ftype: str, value: Any) -> int | float:
    number: int | float
    if isinstance(value, bool):
        raise SoqlValidationError(
            f"{where} is a number field ({ftype}), not a boolean", code="INVALID_TYPE_ON_FIELD"
        )
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+(?:\.\d+)?", value.strip()):
        number = float(value) if "." in value else int(value)
    else:
        raise SoqlValidationError(
            f"{where} is a number field ({ftype}): write a number without quotes",
            code="INVALID_TYPE_ON_FIELD",
        )
    if number != number or number in (float("inf"), float("-inf")):
        raise SoqlValidationError(f"{where} needs a finite number", code="INVALID_TYPE_ON_FIELD")
    if ftype in ("int", "long"):
        if isinstance(number, float) and not number.is_integer():
            raise SoqlValidationError(
                f"{where} is a whole number field: write e.g. 250", code="INVALID_TYPE_ON_FIELD"
            )
        number = int(number)
    digits = fld.get("digits") or 0
    precision, scale = fld.get("precision") or 0, fld.get("scale") or 0
    most = 10 ** int(digits) if digits else (10 ** int(precision - scale) if precision else None)
    if ftype == "percent" and not 0 <= number <= 100:
        raise SoqlValidationError(
            f"{where} is a percentage: write a number from 0 to 100",
            code="NUMBER_OUTSIDE_VALID_RANGE",
        )
    if most is not None and abs(number) >= most:
        raise SoqlValidationError(
            f"{where} is too large: it takes numbers below {most:,}",
            code="NUMBER_OUTSIDE_VALID_RANGE",
        )
    return number


def _valid_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_picklist_value(where: str, fld: Mapping[str, Any], value: str) -> str:
    entries = fld.get("picklistValues") or []
    allowed = [str(e.get("value")) for e in entries if e.get("active", True) and e.get("value")]
    if not allowed:
        return value
    for candidate in allowed:
        if candidate == value:
            return candidate
    for candidate in allowed:
        if candidate.lower() == value.lower():
            return candidate
    hint = _did_you_mean(value, allowed, quote="'")
    raise PicklistValueError(
        f"'{_short(value)}' is not a value of the picklist {where}{hint} (values: "
        + ", ".join(f"'{a}'" for a in allowed)
        + ")",
        field=str(fld.get("name")),
        value=value,
        allowed=allowed,
    )
