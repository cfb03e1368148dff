"""The command line builds its parser without loading the training or evaluation code.

``data``, ``train`` and ``eval`` are listed like every other command, and the module that
defines each is imported only when that command is parsed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from graph.cli import LAZY_COMMANDS, build_parser
from runtime.paths import PROJECT_ROOT

HEAVY = ("evals", "finetune", "torch", "transformers")

CHECK = f"""\
import json, sys
from graph.cli import build_parser
build_parser().parse_args(["ask", "How many customers are there?"])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
"""


def test_building_the_parser_loads_no_training_or_eval_code() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def _subcommands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


ARGV = {"data": ["--seed", "3"], "train": ["sql", "--steps", "5"], "eval": ["--limit", "4"]}


@pytest.mark.parametrize(
    ("name", "help_line", "module", "register"), LAZY_COMMANDS, ids=[c[0] for c in LAZY_COMMANDS]
)
def test_a_lazy_command_is_the_one_its_module_defines(
    name: str, help_line: str, module: str, register: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    reference = argparse.ArgumentParser(prog="slm-dispatch")
    references = reference.add_subparsers(dest="command")
    getattr(importlib.import_module(module), register)(references)
    assert [action.help for action in references._choices_actions] == [help_line]

    parser = build_parser()
    assert help_line in " ".join(parser.format_help().split())
    lazy = _subcommands(parser).choices[name]
    assert lazy.format_help() == references.choices[name].format_help()
    assert lazy.format_usage() == references.choices[name].format_usage()

    parsed = parser.parse_args(["-v", name, *ARGV[name]])
    assert parsed.verbose is True
    for key, value in vars(reference.parse_args([name, *ARGV[name]])).items():
        assert getattr(parsed, key) == value


def test_a_lazy_command_reports_its_own_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["train"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: slm-dispatch train ")
    assert "the following arguments are required: specialist" in err
