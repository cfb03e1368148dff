from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from tools.demo_db import COLUMNS, TABLES, create_sqlite_db
from tools.sql import (
    Column,
    QueryResult,
    SqlConnectionError,
    SqlDatabase,
    SqlExecutionError,
    SqlToolError,
    SqlValidationError,
    clean_sql,
)
from tools.sql.results import _json_value


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_sqlite_db(tmp_path_factory.mktemp("sql_tools") / "demo.sqlite")


@pytest.fixture(scope="module")
def db(db_path: Path) -> Iterator[SqlDatabase]:
    database = SqlDatabase.open(str(db_path))
    yield database
    database.close()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------- opening


def test_open_reads_the_live_schema(db: SqlDatabase) -> None:
    assert db.dialect == "sqlite"
    tables = db.tables()
    assert list(tables) == list(TABLES)
    for table in TABLES:
        assert [c.name for c in tables[table]] == list(COLUMNS[table])
    assert tables["orders"] == [
        Column("id", "INTEGER"),
        Column("customer_id", "INTEGER"),
        Column("order_date", "DATE"),
        Column("status", "TEXT"),
    ]
    tables["orders"].clear()  # a copy: the database's view is unchanged
    assert len(db.tables()["orders"]) == 4


def test_schema_is_read_from_the_database_not_hard_coded(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE widgets (sku TEXT PRIMARY KEY, weight REAL)")
        conn.execute("INSERT INTO widgets VALUES ('a', 1.5)")
    conn.close()
    with SqlDatabase.open(f"sqlite:///{path}") as other:
        assert other.tables() == {"widgets": [Column("sku", "TEXT"), Column("weight", "REAL")]}
        assert other.run("SELECT sku, weight FROM widgets").rows == [["a", 1.5]]
        with pytest.raises(SqlValidationError, match="no table `orders`"):
            other.validate("SELECT * FROM orders")


def test_schema_text(db: SqlDatabase) -> None:
    text = db.schema_text()
    lines = text.splitlines()
    assert len(lines) == 5
    assert lines[0] == (
        "CREATE TABLE sales_reps (id INTEGER PRIMARY KEY, name TEXT, region TEXT, hired_on DATE);"
    )
    assert "rep_id INTEGER REFERENCES sales_reps(id)" in lines[1]
    assert "PRIMARY KEY (order_id, product_id)" in lines[4]
    assert "product_id INTEGER REFERENCES products(id)" in lines[4]
    with_values = db.schema_text(sample_values=True)
    assert "--   orders.status: 'cancelled', 'delivered', 'pending', 'returned', 'shipped'" in (
        with_values
    )
    assert "customers.name:" not in with_values  # 200 distinct names are not listed


def test_open_accepts_sqlite_urls(db_path: Path) -> None:
    with SqlDatabase.open(f"sqlite:///{db_path}") as database:
        assert database.run("SELECT COUNT(*) FROM products").rows == [[40]]


def test_open_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(SqlConnectionError, match="not found") as info:
        SqlDatabase.open(str(missing))
    assert str(missing) in info.value.message
    assert not missing.exists()  # opening read-only never creates the file


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:memory", "mysql://host/db"])
def test_open_unsupported_url(url: str) -> None:
    with pytest.raises(SqlConnectionError, match="unsupported"):
        SqlDatabase.open(url)


def test_open_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(SqlConnectionError, match="not a database"):
        SqlDatabase.open(str(path))


def test_postgres_connection_failure_is_clear() -> None:
    with pytest.raises(SqlConnectionError, match="cannot connect to PostgreSQL"):
        SqlDatabase.open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


# ------------------------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("  SELECT 1 ;  ", "SELECT 1"),
        ("SELECT 1;;", "SELECT 1"),
        ("```sql\nSELECT 1;\n```", "SELECT 1"),
        ("```\nSELECT 1\n```", "SELECT 1"),
        ("```SQL SELECT 1```", "SELECT 1"),
        ("```SELECT 1```", "SELECT 1"),
        ("Here it is:\n```sqlite\nSELECT 1;\n```\nDone.", "SELECT 1"),
        ("```sql\nSELECT 1", "SELECT 1"),
        ("", ""),
    ],
)
def test_clean_sql(raw: str, expected: str) -> None:
    assert clean_sql(raw) == expected


# ------------------------------------------------------------------------------- validation

VALID_QUERIES = [
    "SELECT COUNT(*) FROM customers",
    "select * from orders where status = 'pending'",
    "SELECT c.name, r.name AS rep, r.region FROM customers c "
    "JOIN sales_reps r ON r.id = c.rep_id WHERE c.segment = 'Enterprise'",
    "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY n DESC",
    "SELECT r.region, SUM(oi.quantity * oi.unit_price) AS revenue FROM sales_reps r "
    "JOIN customers c ON c.rep_id = r.id JOIN orders o ON o.customer_id = c.id "
    "JOIN order_items oi ON oi.order_id = o.id GROUP BY r.region HAVING revenue > 0 "
    "ORDER BY revenue DESC",
    "SELECT strftime('%Y', order_date) AS year, COUNT(*) FROM orders GROUP BY year",
    "WITH totals AS (SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY customer_id) "
    "SELECT c.name, t.n FROM totals t JOIN customers c ON c.id = t.customer_id "
    "ORDER BY t.n DESC LIMIT 5",
    "SELECT name FROM (SELECT name, category FROM products) p WHERE p.category = 'Support'",
    "SELECT p.category, AVG(p.unit_price) avg_price FROM products AS p GROUP BY 1",
    "SELECT id FROM orders o WHERE EXISTS "
    "(SELECT 1 FROM order_items i WHERE i.order_id = o.id AND i.quantity > 40)",
    "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders "
    "WHERE order_date BETWEEN '2025-01-01' AND '2025-03-31')",
    "SELECT name FROM sales_reps UNION SELECT name FROM customers ORDER BY name",
    "SELECT name, RANK() OVER (PARTITION BY category ORDER BY unit_price DESC) AS rnk "
    "FROM products",
    "SELECT CASE WHEN quantity >= 10 THEN 'bulk' ELSE 'small' END AS size, COUNT(*) "
    "FROM order_items GROUP BY size",
    "SELECT c.name, (SELECT MAX(o.order_date) FROM orders o WHERE o.customer_id = c.id) AS last "
    "FROM customers c ORDER BY last DESC",
    "SELECT COUNT(DISTINCT customer_id) FROM orders WHERE order_date >= date('2025-12-31', "
    "'-30 days')",
    "SELECT CUSTOMERS.Name FROM Customers WHERE Country = 'USA'",
    "SELECT o.id, oi.product_id FROM orders o LEFT JOIN order_items oi ON oi.order_id = o.id",
    "SELECT c.name FROM customers c JOIN sales_reps s USING (id)",
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT x FROM n",
    "SELECT name AS n FROM customers WHERE n LIKE 'A%'",
    "-- how many?\nSELECT COUNT(*) FROM orders -- all of them",
    "```sql\nSELECT COUNT(*) FROM orders;\n```",
]


@pytest.mark.parametrize("sql", VALID_QUERIES)
def test_valid_queries_pass_and_run(db: SqlDatabase, sql: str) -> None:
    validated = db.validate(sql)
    assert validated == clean_sql(sql)  # same dialect: the text is kept as written
    result = db.execute(validated)
    assert isinstance(result, QueryResult)
    assert result.columns
    json.dumps(result.rows)


REJECTED = [
    ("", "empty query"),
    ("   ;  ", "empty query"),
    ("-- just a comment", "empty query"),
    ("SELECT 1; SELECT 2", "only one SELECT statement is allowed"),
    ("SELECT * FROM orders; DELETE FROM orders", "only one SELECT statement is allowed"),
    ("DELETE FROM orders", "only SELECT queries are allowed, not DELETE"),
    ("DROP TABLE orders", "only SELECT queries are allowed, not DROP"),
    ("INSERT INTO sales_reps VALUES (13, 'x', 'EMEA', '2024-01-01')", "not INSERT"),
    ("UPDATE orders SET status = 'shipped'", "not UPDATE"),
    ("CREATE TABLE t AS SELECT * FROM orders", "not CREATE"),
    ("ALTER TABLE orders ADD COLUMN x INT", "not ALTER"),
    ("PRAGMA table_info(orders)", "not PRAGMA"),
    ("ATTACH DATABASE 'x.db' AS x", "not ATTACH"),
    ("VACUUM", "only SELECT queries are allowed"),
    ("EXPLAIN SELECT 1", "only SELECT queries are allowed"),
    ("BEGIN", "only SELECT queries are allowed"),
    ("WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x", "found DELETE inside"),
    ("SELECT * INTO backup FROM orders", "SELECT ... INTO is not allowed"),
    ("SELECT load_extension('evil')", "function `load_extension` is not allowed"),
    ("SELECT * FROM pragma_table_info('orders')", "function `pragma_table_info` is not allowed"),
    ("SELECT * FROM sqlite_master", "no table `sqlite_master`"),
    ("SELECT * FROM main.orders", "without a schema prefix"),
    ("SELECT * FROM custmers", "no table `custmers`; did you mean `customers`?"),
    ("SELECT * FROM order", "did you mean `orders`?"),
    ("SELECT x FROM invoices", "no table `invoices`; tables: sales_reps, customers"),
    (
        "SELECT cust_name FROM customers",
        "no column `cust_name` in table `customers`; did you mean `name`?",
    ),
    ("SELECT customer_name FROM customers", "did you mean `name`?"),
    ("SELECT date FROM orders", "no column `date` in table `orders`; did you mean `order_date`?"),
    ("SELECT o.order_id FROM orders o", "no column `order_id` in table `orders` (alias `o`)"),
    (
        "SELECT o.id, oi.price FROM orders o JOIN order_items oi ON oi.order_id = o.id",
        "did you mean `oi.unit_price`?",
    ),
    (
        "SELECT id FROM orders o WHERE EXISTS (SELECT 1 FROM order_items i WHERE i.qty > 3)",
        "no column `qty` in table `order_items` (alias `i`); did you mean `i.quantity`?",
    ),
    (
        "SELECT region FROM customers",
        "`region` is a column of `sales_reps`: JOIN sales_reps ON sales_reps.id = customers.rep_id",
    ),
    ("SELECT x.name FROM customers c", "unknown table or alias `x` in `x.name`"),
    (
        "SELECT name FROM customers c JOIN sales_reps r ON r.id = c.rep_id",
        "column `name` is ambiguous",
    ),
    ('SELECT COUNT(*) FROM orders WHERE status = "shipped"', "use single quotes: 'shipped'"),
    (
        "WITH t AS (SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY customer_id) "
        "SELECT customer_id FROM t WHERE m > 3",
        "no column `m` in CTE `t`",
    ),
    ("SELECT t.m FROM (SELECT COUNT(*) AS n FROM orders) t", "no column `m` in subquery `t`"),
    ("SELECT order_id FROM order_items JOIN orders USING (id)", "JOIN ... USING (id)"),
    (
        "SELECT id FROM orders UNION SELECT customer_id FROM orders ORDER BY idd",
        "ORDER BY `idd` after UNION must be an output column",
    ),
    ("SELECT * FORM orders", "syntax error at line 1, column 20 near `orders`"),
    ("SELECT id FROM orders WHERE", "incomplete WHERE clause"),
    ("SELECT id\nFROM orders GROUP status", "syntax error at line 2, column 24 near `status`"),
    ("SELECT 'abc FROM orders", "unterminated string"),
]


@pytest.mark.parametrize(("sql", "message"), REJECTED)
def test_rejections(db: SqlDatabase, sql: str, message: str) -> None:
    with pytest.raises(SqlValidationError) as info:
        db.validate(sql)
    assert message in info.value.message
    assert str(info.value) == info.value.message
    assert len(info.value.message) < 300  # short enough for a small model's context


def test_postgres_only_syntax_is_rejected_or_transpiled(db: SqlDatabase) -> None:
    with pytest.raises(SqlValidationError, match="FOR UPDATE"):
        db.validate("SELECT * FROM orders FOR UPDATE", read_dialect="postgres")
    with pytest.raises(SqlValidationError, match="function `pg_sleep` is not allowed"):
        db.validate("SELECT pg_sleep(10)", read_dialect="postgres")
    with pytest.raises(SqlValidationError, match="function `set_config` is not allowed"):
        db.validate("SELECT set_config('a', 'b', false)", read_dialect="postgres")
    sql = db.validate(
        "SELECT name FROM customers WHERE name ILIKE 'north%' ORDER BY name",
        read_dialect="postgresql",
    )
    assert "ILIKE" not in sql.upper()
    rows = db.execute(sql).rows
    assert rows and all(row[0].lower().startswith("north") for row in rows)


def test_unknown_read_dialect(db: SqlDatabase) -> None:
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        db.validate("SELECT 1", read_dialect="klingon")


def test_errors_share_a_base_class() -> None:
    assert issubclass(SqlValidationError, SqlToolError)
    assert issubclass(SqlExecutionError, SqlToolError)
    assert issubclass(SqlConnectionError, SqlToolError)


# ------------------------------------------------------------------------------- execution


def test_limit_is_added_and_truncation_detected(db: SqlDatabase) -> None:
    result = db.run("SELECT id FROM orders ORDER BY id", row_limit=5)
    assert result.sql == "SELECT id FROM orders ORDER BY id\nLIMIT 6"
    assert result.rows == [[1], [2], [3], [4], [5]]
    assert result.truncated is True
    assert result.columns == ["id"]
    assert result.elapsed_s >= 0


def test_exactly_row_limit_rows_is_not_truncated(db: SqlDatabase) -> None:
    assert db.run("SELECT id FROM sales_reps", row_limit=12).truncated is False
    assert db.run("SELECT id FROM sales_reps", row_limit=11).truncated is True


def test_own_limit_is_kept(db: SqlDatabase) -> None:
    result = db.run("SELECT id FROM orders ORDER BY id LIMIT 3", row_limit=10)
    assert result.sql == "SELECT id FROM orders ORDER BY id LIMIT 3"
    assert result.rows == [[1], [2], [3]] and result.truncated is False
    big = db.run("SELECT id FROM orders LIMIT 1000", row_limit=10)
    assert len(big.rows) == 10 and big.truncated is True


def test_limit_survives_a_trailing_comment(db: SqlDatabase) -> None:
    result = db.run("SELECT id FROM orders -- every order", row_limit=2)
    assert len(result.rows) == 2 and result.truncated is True


def test_union_gets_one_limit(db: SqlDatabase) -> None:
    result = db.run("SELECT id FROM sales_reps UNION SELECT id FROM products", row_limit=3)
    assert result.sql.endswith("\nLIMIT 4") and len(result.rows) == 3 and result.truncated


def test_values_are_json_friendly(db: SqlDatabase) -> None:
    result = db.run(
        "SELECT o.order_date, oi.unit_price, oi.quantity, o.status FROM orders o "
        "JOIN order_items oi ON oi.order_id = o.id ORDER BY o.id LIMIT 3"
    )
    json.dumps(result.rows)
    date, price, quantity, status = result.rows[0]
    assert dt.date.fromisoformat(date)
    assert isinstance(price, float) and isinstance(quantity, int) and isinstance(status, str)


def test_json_value_conversion() -> None:
    assert _json_value(Decimal("12.50")) == 12.5
    assert _json_value(Decimal("1234")) == 1234 and isinstance(_json_value(Decimal("1234")), int)
    assert _json_value(dt.date(2024, 2, 29)) == "2024-02-29"
    assert _json_value(dt.datetime(2024, 2, 29, 8, 30)) == "2024-02-29T08:30:00"
    assert _json_value(b"\x01\xff") == "01ff"
    assert _json_value(float("nan")) == "nan"
    assert _json_value([Decimal("1.5"), None]) == [1.5, None]


def test_empty_result(db: SqlDatabase) -> None:
    result = db.run("SELECT id FROM orders WHERE status = 'no such status'")
    assert result.rows == [] and result.truncated is False and result.columns == ["id"]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM orders",
        "UPDATE orders SET status = 'shipped'",
        "INSERT INTO sales_reps VALUES (99, 'x', 'EMEA', '2024-01-01')",
        "DROP TABLE order_items",
        "CREATE TABLE scratch (a INTEGER)",
        "ATTACH DATABASE ':memory:' AS scratch",
        "PRAGMA query_only = OFF",
        "SELECT 1; DELETE FROM orders",
    ],
)
def test_writes_fail_at_the_connection(db: SqlDatabase, db_path: Path, sql: str) -> None:
    before = file_digest(db_path)
    with pytest.raises(SqlExecutionError):
        db.execute(sql)
    assert file_digest(db_path) == before
    assert db.run("SELECT COUNT(*) FROM orders").rows == [[5000]]


def test_read_only_even_with_query_only_off(db_path: Path) -> None:
    """mode=ro holds even if the authorizer and query_only were both bypassed."""
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM orders")
    finally:
        conn.close()


def test_execution_errors_are_reported(db: SqlDatabase) -> None:
    with pytest.raises(SqlExecutionError, match="no such column: nope"):
        db.execute("SELECT nope FROM orders")
    with pytest.raises(SqlExecutionError, match="empty query"):
        db.execute("  ")


def test_timeout(db: SqlDatabase) -> None:
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n"
    )
    started = time.monotonic()
    with pytest.raises(SqlExecutionError, match="timed out after 0.3s"):
        db.run(endless, timeout_s=0.3)
    assert time.monotonic() - started < 3
    assert db.run("SELECT COUNT(*) FROM customers").rows == [[200]]  # still usable


def test_argument_checks(db: SqlDatabase) -> None:
    with pytest.raises(ValueError):
        db.execute("SELECT 1", row_limit=-1)
    with pytest.raises(ValueError):
        db.execute("SELECT 1", timeout_s=0)
    assert db.run("SELECT id FROM orders", row_limit=0).rows == []


def test_concurrent_use(db: SqlDatabase) -> None:
    def work(i: int) -> int:
        rows = db.run(f"SELECT COUNT(*) FROM orders WHERE customer_id = {i % 200 + 1}").rows
        return int(rows[0][0])

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(work, range(400)))
    assert sum(counts[:200]) == 5000


def test_closed_database(db_path: Path) -> None:
    database = SqlDatabase.open(str(db_path))
    database.close()
    database.close()  # idempotent
    with pytest.raises(SqlExecutionError, match="closed"):
        database.run("SELECT 1")


def _replace_bomb(levels: int) -> str:
    bomb = "name"
    for _ in range(levels):
        bomb = f"replace({bomb}, 'a', 'aaaaaaaaaaaaaaaaaaaa')"
    return f"SELECT {bomb} AS s FROM customers WHERE name GLOB '*a*' ORDER BY id"


def test_sqlite_refuses_to_build_a_huge_value(db: SqlDatabase) -> None:
    with pytest.raises(SqlExecutionError, match="too big"):
        db.run(_replace_bomb(5))
    result = db.run("SELECT printf('%.*c', 200000000, 'x') AS s")
    assert len(str(result.rows)) < 100  # SQLite gives NULL rather than 200 MB


def test_values_over_the_cap_are_left_out_with_their_size(db: SqlDatabase) -> None:
    result = db.run(_replace_bomb(4), row_limit=5)
    assert len(result.rows) == 5
    for (value,) in result.rows:
        assert value.startswith("[value left out: ") and "16384-byte cap" in value
    small = db.run("SELECT printf('%.*c', 1000, 'x') AS s")
    assert small.rows == [["x" * 1000]]


def test_results_stop_at_the_byte_cap(db: SqlDatabase) -> None:
    from tools.sql import MAX_RESULT_BYTES

    sql = (
        "SELECT printf('%.*c', 10000, 'x') AS s, id FROM order_items "
        "JOIN orders ON orders.id = order_items.order_id"
    )
    result = db.run(sql, row_limit=100_000)
    assert result.truncated
    held = sum(len(row[0]) for row in result.rows)
    assert MAX_RESULT_BYTES - 20_000 < held <= MAX_RESULT_BYTES


def test_a_row_over_the_row_cap_fails_clearly(db: SqlDatabase) -> None:
    columns = ", ".join(f"printf('%.*c', 15000, 'x') AS c{i}" for i in range(6))
    with pytest.raises(SqlExecutionError, match="over the 65536-byte cap"):
        db.run(f"SELECT {columns}")


@pytest.mark.parametrize(
    ("tables", "visible"),
    [
        ("customers, orders", ["customers", "orders"]),
        ("!sales_reps", ["customers", "products", "orders", "order_items"]),
        ("ORDERS,order_items,!order_items", ["orders"]),
    ],
)
def test_table_list(db_path: Path, tables: str, visible: list[str]) -> None:
    with SqlDatabase.open(str(db_path), tables=tables) as database:
        assert list(database.tables()) == visible
        hidden = [t for t in ("sales_reps", "customers", "orders") if t not in visible]
        for table in hidden:
            with pytest.raises(SqlValidationError, match=f"no table `{table}`"):
                database.validate(f"SELECT COUNT(*) FROM {table}")
            assert f"CREATE TABLE {table} " not in database.schema_text()


def test_table_list_with_an_unknown_name_is_refused(db_path: Path) -> None:
    with pytest.raises(SqlConnectionError, match="names `custmers`, which the database"):
        SqlDatabase.open(str(db_path), tables="custmers")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT " + "+".join(["1"] * 3000),
        "SELECT id FROM orders WHERE " + " OR ".join(["id = 1"] * 1500),
        "SELECT " + "-".join(["id"] * 2500) + " FROM orders",
    ],
)
def test_long_flat_expressions_never_raise_recursion_error(db: SqlDatabase, sql: str) -> None:
    try:
        db.validate(sql)
    except SqlValidationError as err:
        assert "\n" not in err.message
