"""The adversarial corpus on PostgreSQL: same outcomes as on SQLite, and not one write lands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from evals.sql_bench import CorpusCase, load_corpus, run_case
from tests.integration.conftest import demo_schema, reader_role
from tools.demo_db import TABLES
from tools.sql import SqlDatabase, SqlExecutionError

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

CORPUS = load_corpus()

# Statements the second-wall test runs past the validator. Only data and schema writes,
# which a read-only transaction refuses: COPY ... TO PROGRAM, for one, is allowed in a
# read-only transaction and would run a shell command as the server's user.
BYPASS_CATEGORIES = {"write", "write_cte"}
# Of those, the ones a read-only transaction lets run: they change no data (a lock or a
# notification that dies with the rolled-back transaction, a prepared statement never run).
SESSION_ONLY = {"write-begin", "write-lock", "write-notify", "write-prepare"}


@pytest.fixture(scope="module")
def pg_schema(postgres_url: str) -> Iterator[str]:
    with demo_schema(postgres_url, "adversarial") as schema:
        yield schema


@pytest.fixture(scope="module")
def pg_url(postgres_url: str, pg_schema: str) -> Iterator[str]:
    """The corpus runs as a role that can only read, as a deployment should."""
    with reader_role(postgres_url, pg_schema) as url:
        yield url


@pytest.fixture(scope="module")
def pg(pg_url: str) -> Iterator[SqlDatabase]:
    database = SqlDatabase.open(pg_url)
    yield database
    database.close()


def fingerprint(url: str, schema: str) -> dict[str, object]:
    """Row count and content checksum per table, the schema's relations, and server objects."""
    found: dict[str, object] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES:
            found[table] = conn.execute(
                f"SELECT COUNT(*), md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')) "
                f'FROM "{schema}"."{table}" t'.encode()
            ).fetchone()
        found["relations"] = conn.execute(
            "SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (schema,),
        ).fetchone()
        found["large_objects"] = conn.execute(
            "SELECT COUNT(*) FROM pg_largeobject_metadata"
        ).fetchone()
        found["roles"] = conn.execute("SELECT COUNT(*) FROM pg_roles").fetchone()
    return found


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_case_outcome_on_postgres(pg: SqlDatabase, case: CorpusCase) -> None:
    outcome = run_case(pg, case, timeout_s=0.5)
    expect, reason = case.expected_on("postgres")
    assert (outcome.kind, reason in outcome.message) == (expect, True), outcome.message
    if outcome.kind != "accept":
        assert 10 < len(outcome.message) < 300, outcome.message


def test_no_write_reaches_postgres(postgres_url: str, pg_url: str, pg_schema: str) -> None:
    pwned = Path("/tmp/pwned")
    existed = pwned.exists()
    before = fingerprint(postgres_url, pg_schema)
    with SqlDatabase.open(pg_url) as database:
        for case in CORPUS:
            run_case(database, case, timeout_s=0.5)
        ran = set()
        for case in CORPUS:
            if case.expect == "reject" and case.category in BYPASS_CATEGORIES:
                try:
                    database.execute(case.sql, timeout_s=0.5)
                except SqlExecutionError:
                    continue
                ran.add(case.id)
        # The connection refuses every write too (read-only transaction, one statement per call).
        assert ran <= SESSION_ONLY
        assert database.execute("SELECT COUNT(*) FROM orders").rows == [[5000]]
    assert fingerprint(postgres_url, pg_schema) == before
    assert pwned.exists() == existed
