"""The veterinary-clinic database and its hand-written questions.

The database (``evals/clinic_db.py``) is a second domain for the SQL specialist; the
questions (``evals/data/clinic_handwritten.jsonl``) are asked about the rows it builds with
its default seed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from evals.clinic_db import DEFAULT_SEED, TABLES, VALUE_SETS, build, table_sizes
from tools.sql import SqlDatabase

SET = Path(__file__).resolve().parents[2] / "evals" / "data" / "clinic_handwritten.jsonl"
REFERENCE = SET.with_name("sql_handwritten.jsonl")
FIELDS = ["id", "question", "gold", "style", "shape", "values"]


@pytest.fixture(scope="session")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clinic database with the default seed, built once per test session."""
    return build(tmp_path_factory.mktemp("clinic") / "clinic.sqlite")


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines() if line]


def test_the_same_seed_gives_the_same_file(
    clinic_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = build(tmp_path_factory.mktemp("clinic_again") / "clinic.sqlite", DEFAULT_SEED)
    assert again.read_bytes() == clinic_db.read_bytes()
    other = build(tmp_path_factory.mktemp("clinic_other") / "clinic.sqlite", DEFAULT_SEED + 1)
    assert other.read_bytes() != clinic_db.read_bytes()


def test_a_second_build_leaves_an_up_to_date_file_alone(tmp_path: Path) -> None:
    path = build(tmp_path / "clinic.sqlite")
    stamp = path.stat().st_mtime_ns
    assert build(path) == path
    assert path.stat().st_mtime_ns == stamp
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_every_table_holds_rows_and_every_listed_value_occurs(clinic_db: Path) -> None:
    sizes = table_sizes(clinic_db)
    assert list(sizes) == list(TABLES)
    assert all(size > 0 for size in sizes.values()), sizes
    assert sizes["visits"] == 2000
    with sqlite3.connect(clinic_db) as conn:
        for (table, column), values in VALUE_SETS.items():
            found = {row[0] for row in conn.execute(f"SELECT DISTINCT {column} FROM {table}")}
            assert found == set(values), (table, column)
        for table, column in [("owners", "phone"), ("pets", "breed"), ("visits", "fee")]:
            nulls = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} IS NULL")
            assert nulls.fetchone()[0] > 0, (table, column)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_the_set_has_the_format_of_the_sql_set(items: list[dict[str, Any]]) -> None:
    reference = [json.loads(line) for line in REFERENCE.read_text().splitlines() if line]
    styles = {item["style"] for item in reference}
    shapes = {shape for item in reference for shape in item["shape"]}
    assert len(items) == 40
    assert [item["id"] for item in items] == [f"k{index:03d}" for index in range(1, 41)]
    assert len({item["question"].lower() for item in items}) == len(items)
    for item in items:
        assert list(item) == FIELDS == list(reference[0]), item["id"]
        assert item["style"] in styles, item["id"]
        assert item["shape"] and set(item["shape"]) <= shapes, item["id"]
        for value in item["values"]:
            assert "'" + value.replace("'", "''") + "'" in item["gold"], item["id"]


def _with_sort_keys(sql: str) -> tuple[str, int, int]:
    """``sql`` selecting its ORDER BY keys as extra columns, one row past its LIMIT.

    Returns the new query, the number of sort keys and the original LIMIT.
    """
    tree = sqlglot.parse_one(sql, read="sqlite")
    assert isinstance(tree, exp.Select)
    limit = int(tree.args["limit"].expression.name)
    aliases = {p.alias: p.this for p in tree.expressions if isinstance(p, exp.Alias)}
    keys = []
    for ordered in tree.args["order"].expressions:
        key = ordered.this
        if isinstance(key, exp.Column) and not key.table and key.name in aliases:
            key = aliases[key.name]
        keys.append(key.copy())
    return tree.select(*keys).limit(limit + 1).sql(dialect="sqlite"), len(keys), limit


def test_every_gold_runs_returns_rows_and_does_not_tie_at_its_limit(
    clinic_db: Path, items: list[dict[str, Any]]
) -> None:
    with SqlDatabase.open(str(clinic_db)) as database:
        for item in items:
            result = database.execute(database.validate(item["gold"]), row_limit=5000)
            assert result.rows and result.rows != [[0]], item["id"]
            assert not result.truncated, item["id"]
            if "LIMIT" not in item["gold"]:
                continue
            assert "order_topk" in item["shape"], item["id"]
            sql, width, limit = _with_sort_keys(item["gold"])
            rows = database.execute(sql, row_limit=limit + 1).rows
            tied = len(rows) > limit and rows[limit - 1][-width:] == rows[limit][-width:]
            assert not tied, item["id"]
