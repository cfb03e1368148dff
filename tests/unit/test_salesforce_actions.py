"""Unit tests for the typed Salesforce actions: models, ids, values, credentials, validation,
preview and run against a stand-in org (no network)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests
from pydantic import ValidationError
from simple_salesforce import exceptions as sf_exc

import tools.salesforce.client as sf_client
from runtime.grammar import schema_to_gbnf
from tools.salesforce import (
    ALL_ENV_VARS,
    WRITE_ACTIONS,
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
    check_field_value,
    check_record_id,
    id_checksum,
    is_write,
    missing_credentials_message,
    to_18_char_id,
)
from tools.salesforce.session import _trusting_session
from tools.salesforce_sandbox.schema import describe_global, describe_object
from tools.salesforce_sandbox.seed import make_id
from tools.salesforce_sandbox.soql import date_range, translate

ACC, CON, OPP = make_id("Account", 1), make_id("Contact", 1), make_id("Opportunity", 1)


# --------------------------------------------------------------------------------------
# A stand-in org with the sandbox's describe() and a recording sobject API
# --------------------------------------------------------------------------------------


class FakeSObject:
    def __init__(self, org: SchemaOrg, name: str) -> None:
        self.org, self.name = org, name

    def describe(self) -> dict[str, Any]:
        described = describe_object(self.name)
        if described is None:
            raise sf_exc.SalesforceResourceNotFound("url", 404, self.name, b"")
        return described

    def get(self, record_id: str, **kwargs: Any) -> dict[str, Any]:
        self.org.calls.append(("get", self.name, record_id, kwargs))
        if self.org.missing:
            raise sf_exc.SalesforceResourceNotFound("url", 404, self.name, b"[]")
        fields = kwargs.get("params", {}).get("fields", "Id").split(",")
        return {"attributes": {"type": self.name}, **{f: f"<{f}>" for f in fields}}

    def create(self, values: dict[str, Any]) -> dict[str, Any]:
        self.org.calls.append(("create", self.name, values))
        return {"id": make_id(self.name, 5000), "success": True, "errors": []}

    def update(self, record_id: str, values: dict[str, Any]) -> int:
        self.org.calls.append(("update", self.name, record_id, values))
        return 204

    def delete(self, record_id: str) -> int:
        self.org.calls.append(("delete", self.name, record_id))
        return 204


class SchemaOrg:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.missing = False

    def __getattr__(self, name: str) -> FakeSObject:
        if name.startswith("_"):
            raise AttributeError(name)
        return FakeSObject(self, name)

    def describe(self) -> dict[str, Any]:
        return describe_global()

    def query_all_iter(self, soql: str) -> Any:
        self.calls.append(("query", soql))
        yield {"attributes": {"type": "Contact"}, "LastName": "Lovelace",
               "Account": {"attributes": {"type": "Account"}, "Name": "Acme"}}  # fmt: skip


@pytest.fixture
def org() -> SchemaOrg:
    return SchemaOrg()


@pytest.fixture
def client(org: SchemaOrg) -> SalesforceClient:
    return SalesforceClient(org)


def parse(payload: dict[str, Any]) -> Any:
    return ActionRequest.model_validate({"action": payload}).action


# --------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------


def test_action_request_schema_is_a_discriminated_union_that_makes_a_grammar() -> None:
    schema = ActionRequest.model_json_schema()
    variants = schema["properties"]["action"]
    assert variants["discriminator"]["propertyName"] == "action"
    assert set(variants["discriminator"]["mapping"]) == {
        "query", "get", "create", "update", "delete", "describe",
    }  # fmt: skip
    text = json.dumps(schema)
    assert '"pattern"' not in text and '"maxLength"' in text
    assert schema_to_gbnf(schema).strip()


def test_each_action_parses_and_extra_keys_are_refused() -> None:
    assert isinstance(parse({"action": "query", "soql": "SELECT Id FROM Account"}), QueryAction)
    assert isinstance(parse({"action": "get", "sobject": "Account", "record_id": ACC,
                             "fields": []}), GetAction)  # fmt: skip
    assert isinstance(parse({"action": "create", "sobject": "Lead", "values": {}}), CreateAction)
    values = {"Rating": "Hot", "NumberOfEmployees": 3, "X": None, "Y": 1.5, "Z": True}
    update = parse({"action": "update", "sobject": "Lead", "record_id": ACC, "values": values})
    assert isinstance(update, UpdateAction) and update.values == values
    assert isinstance(
        parse({"action": "delete", "sobject": "Lead", "record_id": ACC}), DeleteAction
    )
    assert isinstance(parse({"action": "describe", "sobject": "Lead"}), DescribeAction)
    for bad in (
        {"action": "drop", "sobject": "Lead"},
        {"action": "delete", "sobject": "Lead"},
        {"action": "describe", "sobject": "Lead", "soql": "x"},
        {"action": "update", "sobject": "Lead", "record_id": ACC, "values": {"A": [1]}},
    ):
        with pytest.raises(ValidationError):
            parse(bad)


def test_soql_query_keeps_working() -> None:
    assert SoqlQuery(soql="SELECT Id FROM Account").action == "query"
    assert "$defs" not in SoqlQuery.model_json_schema()


def test_is_write() -> None:
    assert WRITE_ACTIONS == {"create", "update", "delete"}
    assert is_write("create") and is_write(parse({"action": "delete", "sobject": "A",
                                                   "record_id": ACC}))  # fmt: skip
    assert not is_write(QueryAction(soql="x")) and not is_write("describe")


# --------------------------------------------------------------------------------------
# Ids and values
# --------------------------------------------------------------------------------------


def test_id_checksum_matches_salesforce() -> None:
    assert id_checksum("001D000000IqhSL") == "IAZ"
    assert to_18_char_id("001D000000IqhSL") == "001D000000IqhSLIAZ"
    assert to_18_char_id("001D000000IqhSLIAZ") == "001D000000IqhSLIAZ"


@pytest.mark.parametrize(
    ("record_id", "message"),
    [
        ("001D000000IqhS", "not a Salesforce Id"),
        ("001D000000IqhSL!", "not a Salesforce Id"),
        ("003D000000IqhSLIAZ", "an Id of Contact"),
        ("001D000000IqhSLIAA", "do not match"),
        ("", "not a Salesforce Id"),
    ],
)
def test_check_record_id_rejects(record_id: str, message: str) -> None:
    with pytest.raises(SoqlValidationError) as info:
        check_record_id(record_id, "Account", "001")
    assert message in info.value.message and info.value.code == "MALFORMED_ID"


def test_check_record_id_accepts_15_and_lowercase_checksum() -> None:
    assert check_record_id("001D000000IqhSL", "Account", "001") == "001D000000IqhSLIAZ"
    assert check_record_id("001D000000IqhSLiaz", "Account", "001") == "001D000000IqhSLiaz"


def fld(name: str, sobject: str = "Opportunity") -> dict[str, Any]:
    described = describe_object(sobject)
    assert described is not None
    return next(f for f in described["fields"] if f["name"] == name)


@pytest.mark.parametrize(
    ("field", "sobject", "value", "expected"),
    [
        ("Amount", "Opportunity", 10, 10),
        ("Amount", "Opportunity", "2500.50", 2500.5),
        ("NumberOfEmployees", "Account", 12.0, 12),
        ("Probability", "Opportunity", 0, 0),
        ("CloseDate", "Opportunity", "2024-02-29", "2024-02-29"),
        ("StageName", "Opportunity", "closed won", "Closed Won"),
        ("AccountId", "Opportunity", ACC[:15], ACC),
        ("Email", "Contact", "ada@example.com", "ada@example.com"),
        ("Title", "Contact", None, None),
        ("Name", "Account", 'O\'Brien "&" Sons', 'O\'Brien "&" Sons'),
    ],
)
def test_check_field_value_accepts(field: str, sobject: str, value: Any, expected: Any) -> None:
    assert check_field_value(sobject, fld(field, sobject), value) == expected


@pytest.mark.parametrize(
    ("field", "sobject", "value", "code"),
    [
        ("Amount", "Opportunity", "ten", "INVALID_TYPE_ON_FIELD"),
        ("Amount", "Opportunity", True, "INVALID_TYPE_ON_FIELD"),
        ("Amount", "Opportunity", float("nan"), "INVALID_TYPE_ON_FIELD"),
        ("NumberOfEmployees", "Account", 1.5, "INVALID_TYPE_ON_FIELD"),
        ("NumberOfEmployees", "Account", 10**9, "NUMBER_OUTSIDE_VALID_RANGE"),
        ("Probability", "Opportunity", -1, "NUMBER_OUTSIDE_VALID_RANGE"),
        ("CloseDate", "Opportunity", "31/01/2024", "INVALID_TYPE_ON_FIELD"),
        ("CreatedDate", "Opportunity", "2024-01-31", "INVALID_TYPE_ON_FIELD"),
        ("StageName", "Opportunity", "Won", "INVALID_PICKLIST_VALUE"),
        ("StageName", "Opportunity", None, "REQUIRED_FIELD_MISSING"),
        ("AccountId", "Opportunity", CON, "MALFORMED_ID"),
        ("Email", "Contact", "ada at example", "INVALID_EMAIL_ADDRESS"),
        ("FirstName", "Contact", "x" * 41, "STRING_TOO_LONG"),
        ("FirstName", "Contact", 7, "INVALID_TYPE_ON_FIELD"),
        ("IsWon", "Opportunity", "yes", "INVALID_TYPE_ON_FIELD"),
    ],
)
def test_check_field_value_rejects(field: str, sobject: str, value: Any, code: str) -> None:
    with pytest.raises(SoqlValidationError) as info:
        check_field_value(sobject, fld(field, sobject), value)
    assert info.value.code == code and info.value.retryable


# --------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------


def test_jwt_from_env_with_key_file_or_key() -> None:
    creds = SalesforceCredentials.from_env(
        {"SF_USERNAME": "u@x.com", "SF_CONSUMER_KEY": "3MVG9-consumer-key",
         "SF_PRIVATE_KEY_FILE": "/keys/server.key", "SF_DOMAIN": "test"}
    )  # fmt: skip
    assert creds is not None and creds.kind == "jwt"
    assert (creds.private_key_file, creds.domain) == ("/keys/server.key", "test")
    assert "3MVG9-consumer-key" not in repr(creds) and "/keys/server.key" in repr(creds)
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEsecret\n-----END PRIVATE KEY-----"
    creds = SalesforceCredentials.from_env(
        {"SF_USERNAME": "u@x.com", "SF_CONSUMER_KEY": "ck", "SF_PRIVATE_KEY": pem}
    )
    assert creds is not None and creds.kind == "jwt" and creds.private_key == pem
    assert "MIIEsecret" not in repr(creds) and pem in creds.secrets


def test_client_credentials_from_env() -> None:
    base = {"SF_CONSUMER_KEY": "ck-123456", "SF_CONSUMER_SECRET": "cs-abcdef"}
    creds = SalesforceCredentials.from_env({**base, "SF_DOMAIN": "acme.my"})
    assert creds is not None and creds.kind == "client_credentials" and creds.domain == "acme.my"
    creds = SalesforceCredentials.from_env(
        {**base, "SF_INSTANCE_URL": "https://acme.my.salesforce.com"}
    )
    assert creds is not None and creds.kind == "client_credentials" and creds.domain == "acme.my"
    assert "cs-abcdef" not in repr(creds) and "ck-123456" not in str(creds)
    assert SalesforceCredentials.from_env({**base, "SF_DOMAIN": "login"}) is None


def test_ca_bundle_rides_along_and_every_variable_is_documented() -> None:
    creds = SalesforceCredentials.from_env(
        {"SF_INSTANCE_URL": "https://127.0.0.1:8443", "SF_SESSION_ID": "sid-secret",
         "SF_CA_BUNDLE": "/tmp/cert.pem"}
    )  # fmt: skip
    assert creds is not None and creds.ca_bundle == "/tmp/cert.pem"
    assert "/tmp/cert.pem" in repr(creds) and "sid-secret" not in repr(creds)
    for name in ALL_ENV_VARS:
        if name not in ("SF_PRIVATE_KEY", "SF_CA_BUNDLE"):
            assert name in missing_credentials_message()


class Recorder:
    calls: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        Recorder.calls.append(kwargs)


def test_connect_passes_each_option_to_simple_salesforce(monkeypatch: pytest.MonkeyPatch) -> None:
    Recorder.calls = []
    monkeypatch.setattr(sf_client, "Salesforce", Recorder)
    SalesforceClient.connect(
        SalesforceCredentials(username="u", consumer_key="ck", private_key_file="/k", domain="test")
    )
    SalesforceClient.connect(
        SalesforceCredentials(consumer_key="ck", consumer_secret="cs", domain="acme.my")
    )
    SalesforceClient.connect(
        SalesforceCredentials(instance_url="https://127.0.0.1:1", session_id="s", ca_bundle="/c")
    )
    jwt, client_credentials, sandbox = Recorder.calls
    # Every connection gets a session that carries the default HTTP timeout.
    assert isinstance(jwt.pop("session"), requests.Session)
    assert isinstance(client_credentials.pop("session"), requests.Session)
    assert jwt == {"username": "u", "consumer_key": "ck", "privatekey_file": "/k",
                   "privatekey": None, "domain": "test"}  # fmt: skip
    assert client_credentials == {"consumer_key": "ck", "consumer_secret": "cs",
                                  "domain": "acme.my"}  # fmt: skip
    session = sandbox.pop("session")
    assert sandbox == {"instance_url": "https://127.0.0.1:1", "session_id": "s"}
    assert isinstance(session, requests.Session) and session.verify == "/c"


def test_ca_bundle_beats_requests_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_send(self: Any, request: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["verify"])
        raise requests.exceptions.ConnectionError("stop here")

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake_send)
    session = _trusting_session("/sandbox/cert.pem")
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get("https://127.0.0.1:9/")
    assert seen == ["/sandbox/cert.pem"]


# --------------------------------------------------------------------------------------
# validate_action, preview and run
# --------------------------------------------------------------------------------------


def test_validate_action_normalises_names_ids_and_values(client: SalesforceClient) -> None:
    checked = client.validate_action(
        parse({"action": "update", "sobject": "opportunity", "record_id": OPP[:15],
               "values": {"stagename": "closed won", "amount": "1200"}})
    )  # fmt: skip
    assert checked == UpdateAction(
        action="update", sobject="Opportunity", record_id=OPP,
        values={"StageName": "Closed Won", "Amount": 1200},
    )  # fmt: skip
    got = client.validate_action(
        parse({"action": "get", "sobject": "Case", "record_id": make_id("Case", 1),
               "fields": ["subject", "contact.account.name", "Subject", "Case.Status"]})
    )  # fmt: skip
    assert isinstance(got, GetAction)
    assert got.fields == ["Subject", "Contact.Account.Name", "Status"]
    assert client.validate_action(DescribeAction(action="describe", sobject="LEAD")).sobject == (
        "Lead"
    )
    query = client.validate_action(QueryAction(soql="```sql\nSELECT Id FROM Lead;\n```"))
    assert query == QueryAction(soql="SELECT Id FROM Lead")


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"action": "describe", "sobject": "Acount"}, "did you mean `Account`"),
        ({"action": "get", "sobject": "Account", "record_id": ACC, "fields": ["Nmae"]},
         "did you mean `Name`"),
        ({"action": "get", "sobject": "Contact", "record_id": CON, "fields": ["Account"]},
         "is a relationship"),
        ({"action": "create", "sobject": "Contact", "values": {"FirstName": "Ada"}},
         "needs `LastName`"),
        ({"action": "create", "sobject": "Opportunity", "values": {"Name": "x"}},
         "`StageName`, `CloseDate`"),
        ({"action": "update", "sobject": "Account", "record_id": ACC,
          "values": {"CreatedDate": "2024-01-01T00:00:00Z"}}, "fields you can set: Name"),
        ({"action": "update", "sobject": "Contact", "record_id": CON,
          "values": {"Account.Name": "x"}}, "set `AccountId`"),
        ({"action": "delete", "sobject": "Contact", "record_id": ACC},
         "Contact Ids start with 003"),
        ({"action": "query", "soql": "DELETE FROM Lead"}, "read-only"),
    ],
)  # fmt: skip
def test_validate_action_hints(
    client: SalesforceClient, payload: dict[str, Any], needle: str
) -> None:
    with pytest.raises(SalesforceError) as info:
        client.validate_action(parse(payload))
    assert needle in info.value.message and info.value.retryable


def test_preview_shows_every_field_exactly(client: SalesforceClient) -> None:
    text = client.preview(
        parse({"action": "create", "sobject": "contact",
               "values": {"lastname": "O'Brien \"Jr\"", "AccountId": ACC, "Title": None}})
    )  # fmt: skip
    assert text == (
        "CREATE a new Contact record with 3 field(s):\n"
        '  LastName  = "O\'Brien \\"Jr\\""\n'
        f'  AccountId = "{ACC}"\n'
        "  Title     = null (clears the field)"
    )
    text = client.preview(
        parse({"action": "update", "sobject": "Opportunity", "record_id": OPP,
               "values": {"Amount": 5, "StageName": "Closed Lost"}})
    )  # fmt: skip
    assert text.splitlines() == [
        f"UPDATE the Opportunity record {OPP}: set 2 field(s), leaving the others unchanged:",
        "  Amount    = 5",
        '  StageName = "Closed Lost"',
    ]
    assert client.preview(
        DeleteAction(action="delete", sobject="Account", record_id=ACC)
    ).startswith(f"DELETE the Account record {ACC}.")
    assert "read-only" in client.preview(QueryAction(soql="SELECT Id FROM Lead"))


def test_run_uses_the_sobject_api(client: SalesforceClient, org: SchemaOrg) -> None:
    created = client.run(parse({"action": "create", "sobject": "lead",
                                "values": {"lastname": "Hopper", "company": "Navy"}}))  # fmt: skip
    assert created.record_id == make_id("Lead", 5000)
    assert created.columns == ["Id", "LastName", "Company"]
    client.run(UpdateAction(action="update", sobject="Lead", record_id=created.record_id,
                            values={"Rating": "hot"}))  # fmt: skip
    client.run(DeleteAction(action="delete", sobject="Lead", record_id=created.record_id))
    got = client.run(GetAction(action="get", sobject="Lead", record_id=created.record_id,
                               fields=["rating", "Email"]))  # fmt: skip
    assert got.columns == ["Rating", "Email"] and got.rows == [["<Rating>", "<Email>"]]
    assert org.calls == [
        ("create", "Lead", {"LastName": "Hopper", "Company": "Navy"}),
        ("update", "Lead", created.record_id, {"Rating": "Hot"}),
        ("delete", "Lead", created.record_id),
        ("get", "Lead", created.record_id, {"params": {"fields": "Rating,Email"}}),
    ]
    assert created.http_s >= 0 and created.validation_s >= 0
    assert created.elapsed_s >= created.http_s


def test_get_with_paths_builds_soql_with_format_soql(
    client: SalesforceClient, org: SchemaOrg
) -> None:
    result = client.run(GetAction(action="get", sobject="Contact", record_id=CON[:15],
                                  fields=["LastName", "account.name"]))  # fmt: skip
    assert org.calls == [
        ("query", f"SELECT LastName, Account.Name FROM Contact WHERE Id = '{CON}'")
    ]
    assert result.columns == ["LastName", "Account.Name"]
    assert result.rows == [["Lovelace", "Acme"]]


def test_describe_action_rows(client: SalesforceClient) -> None:
    result = client.run(DescribeAction(action="describe", sobject="Opportunity"))
    rows = {r[0]: r for r in result.rows}
    assert rows["AccountId"][1] == "reference → Account"
    assert rows["Type"][2] == "New Business, Existing Business"
    assert result.record_id is None and not result.truncated


def test_missing_record_is_a_repair_hint(client: SalesforceClient, org: SchemaOrg) -> None:
    org.missing = True
    with pytest.raises(SalesforceError) as info:
        client.run(GetAction(action="get", sobject="Account", record_id=ACC, fields=["Name"]))
    assert info.value.code == "NOT_FOUND" and info.value.retryable
    assert ACC in info.value.message


def test_rejected_writes_never_reach_the_org(client: SalesforceClient, org: SchemaOrg) -> None:
    for payload in (
        {"action": "update", "sobject": "Account", "record_id": ACC, "values": {"Id": ACC}},
        {"action": "create", "sobject": "Account", "values": {"Name": "x" * 300}},
        {"action": "delete", "sobject": "Account", "record_id": CON},
    ):
        with pytest.raises(SoqlValidationError):
            client.run(parse(payload))
    assert org.calls == []


# --------------------------------------------------------------------------------------
# The sandbox's SOQL translation (pure functions)
# --------------------------------------------------------------------------------------

WEDNESDAY = dt.date(2024, 5, 15)


@pytest.mark.parametrize(
    ("literal", "start", "end"),
    [
        ("TODAY", "2024-05-15", "2024-05-16"),
        ("YESTERDAY", "2024-05-14", "2024-05-15"),
        ("THIS_WEEK", "2024-05-12", "2024-05-19"),
        ("LAST_WEEK", "2024-05-05", "2024-05-12"),
        ("THIS_MONTH", "2024-05-01", "2024-06-01"),
        ("THIS_QUARTER", "2024-04-01", "2024-07-01"),
        ("LAST_QUARTER", "2024-01-01", "2024-04-01"),
        ("NEXT_QUARTER", "2024-07-01", "2024-10-01"),
        ("THIS_YEAR", "2024-01-01", "2025-01-01"),
        ("LAST_FISCAL_YEAR", "2023-01-01", "2024-01-01"),
        ("LAST_N_DAYS:30", "2024-04-15", "2024-05-16"),
        ("NEXT_N_DAYS:7", "2024-05-15", "2024-05-23"),
        ("LAST_90_DAYS", "2024-02-15", "2024-05-16"),
        ("N_MONTHS_AGO:1", "2024-04-01", "2024-05-01"),
        ("LAST_N_YEARS:2", "2022-01-01", "2024-01-01"),
        ("NEXT_N_QUARTERS:2", "2024-07-01", "2025-01-01"),
        ("N_DAYS_AGO:15", "2024-04-30", "2024-05-01"),
    ],
)
def test_date_ranges(literal: str, start: str, end: str) -> None:
    assert date_range(literal, WEDNESDAY) == (
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(end),
    )


def test_date_range_outside_the_calendar() -> None:
    with pytest.raises(SoqlValidationError):
        date_range("LAST_N_YEARS:5000", WEDNESDAY)


def test_translation_keeps_values_out_of_the_sql() -> None:
    plan = translate(
        "SELECT LastName, Account.Name FROM Contact WHERE LastName = 'x\\' OR 1=1 --' "
        "AND CreatedDate = LAST_N_DAYS:7 ORDER BY LastName DESC LIMIT 3",
        today=WEDNESDAY,
    )
    assert "OR 1=1" not in plan.sql and "x' OR 1=1 --" in plan.params
    assert plan.params[1:] == ["2024-05-08T00:00:00.000+0000", "2024-05-16T00:00:00.000+0000"]
    assert 'LEFT JOIN "Account"' in plan.sql and "DESC NULLS LAST LIMIT 3" in plan.sql
    assert [i.path for i in plan.items] == [["LastName"], ["Account", "Name"]]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Nme FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Acount", "INVALID_TYPE"),
        ("SELECT Name, (SELECT LastName FROM Contacts) FROM Account", "MALFORMED_QUERY"),
        ("SELECT Industry, COUNT(Id) FROM Account GROUP BY ROLLUP(Industry)", "MALFORMED_QUERY"),
    ],
)
def test_translation_errors(soql: str, code: str) -> None:
    with pytest.raises(SoqlValidationError) as info:
        translate(soql, today=WEDNESDAY)
    assert info.value.code == code


# --------------------------------------------------------------------------------------
# Grounding: Ids copied from the request, repairs that keep the action kind
# --------------------------------------------------------------------------------------


def _answer(client: SalesforceClient, request: str, replies: list[dict[str, Any]]) -> Any:
    from specialists.base import Timer
    from specialists.salesforce import SalesforceSettings, answer_salesforce
    from tests.fakes import ScriptedChatModel

    model = ScriptedChatModel.of([json.dumps({"action": r}) for r in replies], repeat_last=True)
    answer = answer_salesforce(model, client, request, SalesforceSettings(max_repairs=2), Timer())
    return answer, model


def test_a_retyped_id_is_replaced_by_the_one_the_request_holds(client: SalesforceClient) -> None:
    lead = make_id("Lead", 7)
    retyped = lead[:5] + lead[6:] + "0"  # one zero dropped, one added at the end
    answer, _ = _answer(
        client,
        f"Set the rating of lead {lead} to Cold.",
        [
            {
                "action": "update",
                "sobject": "Lead",
                "record_id": retyped,
                "values": {"Rating": "Cold"},
            }
        ],
    )
    assert answer.action is not None and answer.action.record_id == lead
    assert len(answer.attempts) == 1 and lead in answer.attempts[0]["query"]


def test_the_id_nearest_of_the_right_object_is_chosen(client: SalesforceClient) -> None:
    from specialists.salesforce import copy_ids, ids_in

    account, contact = make_id("Account", 4), make_id("Contact", 4)
    request = f"Link contact {contact} to account {account}."
    assert ids_in(request) == [contact, account]
    garbled = "001" + contact[3:9] + contact[10:] + "Q"  # an Account prefix, a digit lost
    action = parse(
        {
            "action": "update",
            "sobject": "Contact",
            "record_id": garbled,
            "values": {"AccountId": account.lower()},
        }
    )
    copied, problem = copy_ids(action, ids_in(request))
    assert problem is None and copied.record_id == contact  # a Contact Id for a Contact
    assert copied.values["AccountId"] == account


def test_a_write_to_a_record_the_request_does_not_name_is_not_guessed(
    client: SalesforceClient, org: SchemaOrg
) -> None:
    answer, model = _answer(
        client,
        "Delete the lead from Acme.",
        [{"action": "delete", "sobject": "Lead", "record_id": make_id("Lead", 3)}],
    )
    assert answer.action is None and len(model.calls) == 1  # final: no repair invents an Id
    assert "the request gives none" in answer.stopped
    assert not any(call[0] == "delete" for call in org.calls)


def test_a_repair_keeps_the_action_kind_of_the_first_attempt(client: SalesforceClient) -> None:
    from specialists.salesforce import kind_schema

    answer, model = _answer(
        client,
        "Who are our CEOs?",
        [
            {"action": "query", "soql": "SELECT LastName FROM Contact WHERE Titlez = 'CEO'"},
            {
                "action": "update",
                "sobject": "Lead",
                "record_id": make_id("Lead", 1),
                "values": {"Rating": "No such field Ratingz"},
            },  # fmt: skip
            {"action": "query", "soql": "SELECT LastName FROM Contact WHERE Title = 'CEO'"},
        ],
    )
    assert answer.action is not None and answer.action.action == "query"
    assert "write a query action" in (answer.attempts[1]["error"] or "")
    # The repairs decode under a schema that holds only query actions.
    assert model.calls[0][1]["format"] != kind_schema("query")
    assert model.calls[1][1]["format"] == kind_schema("query")
    assert '"update"' not in json.dumps(kind_schema("query"))


# --------------------------------------------------------------------------------------
# Grounding: picklist values as people write them
# --------------------------------------------------------------------------------------

STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Negotiation/Review", "Closed Won",
          "Closed Lost"]  # fmt: skip
LEAD_STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                 "Closed - Not Converted"]  # fmt: skip


@pytest.mark.parametrize(
    ("written", "allowed", "held"),
    [
        ("closed-won", STAGES, "Closed Won"),
        ("Negotiation", STAGES, "Negotiation/Review"),
        ("Qualifcation", STAGES, "Qualification"),
        ("workng", LEAD_STATUSES, "Working - Contacted"),
        ("closed converted", LEAD_STATUSES, "Closed - Converted"),
        ("Closed", STAGES, None),  # Won or Lost: not clear
        ("won", STAGES, None),
        ("Converted", LEAD_STATUSES, None),
        ("Shipped", STAGES, None),
    ],
)
def test_a_picklist_value_stands_for_a_held_value_only_when_that_is_clear(
    written: str, allowed: list[str], held: str | None
) -> None:
    from specialists.salesforce import held_value

    assert held_value(written, allowed) == held


def test_a_query_with_a_value_written_otherwise_runs_with_the_held_value(
    client: SalesforceClient, org: SchemaOrg
) -> None:
    answer, model = _answer(
        client,
        "deals in negotiation",
        [
            {
                "action": "query",
                "soql": "SELECT Name FROM Opportunity WHERE StageName = 'Negotiation'",
            }
        ],
    )
    assert answer.action is not None and len(model.calls) == 1
    assert (
        answer.action.soql == "SELECT Name FROM Opportunity WHERE StageName = 'Negotiation/Review'"
    )
    assert "'Negotiation/Review'" in answer.attempts[0]["query"]
    assert any("Negotiation/Review" in str(call) for call in org.calls)


def test_a_write_value_is_replaced_and_an_unclear_one_goes_back_to_the_model(
    client: SalesforceClient,
) -> None:
    lead = make_id("Lead", 2)
    update = {"action": "update", "sobject": "Lead", "record_id": lead}
    answer, _ = _answer(
        client, f"mark lead {lead} as workng", [update | {"values": {"Status": "workng"}}]
    )
    assert answer.action is not None and answer.action.values == {"Status": "Working - Contacted"}
    assert answer.preview is not None and len(answer.attempts) == 1  # a write waits for approval
    unclear, model = _answer(
        client,
        f"close lead {lead}",
        [
            update | {"values": {"Status": "Closed"}},
            update | {"values": {"Status": "Closed - Converted"}},
        ],
    )
    assert "is not a value of the picklist" in (unclear.attempts[0]["error"] or "")
    assert unclear.action is not None and len(model.calls) == 2


def test_the_model_is_shown_picklist_values_as_the_org_writes_them(
    client: SalesforceClient,
) -> None:
    from specialists.salesforce import picklist_values

    assert picklist_values(client)["Opportunity", "StageName"][-2:] == ["Closed Won", "Closed Lost"]
    soql = "SELECT Name FROM Opportunity WHERE StageName = 'Closed Won'"
    answer, model = _answer(client, "closed-won deals?", [{"action": "query", "soql": soql}])
    assert answer.action is not None
    assert "Request: Closed Won deals?" in str(model.calls[0][0][-1].content)


def test_a_decline_ends_the_subtask_at_once_and_takes_no_action(
    client: SalesforceClient, org: SchemaOrg
) -> None:
    from specialists.base import Timer
    from specialists.salesforce import DECLINED, SalesforceSettings, answer_salesforce
    from tests.fakes import ScriptedChatModel

    model = ScriptedChatModel.of(['{"decline": "cannot answer from this org"}'], repeat_last=True)
    answer = answer_salesforce(
        model, client, "What's the weather in Paris?", SalesforceSettings(), Timer()
    )
    assert answer.action is None and answer.stopped == DECLINED
    assert len(model.calls) == 1 and org.calls == []
    # Anything else that is neither an action nor the decline is repaired as before.
    broken = ScriptedChatModel.of(['{"decline": "no"}'], repeat_last=True)
    failed = answer_salesforce(broken, client, "Leads?", SalesforceSettings(), Timer())
    assert failed.stopped is None and len(broken.calls) == 3
    assert "does not fit the schema" in (failed.attempts[0]["error"] or "")
