"""What the SQL tool returns and raises, and the limits it keeps to.

The size limits on queries and results, :class:`Column` and :class:`QueryResult`, the
:class:`SqlToolError` family, and the conversion of database values to JSON-friendly ones.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MAX_QUERY_CHARS = 8000
"""Longest query accepted, in characters (a model writes a few hundred)."""

MAX_PAREN_DEPTH = 24
"""Deepest nesting of parentheses accepted (checked before parsing)."""

MAX_SUBQUERY_DEPTH = 5
"""Deepest nesting of SELECTs inside SELECTs accepted."""

MAX_VALUE_BYTES = 16 * 1024
"""Largest value kept in a result, in bytes of its text; a larger one is left out, and a
marker in its place says how large it was."""

MAX_ROW_BYTES = 64 * 1024
"""Largest result row, in bytes of its values' text; a larger row fails the query."""

MAX_RESULT_BYTES = 4 * 1024 * 1024
"""Most bytes of values one result keeps; past it the rows stop and the result says it was
truncated, however large the LIMIT."""

SQLITE_MAX_LENGTH = 1024 * 1024
"""SQLite's own bound (``SQLITE_LIMIT_LENGTH``) on any string or blob a query builds, so that
one function call cannot build a huge value before the timeout can stop it."""


@dataclass(frozen=True)
class Column:
    """One column of a table, as read from the live database."""

    name: str
    type: str


@dataclass(frozen=True)
class QueryResult:
    """What a query returned.

    Attributes:
        sql: The SQL actually executed (after transpiling and after adding a LIMIT).
        columns: Output column names.
        rows: Rows of JSON-friendly values (Decimal -> int or float, dates -> ISO strings).
        truncated: True when the query had more rows than the row limit.
        elapsed_s: Wall-clock seconds spent executing and fetching.
    """

    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_s: float


class SqlToolError(Exception):
    """Base class of the SQL tool's errors; ``message`` is short text meant for the model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SqlValidationError(SqlToolError):
    """The query was rejected before it reached the database."""


class SqlExecutionError(SqlToolError):
    """The database refused or failed the query (including timeouts and write attempts)."""


class SqlConnectionError(SqlToolError):
    """The database could not be opened or its schema could not be read."""


def _json_value(value: Any) -> Any:
    """Convert one database value to something :func:`json.dumps` accepts."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    return str(value)
