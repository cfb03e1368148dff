from __future__ import annotations

from pathlib import Path

import pytest

from graph.context import Context
from runtime.paths import PROJECT_ROOT
from tools.salesforce import ALL_ENV_VARS, SalesforceCredentials


@pytest.mark.parametrize(
    ("setting", "sobject", "action", "expected"),
    [
        ("", "Lead", "create", False),
        ("Lead:create", "Lead", "create", True),
        ("Lead:create", "Lead", "update", False),
        ("Lead:create", "Case", "create", False),
        ("Case:create, Lead:update", "Lead", "update", True),
        ("*:create", "Opportunity", "create", True),
        ("Case:*", "Case", "delete", True),
        ("Case", "Case", "delete", False),  # malformed entries never approve
        (":", "Case", "delete", False),
    ],
)
def test_preapproval_list(setting: str, sobject: str, action: str, expected: bool) -> None:
    context = Context(salesforce_preapproved=setting)
    assert context.is_preapproved(sobject, action) is expected


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLM_MAX_REPAIRS", "5")
    monkeypatch.setenv("SLM_SALESFORCE_PREAPPROVED", "Lead:create")
    monkeypatch.setenv("SLM_BACKEND", "embedded")
    context = Context()
    assert context.max_repairs == 5 and context.backend == "embedded"
    assert context.is_preapproved("Lead", "create")


def test_bad_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        Context(backend="gpu")


def test_the_data_dir_and_what_derives_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLM_DATABASE_URL", raising=False)
    monkeypatch.delenv("SLM_CHECKPOINT_URL", raising=False)
    monkeypatch.setenv("SLM_DATA_DIR", str(tmp_path / "env"))
    context = Context()
    assert context.data_dir == tmp_path / "env"
    assert context.database_url == str(tmp_path / "env" / "demo.sqlite")
    assert context.checkpoint_url is None
    given = Context(data_dir=tmp_path / "given")
    assert given.database_url == str(tmp_path / "given" / "demo.sqlite")
    monkeypatch.setenv("SLM_DATABASE_URL", "postgresql://db/demo")
    monkeypatch.setenv("SLM_CHECKPOINT_URL", "postgresql://db/checkpoints")
    context = Context(data_dir=tmp_path)
    assert context.database_url == "postgresql://db/demo"
    assert context.checkpoint_url == "postgresql://db/checkpoints"
    monkeypatch.delenv("SLM_DATA_DIR")
    assert Context().data_dir == PROJECT_ROOT / ".data"


def test_salesforce_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert Context().salesforce_credentials is None
    monkeypatch.setenv("SF_INSTANCE_URL", "acme.my.salesforce.com")
    monkeypatch.setenv("SF_SESSION_ID", "00Dx!token")
    credentials = Context().salesforce_credentials
    assert credentials == SalesforceCredentials(
        instance_url="https://acme.my.salesforce.com", session_id="00Dx!token"
    )
    assert "00Dx!token" not in repr(Context())


def test_ollama_retry_and_timeout_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLM_OLLAMA_RETRIES", "SLM_OLLAMA_BACKOFF", "SLM_OLLAMA_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    context = Context()
    assert (context.ollama_retries, context.ollama_backoff_s, context.ollama_timeout_s) == (
        2,
        0.5,
        120.0,
    )
    monkeypatch.setenv("SLM_OLLAMA_RETRIES", "5")
    monkeypatch.setenv("SLM_OLLAMA_BACKOFF", "0.1")
    monkeypatch.setenv("SLM_OLLAMA_TIMEOUT", "30")
    context = Context()
    assert (context.ollama_retries, context.ollama_backoff_s, context.ollama_timeout_s) == (
        5,
        0.1,
        30.0,
    )
    with pytest.raises(ValueError, match="SLM_OLLAMA_RETRIES"):
        Context(ollama_retries=-1)
    with pytest.raises(ValueError, match="SLM_OLLAMA_BACKOFF"):
        Context(ollama_backoff_s=-0.5)
    with pytest.raises(ValueError, match="SLM_OLLAMA_TIMEOUT"):
        Context(ollama_timeout_s=0)
