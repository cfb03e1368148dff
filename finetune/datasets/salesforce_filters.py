"""Salesforce read families that filter records: by values, patterns, dates, numbers and nulls."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

from finetune.datasets.common import SANDBOX_ANCHOR, _Add, _lit, _or_list, _Slot
from finetune.datasets.salesforce_domain import (
    _SF_DATE_FIELDS,
    _SF_DATE_LITERALS,
    _SF_FILTERS,
    _SF_FUTURE_LITERALS,
    _SF_LIST_FIELDS,
    _SF_NOUNS,
    _sf_query,
    _SfDomain,
    _SfFilter,
)


def _sf_filter_families(add: _Add, filters: Sequence[_SfFilter]) -> None:
    """Counts and lists of records: all of them, and by one value."""
    add(
        "count_all",
        (
            "How many {noun} are there?",
            "Count all {noun}.",
            "What is the total number of {noun}?",
            "How many {noun} do we have in the CRM?",
            "Tell me the number of {noun} in Salesforce.",
        ),
        (
            _Slot(
                {"noun": noun}, (f"object={sobject}",), _sf_query(f"SELECT COUNT() FROM {sobject}")
            )
            for sobject, noun in _SF_NOUNS.items()
        ),
    )
    add(
        "count_filtered",
        (
            "How many {np} are there?",
            "Count the {np}.",
            "What is the number of {np}?",
            "How many {np} do we have?",
            "Tell me how many {np} there are.",
        ),
        (
            _Slot(
                {"np": f"{_SF_NOUNS[sobject]} {where}"},
                (f"{kind}={value}",),
                _sf_query(f"SELECT COUNT() FROM {sobject} WHERE {fld} = {_lit(value)}"),
            )
            for kind, sobject, fld, where, value in filters
        ),
    )
    add(
        "list_filtered",
        (
            "List the {np}.",
            "Show me all {np}.",
            "Get the {np}.",
            "Can you pull up the {np}?",
            "I'd like to see the {np}.",
        ),
        (
            _Slot(
                {"np": f"{_SF_NOUNS[sobject]} {where}"},
                (f"{kind}={value}",),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[sobject]} FROM {sobject} WHERE {fld} = {_lit(value)}"
                ),
            )
            for kind, sobject, fld, where, value in filters
        ),
    )


def _sf_combined_families(
    add: _Add,
    d: _SfDomain,
    rng: random.Random,
    filters: Sequence[_SfFilter],
) -> None:
    """Two values joined by AND or OR, and lists of values (IN and NOT IN)."""
    pairs = [
        (a, b)
        for i, a in enumerate(filters)
        for b in filters[i + 1 :]
        if a[1] == b[1] and a[2] != b[2] and a[0] != "title" and b[0] != "title"
    ]
    pairs = rng.sample(pairs, min(len(pairs), 500))
    add(
        "and_filters",
        (
            "List the {noun} {w1} and {w2}.",
            "Show me the {noun} {w1} and {w2}.",
            "Find all {noun} {w1} and {w2}.",
            "I need the {noun} {w1} and {w2}.",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[a[1]], "w1": a[3], "w2": b[3]},
                (f"{a[0]}={a[4]}", f"{b[0]}={b[4]}"),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[a[1]]} FROM {a[1]} WHERE {a[2]} = {_lit(a[4])} "
                    f"AND {b[2]} = {_lit(b[4])}"
                ),
            )
            for a, b in pairs
        ),
    )
    or_pairs = rng.sample(pairs, min(len(pairs), 200))
    add(
        "or_filters",
        (
            "List the {noun} that are either {w1} or {w2}.",
            "Show me every one of the {noun} {w1}, or {w2}.",
            "Find the {noun} {w1} as well as those {w2}.",
            "Which {noun} match one of these: {w1}, or {w2}?",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[a[1]], "w1": a[3], "w2": b[3]},
                (f"{a[0]}={a[4]}", f"{b[0]}={b[4]}"),
                _sf_query(
                    f"SELECT {_SF_LIST_FIELDS[a[1]]} FROM {a[1]} WHERE {a[2]} = {_lit(a[4])} "
                    f"OR {b[2]} = {_lit(b[4])}"
                ),
            )
            for a, b in or_pairs
        ),
    )

    in_slots: list[_Slot] = []
    not_in_slots: list[_Slot] = []
    for kind, sobject, fld, _, where_many, where_not, _ in _SF_FILTERS:
        values = d.values[(sobject, fld)]
        combos: list[tuple[str, ...]] = [
            (a, b) for i, a in enumerate(values) for b in values[i + 1 :]
        ]
        if len(combos) > 20:
            combos = rng.sample(combos, 20)
        for combo in combos:
            picked = list(combo)
            rng.shuffle(picked)
            listed = ", ".join(_lit(value) for value in picked)
            entity = tuple(f"{kind}={value}" for value in picked)
            noun = _SF_NOUNS[sobject]
            fields = _SF_LIST_FIELDS[sobject]
            in_slots.append(
                _Slot(
                    {"np": f"{noun} {where_many.format(v=_or_list(picked))}"},
                    entity,
                    _sf_query(f"SELECT {fields} FROM {sobject} WHERE {fld} IN ({listed})"),
                )
            )
            not_in_slots.append(
                _Slot(
                    {"np": f"{noun} {where_not.format(v=_or_list(picked))}"},
                    entity,
                    _sf_query(f"SELECT {fields} FROM {sobject} WHERE {fld} NOT IN ({listed})"),
                )
            )
    add(
        "in_list",
        ("List the {np}.", "Show me the {np}.", "Pull up the {np}.", "Find the {np}."),
        in_slots,
    )
    add(
        "not_in_list",
        (
            "List the {np}.",
            "Show me the {np}.",
            "Pull up the {np}.",
            "Find all {np}.",
        ),
        not_in_slots,
    )


def _sf_like_families(add: _Add, d: _SfDomain) -> None:
    """Records by a pattern of their name, subject, email or company (LIKE)."""
    like: list[_Slot] = [
        _Slot(
            {"np": f"accounts whose name starts with {prefix}"},
            (f"account_prefix={prefix}",),
            _sf_query(f"SELECT Name FROM Account WHERE Name LIKE '{prefix}%'"),
        )
        for prefix in d.account_prefixes
    ]
    like += [
        _Slot(
            {"np": f"cases whose subject mentions {word}"},
            (f"subject_word={word}",),
            _sf_query(f"SELECT Id, Subject FROM Case WHERE Subject LIKE '%{word}%'"),
        )
        for word in d.subject_words
    ]
    like += [
        _Slot(
            {"np": f"contacts with an email address at {domain}"},
            (f"email_domain={domain}",),
            _sf_query(
                f"SELECT FirstName, LastName, Email FROM Contact WHERE Email LIKE '%@{domain}'"
            ),
        )
        for domain in d.email_domains
    ]
    like += [
        _Slot(
            {"np": f"leads whose company name contains {word}"},
            (f"company_word={word}",),
            _sf_query(
                f"SELECT FirstName, LastName, Company FROM Lead WHERE Company LIKE '%{word}%'"
            ),
        )
        for word in d.company_words
    ]
    add(
        "name_like",
        ("List the {np}.", "Show me the {np}.", "Find all {np}.", "Can you look up the {np}?"),
        like,
    )


def _sf_date_families(add: _Add) -> None:
    """Records by date literal (listed and counted), and before or since a date."""
    dated: list[_Slot] = []
    dated_counts: list[_Slot] = []
    for sobject, fld, verb, future in _SF_DATE_FIELDS:
        literals = _SF_DATE_LITERALS + (_SF_FUTURE_LITERALS if future else ())
        for literal, phrase in literals:
            np = f"{_SF_NOUNS[sobject]} {verb} {phrase}"
            dated.append(
                _Slot(
                    {"np": np},
                    (f"date={literal}",),
                    _sf_query(
                        f"SELECT {_SF_LIST_FIELDS[sobject]} FROM {sobject} WHERE {fld} = {literal}"
                    ),
                )
            )
            dated_counts.append(
                _Slot(
                    {"np": np},
                    (f"date={literal}",),
                    _sf_query(f"SELECT COUNT() FROM {sobject} WHERE {fld} = {literal}"),
                )
            )
    add(
        "date_literal",
        ("List the {np}.", "Show me the {np}.", "Get the {np}.", "Pull up all {np}.",
         "I need the {np}."),
        dated,
    )  # fmt: skip
    add(
        "date_literal_count",
        (
            "How many {np} do we have?",
            "Count the {np}.",
            "What is the number of {np}?",
            "Tell me how many {np} there are.",
        ),
        dated_counts,
    )

    iso: list[_Slot] = []
    for months in range(-12, 7):
        year = SANDBOX_ANCHOR.year + (SANDBOX_ANCHOR.month - 1 + months) // 12
        month = (SANDBOX_ANCHOR.month - 1 + months) % 12 + 1
        day = dt.date(year, month, 1).isoformat()
        for word, op in (("before", "<"), ("since", ">=")):
            iso.append(
                _Slot(
                    {"np": f"opportunities with a close date {word} {day}"},
                    (),
                    _sf_query(
                        f"SELECT Name, CloseDate FROM Opportunity WHERE CloseDate {op} {day}"
                    ),
                )
            )
            if months <= 0:
                for sobject in ("Case", "Lead"):
                    iso.append(
                        _Slot(
                            {"np": f"{_SF_NOUNS[sobject]} created {word} {day}"},
                            (),
                            _sf_query(
                                f"SELECT {_SF_LIST_FIELDS[sobject]}, CreatedDate FROM {sobject} "
                                f"WHERE CreatedDate {op} {day}T00:00:00Z"
                            ),
                        )
                    )
    add(
        "iso_date",
        ("List the {np}.", "Show me the {np}.", "Find the {np}.", "Which are the {np}?"),
        iso,
    )


def _sf_condition_families(
    add: _Add,
    filters: Sequence[_SfFilter],
    parent_filters: Sequence[_SfFilter],
) -> None:
    """Won, open and lost opportunities, numeric comparisons and empty fields."""
    outcomes = (
        ("won opportunities", "IsWon = true"),
        ("open opportunities", "IsClosed = false"),
        ("lost opportunities", "IsClosed = true AND IsWon = false"),
        ("closed opportunities", "IsClosed = true"),
    )
    outcome_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" at accounts {where}", f" AND Account.{fld} = {_lit(value)}", (f"{kind}={value}",))
        for kind, _, fld, where, value in parent_filters
        if kind == "industry"
    ]
    add(
        "won_open_lost",
        ("List the {np}.", "Show me all {np}.", "Which {np} do we have?", "Get the {np}."),
        (
            _Slot(
                {"np": np + where},
                entity,
                _sf_query(f"SELECT Name, Amount FROM Opportunity WHERE {condition}{clause}"),
            )
            for np, condition in outcomes
            for where, clause, entity in outcome_scopes
        ),
    )

    numeric = (
        ("Account", "NumberOfEmployees", "Name, NumberOfEmployees", "accounts with {cmp} employees",
         (100, 500, 1000, 5000, 10000)),
        ("Account", "AnnualRevenue", "Name, AnnualRevenue", "accounts with an annual revenue {cmp}",
         (10000000, 50000000, 100000000, 500000000, 1000000000)),
        ("Opportunity", "Amount", "Name, Amount", "opportunities worth {cmp}",
         (25000, 50000, 100000, 250000, 400000)),
    )  # fmt: skip
    add(
        "numeric_compare",
        ("List the {np}.", "Show me the {np}.", "Find all {np}.", "Get the {np}."),
        (
            _Slot(
                {"np": phrase.format(cmp=f"{word} {n}")},
                (),
                _sf_query(f"SELECT {fields} FROM {sobject} WHERE {fld} {op} {n}"),
            )
            for sobject, fld, fields, phrase, steps in numeric
            for n in steps
            for word, op in (("more than", ">"), ("at most", "<="))
        ),
    )

    nulls = (
        ("contacts without a title", "Contact", "FirstName, LastName", "Title = null"),
        ("contacts that have a title", "Contact", "FirstName, LastName, Title", "Title != null"),
        ("cases without a contact", "Case", "Id, Subject", "ContactId = null"),
        ("cases that have a closed date", "Case", "Id, Subject, ClosedDate", "ClosedDate != null"),
        ("cases without a closed date", "Case", "Id, Subject", "ClosedDate = null"),
    )
    null_slots = [
        _Slot(
            {"np": np},
            (f"object={sobject}",),
            _sf_query(f"SELECT {fields} FROM {sobject} WHERE {cond}"),
        )
        for np, sobject, fields, cond in nulls
    ]
    null_slots += [
        _Slot(
            {"np": f"{np} {where}"},
            (f"{kind}={value}",),
            _sf_query(f"SELECT {fields} FROM {sobject} WHERE {cond} AND {fld} = {_lit(value)}"),
        )
        for np, sobject, fields, cond in nulls
        for kind, fobject, fld, where, value in filters
        if fobject == sobject and kind in ("priority", "case_status", "origin")
    ]
    add(
        "null_fields",
        ("List the {np}.", "Show me all {np}.", "Find the {np}.", "Which are the {np}?"),
        null_slots,
    )
