"""The schema profile: what a live database holds, read once, for composing queries over it.

:func:`read_profile` reads from a :class:`tools.sql.SqlDatabase` its tables, columns and
declared types, its foreign keys, the values of its low-cardinality text columns (the same
values the value-grounded grammar admits), the range of its numeric and date columns, which
nullable columns really hold NULLs, and a few sample values of its name-like text columns.
Nothing here is tied to one domain: every fact comes from the schema or from the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.sql import SqlDatabase

Kind = Literal["integer", "number", "date", "text", "other"]
"""What a column holds, as far as composing queries is concerned."""

MAX_CATEGORY_VALUES = 25
"""A text column with at most this many values is a category (filtered, grouped by)."""

MAX_GROUNDED_VALUES = 50
"""The most values a text column may hold to be listed (as the value-grounded grammar does)."""

SAMPLE_NAMES = 400
"""How many values of a name-like column are kept to look rows up by and to search in
(spread evenly over the first ten times as many, in sorted order)."""

_NAME_COLUMNS = re.compile(r"^(name|title|full_name|label|.*_name|.*_title)$")
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _kind_of(declared: str) -> Kind:
    """A column's kind from its declared type (SQLite affinity rules, PostgreSQL names)."""
    upper = declared.upper()
    if "INT" in upper or upper in ("SERIAL", "BIGSERIAL"):
        return "integer"
    if any(word in upper for word in ("DATE", "TIME")):
        return "date"
    if any(word in upper for word in ("CHAR", "TEXT", "CLOB", "STRING")):
        return "text"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL", "MONEY")):
        return "number"
    return "other"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key: ``table.column`` references ``ref_table.ref_column``."""

    table: str
    column: str
    ref_table: str
    ref_column: str


@dataclass
class ColumnProfile:
    """One column as the rows show it."""

    table: str
    """The table the column belongs to."""
    name: str
    """The column's name."""
    declared: str
    """Its declared type, upper-case (may be empty in SQLite)."""
    kind: Kind
    """What it holds: integer, number, date, text or other."""
    distinct: int = 0
    """How many distinct non-null values it holds."""
    nulls: int = 0
    """How many rows hold NULL in it."""
    minimum: float | str | None = None
    """Smallest value of a numeric or date column (dates as ISO text)."""
    maximum: float | str | None = None
    """Largest value of a numeric or date column (dates as ISO text)."""
    values: tuple[str, ...] = ()
    """Every value of a low-cardinality text column, sorted; empty otherwise."""
    samples: tuple[str, ...] = ()
    """Some values of a name-like text column, in a fixed order; empty otherwise."""
    is_key: bool = False
    """Whether the column is an id: a primary key, a foreign key or a referenced column."""
    is_category: bool = False
    """Whether it is a text column of a few values that repeat (not a name): one to filter
    and group by."""

    @property
    def is_measure(self) -> bool:
        """A numeric column that is not an id, with more than one value."""
        return self.kind in ("integer", "number") and not self.is_key and self.distinct > 1

    @property
    def is_date(self) -> bool:
        """A date column whose values read as ISO dates."""
        return (
            self.kind == "date"
            and isinstance(self.minimum, str)
            and isinstance(self.maximum, str)
            and bool(_DATE_VALUE.match(self.minimum))
            and bool(_DATE_VALUE.match(self.maximum))
        )


@dataclass
class TableProfile:
    """One table: its columns in table order and its row count."""

    name: str
    """The table's name."""
    columns: dict[str, ColumnProfile]
    """Column name -> its profile, in table order."""
    rows: int
    """How many rows it holds."""
    label: str | None = None
    """The column that names a row (``name``, ``title``...), if the table has one."""


@dataclass
class SchemaProfile:
    """A whole database: its tables, its foreign keys and its dialect."""

    dialect: str
    """``"sqlite"`` or ``"postgres"``."""
    tables: dict[str, TableProfile] = field(default_factory=dict)
    """Table name -> its profile, in schema order."""
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    """Every foreign key between two profiled tables."""

    def parents(self, table: str) -> list[ForeignKey]:
        """The foreign keys of ``table`` (the tables it references)."""
        return [fk for fk in self.foreign_keys if fk.table == table]


def _scalar(database: SqlDatabase, sql: str) -> list[Any]:
    result = database.execute(sql, row_limit=1, timeout_s=30.0)
    return list(result.rows[0]) if result.rows else []


def _profile_column(
    database: SqlDatabase,
    table: str,
    column: ColumnProfile,
    values: dict[tuple[str, str], list[str]],
) -> None:
    """Fill in the counts, range, values and samples of one column."""
    name, source = _quote(column.name), _quote(table)
    # MIN and MAX only where the type orders (PostgreSQL has no MIN of a boolean or a JSON).
    ranged = column.kind != "other"
    extremes = f", MIN({name}), MAX({name})" if ranged else ", NULL, NULL"
    row = _scalar(
        database,
        f"SELECT COUNT(DISTINCT {name}), COUNT(*) - COUNT({name}){extremes} FROM {source}",
    )
    distinct, nulls, low, high = row if row else (0, 0, None, None)
    column.distinct = int(distinct or 0)
    column.nulls = int(nulls or 0)
    if (
        column.kind == "text"
        and isinstance(low, str)
        and isinstance(high, str)
        and _DATE_VALUE.match(low)
        and _DATE_VALUE.match(high)
        and column.distinct > MAX_CATEGORY_VALUES
    ):
        column.kind = "date"  # dates kept as ISO text, as SQLite often does
    if column.kind in ("integer", "number") and isinstance(low, int | float):
        column.minimum, column.maximum = low, high
    elif column.kind == "date" and low is not None:
        column.minimum, column.maximum = str(low), str(high)
    if column.kind != "text":
        return
    column.values = tuple(values.get((table, column.name), ()))
    if _NAME_COLUMNS.match(column.name.lower()) or column.distinct > MAX_GROUNDED_VALUES:
        result = database.execute(
            f"SELECT DISTINCT {name} FROM {source} WHERE {name} IS NOT NULL ORDER BY {name}",
            row_limit=10 * SAMPLE_NAMES,
            timeout_s=30.0,
        )
        names = [str(r[0]) for r in result.rows if isinstance(r[0], str)]
        step = max(1, len(names) // SAMPLE_NAMES)
        column.samples = tuple(names[::step][:SAMPLE_NAMES])


def _label_of(table: TableProfile) -> str | None:
    """The column that names a row: ``name``/``title``-like text, else the most varied text."""
    texts = [c for c in table.columns.values() if c.kind == "text" and not c.is_key]
    for column in texts:
        if _NAME_COLUMNS.match(column.name.lower()) and column.distinct > 1:
            return column.name
    varied = [c for c in texts if table.rows and c.distinct >= 0.9 * table.rows and c.distinct > 1]
    return varied[0].name if varied else None


def read_profile(database: SqlDatabase) -> SchemaProfile:
    """Read the profile of every table of ``database`` from its live schema and rows.

    Args:
        database: An open database (SQLite or PostgreSQL).

    Returns:
        The profile; tables without rows are left out (nothing can be asked of them), and
        so are the foreign keys that touch them.

    Raises:
        tools.sql.SqlToolError: A profiling query failed.
    """
    profile = SchemaProfile(dialect=database.dialect)
    keys = database.foreign_keys()
    key_columns = {(t, c) for t, c, _, _ in keys} | {(rt, rc) for _, _, rt, rc in keys}
    values = database.text_values(max_values=MAX_GROUNDED_VALUES)
    for table, columns in database.tables().items():
        rows = int(_scalar(database, f"SELECT COUNT(*) FROM {_quote(table)}")[0])
        if rows == 0:
            continue
        profiled: dict[str, ColumnProfile] = {}
        for column in columns:
            found = ColumnProfile(
                table=table,
                name=column.name,
                declared=column.type,
                kind=_kind_of(column.type),
                is_key=(table, column.name) in key_columns
                or column.name.lower() == "id"
                or column.name.lower().endswith("_id"),
            )
            _profile_column(database, table, found, values)
            profiled[column.name] = found
        entry = TableProfile(name=table, columns=profiled, rows=rows)
        entry.label = _label_of(entry)
        for found in profiled.values():
            found.is_category = (
                found.kind == "text"
                and not found.is_key
                and found.name != entry.label
                and 1 < len(found.values) <= MAX_CATEGORY_VALUES
                and 2 * found.distinct <= rows
            )
        profile.tables[table] = entry
    profile.foreign_keys = [
        ForeignKey(*key) for key in keys if key[0] in profile.tables and key[2] in profile.tables
    ]
    return profile
