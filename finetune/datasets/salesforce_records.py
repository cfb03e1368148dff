"""Salesforce read families about accounts' records, one record by Id, contacts and leads."""

from __future__ import annotations

import json
from collections.abc import Sequence

from finetune.datasets.common import _Add, _lit, _Slot
from finetune.datasets.salesforce_domain import (
    _SF_GET_FIELDS,
    _SF_LIST_FIELDS,
    _SF_NOUNS,
    _SF_SINGULAR,
    _sf_query,
    _SfDomain,
    _SfFilter,
)


def _sf_account_families(
    add: _Add,
    d: _SfDomain,
    filters: Sequence[_SfFilter],
    parent_filters: Sequence[_SfFilter],
) -> None:
    """Records of a named account, of accounts with a value, and with their account's name."""
    add(
        "by_account",
        (
            "List the {noun} of {account}.",
            "Show me all {noun} for {account}.",
            "Which {noun} does {account} have?",
            "Get the {noun} linked to the account {account}.",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[sobject], "account": account},
                (f"account={account}",),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[sobject]} FROM {sobject} "
                    f"WHERE Account.Name = {_lit(account)}"
                ),
            )
            for account in d.accounts
            for sobject in ("Contact", "Opportunity", "Case")
        ),
    )
    add(
        "by_account_field",
        (
            "List the {noun} at accounts {where}.",
            "Show me the {noun} whose account is {where}.",
            "Which {noun} belong to accounts {where}?",
            "Get all {noun} of accounts {where}.",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[sobject], "where": where},
                (f"{kind}={value}",),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[sobject]} FROM {sobject} "
                    f"WHERE Account.{fld} = {_lit(value)}"
                ),
            )
            for kind, _, fld, where, value in parent_filters
            for sobject in ("Contact", "Opportunity", "Case")
        ),
    )
    add(
        "with_account_name",
        (
            "List the {np} with their account names.",
            "Show the {np} together with the account each belongs to.",
            "For the {np}, give me the account name too.",
            "Show me the {np} and their accounts.",
        ),
        (
            _Slot(
                {"np": f"{_SF_NOUNS[sobject]} {where}"},
                (f"{kind}={value}",),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[sobject]}, Account.Name FROM {sobject} "
                    f"WHERE {fld} = {_lit(value)}"
                ),
            )
            for kind, sobject, fld, where, value in filters
            if sobject in ("Contact", "Opportunity", "Case")
        ),
    )


def _sf_record_families(add: _Add, d: _SfDomain) -> None:
    """An object's fields, a record by Id, a contact's or a lead's fields by name."""
    add(
        "describe",
        (
            "Which fields does the {sobject} object have?",
            "Describe the {sobject} object.",
            "What fields are available on {sobject}?",
            "Show me the fields and picklist values of {sobject}.",
            "List the fields of the {sobject} object, please.",
            "What can I query on {sobject} records?",
        ),
        (
            _Slot(
                {"sobject": sobject},
                (f"object={sobject}",),
                json.dumps({"action": {"action": "describe", "sobject": sobject}}),
            )
            for sobject in _SF_NOUNS
        ),
    )
    add(
        "get_record",
        (
            "Get the {fields} of {obj} {id}.",
            "Show me the {fields} of the {obj} record {id}.",
            "Look up {obj} {id} and show its {fields}.",
            "For {obj} {id}, fetch the {fields}.",
            "I need the {fields} of record {id}.",
        ),
        (
            _Slot(
                {"fields": words, "obj": _SF_SINGULAR[sobject], "id": record_id},
                (f"record={record_id}",),
                json.dumps(
                    {
                        "action": {
                            "action": "get",
                            "sobject": sobject,
                            "record_id": record_id,
                            "fields": list(names),
                        }
                    }
                ),
            )
            for sobject, options in _SF_GET_FIELDS.items()
            for record_id in d.record_ids[sobject]
            for names, words in options
        ),
    )

    person_fields = (("Email", "email address"), ("Phone", "phone number"), ("Title", "title"))
    add(
        "contact_lookup",
        (
            "What is the {what} of {person}?",
            "Find the {what} for the contact {person}.",
            "Look up the {what} of our contact {person}.",
            "Can you get me the {what} of {person}?",
        ),
        (
            _Slot(
                {"what": words, "person": f"{first} {last}"},
                (f"contact={first} {last}",),
                _sf_query(
                    f"SELECT {fld} FROM Contact WHERE FirstName = {_lit(first)} "
                    f"AND LastName = {_lit(last)}"
                ),
            )
            for first, last in d.contacts
            for fld, words in person_fields
        ),
    )
    lead_fields = (("Company", "company"), ("Status", "status"), ("Rating", "rating"),
                   ("Email", "email address"))  # fmt: skip
    add(
        "lead_lookup",
        (
            "What is the {what} of the lead {person}?",
            "Find the {what} for the lead {person}.",
            "Look up the {what} of {person} among our leads.",
            "Tell me the {what} of the lead named {person}.",
        ),
        (
            _Slot(
                {"what": words, "person": f"{first} {last}"},
                (f"lead={first} {last}",),
                _sf_query(
                    f"SELECT {fld} FROM Lead WHERE FirstName = {_lit(first)} "
                    f"AND LastName = {_lit(last)}"
                ),
            )
            for first, last in d.leads
            for fld, words in lead_fields
        ),
    )
