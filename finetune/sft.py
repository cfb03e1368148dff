"""Turn dataset examples into the chats a specialist is trained on.

A fine-tuned specialist is trained on exactly the chat its node sends it at serving time
(its :class:`specialists.base.Specialist` chat, zero-shot form): the SYSTEM text of its
Modelfile, the schema it works against, and the request. The completion is the example's
target.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import specialists
from specialists import TRAINABLE, Turn

__all__ = ["PROMPTS", "TRAINABLE", "chat_for", "sft_records", "write_sft"]

PROMPTS = ("schema", "request")
"""The chats a SQL adapter can be trained on: with the schema text, or the request alone."""


def sql_schema(database_path: Path | None = None) -> str:
    """The schema text the fine-tuned SQL specialist sees (no sample values)."""
    from graph.context import default_data_dir
    from tools.demo_db import create_sqlite_db
    from tools.sql import SqlDatabase

    path = database_path or default_data_dir() / "demo.sqlite"
    if not path.exists():
        create_sqlite_db(path)
    with SqlDatabase.open(str(path)) as database:
        return database.schema_text(sample_values=False)


def chat_for(specialist: str, request: str, *, schema: str = "") -> list[Turn]:
    """The zero-shot chat for one request (``schema`` is needed for ``sql``)."""
    if specialist not in TRAINABLE:
        raise ValueError(f"no training chat for specialist {specialist!r}: one of {TRAINABLE}")
    unit = specialists.get(specialist)
    return unit.turns(unit.system(), request, fewshot=False, schema=schema)


def sft_records(
    specialist: str,
    examples: Iterable[dict[str, Any]],
    *,
    database_path: Path | None = None,
    prompt: str = "schema",
    schema_text: str | None = None,
) -> list[dict[str, Any]]:
    """``{"id", "turns", "completion"}`` records for ``examples`` of one specialist.

    ``database_path`` is the demo database whose schema the SQL chats carry (default: the one
    in the data directory). ``prompt="request"`` leaves the schema text out of the SQL chats
    (the adapter then learns the schema; see :func:`runtime.adapter_prompt`). ``schema_text``
    is the schema to show instead of the demo database's (another database's). An example
    with ``repair`` (``wrong``, ``error``; :mod:`finetune.engine.repair`) becomes a repair
    episode: the chat, the wrong reply, the repair turn the runtime sends, then the target.
    """
    if prompt not in PROMPTS:
        raise ValueError(f"prompt must be one of {PROMPTS}, not {prompt!r}")
    schema = ""
    if specialist == "sql" and prompt == "schema":
        schema = schema_text if schema_text is not None else sql_schema(database_path)
    records = []
    for example in examples:
        turns = chat_for(specialist, example["request"], schema=schema)
        repair = example.get("repair")
        if repair:
            # A repair episode: the rejected reply and the repair turn as served, then the gold.
            unit = specialists.get(specialist)
            assert unit.repair is not None, f"{specialist} has no repair turn"
            turns += [
                ("assistant", repair["wrong"]),
                ("user", unit.repair.prompt(repair["error"], example["request"])),
            ]
        records.append(
            {
                "id": example["id"],
                "turns": [list(turn) for turn in turns],
                "completion": example["target"],
            }
        )
    return records


def write_sft(records: list[dict[str, Any]], path: Path) -> Path:
    """Write records as JSONL (what ``python -m finetune.train --sft`` reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
