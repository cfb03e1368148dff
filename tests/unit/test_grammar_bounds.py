from __future__ import annotations

from pydantic import BaseModel, Field

from runtime.grammar import MAX_GRAMMAR_REPEAT, schema_to_gbnf, unenforced_keywords
from tools.salesforce import ActionRequest


class Long(BaseModel):
    text: str = Field(max_length=4000)
    items: list[int] = Field(max_length=500)
    code: str = Field(max_length=8)


def test_large_bounds_stay_out_of_the_grammar() -> None:
    schema = Long.model_json_schema()
    grammar = schema_to_gbnf(schema)
    assert len(grammar) < 5_000
    assert unenforced_keywords(schema) == {
        f"maxLength>{MAX_GRAMMAR_REPEAT}",
        f"maxItems>{MAX_GRAMMAR_REPEAT}",
    }


def test_small_bounds_are_enforced() -> None:
    class Short(BaseModel):
        code: str = Field(max_length=8)

    assert unenforced_keywords(Short.model_json_schema()) == set()


def test_salesforce_action_grammar_is_compact() -> None:
    # A 4000-character SOQL bound unrolled into the grammar once crashed llama.cpp.
    assert len(schema_to_gbnf(ActionRequest.model_json_schema())) < 20_000
