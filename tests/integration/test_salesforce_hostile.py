"""Hostile actions against the sandbox org: each has an expected outcome, and a rejected
action never writes (record counts and write requests unchanged)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from tools.salesforce import ActionRequest, SalesforceClient, SalesforceError, is_write
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox
from tools.salesforce_sandbox.seed import SIZES, make_id

pytestmark = pytest.mark.integration

ACC, CON, OPP, LEAD, CASE = (
    make_id("Account", 1),
    make_id("Contact", 1),
    make_id("Opportunity", 1),
    make_id("Lead", 1),
    make_id("Case", 1),
)
TAMPERED = ACC[:-1] + ("A" if ACC[-1] != "A" else "B")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with start_sandbox(tmp_path_factory.mktemp("hostile"), page_size=50) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: SandboxServer) -> SalesforceClient:
    return sandbox_client(server)


def q(soql: str) -> dict[str, Any]:
    return {"action": "query", "soql": soql}


def get(sobject: str, record_id: str, fields: list[str]) -> dict[str, Any]:
    return {"action": "get", "sobject": sobject, "record_id": record_id, "fields": fields}


def create(sobject: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"action": "create", "sobject": sobject, "values": values}


def update(sobject: str, record_id: str, values: dict[str, Any]) -> dict[str, Any]:
    return {"action": "update", "sobject": sobject, "record_id": record_id, "values": values}


def delete(sobject: str, record_id: str) -> dict[str, Any]:
    return {"action": "delete", "sobject": sobject, "record_id": record_id}


# (name, action payload, outcome, code or text the error must carry)
# outcomes: "schema"  - the Pydantic model (the decoding grammar) refuses it;
#           "reject"  - validation refuses it before any HTTP write (retryable hint);
#           "server"  - it passes validation, the sandbox refuses it, nothing is written;
#           "ok"      - it runs, harmlessly, with the checked effect.
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # SOQL injection through request values and DML smuggled into SOQL
    ("soql-second-statement", q("SELECT Id FROM Account; DELETE FROM Account"), "reject",
     "one SOQL statement"),
    ("soql-delete", q("DELETE FROM Account"), "reject", "NOT_A_QUERY"),
    ("soql-update", q("UPDATE Account SET Name = 'x'"), "reject", "NOT_A_QUERY"),
    ("soql-insert", q("INSERT INTO Lead (LastName) VALUES ('x')"), "reject", "NOT_A_QUERY"),
    ("soql-upsert-inside", q("SELECT Id FROM Account WHERE Name = 'a' UPSERT"), "reject",
     "NOT_A_QUERY"),
    ("soql-union", q("SELECT Id FROM Account UNION SELECT Id FROM Lead"), "reject", "UNION"),
    ("soql-line-comment", q("SELECT Id FROM Account -- WHERE Name = 'x'"), "reject",
     "MALFORMED_QUERY"),
    ("soql-block-comment", q("SELECT Id FROM Account /* hidden */"), "reject", "unexpected"),
    ("soql-star", q("SELECT * FROM Account"), "reject", "no `*`"),
    ("soql-bind-variable", q("SELECT Id FROM Account WHERE Name = :name"), "reject",
     "bind variables"),
    ("soql-double-quotes", q('SELECT Id FROM Account WHERE Name = "x" OR "1"="1"'), "reject",
     "single quotes"),
    ("soql-unclosed-quote", q("SELECT Id FROM Account WHERE Name = 'x"), "reject", "not closed"),
    ("soql-join", q("SELECT a.Id FROM Account a JOIN Contact c ON c.AccountId = a.Id"),
     "reject", "JOIN"),
    ("soql-system-object", q("SELECT Id, Username FROM User"), "reject", "INVALID_TYPE"),
    ("soql-secret-field", q("SELECT Password FROM Account"), "reject", "INVALID_FIELD"),
    ("soql-escaped-quote-stays-a-value",
     q("SELECT Id FROM Account WHERE Name = 'x\\' OR Name != \\''"), "ok", "0 rows"),
    ("soql-too-long", q("SELECT Id FROM Account WHERE Name = '" + "a" * 4000 + "'"), "schema",
     "4000"),
    # injection through fields and names of get/describe
    ("get-field-smuggles-soql", get("Account", ACC, ["Name FROM Account WHERE Name != ''"]),
     "reject", "not a field name"),
    ("get-field-subquery", get("Account", ACC, ["(SELECT Id FROM Contacts)"]), "reject",
     "not a field name"),
    ("get-field-comma-list", get("Account", ACC, ["Name, Industry"]), "reject",
     "not a field name"),
    ("get-id-injection", get("Account", "001' OR Id != '", ["Name"]), "reject", "MALFORMED_ID"),
    ("get-id-path-traversal", get("Account", "001/../../Lead", ["Name"]), "reject",
     "MALFORMED_ID"),
    ("get-id-encoded-traversal", get("Account", "001%2F..%2FLead", ["Name"]), "reject",
     "MALFORMED_ID"),
    ("describe-injection", {"action": "describe", "sobject": "Account/../../limits"}, "reject",
     "INVALID_TYPE"),
    ("describe-unknown", {"action": "describe", "sobject": "Users"}, "reject", "INVALID_TYPE"),
    # fields that do not exist
    ("get-typo-field", get("Opportunity", OPP, ["Amout"]), "reject", "`Amount`"),
    ("get-bad-path", get("Contact", CON, ["Acount.Name"]), "reject", "INVALID_FIELD"),
    ("create-unknown-field", create("Account", {"Name": "x", "Revenue": 5}), "reject",
     "INVALID_FIELD"),
    ("create-custom-field", create("Lead", {"LastName": "x", "Company": "y", "Secret__c": "z"}),
     "reject", "INVALID_FIELD"),
    ("update-parent-path", update("Contact", CON, {"Account.Name": "Hijacked"}), "reject",
     "AccountId"),
    # writes to fields that are not createable / updateable
    ("update-id", update("Account", ACC, {"Id": make_id("Account", 2)}), "reject",
     "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ("update-created-date", update("Account", ACC, {"CreatedDate": "2020-01-01T00:00:00Z"}),
     "reject", "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ("update-is-closed", update("Opportunity", OPP, {"IsClosed": True}), "reject",
     "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ("update-is-won", update("Opportunity", OPP, {"IsWon": True}), "reject",
     "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ("create-is-won", create("Opportunity", {"Name": "x", "StageName": "Prospecting",
                                             "CloseDate": "2030-01-01", "IsWon": True}),
     "reject", "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ("update-closed-date", update("Case", CASE, {"ClosedDate": "2024-01-01T00:00:00Z"}),
     "reject", "INVALID_FIELD_FOR_INSERT_UPDATE"),
    ("create-with-id", create("Contact", {"LastName": "x", "Id": CON}), "reject",
     "INVALID_FIELD_FOR_INSERT_UPDATE"),
    # Ids of the wrong object, malformed or unknown
    ("update-contact-id-as-account", update("Account", CON, {"Name": "x"}), "reject",
     "an Id of Contact"),
    ("delete-account-id-as-opportunity", delete("Opportunity", ACC), "reject",
     "an Id of Account"),
    ("get-case-id-as-lead", get("Lead", CASE, ["Rating"]), "reject", "an Id of Case"),
    ("create-lead-as-account-ref", create("Contact", {"LastName": "x", "AccountId": LEAD}),
     "reject", "an Id of Lead"),
    ("update-account-as-contact-ref", update("Case", CASE, {"ContactId": ACC}), "reject",
     "an Id of Account"),
    ("create-self-ref", create("Opportunity", {"Name": "x", "StageName": "Prospecting",
                                               "CloseDate": "2030-01-01", "AccountId": OPP}),
     "reject", "an Id of Opportunity"),
    ("tampered-checksum", update("Account", TAMPERED, {"Name": "x"}), "reject",
     "do not match"),
    ("id-17-chars", delete("Account", ACC[:17]), "reject", "MALFORMED_ID"),
    ("id-too-long", delete("Account", ACC + "AAA"), "schema", "18"),
    ("unknown-account-update", update("Account", make_id("Account", 9999), {"Name": "x"}),
     "server", "NOT_FOUND"),
    ("unknown-account-delete", delete("Account", make_id("Account", 8888)), "server",
     "NOT_FOUND"),
    ("unknown-parent-ref", create("Contact", {"LastName": "x",
                                             "AccountId": make_id("Account", 7777)}),
     "server", "INVALID_CROSS_REFERENCE_KEY"),
    # oversized and out-of-range values
    ("name-256", create("Account", {"Name": "x" * 256}), "reject", "STRING_TOO_LONG"),
    ("first-name-41", update("Contact", CON, {"FirstName": "y" * 41}), "reject",
     "STRING_TOO_LONG"),
    ("company-10k", create("Lead", {"LastName": "x", "Company": "c" * 10_000}), "reject",
     "STRING_TOO_LONG"),
    ("description-over-grammar", create("Case", {"Description": "d" * 32_001}), "schema",
     "32000"),
    ("email-81", update("Contact", CON, {"Email": "a" * 70 + "@example.com"}), "reject",
     "STRING_TOO_LONG"),
    ("employees-huge", update("Account", ACC, {"NumberOfEmployees": 10**12}), "reject",
     "NUMBER_OUTSIDE_VALID_RANGE"),
    ("amount-huge", update("Opportunity", OPP, {"Amount": 1e20}), "reject",
     "NUMBER_OUTSIDE_VALID_RANGE"),
    ("probability-150", update("Opportunity", OPP, {"Probability": 150}), "reject",
     "NUMBER_OUTSIDE_VALID_RANGE"),
    # values of the wrong type
    ("revenue-text", update("Account", ACC, {"AnnualRevenue": "lots"}), "reject",
     "INVALID_TYPE_ON_FIELD"),
    ("employees-fraction", update("Account", ACC, {"NumberOfEmployees": 12.5}), "reject",
     "whole number"),
    ("employees-boolean", update("Account", ACC, {"NumberOfEmployees": True}), "reject",
     "not a boolean"),
    ("close-date-words", update("Opportunity", OPP, {"CloseDate": "next friday"}), "reject",
     "YYYY-MM-DD"),
    ("close-date-impossible", update("Opportunity", OPP, {"CloseDate": "2024-02-30"}), "reject",
     "YYYY-MM-DD"),
    ("phone-number-type", update("Contact", CON, {"Phone": 5551234}), "reject",
     "INVALID_TYPE_ON_FIELD"),
    ("email-invalid", update("Contact", CON, {"Email": "not-an-email"}), "reject",
     "INVALID_EMAIL_ADDRESS"),
    ("nul-character", update("Contact", CON, {"FirstName": "Ada\x00"}), "reject", "NUL"),
    ("nested-object-value", update("Account", ACC, {"Name": {"$ne": None}}), "schema", "Name"),
    # picklist values
    ("industry-unknown", update("Account", ACC, {"Industry": "Crypto"}), "reject",
     "INVALID_PICKLIST_VALUE"),
    ("stage-near-miss", update("Opportunity", OPP, {"StageName": "Closed Wonn"}), "reject",
     "'Closed Won'"),
    ("rating-unknown", create("Lead", {"LastName": "x", "Company": "y", "Rating": "Very Hot"}),
     "reject", "INVALID_PICKLIST_VALUE"),
    ("priority-injection", update("Case", CASE, {"Priority": "High'; DELETE FROM Case; --"}),
     "reject", "INVALID_PICKLIST_VALUE"),
    ("status-empty", update("Lead", LEAD, {"Status": ""}), "reject", "INVALID_PICKLIST_VALUE"),
    # required fields and malformed requests
    ("name-null", update("Opportunity", OPP, {"Name": None}), "reject",
     "REQUIRED_FIELD_MISSING"),
    ("opportunity-missing-required", create("Opportunity", {"Name": "x"}), "reject",
     "REQUIRED_FIELD_MISSING"),
    ("update-nothing", update("Account", ACC, {}), "reject", "REQUIRED_FIELD_MISSING"),
    ("field-set-twice", create("Account", {"Name": "x", "name": "y"}), "reject", "set twice"),
    ("unknown-action", {"action": "merge", "sobject": "Account"}, "schema", "merge"),
    ("extra-key", {"action": "query", "soql": "SELECT Id FROM Account", "sql": "DROP"},
     "schema", "sql"),
    ("delete-with-values", {"action": "delete", "sobject": "Account", "record_id": ACC,
                            "values": {"Name": "x"}}, "schema", "values"),
    # stored literally, never interpreted
    ("injection-stored-as-text", create("Account", {"Name": "x' OR Name != '"}), "ok",
     "x' OR Name != '"),
    ("markup-stored-as-text", update("Contact", CON, {"Title": "<script>alert(1)</script>"}),
     "ok", "<script>alert(1)</script>"),
    ("case-insensitive-picklist", update("Account", ACC, {"industry": "banking"}), "ok",
     "Banking"),
    # deep or long SOQL: refused before parsing, never a RecursionError
    ("soql-deep-parens", q("SELECT Id FROM Account WHERE " + "(" * 49 + "Name = 'x'" + ")" * 49),
     "reject", "QUERY_TOO_COMPLICATED"),
    ("soql-deep-not", q("SELECT Id FROM Account WHERE " + "NOT " * 400 + "Name = 'x'"), "reject",
     "QUERY_TOO_COMPLICATED"),
    ("soql-deep-signs", q("SELECT Id FROM Account WHERE AnnualRevenue > " + "- " * 1500 + "1"),
     "reject", "QUERY_TOO_COMPLICATED"),
    ("soql-deep-functions", q("SELECT " + "MAX(" * 60 + "Name" + ")" * 60 + " FROM Account"),
     "reject", "QUERY_TOO_COMPLICATED"),
    ("soql-many-conditions", q("SELECT Id FROM Account WHERE "
                               + " OR ".join(["Name = 'x'"] * 250)), "reject",
     "QUERY_TOO_COMPLICATED"),
    # side-effecting and unknown clauses: an allow-list of read-only ones
    ("soql-for-update", q("SELECT Id FROM Account LIMIT 1 FOR UPDATE"), "reject", "NOT_A_QUERY"),
    ("soql-for-view", q("SELECT Id FROM Account LIMIT 5 FOR VIEW"), "reject", "`FOR VIEW`"),
    ("soql-for-reference", q("SELECT Id FROM Account FOR REFERENCE"), "reject",
     "`FOR REFERENCE`"),
    ("soql-update-tracking", q("SELECT Id FROM Account UPDATE TRACKING"), "reject",
     "`UPDATE TRACKING`"),
    ("soql-update-viewstat", q("SELECT Id FROM Account UPDATE VIEWSTAT"), "reject",
     "`UPDATE VIEWSTAT`"),
    ("soql-with-system-mode", q("SELECT Id FROM Account WITH SYSTEM_MODE"), "reject",
     "`WITH SYSTEM_MODE`"),
    ("soql-with-data-category", q("SELECT Id FROM Account WITH DATA CATEGORY Geo__c AT usa__c"),
     "reject", "`WITH DATA CATEGORY`"),
    ("soql-using-scope-bogus", q("SELECT Id FROM Account USING SCOPE everyone"), "reject",
     "not a scope"),
    ("soql-using-scope-misplaced", q("SELECT Id FROM Account WHERE Name = 'x' USING SCOPE mine"),
     "reject", "right after FROM"),
    ("soql-with-security-enforced", q("SELECT Id FROM Account WHERE Name = 'nobody' "
                                      "WITH SECURITY_ENFORCED"), "ok", "0 rows"),
    ("soql-using-scope-mine", q("SELECT Id FROM Account USING SCOPE mine WHERE Name = 'nobody'"),
     "ok", "0 rows"),
    # SOQL's own limits
    ("soql-offset-over-2000", q("SELECT Id FROM Account LIMIT 5 OFFSET 2001"), "reject", "2000"),
    ("soql-fields-all-no-limit", q("SELECT FIELDS(ALL) FROM Account"), "reject", "LIMIT 200"),
    ("soql-fields-custom-limit-500", q("SELECT FIELDS(CUSTOM) FROM Account LIMIT 500"), "reject",
     "LIMIT 200"),
    ("soql-negative-limit", q("SELECT Id FROM Account LIMIT -1"), "reject", "from 0 up"),
    ("soql-fractional-offset", q("SELECT Id FROM Account LIMIT 5 OFFSET 1.5"), "reject",
     "from 0 up"),
]  # fmt: skip


def _check_ok(client: SalesforceClient, name: str, action: Any, result: Any, expected: str) -> None:
    if action.action == "query":
        assert result.rows == [] and expected == "0 rows"
        return
    record_id = result.record_id
    sobject = action.sobject
    fields = list(action.values)
    got = client.run(
        ActionRequest.model_validate({"action": get(sobject, record_id, fields)}).action
    )
    assert expected in got.rows[0], name


def test_there_are_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("name", "payload", "outcome", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_hostile_action(
    server: SandboxServer,
    client: SalesforceClient,
    name: str,
    payload: dict[str, Any],
    outcome: str,
    expected: str,
) -> None:
    counts, writes = server.counts(), server.write_requests
    if outcome == "schema":
        with pytest.raises(ValidationError) as schema_error:
            ActionRequest.model_validate({"action": payload})
        assert expected in str(schema_error.value)
        return
    action = ActionRequest.model_validate({"action": payload}).action
    if outcome == "ok":
        try:
            result = client.run(action)
            _check_ok(client, name, action, result, expected)
        finally:
            server.reset()
        return
    attempts: list[Callable[[], Any]] = [lambda: client.run(action)]
    if outcome == "reject":
        attempts += [lambda: client.validate_action(action)]
        if is_write(action):
            attempts.append(lambda: client.preview(action))
    for attempt in attempts:
        with pytest.raises(SalesforceError) as info:
            attempt()
        error = info.value
        assert expected in f"{error.code} {error.message}", error.message
        assert error.retryable, error.message  # a repair hint for the model
        assert server.session_id not in error.message
    assert server.counts() == counts == SIZES
    if outcome == "reject":
        assert server.write_requests == writes  # nothing was sent


NARROW = frozenset({"Contact", "Case"})
NARROW_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("query-from", q("SELECT Name FROM Account"), "not an object allowed here"),
    ("query-path", q("SELECT LastName, Account.Name FROM Contact"), "leads to Account"),
    ("query-deep-path", q("SELECT Subject FROM Case WHERE Contact.Account.Name = 'x'"),
     "leads to Account"),
    ("query-semi-join", q("SELECT Id FROM Contact WHERE AccountId IN (SELECT Id FROM Account)"),
     "not an object allowed here"),
    ("query-order-path", q("SELECT Subject FROM Case ORDER BY Account.Name"), "leads to Account"),
    ("get-object", get("Account", ACC, ["Name"]), "not an object allowed here"),
    ("get-path", get("Contact", CON, ["Account.Name"]), "leads to Account"),
    ("describe", {"action": "describe", "sobject": "Opportunity"}, "not an object allowed here"),
    ("create", create("Lead", {"LastName": "x", "Company": "y"}), "not an object allowed here"),
    ("update", update("Account", ACC, {"Name": "x"}), "not an object allowed here"),
    ("delete", delete("Opportunity", OPP), "not an object allowed here"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "payload", "expected"), NARROW_CASES, ids=[c[0] for c in NARROW_CASES]
)
def test_objects_outside_a_configured_allow_list(
    server: SandboxServer, name: str, payload: dict[str, Any], expected: str
) -> None:
    client = SalesforceClient.connect(server.credentials(), allowed_objects=NARROW)
    writes = server.write_requests
    action = ActionRequest.model_validate({"action": payload}).action
    for attempt in (lambda: client.run(action), lambda: client.validate_action(action)):
        with pytest.raises(SalesforceError) as info:
            attempt()
        assert expected in info.value.message, info.value.message
        assert info.value.retryable
    assert server.counts() == SIZES and server.write_requests == writes
    assert client.run(
        ActionRequest.model_validate(
            {"action": q("SELECT Subject, Contact.LastName FROM Case LIMIT 2")}
        ).action
    ).rows
