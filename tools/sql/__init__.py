"""The SQL tool: validate a model's query with sqlglot, then run it read-only.

:class:`SqlDatabase` is the tool; the submodules hold its parts:

- ``tools.sql.database``: :class:`SqlDatabase`, opening a database, describing its schema,
  validating a query against it and executing it.
- ``tools.sql.results``: the size limits, :class:`Column`, :class:`QueryResult`, the
  :class:`SqlToolError` family and the conversion of values to JSON-friendly ones.
- ``tools.sql.text``: :func:`clean_sql`, dialect names, suggestions, error messages for the
  model, and the checks on the raw text and its tokens.
- ``tools.sql.checks``: the checks on the parsed query that need no schema.
- ``tools.sql.schema``: the schema read from the database and the table list that narrows it.
- ``tools.sql.backends``: the read-only SQLite and PostgreSQL connections and the byte caps.
"""

from tools.sql.database import SqlDatabase
from tools.sql.results import (
    MAX_PAREN_DEPTH,
    MAX_QUERY_CHARS,
    MAX_RESULT_BYTES,
    MAX_ROW_BYTES,
    MAX_SUBQUERY_DEPTH,
    MAX_VALUE_BYTES,
    Column,
    QueryResult,
    SqlConnectionError,
    SqlExecutionError,
    SqlToolError,
    SqlValidationError,
)
from tools.sql.results import SQLITE_MAX_LENGTH as SQLITE_MAX_LENGTH
from tools.sql.text import clean_sql

__all__ = [
    "Column",
    "QueryResult",
    "SqlConnectionError",
    "SqlDatabase",
    "SqlExecutionError",
    "SqlToolError",
    "SqlValidationError",
    "MAX_PAREN_DEPTH",
    "MAX_QUERY_CHARS",
    "MAX_RESULT_BYTES",
    "MAX_ROW_BYTES",
    "MAX_SUBQUERY_DEPTH",
    "MAX_VALUE_BYTES",
    "clean_sql",
]
