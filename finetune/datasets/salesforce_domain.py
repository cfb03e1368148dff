"""The sandbox org as the Salesforce families see it: objects, filters, date literals, values."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from finetune.datasets.common import _SF_ROW_LIMIT, _plain, _shared_words

# ------------------------------------------------------------------------------------------
# Salesforce: the sandbox org
# ------------------------------------------------------------------------------------------

_SF_NOUNS = {
    "Account": "accounts",
    "Contact": "contacts",
    "Opportunity": "opportunities",
    "Lead": "leads",
    "Case": "cases",
}
_SF_SINGULAR = {
    "Account": "account",
    "Contact": "contact",
    "Opportunity": "opportunity",
    "Lead": "lead",
    "Case": "case",
}
_SF_LIST_FIELDS = {
    "Account": "Name",
    "Contact": "FirstName, LastName",
    "Opportunity": "Name, Amount",
    "Lead": "FirstName, LastName, Company",
    "Case": "Id, Subject",
}

# kind, object, field, where-phrase of one value, of several, of a negated list, dimension
_SF_FILTERS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("industry", "Account", "Industry", "in the {v} industry", "in the {v} industries",
     "outside the {v} industries", "industry"),
    ("account_type", "Account", "Type", "of type {v}", "of type {v}", "not of type {v}", "type"),
    ("country", "Account", "BillingCountry", "based in {v}", "based in {v}",
     "not based in {v}", "billing country"),
    ("city", "Account", "BillingCity", "located in {v}", "located in {v}",
     "not located in {v}", "billing city"),
    ("stage", "Opportunity", "StageName", "in the {v} stage", "in the {v} stages",
     "not in the {v} stages", "stage"),
    ("lead_source", "Opportunity", "LeadSource", "with lead source {v}", "with lead source {v}",
     "with a lead source other than {v}", "lead source"),
    ("opportunity_type", "Opportunity", "Type", "of type {v}", "of type {v}", "not of type {v}",
     "type"),
    ("lead_status", "Lead", "Status", "with status {v}", "with status {v}",
     "with a status other than {v}", "status"),
    ("rating", "Lead", "Rating", "rated {v}", "rated {v}", "not rated {v}", "rating"),
    ("lead_source", "Lead", "LeadSource", "with lead source {v}", "with lead source {v}",
     "with a lead source other than {v}", "lead source"),
    ("industry", "Lead", "Industry", "in the {v} industry", "in the {v} industries",
     "outside the {v} industries", "industry"),
    ("case_status", "Case", "Status", "with status {v}", "with status {v}",
     "with a status other than {v}", "status"),
    ("priority", "Case", "Priority", "with {v} priority", "with {v} priority",
     "with a priority other than {v}", "priority"),
    ("origin", "Case", "Origin", "that came in by {v}", "that came in by {v}",
     "that did not come in by {v}", "origin"),
    ("title", "Contact", "Title", "with the title {v}", "with the title {v}",
     "with a title other than {v}", "title"),
)  # fmt: skip

_SF_DATE_LITERALS: tuple[tuple[str, str], ...] = (
    ("TODAY", "today"),
    ("YESTERDAY", "yesterday"),
    ("THIS_WEEK", "this week"),
    ("LAST_WEEK", "last week"),
    ("THIS_MONTH", "this month"),
    ("LAST_MONTH", "last month"),
    ("THIS_QUARTER", "this quarter"),
    ("LAST_QUARTER", "last quarter"),
    ("THIS_YEAR", "this year"),
    ("LAST_YEAR", "last year"),
    ("LAST_N_DAYS:7", "in the last 7 days"),
    ("LAST_N_DAYS:14", "in the last 14 days"),
    ("LAST_N_DAYS:30", "in the last 30 days"),
    ("LAST_N_DAYS:60", "in the last 60 days"),
    ("LAST_N_DAYS:90", "in the last 90 days"),
    ("LAST_N_DAYS:180", "in the last 180 days"),
    ("LAST_N_DAYS:365", "in the last 365 days"),
    ("LAST_N_MONTHS:3", "in the last 3 months"),
    ("LAST_N_MONTHS:6", "in the last 6 months"),
)
_SF_FUTURE_LITERALS: tuple[tuple[str, str], ...] = (
    ("NEXT_WEEK", "next week"),
    ("NEXT_MONTH", "next month"),
    ("NEXT_QUARTER", "next quarter"),
    ("NEXT_N_DAYS:30", "in the next 30 days"),
    ("NEXT_N_DAYS:60", "in the next 60 days"),
    ("NEXT_N_DAYS:90", "in the next 90 days"),
)
# object, date field, how the request says it, whether future dates make sense
_SF_DATE_FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    ("Case", "CreatedDate", "created", False),
    ("Case", "ClosedDate", "closed", False),
    ("Lead", "CreatedDate", "created", False),
    ("Contact", "CreatedDate", "created", False),
    ("Opportunity", "CloseDate", "with a close date", True),
)
_SF_GET_FIELDS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Account": ((("Name", "Industry"), "name and industry"),
                (("Name", "AnnualRevenue"), "name and annual revenue"),
                (("BillingCity", "BillingCountry"), "billing city and country"),
                (("Name", "Type", "NumberOfEmployees"), "name, type and number of employees"),
                ((), "details")),
    "Contact": ((("FirstName", "LastName", "Email"), "name and email"),
                (("Phone",), "phone number"),
                (("Title", "Account.Name"), "title and account name"),
                ((), "details")),
    "Opportunity": ((("Name", "StageName", "Amount"), "name, stage and amount"),
                    (("CloseDate",), "close date"),
                    (("Name", "Account.Name"), "name and account name"),
                    ((), "details")),
    "Lead": ((("Company", "Status"), "company and status"),
             (("Email", "Phone"), "email and phone number"),
             (("Rating",), "rating"),
             ((), "details")),
    "Case": ((("Subject", "Status", "Priority"), "subject, status and priority"),
             (("Description",), "description"),
             (("Subject", "Account.Name"), "subject and account name"),
             ((), "details")),
}  # fmt: skip
_SF_RECORDS_PER_OBJECT = 24


@dataclass
class _SfDomain:
    """The values of the sandbox org that requests are written about."""

    values: dict[tuple[str, str], list[str]]
    """(object, field) -> the distinct values found in the records."""
    counts: dict[tuple[str, str], Counter[str]]
    """(object, field) -> records per value."""
    accounts: list[str]
    account_prefixes: list[str]
    contacts: list[tuple[str, str]]
    leads: list[tuple[str, str]]
    email_domains: list[str]
    company_words: list[str]
    subject_words: list[str]
    record_ids: dict[str, list[str]]


def _read_sf_domain(client: Any) -> _SfDomain:
    from tools.salesforce import QueryAction

    def rows(soql: str) -> list[list[Any]]:
        return list(client.run(QueryAction(soql=soql), row_limit=_SF_ROW_LIMIT).rows)

    fields_by_object: dict[str, list[str]] = {}
    for _, sobject, fld, *_ in _SF_FILTERS:
        fields_by_object.setdefault(sobject, [])
        if fld not in fields_by_object[sobject]:
            fields_by_object[sobject].append(fld)
    values: dict[tuple[str, str], list[str]] = {}
    counts: dict[tuple[str, str], Counter[str]] = {}
    for sobject, fields in fields_by_object.items():
        records = rows(f"SELECT Id, {', '.join(fields)} FROM {sobject} ORDER BY Id")
        for index, fld in enumerate(fields, start=1):
            found = Counter(str(r[index]) for r in records if _plain(r[index]))
            counts[(sobject, fld)] = found
            values[(sobject, fld)] = sorted(found)
    accounts = [str(r[0]) for r in rows("SELECT Name FROM Account ORDER BY Name") if _plain(r[0])]
    prefixes = Counter(name.split()[0] for name in accounts)
    contacts = sorted(
        {
            (str(r[0]), str(r[1]))
            for r in rows("SELECT FirstName, LastName FROM Contact ORDER BY Id")
            if _plain(r[0]) and _plain(r[1])
        }
    )
    leads = sorted(
        {
            (str(r[0]), str(r[1]))
            for r in rows("SELECT FirstName, LastName FROM Lead ORDER BY Id")
            if _plain(r[0]) and _plain(r[1])
        }
    )
    domains = Counter(
        str(r[0]).rsplit("@", 1)[-1] for r in rows("SELECT Email FROM Contact") if _plain(r[0])
    )
    companies = [str(r[0]) for r in rows("SELECT Company FROM Lead ORDER BY Id") if _plain(r[0])]
    subjects = [str(r[0]) for r in rows("SELECT Subject FROM Case ORDER BY Id") if _plain(r[0])]
    subject_words = Counter(
        word.strip(":").lower()
        for subject in dict.fromkeys(subjects)
        for word in subject.split()
        if len(word.strip(":")) >= 5 and word.strip(":").isalpha()
    )
    record_ids = {
        sobject: [
            str(r[0])
            for r in rows(f"SELECT Id FROM {sobject} ORDER BY Id LIMIT {_SF_RECORDS_PER_OBJECT}")
        ]
        for sobject in _SF_NOUNS
    }
    return _SfDomain(
        values=values,
        counts=counts,
        accounts=accounts,
        account_prefixes=sorted(prefix for prefix, n in prefixes.items() if n >= 2),
        contacts=contacts,
        leads=leads,
        email_domains=sorted(domain for domain, n in domains.items() if n >= 2 and _plain(domain)),
        company_words=_shared_words(sorted(set(companies))),
        subject_words=sorted(subject_words),
        record_ids=record_ids,
    )


def _sf_query(soql: str) -> str:
    return json.dumps({"action": {"action": "query", "soql": soql}})


_SfFilter = tuple[str, str, str, str, str]
"""One filter of a request: kind, object, field, where-phrase, value."""
