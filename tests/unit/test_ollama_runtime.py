"""Unit tests of the Ollama runtime pieces that need no server: fault sorting, retry
timing, request assembly, host placement, fallback settings and the progress bar."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage

import ollama
from graph.context import Context
from graph.models_cli import ProgressBar
from runtime.errors import BackendError, ModelUnavailableError
from runtime.ollama_backend import (
    DispatchChatOllama,
    RetryPolicy,
    classify_fault,
    down_message,
    missing_message,
)
from runtime.ollama_models import ModelStatus, Progress, blob_digest
from runtime.registry import resolve_fallback, specialist_host
from tests.ollama_standin import parse_keep_alive

REQUEST = httpx.Request("POST", "http://h:1/api/chat")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ollama.ResponseError("model 'x' not found", 404), "missing"),
        (ollama.ResponseError("boom", 500), "transient"),
        (ollama.ResponseError("busy", 503), "transient"),
        (ollama.ResponseError("runner crashed"), "transient"),  # an error line in a stream
        (ollama.ResponseError("bad schema", 400), "final"),
        (ConnectionError("Failed to connect to Ollama."), "down"),
        (ConnectionRefusedError(), "down"),
        (httpx.ConnectError("refused", request=REQUEST), "down"),
        (httpx.ConnectTimeout("slow", request=REQUEST), "down"),
        (httpx.ReadTimeout("slow load", request=REQUEST), "transient"),
        (httpx.RemoteProtocolError("incomplete chunked read", request=REQUEST), "transient"),
        (httpx.ReadError("reset", request=REQUEST), "transient"),
        (ConnectionResetError(), "transient"),
        (json.JSONDecodeError("truncated", "{", 1), "transient"),
        (ValueError("a bug"), None),
    ],
)
def test_faults_are_sorted(error: BaseException, kind: str | None) -> None:
    assert classify_fault(error) == kind


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(retries=6, backoff_s=0.5, max_backoff_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLM_OLLAMA_RETRIES", "4")
    monkeypatch.setenv("SLM_OLLAMA_BACKOFF", "0.25")
    context = Context()
    policy = RetryPolicy(retries=context.ollama_retries, backoff_s=context.ollama_backoff_s)
    assert policy == RetryPolicy(retries=4, backoff_s=0.25)
    monkeypatch.setenv("SLM_OLLAMA_RETRIES", "-3")
    assert Context().ollama_retries == 0


def test_messages_name_host_tag_and_fix() -> None:
    assert missing_message("http://h:11434", "slm-dispatch/sql:ab12cd", "sql") == (
        "model slm-dispatch/sql:ab12cd is not on http://h:11434 — "
        "run `slm-dispatch models build sql`"
    )
    down = down_message("http://h:1", "slm-dispatch/sql:ab", "sql", ConnectionError())
    assert "Ollama at http://h:1 does not answer (connection refused)" in down
    assert "SLM_OLLAMA_HOST_SQL" in down and "SLM_BACKEND=embedded" in down


def test_format_and_tools_are_never_combined() -> None:
    model = DispatchChatOllama(model="m")
    tool = {"type": "function", "function": {"name": "f", "parameters": {}}}
    with pytest.raises(ValueError, match="cannot combine `format` with tool calling"):
        model._chat_params([HumanMessage("hi")], format={"type": "object"}, tools=[tool])
    assert model._chat_params([HumanMessage("hi")], tools=[tool])["tools"] == [tool]


def test_a_final_fault_is_raised_without_retry() -> None:
    model = DispatchChatOllama(model="slm-dispatch/sql:ab", specialist="sql")
    error = ollama.ResponseError("model not found", 404)
    with pytest.raises(ModelUnavailableError, match="models build sql"):
        model._next_delay(classify_fault(error), error, attempt=1)
    error = ollama.ResponseError("invalid format", 400)
    with pytest.raises(BackendError, match="refused the request"):
        model._next_delay(classify_fault(error), error, attempt=1)
    with pytest.raises(ValueError, match="a bug"):
        model._next_delay(None, ValueError("a bug"), attempt=1)


def test_a_transient_fault_waits_then_gives_up() -> None:
    model = DispatchChatOllama(model="m", retry=RetryPolicy(retries=2, backoff_s=0.1))
    error = ollama.ResponseError("boom", 500)
    assert model._next_delay("transient", error, attempt=1) == 0.1
    assert model._next_delay("transient", error, attempt=2) == 0.2
    with pytest.raises(BackendError, match=r"failed 3 time\(s\)"):
        model._next_delay("transient", error, attempt=3)


def test_specialist_host_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    def host_for(specialist: str, **settings: Any) -> str:
        context = Context(**settings)
        return specialist_host(specialist, context.ollama_host, context.ollama_hosts)

    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    monkeypatch.delenv("SLM_OLLAMA_HOST_SQL", raising=False)
    assert specialist_host("sql") == "http://127.0.0.1:11434"
    assert host_for("sql") == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "cpu-box")
    assert host_for("sql") == "http://cpu-box:11434"
    assert host_for("sql", ollama_host="other:1") == "http://other:1"
    monkeypatch.setenv("SLM_OLLAMA_HOST_SQL", "gpu-box:11434")
    assert host_for("sql", ollama_host="other:1") == "http://gpu-box:11434"
    assert host_for("router", ollama_host="other:1") == "http://other:1"
    assert specialist_host("sql", "other:1", {"sql": "gpu-2"}) == "http://gpu-2:11434"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", False), ("0", False), ("1", True), ("embedded", True), ("TRUE", True)],
)
def test_fallback_setting(value: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLM_OLLAMA_FALLBACK", value)
    assert resolve_fallback(Context().ollama_fallback) is expected
    assert Context().ollama_fallback is expected
    assert resolve_fallback(False) is False


def test_context_reads_per_specialist_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLM_OLLAMA_HOST_SQL", "http://gpu:11434")
    monkeypatch.setenv("SLM_OLLAMA_KEEP_ALIVE", "1h")
    context = Context()
    assert context.ollama_hosts == {"sql": "http://gpu:11434"}
    assert context.ollama_keep_alive == "1h"
    with pytest.raises(ValueError, match="unknown specialist"):
        Context(ollama_hosts={"poet": "x"})


def test_status_states() -> None:
    base = {"specialist": "sql", "tag": "slm-dispatch/sql:b", "host": "http://h:1"}
    assert ModelStatus(**base).state == "missing"
    assert ModelStatus(**base, stale_tags=["slm-dispatch/sql:a"]).state == "stale"
    assert ModelStatus(**base, present=True, current=True).state == "current"
    assert ModelStatus(**base, present=True, current=False).state == "mismatch"
    assert ModelStatus(**base, reachable=False, problem="down").state == "unreachable"
    assert ModelStatus(**base).as_dict()["state"] == "missing"


def test_blob_digest_is_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.gguf"
    path.write_bytes(b"GGUF")
    assert blob_digest(path) == "sha256:" + hashlib.sha256(b"GGUF").hexdigest()
    path.write_bytes(b"GGUF2")  # a new size: hashed again
    assert blob_digest(path) == "sha256:" + hashlib.sha256(b"GGUF2").hexdigest()


class Pipe(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_without_a_terminal_prints_each_status_once() -> None:
    stream = Pipe(tty=False)
    bar = ProgressBar(stream)
    for done in (0, 50, 100):
        bar(Progress("sql", "uploading sha256:abc", done, 100))
    bar(Progress("sql", "success"))
    bar.close()
    assert stream.getvalue() == "· sql: uploading sha256:abc\n· sql: success\n"


def test_progress_bar_on_a_terminal_draws_a_bar() -> None:
    stream = Pipe(tty=True)
    bar = ProgressBar(stream, width=10)
    bar(Progress("sql", "uploading", 100, 100))
    bar.close()
    assert "[##########] 100%" in stream.getvalue()
    assert stream.getvalue().endswith("\n")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(None, 300.0), ("10m", 600.0), ("1h30m", 5400.0), (0, 0.0), ("0", 0.0), (-1, None),
     ("-1m", None), (45, 45.0)],
)  # fmt: skip
def test_stand_in_keep_alive(value: object, seconds: float | None) -> None:
    assert parse_keep_alive(value) == seconds
