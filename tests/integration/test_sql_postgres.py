"""The SQL tool on PostgreSQL: same data, same answers as SQLite, read-only transactions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import demo_schema, reader_role, with_search_path
from tools.demo_db import COLUMNS, TABLES, create_sqlite_db, load_postgres
from tools.sql import SqlConnectionError, SqlDatabase, SqlExecutionError, SqlValidationError

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture(scope="module")
def pg_server(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture(scope="module")
def pg_schema(pg_server: str) -> Iterator[str]:
    with demo_schema(pg_server, "demo_test") as schema:
        yield schema


@pytest.fixture(scope="module")
def pg_reader(pg_server: str, pg_schema: str) -> Iterator[str]:
    with reader_role(pg_server, pg_schema) as url:
        yield url


@pytest.fixture(scope="module")
def pg(pg_reader: str) -> Iterator[SqlDatabase]:
    database = SqlDatabase.open(pg_reader)
    yield database
    database.close()


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlDatabase]:
    path = create_sqlite_db(tmp_path_factory.mktemp("sql_pg") / "demo.sqlite")
    database = SqlDatabase.open(str(path))
    yield database
    database.close()


def normalized(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return round(float(value), 2)
    return value


def normalized_rows(rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(normalized(value) for value in row) for row in rows]


def test_schema_matches_sqlite(pg: SqlDatabase, lite: SqlDatabase) -> None:
    assert pg.dialect == "postgres"
    assert pg.tables() == lite.tables()
    assert pg.schema_text() == lite.schema_text()
    assert pg.schema_text(sample_values=True) == lite.schema_text(sample_values=True)


@pytest.mark.parametrize("table", TABLES)
def test_same_rows_as_sqlite(pg: SqlDatabase, lite: SqlDatabase, table: str) -> None:
    order = ", ".join(COLUMNS[table][:2] if table == "order_items" else COLUMNS[table][:1])
    sql = f"SELECT * FROM {table} ORDER BY {order}"
    pg_rows = pg.run(sql, row_limit=20_000).rows
    lite_rows = lite.run(sql, row_limit=20_000).rows
    assert len(pg_rows) == len(lite_rows) > 0
    assert normalized_rows(pg_rows) == normalized_rows(lite_rows)


# (query in SQLite dialect, whether the row order is significant)
SAME_ANSWER_QUERIES: list[tuple[str, bool]] = [
    ("SELECT COUNT(*) FROM orders", True),
    ("SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY n DESC", True),
    (
        "SELECT r.region, ROUND(SUM(oi.quantity * oi.unit_price), 2) AS revenue "
        "FROM sales_reps r JOIN customers c ON c.rep_id = r.id "
        "JOIN orders o ON o.customer_id = c.id JOIN order_items oi ON oi.order_id = o.id "
        "WHERE o.status <> 'cancelled' GROUP BY r.region ORDER BY revenue DESC",
        True,
    ),
    (
        "SELECT strftime('%Y', order_date) AS year, COUNT(*) AS n FROM orders "
        "GROUP BY year ORDER BY year",
        True,
    ),
    (
        "SELECT strftime('%Y-%m', order_date) AS month, COUNT(*) FROM orders "
        "WHERE order_date >= '2025-01-01' GROUP BY month ORDER BY month",
        True,
    ),
    (
        "SELECT c.segment, COUNT(DISTINCT o.customer_id) AS buyers FROM customers c "
        "JOIN orders o ON o.customer_id = c.id GROUP BY c.segment HAVING buyers > 5",
        False,
    ),
    (
        "WITH spend AS (SELECT o.customer_id, SUM(oi.quantity * oi.unit_price) AS total "
        "FROM orders o JOIN order_items oi ON oi.order_id = o.id GROUP BY o.customer_id) "
        "SELECT c.id, c.name, s.total FROM spend s JOIN customers c ON c.id = s.customer_id "
        "ORDER BY s.total DESC, c.id LIMIT 10",
        True,
    ),
    (
        "SELECT p.category, COUNT(*) AS products, AVG(p.unit_price) AS avg_price, "
        "MIN(p.unit_price), MAX(p.unit_price) FROM products p GROUP BY p.category",
        False,
    ),
    (
        "SELECT id, name FROM customers WHERE country IN ('Germany', 'France') "
        "AND industry = 'Software' ORDER BY id",
        True,
    ),
    ("SELECT name FROM customers WHERE name LIKE 'North%' ORDER BY id", True),
    (
        "SELECT id FROM orders WHERE order_date BETWEEN '2024-02-01' AND '2024-02-29' "
        "AND status = 'returned' ORDER BY id",
        True,
    ),
    (
        "SELECT c.id, (SELECT MAX(o.order_date) FROM orders o WHERE o.customer_id = c.id) "
        "AS last_order FROM customers c ORDER BY c.id",
        True,
    ),
    (
        "SELECT c.id, COUNT(o.id) AS n, MAX(o.order_date) AS last FROM customers c "
        "LEFT JOIN orders o ON o.customer_id = c.id AND o.order_date >= '2025-12-15' "
        "GROUP BY c.id ORDER BY last DESC, c.id",
        True,
    ),
    (
        "SELECT name FROM sales_reps WHERE region = 'EMEA' UNION "
        "SELECT name FROM customers WHERE country = 'Italy'",
        False,
    ),
    (
        "SELECT id, unit_price, RANK() OVER (PARTITION BY category ORDER BY unit_price DESC) "
        "AS price_rank FROM products ORDER BY id",
        True,
    ),
    (
        "SELECT CASE WHEN quantity >= 10 THEN 'bulk' ELSE 'small' END AS size, COUNT(*) AS n, "
        "SUM(quantity) FROM order_items GROUP BY size",
        False,
    ),
    (
        "SELECT o.id, COUNT(*) AS items FROM orders o JOIN order_items oi ON oi.order_id = o.id "
        "GROUP BY o.id HAVING items >= 5 ORDER BY o.id LIMIT 20",
        True,
    ),
    ("SELECT name AS n FROM products WHERE n LIKE '%Support%' ORDER BY id", True),
    ("SELECT * FROM sales_reps ORDER BY id", True),
]


@pytest.mark.parametrize(("sql", "ordered"), SAME_ANSWER_QUERIES)
def test_same_answers_as_sqlite(
    pg: SqlDatabase, lite: SqlDatabase, sql: str, ordered: bool
) -> None:
    lite_result = lite.run(sql, row_limit=1000)
    pg_result = pg.run(sql, row_limit=1000)  # SQLite dialect, transpiled to PostgreSQL
    assert len(pg_result.columns) == len(lite_result.columns)
    assert pg_result.truncated == lite_result.truncated
    lite_rows = normalized_rows(lite_result.rows)
    pg_rows = normalized_rows(pg_result.rows)
    if not ordered:
        lite_rows, pg_rows = sorted(lite_rows, key=repr), sorted(pg_rows, key=repr)
    assert pg_rows == lite_rows
    assert lite_rows  # the comparison means something


def test_postgres_dialect_queries_run_unchanged(pg: SqlDatabase) -> None:
    sql = "SELECT name FROM customers WHERE name ILIKE 'north%' ORDER BY id"
    result = pg.run(sql, read_dialect="postgres")
    assert result.sql == f"{sql}\nLIMIT 101"
    assert result.rows


def test_validation_messages_on_postgres(pg: SqlDatabase) -> None:
    with pytest.raises(SqlValidationError, match="did you mean `name`"):
        pg.validate("SELECT cust_name FROM customers")
    with pytest.raises(SqlValidationError, match="not DELETE"):
        pg.validate("DELETE FROM orders", read_dialect="postgres")
    with pytest.raises(SqlValidationError, match="found DELETE inside"):
        pg.validate(
            "WITH gone AS (DELETE FROM orders RETURNING id) SELECT COUNT(*) FROM gone",
            read_dialect="postgres",
        )
    with pytest.raises(SqlValidationError, match="without a schema prefix"):
        pg.validate("SELECT * FROM pg_catalog.pg_user", read_dialect="postgres")
    with pytest.raises(SqlValidationError, match="no table `pg_user`"):
        pg.validate("SELECT * FROM pg_user", read_dialect="postgres")
    with pytest.raises(SqlValidationError, match="function `pg_sleep` is not allowed"):
        pg.validate("SELECT pg_sleep(5)", read_dialect="postgres")


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM orders",
        "UPDATE orders SET status = 'shipped'",
        "INSERT INTO sales_reps VALUES (99, 'x', 'EMEA', '2024-01-01')",
        "CREATE TABLE scratch (a integer)",
        "DROP TABLE order_items",
        "SELECT 1; DELETE FROM orders",
        "COMMIT; DELETE FROM orders",
        "TRUNCATE orders CASCADE",
    ],
)
def test_writes_fail_in_the_read_only_transaction(pg: SqlDatabase, sql: str) -> None:
    with pytest.raises(SqlExecutionError):
        pg.execute(sql)
    assert pg.run("SELECT COUNT(*) FROM orders").rows == [[5000]]
    assert pg.run("SELECT COUNT(*) FROM order_items").rows[0][0] > 11_000


def test_read_only_message(pg: SqlDatabase) -> None:
    with pytest.raises(SqlExecutionError, match="cannot execute DELETE in a read-only transaction"):
        pg.execute("DELETE FROM orders")


def test_session_settings_cannot_lift_read_only(pg: SqlDatabase) -> None:
    for setting in (
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "SET default_transaction_read_only = off",
    ):
        pg.execute(setting)  # allowed inside the transaction, which is then rolled back
        with pytest.raises(SqlExecutionError, match="read-only transaction"):
            pg.execute("DELETE FROM orders")
    assert pg.run("SELECT COUNT(*) FROM orders").rows == [[5000]]


def test_timeout_on_postgres(pg: SqlDatabase) -> None:
    endless = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n"
    )
    with pytest.raises(SqlExecutionError, match="timed out after 0.5s"):
        pg.run(endless, timeout_s=0.5)
    assert pg.run("SELECT COUNT(*) FROM customers").rows == [[200]]  # connection still usable


def test_execution_error_message(pg: SqlDatabase) -> None:
    with pytest.raises(SqlExecutionError, match='column "nope" does not exist'):
        pg.execute("SELECT nope FROM orders")
    assert pg.run("SELECT COUNT(*) FROM products").rows == [[40]]


def test_percent_signs_are_not_placeholders(pg: SqlDatabase) -> None:
    result = pg.run("SELECT COUNT(*) FROM products WHERE name LIKE '%Support%'")
    assert result.rows[0][0] > 0


def test_load_is_repeatable(pg_server: str) -> None:
    with demo_schema(pg_server, "reload") as schema:
        load_postgres(pg_server, schema=schema)  # drops and recreates the tables
        with SqlDatabase.open(
            with_search_path(pg_server, schema), allow_privileged=True
        ) as database:
            assert database.run("SELECT COUNT(*) FROM orders").rows == [[5000]]


def test_a_superuser_is_refused_with_the_sql_of_a_reader_role(
    pg_server: str, pg_schema: str
) -> None:
    with pytest.raises(SqlConnectionError) as info:
        SqlDatabase.open(with_search_path(pg_server, pg_schema))
    message = info.value.message
    assert "it is a superuser" in message
    assert "CREATE ROLE slm_reader LOGIN PASSWORD" in message
    assert f'GRANT SELECT ON ALL TABLES IN SCHEMA "{pg_schema}" TO slm_reader' in message
    assert "SLM_SQL_ALLOW_PRIVILEGED=1" in message


def test_a_role_that_may_write_is_refused(pg_server: str, pg_schema: str, pg_reader: str) -> None:
    role = pg_reader.split("//", 1)[1].split(":", 1)[0]
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'GRANT INSERT ON "{pg_schema}".orders TO {role}'.encode())
    try:
        with pytest.raises(SqlConnectionError) as info:
            SqlDatabase.open(pg_reader)
        assert "may write to 1 table(s)" in info.value.message
        assert f"{pg_schema}.orders" in info.value.message
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'REVOKE INSERT ON "{pg_schema}".orders FROM {role}'.encode())
    with SqlDatabase.open(pg_reader) as database:  # a reader again
        assert database.run("SELECT COUNT(*) FROM orders").rows == [[5000]]


def test_table_list_hides_tables_on_postgres(pg_reader: str) -> None:
    with SqlDatabase.open(pg_reader, tables="!sales_reps") as database:
        assert "sales_reps" not in database.tables()
        with pytest.raises(SqlValidationError, match="no table `sales_reps`"):
            database.validate("SELECT name FROM sales_reps")
        assert "REFERENCES sales_reps" not in database.schema_text()


def test_a_huge_value_never_crosses_the_wire(pg: SqlDatabase) -> None:
    bomb = "replace(name, 'a', 'aaaaaaaaaaaaaaaaaaaa')"
    for _ in range(4):
        bomb = f"replace({bomb}, 'a', 'aaaaaaaaaaaaaaaaaaaa')"
    result = pg.run(
        f"SELECT id, {bomb} AS s FROM customers WHERE name LIKE '%a%' ORDER BY id", row_limit=3
    )
    assert len(result.rows) == 3
    assert any("value left out" in str(row[1]) for row in result.rows)
    assert all(len(str(row[1])) < 200 for row in result.rows)


def test_an_explicit_huge_limit_is_not_pulled_into_memory(pg: SqlDatabase) -> None:
    sql = (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000000) "
        "SELECT x FROM n LIMIT 100000000"
    )
    result = pg.execute(sql, row_limit=10, timeout_s=5)  # a full fetch would time out
    assert result.rows == [[i] for i in range(1, 11)] and result.truncated


def test_open_bad_server() -> None:
    with pytest.raises(SqlConnectionError):
        SqlDatabase.open("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2")


def test_setup_creates_a_reader_role_and_prints_its_url(
    pg_server: str, pg_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import psycopg

    from graph.cli import main

    role = f"slm_setup_{pg_schema[-10:]}"
    admin = with_search_path(pg_server, pg_schema)
    argv = ["--data-dir", str(tmp_path), "setup", "--database", admin, "--sql-reader-role", role]
    try:
        assert main(argv) == 0
        printed = capsys.readouterr()
        url = printed.out.strip().removeprefix("SLM_DATABASE_URL=")
        with SqlDatabase.open(url) as database:  # not refused: it can only read
            assert database.run("SELECT COUNT(*) FROM customers").rows == [[200]]
        assert main(["--data-dir", str(tmp_path), "setup", "--database", url]) == 0
        assert "read-only: ok" in capsys.readouterr().err
        assert main(["--data-dir", str(tmp_path), "setup", "--database", admin]) == 0
        assert "refusing to run model-written SQL" in capsys.readouterr().err
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}".encode())
            conn.execute(f"DROP ROLE IF EXISTS {role}".encode())


def test_graph_sql_node_refuses_a_superuser_and_says_why(pg_server: str, pg_schema: str) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.api import Dispatcher
    from graph.context import Context

    context = Context(backend="embedded", database_url=with_search_path(pg_server, pg_schema))
    result = Dispatcher(InMemorySaver(), context).ask("How many customers are there?")
    assert result.results[0]["status"] == "failed"
    assert "refusing to run model-written SQL" in result.results[0]["output"]
