from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tools.demo_db import (
    COLUMNS,
    DDL,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    TABLES,
    VALUE_SETS,
    DemoDatabaseError,
    create_sqlite_db,
    generate_demo_rows,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rows() -> dict[str, list[tuple[Any, ...]]]:
    return generate_demo_rows()


@pytest.fixture(scope="module")
def built_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_sqlite_db(tmp_path_factory.mktemp("demo_db") / "demo.sqlite")


def by_column(rows: dict[str, list[tuple[Any, ...]]], table: str, column: str) -> list[Any]:
    index = COLUMNS[table].index(column)
    return [row[index] for row in rows[table]]


def test_sizes(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    assert list(rows) == list(TABLES)
    assert len(rows["sales_reps"]) == 12
    assert Counter(by_column(rows, "sales_reps", "region")) == {
        "North America": 3,
        "EMEA": 3,
        "APAC": 3,
        "LATAM": 3,
    }
    assert len(rows["customers"]) == 200
    assert len(rows["products"]) == 40
    assert len(rows["orders"]) == 5000
    assert 11_000 <= len(rows["order_items"]) <= 13_000
    for table in TABLES:
        assert all(len(row) == len(COLUMNS[table]) for row in rows[table])


@pytest.mark.parametrize("seed", [DEFAULT_SEED, 0, 1, 7, 12345, 2**40])
def test_every_value_set_is_fully_covered(seed: int) -> None:
    data = generate_demo_rows(seed)
    for (table, column), values in VALUE_SETS.items():
        assert set(by_column(data, table, column)) == set(values), (seed, table, column)


def test_value_sets_match_the_ddl_comments() -> None:
    for (table, column), values in VALUE_SETS.items():
        statement = DDL.split(f"CREATE TABLE {table} (")[1].split(");")[0]
        line = next(line for line in statement.splitlines() if line.strip().startswith(column))
        assert re.findall(r"'([^']*)'", line) == list(values)


def test_generation_is_deterministic_and_seeded() -> None:
    assert generate_demo_rows(3) == generate_demo_rows(3)
    assert generate_demo_rows(3) != generate_demo_rows(4)


def test_generation_does_not_touch_the_global_random() -> None:
    import random

    random.seed(99)
    expected = random.random()
    random.seed(99)
    generate_demo_rows(5)
    assert random.random() == expected


def test_keys_and_references(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    for table in ("sales_reps", "customers", "products", "orders"):
        ids = by_column(rows, table, "id")
        assert ids == list(range(1, len(ids) + 1))
    rep_ids = set(by_column(rows, "sales_reps", "id"))
    customer_ids = set(by_column(rows, "customers", "id"))
    product_ids = set(by_column(rows, "products", "id"))
    order_ids = set(by_column(rows, "orders", "id"))
    assert set(by_column(rows, "customers", "rep_id")) == rep_ids  # every rep has accounts
    assert set(by_column(rows, "orders", "customer_id")) <= customer_ids
    assert set(by_column(rows, "order_items", "order_id")) == order_ids  # no empty orders
    assert set(by_column(rows, "order_items", "product_id")) <= product_ids
    pairs = [(row[0], row[1]) for row in rows["order_items"]]
    assert len(pairs) == len(set(pairs))


def test_types_and_ranges(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    for date in by_column(rows, "orders", "order_date"):
        assert isinstance(date, dt.date)
        assert dt.date(2023, 1, 1) <= date <= dt.date(2025, 12, 31)
    for table, column in [
        ("sales_reps", "hired_on"),
        ("customers", "created_on"),
    ]:
        assert all(isinstance(value, dt.date) for value in by_column(rows, table, column))
    for table in ("products", "order_items"):
        for price in by_column(rows, table, "unit_price"):
            assert isinstance(price, Decimal)
            assert price > 0
            assert price.as_tuple().exponent == -2
    assert all(isinstance(q, int) and q >= 1 for q in by_column(rows, "order_items", "quantity"))


def test_data_is_plausible(rows: dict[str, list[tuple[Any, ...]]]) -> None:
    rep_names = by_column(rows, "sales_reps", "name")
    assert len(set(rep_names)) == 12
    assert all(re.fullmatch(r"[A-Z][a-z]+ [A-Za-z ]+", name) for name in rep_names)
    customer_names = by_column(rows, "customers", "name")
    assert len(set(customer_names)) == 200
    product_names = by_column(rows, "products", "name")
    assert len(set(product_names)) == 40

    created = {row[0]: row[6] for row in rows["customers"]}
    for order in rows["orders"]:
        assert order[2] >= created[order[1]]  # nobody orders before becoming a customer
    dates = by_column(rows, "orders", "order_date")
    assert dates == sorted(dates)  # ids follow the order date

    statuses = Counter(by_column(rows, "orders", "status"))
    assert statuses.most_common(1)[0][0] == "delivered"
    assert statuses["delivered"] > len(rows["orders"]) / 2
    for order in rows["orders"]:
        if order[3] == "pending":
            assert order[2] >= dt.date(2025, 11, 1)  # only recent orders are still pending

    list_price = {row[0]: row[3] for row in rows["products"]}
    for _order_id, product_id, _quantity, price in rows["order_items"]:
        assert list_price[product_id] * Decimal("0.7") <= price <= list_price[product_id]


def test_ddl_is_the_spec_verbatim() -> None:
    for candidate in (REPO / "shared" / "spec", REPO.parent / "shared" / "spec"):
        spec = candidate / "demo_domain.md"
        if spec.is_file():
            break
    else:
        pytest.skip("shared/spec/demo_domain.md is not available here")
    block = spec.read_text().split("```sql\n", 1)[1].split("```", 1)[0]
    assert DDL.strip() == block.strip()


def test_sqlite_db_holds_the_generated_rows(
    built_db: Path, rows: dict[str, list[tuple[Any, ...]]]
) -> None:
    conn = sqlite3.connect(built_db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert names == list(TABLES)  # no extra metadata table
        for table in TABLES:
            order = "order_id, product_id" if table == "order_items" else "id"
            stored = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            expected = [
                tuple(
                    v.isoformat()
                    if isinstance(v, dt.date)
                    else float(v)
                    if isinstance(v, Decimal)
                    else v
                    for v in row
                )
                for row in rows[table]
            ]
            assert stored == expected, table
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
        assert user_version == GENERATOR_VERSION * 1_000_000 + DEFAULT_SEED % 1_000_000
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()


def test_existing_db_is_reused_and_force_rebuilds(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    assert create_sqlite_db(path, seed=11) == path
    first = path.stat()
    create_sqlite_db(path, seed=11)
    assert path.stat().st_ino == first.st_ino and path.stat().st_mtime_ns == first.st_mtime_ns
    create_sqlite_db(path, seed=11, force=True)
    assert path.stat().st_ino != first.st_ino
    second = path.stat()
    create_sqlite_db(path, seed=1_000_011)  # same seed modulo 10**6: still detected
    assert path.stat().st_ino != second.st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.sqlite"]  # no temp leftovers


def test_corrupt_file_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    path.write_bytes(b"this is not a database")
    create_sqlite_db(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (5000,)


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "demo.sqlite"
    create_sqlite_db(path)
    assert path.is_file()


def test_unusable_directory_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(DemoDatabaseError, match=re.escape(str(blocker))):
        create_sqlite_db(blocker / "demo.sqlite")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_gives_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "locked"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        with pytest.raises(DemoDatabaseError, match=re.escape(str(directory))):
            create_sqlite_db(directory / "demo.sqlite")
    finally:
        directory.chmod(0o700)
