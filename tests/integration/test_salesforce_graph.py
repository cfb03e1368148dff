"""The Salesforce specialist through the graph, against the offline sandbox over HTTPS.

The model is scripted (this is the graph's logic under test); the client, the HTTP
server, validation and the approval flow are real.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graph.api import Dispatcher, NothingToApproveError
from graph.checkpoint import open_checkpointer
from graph.context import Context
from tests.fakes import ScriptedChatModel
from tools.salesforce import QueryAction, SalesforceClient
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox

pytestmark = pytest.mark.integration

NEW_LEAD = {
    "action": "create",
    "sobject": "Lead",
    "values": {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Company": "Analytical Engines",
        "Status": "Open - Not Contacted",
    },
}


def action(payload: dict[str, Any]) -> str:
    return json.dumps({"action": payload})


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> SalesforceClient:
    sandbox.reset()
    return sandbox_client(sandbox)


def count(client: SalesforceClient, sobject: str) -> int:
    result = client.run(QueryAction(soql=f"SELECT COUNT() FROM {sobject}"))
    return int(result.rows[0][0])


def context(client: SalesforceClient, model: ScriptedChatModel, **extra: Any) -> Context:
    return Context(salesforce_client=client, chat_models={"salesforce": model}, **extra)


def test_query_runs_at_once(client: SalesforceClient) -> None:
    model = ScriptedChatModel.of([action({"action": "query", "soql": "SELECT COUNT() FROM Lead"})])
    result = Dispatcher(InMemorySaver(), context(client, model)).ask("How many leads are there?")
    assert result.finished and result.pending == []
    (task,) = result.results
    assert task["status"] == "ok" and task["rows"] == [[120]]
    assert task["query"] == "SELECT COUNT() FROM Lead"
    # Decoding was constrained by the ActionRequest schema.
    assert model.calls[0][1]["format"]["title"] == "SalesforceReply"


def test_rejected_field_is_repaired_with_the_error(client: SalesforceClient) -> None:
    model = ScriptedChatModel.of(
        [
            action({"action": "query", "soql": "SELECT Nmae FROM Account LIMIT 2"}),
            action({"action": "query", "soql": "SELECT Name FROM Account LIMIT 2"}),
        ]
    )
    result = Dispatcher(InMemorySaver(), context(client, model)).ask("Two account names")
    (task,) = result.results
    assert task["status"] == "ok" and len(task["rows"]) == 2
    assert "Nmae" in (task["attempts"][0]["error"] or "")
    assert "Nmae" in str(model.calls[1][0][-1].content)


def test_write_waits_for_approval_and_is_performed_exactly_once(
    client: SalesforceClient, sandbox: SandboxServer, tmp_path: Path
) -> None:
    model = ScriptedChatModel.of([action(NEW_LEAD)])
    leads = count(client, "Lead")
    writes = sandbox.write_requests
    store = str(tmp_path / "checkpoints.sqlite")
    with open_checkpointer(store) as saver:
        first = Dispatcher(saver, context(client, model)).ask(
            "Create a lead for Ada Lovelace", thread_id="w-1"
        )
    assert not first.finished and first.answer == ""
    (pending,) = first.pending
    assert "Lovelace" in pending["preview"] and "Lead" in pending["preview"]
    assert count(client, "Lead") == leads and sandbox.write_requests == writes

    # Another process approves: a fresh checkpointer on the same store.
    with open_checkpointer(store) as saver:
        dispatcher = Dispatcher(saver, context(client, model))
        approved = dispatcher.approve("w-1", by="test")
        assert approved.finished
        (task,) = approved.results
        assert task["status"] == "ok" and task["output"].startswith("Created Lead 00Q")
        assert count(client, "Lead") == leads + 1
        assert sandbox.write_requests == writes + 1
        # Resuming or approving again performs nothing more.
        again = dispatcher.resume("w-1")
        assert again.finished and sandbox.write_requests == writes + 1
        with pytest.raises(NothingToApproveError):
            dispatcher.approve("w-1")
    assert len(model.calls) == 1  # the action was generated once


def test_rejected_write_is_not_performed(client: SalesforceClient, sandbox: SandboxServer) -> None:
    model = ScriptedChatModel.of([action(NEW_LEAD)])
    dispatcher = Dispatcher(InMemorySaver(), context(client, model))
    writes = sandbox.write_requests
    first = dispatcher.ask("Create a lead for Ada Lovelace", thread_id="r-1")
    assert first.pending
    result = dispatcher.reject("r-1", reason="duplicate of an existing lead", by="test")
    assert result.finished
    (task,) = result.results
    assert task["status"] == "rejected"
    assert "rejected by test: duplicate of an existing lead" in task["output"]
    assert sandbox.write_requests == writes


def test_preapproved_write_runs_without_a_pause(
    client: SalesforceClient, sandbox: SandboxServer
) -> None:
    model = ScriptedChatModel.of([action(NEW_LEAD)])
    ctx = context(client, model, salesforce_preapproved="Lead:create")
    leads = count(client, "Lead")
    result = Dispatcher(InMemorySaver(), ctx).ask("Create a lead for Ada Lovelace")
    assert result.finished and result.pending == []
    assert result.results[0]["status"] == "ok"
    assert count(client, "Lead") == leads + 1


def test_invalid_write_never_reaches_the_org(
    client: SalesforceClient, sandbox: SandboxServer
) -> None:
    bad = {
        "action": "update",
        "sobject": "Account",
        "record_id": "003000000000001AAA",
        "values": {"Industry": "Banking"},
    }
    model = ScriptedChatModel.of([action(bad)], repeat_last=True)
    writes = sandbox.write_requests
    request = "Update account 003000000000001AAA: industry Banking"
    result = Dispatcher(InMemorySaver(), context(client, model)).ask(request)
    (task,) = result.results
    assert task["status"] == "failed" and result.pending == []
    assert len(task["attempts"]) == 3 and all(a["error"] for a in task["attempts"])
    assert sandbox.write_requests == writes


def test_a_write_whose_request_gives_no_id_is_refused_without_guessing_one(
    client: SalesforceClient, sandbox: SandboxServer
) -> None:
    guessed = {
        "action": "update",
        "sobject": "Account",
        "record_id": "001000000000001AAA",
        "values": {"Industry": "Banking"},
    }
    model = ScriptedChatModel.of([action(guessed)], repeat_last=True)
    writes = sandbox.write_requests
    result = Dispatcher(InMemorySaver(), context(client, model)).ask("Update that account")
    (task,) = result.results
    assert task["status"] == "failed" and result.pending == []
    assert len(task["attempts"]) == 1 and "the request gives none" in task["output"]
    assert sandbox.write_requests == writes


def test_expired_session_is_a_clear_final_error(tmp_path: Path) -> None:
    with start_sandbox(tmp_path) as server:
        client = sandbox_client(server)
        count(client, "Lead")  # metadata cached while the session is valid
        server.expire_sessions()
        model = ScriptedChatModel.of(
            [action({"action": "query", "soql": "SELECT LastName FROM Lead LIMIT 1"})]
        )
        result = Dispatcher(InMemorySaver(), context(client, model)).ask("One lead name")
    (task,) = result.results
    assert task["status"] == "failed"
    assert "Salesforce refused the action" in task["output"]
    assert "session" in task["output"].lower()
    assert len(model.calls) == 1  # a final error is not sent back for repair


def test_the_node_connects_with_the_contexts_credentials_allow_list_and_timeout(
    sandbox: SandboxServer,
) -> None:
    from nodes import resources
    from tools.salesforce import SalesforceCredentials

    sandbox.reset()
    credentials = SalesforceCredentials.from_env(sandbox.env())
    query = action({"action": "query", "soql": "SELECT COUNT() FROM Lead"})
    resources.close_all()
    try:
        wide = Context(
            salesforce_credentials=credentials,
            chat_models={"salesforce": ScriptedChatModel.of([query])},
        )
        (task,) = Dispatcher(InMemorySaver(), wide).ask("How many leads are there?").results
        assert task["status"] == "ok" and task["rows"] == [[120]]

        narrow = Context(
            salesforce_credentials=credentials,
            salesforce_objects="Account,Case",
            salesforce_timeout_s=7.0,
            max_repairs=0,
            chat_models={"salesforce": ScriptedChatModel.of([query])},
        )
        # Leads are not in the allowed objects, so the org's cues do not name them ...
        hidden = Dispatcher(InMemorySaver(), narrow).ask("How many leads are there?")
        assert hidden.finished and hidden.results == []
        # ... and asked of Salesforce by name, the node refuses the object.
        asked = Dispatcher(InMemorySaver(), narrow).ask("How many leads are there in Salesforce?")
        (task,) = asked.results
        assert task["status"] == "failed"
        assert "`Lead` is not an object allowed here; use one of: Account, Case" in task["output"]
        client = resources.salesforce_client(narrow)
        assert client.allowed_objects == frozenset({"Account", "Case"})
        assert client is resources.salesforce_client(narrow)
        assert client is not resources.salesforce_client(wide)
    finally:
        resources.close_all()


def test_a_malformed_object_allow_list_is_refused_when_the_context_is_built() -> None:
    with pytest.raises(ValueError, match="SF_OBJECTS"):
        Context(salesforce_objects="Account, not an object")


def test_a_chain_carries_a_database_value_into_a_salesforce_write_exactly(
    client: SalesforceClient, sandbox: SandboxServer, demo_db: Path, tmp_path: Path
) -> None:
    top = (
        "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id "
        "GROUP BY c.id, c.name ORDER BY COUNT(*) DESC, c.id LIMIT 1"
    )
    with sqlite3.connect(demo_db) as conn:
        (name,) = conn.execute(top).fetchone()
    sql = ScriptedChatModel.of([top])

    def retyped_case(messages: list[Any], kwargs: dict[str, Any]) -> str:
        # The model drops a letter of the name it was given; the runtime restores it.
        assert f"the customer {name}" in str(messages[-1].content)
        subject = f"Follow up with {name[:3] + name[4:]}"
        return action({"action": "create", "sobject": "Case", "values": {"Subject": subject}})

    model = ScriptedChatModel.of([retyped_case])
    models = {"sql": sql, "salesforce": model}
    ctx = Context(salesforce_client=client, database_url=str(demo_db), chat_models=models)
    cases = count(client, "Case")
    with open_checkpointer(str(tmp_path / "cp.sqlite")) as saver:
        dispatcher = Dispatcher(saver, ctx)
        first = dispatcher.ask(
            "Which customer placed the most orders? Then open a Salesforce case for that customer.",
            thread_id="chain-w",
        )
        assert [task["depends_on"] for task in first.plan] == [None, 1]
        assert first.results[0]["rows"] == [[name]]
        (pending,) = first.pending
        assert f"Follow up with {name}" in pending["preview"]
        assert count(client, "Case") == cases  # nothing written before the approval
        done = dispatcher.approve("chain-w", by="test")
    assert done.finished
    step = done.results[1]
    assert step["status"] == "ok" and step["action"] is not None
    assert step["action"]["values"]["Subject"] == f"Follow up with {name}"
    assert step.get("inputs") == [{"from": 1, "as": "customer", "column": "name", "value": name}]
    assert count(client, "Case") == cases + 1


def test_a_chain_carries_an_org_value_into_a_database_query(
    client: SalesforceClient, demo_db: Path
) -> None:
    industry = (
        "SELECT Industry, COUNT(Id) total FROM Account GROUP BY Industry "
        "ORDER BY COUNT(Id) DESC LIMIT 1"
    )
    model = ScriptedChatModel.of([action({"action": "query", "soql": industry})])

    def customers_in(messages: list[Any], kwargs: dict[str, Any]) -> str:
        value = str(messages[-1].content).split("the industry ", 1)[1].split("?")[0]
        return f"SELECT COUNT(*) AS n FROM customers WHERE industry = '{value}'"

    sql = ScriptedChatModel.of([customers_in])
    ctx = Context(
        salesforce_client=client,
        database_url=str(demo_db),
        chat_models={"sql": sql, "salesforce": model},
    )
    result = Dispatcher(InMemorySaver(), ctx).ask(
        "Which industry has the most accounts in Salesforce? "
        "Then how many customers in our database are in that industry?"
    )
    first, second = result.results
    assert first["status"] == "ok" and len(first["rows"]) == 1
    top = first["rows"][0][0]
    assert second["status"] == "ok" and second["inputs"][0]["value"] == top
    assert f"industry = '{top}'" in (second["query"] or "")
