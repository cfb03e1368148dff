"""The adversarial corpus on SQLite: each case's expected outcome, and not one write lands."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.sql_bench import CorpusCase, load_corpus, run_case
from graph.context import Context
from nodes.sql import sql_settings
from specialists.base import Timer
from specialists.sql import answer_sql
from tests.fakes import ScriptedChatModel
from tools.demo_db import TABLES, create_sqlite_db
from tools.sql import SqlDatabase, SqlExecutionError, SqlToolError

CORPUS = load_corpus()
REQUIRED_CATEGORIES = {
    "injection",
    "stacked",
    "comment",
    "unicode",
    "enormous",
    "nested",
    "cartesian",
    "unknown_name",
    "wrong_dialect",
    "write",
    "write_cte",
    "explain",
    "admin",
    "side_effect_function",
}


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_sqlite_db(tmp_path_factory.mktemp("sql_adversarial") / "demo.sqlite")


@pytest.fixture(scope="module")
def db(db_path: Path) -> Iterator[SqlDatabase]:
    database = SqlDatabase.open(str(db_path))
    yield database
    database.close()


def fingerprint(path: Path) -> tuple[str, dict[str, int], list[str]]:
    """File checksum, row count per table, and every schema object's name."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
        counts = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES
        }
        names = sorted(row[0] for row in conn.execute("SELECT name FROM sqlite_master"))
    return digest, counts, names


def test_corpus_is_large_and_covers_every_category() -> None:
    assert len(CORPUS) >= 100
    assert len({case.id for case in CORPUS}) == len(CORPUS)
    assert REQUIRED_CATEGORIES <= {case.category for case in CORPUS}
    counts = Counter(case.expect for case in CORPUS)
    assert counts["reject"] >= 100 and counts["accept"] >= 10


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_case_outcome(db: SqlDatabase, case: CorpusCase) -> None:
    outcome = run_case(db, case, timeout_s=0.5)
    expect, reason = case.expected_on("sqlite")
    assert (outcome.kind, reason in outcome.message) == (expect, True), outcome.message
    if outcome.kind != "accept":
        # A clear reason: short, one line, and not a Python error.
        assert 10 < len(outcome.message) < 300, outcome.message
        assert "\n" not in outcome.message
        assert "Traceback" not in outcome.message and "<class" not in outcome.message


def test_no_write_reaches_the_database(db_path: Path) -> None:
    """Run the whole corpus, then every rejected statement past the validator: nothing changes."""
    before = fingerprint(db_path)
    with SqlDatabase.open(str(db_path)) as database:
        for case in CORPUS:
            run_case(database, case, timeout_s=0.5)
        # The second wall: the connection itself refuses what the validator rejected.
        for case in CORPUS:
            if case.expect == "reject" and case.category in {"write", "write_cte", "admin"}:
                try:
                    database.execute(case.sql, timeout_s=0.5)
                except SqlToolError:
                    pass
    assert fingerprint(db_path) == before


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM orders",
        "DROP TABLE customers",
        "UPDATE products SET unit_price = 0",
        "INSERT INTO sales_reps VALUES (99, 'x', 'EMEA', '2024-01-01')",
        "CREATE TABLE t (x INT)",
        "ATTACH DATABASE ':memory:' AS x",
        "PRAGMA query_only = OFF",
        "VACUUM",
    ],
)
def test_connection_refuses_writes_without_the_validator(db: SqlDatabase, sql: str) -> None:
    with pytest.raises(SqlExecutionError) as info:
        db.execute(sql, timeout_s=0.5)
    assert info.value.message


INJECTIONS = [case for case in CORPUS if case.category == "injection" and case.expect == "reject"]


@pytest.mark.parametrize("case", INJECTIONS, ids=[case.id for case in INJECTIONS])
def test_injected_question_cannot_write_through_the_node(db_path: Path, case: CorpusCase) -> None:
    """A model steered by a hostile question writes the hostile SQL every time: it never runs."""
    before = fingerprint(db_path)
    model = ScriptedChatModel.of([case.sql], repeat_last=True)
    context = Context(backend="embedded", database_url=str(db_path), max_repairs=2)
    with SqlDatabase.open(str(db_path)) as database:
        answer = answer_sql(model, database, case.question, sql_settings(context), Timer())
    assert answer.result is None
    assert len(answer.attempts) == 3
    assert all(case.reason in (attempt["error"] or "") for attempt in answer.attempts)
    assert answer.decoding == "free"  # a scripted model has no grammar support
    assert fingerprint(db_path) == before


def test_limits_are_configurable(db: SqlDatabase) -> None:
    sql = "SELECT COUNT(*) FROM orders WHERE customer_id IN (SELECT id FROM customers)"
    db.max_query_chars, saved = 20, db.max_query_chars
    try:
        with pytest.raises(SqlToolError, match="query too long: 75 characters, the limit is 20"):
            db.validate(sql)
    finally:
        db.max_query_chars = saved
    db.max_subquery_depth, saved = 0, db.max_subquery_depth
    try:
        with pytest.raises(SqlToolError, match="subqueries nested 1 deep, the limit is 0"):
            db.validate(sql)
    finally:
        db.max_subquery_depth = saved
    assert db.validate(sql) == sql
