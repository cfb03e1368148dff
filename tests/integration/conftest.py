from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
import pytest

from runtime.paths import BASE_MODEL_FILENAME, MODELS_DIR, install_base_model
from tools.demo_db import load_postgres
from tools.sql_roles import create_reader_role

POSTGRES_URL = os.environ.get(
    "SLM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def base_model() -> None:
    """The base GGUF next to the Modelfiles (what `slm-dispatch setup` does)."""
    if not (MODELS_DIR / BASE_MODEL_FILENAME).exists():
        install_base_model()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL server; skipped with a reason outside CI when it does not answer."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} does not answer in CI: {exc}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} does not answer: {exc}")
    return POSTGRES_URL


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    name = f"slm_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_search_path(url: str, schema: str) -> str:
    """``url`` with the PostgreSQL ``search_path`` set to ``schema``."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def demo_schema(postgres_url: str, prefix: str) -> Iterator[str]:
    """The demo data loaded into a fresh schema named ``<prefix>_<random>``, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    load_postgres(postgres_url, schema=schema)
    try:
        yield schema
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@contextmanager
def reader_role(postgres_url: str, schema: str) -> Iterator[str]:
    """A fresh role that can only read ``schema`` (made by the project's own helper).

    Yields its URL with the search path set to ``schema``; the role is dropped afterwards.
    """
    role = f"slm_reader_{uuid.uuid4().hex[:10]}"
    url = create_reader_role(with_search_path(postgres_url, schema), role)
    try:
        yield url
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            conn.execute(f"DROP OWNED BY {role}".encode())
            conn.execute(f"DROP ROLE {role}".encode())
