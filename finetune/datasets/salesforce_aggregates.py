"""Salesforce read families that sort, page, group and aggregate records."""

from __future__ import annotations

from collections.abc import Sequence

from finetune.datasets.common import _TOP_N, _Add, _lit, _Slot, _thresholds
from finetune.datasets.salesforce_domain import (
    _SF_FILTERS,
    _SF_NOUNS,
    _sf_query,
    _SfDomain,
    _SfFilter,
)


def _sf_sorted_families(add: _Add, d: _SfDomain) -> None:
    """Top-N records, sorted pages and sorts with the nulls first or last."""
    orderings: list[tuple[str, str, str, str, str, tuple[tuple[str, str, str], ...]]] = [
        # object, what the request calls them, fields, order, fixed condition, filter kinds
        ("Opportunity", "largest opportunities by amount", "Name, Amount", "Amount DESC", "",
         (("stage", "StageName", "in the {v} stage"),
          ("lead_source", "LeadSource", "with lead source {v}"))),
        ("Opportunity", "smallest opportunities by amount", "Name, Amount", "Amount ASC", "", ()),
        ("Opportunity", "open opportunities closing soonest", "Name, CloseDate", "CloseDate ASC",
         "IsClosed = false", ()),
        ("Account", "accounts with the highest annual revenue", "Name, AnnualRevenue",
         "AnnualRevenue DESC", "",
         (("industry", "Industry", "in the {v} industry"),
          ("country", "BillingCountry", "based in {v}"))),
        ("Account", "accounts with the most employees", "Name, NumberOfEmployees",
         "NumberOfEmployees DESC", "", (("industry", "Industry", "in the {v} industry"),)),
        ("Case", "most recent cases", "Id, Subject, CreatedDate", "CreatedDate DESC", "",
         (("priority", "Priority", "with {v} priority"),)),
        ("Lead", "newest leads", "FirstName, LastName, Company, CreatedDate", "CreatedDate DESC",
         "", (("rating", "Rating", "rated {v}"),)),
    ]  # fmt: skip
    top: list[_Slot] = []
    for sobject, what, fields, order, fixed, kinds in orderings:
        scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())]
        for kind, fld, phrase in kinds:
            scopes += [
                (f" {phrase.format(v=value)}", f"{fld} = {_lit(value)}", (f"{kind}={value}",))
                for value in d.values[(sobject, fld)]
            ]
        for where, condition, entity in scopes:
            conditions = " AND ".join(c for c in (fixed, condition) if c)
            clause = f" WHERE {conditions}" if conditions else ""
            for n in _TOP_N:
                top.append(
                    _Slot(
                        {"n": str(n), "what": what + where},
                        entity,
                        _sf_query(
                            f"SELECT {fields} FROM {sobject}{clause} ORDER BY {order} LIMIT {n}"
                        ),
                    )
                )
    add(
        "top_n",
        (
            "Show me the {n} {what}.",
            "What are the {n} {what}?",
            "Give me the {n} {what}.",
            "List the top {n} {what}.",
        ),
        top,
    )

    paging: list[_Slot] = []
    for sobject, fields, key, how in (
        ("Account", "Name", "Name ASC", "by name"),
        ("Contact", "FirstName, LastName", "LastName ASC", "by last name"),
        ("Lead", "FirstName, LastName, Company", "Company ASC", "by company"),
        ("Case", "Id, Subject, CreatedDate", "CreatedDate DESC", "newest first"),
    ):
        for size in (10, 20):
            for page in (2, 3, 4):
                paging.append(
                    _Slot(
                        {"noun": _SF_NOUNS[sobject], "how": how, "size": str(size),
                         "page": str(page), "ordinal": ("second", "third", "fourth")[page - 2]},
                        (f"object={sobject}",),
                        _sf_query(
                            f"SELECT {fields} FROM {sobject} ORDER BY {key} LIMIT {size} "
                            f"OFFSET {size * (page - 1)}"
                        ),
                    )
                )  # fmt: skip
    add(
        "sorted_pages",
        (
            "Show the {ordinal} page of {size} {noun}, sorted {how}.",
            "List {noun} sorted {how}: page {page}, {size} per page.",
            "Give me page {page} of the {noun} sorted {how}, {size} at a time.",
        ),
        paging,
    )
    nulls_last = (
        ("contacts", "by title, those without a title last", "Contact",
         "FirstName, LastName, Title", "Title ASC NULLS LAST"),
        ("cases", "by closed date, newest first, open cases last", "Case",
         "Id, Subject, ClosedDate", "ClosedDate DESC NULLS LAST"),
        ("opportunities", "by lead source, those without one first", "Opportunity",
         "Name, LeadSource", "LeadSource ASC NULLS FIRST"),
        ("accounts", "by annual revenue, largest first, blanks last", "Account",
         "Name, AnnualRevenue", "AnnualRevenue DESC NULLS LAST"),
    )  # fmt: skip
    add(
        "sorted_nulls",
        (
            "List the first {n} {noun} sorted {how}.",
            "Show {n} {noun}, sorted {how}.",
            "Give me the top {n} {noun} ordered {how}.",
            "Sort the {noun} {how} and show the first {n}.",
        ),
        (
            _Slot(
                {"n": str(n), "noun": noun, "how": how},
                (f"object={sobject}",),
                _sf_query(f"SELECT {fields} FROM {sobject} ORDER BY {order} LIMIT {n}"),
            )
            for noun, how, sobject, fields, order in nulls_last
            for n in (5, 10, 20, 50)
        ),
    )


def _sf_group_families(add: _Add, d: _SfDomain, filters: Sequence[_SfFilter]) -> None:
    """Counts and aggregates per group, aggregates of filtered records, groups over a count."""
    dims = [
        (kind, sobject, fld, dim)
        for kind, sobject, fld, *_, dim in _SF_FILTERS
        if kind not in ("title", "city")
    ]
    add(
        "group_count",
        (
            "How many {noun} are there per {dim}?",
            "Count the {noun} by {dim}.",
            "Give me the number of {noun} for each {dim}.",
            "Break down the {noun} by {dim}.",
            "What is the {dim} breakdown of {noun}?",
        ),
        (
            _Slot(
                {"noun": _SF_NOUNS[sobject], "dim": dim},
                (f"group={sobject}.{fld}",),
                _sf_query(f"SELECT {fld}, COUNT(Id) FROM {sobject} GROUP BY {fld}"),
            )
            for _, sobject, fld, dim in dims
        ),
    )
    add(
        "group_count_filtered",
        (
            "How many {np} are there per {dim}?",
            "Count the {np} by {dim}.",
            "For the {np}, give me the number per {dim}.",
            "Break down the {np} by {dim}.",
        ),
        (
            _Slot(
                {"np": f"{_SF_NOUNS[sobject]} {where}", "dim": dim},
                (f"{kind}={value}",),
                _sf_query(
                    f"SELECT {gfld}, COUNT(Id) FROM {sobject} WHERE {fld} = {_lit(value)} "
                    f"GROUP BY {gfld}"
                ),
            )
            for _, sobject, gfld, dim in dims
            for kind, fobject, fld, where, value in filters
            if fobject == sobject and fld != gfld and kind not in ("title", "city")
        ),
    )

    measures = (
        ("Opportunity", "Amount", "opportunity amount", "amount", "opportunities"),
        ("Account", "AnnualRevenue", "annual revenue of accounts", "annual revenue", "accounts"),
        ("Account", "NumberOfEmployees", "number of employees of accounts",
         "number of employees", "accounts"),
    )  # fmt: skip
    sums = (("total", "SUM"), ("average", "AVG"), ("largest", "MAX"), ("smallest", "MIN"))
    add(
        "group_aggregate",
        (
            "What is the {agg} {measure} per {dim}?",
            "Show the {agg} {measure} by {dim}.",
            "Give me the {agg} {measure} for each {dim}.",
            "Break down the {agg} {measure} by {dim}.",
        ),
        (
            _Slot(
                {"agg": word, "measure": measure, "dim": dim},
                (f"group={sobject}.{gfld}",),
                _sf_query(f"SELECT {gfld}, {function}({fld}) FROM {sobject} GROUP BY {gfld}"),
            )
            for sobject, fld, measure, _, _ in measures
            for _, dobject, gfld, dim in dims
            if dobject == sobject
            for word, function in sums[:3]
        ),
    )
    add(
        "aggregate",
        (
            "What is the {agg} {measure} of {np}?",
            "Calculate the {agg} {measure} of {np}.",
            "Tell me the {agg} {measure} across {np}.",
            "Give me the {agg} {measure} for {np}.",
        ),
        (
            _Slot(
                {"agg": word, "measure": short, "np": f"{noun} {where}"},
                (f"{kind}={value}",),
                _sf_query(f"SELECT {function}({fld}) FROM {sobject} WHERE {ffld} = {_lit(value)}"),
            )
            for sobject, fld, _, short, noun in measures
            for kind, fobject, ffld, where, value in filters
            if fobject == sobject and kind not in ("title",)
            for word, function in sums
        ),
    )

    having: list[_Slot] = []
    plural = {"industry": "industries", "type": "types", "billing country": "billing countries",
              "stage": "stages", "lead source": "lead sources", "status": "statuses",
              "rating": "ratings", "priority": "priorities", "origin": "origins"}  # fmt: skip
    for _, sobject, fld, dim in dims:
        for n in _thresholds(list(d.counts[(sobject, fld)].values()), step=5):
            having.append(
                _Slot(
                    {"dim": dim, "dims": plural[dim], "n": str(n), "noun": _SF_NOUNS[sobject]},
                    (f"group={sobject}.{fld}",),
                    _sf_query(
                        f"SELECT {fld}, COUNT(Id) FROM {sobject} GROUP BY {fld} "
                        f"HAVING COUNT(Id) > {n}"
                    ),
                )
            )
    add(
        "having_count",
        (
            "Which {dims} have more than {n} {noun}?",
            "List the {dims} with over {n} {noun}.",
            "Show every {dim} that has more than {n} {noun}, with the count.",
            "Find the {dims} where we have more than {n} {noun}.",
        ),
        having,
    )
