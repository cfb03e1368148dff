from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from finetune.engine.decline import decline_records, decline_requests
from specialists.scope import Cues, build_cues, words_of
from tests.unit.test_engine_sql import build_library
from tools.sql import SqlDatabase
from tools.sql_grammar import DECLINE


def cues_of(database: SqlDatabase) -> Cues:
    tables = {table: [c.name for c in columns] for table, columns in database.tables().items()}
    return build_cues(tables=tables, values=database.text_values(), describes={})


def test_declines_name_nothing_the_database_holds_beyond_a_table(demo_db: Path) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        requests = decline_requests(database, random.Random(3), 200)
        cues = cues_of(database)
        names = [words_of(table) for table in database.tables()]
    assert len(requests) == len(set(requests)) == 200
    # What a table's own words are cues for ("sales reps": also "sales" and "rep").
    tables = set().union(*(cues.named(f"{name} {name[:-1]}")["sql"] for name in names))
    assert "salary" not in tables and "weather" not in tables
    for text in requests:
        assert cues.named(text)["sql"] <= tables, text


def test_an_attribute_a_table_has_is_never_declined(tmp_path: Path) -> None:
    path = tmp_path / "staff.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE staff (id INTEGER PRIMARY KEY, name TEXT, salary REAL)")
        connection.executemany(
            "INSERT INTO staff (name, salary) VALUES (?, ?)", [("Ann", 10.0), ("Bo", 20.0)]
        )
    with SqlDatabase.open(str(path)) as database:
        requests = decline_requests(database, random.Random(5), 150)
    assert not any("salary" in text for text in requests)
    assert any("age" in text.split() for text in requests)


def test_decline_records_have_the_decline_as_target_and_are_deterministic(tmp_path: Path) -> None:
    with SqlDatabase.open(str(build_library(tmp_path / "library.sqlite"))) as database:
        first = decline_records(database, random.Random(9), 40)
        again = decline_records(database, random.Random(9), 40)
    assert first == again and len(first) == 40
    assert {r["target"] for r in first} == {DECLINE} and {r["family"] for r in first} == {"decline"}
