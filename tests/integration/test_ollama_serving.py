"""The Ollama path end to end: model management, the whole graph, and every fault.

By default the server is the Ollama-protocol stand-in (`tests/ollama_standin.py`),
one per module, answering chat with llama.cpp on the uploaded GGUF blobs. With
`OLLAMA_HOST` set and `-m ollama` given, the same tests run against that real Ollama
(the fault-injection tests are skipped there: a real server cannot be told to fail).

    OLLAMA_HOST=http://127.0.0.1:11434 .venv/bin/pytest -m ollama \
        tests/integration/test_ollama_serving.py
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver

import runtime.paths
from graph.api import Dispatcher
from graph.context import Context
from graph.models_cli import add_models_command
from runtime import (
    BackendError,
    EmbeddedChatModel,
    ModelUnavailableError,
    clear_caches,
    get_chat_model,
    load_modelfile,
    model_tag,
)
from runtime.ollama_backend import DispatchChatOllama, RetryPolicy
from runtime.ollama_models import (
    build_model,
    build_models,
    model_status,
    remove_models,
    warm_models,
)
from runtime.paths import MODELFILES_DIR, MODELS_DIR
from specialists import SPECIALISTS
from specialists.router import Plan
from tests.ollama_standin import OllamaStandIn

pytestmark = [pytest.mark.integration, pytest.mark.ollama]


def _real_ollama(config: pytest.Config) -> str | None:
    """The real server to test, when `-m` selects `ollama` and OLLAMA_HOST is set."""
    expression = config.getoption("markexpr", "") or ""
    host = os.environ.get("OLLAMA_HOST")
    return host if host and "ollama" in expression and "not ollama" not in expression else None


class Server:
    """The server under test: the stand-in (with fault hooks) or a real Ollama."""

    def __init__(self, url: str, standin: OllamaStandIn | None) -> None:
        self.url = url
        self.standin = standin

    def faults(self) -> OllamaStandIn:
        if self.standin is None:
            pytest.skip("fault injection needs the stand-in (a real Ollama cannot be told to fail)")
        return self.standin


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, base_model: None
) -> Iterator[Server]:
    real = _real_ollama(request.config)
    if real:
        yield Server(real, None)
        return
    standin = OllamaStandIn(
        tmp_path_factory.mktemp("ollama-blobs"),
        pullable={"smollm2:135m": MODELS_DIR / runtime.paths.BASE_MODEL_FILENAME},
    ).start()
    try:
        yield Server(standin.url, standin)
    finally:
        standin.stop()


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, server: Server) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("SLM_OLLAMA") or name in ("SLM_BACKEND", "OLLAMA_HOST"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLM_OLLAMA_BACKOFF", "0.05")
    clear_caches()
    yield
    if server.standin is not None:
        server.standin.clear_faults()
        server.standin.come_up()
    clear_caches()


@pytest.fixture(scope="module")
def built(server: Server) -> dict[str, str]:
    """Every specialist built on the server from the real Modelfiles: tag by specialist."""
    results = build_models(host=server.url)
    return {result.specialist: result.tag for result in results}


def small_model(server: Server, tag: str, **overrides: Any) -> DispatchChatOllama:
    """A chat model for `tag` that generates few tokens and retries quickly."""
    settings: dict[str, Any] = {
        "model": tag,
        "base_url": server.url,
        "specialist": tag.split("/")[1].split(":")[0],
        "num_predict": 8,
        "temperature": 0,
        "retry": RetryPolicy(retries=2, backoff_s=0.05),
        "client_kwargs": {"timeout": httpx.Timeout(60.0, connect=2.0)},
    }
    settings.update(overrides)
    return DispatchChatOllama(**settings)


def chat_requests(server: Server) -> list[dict[str, Any]]:
    assert server.standin is not None
    return [body for method, path, body in server.standin.requests if path == "/api/chat"]


HELLO = [HumanMessage("Say hello.")]


# ----------------------------------------------------------------------------- management


def copy_modelfiles(tmp_path: Path) -> Path:
    """Copy the Modelfiles to ``tmp_path/Modelfiles``, with the adapters they name beside."""
    directory = tmp_path / "Modelfiles"
    shutil.copytree(MODELFILES_DIR, directory)
    (tmp_path / "adapters").symlink_to(MODELFILES_DIR.parent / "adapters")
    return directory


def test_every_specialist_is_built_from_its_modelfile(
    server: Server, built: dict[str, str]
) -> None:
    assert set(built) == set(SPECIALISTS)
    for specialist, tag in built.items():
        assert tag == model_tag(specialist, load_modelfile(specialist))
        assert tag.startswith(f"slm-dispatch/{specialist}:")
    statuses = {s.specialist: s for s in model_status(host=server.url)}
    for specialist in SPECIALISTS:
        status = statuses[specialist]
        assert status.state == "current", status.problem
        assert status.digest and status.size and status.size > 50_000_000
    if server.standin is not None:
        created = [b for _, path, b in server.standin.requests if path == "/api/create"]
        sql = next(b for b in created if b["model"] == built["sql"])
        assert list(sql["files"]) == [runtime.paths.BASE_MODEL_FILENAME]
        assert sql["system"] == load_modelfile("sql").system
        assert sql["parameters"]["stop"] == ["<|im_end|>", ";", "Question:"]
        assert sql["parameters"]["num_predict"] == 160
        assert list(sql["adapters"]) == ["sql.gguf"]
        summarize = next(b for b in created if b["model"] == built["summarize"])
        assert list(summarize["adapters"]) == ["summarize.gguf"]
        # One upload for the shared base GGUF and one per adapter; later builds found the base.
        uploads = [p for m, p, _ in server.standin.requests if m == "POST" and "/blobs/" in p]
        adapters = [a for a in SPECIALISTS if load_modelfile(a).adapters]
        assert len(uploads) == 1 + len(adapters) and len(adapters) == 4


def test_rebuilding_skips_blobs_the_server_has(server: Server, built: dict[str, str]) -> None:
    result = build_model("summarize", host=server.url)
    assert result.uploaded == ()
    assert len(result.skipped) == 2  # the base GGUF and the summariser's adapter
    assert result.tag == built["summarize"]


def test_status_reports_a_changed_modelfile_as_stale(
    server: Server, built: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = copy_modelfiles(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / runtime.paths.BASE_MODEL_FILENAME).symlink_to(
        MODELS_DIR / runtime.paths.BASE_MODEL_FILENAME
    )
    edited = directory / "sql.Modelfile"
    edited.write_text(
        edited.read_text().replace("PARAMETER num_predict 160", "PARAMETER num_predict 150")
    )
    monkeypatch.setattr(runtime.paths, "MODELFILES_DIR", directory)
    clear_caches()

    new_tag = model_tag("sql", load_modelfile("sql"))
    assert new_tag != built["sql"]
    (status,) = model_status(["sql"], host=server.url)
    assert status.state == "stale"
    assert status.tag == new_tag and not status.present
    assert status.stale_tags == [built["sql"]]
    # With backend=ollama the stale model is never used: the new tag is asked for.
    with pytest.raises(ModelUnavailableError, match=f"{new_tag} is not on .* models build sql"):
        get_chat_model("sql", backend="ollama", ollama_host=server.url)

    build_model("sql", host=server.url)
    (status,) = model_status(["sql"], host=server.url)
    assert status.state == "current"
    assert status.stale_tags == [built["sql"]]
    removed = remove_models(["sql"], host=server.url, stale=True)
    assert removed == [(built["sql"], server.url, True)]
    # Put the original build back for the other tests.
    monkeypatch.setattr(runtime.paths, "MODELFILES_DIR", MODELFILES_DIR)
    clear_caches()
    build_model("sql", host=server.url)
    remove_models(["sql"], host=server.url, stale=True)


def test_a_changed_base_gguf_is_a_mismatch(
    server: Server, built: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = copy_modelfiles(tmp_path)
    (tmp_path / "models").mkdir()
    changed = tmp_path / "models" / runtime.paths.BASE_MODEL_FILENAME
    shutil.copyfile(MODELS_DIR / runtime.paths.BASE_MODEL_FILENAME, changed)
    with changed.open("ab") as handle:
        handle.write(b"\0")
    monkeypatch.setattr(runtime.paths, "MODELFILES_DIR", directory)
    clear_caches()
    (status,) = model_status(["router"], host=server.url)
    assert status.present and status.state == "mismatch"
    assert status.problem and "GGUF changed" in status.problem


def test_warm_loads_with_keep_alive_and_ps_shows_it(server: Server, built: dict[str, str]) -> None:
    (result,) = warm_models(["summarize"], host=server.url, keep_alive="30m")
    assert result.tag == built["summarize"]
    (status,) = model_status(["summarize"], host=server.url)
    assert status.loaded and status.expires_at is not None


def test_models_command_line(
    server: Server, built: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="slm-dispatch")
    add_models_command(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> int:
        args = parser.parse_args(["models", *argv])
        code: int = args.func(args)
        return code

    assert run("build", "router", "--host", server.url) == 0
    out, err = capsys.readouterr()
    assert built["router"] in out and "already there" in out
    assert "success" in err  # the streamed create status, on stderr
    assert run("status", "--json", "--host", server.url) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["specialist"]: row["state"] for row in rows} == dict.fromkeys(
        SPECIALISTS, "current"
    )
    assert run("warm", "router", "--keep-alive", "5m", "--host", server.url) == 0
    assert "loaded" in capsys.readouterr().out
    assert run("pull", "--host", server.url) == 0
    assert "nothing to pull" in capsys.readouterr().out
    assert run("status", "poet", "--host", server.url) == 2
    assert "unknown specialist 'poet'" in capsys.readouterr().err


def test_a_malformed_modelfile_names_file_line_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "Modelfiles"
    shutil.copytree(MODELFILES_DIR, directory)
    (directory / "sql.Modelfile").write_text("FROM ../models/x.gguf\nPARAMETER num_ctx lots\n")
    monkeypatch.setattr(runtime.paths, "MODELFILES_DIR", directory)
    clear_caches()
    parser = argparse.ArgumentParser(prog="slm-dispatch")
    add_models_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["models", "build", "sql", "--host", "127.0.0.1:9"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "sql.Modelfile:2: bad value 'lots' for parameter num_ctx" in err


# ----------------------------------------------------------------------------- serving


def test_whole_graph_on_ollama(server: Server, built: dict[str, str], demo_db: Path) -> None:
    context = Context(backend="ollama", ollama_host=server.url, database_url=str(demo_db))
    dispatcher = Dispatcher(InMemorySaver(), context)
    result = dispatcher.ask("How many customers are there? Then summarise the result.")
    assert result.finished and result.answer
    assert [task["specialist"] for task in result.results] == ["sql", "summarize"]
    for task in result.results:
        assert "not available" not in task["output"], task["output"]
        assert task["status"] in ("ok", "failed", "skipped")
    text = dispatcher.ask(
        "Summarise: Orders rose 12% in March. Returns fell. Two new regions opened."
    )
    assert text.finished and [task["status"] for task in text.results] == ["ok"]
    if server.standin is not None:
        models = {body["model"] for body in chat_requests(server)}
        assert {built["sql"], built["summarize"]} <= models


def test_router_model_structured_output_on_ollama(server: Server, built: dict[str, str]) -> None:
    model = get_chat_model("router", backend="ollama", ollama_host=server.url)
    assert isinstance(model, DispatchChatOllama)
    schema = Plan.model_json_schema()
    reply = model.invoke(
        [SystemMessage(load_modelfile("router").system or ""), HumanMessage("Count customers.")],
        format=schema,
    )
    json.loads(str(reply.content))  # well-formed: decoding was constrained
    if server.standin is not None:
        sent = chat_requests(server)[-1]
        assert sent["format"] == schema
        assert "tools" not in sent or not sent["tools"]
        assert sent["options"]["stop"] == ["<|im_end|>"]
        assert sent["options"]["num_ctx"] == 2048
        assert sent["keep_alive"] == "10m"


def test_streamed_and_plain_answers(server: Server, built: dict[str, str]) -> None:
    model = small_model(server, built["summarize"])
    streamed = "".join(str(chunk.content) for chunk in model.stream(HELLO))
    assert streamed
    assert model.invoke(HELLO).content == streamed
    if server.standin is not None:
        answer = httpx.post(
            f"{server.url}/api/chat",
            json={"model": built["summarize"], "messages": [{"role": "user", "content": "Hi"}],
                  "stream": False, "options": {"num_predict": 4}},
            timeout=60,
        ).json()  # fmt: skip
        assert answer["done"] is True and answer["message"]["role"] == "assistant"
        assert answer["eval_count"] <= 4


def test_format_is_never_combined_with_tools(server: Server, built: dict[str, str]) -> None:
    model = small_model(server, built["router"])
    before = len(chat_requests(server)) if server.standin is not None else 0
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(ValueError, match="cannot combine `format` with tool calling"):
        model.invoke(HELLO, format={"type": "object"}, tools=[tool])
    if server.standin is not None:
        assert len(chat_requests(server)) == before  # refused before sending


def test_per_specialist_hosts(
    server: Server, built: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = "http://127.0.0.1:9"
    model = get_chat_model(
        "sql", backend="ollama", ollama_host=nowhere, ollama_hosts={"sql": server.url}
    )
    assert isinstance(model, DispatchChatOllama) and model.base_url == server.url
    monkeypatch.setenv("SLM_OLLAMA_HOST_SUMMARIZE", server.url)
    model = get_chat_model(
        "summarize", backend="ollama", ollama_host=nowhere, ollama_hosts=Context().ollama_hosts
    )
    assert isinstance(model, DispatchChatOllama) and model.base_url == server.url
    with pytest.raises(ModelUnavailableError, match="does not answer"):
        get_chat_model("router", backend="ollama", ollama_host=nowhere)
    assert Context(ollama_hosts={"sql": server.url}).ollama_hosts == {"sql": server.url}
    assert Context().ollama_hosts == {"summarize": server.url}


# ----------------------------------------------------------------------------- faults


def test_server_down_is_final_with_a_clear_message(server: Server, built: dict[str, str]) -> None:
    standin = server.faults()
    model = small_model(server, built["sql"])
    standin.go_down()
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as caught:
        model.invoke(HELLO)
    assert time.perf_counter() - started < 2  # no retries
    message = str(caught.value)
    assert f"Ollama at {server.url} does not answer (connection refused)" in message
    assert "ollama serve" in message and "SLM_OLLAMA_HOST_SQL" in message
    standin.come_up()
    assert model.invoke(HELLO).content


def test_missing_model_says_which_build_to_run(server: Server, built: dict[str, str]) -> None:
    standin = server.faults()
    model = small_model(server, built["salesforce"])
    standin.forget(built["salesforce"])
    try:
        with pytest.raises(ModelUnavailableError) as caught:
            model.invoke(HELLO)
        assert str(caught.value) == (
            f"model {built['salesforce']} is not on {server.url} — "
            "run `slm-dispatch models build salesforce`"
        )
    finally:
        build_model("salesforce", host=server.url)


@pytest.mark.parametrize("fault", ["http_500", "reset"])
def test_transient_faults_are_retried(server: Server, built: dict[str, str], fault: str) -> None:
    standin = server.faults()
    model = small_model(server, built["summarize"])
    before = len(chat_requests(server))
    standin.inject(fault, times=2)
    assert model.invoke(HELLO).content
    assert len(chat_requests(server)) - before == 3


@pytest.mark.parametrize("fault", ["http_500", "reset"])
def test_retries_are_bounded(server: Server, built: dict[str, str], fault: str) -> None:
    standin = server.faults()
    model = small_model(server, built["summarize"], retry=RetryPolicy(retries=1, backoff_s=0.01))
    before = len(chat_requests(server))
    standin.inject(fault, times=5)
    with pytest.raises(BackendError, match=r"failed 2 time\(s\) serving slm-dispatch/summarize"):
        model.invoke(HELLO)
    assert len(chat_requests(server)) - before == 2


def test_a_reset_after_streamed_output_is_not_retried(
    server: Server, built: dict[str, str]
) -> None:
    standin = server.faults()
    model = small_model(server, built["summarize"], num_predict=24)
    standin.inject("reset")
    with pytest.raises(BackendError):
        for _ in model.stream(HELLO):
            pass


def test_a_slow_load_is_retried_until_loaded(server: Server, built: dict[str, str]) -> None:
    standin = server.faults()
    standin.unload_all()
    standin.slow_load_s = 2.5
    model = small_model(
        server,
        built["router"],
        num_predict=2,
        retry=RetryPolicy(retries=5, backoff_s=0.1),
        client_kwargs={"timeout": httpx.Timeout(1.0, connect=2.0)},
    )
    before = len(chat_requests(server))
    assert model.invoke(HELLO).content
    assert len(chat_requests(server)) - before >= 2


def test_auto_falls_back_only_when_configured_and_says_so(
    server: Server, built: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    standin = server.faults()
    strict = get_chat_model("sql", backend="auto", ollama_host=server.url)
    lenient = get_chat_model("sql", backend="auto", ollama_host=server.url, fallback=True)
    assert isinstance(strict, DispatchChatOllama) and strict.fallback is None
    assert isinstance(lenient, DispatchChatOllama)
    assert isinstance(lenient.fallback, EmbeddedChatModel)
    standin.go_down()
    with pytest.raises(ModelUnavailableError, match="does not answer"):
        strict.invoke(HELLO, stop=["\n"])
    with caplog.at_level(logging.WARNING, logger="runtime.ollama_backend"):
        reply = lenient.invoke(HELLO, stop=["\n"])
    assert reply.response_metadata["fallback"] == "slm-embedded"
    assert "falling back to slm-embedded" in caplog.text


def test_auto_without_the_model_uses_embedded_with_a_warning(
    server: Server, built: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    standin = server.faults()
    standin.forget(built["router"])
    try:
        with caplog.at_level(logging.WARNING, logger="runtime.registry"):
            model = get_chat_model("router", backend="auto", ollama_host=server.url)
        assert isinstance(model, EmbeddedChatModel)
        assert f"model {built['router']} is not on {server.url}" in caplog.text
    finally:
        build_model("router", host=server.url)


def test_http_500_while_checking_the_model(server: Server, built: dict[str, str]) -> None:
    standin = server.faults()
    standin.inject("http_500", path="/api/show")
    backoff_s = Context().ollama_backoff_s
    assert isinstance(
        get_chat_model("sql", backend="ollama", ollama_host=server.url, backoff_s=backoff_s),
        DispatchChatOllama,
    )
    clear_caches()
    standin.inject("http_500", path="/api/show", times=5)
    with pytest.raises(ModelUnavailableError, match="cannot tell whether it has"):
        get_chat_model("sql", backend="ollama", ollama_host=server.url, backoff_s=backoff_s)
