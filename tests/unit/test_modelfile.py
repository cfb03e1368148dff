"""Unit tests of the Modelfile parser (no model, no network)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runtime.modelfile import Modelfile, ModelfileError, parse_modelfile
from runtime.paths import modelfile_path
from specialists import SPECIALISTS

EXAMPLE = '''\
# The SQL specialist.
FROM ../models/SmolLM2-135M-Instruct.Q4_1.gguf
# ADAPTER ../adapters/sql.gguf   (optional)
PARAMETER temperature 0
PARAMETER num_ctx 2048
PARAMETER num_predict 256
PARAMETER stop "<|im_end|>"
PARAMETER stop ";"
SYSTEM """You write SQLite for the demo database.
Answer with one statement."""
'''


def write(tmp_path: Path, text: str, name: str = "sql.Modelfile") -> Path:
    directory = tmp_path / "Modelfiles"
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def parse_text(tmp_path: Path, text: str) -> Modelfile:
    return parse_modelfile(write(tmp_path, text))


def test_parses_the_documented_example(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    modelfile = parse_modelfile(path)

    assert modelfile.path == path
    assert modelfile.from_ == "../models/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert modelfile.adapters == []
    assert modelfile.parameters == {
        "temperature": 0.0,
        "num_ctx": 2048,
        "num_predict": 256,
        "stop": ["<|im_end|>", ";"],
    }
    assert isinstance(modelfile.parameters["temperature"], float)
    assert isinstance(modelfile.parameters["num_ctx"], int)
    assert modelfile.system == "You write SQLite for the demo database.\nAnswer with one statement."
    assert modelfile.template is None
    assert modelfile.messages == []
    assert modelfile.license is None


def test_instructions_are_case_insensitive_and_parameter_names_too(tmp_path: Path) -> None:
    modelfile = parse_text(
        tmp_path,
        "from ./base.gguf\nParameter TEMPERATURE 0.2\nsystem You are terse.\nAdapter a.gguf\n",
    )
    assert modelfile.from_ == "./base.gguf"
    assert modelfile.parameters == {"temperature": 0.2}
    assert modelfile.system == "You are terse."
    assert modelfile.adapters == ["a.gguf"]


def test_whitespace_tabs_blank_lines_and_indented_comments(tmp_path: Path) -> None:
    modelfile = parse_text(
        tmp_path,
        "\n\n   # indented comment\nFROM\tbase.gguf\n\nPARAMETER\tnum_ctx\t4096   \n",
    )
    assert modelfile.from_ == "base.gguf"
    assert modelfile.parameters == {"num_ctx": 4096}


def test_triple_quoted_values_drop_the_framing_line_breaks(tmp_path: Path) -> None:
    one_line = parse_text(tmp_path, 'FROM b.gguf\nSYSTEM """Line one.\nLine two."""\n')
    framed = parse_text(tmp_path, 'FROM b.gguf\nSYSTEM """\nLine one.\nLine two.\n"""\n')
    single = parse_text(tmp_path, 'FROM b.gguf\nSYSTEM """All on one line"""\n')
    assert one_line.system == framed.system == "Line one.\nLine two."
    assert single.system == "All on one line"


def test_triple_quoted_value_keeps_inner_blank_lines_indentation_and_quotes(
    tmp_path: Path,
) -> None:
    modelfile = parse_text(
        tmp_path,
        'FROM b.gguf\nSYSTEM """Rules:\n\n  - say "yes"\n  - # not a comment\nEnd"""\n',
    )
    assert modelfile.system == 'Rules:\n\n  - say "yes"\n  - # not a comment\nEnd'


def test_quoted_single_line_values_and_escapes(tmp_path: Path) -> None:
    modelfile = parse_text(
        tmp_path,
        'FROM "./my models/base.gguf"\n'
        'PARAMETER stop "<|im_end|>"\n'
        'PARAMETER stop "say \\"done\\""\n'
        'PARAMETER stop "back\\\\slash"\n'
        'SYSTEM "first\\nsecond"\n',
    )
    assert modelfile.from_ == "./my models/base.gguf"
    assert modelfile.parameters["stop"] == ["<|im_end|>", 'say "done"', "back\\slash"]
    assert modelfile.system == "first\nsecond"


def test_bare_stop_value_and_single_stop_is_still_a_list(tmp_path: Path) -> None:
    modelfile = parse_text(tmp_path, "FROM b.gguf\nPARAMETER stop <|im_end|>\n")
    assert modelfile.parameters["stop"] == ["<|im_end|>"]


def test_number_and_boolean_parameters(tmp_path: Path) -> None:
    modelfile = parse_text(
        tmp_path,
        "FROM b.gguf\n"
        "PARAMETER top_k 40\n"
        "PARAMETER top_p 0.9\n"
        "PARAMETER repeat_penalty 1\n"
        "PARAMETER seed -1\n"
        "PARAMETER temperature 1e-3\n"
        "PARAMETER use_mmap false\n"
        "PARAMETER penalize_newline TRUE\n",
    )
    assert modelfile.parameters == {
        "top_k": 40,
        "top_p": 0.9,
        "repeat_penalty": 1.0,
        "seed": -1,
        "temperature": 0.001,
        "use_mmap": False,
        "penalize_newline": True,
    }
    assert isinstance(modelfile.parameters["repeat_penalty"], float)


def test_a_repeated_parameter_takes_the_last_value(tmp_path: Path) -> None:
    modelfile = parse_text(tmp_path, "FROM b.gguf\nPARAMETER num_ctx 512\nPARAMETER num_ctx 1024\n")
    assert modelfile.parameters["num_ctx"] == 1024


def test_template_messages_license_and_adapters(tmp_path: Path) -> None:
    modelfile = parse_text(
        tmp_path,
        "FROM b.gguf\n"
        "ADAPTER ../adapters/one.gguf\n"
        "ADAPTER /abs/two.gguf\n"
        'TEMPLATE """{{ .System }}\n{{ .Prompt }}"""\n'
        "MESSAGE user How many orders?\n"
        'MESSAGE Assistant """{"sql": "SELECT count(*) FROM orders"}"""\n'
        "LICENSE Apache-2.0\n"
        'LICENSE """second\nlicense"""\n',
    )
    assert modelfile.adapters == ["../adapters/one.gguf", "/abs/two.gguf"]
    assert modelfile.template == "{{ .System }}\n{{ .Prompt }}"
    assert modelfile.messages == [
        ("user", "How many orders?"),
        ("assistant", '{"sql": "SELECT count(*) FROM orders"}'),
    ]
    assert modelfile.license == "Apache-2.0\n\nsecond\nlicense"


def test_paths_resolve_relative_to_the_modelfile_directory(tmp_path: Path) -> None:
    modelfile = parse_text(
        tmp_path,
        "FROM ../models/base.gguf\nADAPTER ../adapters/sql.gguf\nADAPTER /opt/x.gguf\n",
    )
    assert modelfile.from_path() == (tmp_path / "models" / "base.gguf").resolve()
    assert modelfile.adapter_paths() == [
        (tmp_path / "adapters" / "sql.gguf").resolve(),
        Path("/opt/x.gguf").resolve(),
    ]


def test_from_path_recognises_paths_and_tags(tmp_path: Path) -> None:
    assert parse_text(tmp_path, "FROM smollm2:135m\n").from_path() is None
    assert parse_text(tmp_path, "FROM hf.co/org/repo:Q4_K_M\n").from_path() is None
    assert parse_text(tmp_path, "FROM /models/x.gguf\n").from_path() == Path("/models/x.gguf")
    bare = parse_text(tmp_path, "FROM base.GGUF\n").from_path()
    assert bare == (tmp_path / "Modelfiles" / "base.GGUF").resolve()
    (tmp_path / "Modelfiles" / "weights").mkdir()
    existing = parse_text(tmp_path, "FROM weights\n").from_path()
    assert existing == (tmp_path / "Modelfiles" / "weights").resolve()


def test_content_hash_ignores_formatting_but_not_content(tmp_path: Path) -> None:
    original = parse_text(tmp_path, EXAMPLE).content_hash()
    reformatted = parse_text(
        tmp_path,
        "from ../models/SmolLM2-135M-Instruct.Q4_1.gguf\n"
        'SYSTEM """\nYou write SQLite for the demo database.\nAnswer with one statement.\n"""\n'
        "parameter num_predict 256\n"
        "# a new comment\n"
        "PARAMETER num_ctx 2048\n"
        "PARAMETER temperature 0.0\n"
        "PARAMETER stop <|im_end|>\n"
        'PARAMETER stop ";"\n',
    ).content_hash()
    changed = parse_text(tmp_path, EXAMPLE.replace("num_ctx 2048", "num_ctx 4096")).content_hash()
    swapped = EXAMPLE.replace(
        'PARAMETER stop "<|im_end|>"\nPARAMETER stop ";"',
        'PARAMETER stop ";"\nPARAMETER stop "<|im_end|>"',
    )
    assert swapped != EXAMPLE
    reordered_stops = parse_text(tmp_path, swapped).content_hash()

    assert re.fullmatch(r"[0-9a-f]{12}", original)
    assert reformatted == original
    assert changed != original
    assert reordered_stops != original


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        pytest.param(
            "FROM b.gguf\nFROBNICATE 1\n",
            2,
            "unknown instruction 'FROBNICATE'",
            id="unknown-instruction",
        ),
        pytest.param(
            "# only a comment\nPARAMETER num_ctx 1\n",
            1,
            "missing FROM instruction",
            id="missing-from",
        ),
        pytest.param("", 1, "missing FROM instruction", id="empty-file"),
        pytest.param(
            'FROM b.gguf\n\nSYSTEM """never\nclosed\n',
            3,
            'unterminated """ value',
            id="unterminated-triple",
        ),
        pytest.param(
            'FROM b.gguf\nSYSTEM "open\n', 2, "unterminated quoted value", id="unterminated-quote"
        ),
        pytest.param(
            "FROM b.gguf\nPARAMETER num_ctx 2.5\n",
            2,
            "bad value '2.5' for parameter num_ctx: expected an integer",
            id="int-param",
        ),
        pytest.param(
            "FROM b.gguf\nPARAMETER temperature hot\n",
            2,
            "bad value 'hot' for parameter temperature: expected a number",
            id="float-param",
        ),
        pytest.param(
            "FROM b.gguf\nPARAMETER temperature nan\n",
            2,
            "bad value 'nan' for parameter temperature",
            id="nan-param",
        ),
        pytest.param(
            "FROM b.gguf\nPARAMETER use_mmap maybe\n",
            2,
            "bad value 'maybe' for parameter use_mmap: expected true or false",
            id="bool-param",
        ),
        pytest.param(
            "FROM b.gguf\nPARAMETER warmth 3\n", 2, "unknown parameter 'warmth'", id="unknown-param"
        ),
        pytest.param(
            "FROM b.gguf\nPARAMETER num_ctx\n", 2, "PARAMETER needs a value", id="param-no-value"
        ),
        pytest.param(
            "FROM b.gguf\nPARAMETER\n", 2, "PARAMETER needs a name and a value", id="param-no-name"
        ),
        pytest.param("FROM\n", 1, "FROM needs a value", id="from-no-value"),
        pytest.param("FROM a.gguf\nFROM b.gguf\n", 2, "more than one FROM", id="two-froms"),
        pytest.param(
            "FROM b.gguf\nMESSAGE robot hi\n", 2, "bad MESSAGE role 'robot'", id="message-role"
        ),
        pytest.param(
            'FROM b.gguf\nSYSTEM """a\nb""" trailing\n',
            3,
            "unexpected text after closing quotes: 'trailing'",
            id="after-triple",
        ),
        pytest.param(
            'FROM b.gguf\nPARAMETER stop "x" y\n',
            2,
            "unexpected text after closing quotes: 'y'",
            id="after-quote",
        ),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ModelfileError) as caught:
        parse_modelfile(path)
    error = caught.value
    assert str(error).startswith(f"{path}:{line}: {reason}")
    assert error.path == path
    assert error.line == line


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        parse_modelfile(tmp_path / "nope.Modelfile")


@pytest.mark.parametrize("specialist", SPECIALISTS)
def test_the_project_modelfiles_parse(specialist: str) -> None:
    path = modelfile_path(specialist)
    if not path.exists():
        pytest.skip(f"{path} not written yet")
    modelfile = parse_modelfile(path)
    assert modelfile.from_
    assert modelfile.system, "the node sends SYSTEM as the system message"


def test_modelfile_path_rejects_unknown_specialists() -> None:
    with pytest.raises(ValueError, match="router, salesforce, sql, summarize"):
        modelfile_path("poet")


@pytest.mark.parametrize(
    ("specialist", "penalty"),
    [("sql", 1.0), ("salesforce", 1.0), ("router", 1.0), ("summarize", 1.1)],
)
def test_each_specialist_sets_its_repeat_penalty_in_its_modelfile(
    specialist: str, penalty: float
) -> None:
    from runtime.registry import load_modelfile

    # Structured output repeats tokens on purpose (the zeros of an Id): no penalty there.
    assert load_modelfile(specialist).parameters["repeat_penalty"] == penalty
