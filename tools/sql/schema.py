"""The schema read from the live database, and the part of it a model may see."""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.sql.results import Column, SqlConnectionError


@dataclass(frozen=True)
class _ForeignKey:
    table: str
    column: str
    ref_table: str
    ref_column: str


@dataclass
class _Schema:
    tables: dict[str, list[Column]] = field(default_factory=dict)
    primary_keys: dict[str, list[str]] = field(default_factory=dict)
    foreign_keys: list[_ForeignKey] = field(default_factory=list)


@dataclass(frozen=True)
class _Source:
    """A FROM-clause source in one scope, as seen by the diagnostics."""

    alias: str
    label: str  # how messages name it, e.g. "`customers` (alias `c`)"
    table: str | None  # base table name when the source is a table
    columns: list[str] | None  # None when unknown (e.g. a subquery selecting `*`)


def _only_tables(schema: _Schema, spec: str) -> _Schema:
    """The part of ``schema`` that the table list ``spec`` lets the model see.

    ``spec`` is comma-separated: plain names allow only those tables, ``!name`` hides one;
    empty keeps every table. Every name must be a table of the schema (a typo must not
    silently expose or hide the wrong thing).
    """
    entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
    if not entries:
        return schema
    lower = {name.lower(): name for name in schema.tables}
    allowed: set[str] = set()
    hidden: set[str] = set()
    for entry in entries:
        bare = entry[1:].strip() if entry.startswith("!") else entry
        name = lower.get(bare.lower())
        if name is None:
            raise SqlConnectionError(
                f"the table list (SLM_SQL_TABLES) names `{bare}`, which the database does not "
                f"have; tables: {', '.join(schema.tables)}"
            )
        (hidden if entry.startswith("!") else allowed).add(name)
    keep = [
        name
        for name in schema.tables
        if (not allowed or name in allowed) and name not in hidden
    ]
    return _Schema(
        tables={name: schema.tables[name] for name in keep},
        primary_keys={k: v for k, v in schema.primary_keys.items() if k in keep},
        foreign_keys=[
            fk for fk in schema.foreign_keys if fk.table in keep and fk.ref_table in keep
        ],
    )
