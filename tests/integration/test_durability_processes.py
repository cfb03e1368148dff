"""Durability with real OS processes: shared checkpoints, SIGKILL, exactly-once writes.

Each service process is ``tests/durability_worker.py`` run with ``subprocess``; the
models are scripted (they log every call to a file shared by the processes), the
checkpointer, the write journal, the sandbox org and its HTTPS API are real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.paths import PROJECT_ROOT
from tools.salesforce import QueryAction
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox

pytestmark = pytest.mark.integration

NEW_LEAD = json.dumps(
    {
        "action": {
            "action": "create",
            "sobject": "Lead",
            "values": {
                "FirstName": "Ada",
                "LastName": "Quillfeather",
                "Company": "Analytical Engines",
                "Status": "Open - Not Contacted",
            },
        }
    }
)

LONG_DESCRIPTION = ("Printer says 'PC LOAD LETTER', then \"fire\"; see C:\\logs.\n" * 100)[:5000]

NEW_OPPORTUNITY = json.dumps(
    {
        "action": {
            "action": "create",
            "sobject": "Opportunity",
            "values": {
                "Name": "Quillfeather renewal",
                "StageName": "Negotiation/Review",
                "CloseDate": "2031-03-31",
                "Amount": 48250.75,
            },
        }
    }
)

NEW_CASE = json.dumps(
    {
        "action": {
            "action": "create",
            "sobject": "Case",
            "values": {
                "Subject": "Quillfeather printer",
                "Description": LONG_DESCRIPTION,
                "Priority": "High",
            },
        }
    }
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as server:
        yield server


@pytest.fixture
def org(sandbox: SandboxServer) -> SandboxServer:
    sandbox.reset()
    return sandbox


def worker_args(command: str, checkpoint: str, thread: str, calls: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.durability_worker",
        command,
        "--checkpoint",
        checkpoint,
        "--thread",
        thread,
        "--calls-file",
        str(calls),
        *extra,
    ]


def worker_env(sandbox: SandboxServer | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    if sandbox is not None:
        env.update(sandbox.env())
    return env


def run_worker(
    command: str,
    checkpoint: str,
    thread: str,
    calls: Path,
    *extra: str,
    sandbox: SandboxServer | None = None,
) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        worker_args(command, checkpoint, thread, calls, *extra),
        cwd=PROJECT_ROOT,
        env=worker_env(sandbox),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stdout.strip().splitlines()
    payload = json.loads(lines[-1]) if done.returncode == 0 and lines else {}
    assert done.returncode in (0, -signal.SIGKILL), done.stderr[-2000:]
    return done.returncode, payload


def calls_of(calls: Path) -> Counter[str]:
    return Counter(calls.read_text().split()) if calls.exists() else Counter()


def leads_named_quillfeather(sandbox: SandboxServer) -> list[str]:
    result = sandbox_client(sandbox).run(
        QueryAction(soql="SELECT Id FROM Lead WHERE LastName = 'Quillfeather'")
    )
    return [str(row[0]) for row in result.rows]


def test_thread_paused_in_one_process_is_approved_in_another(
    org: SandboxServer, postgres_database: str, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    code, first = run_worker(
        "ask",
        postgres_database,
        "two-proc",
        calls,
        "--request",
        "Create a lead for Ada Lovelace at Analytical Engines",
        "--salesforce-reply",
        NEW_LEAD,
        sandbox=org,
    )
    assert code == 0 and not first["finished"]
    assert "Quillfeather" in first["pending"][0]["preview"]
    assert org.write_requests == 0 and leads_named_quillfeather(org) == []

    code, second = run_worker("approve", postgres_database, "two-proc", calls, sandbox=org)
    assert code == 0 and second["finished"]
    (task,) = second["results"]
    assert task["status"] == "ok" and task["output"].startswith("Created Lead 00Q")
    assert leads_named_quillfeather(org) == [task["rows"][0][0]]
    assert org.write_requests == 1
    assert calls_of(calls) == Counter({"salesforce": 1})  # generated once, in the first process


def test_sigkill_mid_run_resumes_without_repeating_finished_subtasks(
    demo_db: Path, tmp_path: Path
) -> None:
    calls = tmp_path / "calls.txt"
    store = str(tmp_path / "checkpoints.sqlite")
    request = "How many orders have each status? Then summarise the result."
    sql = "SELECT status, COUNT(*) AS n FROM orders GROUP BY status"
    common = ("--database", str(demo_db), "--sql-reply", sql)
    process = subprocess.Popen(
        worker_args(
            "ask", store, "killed", calls, "--request", request, *common, "--summarize-sleep", "60"
        ),
        cwd=PROJECT_ROOT,
        env=worker_env(None),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while "summarize" not in calls_of(calls):
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the summarize step never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    assert calls_of(calls) == Counter({"sql": 1, "summarize": 1})

    code, state = run_worker("state", store, "killed", calls, *common)
    assert code == 0 and not state["finished"]
    assert [r["status"] for r in state["results"]] == ["ok"]  # the SQL result was checkpointed

    code, resumed = run_worker("resume", store, "killed", calls, *common)
    assert code == 0 and resumed["finished"]
    assert [r["status"] for r in resumed["results"]] == ["ok", "ok"]
    assert resumed["results"][1]["output"] == "A short summary."
    # The finished SQL sub-task was not run again; only the killed summary was.
    assert calls_of(calls) == Counter({"sql": 1, "summarize": 2})


@pytest.mark.parametrize(
    ("fault", "store_kind"),
    [
        ("kill-after-http", "postgres"),
        ("kill-after-journal", "sqlite"),
        ("kill-after-http", "sqlite"),
    ],
)
def test_approved_write_is_performed_exactly_once_across_a_kill(
    fault: str, store_kind: str, org: SandboxServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if store_kind == "postgres":
        store = request.getfixturevalue("postgres_database")
    else:
        store = str(tmp_path / "checkpoints.sqlite")
    calls = tmp_path / "calls.txt"
    thread = f"once-{fault}"
    ask = ("--request", "Create a lead for Ada Lovelace", "--salesforce-reply", NEW_LEAD)
    code, first = run_worker("ask", store, thread, calls, *ask, sandbox=org)
    assert code == 0 and first["pending"]

    # The process dies right after Salesforce accepted the write, before the checkpoint.
    code, _ = run_worker("approve", store, thread, calls, "--fault", fault, sandbox=org)
    assert code == -signal.SIGKILL
    created = leads_named_quillfeather(org)
    assert len(created) == 1 and org.write_requests == 1

    code, state = run_worker("state", store, thread, calls, sandbox=org)
    assert not state["finished"] and state["pending"]  # the approval step was not checkpointed

    code, resumed = run_worker("resume", store, thread, calls, sandbox=org)
    assert code == 0 and resumed["finished"]
    (task,) = resumed["results"]
    assert task["status"] == "ok" and task["output"] == f"Created Lead {created[0]}."
    assert leads_named_quillfeather(org) == created and org.write_requests == 1

    code, again = run_worker("resume", store, thread, calls, sandbox=org)
    assert again["finished"] and org.write_requests == 1
    assert calls_of(calls) == Counter({"salesforce": 1})


def test_without_the_journal_the_same_kill_writes_twice(org: SandboxServer, tmp_path: Path) -> None:
    """The control: what the journal prevents."""
    store = str(tmp_path / "checkpoints.sqlite")
    calls = tmp_path / "calls.txt"
    ask = ("--request", "Create a lead for Ada Lovelace", "--salesforce-reply", NEW_LEAD)
    run_worker("ask", store, "control", calls, *ask, "--no-journal", sandbox=org)
    code, _ = run_worker(
        "approve",
        store,
        "control",
        calls,
        "--fault",
        "kill-after-http",
        "--no-journal",
        sandbox=org,
    )
    assert code == -signal.SIGKILL and len(leads_named_quillfeather(org)) == 1
    code, _ = run_worker("approve", store, "control", calls, "--no-journal", sandbox=org)
    assert code == 0
    assert len(leads_named_quillfeather(org)) == 2 and org.write_requests == 2


@pytest.mark.parametrize(
    ("reply", "sobject", "field", "value"),
    [
        (NEW_OPPORTUNITY, "Opportunity", "Name", "Quillfeather renewal"),
        (NEW_CASE, "Case", "Subject", "Quillfeather printer"),
    ],
    ids=["opportunity-date-and-currency", "case-long-description"],
)
def test_a_killed_create_with_dates_or_long_text_is_performed_once(
    reply: str, sobject: str, field: str, value: str, org: SandboxServer, tmp_path: Path
) -> None:
    """The look-up after a kill works for a date, a currency and a 5,000-character text area."""
    store = str(tmp_path / "checkpoints.sqlite")
    calls = tmp_path / "calls.txt"
    thread = f"once-{sobject}"

    def records() -> list[str]:
        soql = f"SELECT Id FROM {sobject} WHERE {field} = '{value}'"
        return [str(row[0]) for row in sandbox_client(org).run(QueryAction(soql=soql)).rows]

    ask = ("--request", f"Create a {sobject}", "--salesforce-reply", reply)
    code, first = run_worker("ask", store, thread, calls, *ask, sandbox=org)
    assert code == 0 and first["pending"]
    code, _ = run_worker("approve", store, thread, calls, "--fault", "kill-after-http", sandbox=org)
    assert code == -signal.SIGKILL
    created = records()
    assert len(created) == 1 and org.write_requests == 1

    code, resumed = run_worker("resume", store, thread, calls, sandbox=org)
    assert code == 0 and resumed["finished"]
    (task,) = resumed["results"]
    assert task["status"] == "ok", task["output"]
    assert task["output"] == f"Created {sobject} {created[0]}."
    assert records() == created and org.write_requests == 1
