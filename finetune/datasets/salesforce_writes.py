"""Salesforce write families (create, update, delete): their values, slots and checker."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from finetune.datasets.common import (
    _SF_ROW_LIMIT,
    _Candidate,
    _Check,
    _Checked,
    _Family,
    _HeldOut,
    _plain,
    _Slot,
)
from finetune.datasets.salesforce_domain import _SF_SINGULAR, _SfDomain

# ------------------------------------------------------------------------------------------
# Salesforce writes: create, update, delete
# ------------------------------------------------------------------------------------------

WRITE_TRAIN_SIZE = 750
"""Salesforce write examples (create, update, delete) aimed at in train (scale 1.0)."""

WRITE_HELDOUT_SIZE = 50
"""Salesforce write examples aimed at in held-out (scale 1.0)."""

_SF_WRITE_FAMILIES = ("create", "update", "update_status", "update_two", "delete")
"""The write families; the read families are every other Salesforce family."""

_SF_DELETABLE = ("Lead", "Case", "Contact", "Opportunity")
_SF_AMOUNTS = (5000, 12000, 25000, 40000, 50000, 75000, 90000, 120000, 180000, 250000)
_SF_CLOSE_DATES = (
    "2026-12-15", "2026-12-31", "2027-01-15", "2027-01-31", "2027-02-28",
    "2027-03-15", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30",
)  # fmt: skip
_SF_COMPANY_SUFFIXES = ("Labs", "Group", "Holdings", "Partners", "Systems", "Consulting",
                        "Industries", "Logistics", "Studios", "Analytics")  # fmt: skip
_SF_DEAL_SUFFIXES = ("Renewal", "Expansion", "New Business", "Upgrade", "Pilot", "Add-on")
_SF_SUBJECT_SKIP = frozenset({"cannot", "change", "delayed", "failed", "request", "reset"})
"""Subject words that are no nouns (a new case is "Problem with <noun>")."""
_SF_SUBJECTS = ("Problem with {w}", "Question about {w}", "Issue with {w}", "{W} request",
                "Help needed with {w}")  # fmt: skip
# object, field, how a request names it, entity kind, whether "mark X as <value>" reads well
_SF_UPDATE_FIELDS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("Opportunity", "StageName", "stage", "stage", True),
    ("Opportunity", "Amount", "amount", "amount", False),
    ("Opportunity", "CloseDate", "close date", "close_date", False),
    ("Lead", "Status", "status", "lead_status", True),
    ("Lead", "Rating", "rating", "rating", False),
    ("Lead", "LeadSource", "lead source", "lead_source", False),
    ("Case", "Status", "status", "case_status", True),
    ("Case", "Priority", "priority", "priority", False),
    ("Case", "Origin", "origin", "origin", False),
    ("Contact", "Title", "title", "title", False),
    ("Account", "Industry", "industry", "industry", False),
    ("Account", "Type", "type", "account_type", False),
)


@dataclass
class _SfWriteDomain:
    """What write requests are made of: the read domain and the org's account names."""

    base: _SfDomain
    account_names: dict[str, str]
    """Account Id (among the record Ids) -> its name."""
    first_names: list[str]
    last_names: list[str]


def _read_sf_write_domain(client: Any, d: _SfDomain) -> _SfWriteDomain:
    from tools.salesforce import QueryAction

    ids = d.record_ids["Account"]
    rows = client.run(
        QueryAction(soql=f"SELECT Id, Name FROM Account ORDER BY Id LIMIT {len(ids)}"),
        row_limit=_SF_ROW_LIMIT,
    ).rows
    names = {str(r[0]): str(r[1]) for r in rows if str(r[0]) in ids and _plain(r[1])}
    people = [*d.contacts, *d.leads]
    first = sorted({f for f, _ in people if f.isalpha()})
    last = sorted({lst for _, lst in people if lst.isalpha()})
    return _SfWriteDomain(d, names, first, last)


def _register_sf_write_entities(heldout: _HeldOut, w: _SfWriteDomain) -> None:
    heldout.register_entities("first_name", w.first_names)
    heldout.register_entities("last_name", w.last_names)
    heldout.register_entities("amount", [str(a) for a in _SF_AMOUNTS])
    heldout.register_entities("close_date", _SF_CLOSE_DATES)


def _sf_write(action: dict[str, Any]) -> str:
    return json.dumps({"action": action})


def _and_list(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _sf_shown(kind: str, value: str) -> str:
    """A field value as a request writes it."""
    return f"${int(value):,}" if kind == "amount" else value


def _sf_create_slots(w: _SfWriteDomain, rng: random.Random) -> list[_Slot]:
    d = w.base
    existing = {*d.contacts, *d.leads}
    accounts = sorted(w.account_names)

    def person() -> tuple[str, str]:
        while True:
            pair = (rng.choice(w.first_names), rng.choice(w.last_names))
            if pair not in existing:
                return pair

    def optional(sobject: str, fld: str, kind: str, label: str) -> tuple[str, str, str] | None:
        values = d.values.get((sobject, fld)) or []
        if not values or rng.random() < 0.5:
            return None
        value = rng.choice(values)
        return fld, value, f"{label} {value}"

    slots: list[_Slot] = []
    seen: set[str] = set()

    def add(sobject: str, values: dict[str, Any], entity: list[str], desc: str) -> None:
        target = _sf_write({"action": "create", "sobject": sobject, "values": values})
        if target in seen:
            return
        seen.add(target)
        noun = _SF_SINGULAR[sobject]
        article = "an" if noun[0] in "aeiou" else "a"
        fill = {"noun": noun, "a_noun": f"{article} {noun}", "desc": desc}
        slots.append(_Slot(fill, tuple(dict.fromkeys(entity)), target))

    for _ in range(70):  # Lead
        first, last = person()
        company = f"{last} {rng.choice(_SF_COMPANY_SUFFIXES)}"
        values: dict[str, Any] = {"FirstName": first, "LastName": last, "Company": company}
        entity = [f"first_name={first}", f"last_name={last}"]
        parts = []
        for fld, kind, label in (("Status", "lead_status", "status"),
                                 ("Rating", "rating", "rating"),
                                 ("LeadSource", "lead_source", "lead source")):  # fmt: skip
            picked = optional("Lead", fld, kind, label)
            if picked:
                values[fld] = picked[1]
                entity.append(f"{kind}={picked[1]}")
                parts.append(picked[2])
        desc = f"for {first} {last} at {company}" + (f", {_and_list(parts)}" if parts else "")
        add("Lead", values, entity, desc)
    subject_words = [s for s in d.subject_words if _plain(s) and s not in _SF_SUBJECT_SKIP]
    priorities = d.values.get(("Case", "Priority")) or []
    for _ in range(70 if subject_words and priorities else 0):  # Case
        word = rng.choice(subject_words)
        subject = rng.choice(_SF_SUBJECTS).format(w=word, W=word.capitalize())
        priority = rng.choice(priorities)
        values = {"Subject": subject, "Priority": priority}
        entity = [f"subject_word={word}", f"priority={priority}"]
        parts = [f"priority {priority}"]
        for fld, kind, label in (("Status", "case_status", "status"),
                                 ("Origin", "origin", "origin")):  # fmt: skip
            picked = optional("Case", fld, kind, label)
            if picked:
                values[fld] = picked[1]
                entity.append(f"{kind}={picked[1]}")
                parts.append(picked[2])
        if accounts and rng.random() < 0.5:
            account = rng.choice(accounts)
            values["AccountId"] = account
            entity.append(f"record={account}")
            parts.append(f"account {account}")
        add("Case", values, entity, f'with subject "{subject}", {_and_list(parts)}')
    for _ in range(70 if accounts else 0):  # Contact
        first, last = person()
        account = rng.choice(accounts)
        values = {"FirstName": first, "LastName": last, "AccountId": account}
        entity = [f"first_name={first}", f"last_name={last}", f"record={account}"]
        parts = []
        picked = optional("Contact", "Title", "title", "title")
        if picked:
            values["Title"] = picked[1]
            entity.append(f"title={picked[1]}")
            parts.append(picked[2])
        if d.email_domains and rng.random() < 0.5:
            domain = rng.choice(d.email_domains)
            email = f"{first}.{last}@{domain}".lower()
            values["Email"] = email
            entity.append(f"email_domain={domain}")
            parts.append(f"email {email}")
        desc = f"{first} {last} for account {account}" + (f", {_and_list(parts)}" if parts else "")
        add("Contact", values, entity, desc)
    stages = d.values.get(("Opportunity", "StageName")) or []
    for _ in range(70 if accounts and stages else 0):  # Opportunity
        account = rng.choice(accounts)
        name = f"{w.account_names[account]} {rng.choice(_SF_DEAL_SUFFIXES)}"
        stage = rng.choice(stages)
        close = rng.choice(_SF_CLOSE_DATES)
        values = {"Name": name, "StageName": stage, "CloseDate": close}
        entity = [f"account={w.account_names[account]}", f"stage={stage}", f"close_date={close}"]
        parts = [f"stage {stage}", f"close date {close}"]
        if rng.random() < 0.5:
            values["AccountId"] = account
            entity.append(f"record={account}")
            parts.append(f"account {account}")
        if rng.random() < 0.5:
            amount = rng.choice(_SF_AMOUNTS)
            values["Amount"] = amount
            entity.append(f"amount={amount}")
            parts.append(f"amount {_sf_shown('amount', str(amount))}")
        add("Opportunity", values, entity, f'named "{name}", {_and_list(parts)}')
    for _ in range(70):  # Account
        last = rng.choice(w.last_names)
        name = f"{last} {rng.choice(_SF_COMPANY_SUFFIXES)}"
        values = {"Name": name}
        entity = [f"last_name={last}"]
        parts = []
        for fld, kind, label in (("Industry", "industry", "industry"),
                                 ("Type", "account_type", "type"),
                                 ("BillingCountry", "country", "billing country")):  # fmt: skip
            picked = optional("Account", fld, kind, label)
            if picked:
                values[fld] = picked[1]
                entity.append(f"{kind}={picked[1]}")
                parts.append(picked[2])
        add(
            "Account",
            values,
            entity,
            f'named "{name}"' + (f", {_and_list(parts)}" if parts else ""),
        )
    return slots


def _sf_update_values(w: _SfWriteDomain, sobject: str, kind: str, fld: str) -> list[str]:
    if kind == "amount":
        return [str(a) for a in _SF_AMOUNTS]
    if kind == "close_date":
        return list(_SF_CLOSE_DATES)
    return list(w.base.values.get((sobject, fld)) or [])


def _sf_update_ids(w: _SfWriteDomain, sobject: str) -> list[str]:
    """The records updates change: every Account, every other record of the others.

    Deletes take the rest, so no update needs a record that a delete removed.
    """
    ids = w.base.record_ids.get(sobject) or []
    return list(ids) if sobject not in _SF_DELETABLE else list(ids[1::2])


def _sf_write_families(w: _SfWriteDomain, rng: random.Random) -> list[_Family]:
    """The write families (create, update, delete) with their phrasings and slots."""
    families: list[_Family] = []

    def add(name: str, phrasings: Sequence[str], slots: Iterable[_Slot]) -> None:
        families.append(_Family(name, tuple(phrasings), tuple(slots)))

    add(
        "create",
        ("Create a new {noun} {desc}.", "Add {a_noun} {desc}.",
         "Please create {a_noun} record {desc}.", "I need a new {noun} {desc}.",
         "Set up a new {noun} {desc}."),
        _sf_create_slots(w, rng),
    )  # fmt: skip

    def value_of(kind: str, value: str) -> Any:
        return int(value) if kind == "amount" else value

    single: list[_Slot] = []
    marks: list[_Slot] = []
    pairs: list[_Slot] = []
    by_object: dict[str, list[tuple[str, str, str, bool]]] = {}
    for sobject, fld, label, kind, mark in _SF_UPDATE_FIELDS:
        by_object.setdefault(sobject, []).append((fld, label, kind, mark))
    for sobject, fields in by_object.items():
        noun = _SF_SINGULAR[sobject]
        for record in _sf_update_ids(w, sobject):
            for fld, label, kind, mark in fields:
                for value in _sf_update_values(w, sobject, kind, fld):
                    target = _sf_write({"action": "update", "sobject": sobject,
                                        "record_id": record,
                                        "values": {fld: value_of(kind, value)}})  # fmt: skip
                    fill = {"noun": noun, "id": record, "label": label,
                            "v": _sf_shown(kind, value)}  # fmt: skip
                    slot = _Slot(fill, (f"record={record}", f"{kind}={value}"), target)
                    single.append(slot)
                    if mark:
                        marks.append(slot)
            for (f1, l1, k1, _), (f2, l2, k2, _) in itertools.combinations(fields, 2):
                v1s = _sf_update_values(w, sobject, k1, f1)
                v2s = _sf_update_values(w, sobject, k2, f2)
                if not v1s or not v2s:
                    continue
                for _ in range(3):
                    v1, v2 = rng.choice(v1s), rng.choice(v2s)
                    both = {f1: value_of(k1, v1), f2: value_of(k2, v2)}
                    target = _sf_write({"action": "update", "sobject": sobject,
                                        "record_id": record, "values": both})  # fmt: skip
                    fill = {"noun": noun, "id": record, "l1": l1, "v1": _sf_shown(k1, v1),
                            "l2": l2, "v2": _sf_shown(k2, v2)}  # fmt: skip
                    entity = (f"record={record}", f"{k1}={v1}", f"{k2}={v2}")
                    pairs.append(_Slot(fill, entity, target))
    add(
        "update",
        ("Set the {label} of {noun} {id} to {v}.", "Change {noun} {id}'s {label} to {v}.",
         "Update the {label} on {noun} {id} to {v}.",
         "Please change the {label} of {noun} {id} to {v}.",
         "For {noun} {id}, set the {label} to {v}."),
        single,
    )  # fmt: skip
    add(
        "update_status",
        ("Mark {noun} {id} as {v}.", "Move {noun} {id} to {v}.", "Set {noun} {id} to {v}.",
         "Please mark {noun} {id} as {v}."),
        marks,
    )  # fmt: skip
    add(
        "update_two",
        ("Set the {l1} of {noun} {id} to {v1} and its {l2} to {v2}.",
         "Update {noun} {id}: {l1} {v1}, {l2} {v2}.",
         "Change {noun} {id} so that its {l1} is {v1} and its {l2} is {v2}.",
         "On {noun} {id}, set {l1} to {v1} and {l2} to {v2}."),
        pairs,
    )  # fmt: skip
    deletes = [
        _Slot(
            {"noun": _SF_SINGULAR[sobject], "id": record},
            (f"record={record}",),
            _sf_write({"action": "delete", "sobject": sobject, "record_id": record}),
        )
        for sobject in _SF_DELETABLE
        for record in (w.base.record_ids.get(sobject) or [])[0::2]
    ]
    add(
        "delete",
        ("Delete {noun} {id}.", "Remove {noun} {id}.", "Please delete the {noun} with Id {id}.",
         "Get rid of {noun} {id}.", "Delete the {noun} record {id}."),
        deletes,
    )  # fmt: skip
    return families


def _sf_write_checker(client: Any) -> _Check:
    """A check that parses, validates and performs each write on the sandbox (cached).

    Updates and deletes name disjoint records (:func:`_sf_update_ids`), so no write needs a
    record that an earlier one removed; a delete repeated in the other split is answered from
    the cache.
    """
    from pydantic import ValidationError

    from tools.salesforce import ActionRequest, SalesforceError, SoqlValidationError

    cache: dict[str, tuple[_Checked | None, str | None]] = {}

    def check(candidate: _Candidate) -> tuple[_Checked | None, str | None]:
        if candidate.target in cache:
            return cache[candidate.target]
        outcome: tuple[_Checked | None, str | None]
        try:
            request = ActionRequest.model_validate_json(candidate.target)
        except ValidationError:
            outcome = (None, "not an ActionRequest")
        else:
            action = request.action
            try:
                normalised = client.validate_action(action)
                if json.dumps(request.model_dump(mode="json")) != candidate.target:
                    outcome = (None, "not in the model's field order")
                elif normalised.model_dump(mode="json") != action.model_dump(mode="json"):
                    outcome = (None, "not in the form validate_action normalises to")
                else:
                    result = client.run(action, row_limit=_SF_ROW_LIMIT)
                    outcome = (_Checked({"gold_records": len(result.rows)}), None)
            except SoqlValidationError as exc:
                outcome = (None, f"rejected by validate_action ({exc.code})")
            except SalesforceError as exc:
                outcome = (None, f"failed on the sandbox ({exc.code})")
        cache[candidate.target] = outcome
        return outcome

    return check
