"""The summariser's faithfulness check, its fallback, and the answer in prose."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graph.api import Dispatcher
from graph.context import Context
from specialists.facts import Source, unsupported
from specialists.sentences import describe_result, lead_sentences
from specialists.text import format_table
from tests.fakes import ScriptedChatModel

CATEGORIES = (
    ["category", "COUNT(*)"],
    [["Hardware", 12], ["Services", 8], ["Software", 12], ["Support", 8]],
)


def categories() -> Source:
    return Source.of_rows(*CATEGORIES, context="How many products are in each category?")


@pytest.mark.parametrize(
    ("summary", "problem"),
    [
        ("The total number of products in each category is 12.", "12 claimed for every row"),
        ("The catalogue has 13 products.", "number 13"),
        ("Brazil has 12 products.", "name Brazil"),
        ("Hardware has fifteen products.", "number fifteen"),
        ("Most products are in the 'Consulting' category.", "name 'Consulting'"),
    ],
)
def test_an_invented_number_or_name_is_found(summary: str, problem: str) -> None:
    assert problem in unsupported(summary, categories())


@pytest.mark.parametrize(
    "summary",
    [
        "Hardware and Software have 12 products each; Services and Support 8 each.",
        "There are 40 products in all, 30% of them in Hardware.",  # total and share
        "Hardware has 4 more products than Services.",  # a difference
        "Two categories have twelve products and two have eight.",
        "The 4 categories hold 40 products, 10 on average.",
    ],
)
def test_figures_recomputed_from_the_rows_are_supported(summary: str) -> None:
    assert unsupported(summary, categories()) == []


def test_a_free_text_is_checked_against_its_own_words() -> None:
    text = Source.of_text("Order 4411 for 30 laptops from Dell arrived on 3 March, two days late.")
    assert unsupported("Dell delivered 30 laptops two days late.", text) == []
    assert unsupported("HP delivered 30 laptops.", text) == ["name HP"]
    assert unsupported("The laptops arrived 5 days late.", text) == ["number 5"]


def test_the_deterministic_sentences_are_faithful_and_read_like_an_answer() -> None:
    grouped = describe_result(*CATEGORIES, False, request="How many products are in each category?")
    assert grouped == "Hardware and Software have 12 products each; Services and Support 8 each."
    assert unsupported(grouped, categories()) == []
    one = describe_result(["COUNT(*)"], [[9]], False, request="How many customers are in Brazil?")
    assert one == "There are 9 customers in Brazil."
    assert describe_result(["n"], [], False) == "The query returned no rows."
    cut = describe_result(["name"], [[f"c{i}"] for i in range(12)], True)
    assert "and 4 more" in cut and "cut" in cut
    assert lead_sentences("One. Two three. " * 40, limit=20) == "One. Two three. One."


def test_tables_are_aligned_and_say_what_was_left_out() -> None:
    lines = format_table(["name", "n"], [["a", 1], ["bbbb", 22], ["c", 3]], limit=2)
    assert lines[0] == "name   n" and lines[2] == "a      1" and lines[3] == "bbbb  22"
    assert lines[-1] == "… 1 more row(s) not shown"


def plan(*tasks: tuple[str, str, int | None]) -> str:
    import json

    return json.dumps(
        {"tasks": [{"specialist": s, "instruction": i, "depends_on": d} for s, i, d in tasks]}
    )


def context(demo_db: Path, **models: ScriptedChatModel) -> Context:
    return Context(backend="embedded", database_url=str(demo_db), chat_models=models)


def test_an_unfaithful_summary_is_replaced_and_the_answer_says_so(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(["SELECT category, COUNT(*) FROM products GROUP BY category"])
    summary = ScriptedChatModel.of(["The total number of products in each category is 12."])
    result = Dispatcher(InMemorySaver(), context(demo_db, sql=sql, summarize=summary)).ask(
        "How many products are in each category? Then summarise the result."
    )
    first, second = result.answer.splitlines()
    assert first == "Hardware and Software have 12 products each; Services and Support 8 each."
    assert second.startswith(first + " [Written from the rows: the summariser's own summary")
    assert "12 claimed for every row" in second
    (drafted, kept) = result.results[1]["attempts"]
    assert drafted["query"].startswith("The total number") and drafted["error"]
    assert kept == {"query": first, "error": None}


def test_a_faithful_summary_is_kept(demo_db: Path) -> None:
    sql = ScriptedChatModel.of(["SELECT category, COUNT(*) FROM products GROUP BY category"])
    summary = ScriptedChatModel.of(["Hardware and Software lead with 12 products each."])
    result = Dispatcher(InMemorySaver(), context(demo_db, sql=sql, summarize=summary)).ask(
        "How many products are in each category? Then summarise the result."
    )
    assert result.answer.splitlines()[1] == "Hardware and Software lead with 12 products each."


def test_a_failed_step_is_one_plain_sentence(demo_db: Path) -> None:
    router = ScriptedChatModel.of([plan(("sql", "How many customers?", None))])
    sql = ScriptedChatModel.of(["DROP TABLE customers"], repeat_last=True)
    settings = Context(
        backend="embedded",
        database_url=str(demo_db),
        router_rules=False,
        max_repairs=0,
        chat_models={"router": router, "sql": sql},
    )
    result = Dispatcher(InMemorySaver(), settings).ask("count the customers and the leads")
    assert result.answer.startswith("Could not answer “How many customers?”: No valid SQL")
    assert "\n" not in result.answer


@pytest.mark.parametrize(
    ("summary", "problem"),
    [
        ("Software has 8; Hardware 12, Services 8, Support 8.", "8 said of Software"),
        ("Hardware and Support have 12 each.", "12 said of Hardware and Support"),
    ],
)
def test_a_number_said_of_the_wrong_label_is_found(summary: str, problem: str) -> None:
    assert problem in unsupported(summary, categories())
