"""simple-salesforce against the offline sandbox org over real HTTPS: every action, paging,
validation, server-side errors and expired sessions."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce import exceptions as sf_exc

from tools.salesforce import (
    ActionRequest,
    CreateAction,
    DeleteAction,
    DescribeAction,
    GetAction,
    QueryAction,
    SalesforceClient,
    SalesforceCredentials,
    SalesforceError,
    SoqlQuery,
    SoqlValidationError,
    UpdateAction,
    map_salesforce_exception,
)
from tools.salesforce_sandbox import (
    SandboxServer,
    sandbox_client,
    start_if_unconfigured,
    start_sandbox,
)
from tools.salesforce_sandbox.seed import SIZES, make_id
from tools.salesforce_sandbox.soql import date_range

pytestmark = pytest.mark.integration

PAGE = 25


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), page_size=PAGE) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: SandboxServer) -> SalesforceClient:
    return sandbox_client(server)


@pytest.fixture
def raw(server: SandboxServer) -> Salesforce:
    """A bare simple-salesforce connection, bypassing the client's validation."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_path)
    return Salesforce(
        instance_url=server.instance_url, session_id=server.session_id, session=session
    )


@pytest.fixture
def pristine(server: SandboxServer) -> Iterator[None]:
    yield
    server.reset()


def q(client: SalesforceClient, soql: str, row_limit: int = 1000) -> list[list[Any]]:
    return client.run(QueryAction(soql=soql), row_limit=row_limit).rows


# --------------------------------------------------------------------------------------
# Connection, metadata
# --------------------------------------------------------------------------------------


def test_env_points_a_client_at_the_sandbox(server: SandboxServer) -> None:
    env = server.env()
    assert set(env) == {"SF_INSTANCE_URL", "SF_SESSION_ID", "SF_CA_BUNDLE"}
    assert env["SF_INSTANCE_URL"].startswith("https://127.0.0.1:")
    creds = SalesforceCredentials.from_env(env)
    assert creds is not None and creds.kind == "session"
    assert creds.ca_bundle == str(server.ca_path)
    assert server.session_id not in repr(creds)
    client = SalesforceClient.connect(creds)
    assert q(client, "SELECT COUNT() FROM Account") == [[SIZES["Account"]]]


def test_untrusted_certificate_is_refused(server: SandboxServer) -> None:
    session = requests.Session()
    session.trust_env = False  # the system CA bundle, which does not hold the sandbox's cert
    sf = Salesforce(instance_url=server.instance_url, session_id=server.session_id, session=session)
    with pytest.raises(requests.exceptions.SSLError):
        sf.query("SELECT Id FROM Account LIMIT 1")


def test_seeded_sizes_and_id_prefixes(server: SandboxServer, client: SalesforceClient) -> None:
    assert server.counts() == SIZES
    prefixes = {
        "Account": "001",
        "Contact": "003",
        "Opportunity": "006",
        "Lead": "00Q",
        "Case": "500",
    }
    for sobject, prefix in prefixes.items():
        ids = [row[0] for row in q(client, f"SELECT Id FROM {sobject}")]
        assert len(ids) == SIZES[sobject] == len(set(ids))
        assert all(len(i) == 18 and i.startswith(prefix) for i in ids)


def test_describe_global_and_describe_shapes(raw: Salesforce) -> None:
    names = {s["name"]: s for s in raw.describe()["sobjects"]}
    assert set(names) == {"Account", "Contact", "Opportunity", "Lead", "Case"}
    assert names["Lead"]["keyPrefix"] == "00Q"
    described = raw.Opportunity.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert list(fields) == [
        "Id", "Name", "AccountId", "Amount", "StageName", "CloseDate", "Probability", "Type",
        "LeadSource", "IsClosed", "IsWon", "CreatedDate",
    ]  # fmt: skip
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["IsWon"]["updateable"] is False and fields["IsWon"]["createable"] is False
    assert [p["value"] for p in fields["StageName"]["picklistValues"]][-2:] == [
        "Closed Won",
        "Closed Lost",
    ]
    account = raw.Account.describe()
    children = {c["relationshipName"] for c in account["childRelationships"]}
    assert children == {"Contacts", "Opportunities", "Cases"}
    assert {f["name"]: f["type"] for f in raw.Case.describe()["fields"]}["Description"] == (
        "textarea"
    )


def test_describe_action_lists_fields(client: SalesforceClient) -> None:
    result = client.run(DescribeAction(action="describe", sobject="account"))
    assert result.columns == ["name", "type", "picklist"]
    rows = {r[0]: r for r in result.rows}
    assert rows["Industry"][1] == "picklist" and "Telecommunications" in rows["Industry"][2]
    assert client.run(DescribeAction(action="describe", sobject="Case")).rows[6][1] == (
        "reference → Account"
    )


# --------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------


def test_paging_follows_next_records_url(raw: Salesforce, client: SalesforceClient) -> None:
    first = raw.query("SELECT Id FROM Opportunity")
    assert first["totalSize"] == 200 and first["done"] is False
    assert len(first["records"]) == PAGE
    assert first["nextRecordsUrl"].startswith("/services/data/v")
    second = raw.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == PAGE
    result = client.run(QueryAction(soql="SELECT Id, Name FROM Opportunity"), row_limit=500)
    assert len(result.rows) == 200 and not result.truncated
    assert len({r[0] for r in result.rows}) == 200
    assert result.http_s > 0 and result.validation_s >= 0 and result.elapsed_s >= result.http_s


def test_row_limit_truncates(client: SalesforceClient) -> None:
    result = client.run(QueryAction(soql="SELECT Id FROM Case"), row_limit=30)
    assert len(result.rows) == 30 and result.truncated


def test_bad_query_locator(raw: Salesforce) -> None:
    with pytest.raises(sf_exc.SalesforceMalformedRequest) as info:
        raw.query_more("01gAAAAAAAAAAAAAAA-25")
    assert info.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_parent_relationship_paths(client: SalesforceClient) -> None:
    accounts = dict(q(client, "SELECT Id, Name FROM Account"))
    result = client.run(
        QueryAction(soql="SELECT LastName, AccountId, Account.Name, Account.Industry FROM Contact")
    )
    assert result.columns == ["LastName", "AccountId", "Account.Name", "Account.Industry"]
    assert all(accounts[row[1]] == row[2] for row in result.rows)
    deep = q(
        client, "SELECT Subject, Contact.Account.Name, ContactId FROM Case WHERE ContactId != null"
    )
    assert deep and all(row[1] in accounts.values() for row in deep)


def test_null_parent_is_null(client: SalesforceClient, pristine: None) -> None:
    created = client.run(
        CreateAction(action="create", sobject="Case", values={"Subject": "No account"})
    )
    record = client.run(
        GetAction(action="get", sobject="Case", record_id=created.record_id or "", fields=[])
    )
    assert dict(zip(record.columns, record.rows[0], strict=True))["AccountId"] is None
    rows = q(client, f"SELECT Id, Account.Name FROM Case WHERE Id = '{created.record_id}'")
    assert rows == [[created.record_id]] or rows == [[created.record_id, None]]


def test_where_operators_agree_with_python(client: SalesforceClient) -> None:
    rows = q(client, "SELECT Id, Amount, StageName, LeadSource, Type FROM Opportunity")
    by_id = {r[0]: r for r in rows}

    def ids(soql: str) -> set[str]:
        return {r[0] for r in q(client, soql)}

    assert ids("SELECT Id FROM Opportunity WHERE Amount > 250000") == {
        i for i, r in by_id.items() if r[1] > 250000
    }
    assert ids(
        "SELECT Id FROM Opportunity WHERE StageName IN ('Closed Won', 'Closed Lost') "
        "AND (LeadSource = 'Web' OR LeadSource = 'Other')"
    ) == {
        i
        for i, r in by_id.items()
        if r[2] in ("Closed Won", "Closed Lost") and r[3] in ("Web", "Other")
    }
    assert ids("SELECT Id FROM Opportunity WHERE StageName NOT IN ('Closed Won')") == {
        i for i, r in by_id.items() if r[2] != "Closed Won"
    }
    assert ids("SELECT Id FROM Opportunity WHERE NOT Type = 'New Business'") == {
        i for i, r in by_id.items() if r[4] != "New Business"
    }
    assert ids("SELECT Id FROM Opportunity WHERE stagename = 'closed won'") == {
        i for i, r in by_id.items() if r[2] == "Closed Won"
    }


def test_like_and_escaped_quotes(client: SalesforceClient) -> None:
    names = [r[0] for r in q(client, "SELECT Name FROM Account")]
    assert {r[0] for r in q(client, "SELECT Name FROM Account WHERE Name LIKE 'acme%'")} == {
        n for n in names if n.lower().startswith("acme")
    }
    assert q(client, "SELECT Name FROM Account WHERE Name LIKE '%\\%%'") == []
    assert q(client, "SELECT Id FROM Account WHERE Name = 'x\\' OR Name != \\''") == []


def test_date_literals_agree_with_python(client: SalesforceClient) -> None:
    today = dt.datetime.now(dt.UTC).date()
    rows = q(client, "SELECT Id, CloseDate, CreatedDate FROM Opportunity")
    for literal in ("THIS_YEAR", "LAST_YEAR", "THIS_QUARTER", "NEXT_N_DAYS:60", "LAST_N_DAYS:90",
                    "THIS_MONTH", "LAST_N_MONTHS:3", "N_DAYS_AGO:3", "TODAY"):  # fmt: skip
        start, end = date_range(literal, today)
        expected = {r[0] for r in rows if start <= dt.date.fromisoformat(r[1]) < end}
        got = {r[0] for r in q(client, f"SELECT Id FROM Opportunity WHERE CloseDate = {literal}")}
        assert got == expected, literal
        expected = {r[0] for r in rows if start <= dt.date.fromisoformat(r[2][:10]) < end}
        got = {r[0] for r in q(client, f"SELECT Id FROM Opportunity WHERE CreatedDate = {literal}")}
        assert got == expected, literal
    cutoff = today - dt.timedelta(days=100)
    got = q(client, f"SELECT Id FROM Opportunity WHERE CloseDate >= {cutoff.isoformat()}")
    assert {r[0] for r in got} == {r[0] for r in rows if r[1] >= cutoff.isoformat()}
    moment = f"{cutoff.isoformat()}T00:00:00Z"
    got = q(client, f"SELECT Id FROM Opportunity WHERE CreatedDate < {moment}")
    assert {r[0] for r in got} == {r[0] for r in rows if r[2][:10] < cutoff.isoformat()}
    assert q(client, "SELECT Id FROM Opportunity WHERE CloseDate < LAST_N_DAYS:100000") == []


def test_aggregates_group_by_having(client: SalesforceClient) -> None:
    rows = q(client, "SELECT StageName, Amount FROM Opportunity")
    counts = Counter(r[0] for r in rows)
    result = client.run(
        QueryAction(
            soql="SELECT StageName, COUNT(Id) n, SUM(Amount) total, MAX(Amount) FROM Opportunity "
            "GROUP BY StageName HAVING COUNT(Id) > 15 ORDER BY COUNT(Id) DESC, StageName"
        )
    )
    assert result.columns == ["StageName", "n", "total", "expr0"]
    assert [r[0] for r in result.rows] == [
        s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if counts[s] > 15
    ]
    for stage, n, total, most in result.rows:
        amounts = [r[1] for r in rows if r[0] == stage]
        assert n == len(amounts) and total == sum(amounts) and most == max(amounts)
    assert q(client, "SELECT COUNT(Id), COUNT_DISTINCT(AccountId) FROM Opportunity") == [
        [200, len({r[0] for r in q(client, "SELECT AccountId FROM Opportunity")})]
    ]
    years = q(client, "SELECT CALENDAR_YEAR(CreatedDate) y, COUNT(Id) FROM Lead "
                      "GROUP BY CALENDAR_YEAR(CreatedDate)")  # fmt: skip
    assert sum(r[1] for r in years) == SIZES["Lead"]


def test_count_order_limit_offset_nulls(client: SalesforceClient) -> None:
    hot = q(client, "SELECT Id FROM Lead WHERE Rating = 'Hot'")
    assert q(client, "SELECT COUNT() FROM Lead WHERE Rating = 'Hot'") == [[len(hot)]]
    ordered = q(client, "SELECT Name, AnnualRevenue FROM Account ORDER BY AnnualRevenue DESC, Name")
    page = q(client, "SELECT Name FROM Account ORDER BY AnnualRevenue DESC, Name LIMIT 5 OFFSET 10")
    assert [r[0] for r in page] == [r[0] for r in ordered[10:15]]
    titles = q(client, "SELECT Title FROM Contact ORDER BY Title ASC NULLS LAST")
    assert titles[-1] == [None] and titles[0] != [None]
    titles = q(client, "SELECT Title FROM Contact ORDER BY Title ASC")
    assert titles[0] == [None]  # SOQL: ascending puts nulls first by default


def test_semi_join(client: SalesforceClient) -> None:
    won = {r[0] for r in q(client, "SELECT AccountId FROM Opportunity WHERE IsWon = true")}
    got = q(client, "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity "
                    "WHERE IsWon = true)")  # fmt: skip
    assert {r[0] for r in got} == won


def test_outside_the_subset_says_not_emulated(client: SalesforceClient) -> None:
    with pytest.raises(SalesforceError) as info:
        q(client, "SELECT Name, (SELECT LastName FROM Contacts) FROM Account")
    assert info.value.retryable and info.value.code == "MALFORMED_QUERY"
    assert "not emulated" in info.value.message


def test_server_checks_soql_itself(raw: Salesforce) -> None:
    cases = {
        "SELECT Amout FROM Opportunity": "INVALID_FIELD",
        "SELECT Id FROM Opportunityy": "INVALID_TYPE",
        "SELECT Id FROM": "MALFORMED_QUERY",
        "DELETE FROM Account": "MALFORMED_QUERY",
    }
    for soql, code in cases.items():
        with pytest.raises(sf_exc.SalesforceMalformedRequest) as info:
            raw.query(soql)
        assert info.value.content[0]["errorCode"] == code, soql
        mapped = map_salesforce_exception(info.value)
        assert mapped.retryable and mapped.code == code


def test_soql_query_alias_still_runs(client: SalesforceClient) -> None:
    result = client.run(SoqlQuery(soql="SELECT Id FROM Lead LIMIT 3"))
    assert result.action == "query" and len(result.rows) == 3


# --------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------


def test_get_by_rest_and_by_relationship_path(client: SalesforceClient) -> None:
    opp = make_id("Opportunity", 7)
    result = client.run(
        GetAction(action="get", sobject="Opportunity", record_id=opp, fields=["name", "Amount"])
    )
    assert result.columns == ["Name", "Amount"] and result.record_id == opp
    joined = client.run(
        GetAction(
            action="get", sobject="Opportunity", record_id=opp[:15], fields=["Name", "Account.Name"]
        )
    )
    assert joined.columns == ["Name", "Account.Name"] and joined.rows[0][0] == result.rows[0][0]
    everything = client.run(
        GetAction(action="get", sobject="Opportunity", record_id=opp, fields=[])
    )
    assert everything.columns[0] == "Id" and len(everything.columns) == 12


def test_get_missing_record_is_a_hint(client: SalesforceClient) -> None:
    for fields in (["Name"], ["Account.Name"]):
        with pytest.raises(SalesforceError) as info:
            client.run(
                GetAction(
                    action="get",
                    sobject="Opportunity",
                    record_id=make_id("Opportunity", 9999),
                    fields=fields,
                )
            )
        assert info.value.code == "NOT_FOUND" and info.value.retryable
        assert "query for the Id" in info.value.message


def test_create_update_delete_round_trip(
    server: SandboxServer, client: SalesforceClient, pristine: None
) -> None:
    account = make_id("Account", 3)
    create = CreateAction(
        action="create",
        sobject="Opportunity",
        values={"Name": "Round trip", "AccountId": account, "StageName": "prospecting",
                "CloseDate": "2030-01-31", "Amount": 1234.5},
    )  # fmt: skip
    preview = client.preview(create)
    assert "CREATE a new Opportunity" in preview and '"Prospecting"' in preview
    assert "1234.5" in preview and account in preview
    created = client.run(create)
    new_id = created.record_id
    assert new_id is not None and new_id.startswith("006") and len(new_id) == 18
    assert server.counts()["Opportunity"] == 201
    got = client.run(
        GetAction(
            action="get",
            sobject="Opportunity",
            record_id=new_id,
            fields=["StageName", "Probability", "IsClosed", "IsWon", "CreatedDate"],
        )
    )
    stage, probability, closed, won, created_at = got.rows[0]
    assert (stage, probability, closed, won) == ("Prospecting", 10.0, False, False)
    assert created_at.endswith("+0000")
    update = UpdateAction(
        action="update", sobject="Opportunity", record_id=new_id, values={"StageName": "Closed Won"}
    )
    assert new_id in client.preview(update) and "Closed Won" in client.preview(update)
    client.run(update)
    got = client.run(
        GetAction(
            action="get", sobject="Opportunity", record_id=new_id, fields=["IsWon", "IsClosed"]
        )
    )
    assert got.rows == [[True, True]]
    delete = DeleteAction(action="delete", sobject="Opportunity", record_id=new_id)
    assert "DELETE" in client.preview(delete) and new_id in client.preview(delete)
    client.run(delete)
    assert server.counts()["Opportunity"] == 200
    with pytest.raises(SalesforceError) as info:
        client.run(delete)
    assert info.value.code == "NOT_FOUND"


def test_case_closed_date_and_null_clears(client: SalesforceClient, pristine: None) -> None:
    case = q(client, "SELECT Id FROM Case WHERE Status = 'New' LIMIT 1")[0][0]
    client.run(UpdateAction(action="update", sobject="Case", record_id=case,
                            values={"Status": "Closed", "Origin": None}))  # fmt: skip
    row = client.run(
        GetAction(
            action="get", sobject="Case", record_id=case, fields=["Status", "ClosedDate", "Origin"]
        )
    ).rows[0]
    assert row[0] == "Closed" and row[1] is not None and row[2] is None


def test_delete_account_cascades(
    server: SandboxServer, client: SalesforceClient, pristine: None
) -> None:
    account = make_id("Account", 0)
    children = {
        name: q(client, f"SELECT COUNT() FROM {name} WHERE AccountId = '{account}'")[0][0]
        for name in ("Contact", "Opportunity", "Case")
    }
    client.run(DeleteAction(action="delete", sobject="Account", record_id=account))
    counts = server.counts()
    for name, n in children.items():
        assert counts[name] == SIZES[name] - n


def test_server_rejects_bad_writes_itself(server: SandboxServer, raw: Salesforce) -> None:
    before = server.counts()
    bad: list[tuple[Any, str]] = [
        (lambda: raw.Account.create({"Nme": "x"}), "INVALID_FIELD"),
        (lambda: raw.Account.create({"Name": "x", "CreatedDate": "2020-01-01T00:00:00Z"}),
         "INVALID_FIELD_FOR_INSERT_UPDATE"),
        (lambda: raw.Account.create({"Name": "x" * 256}), "STRING_TOO_LONG"),
        (lambda: raw.Account.create({"Industry": "Banking"}), "REQUIRED_FIELD_MISSING"),
        (lambda: raw.Account.create({"Name": "x", "Industry": "Crypto"}),
         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        (lambda: raw.Contact.create({"LastName": "x", "AccountId": make_id("Account", 777)}),
         "INVALID_CROSS_REFERENCE_KEY"),
        (lambda: raw.Contact.create({"LastName": "x", "AccountId": make_id("Lead", 1)}),
         "MALFORMED_ID"),
        (lambda: raw.Opportunity.update(make_id("Opportunity", 1), {"IsWon": True}),
         "INVALID_FIELD_FOR_INSERT_UPDATE"),
        (lambda: raw.Account.update(make_id("Account", 1), {"NumberOfEmployees": "many"}),
         "JSON_PARSER_ERROR"),
    ]  # fmt: skip
    for call, code in bad:
        with pytest.raises(sf_exc.SalesforceMalformedRequest) as info:
            call()
        assert info.value.content[0]["errorCode"] == code
    with pytest.raises(sf_exc.SalesforceResourceNotFound):
        raw.Account.delete(make_id("Account", 4242))
    with pytest.raises(sf_exc.SalesforceResourceNotFound):
        raw.Widget.describe()
    response = raw.session.post(
        f"{server.instance_url}/services/data/v59.0/sobjects/Account/",
        data="{not json",
        headers=raw.headers,
    )
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert server.counts() == before


def test_write_errors_map_to_repair_hints(client: SalesforceClient, server: SandboxServer) -> None:
    action = CreateAction(
        action="create",
        sobject="Contact",
        values={"LastName": "Ghost", "AccountId": make_id("Account", 555)},
    )
    before = server.counts()
    with pytest.raises(SalesforceError) as info:
        client.run(action)
    assert info.value.retryable and info.value.code == "INVALID_CROSS_REFERENCE_KEY"
    assert info.value.message.startswith("Salesforce rejected the create")
    assert server.counts() == before


# --------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------


def test_expired_session_is_a_final_error(server: SandboxServer) -> None:
    client = sandbox_client(server)
    client.describe("Account")
    old = server.session_id
    server.expire_sessions()
    try:
        for action in (
            QueryAction(soql="SELECT Id FROM Account LIMIT 1"),
            GetAction(action="get", sobject="Account", record_id=make_id("Account", 1), fields=[]),
            UpdateAction(
                action="update",
                sobject="Account",
                record_id=make_id("Account", 1),
                values={"Name": "x"},
            ),  # fmt: skip
        ):
            with pytest.raises(SalesforceError) as info:
                client.run(action)
            assert info.value.code == "INVALID_SESSION_ID" and not info.value.retryable
            assert old not in info.value.message and "SF_SESSION_ID" in info.value.message
        with pytest.raises(SalesforceError) as info:
            sandbox_client(server).describe("Lead")
        assert info.value.code == "INVALID_SESSION_ID"
        assert server.new_session() != old
        assert sandbox_client(server).run(QueryAction(soql="SELECT COUNT() FROM Lead")).rows == [
            [120]
        ]
    finally:
        server.new_session(old)  # the module's other tests keep their client
    assert server.session_id == old
    assert sandbox_client(server).run(QueryAction(soql="SELECT COUNT() FROM Lead")).rows == [[120]]


def test_wrong_session_id(server: SandboxServer) -> None:
    creds = SalesforceCredentials(
        instance_url=server.instance_url,
        session_id="00D8d0000000abc!AQwrongwrongwrong",
        ca_bundle=str(server.ca_path),
    )
    with pytest.raises(SalesforceError) as info:
        SalesforceClient.connect(creds).run(QueryAction(soql="SELECT Id FROM Account"))
    assert info.value.code == "INVALID_SESSION_ID"
    assert "AQwrongwrongwrong" not in info.value.message


def test_action_request_round_trip_through_json(client: SalesforceClient) -> None:
    text = (
        '{"action": {"action": "get", "sobject": "Lead", "record_id": "%s", "fields": ["Rating"]}}'
    )
    request = ActionRequest.model_validate_json(text % make_id("Lead", 2))
    assert client.run(request.action).columns == ["Rating"]
    with pytest.raises(SoqlValidationError):
        client.validate_action(ActionRequest.model_validate_json(text % make_id("Case", 2)).action)


def test_restart_keeps_changes_and_reset_restores(tmp_path: Path) -> None:
    with start_sandbox(tmp_path, page_size=PAGE) as first:
        client = sandbox_client(first)
        client.run(CreateAction(action="create", sobject="Lead",
                                values={"LastName": "Kept", "Company": "Persist"}))  # fmt: skip
        session = first.session_id
    with start_sandbox(tmp_path, session_id=session) as second:
        assert second.counts()["Lead"] == 121
        second.reset()
        assert second.counts() == SIZES


def test_cli_serves_and_prints_the_environment(tmp_path: Path) -> None:
    script = (
        "import argparse, sys\n"
        "from graph.sandbox_cli import add_sandbox_command\n"
        "parser = argparse.ArgumentParser(prog='slm-dispatch')\n"
        "add_sandbox_command(parser.add_subparsers(dest='command'))\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "sys.exit(args.func(args))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "sandbox", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        env: dict[str, str] = {}
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while len(env) < 3 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.strip().startswith("export "):
                name, _, value = line.strip()[len("export ") :].partition("=")
                env[name] = value.strip("'")
        assert set(env) == {"SF_INSTANCE_URL", "SF_SESSION_ID", "SF_CA_BUNDLE"}
        client = SalesforceClient.from_env(env)
        assert client.run(QueryAction(soql="SELECT COUNT() FROM Case")).rows == [[150]]
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0, err


def test_start_if_unconfigured(tmp_path: Path) -> None:
    configured = {"SF_INSTANCE_URL": "https://acme.my.salesforce.com", "SF_SESSION_ID": "s"}
    assert start_if_unconfigured(tmp_path, environ=dict(configured)) is None
    environ: dict[str, str] = {"PATH": "/bin"}
    server = start_if_unconfigured(tmp_path, environ=environ)
    assert server is not None
    try:
        assert environ["SF_INSTANCE_URL"] == server.instance_url
        client = SalesforceClient.from_env(environ)
        assert client.run(QueryAction(soql="SELECT COUNT() FROM Contact")).rows == [[150]]
    finally:
        server.stop()


def test_benchmark_held_out_actions_are_valid_and_run() -> None:
    from evals import salesforce_bench

    assert len(salesforce_bench.HELD_OUT) >= 20
    assert salesforce_bench.main([]) == 0


# --------------------------------------------------------------------------------------
# Request framing and the Authorization header
# --------------------------------------------------------------------------------------


def _connection(server: SandboxServer) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(server.ca_path))
    return http.client.HTTPSConnection("127.0.0.1", server.port, timeout=10, context=context)


def _send(
    server: SandboxServer,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    conn: http.client.HTTPSConnection | None = None,
) -> tuple[int, Any, dict[str, str], float]:
    """Send a hand-made request; return status, JSON body, headers and seconds taken."""
    conn = conn or _connection(server)
    started = time.monotonic()
    conn.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers:
        conn.putheader(name, value.encode("utf-8"))
    conn.endheaders(body or None)
    response = conn.getresponse()
    data = response.read()
    elapsed = time.monotonic() - started
    payload = json.loads(data) if data else None
    return response.status, payload, {k.lower(): v for k, v in response.getheaders()}, elapsed


def _bearer(server: SandboxServer) -> tuple[str, str]:
    return ("Authorization", f"Bearer {server.session_id}")


CREATE_PATH = "/services/data/v59.0/sobjects/Lead/"
QUERY_PATH = "/services/data/v59.0/query?q=SELECT+COUNT()+FROM+Lead"


@pytest.mark.parametrize(
    "length", ["-1", "-100000", "abc", "1e3", "0x10", "12 34", "+5", "", "\u0661\u0662"]
)
def test_malformed_content_length_is_answered_400_at_once(
    server: SandboxServer, length: str
) -> None:
    before = server.counts()
    status, body, headers, elapsed = _send(
        server, "POST", CREATE_PATH, [_bearer(server), ("Content-Length", length)]
    )
    assert status == 400 and body[0]["errorCode"] == "BAD_REQUEST", body
    assert "Content-Length" in body[0]["message"]
    assert headers.get("connection") == "close"
    assert elapsed < 5  # no thread waits for a body that never comes
    assert server.counts() == before


def test_conflicting_content_lengths_and_chunked_bodies_are_refused(
    server: SandboxServer,
) -> None:
    body = b'{"LastName": "x", "Company": "y"}'
    for headers in (
        [("Content-Length", str(len(body))), ("Content-Length", "3")],
        [("Transfer-Encoding", "chunked")],
    ):
        status, answer, _, elapsed = _send(
            server, "POST", CREATE_PATH, [_bearer(server), *headers], body
        )
        assert status == 400 and answer[0]["errorCode"] == "BAD_REQUEST"
        assert elapsed < 5
    assert server.counts() == SIZES


@pytest.mark.parametrize("length", ["1000001", "999999999", "999999999999"])
def test_too_large_body_is_answered_413_at_once(server: SandboxServer, length: str) -> None:
    status, body, headers, elapsed = _send(
        server, "POST", CREATE_PATH, [_bearer(server), ("Content-Length", length)]
    )
    assert status == 413 and body[0]["errorCode"] == "REQUEST_TOO_LARGE"
    assert headers.get("connection") == "close" and elapsed < 5
    assert server.counts() == SIZES


def test_a_body_on_a_get_keeps_the_connection_in_step(server: SandboxServer) -> None:
    conn = _connection(server)
    try:
        for _ in range(2):
            status, body, _, _ = _send(
                server, "GET", QUERY_PATH, [_bearer(server), ("Content-Length", "5")],
                b"hello", conn=conn,
            )  # fmt: skip
            assert status == 200 and body["totalSize"] == SIZES["Lead"]
    finally:
        conn.close()


def test_server_still_answers_after_malformed_requests(
    server: SandboxServer, client: SalesforceClient
) -> None:
    for length in ("-5", "nope", "99999999999"):
        _send(server, "POST", CREATE_PATH, [_bearer(server), ("Content-Length", length)])
    assert q(client, "SELECT COUNT() FROM Lead") == [[SIZES["Lead"]]]


@pytest.mark.parametrize(
    "header",
    [
        "{sid}",
        " {sid}",
        "Bearer",
        "Bearer ",
        "Basic {sid}",
        "OAuth {sid}",
        "Token {sid}",
        "Bearer{sid}",
        "{sid} Bearer",
        "Bearer {sid} {sid}",
        "Bearer {sid}x",
        "Bearer t\u00f8ken",
        "Bearer Bearer {sid}",
    ],
)
def test_authorization_needs_the_bearer_scheme(server: SandboxServer, header: str) -> None:
    value = header.format(sid=server.session_id)
    status, body, _, _ = _send(server, "GET", QUERY_PATH, [("Authorization", value)])
    assert status == 401, (header, body)
    assert body == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_bearer_scheme_is_case_insensitive(server: SandboxServer) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        status, body, _, _ = _send(
            server, "GET", QUERY_PATH, [("Authorization", f"{scheme} {server.session_id}")]
        )
        assert status == 200 and body["totalSize"] == SIZES["Lead"]
    status, _, _, _ = _send(server, "GET", QUERY_PATH, [])
    assert status == 401


def test_server_refuses_deep_and_side_effecting_soql_itself(raw: Salesforce) -> None:
    for soql in (
        "SELECT Id FROM Account WHERE " + "(" * 60 + "Name = 'x'" + ")" * 60,
        "SELECT Id FROM Account WHERE " + "NOT " * 500 + "Name = 'x'",
        "SELECT Id FROM Account WHERE Name = " + "=".join(["'x'"] * 900),
        "SELECT Id FROM Account LIMIT 1 FOR UPDATE",
        "SELECT Id FROM Account FOR VIEW",
        "SELECT Id FROM Account USING SCOPE bogus",
    ):
        with pytest.raises(sf_exc.SalesforceMalformedRequest) as info:  # a 400, not a 500
            raw.query(soql)
        assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY", soql
