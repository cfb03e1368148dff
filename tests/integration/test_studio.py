"""The graph served by `langgraph dev` (LangGraph Studio's server), driven by langgraph-sdk."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_client

from runtime.paths import PROJECT_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.studio]

LANGGRAPH = Path(sys.executable).parent / "langgraph"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def studio_server(
    tmp_path_factory: pytest.TempPathFactory, demo_db: Path, base_model: None
) -> Iterator[str]:
    port = _free_port()
    log_path = tmp_path_factory.mktemp("studio") / "langgraph-dev.log"
    env = {
        **os.environ,
        "SLM_DATABASE_URL": str(demo_db),
        "SLM_BACKEND": "embedded",
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(LANGGRAPH),
                "dev",
                "--port",
                str(port),
                "--no-browser",
                "--no-reload",
                "--host",
                "127.0.0.1",
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_thread_through_the_studio_server(studio_server: str) -> None:
    async def scenario() -> dict:
        client = get_client(url=studio_server)
        assistants = await client.assistants.search(graph_id="slm_dispatch")
        assert assistants, "the graph from langgraph.json is not served"
        thread = await client.threads.create()
        final = await client.runs.wait(
            thread["thread_id"],
            "slm_dispatch",
            input={"request": "How many customers are there? Then summarise the result."},
        )
        state = await client.threads.get_state(thread["thread_id"])
        assert state["next"] == []
        return final  # type: ignore[return-value]

    final = asyncio.run(scenario())
    assert final["route"]["path"] == "rules"
    assert [t["specialist"] for t in final["plan"]] == ["sql", "summarize"]
    assert len(final["results"]) == 2
    assert final["answer"].splitlines()[0] == "There are 200 customers."
