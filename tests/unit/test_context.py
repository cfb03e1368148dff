from __future__ import annotations

import pytest

from graph.context import Context


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
