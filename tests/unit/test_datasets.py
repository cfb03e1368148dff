"""The committed fine-tuning datasets: format, manifest, split disjointness, SQL shape, CLI errors.

These read the files under ``finetune/data`` and run nothing but pure checks; executing every
target on the real database and sandbox is ``tests/integration/test_datasets_validated.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from finetune.datasets import (
    DATA_DIR,
    ENTITY_SEPARATOR,
    MANIFEST_NAME,
    NO_ENTITY,
    SPECIALISTS_WITH_DATA,
    SPLITS,
    add_data_command,
    entity_parts,
    load_examples,
    verify,
)
from finetune.datasets.common import _quotas
from finetune.datasets.router import _join_clauses
from finetune.datasets.salesforce_writes import _SF_WRITE_FAMILIES
from finetune.datasets.summarize import (
    CHARS_PER_TOKEN,
    INSTRUCTIONS,
    MAX_CHAT_TOKENS,
    STYLES,
    SUMMARY_ROW_LIMIT,
    _styled,
    result_kind,
    summary_source_context,
)
from specialists.facts import Source, unsupported
from specialists.router import Plan, plan_from_model
from specialists.summarize import (
    SUMMARIZE,
    dependency_content,
    describe_result,
    summary_request,
)
from tools.salesforce import WRITE_ACTIONS, ActionRequest
from tools.sql import SqlDatabase

WRITE_FAMILIES = set(_SF_WRITE_FAMILIES)
KEYS = ["id", "specialist", "family", "template", "entity", "request", "target"]
EXTRA_KEYS = {
    "sql": ["gold_columns", "gold_rows"],
    "salesforce": ["gold_records"],
    "router": [],
    "summarize": [
        "instruction", "question", "sql", "row_limit", "query", "gold_columns", "gold_rows",
        "truncated",
    ],
}  # fmt: skip
# The sizes of each specialist's splits: (train, held-out) ranges.
SIZES = {"summarize": ((700, 900), (80, 120))}
DEFAULT_SIZES = ((2500, 4500), (150, 350))
# Entity kinds whose values are written as quoted literals in targets.
LITERAL_KINDS = {
    "industry", "country", "segment", "category", "order_status", "region", "customer", "rep",
    "product", "account_type", "city", "stage", "lead_source", "opportunity_type",
    "lead_status", "case_status", "title", "account",
}  # fmt: skip


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads((DATA_DIR / MANIFEST_NAME).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def data() -> dict[tuple[str, str], list[dict[str, Any]]]:
    return {(s, split): load_examples(s, split) for s in SPECIALISTS_WITH_DATA for split in SPLITS}


def test_stored_files_match_the_manifest(manifest: dict[str, Any]) -> None:
    assert verify() == []
    for specialist in SPECIALISTS_WITH_DATA:
        splits = manifest["specialists"][specialist]
        (train_low, train_high), (held_low, held_high) = SIZES.get(specialist, DEFAULT_SIZES)
        assert train_low <= splits["train"]["count"] <= train_high, specialist
        assert held_low <= splits["heldout"]["count"] <= held_high, specialist


def test_verify_reports_a_changed_and_a_missing_file(tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(DATA_DIR, copy)
    train = copy / "sql" / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    train.write_text("".join(lines[:-1]), encoding="utf-8")
    (copy / "router" / "heldout.jsonl").unlink()
    problems = verify(copy)
    assert any("sql/train.jsonl: sha256 differs" in p for p in problems), problems
    assert any("sql/train.jsonl:" in p and "the manifest says" in p for p in problems), problems
    assert "router/heldout.jsonl is missing" in problems
    assert verify(tmp_path / "nowhere") == [
        f"no manifest at {tmp_path / 'nowhere' / MANIFEST_NAME}"
    ]


def test_examples_have_the_documented_fields_in_order(
    manifest: dict[str, Any], data: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    for (specialist, split), examples in data.items():
        entry = manifest["specialists"][specialist][split]
        assert len(examples) == entry["count"]
        assert dict(Counter(e["family"] for e in examples)) == entry["families"]
        for index, example in enumerate(examples):
            assert list(example) == KEYS + EXTRA_KEYS[specialist], example
            assert example["id"] == f"{specialist}-{split}-{index:05d}"
            assert example["specialist"] == specialist
            assert re.fullmatch(r"t\d|[a-z_]+", example["template"]), example
            assert example["request"] == example["request"].strip() and example["request"]
            if specialist == "sql":
                assert example["gold_rows"] and len(example["gold_rows"]) <= 20
                assert all(len(row) == len(example["gold_columns"]) for row in example["gold_rows"])
        requests = [example["request"] for example in examples]
        assert len(set(requests)) == len(requests), f"duplicate requests in {specialist} {split}"


def test_no_heldout_template_or_entity_occurs_in_train(
    manifest: dict[str, Any], data: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    held_entities = set(manifest["heldout_entities"])
    assert held_entities
    for specialist in SPECIALISTS_WITH_DATA:
        held_templates = {
            tuple(pair) for pair in manifest["specialists"][specialist]["heldout_templates"]
        }
        families = set(manifest["specialists"][specialist]["train"]["families"])
        assert {family for family, _ in held_templates} == families, specialist
        train = data[(specialist, "train")]
        heldout = data[(specialist, "heldout")]
        for example in train:
            assert (example["family"], example["template"]) not in held_templates, example["id"]
            assert not held_entities & set(entity_parts(example["entity"])), example["id"]
        for example in heldout:
            why = (example["family"], example["template"]) in held_templates or bool(
                held_entities & set(entity_parts(example["entity"]))
            )
            assert why, f"{example['id']} is held out for no recorded reason"
        assert {e["request"] for e in train}.isdisjoint(e["request"] for e in heldout)
        # Both kinds of novelty are present in held-out.
        assert any((e["family"], e["template"]) in held_templates for e in heldout)
        assert any(held_entities & set(entity_parts(e["entity"])) for e in heldout)


def test_heldout_values_are_never_written_in_a_training_target(
    manifest: dict[str, Any], data: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    kinds_of: dict[str, set[str]] = {}
    for examples in data.values():
        for example in examples:
            for part in entity_parts(example["entity"]):
                kind, value = part.split("=", 1)
                kinds_of.setdefault(value, set()).add(kind)
    # A value that is also a training value of another kind ('Software' is an industry and a
    # product category) may be written for that other kind.
    literals = {
        "'" + value + "'"
        for kind, value in (part.split("=", 1) for part in manifest["heldout_entities"])
        if kind in LITERAL_KINDS and kinds_of.get(value, {kind}) == {kind}
    }
    assert len(literals) > 50
    for specialist in ("sql", "salesforce"):
        for example in data[(specialist, "train")]:
            target = example["target"]
            found = [literal for literal in literals if literal in target]
            assert not found, (example["id"], found)
    # A write writes its values as JSON: none is a held-out value of its kind only, nor a
    # held-out record Id.
    held_values = {
        value
        for kind, value in (part.split("=", 1) for part in manifest["heldout_entities"])
        if kinds_of.get(value, {kind}) == {kind} and kind != "account_prefix"
    }
    writes = 0
    for example in data[("salesforce", "train")]:
        action = json.loads(example["target"])["action"]
        if action["action"] not in WRITE_ACTIONS:
            continue
        writes += 1
        written = [str(v) for v in action.get("values", {}).values()]
        names = [str(action.get("values", {}).get(key, "")) for key in ("Company", "Name")]
        written += [action.get("record_id", "")] + [name.split()[0] for name in names if name]
        assert not held_values & set(written), (example["id"], held_values & set(written))
    assert writes > 500


def test_entity_field_is_well_formed(data: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    for examples in data.values():
        for example in examples:
            entity = example["entity"]
            assert entity == NO_ENTITY or all(
                re.fullmatch(r"[a-z_]+=\S.*", part) for part in entity.split(ENTITY_SEPARATOR)
            ), entity


def _sql_shape_problems(
    sql: str, columns: dict[str, set[str]], joins_allowed: set[tuple[str, str, str, str]]
) -> list[str]:
    """Where ``sql`` leaves the shape of ``tools.sql_grammar``'s grammar (best effort)."""
    problems: list[str] = []
    strings = re.findall(r"'([^']*)'", sql)
    problems += [f"string literal too long: {s!r}" for s in strings if len(s) > 60]
    problems += [
        f"quote or backslash in literal: {s!r}" for s in strings if re.search(r"[\"\\]", s)
    ]
    bare = re.sub(r"'[^']*'", "''", sql)
    if not bare.startswith("SELECT ") or bare.rstrip() != bare or bare.endswith(";"):
        problems.append("not a lone SELECT without a trailing semicolon")
    if "  " in bare or "\n" in bare or re.search(r",(?! )| ,", bare):
        problems.append("spacing: single spaces and ', ' separators only")
    tables = re.findall(r"\b(?:FROM|JOIN) (\w+)(?: (\w+))?", bare)
    for table, following in tables:
        if table not in columns:
            problems.append(f"unknown table {table}")
        if following and following not in {"JOIN", "ON", "WHERE", "GROUP", "ORDER", "LIMIT"}:
            problems.append(f"table alias {following!r} after {table}")
    joins = re.findall(r" JOIN (\w+) ON (\w+)\.(\w+) = (\w+)\.(\w+)", bare)
    if len(joins) != bare.count(" JOIN ") or len(joins) > 3:
        problems.append("JOIN not of the form `JOIN t ON t.c = u.d` (at most 3)")
    for joined, left, left_col, right, right_col in joins:
        if joined != left or (left, left_col, right, right_col) not in joins_allowed:
            problems.append(f"join {joined} is not along a foreign key")
    aliases = set(re.findall(r" AS ([a-z][a-z_]{0,15})\b", bare))
    if re.search(r" AS (?![a-z][a-z_]{0,15}\b)", bare):
        problems.append("AS alias not lowercase")
    joined_query = bool(joins)
    for table, column in re.findall(r"\b(\w+)\.(\w+)\b", bare):
        if column not in columns.get(table, set()):
            problems.append(f"unknown column {table}.{column}")
    unqualified = re.sub(r"\b\w+\.\w+\b", " ", bare)
    keywords = {"SELECT", "DISTINCT", "FROM", "JOIN", "ON", "WHERE", "AND", "OR", "NOT", "IN",
                "LIKE", "BETWEEN", "IS", "NULL", "GROUP", "BY", "HAVING", "ORDER", "ASC", "DESC",
                "LIMIT", "AS"}  # fmt: skip
    functions = {"COUNT", "SUM", "AVG", "MIN", "MAX", "strftime", "date", "ROUND", "LOWER", "UPPER"}
    all_columns = set().union(*columns.values())
    for match in re.finditer(r"\b([A-Za-z_]\w*)\b(\()?", unqualified):
        word, call = match.group(1), match.group(2)
        if call:
            if word not in functions:
                problems.append(f"function {word} is outside the grammar")
        elif word in keywords or word in columns or word in aliases:
            continue
        elif word in all_columns:
            if joined_query:
                problems.append(f"bare column {word} in a joined query")
        else:
            problems.append(f"unexpected word {word!r}")
    select_list = bare[len("SELECT ") : bare.find(" FROM ")].removeprefix("DISTINCT ")
    if " FROM " not in bare:
        problems.append("no FROM clause")
    elif _top_level_items(select_list) > 8:
        problems.append("more than 8 select items")
    where = re.search(r" WHERE (.*?)(?: GROUP BY | ORDER BY | HAVING | LIMIT |$)", bare)
    if where:
        conditions = re.sub(r"BETWEEN \S+ AND \S+", "BETWEEN", where.group(1))
        if len(re.findall(r" (?:AND|OR) ", conditions)) > 4:
            problems.append("more than 5 WHERE conditions")
        problems += [
            "more than 10 IN values"
            for values in re.findall(r" IN \(([^)]*)\)", where.group(1))
            if values.count(", ") > 9
        ]
    for clause, most in ((r" GROUP BY (.*?)(?: HAVING | ORDER BY | LIMIT |$)", 4),
                         (r" ORDER BY (.*?)(?: LIMIT |$)", 4)):  # fmt: skip
        found = re.search(clause, bare)
        if found and _top_level_items(found.group(1)) > most:
            problems.append(f"more than {most} items in {clause.split('(')[0].strip()}")
    limit = re.search(r" LIMIT (\d+)$", bare)
    if " LIMIT " in bare and not (limit and re.fullmatch(r"[1-9]\d{0,3}", limit.group(1))):
        problems.append("LIMIT must close the query with 1..9999")
    return problems


def _top_level_items(text: str) -> int:
    depth, items = 0, 1
    for index, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and text.startswith(", ", index):
            items += 1
    return items


def test_sql_targets_keep_to_the_grammar_shape(
    demo_db: Path, data: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        columns = {t: {c.name for c in cols} for t, cols in database.tables().items()}
        allowed = set()
        for table, column, ref_table, ref_column in database.foreign_keys():
            allowed.add((table, column, ref_table, ref_column))
            allowed.add((ref_table, ref_column, table, column))
    for split in SPLITS:
        for example in data[("sql", split)]:
            problems = _sql_shape_problems(example["target"], columns, allowed)
            assert not problems, (example["id"], example["target"], problems)


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT c.name FROM customers c", "table alias"),
        ("select name from customers", "unexpected word"),
        ("SELECT name FROM customers;", "semicolon"),
        ("SELECT customers.name, region FROM customers JOIN sales_reps ON "
         "sales_reps.id = customers.rep_id", "bare column region"),
        ("SELECT orders.id FROM orders JOIN products ON products.id = orders.customer_id",
         "not along a foreign key"),
        ("SELECT julianday(order_date) FROM orders", "function julianday"),
        ("SELECT COUNT(*) AS Total FROM orders", "AS alias not lowercase"),
        ("SELECT name FROM customers WHERE name = '" + "x" * 61 + "'", "too long"),
        ("SELECT name,country FROM customers", "spacing"),
    ],
)  # fmt: skip
def test_the_sql_shape_check_catches_what_the_grammar_refuses(
    demo_db: Path, sql: str, problem: str
) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        columns = {t: {c.name for c in cols} for t, cols in database.tables().items()}
        allowed = {(a, b, c, d) for a, b, c, d in database.foreign_keys()}
        allowed |= {(c, d, a, b) for a, b, c, d in database.foreign_keys()}
    assert any(problem in found for found in _sql_shape_problems(sql, columns, allowed))


def test_salesforce_targets_are_actions_in_the_models_field_order(
    data: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    kinds: Counter[str] = Counter()
    for split in SPLITS:
        seen_write = False
        for example in data[("salesforce", split)]:
            request = ActionRequest.model_validate_json(example["target"])
            action = request.action.action
            kinds[action] += 1
            assert json.dumps(request.model_dump(mode="json")) == example["target"]
            assert example["gold_records"] >= 1
            # Writes follow every read and belong to the write families.
            assert (action in WRITE_ACTIONS) == (example["family"] in WRITE_FAMILIES), example
            assert not seen_write or action in WRITE_ACTIONS, example["id"]
            seen_write = seen_write or action in WRITE_ACTIONS
            if action in WRITE_ACTIONS:
                assert example["gold_records"] == 1, example["id"]
    assert set(kinds) == {"query", "get", "describe", "create", "update", "delete"}, kinds


def test_salesforce_write_families_have_the_sizes_asked_for(manifest: dict[str, Any]) -> None:
    entry = manifest["specialists"]["salesforce"]
    train = sum(entry["train"]["families"].get(f, 0) for f in WRITE_FAMILIES)
    heldout = sum(entry["heldout"]["families"].get(f, 0) for f in WRITE_FAMILIES)
    assert 600 <= train <= 900, train
    assert 40 <= heldout <= 60, heldout
    held_templates = {family for family, _ in entry["heldout_templates"]}
    for family in WRITE_FAMILIES:
        assert family in held_templates, family
        assert entry["train"]["families"].get(family, 0) >= 50, family
        assert entry["heldout"]["families"].get(family, 0) >= 5, family


def test_updates_and_deletes_name_disjoint_records(
    data: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    updated: set[str] = set()
    deleted: set[str] = set()
    for split in SPLITS:
        for example in data[("salesforce", split)]:
            action = json.loads(example["target"])["action"]
            if action["action"] == "update":
                updated.add(action["record_id"])
            elif action["action"] == "delete":
                deleted.add(action["record_id"])
    assert updated and deleted
    assert updated.isdisjoint(deleted)


def test_router_targets_are_plans_that_plan_from_model_keeps(
    data: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    train_requests = {
        name: {e["request"] for e in data[(name, "train")]} for name in ("sql", "salesforce")
    }
    all_requests = {
        name: train_requests[name] | {e["request"] for e in data[(name, "heldout")]}
        for name in ("sql", "salesforce")
    }
    sub_requests = {"train": train_requests, "heldout": all_requests}
    shapes: Counter[int] = Counter()
    for split in SPLITS:
        for example in data[("router", split)]:
            plan = Plan.model_validate_json(example["target"])
            assert json.dumps(plan.model_dump(mode="json")) == example["target"]
            kept = plan_from_model(plan, example["request"])
            assert [(t["specialist"], t["instruction"], t["depends_on"]) for t in kept] == [
                (t.specialist, t.instruction, t.depends_on) for t in plan.tasks
            ]
            shapes[len(plan.tasks)] += 1
            for position, task in enumerate(plan.tasks, start=1):
                stem = task.instruction.rstrip(".?!")[1:]
                assert stem in example["request"], (example["id"], task.instruction)
                if task.specialist == "summarize":
                    expected = None if position == 1 else position - 1
                    assert task.depends_on == expected, example["id"]
                else:
                    assert task.instruction in sub_requests[split][task.specialist], example["id"]
    assert set(shapes) == {1, 2, 3, 4}


def _summarised(example: dict[str, Any]) -> dict[str, Any]:
    """The result an example summarises, as the summarisation node receives it."""
    return {
        "instruction": example["question"],
        "query": example["query"],
        "columns": example["gold_columns"],
        "rows": example["gold_rows"],
        "output": "",
        "truncated": example["truncated"],
    }


def test_every_summarize_target_is_supported_by_its_rows(
    data: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    for split in SPLITS:
        for example in data[("summarize", split)]:
            columns, rows = example["gold_columns"], example["gold_rows"]
            context = summary_source_context(example["question"], example["query"])
            source = Source.of_rows(columns, rows, context=context)
            assert unsupported(example["target"], source) == [], example["id"]


def test_summarize_examples_are_what_the_node_sends_and_describe_result_writes(
    data: dict[tuple[str, str], list[dict[str, Any]]],
) -> None:
    instructions = dict(INSTRUCTIONS)
    system = SUMMARIZE.system()
    for split in SPLITS:
        for example in data[("summarize", split)]:
            result = _summarised(example)
            assert example["instruction"] == instructions[example["template"]]
            request = summary_request(example["instruction"], dependency_content(result))
            assert example["request"] == request, example["id"]
            columns, rows, truncated = result["columns"], result["rows"], result["truncated"]
            kind = result_kind(columns, rows, truncated)
            assert example["family"] == kind, example["id"]
            assert len(rows) <= example["row_limit"] <= SUMMARY_ROW_LIMIT
            assert truncated == (kind == "truncated")
            if truncated:
                assert len(rows) == example["row_limit"], example["id"]
            sentence = describe_result(columns, rows, truncated, request=example["question"])
            styles = {_styled(style, sentence, kind, len(rows)) for style in STYLES}
            assert example["target"] in styles, example["id"]
            chars = len(system) + len(example["request"]) + len(example["target"])
            assert chars <= MAX_CHAT_TOKENS * CHARS_PER_TOKEN, example["id"]


def test_summarize_covers_every_kind_of_result_and_shares_no_question(
    manifest: dict[str, Any], data: dict[tuple[str, str], list[dict[str, Any]]]
) -> None:
    assert len(INSTRUCTIONS) >= 25
    assert len({text for _, text in INSTRUCTIONS}) == len(INSTRUCTIONS)
    kinds = {"single_value", "grouped", "list", "truncated", "no_match"}
    for split in SPLITS:
        assert kinds <= set(manifest["specialists"]["summarize"][split]["families"]), split
    train, heldout = data[("summarize", "train")], data[("summarize", "heldout")]
    assert any(not e["gold_rows"] for e in train)
    assert any(e["gold_rows"] == [[0]] for e in train)
    assert {e["question"] for e in train}.isdisjoint(e["question"] for e in heldout)
    sql_questions = {split: {e["request"] for e in data[("sql", split)]} for split in SPLITS}
    for split in SPLITS:
        for example in data[("summarize", split)]:
            # A question of the sql dataset of the same split, or one changed to match nothing.
            changed = example["gold_rows"] in ([], [[0]])
            assert changed or example["question"] in sql_questions[split], example["id"]


def test_quotas_share_a_total_as_evenly_as_family_sizes_allow() -> None:
    assert _quotas({"a": 5, "b": 100, "c": 100}, 55) == {"a": 5, "b": 25, "c": 25}
    assert _quotas({"a": 5, "b": 100, "c": 100}, 56) == {"a": 5, "b": 26, "c": 25}
    assert _quotas({"a": 3, "b": 4}, 100) == {"a": 3, "b": 4}
    assert sum(_quotas({"a": 7, "b": 9, "c": 30}, 20).values()) == 20


@pytest.mark.parametrize(
    ("style", "joined"),
    [
        ("then", "How many customers are there? Then summarise the result."),
        ("and", "How many customers are there and summarise the result."),
        ("comma_then", "How many customers are there, then summarise the result."),
        ("first_then", "First, how many customers are there? Then summarise the result."),
        ("newline", "How many customers are there?\nSummarise the result."),
    ],
)
def test_clauses_are_joined_in_each_style(style: str, joined: str) -> None:
    assert _join_clauses(["How many customers are there?", "Summarise the result."], style) == (
        joined
    )


def test_load_examples_explains_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no dataset for specialist 'text'"):
        load_examples("text", "train")
    with pytest.raises(ValueError, match="unknown split 'test'"):
        load_examples("sql", "test")
    with pytest.raises(FileNotFoundError, match="run `slm-dispatch data`"):
        load_examples("sql", "train", data_dir=tmp_path)


def _data_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slm-dispatch")
    add_data_command(parser.add_subparsers(dest="command"))
    return parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "--out", "{file}"], "is a file, not a directory"),
        (["data", "--seed", "-3", "--out", "{dir}"], "--seed must be >= 0"),
        (["data", "--check", "--out", "{dir}"], "no stored manifest"),
    ],
)
def test_data_command_refuses_user_mistakes_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x", encoding="utf-8")
    argv = [arg.format(file=a_file, dir=tmp_path) for arg in argv]
    args = _data_parser().parse_args(argv)
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("slm-dispatch: error: ") and message in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [a_file]
