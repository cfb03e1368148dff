"""The chat each specialist is sent, in its two forms: few-shot and fine-tuned.

A prompted base model needs worked examples in its prompt; a fine-tuned specialist has
learnt the task and reads only the system text (with the schema it works against) and the
request. The training data (``finetune``), the evaluation (``evals``) and the nodes build
their chats here, so a specialist is served the very prompt it was trained on.

Every builder returns ``(role, content)`` pairs; roles are ``system``, ``user`` and
``assistant``.
"""

from __future__ import annotations

from prompts.render import render
from prompts.router import ROUTER_PROMPT
from prompts.salesforce import SALESFORCE_OBJECTS, SOQL_PROMPT
from prompts.sql import SQL_EXAMPLES, SQL_SCHEMA_PROMPT

Turn = tuple[str, str]
"""One chat message as ``(role, content)``."""

SALESFORCE_OBJECTS_PROMPT = """Salesforce objects and fields:
{objects}"""
"""Appended to the fine-tuned Salesforce specialist's system message."""


def _system(system: str, *extra: str) -> list[Turn]:
    text = "\n\n".join(part for part in (system, *extra) if part)
    return [("system", text)] if text else []


def router_chat(system: str, request: str, *, fewshot: bool) -> list[Turn]:
    """The router's chat: the request, inside the worked-example prompt when ``fewshot``."""
    user = render(ROUTER_PROMPT, request=request) if fewshot else request
    return [*_system(system), ("user", user)]


def sql_chat(system: str, schema: str, question: str, *, fewshot: bool) -> list[Turn]:
    """The SQL specialist's chat: system + schema, example turns when ``fewshot``, question."""
    turns = _system(system, render(SQL_SCHEMA_PROMPT, schema=schema))
    if fewshot:
        for example_question, answer in SQL_EXAMPLES:
            turns += [("user", example_question), ("assistant", answer)]
    turns.append(("user", question))
    return turns


def salesforce_chat(system: str, request: str, *, fewshot: bool) -> list[Turn]:
    """The Salesforce specialist's chat.

    Few-shot: the objects and worked examples in the user turn. Fine-tuned: the objects in
    the system message and the bare request as the user turn.
    """
    if fewshot:
        user = render(SOQL_PROMPT, objects=SALESFORCE_OBJECTS, request=request)
        return [*_system(system), ("user", user)]
    objects = render(SALESFORCE_OBJECTS_PROMPT, objects=SALESFORCE_OBJECTS)
    return [*_system(system, objects), ("user", request)]
