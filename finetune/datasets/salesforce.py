"""The Salesforce read families in their fixed order, their held-out entities and checker."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from typing import Any

from finetune.datasets.common import (
    _SF_ROW_LIMIT,
    _Candidate,
    _Check,
    _Checked,
    _Family,
    _HeldOut,
    _Slot,
)
from finetune.datasets.salesforce_aggregates import _sf_group_families, _sf_sorted_families
from finetune.datasets.salesforce_domain import (
    _SF_DATE_LITERALS,
    _SF_FILTERS,
    _SF_FUTURE_LITERALS,
    _SfDomain,
)
from finetune.datasets.salesforce_filters import (
    _sf_combined_families,
    _sf_condition_families,
    _sf_date_families,
    _sf_filter_families,
    _sf_like_families,
)
from finetune.datasets.salesforce_records import _sf_account_families, _sf_record_families


def _sf_families(d: _SfDomain, rng: random.Random) -> list[_Family]:
    """Every Salesforce family with its phrasings and slots."""
    families: list[_Family] = []

    def add(name: str, phrasings: Sequence[str], slots: Iterable[_Slot]) -> None:
        families.append(_Family(name, tuple(phrasings), tuple(slots)))

    filters = [
        (kind, sobject, fld, where.format(v=value), value)
        for kind, sobject, fld, where, *_ in _SF_FILTERS
        for value in d.values[(sobject, fld)]
    ]
    parent_filters = [f for f in filters if f[1] == "Account" and f[0] != "city"]
    _sf_filter_families(add, filters)
    _sf_combined_families(add, d, rng, filters)
    _sf_like_families(add, d)
    _sf_date_families(add)
    _sf_sorted_families(add, d)
    _sf_group_families(add, d, filters)
    _sf_account_families(add, d, filters, parent_filters)
    _sf_record_families(add, d)
    _sf_condition_families(add, filters, parent_filters)
    return families


def _register_sf_entities(heldout: _HeldOut, d: _SfDomain) -> None:
    by_kind: dict[str, list[str]] = {}
    for kind, sobject, fld, *_ in _SF_FILTERS:
        by_kind.setdefault(kind, []).extend(d.values[(sobject, fld)])
    for kind, values in by_kind.items():
        heldout.register_entities(kind, values)
    heldout.register_entities("account", d.accounts)
    heldout.register_entities("account_prefix", d.account_prefixes)
    heldout.register_entities("contact", [f"{first} {last}" for first, last in d.contacts])
    heldout.register_entities("lead", [f"{first} {last}" for first, last in d.leads])
    heldout.register_entities("email_domain", d.email_domains)
    heldout.register_entities("company_word", d.company_words)
    heldout.register_entities("subject_word", d.subject_words)
    heldout.register_entities("record", [i for ids in d.record_ids.values() for i in ids])
    literals = _SF_DATE_LITERALS + _SF_FUTURE_LITERALS
    heldout.register_entities("date", [literal for literal, _ in literals])


def _sf_checker(client: Any) -> _Check:
    """A check that parses, validates and runs each action on the sandbox (cached)."""
    from pydantic import ValidationError

    from tools.salesforce import ActionRequest, QueryAction, SalesforceError, SoqlValidationError

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
                result = client.run(action, row_limit=_SF_ROW_LIMIT)
            except SoqlValidationError as exc:
                outcome = (None, f"rejected by validate_action ({exc.code})")
            except SalesforceError as exc:
                outcome = (None, f"failed on the sandbox ({exc.code})")
            else:
                counted = isinstance(action, QueryAction) and result.columns == ["COUNT()"]
                if json.dumps(request.model_dump(mode="json")) != candidate.target:
                    outcome = (None, "not in the model's field order")
                elif normalised.model_dump(mode="json") != action.model_dump(mode="json"):
                    outcome = (None, "not in the form validate_action normalises to")
                elif not result.rows:
                    outcome = (None, "no records")
                elif (
                    not counted
                    and len(result.rows) == 1
                    and all(value is None for value in result.rows[0])
                ):
                    outcome = (None, "aggregate over no records (null)")
                else:
                    outcome = (_Checked({"gold_records": len(result.rows)}), None)
        cache[candidate.target] = outcome
        return outcome

    return check
