from __future__ import annotations

import pytest

from specialists.quantities import numbers_as_digits
from specialists.salesforce import SALESFORCE
from specialists.sql import SQL
from specialists.summarize import SUMMARIZE


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("the top five customers", "the top 5 customers"),
        ("twenty-five orders", "25 orders"),
        ("one hundred and twenty items", "120 items"),
        ("more than two thousand units", "more than 2000 units"),
        ("three hundred thousand", "300000"),
        ("deals over 250k", "deals over 250000"),
        ("3.5K in revenue", "3500 in revenue"),
        ("a $1.5m pipeline", "a $1500000 pipeline"),
        ("€2bn", "€2000000000"),
        ("amount above 50,000", "amount above 50000"),
        ("2.5 thousand", "2500"),
        ("Ten percent", "10 percent"),
    ],
)
def test_numbers_in_words_or_with_suffixes_become_digits(written: str, shown: str) -> None:
    assert numbers_as_digits(written) == shown


@pytest.mark.parametrize(
    "text",
    [
        "which one is the biggest",
        "no one ordered",
        "hundreds of orders",
        "orders with two and three items",
        "a 5m run",
        "Id 001000000000001AAA",
        "in 2024, Q3",
        "items 1,2,3",
        "the first order",
    ],
)
def test_what_is_not_a_count_is_left_as_written(text: str) -> None:
    assert numbers_as_digits(text) == text


def test_sql_and_salesforce_are_shown_digits_the_summariser_the_text_as_written() -> None:
    request = "Top five deals over 250k"
    for specialist in (SQL, SALESFORCE):
        shown = specialist.messages("", request, fewshot=False, schema="")[-1].content
        assert "Top 5 deals over 250000" in str(shown)
    summary = SUMMARIZE.messages("", request, fewshot=False)[-1].content
    assert "Top five deals over 250k" in str(summary)
