"""Repair episodes: wrong queries the runtime's checks really reject, then the gold."""

from __future__ import annotations

import random
from pathlib import Path

from finetune.engine.__main__ import generate
from finetune.engine.repair import KINDS, rejection, repair_records
from finetune.sft import sft_records
from tools.sql import SqlDatabase


def test_every_episode_carries_the_real_error_and_a_gold_the_checks_accept(demo_db: Path) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        train, _, _ = generate(database, count=200, seed=3)
        episodes, drops = repair_records(database, train.records, random.Random(4), 45)
        assert len(episodes) == 45
        assert {episode["repair"]["kind"] for episode in episodes} == set(KINDS)
        for episode in episodes:
            repair = episode["repair"]
            assert repair["wrong"] != episode["target"]
            assert rejection(database, repair["wrong"]) == repair["error"]
            assert rejection(database, episode["target"]) is None
    assert all(reason.split(": ")[0] in KINDS for reason in drops)


def test_generate_adds_repairs_and_the_chat_holds_the_repair_turn(demo_db: Path) -> None:
    with SqlDatabase.open(str(demo_db)) as database:
        train, _, drops = generate(database, count=100, seed=5, repairs=10)
    episodes = [r for r in train.records if r.get("family") == "repair"]
    assert len(episodes) == 10 and train.families["repair"] == 10
    (record,) = sft_records("sql", episodes[:1], prompt="request")
    roles = [role for role, _ in record["turns"]]
    assert roles[-3:] == ["user", "assistant", "user"]
    assert record["turns"][-2][1] == episodes[0]["repair"]["wrong"]
    assert episodes[0]["repair"]["error"] in record["turns"][-1][1]
    assert record["completion"] == episodes[0]["target"]
