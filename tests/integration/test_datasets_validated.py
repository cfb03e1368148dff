"""The committed fine-tuning datasets against the real systems: every SQL target runs on a fresh
demo database and returns its gold rows, every summary's query returns the rows its target is
checked against, every Salesforce action runs on the sandbox org (the writes after the
reads), the llama.cpp grammars accept the SQL and router targets, and generation is
deterministic."""

from __future__ import annotations

import argparse
import ctypes
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finetune.datasets import (
    DATA_DIR,
    GOLD_ROWS,
    MANIFEST_NAME,
    SANDBOX_ANCHOR,
    SPECIALISTS_WITH_DATA,
    SPLITS,
    cmd_data,
    generate,
    load_examples,
    verify,
)
from finetune.datasets.common import NO_ENTITY, _Candidate, _Checked, _HeldOut, _SplitResult
from finetune.datasets.summarize import summarize_results, summary_source_context
from specialists.facts import Source, unsupported
from specialists.router import Plan
from specialists.salesforce import ids_in, org_grammar
from specialists.sql import sql_grammar
from tools.demo_db import DEFAULT_SEED as DEMO_SEED
from tools.salesforce import ActionRequest, is_write
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox
from tools.sql import SqlDatabase
from tools.sql_grammar import DECLINE

pytestmark = pytest.mark.integration

SMALL = 0.04


def stored(specialist: str) -> list[dict[str, Any]]:
    return [example for split in SPLITS for example in load_examples(specialist, split)]


def files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first = generate(20261126, tmp_path / "a", progress=False, scale=SMALL)
    second = generate(20261126, tmp_path / "b", progress=False, scale=SMALL)
    other = generate(7, tmp_path / "c", progress=False, scale=SMALL)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert first == second
    assert verify(tmp_path / "a") == []
    for specialist in SPECIALISTS_WITH_DATA:
        for split in SPLITS:
            entry = first["specialists"][specialist][split]
            assert entry["count"] > 0
            assert entry["sha256"] != other["specialists"][specialist][split]["sha256"]


def test_data_check_passes_on_generated_data_and_fails_on_a_changed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(20261126, tmp_path, progress=False, scale=SMALL)
    before = files(tmp_path)
    args = argparse.Namespace(seed=None, out=tmp_path, check=True)
    assert cmd_data(args) == 0
    assert files(tmp_path) == before
    train = tmp_path / "router" / "train.jsonl"
    train.write_text(train.read_text(encoding="utf-8").replace("Then", "then", 1))
    capsys.readouterr()
    assert cmd_data(args) == 1
    err = capsys.readouterr().err
    assert "router/train.jsonl: sha256 differs from the manifest" in err


def test_every_stored_sql_target_runs_and_returns_its_gold_rows(demo_db: Path) -> None:
    manifest = json.loads((DATA_DIR / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["sources"]["demo_db"]["seed"] == DEMO_SEED
    examples = stored("sql")
    with SqlDatabase.open(str(demo_db)) as database:
        for example in examples:
            result = database.run(
                example["target"], read_dialect="sqlite", row_limit=GOLD_ROWS, timeout_s=10
            )
            assert result.columns == example["gold_columns"], example["id"]
            assert result.rows == example["gold_rows"], example["id"]
    assert len(examples) > 2500


def test_every_stored_summary_query_returns_the_rows_its_target_is_checked_against(
    demo_db: Path,
) -> None:
    examples = stored("summarize")
    with SqlDatabase.open(str(demo_db)) as database:
        for example in examples:
            result = database.run(
                example["sql"], read_dialect="sqlite", row_limit=example["row_limit"], timeout_s=10
            )
            assert result.columns == example["gold_columns"], example["id"]
            assert result.rows == example["gold_rows"], example["id"]
            assert result.truncated == example["truncated"], example["id"]
            assert result.sql == example["query"], example["id"]
            context = summary_source_context(example["question"], result.sql)
            source = Source.of_rows(result.columns, result.rows, context=context)
            assert unsupported(example["target"], source) == [], example["id"]
    assert len(examples) > 800


def _sql_split(split: str, count: int) -> _SplitResult:
    """The first ``count`` stored sql examples of ``split``, as generation holds them."""
    result = _SplitResult()
    for example in load_examples("sql", split)[:count]:
        entity = () if example["entity"] == NO_ENTITY else tuple(example["entity"].split(" | "))
        candidate = _Candidate(
            example["family"], example["template"], entity, example["request"], example["target"]
        )
        result.examples.append((candidate, _Checked({})))
    return result


def test_the_summary_generator_is_deterministic(demo_db: Path) -> None:
    manifest = json.loads((DATA_DIR / MANIFEST_NAME).read_text(encoding="utf-8"))
    sql = {"train": _sql_split("train", 240), "heldout": _sql_split("heldout", 80)}

    def run(seed: int) -> tuple[list[Any], dict[str, set[str]]]:
        heldout = _HeldOut(random.Random(0))
        for part in manifest["heldout_entities"]:
            heldout._entities[part] = True
        with SqlDatabase.open(str(demo_db)) as database:
            results = summarize_results(database, sql, heldout, seed, scale=0.1)
        examples = [
            (split, candidate, checked.extra, dict(result.dropped))
            for split, result in results.items()
            for candidate, checked in result.examples
        ]
        templates = {family: held for (_, family), held in heldout.templates.items()}
        return examples, templates

    first, second, other = run(20261126), run(20261126), run(7)
    assert first == second
    assert first[0] and {split for split, *_ in first[0]} == {"train", "heldout"}
    assert first != other


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), anchor=SANDBOX_ANCHOR) as server:
        yield server


def test_every_stored_salesforce_action_validates_and_runs_on_the_sandbox(
    sandbox: SandboxServer,
) -> None:
    client = sandbox_client(sandbox)
    examples = stored("salesforce")
    actions = [ActionRequest.model_validate_json(e["target"]).action for e in examples]
    reads = [(e, a) for e, a in zip(examples, actions, strict=True) if not is_write(a)]
    # The writes after every read (they change the org), creates and updates before deletes
    # (updates and deletes name disjoint records); a delete stored in both splits runs once.
    order = {"create": 0, "update": 1, "delete": 2}
    writes = sorted(
        {
            e["target"]: (e, a) for e, a in zip(examples, actions, strict=True) if is_write(a)
        }.values(),
        key=lambda pair: order[pair[1].action],
    )
    for example, action in reads:
        assert client.validate_action(action).model_dump() == action.model_dump(), example["id"]
        result = client.run(action, row_limit=2000)
        assert len(result.rows) == example["gold_records"], example["id"]
    assert sandbox.write_requests == 0
    for example, action in writes:
        assert client.validate_action(action).model_dump() == action.model_dump(), example["id"]
        result = client.run(action, row_limit=2000)
        assert len(result.rows) == example["gold_records"] == 1, example["id"]
    assert sandbox.write_requests == len(writes)
    assert len(reads) > 2500
    assert len(writes) > 400  # distinct targets: several phrasings share one


class GrammarChecker:
    """Feeds a text's tokens one by one through a llama.cpp grammar sampler."""

    def __init__(self) -> None:
        llama_cpp = pytest.importorskip("llama_cpp")
        from runtime.embedded import get_llama
        from runtime.paths import BASE_MODEL_FILENAME, MODELS_DIR

        self._api = llama_cpp
        self._llama = get_llama(str(MODELS_DIR / BASE_MODEL_FILENAME))
        self._vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        self._end = llama_cpp.llama_vocab_eos(self._vocab)

    def rejection(self, grammar: str, text: str) -> str | None:
        """Where the grammar refuses ``text`` (or refuses to end after it); None if it accepts."""
        api = self._api
        sampler = api.llama_sampler_init_grammar(self._vocab, grammar.encode(), b"root")
        assert sampler, "llama.cpp rejected the grammar"
        try:
            tokens = self._llama.tokenize(text.encode(), add_bos=False, special=False)
            cell = (api.llama_token_data * 1)()
            candidates = api.llama_token_data_array(data=cell, size=1, selected=-1, sorted=False)
            for index, token in enumerate([*tokens, self._end]):
                cell[0].id, cell[0].logit, cell[0].p = token, 0.0, 0.0
                candidates.size, candidates.selected = 1, -1
                api.llama_sampler_apply(sampler, ctypes.byref(candidates))
                if cell[0].logit == float("-inf"):
                    done = self._llama.detokenize(tokens[:index]).decode(errors="replace")
                    return f"refused after {done!r}"
                if token != self._end:
                    api.llama_sampler_accept(sampler, token)
            return None
        finally:
            api.llama_sampler_free(sampler)


@pytest.fixture(scope="module")
def grammar_checker(base_model: None) -> GrammarChecker:
    return GrammarChecker()


def test_the_grammar_check_refuses_what_the_sql_grammar_does_not_allow(
    grammar_checker: GrammarChecker, demo_db: Path
) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        grammar = sql_grammar(database, "sqlite")
    assert grammar_checker.rejection(grammar, "SELECT COUNT(*) FROM customers") is None
    assert grammar_checker.rejection(grammar, "SELECT c.name FROM customers c") is not None
    assert grammar_checker.rejection(grammar, "SELECT name FROM customers WHERE") is not None


def test_every_stored_sql_target_is_accepted_by_the_llama_cpp_sql_grammar(
    grammar_checker: GrammarChecker, demo_db: Path
) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        grammar = sql_grammar(database, "sqlite")
    refused = {
        example["id"]: problem
        for example in stored("sql")
        if (problem := grammar_checker.rejection(grammar, example["target"]))
    }
    assert refused == {}


def test_the_org_grammar_admits_every_stored_and_hand_written_action_and_refuses_inventions(
    grammar_checker: GrammarChecker, sandbox: SandboxServer
) -> None:
    client = sandbox_client(sandbox)
    pairs = [(e["id"], e["request"], e["target"]) for e in stored("salesforce")]
    with (Path(__file__).parents[2] / "evals/data/salesforce_handwritten.jsonl").open() as lines:
        for line in lines:
            item = json.loads(line)
            pairs.append((item["id"], item["request"], json.dumps({"action": item["gold"]})))
    refused = {
        key: problem
        for key, request, target in pairs
        if (problem := grammar_checker.rejection(org_grammar(client, ids_in(request)), target))
    }
    assert refused == {}
    opportunity = "0068d0000001dPJAAY"
    grammar = org_grammar(client, [opportunity])
    update = '{"action": {"action": "update", "sobject": "Opportunity", "record_id": "%s", '
    invented = [
        '{"action": {"action": "query", "soql": "SELECT Id FROM Deal"}}',  # no such object
        '{"action": {"action": "query", "soql": "SELECT Name, Amount FROM Account"}}',
        '{"action": {"action": "query", "soql": "SELECT Name FROM Opportunity '
        "WHERE StageName = 'Won'\"}}",  # not a stage the org holds
        update % opportunity + '"values": {"Status": "Closed Won"}}}',  # not its field
        update % opportunity + '"values": {"IsClosed": true}}}',  # not updateable
        update % "0068d0000001dPJXXX" + '"values": {"StageName": "Closed Won"}}}',  # retyped
        '{"action": {"action": "query", "soql": "SELECT Name FROM Account; DELETE"}}',
    ]
    for text in invented:
        assert grammar_checker.rejection(grammar, text) is not None, text
    held = update % opportunity + '"values": {"StageName": "Closed Won"}}}'
    assert grammar_checker.rejection(grammar, held) is None
    only_queries = org_grammar(client, [], kinds=("query",))
    delete = (
        '{"action": {"action": "delete", "sobject": "Lead", "record_id": "00Q8d0000000bXoEAI"}}'
    )
    assert grammar_checker.rejection(only_queries, delete) is not None


def test_every_stored_router_plan_is_accepted_by_the_plan_schema_grammar(
    grammar_checker: GrammarChecker,
) -> None:
    from runtime.grammar import schema_to_gbnf

    grammar = schema_to_gbnf(Plan.model_json_schema())
    refused = {
        example["id"]: problem
        for example in stored("router")
        if (problem := grammar_checker.rejection(grammar, example["target"]))
    }
    assert refused == {}


def test_the_value_grounded_grammar_admits_only_values_the_columns_hold(
    grammar_checker: GrammarChecker, demo_db: Path
) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        grounded = sql_grammar(database, "sqlite")
        free = sql_grammar(database, "sqlite", ground_values=False)
    held = [
        "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'",
        "SELECT COUNT(*) FROM orders WHERE orders.status IN ('cancelled', 'returned')",
        "SELECT name FROM customers WHERE country != 'Germany' AND segment = 'SMB'",
        "SELECT customers.name FROM customers JOIN orders ON orders.customer_id = customers.id "
        "WHERE customers.country = 'United Kingdom'",
        "SELECT name FROM customers WHERE name = 'A name the grammar does not know'",
        "SELECT name FROM products WHERE category LIKE '%ware%'",
    ]
    invented = [
        "SELECT COUNT(*) FROM orders WHERE status = 'cancellation'",
        "SELECT COUNT(*) FROM orders WHERE status IN ('cancelled', 'on hold')",
        "SELECT name FROM customers WHERE country = 'germany'",
        "SELECT name FROM customers WHERE LOWER(country) = 'germany'",
        "SELECT name FROM customers WHERE segment = ' SMB'",
        "SELECT customers.name FROM customers JOIN orders ON orders.customer_id = customers.id "
        "WHERE customers.country = 'UK'",
    ]
    for text in held:
        assert grammar_checker.rejection(grounded, text) is None, text
    for text in invented:
        assert grammar_checker.rejection(grounded, text) is not None, text
        assert grammar_checker.rejection(free, text) is None, text


def test_the_sql_grammar_admits_a_decline_and_nothing_after_it(
    grammar_checker: GrammarChecker, demo_db: Path
) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        grammar = sql_grammar(database, "sqlite")
    assert grammar_checker.rejection(grammar, DECLINE) is None
    assert grammar_checker.rejection(grammar, DECLINE + ": no weather table") is not None
    assert grammar_checker.rejection(grammar, "-- SELECT 1") is not None


def test_the_sql_grammar_admits_one_table_subqueries_in_conditions(
    grammar_checker: GrammarChecker, demo_db: Path
) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        grammar = sql_grammar(database, "sqlite")
    admitted = [
        "SELECT name FROM products WHERE unit_price > (SELECT AVG(unit_price) FROM products)",
        "SELECT name FROM customers WHERE id NOT IN "
        "(SELECT customer_id FROM orders WHERE status = 'cancelled')",
        "SELECT customers.name FROM customers JOIN sales_reps ON sales_reps.id = customers.rep_id "
        "WHERE customers.id IN (SELECT customer_id FROM orders)",
    ]
    refused = [
        # A subquery is one table: no join inside it, and no grounded value it does not hold.
        "SELECT name FROM customers WHERE id IN (SELECT orders.customer_id FROM orders "
        "JOIN order_items ON order_items.order_id = orders.id)",
        "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders "
        "WHERE status = 'lost')",
    ]
    for text in admitted:
        assert grammar_checker.rejection(grammar, text) is None, text
    for text in refused:
        assert grammar_checker.rejection(grammar, text) is not None, text


def test_the_salesforce_grammar_admits_every_stored_action_and_the_decline(
    grammar_checker: GrammarChecker,
) -> None:
    from runtime.grammar import schema_to_gbnf
    from specialists.salesforce import SALESFORCE

    grammar = schema_to_gbnf(SALESFORCE.constraint()["format"])
    refused = {
        example["id"]: problem
        for example in stored("salesforce")[:300]
        if (problem := grammar_checker.rejection(grammar, example["target"]))
    }
    assert refused == {}
    assert grammar_checker.rejection(grammar, '{"decline": "cannot answer from this org"}') is None
    assert grammar_checker.rejection(grammar, '{"decline": "the weather is nice"}') is not None
