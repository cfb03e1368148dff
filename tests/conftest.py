from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.context import Context
from nodes import resources
from specialists.scope import Cues
from tools.demo_db import create_sqlite_db
from tools.salesforce import SalesforceClient


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo database, built once per test session."""
    return create_sqlite_db(tmp_path_factory.mktemp("demo") / "demo.sqlite")


@pytest.fixture(scope="session")
def demo_cues(demo_db: Path) -> Cues:
    """The router's cues for the demo database and the offline sandbox org."""
    return resources.cues(Context(database_url=str(demo_db), salesforce_credentials=None))


@pytest.fixture(scope="session")
def offline_org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SalesforceClient]:
    """A client of the offline sandbox org, started once per test session (read-only use)."""
    from tools.salesforce_sandbox import sandbox_client, start_sandbox

    with start_sandbox(tmp_path_factory.mktemp("org")) as server:
        yield sandbox_client(server)


@pytest.fixture(autouse=True)
def _no_salesforce_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SF_"):
            monkeypatch.delenv(name, raising=False)
