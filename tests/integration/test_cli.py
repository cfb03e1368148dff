"""The console script, run as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent / "slm-dispatch"


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, env=full_env, input=stdin, timeout=600
    )


def test_help_explains_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for word in (
        "setup",
        "ask",
        "resume",
        "approve",
        "reject",
        "sandbox",
        "history",
        "SLM_BACKEND",
        "exit status",
    ):
        assert word in result.stdout
    ask = run_cli("ask", "--help")
    assert ask.returncode == 0 and "--thread" in ask.stdout and "--json" in ask.stdout


def test_ask_json_on_the_embedded_model(demo_db: Path, tmp_path: Path, base_model: None) -> None:
    env = {"SLM_DATABASE_URL": str(demo_db), "SLM_BACKEND": "embedded"}
    result = run_cli(
        "--data-dir", str(tmp_path), "ask", "--json", "How many customers are there?", env=env
    )
    assert result.returncode in (0, 1), result.stderr
    payload = json.loads(result.stdout)
    assert payload["finished"] is True
    assert payload["route"]["path"] == "rules"
    assert payload["results"][0]["specialist"] == "sql"
    assert "Traceback" not in result.stderr
    history = run_cli("--data-dir", str(tmp_path), "history", payload["thread_id"], env=env)
    assert history.returncode == 0 and "step" in history.stdout
    resumed = run_cli("--data-dir", str(tmp_path), "resume", payload["thread_id"], env=env)
    assert resumed.returncode in (0, 1) and payload["thread_id"] in resumed.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (("ask", ""), None, "the request is empty"),
        (("ask", "-"), "   ", "the request is empty"),
        (("resume", "no-such-thread"), None, "no thread 'no-such-thread'"),
        (("history", "no-such-thread"), None, "no thread 'no-such-thread'"),
        (("approve", "no-such-thread"), None, "has no write waiting for approval"),
        (("reject", "no-such-thread", "--reason", "x"), None, "has no write waiting"),
        (("ask", "--backend", "gpu", "hi"), None, "invalid choice"),
    ],
)
def test_user_mistakes_get_a_message_not_a_traceback(
    demo_db: Path, tmp_path: Path, args: tuple[str, ...], stdin: str | None, needle: str
) -> None:
    result = run_cli(
        "--data-dir", str(tmp_path), *args, stdin=stdin, env={"SLM_DATABASE_URL": str(demo_db)}
    )
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_data_dir(demo_db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli(
        "--data-dir",
        str(blocker / "data"),
        "ask",
        "How many customers?",
        env={"SLM_DATABASE_URL": str(demo_db), "SLM_BACKEND": "embedded"},
    )
    assert result.returncode == 2
    assert "cannot create the data directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_demo_database(tmp_path: Path) -> None:
    result = run_cli(
        "--data-dir", str(tmp_path), "ask", "How many customers?", env={"SLM_DATABASE_URL": ""}
    )
    assert result.returncode == 2
    assert "slm-dispatch setup" in result.stderr


def test_huge_request_from_stdin(demo_db: Path, tmp_path: Path) -> None:
    result = run_cli(
        "--data-dir",
        str(tmp_path),
        "ask",
        "-",
        stdin="word " * 20_000,
        env={"SLM_DATABASE_URL": str(demo_db)},
    )
    assert result.returncode == 1
    assert "99,999 characters" in result.stdout and "the limit is" in result.stdout
