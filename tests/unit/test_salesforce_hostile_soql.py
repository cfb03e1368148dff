"""Hostile SOQL and actions against the validator: depth, clauses, objects, limits, scrubbing.

Each class of hole has several hostile instances (rejected with a repair hint, never an
exception of another kind) and a few legitimate queries that must still pass.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pytest
import sqlglot
from simple_salesforce import exceptions as sf_exc
from sqlglot import exp

import tools.salesforce as sfmod
import tools.salesforce.client as sf_client
from tests.unit.test_salesforce_tools import FakeOrg, FakeSObject, build_describe
from tools.salesforce import (
    DEFAULT_OBJECTS,
    ActionRequest,
    CreateAction,
    DeleteAction,
    DescribeAction,
    GetAction,
    QueryAction,
    SalesforceClient,
    SalesforceError,
    SoqlQuery,
    SoqlValidationError,
    UpdateAction,
    map_salesforce_exception,
)
from tools.salesforce.checker import _Checker
from tools.salesforce.errors import _scrub
from tools.salesforce_limits import (
    MAX_FIELDS_ALL_LIMIT,
    MAX_OFFSET,
    MAX_SOQL_CONDITIONS,
    MAX_SOQL_LENGTH,
    MAX_SOQL_NESTING,
    USING_SCOPES,
    parse_objects,
)
from tools.salesforce_sandbox.seed import make_id
from tools.salesforce_sandbox.soql import translate

ACC = make_id("Account", 1)
CON = make_id("Contact", 1)


@pytest.fixture
def client() -> SalesforceClient:
    return SalesforceClient(FakeOrg())


def rejected(call: Callable[..., Any], *args: Any) -> SoqlValidationError:
    """Run ``call(*args)``; it must raise a retryable SoqlValidationError (nothing else)."""
    with pytest.raises(SoqlValidationError) as info:
        call(*args)
    assert info.value.retryable is True
    return info.value


# --------------------------------------------------------------------------------------
# 1. Depth and length: capped before parsing; no RecursionError escapes
# --------------------------------------------------------------------------------------

DEEP = [
    ("parens-49", "SELECT Id FROM Account WHERE " + "(" * 49 + "Name = 'x'" + ")" * 49),
    ("parens-13", "SELECT Id FROM Account WHERE " + "(" * 13 + "Name = 'x'" + ")" * 13),
    ("parens-unbalanced", "SELECT Id FROM Account WHERE " + "(" * 400),
    ("not-300", "SELECT Id FROM Account WHERE " + "NOT " * 300 + "Name = 'x'"),
    ("not-paren-40", "SELECT Id FROM Account WHERE " + "NOT (" * 40 + "Name = 'x'" + ")" * 40),
    ("signs-1500", "SELECT Id FROM Account WHERE AnnualRevenue > " + "- " * 1500 + "1"),
    ("functions-40", "SELECT " + "MAX(" * 40 + "Name" + ")" * 40 + " FROM Account"),
    ("subqueries-20", "SELECT Id FROM Account WHERE " + "Id IN (SELECT AccountId FROM Contact "
     "WHERE " * 20 + "LastName = 'x'" + ")" * 20),
    ("and-201", "SELECT Id FROM Account WHERE " + " AND ".join(["Name = 'x'"] * 202)),
    ("or-300", "SELECT Id FROM Account WHERE " + " OR ".join(["Name='x'"] * 301)),
    ("eq-chain-600", "SELECT Id FROM Account WHERE Name = " + "=".join(["'x'"] * 600)),
    ("too-long", "SELECT Id FROM Account WHERE Name = '" + "a" * MAX_SOQL_LENGTH + "'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "soql"), DEEP, ids=[d[0] for d in DEEP])
def test_deep_or_long_soql_is_a_validation_error(
    client: SalesforceClient, name: str, soql: str
) -> None:
    action = SoqlQuery(soql=soql)
    for call in (
        lambda: client.validate_soql(soql),
        lambda: client.validate_action(action),
        lambda: client.query(soql),
        lambda: client.run(action),
        lambda: client.preview(action),
    ):
        error = rejected(call)
        assert error.code == "QUERY_TOO_COMPLICATED", error.message
        assert "at most" in error.message


@pytest.mark.parametrize(("name", "soql"), DEEP[:-1], ids=[d[0] for d in DEEP[:-1]])
def test_sandbox_translation_of_deep_soql_is_a_validation_error(name: str, soql: str) -> None:
    error = rejected(lambda: translate(soql))
    assert error.code == "QUERY_TOO_COMPLICATED"


def test_limits_are_named_in_the_messages(client: SalesforceClient) -> None:
    error = rejected(lambda: client.validate_soql(DEEP[0][1]))
    assert f"at most {MAX_SOQL_NESTING}" in error.message and "49" in error.message
    error = rejected(lambda: client.validate_soql(DEEP[8][1]))
    assert f"at most {MAX_SOQL_CONDITIONS}" in error.message and "IN (" in error.message
    error = rejected(lambda: client.validate_soql(DEEP[-1][1]))
    assert f"{MAX_SOQL_LENGTH:,}" in error.message


def test_nothing_is_sent_for_a_deep_query() -> None:
    org = FakeOrg()
    with pytest.raises(SoqlValidationError):
        SalesforceClient(org).query(DEEP[0][1])
    assert org.queries == [] and org.describe_calls == []  # refused before any metadata


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Account WHERE "
        + "(" * MAX_SOQL_NESTING
        + "Name = 'x'"
        + ")" * MAX_SOQL_NESTING,
        "SELECT Id FROM Account WHERE " + " AND ".join(["Name = 'x'"] * (MAX_SOQL_CONDITIONS + 1)),
        "SELECT Id FROM Account WHERE NOT (Name = 'x') AND (Industry = 'Media' OR "
        "(Industry = 'Retail' AND NOT (AnnualRevenue > -5)))",
        "SELECT Id FROM Account WHERE Name IN (" + ", ".join(["'x'"] * 500) + ")",
        "SELECT Id FROM Account WHERE NumberOfEmployees IN (-1, -2, -3, -4, -5, -6, -7, -8, "
        "-9, -10, -11, -12, -13, -14)",
        "SELECT Name, (SELECT LastName FROM Contacts WHERE (Email != null OR (Phone != null)))"
        " FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity WHERE (IsWon = true))",
    ],
)
def test_legitimate_nesting_still_passes(client: SalesforceClient, soql: str) -> None:
    assert client.validate_soql(soql) == soql
    if "FROM Contacts" not in soql:  # the sandbox does not emulate child subqueries
        assert translate(soql).sql


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    return depth


def _at_depth(frames: int, call: Callable[[], Any]) -> Any:
    """Call ``call`` with ``frames`` more frames on the stack."""
    if frames <= 0:
        return call()
    return _at_depth(frames - 1, call)


def test_no_recursion_error_escapes_from_a_deep_caller_stack(client: SalesforceClient) -> None:
    soql = "SELECT Id FROM Account WHERE " + " AND ".join(["(Name = 'x' OR Name = 'y')"] * 60)
    client.validate_soql("SELECT Id FROM Account")  # metadata cached
    used = _stack_depth()
    outcomes: set[str] = set()
    for spare in (40, 120, 250, 400):
        frames = sys.getrecursionlimit() - used - spare
        try:
            _at_depth(frames, lambda: client.validate_soql(soql))
            outcomes.add("ok")
        except SoqlValidationError as error:
            assert error.code == "QUERY_TOO_COMPLICATED"
            outcomes.add("too deep")
    assert "too deep" in outcomes and "ok" in outcomes


def test_recursion_error_in_the_parser_becomes_a_validation_error(
    client: SalesforceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(sqlglot, "parse", exhausted)
    action = QueryAction(soql="SELECT Id FROM Account")
    for call in (lambda: client.validate_soql(action.soql), lambda: client.validate_action(action),
                 lambda: client.run(action)):  # fmt: skip
        assert rejected(call).code == "QUERY_TOO_COMPLICATED"


def test_recursion_error_in_checks_of_actions_becomes_a_validation_error(
    client: SalesforceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(_Checker, "_resolve", exhausted)
    get = GetAction(action="get", sobject="Contact", record_id=CON, fields=["Account.Name"])
    assert rejected(lambda: client.validate_action(get)).code == "QUERY_TOO_COMPLICATED"
    assert rejected(lambda: client.run(get)).code == "QUERY_TOO_COMPLICATED"


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Account WHERE Name = 'x' = 'y'",
        "SELECT Id FROM Account WHERE Name = " + " = ".join(["'x'"] * 250),
        "SELECT Id FROM Account WHERE (Name) = 'x'",
    ],
)
def test_comparison_chains_are_refused(client: SalesforceClient, soql: str) -> None:
    error = rejected(client.validate_soql, soql)
    assert "cannot stand on the left of a comparison" in error.message
    assert len(error.message) < 300


def test_checker_refuses_a_tree_too_deep_to_walk() -> None:
    condition: exp.Expr = exp.column("Name").eq(exp.Literal.string("x"))
    for _ in range(2000):  # built directly, as no parser would
        condition = exp.Not(this=condition)
    root = exp.select("Id").from_("Account").where(condition, copy=False)
    checker = _Checker(lambda name: None, list, {})
    error = rejected(lambda: checker.check(root))
    assert error.code == "QUERY_TOO_COMPLICATED"


# --------------------------------------------------------------------------------------
# 2. Clauses: an allow-list of read-only clauses
# --------------------------------------------------------------------------------------

CLAUSES = [
    ("SELECT Id FROM Account FOR UPDATE", "`FOR UPDATE` is not allowed: it locks"),
    ("SELECT Id FROM Account LIMIT 1 FOR UPDATE", "`FOR UPDATE`"),
    ("SELECT Name FROM Account ORDER BY CreatedDate DESC LIMIT 10 FOR VIEW", "`FOR VIEW`"),
    ("SELECT Name FROM Account FOR REFERENCE", "`FOR REFERENCE` is not allowed"),
    ("SELECT Name FROM Account for view", "`FOR VIEW`"),
    ("SELECT Name FROM Account FOR", "`FOR` is not allowed"),
    ("SELECT Name FROM Account FOR SHARE", "`FOR SHARE` is not allowed"),
    ("SELECT Name FROM Account UPDATE TRACKING", "`UPDATE TRACKING` is not allowed"),
    ("SELECT Name FROM Account UPDATE VIEWSTAT", "`UPDATE VIEWSTAT` is not allowed"),
    ("SELECT Name, (SELECT LastName FROM Contacts FOR VIEW) FROM Account", "`FOR VIEW`"),
    ("SELECT Name FROM Account WITH SYSTEM_MODE", "`WITH SYSTEM_MODE` is not allowed"),
    ("SELECT Name FROM Account WITH DATA CATEGORY Geography__c AT usa__c",
     "`WITH DATA CATEGORY` is not allowed"),
    ("SELECT Name FROM Account WITH RecordVisibilityContext (maxDescriptorPerRecord=100)",
     "`WITH RECORDVISIBILITYCONTEXT` is not allowed"),
    ("SELECT Name FROM Account WITH UserId = '005000000000001'", "`WITH USERID`"),
    ("SELECT Name FROM Account WITH", "`WITH` is not allowed"),
    ("SELECT Name FROM Account WITH SECURITY_ENFORCED WITH USER_MODE", "once per query"),
    ("SELECT Name FROM Account WITH SECURITY_ENFORCED WHERE Name = 'x'", "goes after WHERE"),
    ("SELECT Name WITH SECURITY_ENFORCED FROM Account", "goes after FROM"),
    ("SELECT Name FROM Account USING SCOPE bogus", "`bogus` is not a scope"),
    ("SELECT Name FROM Account USING SCOPE mine_and_my_groups", "not a scope"),
    ("SELECT Name FROM Account USING SCOPE 'mine'", "followed by a scope"),
    ("SELECT Name FROM Account USING SCOPE", "followed by a scope"),
    ("SELECT Name FROM Account USING mine", "followed by a scope"),
    ("SELECT Name FROM Account USING SCOPE MyTerritory", "did you mean `my_territory`"),
    ("SELECT Name FROM Account WHERE Name = 'x' USING SCOPE mine", "right after FROM"),
    ("SELECT Name FROM Account USING SCOPE mine USING SCOPE team", "once"),
    ("SELECT Name FROM Account USING SCOPE mine Industry = 'Media'", "right after FROM"),
    ("SELECT Name FROM Account LIMIT 5 USING SCOPE mine", "right after FROM"),
    ("SELECT Name FROM Account TYPEOF", "TYPEOF"),
]  # fmt: skip


@pytest.mark.parametrize(("soql", "expected"), CLAUSES)
def test_clauses_outside_the_allow_list_are_refused(
    client: SalesforceClient, soql: str, expected: str
) -> None:
    error = rejected(lambda: client.validate_soql(soql))
    assert expected in error.message, error.message
    assert "read-only" in error.message or "FOR" not in expected


def test_side_effect_clauses_say_what_they_write(client: SalesforceClient) -> None:
    for clause in ("FOR VIEW", "FOR REFERENCE", "FOR UPDATE", "UPDATE TRACKING",
                   "UPDATE VIEWSTAT"):  # fmt: skip
        error = rejected(client.validate_soql, f"SELECT Id FROM Account {clause}")
        assert error.code == "NOT_A_QUERY"
        assert f"`{clause}` is not allowed" in error.message
        assert "read-only" in error.message and "remove the clause" in error.message


def test_sandbox_refuses_the_same_clauses() -> None:
    for soql in ("SELECT Id FROM Account FOR UPDATE", "SELECT Id FROM Account FOR VIEW",
                 "SELECT Id FROM Account USING SCOPE bogus"):  # fmt: skip
        rejected(translate, soql)


def test_parse_tree_outside_the_allow_list_is_refused() -> None:
    root = sqlglot.parse_one('SELECT "Id" FROM "Account" QUALIFY "Id" = 1', read="snowflake")
    checker = _Checker(lambda name: None, list, {})
    error = rejected(lambda: checker.check(root))
    assert "qualify" in error.message


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Name FROM Account WITH SECURITY_ENFORCED",
        "SELECT Name FROM Account WHERE Industry = 'Media' WITH SECURITY_ENFORCED LIMIT 5",
        "SELECT Name FROM Account WITH USER_MODE ORDER BY Name",
        "SELECT Name FROM Account USING SCOPE mine",
        "SELECT Name FROM Account USING SCOPE Everything WHERE Name LIKE 'A%'",
        "SELECT Name FROM Account a USING SCOPE team WHERE a.Industry = 'Media'",
        "SELECT Name FROM Account USING SCOPE delegated WITH SECURITY_ENFORCED",
        "SELECT Name FROM Account USING SCOPE MY_TERRITORY",
        "SELECT Name FROM Account USING SCOPE my_team_territory LIMIT 3",
        "SELECT Name, (SELECT LastName FROM Contacts WITH SECURITY_ENFORCED) FROM Account",
        "SELECT Industry, Type, COUNT(Id) FROM Account GROUP BY ROLLUP(Industry, Type)",
        "SELECT Industry, COUNT(Id) FROM Account GROUP BY CUBE(Industry)",
        "SELECT StageName, COUNT(Id) n FROM Opportunity GROUP BY StageName ORDER BY n DESC",
        "SELECT Name, Amount FROM Opportunity WHERE CloseDate = LAST_N_DAYS:30 "
        "ORDER BY Amount DESC NULLS LAST, Name ASC NULLS FIRST LIMIT 10 OFFSET 20",
        "SELECT Id FROM Opportunity WHERE CloseDate > 2024-01-01 AND CreatedDate < TODAY",
        "SELECT COUNT() FROM Case WHERE CreatedDate = THIS_QUARTER",
    ],
)
def test_legitimate_clauses_still_pass(client: SalesforceClient, soql: str) -> None:
    assert client.validate_soql(soql) == soql


def test_every_documented_scope_is_accepted(client: SalesforceClient) -> None:
    for scope in USING_SCOPES.values():
        assert client.validate_soql(f"SELECT Id FROM Account USING SCOPE {scope}")


def test_rollup_fields_are_checked(client: SalesforceClient) -> None:
    error = rejected(lambda: client.validate_soql(
        "SELECT Industry, COUNT(Id) FROM Account GROUP BY ROLLUP(Industri)"))  # fmt: skip
    assert "did you mean `Industry`" in error.message


# --------------------------------------------------------------------------------------
# 3. Objects: a configured allow-list, paths verified all the way
# --------------------------------------------------------------------------------------

EXTRA: dict[str, dict[str, Any]] = {
    "Task": {
        "name": "Task",
        "keyPrefix": "00T",
        "fields": [
            {"name": "Id", "type": "id", "relationshipName": None, "referenceTo": []},
            {"name": "Subject", "type": "string", "relationshipName": None, "referenceTo": []},
            {"name": "WhatId", "type": "reference", "relationshipName": "What",
             "referenceTo": ["Account", "Opportunity"]},
            {"name": "OwnerId", "type": "reference", "relationshipName": "Owner",
             "referenceTo": ["User", "Group"]},
            {"name": "AccountId", "type": "reference", "relationshipName": "Account",
             "referenceTo": ["Account"]},
            {"name": "Vault__c", "type": "reference", "relationshipName": "Vault__r",
             "referenceTo": ["Vault__c"]},
            {"name": "Odd__c", "type": "reference", "relationshipName": "Odd__r",
             "referenceTo": []},
        ],
        "childRelationships": [],
    },
}  # fmt: skip


class WideOrg(FakeOrg):
    """The demo org plus Task (polymorphic references, an undescribable target) and User."""

    def __getattr__(self, name: str) -> Any:
        if name in EXTRA:
            org = self

            class Extra(FakeSObject):
                def describe(self) -> dict[str, Any]:
                    org.describe_calls.append(name)
                    return EXTRA[name]

            return Extra(self, name)
        if name == "User":
            org = self

            class UserObject(FakeSObject):
                def describe(self) -> dict[str, Any]:
                    org.describe_calls.append("User")
                    described = build_describe("Contact")
                    return {**described, "name": "User", "childRelationships": []}

            return UserObject(self, name)
        return super().__getattr__(name)

    def describe(self) -> dict[str, Any]:
        return {"sobjects": [{"name": n} for n in ["Account", "Contact", "Opportunity", "Lead",
                                                   "Case", "User", "Task"]]}  # fmt: skip


def test_default_allow_list_is_the_trained_objects() -> None:
    assert DEFAULT_OBJECTS == frozenset({"Account", "Contact", "Opportunity", "Lead", "Case"})
    assert SalesforceClient(FakeOrg()).allowed_objects == DEFAULT_OBJECTS
    assert SalesforceClient(FakeOrg(), allowed_objects=frozenset({"*"})).allowed_objects is None


OBJECT_QUERIES = [
    ("SELECT Id, Username FROM User", "`User` is not an object allowed here"),
    ("SELECT Id FROM user", "not an object allowed here"),
    ("SELECT Subject FROM Task", "`Task` is not an object allowed here"),
    ("SELECT Id FROM Vault__c", "no object `Vault__c` in this org"),
    ("SELECT Id FROM Account WHERE Id IN (SELECT WhatId FROM Task)", "`Task`"),
]  # fmt: skip


@pytest.mark.parametrize(("soql", "expected"), OBJECT_QUERIES)
def test_objects_outside_the_default_allow_list(soql: str, expected: str) -> None:
    org = WideOrg()
    error = rejected(lambda: SalesforceClient(org).validate_soql(soql))
    assert expected in error.message and error.code == "INVALID_TYPE", error.message
    assert "Account" in error.message  # says what is allowed
    assert "User" not in org.describe_calls and "Task" not in org.describe_calls


NARROW = [  # allowed_objects = {Contact, Case}
    ("SELECT LastName, Account.Name FROM Contact", "leads to Account, which is not an object "
     "allowed here"),
    ("SELECT Subject FROM Case WHERE Contact.Account.Industry = 'Media'", "leads to Account"),
    ("SELECT Subject FROM Case ORDER BY Account.Name", "leads to Account"),
    ("SELECT MAX(Account.AnnualRevenue) FROM Contact", "leads to Account"),
    ("SELECT Id FROM Contact WHERE AccountId IN (SELECT Id FROM Account)", "`Account`"),
    ("SELECT Name FROM Account", "`Account` is not an object allowed here"),
]  # fmt: skip


@pytest.mark.parametrize(("soql", "expected"), NARROW)
def test_configured_allow_list_applies_to_every_object_a_query_touches(
    soql: str, expected: str
) -> None:
    client = SalesforceClient(FakeOrg(), allowed_objects=frozenset({"Contact", "case"}))
    error = rejected(lambda: client.validate_soql(soql))
    assert expected in error.message, error.message
    assert client.validate_soql("SELECT LastName, AccountId FROM Contact")
    assert client.validate_soql("SELECT Subject, Contact.LastName FROM Case")


def test_child_subquery_objects_are_checked() -> None:
    client = SalesforceClient(FakeOrg(), allowed_objects={"Account", "Contact"})
    assert client.validate_soql("SELECT Name, (SELECT LastName FROM Contacts) FROM Account")
    error = rejected(lambda: client.validate_soql(
        "SELECT Name, (SELECT Name FROM Opportunities) FROM Account"))  # fmt: skip
    assert "holds Opportunity records" in error.message and error.code == "INVALID_TYPE"


def test_polymorphic_and_undescribable_paths_are_refused() -> None:
    client = SalesforceClient(WideOrg(), allowed_objects=frozenset({"*"}))
    assert client.validate_soql("SELECT Subject, WhatId, OwnerId, Account.Name FROM Task")
    for soql, expected in (
        ("SELECT What.Name FROM Task", "`What` on Task is polymorphic (Account, Opportunity)"),
        ("SELECT Owner.Name FROM Task", "use the Id field `OwnerId`"),
        ("SELECT Id FROM Task WHERE What.Name = 'x'", "polymorphic"),
        ("SELECT Id FROM Task ORDER BY Owner.Name", "polymorphic"),
        ("SELECT Vault__r.Name FROM Task", "leads to Vault__c, which cannot be described"),
        ("SELECT Odd__r.Name FROM Task", "polymorphic"),
    ):
        error = rejected(client.validate_soql, soql)
        assert expected in error.message, error.message
        assert error.code == "INVALID_FIELD"
    task_id = sfmod.to_18_char_id("00T000000000001")
    get = GetAction(action="get", sobject="Task", record_id=task_id, fields=["What.Name"])
    assert "polymorphic" in rejected(lambda: client.validate_action(get)).message


def test_star_allows_every_described_object() -> None:
    client = SalesforceClient(WideOrg(), allowed_objects=frozenset({"*"}))
    assert client.validate_soql("SELECT Id, LastName FROM User")
    assert client.validate_soql("SELECT Subject FROM Task")
    assert "no object `Widget`" in rejected(
        lambda: client.validate_soql("SELECT Id FROM Widget")).message  # fmt: skip


ACTIONS: list[dict[str, Any]] = [
    {"action": "describe", "sobject": "User"},
    {"action": "describe", "sobject": "Task"},
    {"action": "get", "sobject": "User", "record_id": "005000000000001AAA", "fields": []},
    {"action": "create", "sobject": "User", "values": {"LastName": "x"}},
    {"action": "update", "sobject": "Task", "record_id": "00T000000000001AAA",
     "values": {"Subject": "x"}},
    {"action": "delete", "sobject": "user", "record_id": "005000000000001AAA"},
    {"action": "get", "sobject": "Contact", "record_id": CON, "fields": ["Account.Name"]},
    {"action": "delete", "sobject": "Account", "record_id": ACC},
]  # fmt: skip


@pytest.mark.parametrize("payload", ACTIONS, ids=[f"{a['action']}-{a['sobject']}-{i}"
                                                  for i, a in enumerate(ACTIONS)])  # fmt: skip
def test_actions_on_objects_outside_the_allow_list(payload: dict[str, Any]) -> None:
    org = WideOrg()
    client = SalesforceClient(org, allowed_objects=frozenset({"Contact", "Lead", "Case"}))
    action = ActionRequest.model_validate({"action": payload}).action
    for call in (lambda: client.validate_action(action), lambda: client.run(action),
                 lambda: client.preview(action)):  # fmt: skip
        error = rejected(call)
        assert "not an object allowed here" in error.message, error.message
    assert org.queries == []
    assert not {"User", "Task", "Account"} & set(org.describe_calls)


def test_public_describe_applies_the_allow_list() -> None:
    client = SalesforceClient(WideOrg())
    with pytest.raises(SalesforceError) as info:
        client.describe("User")
    assert info.value.retryable and info.value.code == "INVALID_TYPE"
    assert client.describe("Account")["name"] == "Account"


def test_allowed_actions_still_pass() -> None:
    client = SalesforceClient(FakeOrg())
    for action in (
        DescribeAction(action="describe", sobject="lead"),
        GetAction(action="get", sobject="Contact", record_id=CON, fields=["account.name"]),
        CreateAction(action="create", sobject="Lead", values={"LastName": "x", "Company": "y"}),
        UpdateAction(action="update", sobject="Account", record_id=ACC, values={"Name": "x"}),
        DeleteAction(action="delete", sobject="Account", record_id=ACC),
    ):
        assert client.validate_action(action)
    checked = client.validate_action(
        GetAction(action="get", sobject="Contact", record_id=CON, fields=["account.name"])
    )
    assert isinstance(checked, GetAction) and checked.fields == ["Account.Name"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("Account", frozenset({"Account"})),
        (" Account , Contact,, Task ", frozenset({"Account", "Contact", "Task"})),
        ("*", frozenset({"*"})),
        ("Account,*", frozenset({"*"})),
    ],
)
def test_parse_objects(text: str | None, expected: frozenset[str] | None) -> None:
    assert parse_objects(text) == expected


@pytest.mark.parametrize("text", ["Account;Contact", "Account,Con tact", "1Account", "Acc.Name"])
def test_parse_objects_refuses_malformed_lists(text: str) -> None:
    with pytest.raises(ValueError):
        parse_objects(text)
    with pytest.raises(ValueError):
        SalesforceClient(FakeOrg(), allowed_objects=text.split(","))


class _Recording:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


SESSION_ENV = {"SF_INSTANCE_URL": "https://acme.my.salesforce.com", "SF_SESSION_ID": "s"}


def test_from_env_reads_sf_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sf_client, "Salesforce", _Recording)
    assert SalesforceClient.from_env(SESSION_ENV).allowed_objects == DEFAULT_OBJECTS
    narrowed = SalesforceClient.from_env({**SESSION_ENV, "SF_OBJECTS": "Account, Case"})
    assert narrowed.allowed_objects == frozenset({"Account", "Case"})
    assert SalesforceClient.from_env({**SESSION_ENV, "SF_OBJECTS": "*"}).allowed_objects is None
    with pytest.raises(SalesforceError) as info:
        SalesforceClient.from_env({**SESSION_ENV, "SF_OBJECTS": "Account;Case"})
    assert info.value.code == "NOT_CONFIGURED" and "SF_OBJECTS" in info.value.message


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sf_client, "Salesforce", _Recording)
    for name, value in SESSION_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SF_OBJECTS", "Lead")
    assert SalesforceClient.from_env().allowed_objects == frozenset({"Lead"})


def test_empty_allow_list_allows_nothing() -> None:
    client = SalesforceClient(FakeOrg(), allowed_objects=frozenset())
    assert "not an object allowed here" in rejected(
        lambda: client.validate_soql("SELECT Id FROM Account")).message  # fmt: skip


# --------------------------------------------------------------------------------------
# 4. SOQL's own limits: OFFSET, FIELDS(ALL|CUSTOM), LIMIT
# --------------------------------------------------------------------------------------

LIMITS = [
    (f"SELECT Id FROM Account LIMIT 10 OFFSET {MAX_OFFSET + 1}", f"at most {MAX_OFFSET}"),
    ("SELECT Id FROM Account OFFSET 100000", f"at most {MAX_OFFSET}"),
    ("SELECT FIELDS(ALL) FROM Account", f"LIMIT {MAX_FIELDS_ALL_LIMIT} or less"),
    (f"SELECT FIELDS(ALL) FROM Account LIMIT {MAX_FIELDS_ALL_LIMIT + 1}", "FIELDS(ALL) needs"),
    ("SELECT FIELDS(CUSTOM) FROM Account", "FIELDS(CUSTOM) needs LIMIT"),
    ("SELECT fields(custom) FROM Account LIMIT 5000", "FIELDS(CUSTOM) needs LIMIT"),
    ("SELECT Name, (SELECT FIELDS(ALL) FROM Contacts) FROM Account LIMIT 5",
     "FIELDS(ALL) needs"),
    ("SELECT Id FROM Account LIMIT -1", "whole number from 0 up"),
    ("SELECT Id FROM Account LIMIT +5", "whole number from 0 up"),
    ("SELECT Id FROM Account LIMIT 1.5", "whole number from 0 up"),
    ("SELECT Id FROM Account LIMIT 10 OFFSET -3", "whole number from 0 up"),
    ("SELECT Id FROM Account LIMIT '10'", "whole number from 0 up"),
    ("SELECT Id FROM Account LIMIT TODAY", "whole number from 0 up"),
]  # fmt: skip


@pytest.mark.parametrize(("soql", "expected"), LIMITS)
def test_soql_limits_are_enforced(client: SalesforceClient, soql: str, expected: str) -> None:
    error = rejected(lambda: client.validate_soql(soql))
    assert expected in error.message, error.message


@pytest.mark.parametrize(
    "soql",
    [
        f"SELECT Id FROM Account LIMIT 10 OFFSET {MAX_OFFSET}",
        "SELECT Id FROM Account LIMIT 0",
        "SELECT Id FROM Account OFFSET 0",
        f"SELECT FIELDS(ALL) FROM Account LIMIT {MAX_FIELDS_ALL_LIMIT}",
        "SELECT FIELDS(CUSTOM) FROM Account LIMIT 1",
        "SELECT FIELDS(STANDARD) FROM Account",
        "SELECT FIELDS(STANDARD) FROM Account LIMIT 5000",
        "SELECT Name, (SELECT FIELDS(ALL) FROM Contacts LIMIT 10) FROM Account",
    ],
)
def test_soql_limits_allow_legitimate_queries(client: SalesforceClient, soql: str) -> None:
    assert client.validate_soql(soql)


# --------------------------------------------------------------------------------------
# 6. Secret scrubbing: every escaped form of every secret
# --------------------------------------------------------------------------------------

SECRETS = [
    "p@ss/w:rd&<x>'q\"+ 100%",
    "00D5g000004XyZa!AQ4AQ/secret+token==",
    "tøken-with ünïcode & spaces",
]


def _forms(secret: str) -> dict[str, str]:
    return {
        "exact": secret,
        "quote": urllib.parse.quote(secret),
        "quote-safe-none": urllib.parse.quote(secret, safe=""),
        "quote-lower": re.sub(
            r"%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(secret, safe="")
        ),
        "quote_plus": urllib.parse.quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
        "json-unicode": json.dumps(secret, ensure_ascii=False)[1:-1],
        "xml": xml_escape(secret),
        "xml-quotes": xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
    }


@pytest.mark.parametrize("secret", SECRETS)
def test_every_escaped_form_of_a_secret_is_scrubbed(secret: str) -> None:
    for form_name, form in _forms(secret).items():
        text = f'failed at https://x/?pw={form}&next=1 <pw>{form}</pw> {{"pw": "{form}"}}'
        scrubbed = _scrub(text, [secret, "other-secret"])
        assert form not in scrubbed, (form_name, scrubbed)
        assert scrubbed.count("***") >= 3, (form_name, scrubbed)
        assert "https://x/?pw=" in scrubbed and "&next=1" in scrubbed


def test_scrubbing_through_exception_mapping() -> None:
    secret = SECRETS[0]
    body = [{"message": f"bad {urllib.parse.quote_plus(secret)} and {xml_escape(secret)}",
             "errorCode": "X"}]  # fmt: skip
    error = map_salesforce_exception(
        sf_exc.SalesforceMalformedRequest("u", 400, "query", json.dumps(body)), secrets=[secret]
    )
    assert "***" in error.message
    for form in _forms(secret).values():
        assert form not in error.message
    auth = map_salesforce_exception(
        sf_exc.SalesforceAuthenticationFailed("INVALID_LOGIN", json.dumps({"pw": secret})),
        secrets=[secret],
    )
    assert json.dumps(secret)[1:-1] not in auth.message and "***" in auth.message


def test_scrubbing_keeps_ordinary_text() -> None:
    assert _scrub("nothing secret here", ["hunter2pw"]) == "nothing secret here"
    assert _scrub("short abc", ["abc"]) == "short abc"  # under 4 characters: kept
