"""The command line hands its settings down in a ``Context``, never in the environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import tools.salesforce_sandbox
from graph.cli import _context, build_parser, main, salesforce_for
from graph.context import Context
from tools.salesforce import ALL_ENV_VARS


@pytest.fixture
def no_salesforce(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


class FakeSandbox:
    instance_url = "https://127.0.0.1:8443"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def env(self) -> dict[str, str]:
        return {
            "SF_INSTANCE_URL": self.instance_url,
            "SF_SESSION_ID": "00Dsandbox!session",
            "SF_CA_BUNDLE": str(self.directory / "ca.pem"),
        }


def test_the_context_carries_the_data_dir_and_checkpoint_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLM_DATABASE_URL", raising=False)
    monkeypatch.delenv("SLM_CHECKPOINT_URL", raising=False)
    args = build_parser().parse_args(["--data-dir", str(tmp_path), "ask", "hi"])
    context = _context(args)
    assert context.data_dir == tmp_path
    assert context.database_url == str(tmp_path / "demo.sqlite")
    assert context.checkpoint_url is None
    args = build_parser().parse_args(["ask", "hi", "--checkpoint-url", str(tmp_path / "c.db")])
    args.data_dir = tmp_path
    assert _context(args).checkpoint_url == str(tmp_path / "c.db")


def test_main_leaves_the_environment_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = dict(os.environ)
    assert main(["--data-dir", str(tmp_path), "history", "no-such-thread"]) == 2
    assert "no thread 'no-such-thread'" in capsys.readouterr().err
    assert dict(os.environ) == before


def test_the_sandbox_credentials_go_into_the_context_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_salesforce: None
) -> None:
    started: list[Path] = []

    @contextmanager
    def start_sandbox(directory: Path, **_: Any) -> Iterator[FakeSandbox]:
        started.append(directory)
        yield FakeSandbox(directory)

    monkeypatch.setattr(tools.salesforce_sandbox, "start_sandbox", start_sandbox)
    before = dict(os.environ)
    args = argparse.Namespace(salesforce_sandbox=True)
    context = Context(data_dir=tmp_path)
    assert context.salesforce_credentials is None
    with salesforce_for(args, context) as inside:
        credentials = inside.salesforce_credentials
        assert credentials is not None
        assert credentials.instance_url == FakeSandbox.instance_url
        assert credentials.ca_bundle == str(tmp_path / "salesforce-sandbox" / "ca.pem")
        assert dict(os.environ) == before
    assert started == [tmp_path / "salesforce-sandbox"]
    assert context.salesforce_credentials is None
    assert dict(os.environ) == before


def test_no_sandbox_without_the_flag_or_with_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_salesforce: None
) -> None:
    def start_sandbox(directory: Path, **_: Any) -> None:
        raise AssertionError("the sandbox should not start")

    monkeypatch.setattr(tools.salesforce_sandbox, "start_sandbox", start_sandbox)
    context = Context(data_dir=tmp_path)
    with salesforce_for(argparse.Namespace(salesforce_sandbox=False), context) as inside:
        assert inside is context
    monkeypatch.setenv("SF_INSTANCE_URL", "https://acme.my.salesforce.com")
    monkeypatch.setenv("SF_SESSION_ID", "00Dreal!session")
    real = Context(data_dir=tmp_path)
    with salesforce_for(argparse.Namespace(salesforce_sandbox=True), real) as inside:
        assert inside is real
