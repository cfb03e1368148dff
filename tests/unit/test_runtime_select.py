"""Unit tests of backend selection: which chat model `get_chat_model` builds (no model loaded).

The only sockets used are on the loopback interface: a port nobody listens on, and a
tiny Ollama-protocol stand-in that answers `/api/show`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

import runtime.paths
from graph.context import Context
from runtime import (
    EmbeddedChatModel,
    ModelUnavailableError,
    clear_caches,
    get_chat_model,
    load_modelfile,
    model_tag,
    ollama_has_model,
    system_prompt,
)
from runtime.embedded import grammar_stops
from runtime.ollama_backend import DispatchChatOllama, normalize_host
from runtime.registry import embedded_chat_model, resolve_backend

SQL_MODELFILE = '''\
FROM ../models/base.gguf
ADAPTER ../adapters/sql.gguf
PARAMETER temperature 0
PARAMETER num_ctx 1024
PARAMETER num_predict 128
PARAMETER stop "<|im_end|>"
PARAMETER stop ";"
SYSTEM """You write SQLite."""
'''


@pytest.fixture(autouse=True)
def modelfiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "Modelfiles"
    directory.mkdir()
    (directory / "sql.Modelfile").write_text(SQL_MODELFILE, encoding="utf-8")
    (directory / "router.Modelfile").write_text(
        "FROM ../models/base.gguf\nSYSTEM Route.\n", encoding="utf-8"
    )
    (directory / "summarize.Modelfile").write_text("FROM smollm2:135m\n", encoding="utf-8")
    monkeypatch.setattr(runtime.paths, "MODELFILES_DIR", directory)
    monkeypatch.delenv("SLM_BACKEND", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    clear_caches()
    yield directory
    clear_caches()


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def closed_host(closed_port: int) -> str:
    return f"127.0.0.1:{closed_port}"


class FakeOllama(BaseHTTPRequestHandler):
    """Answers POST /api/show: 200 for the tags in `server.models`, else 404."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append((self.path, body))  # type: ignore[attr-defined]
        known = body.get("model") in self.server.models  # type: ignore[attr-defined]
        if self.path == "/api/show" and known:
            status, payload = 200, {"modelfile": "", "parameters": "", "template": ""}
            if self.server.full_answers:  # type: ignore[attr-defined]
                payload["model_info"] = {}
                payload["details"] = {"format": "gguf"}
        else:
            status, payload = 404, {"error": f"model '{body.get('model')}' not found"}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake_ollama() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOllama)
    server.models = set()  # type: ignore[attr-defined]
    server.requests = []  # type: ignore[attr-defined]
    server.full_answers = True  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def host_of(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


# ----------------------------------------------------------------------------- selection


def test_auto_without_a_server_falls_back_to_embedded(closed_host: str) -> None:
    model = get_chat_model("sql", backend="auto", ollama_host=closed_host)
    assert isinstance(model, EmbeddedChatModel)


def test_auto_is_the_default_and_reads_ollama_host(
    closed_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", closed_host)
    assert isinstance(get_chat_model("sql", ollama_host=Context().ollama_host), EmbeddedChatModel)


def test_probe_of_a_closed_port_is_fast(closed_host: str) -> None:
    started = time.perf_counter()
    assert ollama_has_model(closed_host, "slm-dispatch/sql:000000000000") is False
    assert time.perf_counter() - started < 1.0


def test_auto_uses_ollama_when_it_has_the_tag(fake_ollama: ThreadingHTTPServer) -> None:
    tag = model_tag("sql", load_modelfile("sql"))
    fake_ollama.models.add(tag)  # type: ignore[attr-defined]
    model = get_chat_model("sql", ollama_host=host_of(fake_ollama))
    assert isinstance(model, DispatchChatOllama)
    assert model.model == tag
    assert model.base_url == host_of(fake_ollama)
    assert ("/api/show", {"model": tag}) in fake_ollama.requests  # type: ignore[attr-defined]


def test_a_partial_show_answer_still_counts(fake_ollama: ThreadingHTTPServer) -> None:
    fake_ollama.full_answers = False  # type: ignore[attr-defined]
    fake_ollama.models.add("slm-dispatch/sql:abc")  # type: ignore[attr-defined]
    assert ollama_has_model(host_of(fake_ollama), "slm-dispatch/sql:abc") is True
    assert ollama_has_model(host_of(fake_ollama), "slm-dispatch/sql:def") is False


def test_auto_uses_embedded_when_ollama_lacks_the_tag(fake_ollama: ThreadingHTTPServer) -> None:
    fake_ollama.models.add("slm-dispatch/sql:000000000000")  # type: ignore[attr-defined]
    model = get_chat_model("sql", ollama_host=host_of(fake_ollama))
    assert isinstance(model, EmbeddedChatModel)


def test_ollama_backend_with_the_model(fake_ollama: ThreadingHTTPServer) -> None:
    tag = model_tag("sql", load_modelfile("sql"))
    fake_ollama.models.add(tag)  # type: ignore[attr-defined]
    model = get_chat_model("sql", backend="ollama", ollama_host=host_of(fake_ollama))
    assert isinstance(model, DispatchChatOllama)
    assert model.temperature == 0
    assert model.num_ctx == 1024
    assert model.num_predict == 128
    assert model.default_stop == ["<|im_end|>", ";"]
    assert model.keep_alive == "10m"


def test_ollama_backend_with_the_model_missing_names_tag_host_and_fix(closed_host: str) -> None:
    tag = model_tag("sql", load_modelfile("sql"))
    with pytest.raises(ModelUnavailableError) as caught:
        get_chat_model("sql", backend="ollama", ollama_host=closed_host)
    message = str(caught.value)
    assert tag in message
    assert f"http://{closed_host}" in message
    assert "slm-dispatch models build sql" in message


def test_ollama_backend_answering_404(fake_ollama: ThreadingHTTPServer) -> None:
    with pytest.raises(ModelUnavailableError, match="slm-dispatch models build router"):
        get_chat_model("router", backend="ollama", ollama_host=host_of(fake_ollama))


def test_backend_from_the_environment(closed_host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLM_BACKEND", "ollama")
    with pytest.raises(ModelUnavailableError):
        get_chat_model("sql", backend=Context().backend, ollama_host=closed_host)
    assert isinstance(
        get_chat_model("sql", backend="Embedded", ollama_host=closed_host), EmbeddedChatModel
    )


def test_explicit_backend_beats_the_environment(
    closed_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLM_BACKEND", "ollama")
    assert isinstance(
        get_chat_model("sql", backend="embedded", ollama_host=closed_host), EmbeddedChatModel
    )


@pytest.mark.parametrize("backend", ["llamafile", "", "OLLAMA2"])
def test_bad_backend_is_a_value_error(backend: str, closed_host: str) -> None:
    with pytest.raises(ValueError, match="embedded, ollama, auto"):
        get_chat_model("sql", backend=backend, ollama_host=closed_host)


def test_bad_backend_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLM_BACKEND", "cloud")
    with pytest.raises(ValueError, match="unknown backend 'cloud'"):
        Context()
    with pytest.raises(ValueError, match="unknown backend 'cloud'"):
        resolve_backend("cloud")


def test_unknown_specialist_is_a_value_error(closed_host: str) -> None:
    with pytest.raises(ValueError, match="expected one of router, sql, summarize"):
        get_chat_model("poet", ollama_host=closed_host)


def test_missing_modelfile(closed_host: str) -> None:
    with pytest.raises(ValueError, match="there is no .*salesforce.Modelfile"):
        get_chat_model("salesforce", backend="embedded", ollama_host=closed_host)


def test_models_are_cached_per_specialist_backend_and_host(closed_host: str) -> None:
    first = get_chat_model("sql", backend="embedded", ollama_host=closed_host)
    assert get_chat_model("sql", backend="embedded", ollama_host=f"http://{closed_host}") is first
    assert get_chat_model("router", backend="embedded", ollama_host=closed_host) is not first
    clear_caches()
    assert get_chat_model("sql", backend="embedded", ollama_host=closed_host) is not first


# ----------------------------------------------------------------------------- embedded model


def test_embedded_model_follows_the_modelfile(modelfiles: Path, closed_host: str) -> None:
    model = get_chat_model("sql", backend="embedded", ollama_host=closed_host)
    assert isinstance(model, EmbeddedChatModel)
    assert model.model_path == str((modelfiles.parent / "models" / "base.gguf").resolve())
    assert model.adapter_path == str((modelfiles.parent / "adapters" / "sql.gguf").resolve())
    assert model.n_ctx == 1024
    assert model.max_tokens == 128
    assert model.temperature == 0.0
    assert model.stop == ["<|im_end|>", ";"]
    assert model.specialist == "sql"
    assert model._llm_type == "slm-embedded"


def test_embedded_defaults_without_parameters(closed_host: str) -> None:
    model = get_chat_model("router", backend="embedded", ollama_host=closed_host)
    assert isinstance(model, EmbeddedChatModel)
    assert (model.n_ctx, model.max_tokens, model.temperature, model.stop) == (2048, 256, 0.0, [])
    assert model.adapter_path is None


def test_embedded_backend_needs_a_file_not_a_tag(closed_host: str) -> None:
    with pytest.raises(ModelUnavailableError, match="Ollama model tag"):
        get_chat_model("summarize", backend="embedded", ollama_host=closed_host)


def test_embedded_missing_base_model_is_reported_on_first_use(closed_host: str) -> None:
    model = get_chat_model("router", backend="embedded", ollama_host=closed_host)
    with pytest.raises(ModelUnavailableError, match=r"base model file .*base\.gguf is missing"):
        model.invoke([HumanMessage("hi")])


def test_embedded_model_rejects_an_unknown_format_type(closed_host: str) -> None:
    model = get_chat_model("router", backend="embedded", ollama_host=closed_host)
    with pytest.raises(TypeError, match="format must be"):
        model.invoke([HumanMessage("hi")], format=["not", "a", "schema"])


def test_embedded_chat_model_for_two_adapters(modelfiles: Path) -> None:
    (modelfiles / "sql.Modelfile").write_text(
        "FROM ./b.gguf\nADAPTER a.gguf\nADAPTER c.gguf\n", encoding="utf-8"
    )
    with pytest.raises(ModelUnavailableError, match="one ADAPTER"):
        embedded_chat_model("sql", load_modelfile("sql"))


def test_system_prompt_comes_from_the_modelfile() -> None:
    assert system_prompt("sql") == "You write SQLite."
    assert system_prompt("summarize") == ""


def test_model_tag_is_namespaced_and_follows_the_content() -> None:
    modelfile = load_modelfile("sql")
    assert model_tag("sql", modelfile) == f"slm-dispatch/sql:{modelfile.content_hash()}"


# ----------------------------------------------------------------------------- Ollama client


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("localhost", "http://localhost:11434"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("http://gpu-host:11434/", "http://gpu-host:11434"),
        ("https://ollama.example.com", "https://ollama.example.com"),
        ("http://user:pw@host:1", "http://user:pw@host:1"),
        ("[::1]:11434", "http://[::1]:11434"),
    ],
)
def test_normalize_host(given: str, expected: str) -> None:
    assert normalize_host(given) == expected


def test_ollama_model_merges_stops_and_passes_format() -> None:
    model = DispatchChatOllama(model="m", default_stop=["<|im_end|>", ";"])
    messages = [HumanMessage("hi")]

    plain = model._chat_params(messages)
    assert plain["options"]["stop"] == ["<|im_end|>", ";"]
    assert plain["format"] is None

    extra = model._chat_params(messages, stop=["END"])
    assert extra["options"]["stop"] == ["<|im_end|>", ";", "END"]

    schema = {"type": "object", "properties": {"sql": {"type": "string"}}}
    structured = model._chat_params(messages, format=schema)
    assert structured["format"] == schema
    assert structured["options"]["stop"] == ["<|im_end|>"]

    as_json = model._chat_params(messages, format="json")
    assert as_json["format"] == "json"


def test_grammar_stops_keep_only_special_tokens() -> None:
    assert grammar_stops(["<|im_end|>", ";", "\n\n", "<|endoftext|>"]) == [
        "<|im_end|>",
        "<|endoftext|>",
    ]
