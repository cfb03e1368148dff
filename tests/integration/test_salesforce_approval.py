"""Approval and exactly-once recovery of Salesforce writes, against the offline sandbox org.

Two things are under test: only an explicit resume value approves a paused write (what
LangGraph Studio users type is checked, not trusted), and ``find_performed`` finds the
effect of any create, update or delete of the demo objects, whatever its field types,
without putting a written value into SOQL and without raising anything but
``SalesforceError``. The crash simulations write the journal's ``started`` record by hand,
as a process killed between the HTTP call and the ``done`` record leaves it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from simple_salesforce import format_soql

import graph.approvals as approvals
from graph.api import Dispatcher
from graph.approvals import WriteJournal, find_performed, write_key
from graph.checkpoint import open_checkpointer
from graph.context import Context
from tests.fakes import ScriptedChatModel
from tools.salesforce import (
    ActionRequest,
    AnyAction,
    CreateAction,
    DeleteAction,
    QueryAction,
    SalesforceClient,
    SalesforceError,
    UpdateAction,
)
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox

pytestmark = pytest.mark.integration

LONG_TEXT = ('Line one: it\'s "quoted", back\\slash, 50% _under_ ünïcødé ✓\r\n\ttab ' * 80)[:5000]
"""A 5,000-character long text area value with every character SOQL would need escaped."""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as server:
        yield server


@pytest.fixture
def client(sandbox: SandboxServer) -> SalesforceClient:
    sandbox.reset()
    return sandbox_client(sandbox)


def checked(client: SalesforceClient, payload: dict[str, Any]) -> AnyAction:
    """The action as ``perform_approved_write`` sends it: parsed and validated."""
    return client.validate_action(ActionRequest.model_validate({"action": payload}).action)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def first_id(client: SalesforceClient, sobject: str) -> str:
    result = client.run(QueryAction(soql=f"SELECT Id FROM {sobject} ORDER BY Id LIMIT 1"))
    return str(result.rows[0][0])


def ids_where(client: SalesforceClient, sobject: str, field: str, value: str) -> list[str]:
    soql = format_soql(f"SELECT Id FROM {sobject} WHERE {field} = {{}}", value)
    return [str(row[0]) for row in client.run(QueryAction(soql=soql)).rows]


def tag() -> str:
    return f"Zq{uuid.uuid4().hex[:10]}"


def creates(client: SalesforceClient, mark: str) -> dict[str, dict[str, Any]]:
    """One create per demo object, with the field types that broke the old look-up."""
    account = first_id(client, "Account")
    return {
        "Opportunity": {
            "action": "create",
            "sobject": "Opportunity",
            "values": {
                "Name": f"{mark} renewal",
                "StageName": "Proposal/Price Quote",
                "CloseDate": "2031-02-28",
                "Amount": 125000.5,
                "AccountId": account,
                "LeadSource": "Partner Referral",
            },
        },
        "Case": {
            "action": "create",
            "sobject": "Case",
            "values": {
                "Subject": f"{mark} printer on fire",
                "Description": LONG_TEXT,
                "Priority": "High",
                "Origin": "Email",
                "AccountId": account[:15],
            },
        },
        "Lead": {
            "action": "create",
            "sobject": "Lead",
            "values": {
                "FirstName": "Grace",
                "LastName": mark,
                "Company": "O'Brien & Sons \\ Ltd",
                "Email": "grace.o'brien+lead@example.com",
                "Rating": "hot",
            },
        },
        "Contact": {
            "action": "create",
            "sobject": "Contact",
            "values": {
                "FirstName": "Ada",
                "LastName": mark,
                "Email": "ada.lovelace@example.com",
                "Phone": "+44 (20) 7946-0018",
                "AccountId": account,
            },
        },
        "Account": {
            "action": "create",
            "sobject": "Account",
            "values": {
                "Name": f"{mark} Analytical Engines",
                "AnnualRevenue": 2500000,
                "NumberOfEmployees": 4321,
                "Industry": "Technology",
                "BillingCity": "London",
            },
        },
    }


# The field each create above can be found by in the tests (not by find_performed).
MARK_FIELD = {
    "Opportunity": ("Name", " renewal"),
    "Case": ("Subject", " printer on fire"),
    "Lead": ("LastName", ""),
    "Contact": ("LastName", ""),
    "Account": ("Name", " Analytical Engines"),
}


def value_for(client: SalesforceClient, fld: dict[str, Any], mark: str) -> Any:
    """A value of the field's type that fills it as far as the field allows."""
    ftype, length = str(fld["type"]), int(fld.get("length") or 0)
    if ftype == "textarea":
        return (f"{mark} " + LONG_TEXT)[: min(length or 5000, 5000)]
    if ftype in ("string", "phone"):
        return (f'{mark} O\'Brien "x" \\ {fld["name"]}' + "-" * 300)[:length]
    if ftype == "email":
        return f"{mark.lower()}.o'brien@example.com"
    if ftype == "picklist":
        return str(fld["picklistValues"][-1]["value"])
    if ftype == "reference":
        return first_id(client, str(fld["referenceTo"][0]))
    if ftype == "currency":
        return 9876543.21 if fld.get("scale") else 9876543
    if ftype == "percent":
        return 35
    if ftype == "int":
        return 4321
    if ftype == "date":
        return "2030-12-31"
    if ftype == "datetime":
        return "2030-12-31T23:59:58Z"
    if ftype == "boolean":
        return True
    raise AssertionError(f"no test value for a {ftype} field")


# -- approval: only an explicit value performs the write ---------------------------------

NEW_LEAD = {
    "action": "create",
    "sobject": "Lead",
    "values": {"FirstName": "Ada", "LastName": "Fennimore", "Company": "Analytical Engines"},
}

HOSTILE_RESUMES: list[Any] = [
    "no",
    "yes",
    "true",
    "approve",
    "",
    1,
    0,
    None,
    False,
    [True],
    {"approved": "yes"},
    {"approved": 1},
    {"approved": "true", "by": "studio"},
    {"by": "studio"},
    {"approved": True, "comment": "typed more than asked"},
]


def paused_dispatcher(
    client: SalesforceClient, thread: str, payload: dict[str, Any] = NEW_LEAD
) -> Dispatcher:
    model = ScriptedChatModel.of([json.dumps({"action": payload})])
    context = Context(salesforce_client=client, chat_models={"salesforce": model})
    dispatcher = Dispatcher(InMemorySaver(), context)
    first = dispatcher.ask("Create a lead for Ada Fennimore", thread_id=thread)
    (pending,) = first.pending
    assert '{"approved": true}' in pending["how_to_approve"]
    return dispatcher


def resume_with(dispatcher: Dispatcher, thread: str, value: Any, *, mapped: bool) -> None:
    config: Any = {"configurable": {"thread_id": thread}}
    if mapped:
        (interrupt,) = dispatcher.graph.get_state(config).interrupts
        value = {interrupt.id: value}
    dispatcher.graph.invoke(Command(resume=value), config, context=dispatcher.context)


@pytest.mark.parametrize("mapped", [False, True], ids=["bare", "by-interrupt-id"])
@pytest.mark.parametrize("value", HOSTILE_RESUMES, ids=repr)
def test_a_resume_value_that_is_not_an_explicit_approval_writes_nothing(
    client: SalesforceClient, sandbox: SandboxServer, value: Any, mapped: bool
) -> None:
    dispatcher = paused_dispatcher(client, "hostile")
    writes = sandbox.write_requests
    if value is None and not mapped:
        # LangGraph does not take Command(resume=None) as a resume (the pinned release even
        # fails inside invoke): either way the write must stay paused and unperformed.
        with contextlib.suppress(Exception):
            resume_with(dispatcher, "hostile", value, mapped=mapped)
        paused = dispatcher.state("hostile")
        assert not paused.finished and len(paused.pending) == 1
        assert sandbox.write_requests == writes
        return
    resume_with(dispatcher, "hostile", value, mapped=mapped)
    result = dispatcher.state("hostile")
    assert result.finished and result.pending == []
    (task,) = result.results
    assert task["status"] == "rejected"
    assert repr(value)[:60] in task["output"]
    assert '{"approved": true}' in task["output"]
    assert sandbox.write_requests == writes
    assert ids_where(client, "Lead", "LastName", "Fennimore") == []


@pytest.mark.parametrize("value", [True, {"approved": True, "by": "studio user"}], ids=repr)
def test_an_explicit_approval_from_studio_writes_once(
    client: SalesforceClient, sandbox: SandboxServer, value: Any
) -> None:
    dispatcher = paused_dispatcher(client, "studio")
    writes = sandbox.write_requests
    resume_with(dispatcher, "studio", value, mapped=False)
    (task,) = dispatcher.state("studio").results
    assert task["status"] == "ok" and task["output"].startswith("Created Lead 00Q")
    assert sandbox.write_requests == writes + 1
    assert len(ids_where(client, "Lead", "LastName", "Fennimore")) == 1


def test_the_api_reject_is_a_rejection_and_approve_an_approval(
    client: SalesforceClient, sandbox: SandboxServer
) -> None:
    dispatcher = paused_dispatcher(client, "api-r")
    (task,) = dispatcher.reject("api-r", reason="not now", by="ops").results
    assert task["status"] == "rejected"
    assert task["output"].startswith("The write was rejected by ops: not now.")
    dispatcher = paused_dispatcher(client, "api-a")
    (task,) = dispatcher.approve("api-a", by="ops").results
    assert task["status"] == "ok"
    assert len(ids_where(client, "Lead", "LastName", "Fennimore")) == 1


# -- find_performed: every createable field type, nothing written into SOQL -------------


@pytest.fixture
def soql_seen(client: SalesforceClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SOQL statement the client runs through ``query`` (find_performed's path)."""
    seen: list[str] = []
    query = client.query

    def spy(soql: str, **kwargs: Any) -> Any:
        seen.append(soql)
        return query(soql, **kwargs)

    monkeypatch.setattr(client, "query", spy)
    return seen


@pytest.mark.parametrize("sobject", ["Opportunity", "Case", "Lead", "Contact", "Account"])
def test_a_create_is_found_after_it_was_performed_and_not_before(
    client: SalesforceClient, soql_seen: list[str], sobject: str
) -> None:
    mark = tag()
    action = checked(client, creates(client, mark)[sobject])
    started = now()
    assert find_performed(client, action, started) is None
    created = client.run(action).record_id
    found = find_performed(client, action, started)
    assert found is not None and found.record_id == created
    assert found.action == "create" and found.rows[0][0] == created
    assert soql_seen and all(mark not in soql for soql in soql_seen)
    assert all("2031-02-28" not in soql and "Proposal" not in soql for soql in soql_seen)


@pytest.mark.parametrize("sobject", ["Opportunity", "Case", "Lead", "Contact", "Account"])
def test_every_createable_field_of_every_demo_object_is_compared(
    client: SalesforceClient, soql_seen: list[str], sobject: str
) -> None:
    mark = tag()
    fields = [f for f in client.describe(sobject)["fields"] if f.get("createable")]
    values = {str(f["name"]): value_for(client, f, mark) for f in fields}
    action = checked(client, {"action": "create", "sobject": sobject, "values": values})
    assert isinstance(action, CreateAction) and set(action.values) == set(values)
    started = now()
    assert find_performed(client, action, started) is None
    created = client.run(action).record_id
    found = find_performed(client, action, started)
    assert found is not None and found.record_id == created
    assert all(mark not in soql for soql in soql_seen)
    # A record that differs in any one field is not taken for the write.
    for fld in fields:
        name = str(fld["name"])
        other = dict(values)
        if fld["type"] == "picklist":
            other[name] = str(fld["picklistValues"][0]["value"])
        elif fld["type"] == "reference":
            target = str(fld["referenceTo"][0])
            soql = f"SELECT Id FROM {target} ORDER BY Id DESC LIMIT 1"
            other[name] = str(client.run(QueryAction(soql=soql)).rows[0][0])
        elif fld["type"] in ("currency", "percent", "int"):
            other[name] = values[name] - 1
        elif fld["type"] == "date":
            other[name] = "2030-12-30"
        elif fld["type"] == "email":
            other[name] = "x" + values[name]
        else:
            other[name] = values[name][:-1] + "!"
        near = checked(client, {"action": "create", "sobject": sobject, "values": other})
        assert find_performed(client, near, started) is None, f"{name} was not compared"


def test_values_match_however_the_org_writes_them_back(client: SalesforceClient) -> None:
    account = first_id(client, "Account")
    written = {
        "Name": "  Zq Spacing Renewal ",
        "StageName": "closed won",  # picklist case is canonicalised by validation
        "CloseDate": "2031-01-05",
        "Amount": 1000,  # int written, 1000.0 read back
        "Probability": 35.0,
        "AccountId": account[:15],  # a 15-character Id, read back as 18
    }
    action = checked(client, {"action": "create", "sobject": "Opportunity", "values": written})
    started = now()
    created = client.run(action).record_id
    found = find_performed(client, action, started)
    assert found is not None and found.record_id == created
    # The same values, written the way a person might: found too.
    spelled = {**written, "Amount": 1000.0, "AccountId": account, "Name": "zq spacing renewal"}
    again = checked(client, {"action": "create", "sobject": "Opportunity", "values": spelled})
    other = find_performed(client, again, started)
    assert other is not None and other.record_id == created


def test_the_candidates_are_paged_and_the_earliest_match_is_taken(
    client: SalesforceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(approvals, "CANDIDATE_PAGE", 2)
    mark = tag()
    started = now()
    for n in range(5):
        client.run(checked(client, {"action": "create", "sobject": "Lead", "values": {
            "LastName": f"{mark}-{n}", "Company": "Decoys"}}))  # fmt: skip
    action = checked(
        client,
        {"action": "create", "sobject": "Lead", "values": {"LastName": mark, "Company": "X"}},
    )
    first = client.run(action).record_id
    client.run(action)  # an identical, later record
    found = find_performed(client, action, started)
    assert found is not None and found.record_id == first


def test_too_many_candidates_fail_closed(
    client: SalesforceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(approvals, "CANDIDATE_PAGE", 1)
    monkeypatch.setattr(approvals, "CANDIDATE_PAGES", 2)
    started = now()
    for n in range(3):
        client.run(checked(client, {"action": "create", "sobject": "Lead", "values": {
            "LastName": f"Crowd-{n}", "Company": "Crowd"}}))  # fmt: skip
    action = checked(
        client,
        {"action": "create", "sobject": "Lead", "values": {"LastName": "Absent", "Company": "X"}},
    )
    with pytest.raises(SalesforceError) as failure:
        find_performed(client, action, started)
    assert failure.value.code == "UNCONFIRMED_WRITE"


def test_records_created_before_the_write_started_are_not_taken(client: SalesforceClient) -> None:
    action = checked(
        client,
        {"action": "create", "sobject": "Lead", "values": {"LastName": "Early", "Company": "X"}},
    )
    client.run(action)
    later = (dt.datetime.now(dt.UTC) + approvals.CLOCK_SKEW + dt.timedelta(seconds=5)).isoformat()
    assert find_performed(client, action, later) is None


@pytest.mark.parametrize(
    ("sobject", "values"),
    [
        ("Opportunity", {"CloseDate": "2032-03-31", "Amount": 77.25, "StageName": "Closed Won"}),
        ("Case", {"Description": LONG_TEXT, "Status": "Escalated"}),
        ("Account", {"AnnualRevenue": 31000000, "NumberOfEmployees": 12, "Name": "O'Hara \\ Co"}),
        ("Contact", {"Email": "new.address@example.com", "Title": None}),
        ("Lead", {"Rating": "Cold", "Phone": "+1 555 0100"}),
    ],
)
def test_an_update_is_found_once_the_record_holds_the_values(
    client: SalesforceClient, sobject: str, values: dict[str, Any]
) -> None:
    record = first_id(client, sobject)
    payload = {"action": "update", "sobject": sobject, "record_id": record, "values": values}
    action = checked(client, payload)
    assert isinstance(action, UpdateAction)
    assert find_performed(client, action, now()) is None
    client.run(action)
    found = find_performed(client, action, now())
    assert found is not None and found.record_id == action.record_id


@pytest.mark.parametrize("sobject", ["Opportunity", "Case", "Lead", "Contact", "Account"])
def test_a_delete_is_found_once_the_record_is_gone(client: SalesforceClient, sobject: str) -> None:
    payload = {"action": "delete", "sobject": sobject, "record_id": first_id(client, sobject)}
    action = checked(client, payload)
    assert isinstance(action, DeleteAction)
    assert find_performed(client, action, now()) is None
    client.run(action)
    found = find_performed(client, action, now())
    assert found is not None and found.record_id == action.record_id


@pytest.mark.parametrize("started_at", ["", "yesterday", "2024-13-45T99:00:00", "\x00"])
def test_a_broken_journal_time_is_a_salesforce_error(
    client: SalesforceClient, started_at: str
) -> None:
    action = checked(client, creates(client, tag())["Opportunity"])
    with pytest.raises(SalesforceError) as failure:
        find_performed(client, action, started_at)
    assert failure.value.code == "UNCONFIRMED_WRITE"


def test_an_unexpected_failure_in_the_look_up_is_a_salesforce_error(
    client: SalesforceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = checked(client, creates(client, tag())["Case"])

    def broken(soql: str, **kwargs: Any) -> Any:
        raise KeyError("records")

    monkeypatch.setattr(client, "query", broken)
    with pytest.raises(SalesforceError) as failure:
        find_performed(client, action, now())
    assert failure.value.code == "UNCONFIRMED_WRITE" and "KeyError" in failure.value.message


def test_long_text_past_the_soql_limit_is_no_pydantic_error(client: SalesforceClient) -> None:
    description = "x" * 31_000 + "'\\\n" * 300
    payload = {"action": "create", "sobject": "Case", "values": {"Description": description}}
    action = checked(client, payload)
    started = now()
    assert find_performed(client, action, started) is None
    created = client.run(action).record_id
    found = find_performed(client, action, started)
    assert found is not None and found.record_id == created


# -- crash simulation: a ``started`` record, with and without the write in the org -------


@pytest.mark.parametrize("in_org", [True, False], ids=["write-reached-the-org", "write-lost"])
@pytest.mark.parametrize("sobject", ["Opportunity", "Case", "Lead", "Contact", "Account"])
def test_a_started_write_is_performed_exactly_once_on_resume(
    client: SalesforceClient, sandbox: SandboxServer, tmp_path: Path, sobject: str, in_org: bool
) -> None:
    mark = tag()
    payload = creates(client, mark)[sobject]
    store = str(tmp_path / "checkpoints.sqlite")
    thread = f"crash-{sobject}"
    journal = WriteJournal(store)
    model = ScriptedChatModel.of([json.dumps({"action": payload})])
    context = Context(
        salesforce_client=client, chat_models={"salesforce": model}, write_journal=journal
    )
    field, suffix = MARK_FIELD[sobject]
    with open_checkpointer(store) as saver:
        dispatcher = Dispatcher(saver, context)
        first = dispatcher.ask(f"Create a {sobject}", thread_id=thread)
        assert first.pending
        snapshot = dispatcher.graph.get_state({"configurable": {"thread_id": thread}})
        (task,) = [t for t in snapshot.tasks if t.name == "approve_write"]
        namespace = f"approve_write:{task.id}"
        action = checked(client, first.pending[0]["action"])
        key = write_key(thread, namespace, action)
        # The approval step recorded ``started`` and died: after the HTTP call, or before.
        journal.begin(key, thread_id=thread, task=namespace, action=action.model_dump_json())
        before = client.run(action).record_id if in_org else None
        writes = sandbox.write_requests

    with open_checkpointer(store) as saver:  # a new process resumes the thread
        dispatcher = Dispatcher(saver, context)
        resumed = dispatcher.resume(thread)
        assert resumed.finished
        (result,) = resumed.results
        assert result["status"] == "ok", result["output"]
        records = ids_where(client, sobject, field, mark + suffix)
        assert len(records) == 1
        assert result["output"] == f"Created {sobject} {records[0]}."
        assert sandbox.write_requests == writes + (0 if in_org else 1)
        if in_org:
            assert records == [before]
        entry = journal.lookup(key)
        assert entry is not None and entry["state"] == "done"
        assert entry["record_id"] == records[0]
        again = dispatcher.resume(thread)
        assert again.finished and sandbox.write_requests == writes + (0 if in_org else 1)
    assert len(model.calls) == 1
