"""The engine's SQL targets against the llama.cpp grammar the SQL specialist decodes with.

Every target the engine composes, on the demo database and on a second schema, is fed token
by token through the value-grounded grammar of :func:`specialists.sql.sql_grammar`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from finetune.engine.__main__ import generate
from specialists.sql import sql_grammar
from tests.integration.test_datasets_validated import GrammarChecker
from tests.unit.test_engine_sql import build_library
from tools.sql import SqlDatabase

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def checker(base_model: None) -> GrammarChecker:
    return GrammarChecker()


@pytest.mark.parametrize("which", ["demo", "library"])
def test_every_shape_is_accepted_by_the_sql_grammar(
    which: str, checker: GrammarChecker, demo_db: Path, tmp_path: Path
) -> None:
    path = demo_db if which == "demo" else build_library(tmp_path / "library.sqlite")
    with SqlDatabase.open(str(path)) as database:
        train, _, _ = generate(database, count=900, seed=8)
        grammar = sql_grammar(database, "sqlite")
    targets = {r["target"]: r["family"] for r in train.records}
    assert len(set(targets.values())) == 9
    refused = [
        f"{target}: {problem}"
        for target in targets
        if (problem := checker.rejection(grammar, target)) is not None
    ]
    assert refused == []
