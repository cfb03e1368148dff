from __future__ import annotations

from pathlib import Path

import pytest

from graph.context import Context
from nodes.sql import sql_settings
from specialists.base import Timer
from specialists.spellings import spelled_as_held
from specialists.sql import answer_sql
from tests.fakes import ScriptedChatModel
from tools.sql import SqlDatabase

VALUES = {
    ("orders", "status"): ["cancelled", "delivered", "returned"],
    ("customers", "segment"): ["Enterprise", "Mid-Market", "SMB"],
    ("customers", "country"): ["Netherlands", "USA", "United Kingdom"],
    ("sales_reps", "region"): ["EMEA", "North America"],
    ("customers", "industry"): ["Other", "Software"],
}


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("how many orders got canceled?", "how many orders got cancelled?"),
        ("orders retruned in 2024", "orders returned in 2024"),
        ("smb customers count", "SMB customers count"),
        ("our mid market software customers", "our Mid-Market Software customers"),
        ("enterprize customers in the usa", "Enterprise customers in the USA"),
        ("customers in Holland", "customers in Netherlands"),
        ("healthcare firms in the UK", "healthcare firms in the United Kingdom"),
        ("customers in the united states", "customers in the USA"),
    ],
)
def test_a_value_as_people_write_it_is_shown_as_the_data_writes_it(
    written: str, shown: str
) -> None:
    assert spelled_as_held(written, VALUES) == shown


@pytest.mark.parametrize(
    "text",
    [
        "reps in North America",  # a held value, not "North" and a country
        "tell us about other customers",  # everyday words in lower case
        "Latin America reps",
        "the status of order 42",
        "USA and Enterprise, as written",
    ],
)
def test_what_is_not_a_held_value_is_left_as_written(text: str) -> None:
    assert spelled_as_held(text, VALUES) == text


def test_nothing_changes_without_values() -> None:
    assert spelled_as_held("canceled orders", {}) == "canceled orders"


def test_the_sql_model_is_shown_the_held_spelling_and_the_request_is_kept(demo_db: Path) -> None:
    model = ScriptedChatModel.of(["SELECT COUNT(*) FROM orders WHERE status = 'cancelled'"])
    context = Context(chat_models={"sql": model}, sql_decoding="free")
    with SqlDatabase.open(str(demo_db)) as database:
        answer = answer_sql(model, database, "canceled orders?", sql_settings(context), Timer())
    assert answer.result is not None
    assert str(model.calls[0][0][-1].content) == "cancelled orders?"
