"""The schema-driven SQL data engine on real SQLite databases: the demo and a library."""

from __future__ import annotations

import builtins
import io
import json
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from finetune.engine import FAMILIES, Composer, phrasing, read_profile, realise
from finetune.engine.__main__ import GOLD_ROWS, Split, generate, main
from finetune.engine.phrasing import MAX_REQUEST, _misspell, plural, singular, table_nouns
from tools.sql import SqlDatabase

FIELDS = [
    "id",
    "specialist",
    "family",
    "template",
    "entity",
    "request",
    "target",
    "gold_columns",
    "gold_rows",
]

LIBRARY_DDL = """
CREATE TABLE branches (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL);
CREATE TABLE authors (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, nationality TEXT NOT NULL, born_on DATE NOT NULL
);
CREATE TABLE members (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, tier TEXT NOT NULL,
  branch_id INTEGER NOT NULL REFERENCES branches(id), joined_on DATE NOT NULL, email TEXT
);
CREATE TABLE books (
  id INTEGER PRIMARY KEY, title TEXT NOT NULL, genre TEXT NOT NULL,
  author_id INTEGER NOT NULL REFERENCES authors(id), pages INTEGER NOT NULL,
  published_on DATE NOT NULL
);
CREATE TABLE loans (
  id INTEGER PRIMARY KEY, book_id INTEGER NOT NULL REFERENCES books(id),
  member_id INTEGER NOT NULL REFERENCES members(id), loaned_on DATE NOT NULL,
  returned_on DATE, late_fee NUMERIC NOT NULL
);
"""


def build_library(path: Path) -> Path:
    """A small lending-library database, deterministic, with NULLs in two columns."""
    rng = random.Random(11)
    first = ["Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
    last = ["Moreau", "Okafor", "Lindqvist", "Tanaka", "Silva", "Novak", "Byrne", "Haddad"]
    words = ["Silent", "River", "Glass", "Winter", "Garden", "Lantern", "Harbor", "Echo", "Stone"]
    nouns = ["Atlas", "Letters", "Orchard", "Machine", "Tide", "Kingdom", "Mirror", "Road"]
    with sqlite3.connect(path) as conn:
        conn.executescript(LIBRARY_DDL)
        cities = ["Leeds", "York", "Bath", "Derby"]
        for i in range(1, 7):
            conn.execute("INSERT INTO branches VALUES (?, ?, ?)", (i, f"Branch {i}", cities[i % 4]))
        nationalities = ["British", "French", "Nigerian", "Japanese", "Brazilian"]
        for i in range(1, 31):
            name = f"{rng.choice(first)} {rng.choice(last)} {i}"
            born = f"{rng.randint(1930, 1990)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            conn.execute(
                "INSERT INTO authors VALUES (?, ?, ?, ?)",
                (i, name, rng.choice(nationalities), born),
            )
        for i in range(1, 121):
            joined = f"{rng.randint(2018, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            email = None if rng.random() < 0.3 else f"member{i}@example.org"
            conn.execute(
                "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?)",
                (
                    i,
                    f"{rng.choice(first)} {rng.choice(last)}-{i}",
                    rng.choice(["basic", "plus", "premium"]),
                    rng.randint(1, 6),
                    joined,
                    email,
                ),
            )
        genres = ["Fiction", "History", "Science", "Poetry", "Travel", "Children"]
        for i in range(1, 201):
            published = f"{rng.randint(1980, 2024)}-{rng.randint(1, 12):02d}-01"
            conn.execute(
                "INSERT INTO books VALUES (?, ?, ?, ?, ?, ?)",
                (
                    i,
                    f"The {rng.choice(words)} {rng.choice(nouns)} {i}",
                    rng.choice(genres),
                    rng.randint(1, 30),
                    rng.randint(80, 900),
                    published,
                ),
            )
        for i in range(1, 1501):
            loaned = f"{rng.randint(2022, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            returned = None if rng.random() < 0.2 else loaned[:8] + "28"
            conn.execute(
                "INSERT INTO loans VALUES (?, ?, ?, ?, ?, ?)",
                (
                    i,
                    rng.randint(1, 200),
                    rng.randint(1, 120),
                    loaned,
                    returned,
                    round(rng.choice([0, 0, 0, 0.5, 1.5, 4.0]) * rng.randint(1, 3), 2),
                ),
            )
    return path


@pytest.fixture(scope="module")
def library_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_library(tmp_path_factory.mktemp("library") / "library.sqlite")


@pytest.fixture(scope="module")
def demo_splits(demo_db: Path) -> tuple[Split, Split]:
    with SqlDatabase.open(str(demo_db)) as database:
        train, heldout, _ = generate(database, count=900, seed=3, heldout_count=180)
    assert heldout is not None
    return train, heldout


@pytest.fixture(scope="module")
def library_split(library_db: Path) -> Split:
    with SqlDatabase.open(str(library_db)) as database:
        train, _, _ = generate(database, count=600, seed=5)
    return train


def records_of(*splits: Split) -> Iterator[dict[str, Any]]:
    for split in splits:
        yield from split.records


# ---------------------------------------------------------------- profile


def test_the_profile_reads_keys_values_ranges_and_labels_of_the_demo(demo_db: Path) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        profile = read_profile(database)
    assert list(profile.tables) == ["sales_reps", "customers", "products", "orders", "order_items"]
    keys = {(fk.table, fk.column, fk.ref_table) for fk in profile.foreign_keys}
    assert ("order_items", "order_id", "orders") in keys
    assert ("customers", "rep_id", "sales_reps") in keys
    status = profile.tables["orders"].columns["status"]
    assert status.is_category
    assert status.values == ("cancelled", "delivered", "pending", "returned", "shipped")
    order_date = profile.tables["orders"].columns["order_date"]
    assert order_date.is_date
    assert str(order_date.minimum) >= "2023-01-01" and str(order_date.maximum) <= "2025-12-31"
    quantity = profile.tables["order_items"].columns["quantity"]
    assert quantity.is_measure and quantity.kind == "integer"
    assert isinstance(quantity.minimum, int) and quantity.minimum >= 1
    assert profile.tables["customers"].label == "name"
    assert not profile.tables["customers"].columns["name"].is_category
    assert not profile.tables["sales_reps"].columns["name"].is_category  # 12 names, all unique
    assert profile.tables["orders"].label is None
    assert profile.tables["customers"].columns["rep_id"].is_key


def test_the_profile_finds_the_columns_that_hold_nulls(library_db: Path) -> None:
    with SqlDatabase.open(str(library_db)) as database:
        profile = read_profile(database)
    assert profile.tables["loans"].columns["returned_on"].nulls > 0
    assert profile.tables["members"].columns["email"].nulls > 0
    assert profile.tables["books"].columns["title"].nulls == 0
    assert profile.tables["books"].label == "title"
    assert [fk.ref_table for fk in profile.parents("loans")] == ["members", "books"]


# ---------------------------------------------------------------- records


def test_records_have_the_format_of_the_hand_written_sql_data(
    demo_splits: tuple[Split, Split],
) -> None:
    train, heldout = demo_splits
    assert len(train.records) == 900 and len(heldout.records) == 180
    stored = json.loads(
        Path("finetune/data/sql/train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    )
    assert list(stored) == FIELDS
    for split in (train, heldout):
        for index, record in enumerate(split.records):
            assert list(record) == FIELDS
            assert record["id"] == f"sql-{split.name}-{index:05d}"
            assert record["specialist"] == "sql"
            assert record["family"] in FAMILIES
            assert 0 < len(record["request"]) <= MAX_REQUEST
            assert 0 < len(record["gold_rows"]) <= GOLD_ROWS


@pytest.mark.parametrize("which", ["demo", "library"])
def test_every_family_is_composed(
    which: str, demo_splits: tuple[Split, Split], library_split: Split
) -> None:
    split = demo_splits[0] if which == "demo" else library_split
    assert set(split.families) == set(FAMILIES)
    assert min(split.families.values()) >= len(split.records) // (2 * len(FAMILIES))


def test_every_target_runs_and_returns_its_gold_rows(
    demo_db: Path, library_db: Path, demo_splits: tuple[Split, Split], library_split: Split
) -> None:
    for path, records in (
        (demo_db, list(records_of(*demo_splits))),
        (library_db, library_split.records),
    ):
        with SqlDatabase.open(str(path)) as database:
            for record in records:
                result = database.run(record["target"], row_limit=GOLD_ROWS)
                assert result.columns == record["gold_columns"], record["target"]
                assert result.rows == record["gold_rows"], record["target"]
                assert result.rows and result.rows != [[None]], record["target"]
                if record["target"].startswith("SELECT COUNT("):
                    assert result.rows != [[0]], record["target"]


def _aliases(tree: exp.Expr) -> set[str]:
    return {a.alias for a in tree.find_all(exp.Alias)}


@pytest.mark.parametrize("which", ["demo", "library"])
def test_every_target_keeps_the_specialist_style(
    which: str,
    demo_db: Path,
    library_db: Path,
    demo_splits: tuple[Split, Split],
    library_split: Split,
) -> None:
    path = demo_db if which == "demo" else library_db
    records = list(records_of(*demo_splits)) if which == "demo" else library_split.records
    with SqlDatabase.open(str(path)) as database:
        keys = {(t, c, rt, rc) for t, c, rt, rc in database.foreign_keys()}
    for record in records:
        sql = record["target"]
        assert sql.startswith("SELECT ") and not sql.rstrip().endswith(";"), sql
        assert "'now'" not in sql.lower(), sql
        tree = sqlglot.parse_one(sql, read="sqlite")
        for table in tree.find_all(exp.Table):
            assert not table.alias, sql  # tables named in full
        for select in tree.find_all(exp.Select):
            joins = select.args.get("joins") or []
            outputs = _aliases(select)
            columns = [
                c
                for c in select.find_all(exp.Column)
                if c.find_ancestor(exp.Select) is select and not isinstance(c.this, exp.Star)
            ]
            if joins:
                assert all(c.table or c.name in outputs for c in columns), sql
                for join in joins:
                    on = join.args["on"]
                    parent = join.this.name
                    left, right = on.left, on.right
                    assert isinstance(on, exp.EQ) and left.table == parent, sql
                    assert (right.table, right.name, parent, left.name) in keys, sql
            else:
                assert not any(c.table for c in columns), sql


def test_targets_use_real_values_and_the_date_forms(demo_splits: tuple[Split, Split]) -> None:
    targets = [r["target"] for r in records_of(*demo_splits)]
    joined = "\n".join(targets)
    assert "strftime('%Y', " in joined and "strftime('%Y-%m', " in joined
    assert re.search(r">= '\d{4}-\d{2}-01' AND \S+ < '\d{4}-\d{2}-01'", joined)
    assert " LIKE '" in joined and " IN ('" in joined and " BETWEEN " in joined
    assert "SUM(order_items.quantity * order_items.unit_price)" in joined
    assert "NOT IN (SELECT " in joined and "> (SELECT AVG(" in joined
    assert "GROUP BY" in joined and "HAVING COUNT(*) > " in joined and "DESC LIMIT " in joined
    statuses = set(re.findall(r"status = '([^']*)'", joined))
    assert statuses and statuses <= {"pending", "shipped", "delivered", "cancelled", "returned"}


def test_the_library_shows_null_tests_and_two_hop_joins(library_split: Split) -> None:
    joined = "\n".join(r["target"] for r in library_split.records)
    assert " IS NULL" in joined or " IS NOT NULL" in joined
    assert re.search(r"JOIN books ON books\.id = loans\.book_id JOIN authors ON", joined)
    assert "JOIN branches ON branches.id = members.branch_id" in joined


# ---------------------------------------------------------------- requests

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august"]
MONTHS += ["september", "october", "november", "december"]
ORDINALS = ["first", "second", "third", "fourth"]


def _named(value: str, request: str) -> bool:
    """Whether ``request`` names one value of a record's entity (a month by name or number)."""
    if re.fullmatch(r"\d{4}-\d{2}", value):
        month = MONTHS[int(value[5:]) - 1]
        return value in request or (month in request and value[:4] in request)
    return value.lower() in request


@pytest.mark.parametrize("which", ["demo", "library"])
def test_every_value_the_target_uses_is_named_in_the_request(
    which: str, demo_splits: tuple[Split, Split], library_split: Split
) -> None:
    records = list(records_of(*demo_splits)) if which == "demo" else library_split.records
    for record in records:
        request = record["request"].lower()
        parts = [] if record["entity"] == "-" else record["entity"].split(" | ")
        for part in parts:
            key, _, value = part.partition("=")
            values = value.split("/")
            if (key == "k" and value == "1") or value in ("null", "notnull"):
                continue
            if re.fullmatch(r"\d{4}/[1-4]", value):
                year, quarter = values
                ordinal = ORDINALS[int(quarter) - 1]
                assert year in request and (f"q{quarter}" in request or ordinal in request)
                continue
            assert all(_named(v, request) for v in values), (record["request"], part)


def test_requests_are_unique_and_the_heldout_targets_never_occur_in_train(
    demo_splits: tuple[Split, Split],
) -> None:
    train, heldout = demo_splits
    requests = [r["request"] for r in records_of(train, heldout)]
    assert len(requests) == len(set(requests))
    train_targets = {r["target"] for r in train.records}
    assert not train_targets & {r["target"] for r in heldout.records}
    per_target = Counter(r["target"] for r in train.records)
    assert sum(per_target.values()) / len(per_target) >= 2  # several requests per intent


def test_requests_come_in_many_styles(demo_splits: tuple[Split, Split]) -> None:
    requests = [r["request"] for r in records_of(*demo_splits)]
    total = len(requests)
    questions = [r for r in requests if r.endswith("?")]
    assert 0.3 * total < len(questions) < 0.85 * total
    assert any(r.startswith(("List ", "Show me ", "Give me ")) for r in requests)
    assert any(r.startswith(("hey", "hi!", "Hey", "Hi!")) for r in requests)
    assert any(r.startswith(("Could you please", "Can you please")) for r in requests)
    assert any(r == r.lower() and not r.endswith((".", "?")) for r in requests)  # keywords
    assert any(r.startswith(("In 20", "During 20", "in 20")) for r in requests)  # date first
    assert sum(r == r.lower() for r in requests) > 0.1 * total


def test_values_may_be_lower_case_in_the_request_but_stay_exact_in_the_sql(
    demo_splits: tuple[Split, Split],
) -> None:
    lowered = [
        r
        for r in records_of(*demo_splits)
        if "country = 'United Kingdom'" in r["target"] or "segment = 'Enterprise'" in r["target"]
    ]
    assert lowered
    assert any("united kingdom" in r["request"] or "enterprise" in r["request"] for r in lowered)


def test_words_come_from_the_schema_and_the_lexicon() -> None:
    assert table_nouns("order_items")[0] == "order items"
    assert "line items" in table_nouns("order_items")
    assert "revenue" not in table_nouns("order_items")
    assert "units sold" not in table_nouns("order_items")
    assert "clients" in table_nouns("customers")
    assert table_nouns("loans") == ["loans"]
    assert singular("sales reps") == "sales rep" and singular("categories") == "category"
    assert plural("category") == "categories" and plural("status") == "statuses"


def test_a_misspelling_changes_one_longer_word_and_never_a_value() -> None:
    text = "How many customers in Switzerland have cancelled orders"
    for seed in range(50):
        wrong = _misspell(text, random.Random(seed), ["Switzerland"])
        changed = [(a, b) for a, b in zip(text.split(), wrong.split(), strict=True) if a != b]
        assert len(changed) == 1, wrong
        original, misspelt = changed[0]
        assert len(original) >= 7 and original != "Switzerland"
        assert abs(len(original) - len(misspelt)) <= 1


def test_about_one_request_in_ten_is_misspelt(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        profile = read_profile(database)
    composer = Composer(profile, random.Random(2))
    intent = None
    while intent is None:
        intent = composer.compose("aggregate")
    with monkeypatch.context() as patch:
        patch.setattr(phrasing, "MISSPELL_RATE", 0.0)
        clean = {realise(intent, profile, random.Random(seed)) for seed in range(3000)}
    rng = random.Random(4)
    texts = [realise(intent, profile, rng) for _ in range(1000)]
    assert all(len(text) <= MAX_REQUEST for text in texts)
    vocabulary = {w.lower() for text in clean for w in re.findall(r"[A-Za-z]{6,}", text)}
    odd = [
        text
        for text in texts
        if any(w.lower() not in vocabulary for w in re.findall(r"[A-Za-z]{6,}", text))
    ]
    assert len(set(texts)) > 100
    assert 0.05 < len(odd) / len(texts) < 0.15


# ---------------------------------------------------------------- command line


def test_the_command_line_is_deterministic_and_splits_the_intents(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(name: str, seed: int) -> tuple[bytes, bytes]:
        out, held = tmp_path / f"{name}.jsonl", tmp_path / f"{name}-heldout.jsonl"
        argv = ["--database", str(demo_db), "--out", str(out), "--count", "150"]
        argv += ["--seed", str(seed), "--heldout", str(held), "--heldout-count", "40"]
        assert main(argv) == 0
        return out.read_bytes(), held.read_bytes()

    first, second, other = run("a", 9), run("b", 9), run("c", 10)
    assert first == second
    assert first[0] != other[0]
    report = capsys.readouterr().out
    for family in FAMILIES:
        assert family in report
    assert "dropped:" in report and "time:" in report
    train = [json.loads(line) for line in first[0].decode().splitlines()]
    held = [json.loads(line) for line in first[1].decode().splitlines()]
    assert len(train) == 150 and len(held) == 40
    assert not {r["target"] for r in train} & {r["target"] for r in held}


@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("/no/such/file.sqlite", "SQLite database file not found"),
        ("mysql://host/db", "unsupported database URL"),
    ],
)
def test_a_bad_database_is_a_clear_error_without_a_traceback(
    database: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--database", database, "--out", str(tmp_path / "out.jsonl"), "--count", "5"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


def test_the_engine_never_reads_the_evaluation_sets(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = builtins.open

    def guarded(file: Any, *args: Any, **kwargs: Any) -> io.IOBase:
        assert "evals/data" not in str(file).replace("\\", "/"), file
        return real_open(file, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(builtins, "open", guarded)
    with SqlDatabase.open(str(demo_db)) as database:
        train, _, _ = generate(database, count=60, seed=1)
    assert len(train.records) == 60
