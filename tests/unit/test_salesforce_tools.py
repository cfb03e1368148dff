"""Unit tests for tools/salesforce/: no network, a stand-in org built from the demo spec."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import exceptions as sf_exc

import tools.salesforce.client as sf_client
from tools.salesforce import (
    ENV_VARS,
    SalesforceClient,
    SalesforceCredentials,
    SalesforceError,
    SoqlQuery,
    SoqlResult,
    SoqlValidationError,
    map_salesforce_exception,
    missing_credentials_message,
)

# --------------------------------------------------------------------------------------
# A stand-in org built from /work/shared/spec/demo_domain.md section 2
# --------------------------------------------------------------------------------------

INDUSTRIES = [
    "Agriculture",
    "Banking",
    "Education",
    "Energy",
    "Healthcare",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Telecommunications",
]
LEAD_SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Perception Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]

# object -> [(field, type, extra)]; extra: picklist values, or the referenced object
SPEC: dict[str, list[tuple[str, str, Any]]] = {
    "Account": [
        ("Id", "id", None),
        ("Name", "string", None),
        ("Industry", "picklist", INDUSTRIES),
        ("Type", "picklist", ["Prospect", "Customer - Direct", "Customer - Channel", "Partner"]),
        ("BillingCity", "string", None),
        ("BillingCountry", "string", None),
        ("AnnualRevenue", "currency", None),
        ("NumberOfEmployees", "int", None),
        ("CreatedDate", "datetime", None),
    ],
    "Contact": [
        ("Id", "id", None),
        ("FirstName", "string", None),
        ("LastName", "string", None),
        ("Email", "email", None),
        ("Phone", "phone", None),
        ("Title", "string", None),
        ("AccountId", "reference", "Account"),
        ("CreatedDate", "datetime", None),
    ],
    "Opportunity": [
        ("Id", "id", None),
        ("Name", "string", None),
        ("AccountId", "reference", "Account"),
        ("Amount", "currency", None),
        ("StageName", "picklist", STAGES),
        ("CloseDate", "date", None),
        ("Probability", "percent", None),
        ("Type", "picklist", ["New Business", "Existing Business"]),
        ("LeadSource", "picklist", LEAD_SOURCES),
        ("IsClosed", "boolean", None),
        ("IsWon", "boolean", None),
        ("CreatedDate", "datetime", None),
    ],
    "Lead": [
        ("Id", "id", None),
        ("FirstName", "string", None),
        ("LastName", "string", None),
        ("Company", "string", None),
        ("Email", "email", None),
        ("Phone", "phone", None),
        (
            "Status",
            "picklist",
            [
                "Open - Not Contacted",
                "Working - Contacted",
                "Closed - Converted",
                "Closed - Not Converted",
            ],
        ),
        ("LeadSource", "picklist", LEAD_SOURCES),
        ("Industry", "picklist", INDUSTRIES),
        ("Rating", "picklist", ["Hot", "Warm", "Cold"]),
        ("CreatedDate", "datetime", None),
    ],
    "Case": [
        ("Id", "id", None),
        ("Subject", "string", None),
        ("Description", "textarea", None),
        ("Status", "picklist", ["New", "Working", "Escalated", "Closed"]),
        ("Priority", "picklist", ["High", "Medium", "Low"]),
        ("Origin", "picklist", ["Phone", "Email", "Web"]),
        ("AccountId", "reference", "Account"),
        ("ContactId", "reference", "Contact"),
        ("CreatedDate", "datetime", None),
        ("ClosedDate", "datetime", None),
    ],
}


def build_describe(sobject: str) -> dict[str, Any]:
    """A describe()-shaped dict for one spec object."""
    fields: list[dict[str, Any]] = []
    for name, ftype, extra in SPEC[sobject]:
        entry: dict[str, Any] = {
            "name": name,
            "type": ftype,
            "relationshipName": None,
            "referenceTo": [],
            "picklistValues": [],
        }
        if ftype == "reference":
            entry["relationshipName"] = name[:-2]  # AccountId -> Account
            entry["referenceTo"] = [extra]
        if ftype == "picklist":
            entry["picklistValues"] = [{"value": v, "label": v, "active": True} for v in extra]
        if ftype == "textarea":  # long text areas cannot be filtered, grouped or sorted
            entry.update(filterable=False, groupable=False, sortable=False)
        fields.append(entry)
    children = [
        {"relationshipName": rel, "childSObject": child, "field": fld}
        for child, rel, fld, parent in (
            ("Contact", "Contacts", "AccountId", "Account"),
            ("Opportunity", "Opportunities", "AccountId", "Account"),
            ("Case", "Cases", "AccountId", "Account"),
            ("Case", "Cases", "ContactId", "Contact"),
        )
        if parent == sobject
    ]
    return {"name": sobject, "fields": fields, "childRelationships": children}


class FakeSObject:
    def __init__(self, org: FakeOrg, name: str) -> None:
        self._org = org
        self._name = name

    def describe(self) -> dict[str, Any]:
        self._org.describe_calls.append(self._name)
        return build_describe(self._name)


class FakeOrg:
    """Stands in for simple_salesforce.Salesforce: describe, query and query_all_iter."""

    def __init__(
        self,
        records: list[dict[str, Any]] | None = None,
        *,
        global_describe: bool = True,
        error: BaseException | None = None,
        total_size: int = 0,
    ) -> None:
        self.records = records or []
        self.global_describe = global_describe
        self.error = error
        self.total_size = total_size
        self.describe_calls: list[str] = []
        self.queries: list[str] = []
        self.yielded = 0

    def __getattr__(self, name: str) -> FakeSObject:
        if name in SPEC:
            return FakeSObject(self, name)
        raise AttributeError(name)

    def describe(self) -> dict[str, Any]:
        if not self.global_describe:
            raise sf_exc.SalesforceResourceNotFound("url", 404, "describe", b"")
        return {"sobjects": [{"name": n} for n in [*SPEC, "User"]]}

    def query(self, soql: str) -> dict[str, Any]:
        self.queries.append(soql)
        if self.error is not None:
            raise self.error
        return {"totalSize": self.total_size, "done": True, "records": []}

    def query_all_iter(self, soql: str) -> Iterator[dict[str, Any]]:
        self.queries.append(soql)
        if self.error is not None:
            raise self.error
        for record in self.records:
            self.yielded += 1
            yield record


@pytest.fixture
def org() -> FakeOrg:
    return FakeOrg()


@pytest.fixture
def client(org: FakeOrg) -> SalesforceClient:
    return SalesforceClient(org)


# --------------------------------------------------------------------------------------
# The action model
# --------------------------------------------------------------------------------------


def test_soql_query_model_schema_is_flat() -> None:
    schema = SoqlQuery.model_json_schema()
    assert set(schema["properties"]) == {"action", "soql"}
    assert schema["required"] == ["soql"]
    assert "$defs" not in schema
    assert "SELECT Name, Amount FROM Opportunity" in schema["properties"]["soql"]["description"]
    action = SoqlQuery.model_validate_json('{"soql": "SELECT Id FROM Account"}')
    assert action.action == "query"
    with pytest.raises(ValueError):
        SoqlQuery.model_validate({"action": "delete", "soql": "x"})
    with pytest.raises(ValueError):
        SoqlQuery.model_validate({"soql": "x", "extra": 1})


# --------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------


def test_credentials_password_option() -> None:
    creds = SalesforceCredentials.from_env(
        {
            "SF_USERNAME": "ops@example.com",
            "SF_PASSWORD": "hunter2-pass",
            "SF_SECURITY_TOKEN": "tok3n-secret",
            "SF_DOMAIN": "test",
        }
    )
    assert creds is not None
    assert creds.kind == "password"
    assert (creds.username, creds.password, creds.security_token, creds.domain) == (
        "ops@example.com",
        "hunter2-pass",
        "tok3n-secret",
        "test",
    )
    text = repr(creds) + str(creds)
    assert "ops@example.com" in text and "test" in text
    assert "hunter2-pass" not in text and "tok3n-secret" not in text


def test_credentials_domain_is_optional_and_normalised() -> None:
    base = {"SF_USERNAME": "u@x.com", "SF_PASSWORD": "p", "SF_SECURITY_TOKEN": "t"}
    creds = SalesforceCredentials.from_env(base)
    assert creds is not None and creds.domain is None
    creds = SalesforceCredentials.from_env({**base, "SF_DOMAIN": "https://test.salesforce.com/"})
    assert creds is not None and creds.domain == "test"


def test_credentials_session_option() -> None:
    session = "00D5g000004XyZa!AQ4AQFakeSessionTokenValue.abc"
    creds = SalesforceCredentials.from_env(
        {"SF_INSTANCE_URL": "acme.my.salesforce.com", "SF_SESSION_ID": session}
    )
    assert creds is not None
    assert creds.kind == "session"
    assert creds.instance_url == "https://acme.my.salesforce.com"
    assert creds.session_id == session
    assert session not in repr(creds)
    assert "acme.my.salesforce.com" in repr(creds)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"SF_USERNAME": "u@x.com", "SF_PASSWORD": "p"},
        {"SF_USERNAME": "u@x.com", "SF_PASSWORD": "p", "SF_SECURITY_TOKEN": "   "},
        {"SF_INSTANCE_URL": "https://acme.my.salesforce.com"},
        {"SF_SESSION_ID": "abc"},
        {"SF_PASSWORD": "p", "SF_SECURITY_TOKEN": "t", "SF_SESSION_ID": "abc"},
    ],
)
def test_incomplete_credentials_are_none(env: dict[str, str]) -> None:
    assert SalesforceCredentials.from_env(env) is None


def test_password_option_wins_when_both_are_complete() -> None:
    creds = SalesforceCredentials.from_env(
        {
            "SF_USERNAME": "u@x.com",
            "SF_PASSWORD": "p",
            "SF_SECURITY_TOKEN": "t",
            "SF_INSTANCE_URL": "https://acme.my.salesforce.com",
            "SF_SESSION_ID": "abc",
        }
    )
    assert creds is not None and creds.kind == "password"


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    assert SalesforceCredentials.from_env() is None
    monkeypatch.setenv("SF_INSTANCE_URL", "https://acme.my.salesforce.com")
    monkeypatch.setenv("SF_SESSION_ID", "abc")
    creds = SalesforceCredentials.from_env()
    assert creds is not None and creds.kind == "session"


def test_missing_credentials_message_names_every_variable() -> None:
    message = missing_credentials_message()
    for name in ENV_VARS:
        assert name in message
    assert set(ENV_VARS) == {
        "SF_USERNAME",
        "SF_PASSWORD",
        "SF_SECURITY_TOKEN",
        "SF_DOMAIN",
        "SF_INSTANCE_URL",
        "SF_SESSION_ID",
    }


def test_client_from_env_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SalesforceError) as info:
        SalesforceClient.from_env({})
    assert info.value.retryable is False
    assert info.value.code == "NOT_CONFIGURED"
    assert "SF_SESSION_ID" in info.value.message


# --------------------------------------------------------------------------------------
# connect()
# --------------------------------------------------------------------------------------


class RecordingSalesforce:
    calls: list[dict[str, Any]] = []

    def __init__(self, **kwargs: Any) -> None:
        RecordingSalesforce.calls.append(kwargs)


def test_connect_builds_salesforce_for_each_option(monkeypatch: pytest.MonkeyPatch) -> None:
    RecordingSalesforce.calls = []
    monkeypatch.setattr(sf_client, "Salesforce", RecordingSalesforce)
    SalesforceClient.connect(
        SalesforceCredentials(username="u@x.com", password="p", security_token="t", domain="test")
    )
    SalesforceClient.connect(
        SalesforceCredentials(instance_url="https://acme.my.salesforce.com", session_id="s")
    )
    sessions = [call.pop("session") for call in RecordingSalesforce.calls]
    assert all(s.get_adapter("https://x").__class__.__name__ == "_TimeoutAdapter" for s in sessions)
    assert RecordingSalesforce.calls == [
        {"username": "u@x.com", "password": "p", "security_token": "t", "domain": "test"},
        {"instance_url": "https://acme.my.salesforce.com", "session_id": "s"},
    ]


def test_connect_maps_authentication_failure_without_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(**kwargs: Any) -> None:
        raise sf_exc.SalesforceAuthenticationFailed(
            "INVALID_LOGIN",
            f"Invalid username, password, security token; or user locked out. "
            f"({kwargs['password']})",
        )

    monkeypatch.setattr(sf_client, "Salesforce", failing)
    creds = SalesforceCredentials(
        username="u@x.com", password="s3cret-pass", security_token="t0ken-value"
    )
    with pytest.raises(SalesforceError) as info:
        SalesforceClient.connect(creds)
    error = info.value
    assert error.retryable is False
    assert error.code == "AUTH_FAILED"
    assert "INVALID_LOGIN" in error.message and "sign-in failed" in error.message
    assert "s3cret-pass" not in error.message and "t0ken-value" not in error.message
    assert error.__cause__ is None and error.__suppress_context__


def test_connect_maps_network_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(**kwargs: Any) -> None:
        raise requests.exceptions.ConnectionError("Max retries exceeded with url: /services")

    monkeypatch.setattr(sf_client, "Salesforce", failing)
    with pytest.raises(SalesforceError) as info:
        SalesforceClient.connect(SalesforceCredentials(instance_url="https://x", session_id="s"))
    assert info.value.retryable is False
    assert info.value.code == "CONNECTION"


# --------------------------------------------------------------------------------------
# describe()
# --------------------------------------------------------------------------------------


def test_describe_is_cached_and_case_insensitive(client: SalesforceClient, org: FakeOrg) -> None:
    first = client.describe("Opportunity")
    assert first["name"] == "Opportunity"
    assert client.describe("opportunity") is first
    assert org.describe_calls == ["Opportunity"]


def test_describe_unknown_object(client: SalesforceClient) -> None:
    with pytest.raises(SalesforceError) as info:
        client.describe("Oportunity")
    assert info.value.retryable is True
    assert "no object `Oportunity`" in info.value.message
    assert "did you mean `Opportunity`" in info.value.message


def test_describe_failure_is_final() -> None:
    class Broken(FakeOrg):
        def __getattr__(self, name: str) -> Any:
            raise sf_exc.SalesforceExpiredSession("url", 401, "Account", b"")

    client = SalesforceClient(Broken(global_describe=False))
    with pytest.raises(SalesforceError) as info:
        client.describe("Account")
    assert info.value.retryable is False
    assert "expired" in info.value.message


# --------------------------------------------------------------------------------------
# validate_soql: accepted
# --------------------------------------------------------------------------------------

VALID = [
    "SELECT Id, Name FROM Account",
    "SELECT Name, Amount FROM Opportunity WHERE StageName = 'Closed Won' LIMIT 10",
    "select name, amount from opportunity where stagename = 'closed won'",
    "SELECT Name FROM Account WHERE Industry = 'Banking' AND (BillingCountry = 'USA' "
    "OR BillingCountry = 'Canada')",
    "SELECT Name FROM Account WHERE NOT Industry = 'Media'",
    "SELECT Name FROM Account WHERE Industry IN ('Banking', 'Retail')",
    "SELECT Name FROM Account WHERE Industry NOT IN ('Banking', 'Retail')",
    "SELECT Name FROM Account WHERE Name LIKE 'Acme%'",
    "SELECT Name, CloseDate FROM Opportunity WHERE CloseDate = THIS_QUARTER",
    "SELECT Name FROM Opportunity WHERE CreatedDate = LAST_N_DAYS:30",
    "SELECT LastName FROM Lead WHERE CreatedDate > LAST_YEAR AND CreatedDate < TODAY",
    "SELECT Name FROM Opportunity WHERE CloseDate >= 2024-01-01 AND CloseDate <= 2024-12-31",
    "SELECT Id FROM Case WHERE CreatedDate > 2024-01-01T00:00:00Z",
    "SELECT Name, Amount FROM Opportunity ORDER BY Amount DESC NULLS LAST LIMIT 5 OFFSET 5",
    "SELECT Name FROM Account ORDER BY Name ASC NULLS FIRST",
    "SELECT COUNT() FROM Contact",
    "SELECT COUNT() FROM Lead WHERE Rating = 'Hot'",
    "SELECT StageName, COUNT(Id) total, SUM(Amount) FROM Opportunity GROUP BY StageName",
    "SELECT StageName, COUNT(Id) n FROM Opportunity GROUP BY StageName HAVING COUNT(Id) > 5",
    "SELECT Industry, MAX(AnnualRevenue), AVG(NumberOfEmployees) FROM Account "
    "GROUP BY Industry ORDER BY Industry",
    "SELECT CALENDAR_YEAR(CloseDate), SUM(Amount) FROM Opportunity "
    "GROUP BY CALENDAR_YEAR(CloseDate)",
    "SELECT COUNT_DISTINCT(AccountId) FROM Opportunity WHERE IsWon = true",
    "SELECT FirstName, LastName, Account.Name FROM Contact",
    "SELECT FirstName, account.name FROM Contact WHERE Account.Industry = 'Energy'",
    "SELECT Subject, Contact.Email, Account.Name FROM Case WHERE Status != 'Closed'",
    "SELECT c.FirstName, c.Account.Name FROM Contact c",
    "SELECT Name, (SELECT LastName FROM Contacts) FROM Account",
    "SELECT Name FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity WHERE IsWon = true)",
    "SELECT Id FROM Case WHERE Priority = 'High' AND Origin = 'Web' AND Status <> 'Closed'",
    "SELECT Id FROM Opportunity WHERE Amount > 50000 AND Probability >= 50.5",
    "SELECT Id FROM Opportunity WHERE Amount = null",
    "SELECT Id FROM Account WHERE AnnualRevenue > -1",
    "SELECT Name FROM Account WHERE Name = 'O\\'Brien Ltd'",
    "SELECT Name FROM Account WITH SECURITY_ENFORCED",
    "SELECT Name FROM Account WHERE BillingCity = 'São Paulo'",
    "  SELECT Id FROM Account ;  ",
    "```sql\nSELECT Id FROM Account\n```",
    "```SELECT Id FROM Account```",
    "`SELECT Id FROM Account`",
    "SELECT Id,\n  Name\nFROM Account\nWHERE Type = 'Customer - Direct'",
    "SELECT Id FROM Opportunity WHERE StageName = 'Id. Decision Makers'",
    "SELECT Id FROM Opportunity WHERE StageName = 'Proposal/Price Quote'",
]


@pytest.mark.parametrize("soql", VALID)
def test_valid_soql_passes(client: SalesforceClient, soql: str) -> None:
    cleaned = client.validate_soql(soql)
    assert cleaned.upper().startswith("SELECT")
    assert not cleaned.endswith(";") and "`" not in cleaned


def test_validate_returns_cleaned_original_text(client: SalesforceClient) -> None:
    soql = "```soql\nSELECT Subject FROM Case WHERE CreatedDate = LAST_N_DAYS:7;\n```"
    assert (
        client.validate_soql(soql) == "SELECT Subject FROM Case WHERE CreatedDate = LAST_N_DAYS:7"
    )


def test_validation_without_global_describe() -> None:
    org = FakeOrg(global_describe=False)
    client = SalesforceClient(org)
    assert client.validate_soql("SELECT Account.Name FROM Contact")
    with pytest.raises(SoqlValidationError, match="no object `Widget`"):
        client.validate_soql("SELECT Id FROM Widget")


# --------------------------------------------------------------------------------------
# validate_soql: rejected
# --------------------------------------------------------------------------------------

REJECTED = [
    ("", "empty"),
    ("   ;  ", "empty"),
    ("```sql\n```", "empty"),
    ("DELETE FROM Account", "only read-only SELECT"),
    ("UPDATE Account SET Name = 'x'", "only read-only SELECT"),
    ("SELECT Id FROM Account; DELETE FROM Account", "only one SOQL statement"),
    ("SELECT Id FROM Account; SELECT Id FROM Contact", "only one SOQL statement"),
    ("SELECT Id FROM Account WHERE Name = 'a'; DROP x", "only one SOQL statement"),
    ("Show me all accounts", "starting with SELECT"),
    ("SELECT * FROM Account", "no `*`"),
    ("SELECT COUNT(*) FROM Account", "COUNT(*) is not SOQL; use COUNT() or COUNT(Id)"),
    ("SELECT Id FROM Widget", "no object `Widget` in this org"),
    ("SELECT Id FROM Acount", "did you mean `Account`?"),
    (
        "SELECT Name, Amout FROM Opportunity",
        "no field `Amout` on Opportunity; did you mean `Amount`?",
    ),
    ("SELECT Name FROM Opportunity WHERE Stage = 'Closed Won'", "did you mean `StageName`"),
    ("SELECT Name FROM Account ORDER BY Revenue", "no field `Revenue` on Account"),
    ("SELECT Id FROM Account GROUP BY Industri", "did you mean `Industry`"),
    ("SELECT Xyzzy FROM Account", "(fields: Id, Name, Industry"),
    (
        "SELECT Acount.Name FROM Contact",
        "no relationship `Acount` on Contact; did you mean `Account`?",
    ),
    (
        "SELECT Owner.Name FROM Contact",
        "no relationship `Owner` on Contact (relationships on Contact: Account)",
    ),
    (
        "SELECT Account.Nme FROM Contact",
        "no field `Nme` on Account (via Contact.Account); did you mean `Name`?",
    ),
    ("SELECT AccountId.Name FROM Contact", "write `Account.Name`"),
    ("SELECT Account FROM Contact", "is a relationship"),
    ("SELECT Name, (SELECT LastName FROM Contact) FROM Account", "did you mean `Contacts`?"),
    (
        "SELECT Name FROM Account WHERE Id IN (SELECT Foo FROM Opportunity)",
        "no field `Foo` on Opportunity",
    ),
    ("SELECT Name FROM Account JOIN Contact ON Contact.AccountId = Account.Id", "no JOIN"),
    ("SELECT DISTINCT Name FROM Account", "no DISTINCT"),
    ("SELECT Name AS n FROM Account", "no AS"),
    ("SELECT Name FROM Account WHERE Industry IS NULL", "= null"),
    ('SELECT Name FROM Account WHERE Name = "Acme"', "single quotes"),
    ("SELECT Name FROM Account WHERE Name = 'Acme", "not closed"),
    ("SELECT Name FROM Account WHERE Name = :acct", "bind variables"),
    ("SELECT LOWER(Name) FROM Account", "not a SOQL function"),
    ("SELECT Name FROM Opportunity WHERE CreatedDate = LAST_N_DAYS", "needs a number"),
    (
        "SELECT Name FROM Opportunity WHERE CreatedDate = LAST_N_DAY:30",
        "did you mean `LAST_N_DAYS`?",
    ),
    ("SELECT Name FROM Opportunity WHERE CloseDate = THIS_QUATER", "date literal THIS_QUARTER"),
    ("SELECT Name FROM Opportunity WHERE StageName = 'Closed-Won'", "did you mean 'Closed Won'?"),
    (
        "SELECT LastName FROM Lead WHERE Rating IN ('Hot', 'Lukewarm')",
        "did you mean 'Warm'? (values: 'Hot', 'Warm', 'Cold')",
    ),
    ("SELECT Name FROM Opportunity WHERE Amount > '1000'", "without quotes"),
    ("SELECT Name FROM Opportunity WHERE IsWon = 'true'", "true or false"),
    ("SELECT Name FROM Opportunity WHERE CloseDate > '2024-01-01'", "not quoted"),
    ("SELECT Name FROM Opportunity WHERE CreatedDate > 2024-01-01", "2024-01-01T00:00:00Z"),
    ("SELECT Name FROM Opportunity WHERE CloseDate > 2024-01-01T00:00:00Z", "without a time"),
    ("SELECT Name FROM Opportunity WHERE Name = TODAY", "date literals"),
    ("SELECT Name FROM Account WHERE NumberOfEmployees > Name", "not with another field"),
    ("SELECT Id FROM Case WHERE Description LIKE '%refund%'", "cannot be filtered"),
    ("SELECT SUM(Name) FROM Account", "needs a number field"),
    ("SELECT Name, COUNT(Id) FROM Account", "must be grouped or aggregated"),
    ("SELECT Name, COUNT() FROM Account", "COUNT() must stand alone"),
    ("SELECT Name FROM Account WHERE COUNT(Id) > 1", "HAVING"),
    ("SELECT Name FROM Account WHERE AnnualRevenue > NumberOfEmployees + 1", "arithmetic"),
    ("SELECT Name FROM Account LIMIT ten", "LIMIT takes a whole number"),
    ("SELECT Name FROM", "could not be parsed"),
    ("SELECT FROM Account", "at least one field"),
    ("SELECT Id FROM Account UNION SELECT Id FROM Contact", "UNION"),
    # FOR VIEW stamps LastViewedDate: a side effect (it was accepted before)
    ("SELECT Name FROM Account ORDER BY CreatedDate DESC LIMIT 10 FOR VIEW", "`FOR VIEW`"),
]


@pytest.mark.parametrize(("soql", "expected"), REJECTED)
def test_rejected_soql(client: SalesforceClient, soql: str, expected: str) -> None:
    with pytest.raises(SoqlValidationError) as info:
        client.validate_soql(soql)
    error = info.value
    assert error.retryable is True
    assert expected in error.message, error.message
    assert str(error) == error.message


def test_semicolon_inside_a_string_is_fine(client: SalesforceClient) -> None:
    assert client.validate_soql("SELECT Id FROM Account WHERE Name = 'a;b'")


def test_validation_never_queries(client: SalesforceClient, org: FakeOrg) -> None:
    client.validate_soql("SELECT Id FROM Account")
    assert org.queries == []


# --------------------------------------------------------------------------------------
# query()
# --------------------------------------------------------------------------------------


def contact(i: int, account: str | None) -> dict[str, Any]:
    return {
        "attributes": {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{i}"},
        "FirstName": f"First{i}",
        "LastName": f"Last{i}",
        "Account": None
        if account is None
        else {"attributes": {"type": "Account", "url": "/x"}, "Name": account},
    }


def test_query_flattens_relationships_and_drops_attributes() -> None:
    org = FakeOrg([contact(1, "Acme"), contact(2, None), contact(3, "Globex")])
    result = SalesforceClient(org).query("SELECT FirstName, LastName, Account.Name FROM Contact;")
    assert isinstance(result, SoqlResult)
    assert result.soql == "SELECT FirstName, LastName, Account.Name FROM Contact"
    assert org.queries == [result.soql]
    assert result.columns == ["FirstName", "LastName", "Account.Name"]
    assert result.rows == [
        ["First1", "Last1", "Acme"],
        ["First2", "Last2", None],
        ["First3", "Last3", "Globex"],
    ]
    assert result.truncated is False
    assert result.elapsed_s >= 0


def test_query_truncates_and_stops_reading() -> None:
    org = FakeOrg([contact(i, "Acme") for i in range(50)])
    result = SalesforceClient(org).query(
        "SELECT FirstName, Account.Name FROM Contact", row_limit=10
    )
    assert len(result.rows) == 10
    assert result.truncated is True
    assert org.yielded == 11


def test_query_exactly_at_limit_is_not_truncated() -> None:
    org = FakeOrg([contact(i, "Acme") for i in range(5)])
    result = SalesforceClient(org).query("SELECT FirstName FROM Contact", row_limit=5)
    assert len(result.rows) == 5 and result.truncated is False


def test_query_empty_result() -> None:
    result = SalesforceClient(FakeOrg([])).query("SELECT Id FROM Account")
    assert result.columns == [] and result.rows == [] and result.truncated is False


def test_query_aggregate_rows() -> None:
    org = FakeOrg(
        [
            {"attributes": {"type": "AggregateResult"}, "StageName": "Closed Won", "total": 12},
            {"attributes": {"type": "AggregateResult"}, "StageName": "Prospecting", "total": 3},
        ]
    )
    result = SalesforceClient(org).query(
        "SELECT StageName, COUNT(Id) total FROM Opportunity GROUP BY StageName"
    )
    assert result.columns == ["StageName", "total"]
    assert result.rows == [["Closed Won", 12], ["Prospecting", 3]]


def test_query_child_subquery_rows() -> None:
    org = FakeOrg(
        [
            {
                "attributes": {"type": "Account"},
                "Name": "Acme",
                "Contacts": {
                    "totalSize": 1,
                    "done": True,
                    "records": [{"attributes": {"type": "Contact"}, "LastName": "Smith"}],
                },
            }
        ]
    )
    result = SalesforceClient(org).query(
        "SELECT Name, (SELECT LastName FROM Contacts) FROM Account"
    )
    assert result.columns == ["Name", "Contacts"]
    assert result.rows == [["Acme", [{"LastName": "Smith"}]]]


def test_query_bare_count_uses_total_size() -> None:
    org = FakeOrg(total_size=42)
    result = SalesforceClient(org).query("SELECT COUNT() FROM Lead WHERE Rating = 'Hot'")
    assert result.columns == ["COUNT()"]
    assert result.rows == [[42]]


def test_query_validates_before_sending() -> None:
    org = FakeOrg([contact(1, "Acme")])
    with pytest.raises(SoqlValidationError):
        SalesforceClient(org).query("SELECT Nmae FROM Contact")
    assert org.queries == []


def test_query_rejects_bad_row_limit(client: SalesforceClient) -> None:
    with pytest.raises(ValueError):
        client.query("SELECT Id FROM Account", row_limit=0)


# --------------------------------------------------------------------------------------
# Exception mapping
# --------------------------------------------------------------------------------------

SESSION = "00D5g000004XyZaEAK!AQ4AQFakeSessionTokenValue"


def malformed(code: str, message: str) -> sf_exc.SalesforceMalformedRequest:
    return sf_exc.SalesforceMalformedRequest(
        "https://acme.my.salesforce.com/services/data/v59.0/query/?q=SELECT",
        400,
        "query",
        [{"message": message, "errorCode": code}],
    )


def test_malformed_request_is_retryable_with_salesforce_message() -> None:
    org = FakeOrg(error=malformed("INVALID_FIELD", "No such column 'Foo' on entity 'Contact'."))
    with pytest.raises(SalesforceError) as info:
        SalesforceClient(org).query("SELECT FirstName FROM Contact")
    error = info.value
    assert not isinstance(error, SoqlValidationError)
    assert error.retryable is True
    assert error.code == "INVALID_FIELD"
    assert "No such column 'Foo' on entity 'Contact'." in error.message
    assert isinstance(error.__cause__, sf_exc.SalesforceMalformedRequest)


@pytest.mark.parametrize(
    ("exc", "expected", "code"),
    [
        (
            sf_exc.SalesforceExpiredSession(
                "u",
                401,
                "query",
                [
                    {
                        "message": f"Session expired or invalid {SESSION}",
                        "errorCode": "INVALID_SESSION_ID",
                    }
                ],
            ),
            "session has expired",
            "INVALID_SESSION_ID",
        ),
        (
            sf_exc.SalesforceAuthenticationFailed("INVALID_LOGIN", "bad login"),
            "sign-in failed",
            "AUTH_FAILED",
        ),
        (
            sf_exc.SalesforceRefusedRequest(
                "u",
                403,
                "query",
                [{"message": "Insufficient privileges", "errorCode": "INSUFFICIENT_ACCESS"}],
            ),
            "refused",
            "INSUFFICIENT_ACCESS",
        ),
        (
            sf_exc.SalesforceResourceNotFound("u", 404, "query", b"[]"),
            "could not find query",
            "NOT_FOUND",
        ),
        (sf_exc.SalesforceGeneralError("u", 500, "query", "server exploded"), "error 500", None),
        (requests.exceptions.ConnectionError(f"Bearer {SESSION}"), "Could not reach", "CONNECTION"),
        (requests.exceptions.ReadTimeout("slow"), "did not answer", "TIMEOUT"),
        (RuntimeError(f"weird {SESSION}"), "RuntimeError", None),
    ],
)
def test_final_errors(exc: BaseException, expected: str, code: str | None) -> None:
    org = FakeOrg(error=exc)
    with pytest.raises(SalesforceError) as info:
        SalesforceClient(org, secrets=["hunter2"]).query("SELECT Id FROM Account")
    error = info.value
    assert error.retryable is False
    assert expected in error.message, error.message
    assert error.code == code
    assert SESSION not in error.message and "AQ4AQ" not in error.message


def test_mapping_scrubs_known_secrets_and_handles_text_bodies() -> None:
    exc = sf_exc.SalesforceMalformedRequest(
        "u", 400, "query", json.dumps([{"message": "bad token hunter2pw", "errorCode": "X"}])
    )
    error = map_salesforce_exception(exc, secrets=["hunter2pw"])
    assert error.retryable is True and error.code == "X"
    assert "hunter2pw" not in error.message and "***" in error.message
    error = map_salesforce_exception(
        sf_exc.SalesforceMalformedRequest("u", 400, "query", b"plain text problem")
    )
    assert "plain text problem" in error.message


def test_mapping_keeps_messages_short() -> None:
    exc = malformed("MALFORMED_QUERY", "x" * 5000)
    assert len(map_salesforce_exception(exc).message) < 700


def test_salesforce_error_passes_through() -> None:
    original = SalesforceError("already mapped", retryable=True)
    assert map_salesforce_exception(original) is original


@pytest.mark.parametrize(
    ("soql", "expected"),
    [
        ("SELECT Name FROM Account WHERE Name = 'x' AND", "near `AND`"),
        ("SELECT Name FROM Account WHERE Name = 'x' Industry = 'y'", "near `Industry`"),
        ("SELECT Name FROM Account WHERE 5 < NumberOfEmployees", "field on the left"),
        ("SELECT Name, Industry FROM Account GROUP BY Name", "field `Industry` must be grouped"),
        ("SELECT Subject FROM Case ORDER BY Description", "cannot be sorted"),
        ("SELECT DAY_ONLY(Name) FROM Account", "needs a date or datetime field"),
        ("SELECT Name FROM Account.Contact", "`Account.Contact` is not an object name"),
        ("SELECT 1 FROM Account", "SELECT lists fields"),
        ("SELECT 'x' FROM Account", "`'x'` is none of these"),
        (
            "SELECT Name FROM Account WHERE Name = 'a' OR Name = 'b' AND Type = 'Partner'",
            "parentheses",
        ),
        (
            "SELECT Name, (SELECT LastName, (SELECT Subject FROM Cases) FROM Contacts) "
            "FROM Account",
            "only appear in the outer query",
        ),
        (
            "SELECT Name FROM Account WHERE Id IN (SELECT AccountId, Id FROM Opportunity)",
            "exactly one",
        ),
    ],
)
def test_more_rejections(client: SalesforceClient, soql: str, expected: str) -> None:
    with pytest.raises(SoqlValidationError) as info:
        client.validate_soql(soql)
    assert expected in info.value.message, info.value.message
    assert "sqlglot" not in info.value.message and "<class" not in info.value.message


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FIELDS(ALL) FROM Account LIMIT 200",
        "select count() from account",
        "SELECT StageName, COUNT(Id) n FROM Opportunity GROUP BY StageName HAVING n > 2 "
        "ORDER BY n DESC",
        "SELECT Name FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2024",
        "SELECT MAX(CreatedDate) latest FROM Account",
        "SELECT Name FROM Account WHERE CreatedDate > 2024-01-01T10:00:00+02:00",
        "SELECT Name FROM Opportunity WHERE StageName = 'closed won'",
        "SELECT Id, Priority FROM Case WHERE Status = 'New' ORDER BY CreatedDate DESC",
    ],
)
def test_more_valid(client: SalesforceClient, soql: str) -> None:
    assert client.validate_soql(soql)


def test_describe_fixes_object_casing_via_global_describe(org: FakeOrg) -> None:
    client = SalesforceClient(org)
    assert client.describe("opportunity")["name"] == "Opportunity"
    assert client.validate_soql("SELECT name FROM opportunity")
    assert org.describe_calls == ["Opportunity"]


def test_happy_path_needs_no_global_describe() -> None:
    calls: list[str] = []

    class CountingOrg(FakeOrg):
        def describe(self) -> dict[str, Any]:
            calls.append("global")
            return super().describe()

    client = SalesforceClient(CountingOrg())
    assert client.validate_soql("SELECT Account.Name FROM Contact")
    assert calls == []
    with pytest.raises(SoqlValidationError):
        client.validate_soql("SELECT Id FROM Acount")
    assert calls == ["global"]
