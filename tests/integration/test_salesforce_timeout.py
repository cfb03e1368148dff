"""A Salesforce org that accepts connections but never answers must not hang a sub-task."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tools.salesforce import QueryAction, SalesforceClient, SalesforceCredentials, SalesforceError

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port whose listener accepts TCP connections and never sends a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_hung_org_times_out_with_a_clear_final_error(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_TIMEOUT", "0.5")
    creds = SalesforceCredentials.from_env(
        {"SF_INSTANCE_URL": f"https://127.0.0.1:{silent_port}", "SF_SESSION_ID": "00D!fake"}
    )
    assert creds is not None
    client = SalesforceClient.connect(creds)
    started = time.perf_counter()
    with pytest.raises(SalesforceError) as caught:
        client.run(QueryAction(soql="SELECT LastName FROM Lead LIMIT 1"))
    assert time.perf_counter() - started < 10
    assert caught.value.code == "TIMEOUT" and not caught.value.retryable
    assert "did not answer in time" in caught.value.message
    assert "00D!fake" not in caught.value.message


def test_timeout_setting_falls_back_on_bad_values() -> None:
    from tools.salesforce import DEFAULT_TIMEOUT_S, http_timeout

    assert http_timeout({}) == DEFAULT_TIMEOUT_S
    assert http_timeout({"SF_TIMEOUT": "abc"}) == DEFAULT_TIMEOUT_S
    assert http_timeout({"SF_TIMEOUT": "-1"}) == DEFAULT_TIMEOUT_S
    assert http_timeout({"SF_TIMEOUT": "2.5"}) == 2.5
