"""The configurations of ``slm-dispatch eval`` and how each specialist is prompted.

A configuration is ``<model>/<decoding>``: the base model with the specialist's few-shot
chat (``base-prompted``) or with the specialist's LoRA adapter and the
zero-shot prompt it was trained on (``fine-tuned``), decoding plain text (``free``) or under
the grammar of the live SQL schema / of the JSON schema (``constrained``). A task says, for
one specialist, what it is asked, under which constraint, and how its reply is scored.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

import specialists
from evals.scoring import Score, score_router, score_salesforce, score_sql
from finetune.datasets import SANDBOX_ANCHOR
from runtime.embedded import EmbeddedChatModel
from runtime.registry import embedded_chat_model, load_modelfile
from specialists.base import Specialist
from specialists.sql import schema_shown, sql_grammar, sql_schema_text
from tools.salesforce import SalesforceClient
from tools.sql import SqlDatabase

__all__ = ["CONFIGS", "FAMILIES"]

CONFIGS: tuple[str, ...] = (
    "base-prompted/free",
    "base-prompted/constrained",
    "fine-tuned/free",
    "fine-tuned/constrained",
)
"""Every configuration: ``<model>/<decoding>``."""

FAMILIES: tuple[str, ...] = ("base-prompted", "fine-tuned")
"""The two models compared; each is run with both decodings."""


def _family(config: str) -> str:
    return config.split("/", 1)[0]


def _constrained(config: str) -> bool:
    return config.endswith("/constrained")


def _specialist_model(specialist: str, base: Path, adapter: Path | None) -> EmbeddedChatModel:
    """The specialist's model with its Modelfile's decoding parameters and ``adapter``, greedy."""
    model = embedded_chat_model(specialist, load_modelfile(specialist), weights=(base, adapter))
    return model.model_copy(update={"temperature": 0.0})


class _Task:
    """How one specialist is prompted, decoded and scored.

    Its chat and constraint are the registry's, so the evaluation sends what the nodes send.
    """

    name = ""

    def __init__(self) -> None:
        self.specialist: Specialist = specialists.get(self.name)
        self.system = self.specialist.system()

    def messages(self, item: Mapping[str, Any], fewshot: bool) -> list[BaseMessage]:
        return self.specialist.messages(self.system, item["request"], fewshot=fewshot)

    def constraint(self) -> dict[str, Any]:
        return self.specialist.constraint()

    def score(self, output: str, item: Mapping[str, Any]) -> Score:
        raise NotImplementedError


class _RouterTask(_Task):
    name = "router"

    def score(self, output: str, item: Mapping[str, Any]) -> Score:
        return score_router(output, item["target"], item["request"])


class _SqlTask(_Task):
    name = "sql"

    def __init__(self, database: SqlDatabase) -> None:
        super().__init__()
        self.database = database
        self.grammar = sql_grammar(database, "sqlite")
        self.schemas = {
            fewshot: sql_schema_text(database, fewshot=fewshot) if schema_shown(fewshot) else ""
            for fewshot in (False, True)
        }

    def messages(self, item: Mapping[str, Any], fewshot: bool) -> list[BaseMessage]:
        return self.specialist.messages(
            self.system, item["request"], fewshot=fewshot, schema=self.schemas[fewshot]
        )

    def constraint(self) -> dict[str, Any]:
        return {"grammar": self.grammar}

    def score(self, output: str, item: Mapping[str, Any]) -> Score:
        return score_sql(output, item["target"], self.database)


class _SalesforceTask(_Task):
    name = "salesforce"

    def __init__(self, client: SalesforceClient) -> None:
        super().__init__()
        self.client = client

    def score(self, output: str, item: Mapping[str, Any]) -> Score:
        return score_salesforce(output, item["target"], self.client)


def _open_task(name: str, database_file: Path, stack: ExitStack) -> _Task:
    """The task of one specialist, with what it needs opened on ``stack``."""
    if name == "router":
        return _RouterTask()
    if name == "sql":
        database = SqlDatabase.open(str(database_file))
        stack.callback(database.close)
        return _SqlTask(database)
    from tools.salesforce_sandbox import sandbox_client, start_sandbox

    directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="slm-eval-sandbox-"))
    server = stack.enter_context(start_sandbox(Path(directory), anchor=SANDBOX_ANCHOR))
    return _SalesforceTask(sandbox_client(server))
