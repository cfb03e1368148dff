"""The org's action grammar: what it names, what it types, and when the specialist uses it.

The grammar is run token by token through llama.cpp in
``tests/integration/test_datasets_validated.py`` (every stored target and hand-written gold
is accepted; invented objects, fields, values and Ids are refused); here its rules are read
as text and its wiring checked without a model.
"""

from __future__ import annotations

import json
import re

import pytest

from graph.context import Context
from nodes.salesforce import salesforce_settings
from specialists.base import Timer
from specialists.salesforce import answer_salesforce, org_grammar, org_objects
from tests.fakes import RecordingEmbeddedModel, ScriptedChatModel
from tests.unit.test_sql_grammar import rules
from tools.salesforce import SalesforceClient
from tools.salesforce.grammar import DECLINE_JSON, action_grammar
from tools.salesforce_sandbox.seed import make_id

ACCOUNT_ID = make_id("Account", 1)
CASE_ID = make_id("Case", 1)
COUNT_ACCOUNTS = '{"action": {"action": "query", "soql": "SELECT COUNT() FROM Account"}}'


@pytest.fixture
def client(offline_org: SalesforceClient) -> SalesforceClient:
    """The offline sandbox org: describe() as Salesforce writes it (key prefixes, flags)."""
    return offline_org


def test_each_query_names_one_object_and_only_its_fields_and_parent_paths(
    client: SalesforceClient,
) -> None:
    objects = org_objects(client)
    found = rules(action_grammar(objects))
    for number, (sobject, describe) in enumerate(sorted(objects.items())):
        assert f'" FROM {sobject}"' in found[f"o{number}q"]
        paths = set(re.findall(r'"([A-Za-z.]+)"', found[f"o{number}p"]))
        own = {str(spec["name"]) for spec in describe["fields"]}
        assert own <= paths
        for path in paths - own:
            relationship, parent_field = path.split(".")
            spec = next(s for s in describe["fields"] if s.get("relationshipName") == relationship)
            parent = objects[spec["referenceTo"][0]]
            assert parent_field in {str(s["name"]) for s in parent["fields"]}
    grammar = action_grammar(objects)
    literals = " ".join(re.findall(r'"((?:[^"\\]|\\.)*)"', grammar)).upper()
    for word in ("DELETE FROM", "INSERT", "UPDATE ", ";", "--", "/*"):
        assert word not in literals


def test_picklists_are_their_values_and_writes_only_settable_fields(
    client: SalesforceClient,
) -> None:
    objects = org_objects(client)
    grammar = action_grammar(objects)
    opportunity = objects["Opportunity"]
    stages = [
        str(entry["value"])
        for spec in opportunity["fields"]
        if spec["name"] == "StageName"
        for entry in spec["picklistValues"]
    ]
    assert stages
    for stage in stages:
        assert f"\"'{stage}'\"" in grammar  # in SOQL
        assert f'"\\"{stage}\\""' in grammar  # as a written value
    number = sorted(objects).index("Opportunity")
    created = set(
        re.findall(
            r'\\"([A-Za-z]+)\\": ',
            " ".join(
                body for name, body in rules(grammar).items() if name.startswith(f"o{number}setc")
            ),
        )
    )
    settable = {str(s["name"]) for s in opportunity["fields"] if s.get("createable")}
    assert created == settable and "Id" not in created


def test_record_ids_come_from_the_request_with_the_object_prefix(
    client: SalesforceClient,
) -> None:
    objects = org_objects(client)
    found = rules(action_grammar(objects, ids=[ACCOUNT_ID, CASE_ID]))
    id_rules = {name: body for name, body in found.items() if re.fullmatch(r"id\d+", name)}
    assert f'"{ACCOUNT_ID}"' in id_rules.values()
    assert f'"{CASE_ID}"' in id_rules.values()
    # An object whose prefix the request holds no Id of may be given any Id of its prefix;
    # the runtime's own check then refuses it (``copy_ids``).
    assert any(body.endswith("idchar{12} (idchar{3})?") for body in id_rules.values())


def test_a_repair_keeps_the_kind_and_the_decline_is_first_attempt_only(
    client: SalesforceClient,
) -> None:
    objects = org_objects(client)
    full = rules(action_grammar(objects))
    assert full["root"].endswith(" | " + json.dumps(DECLINE_JSON))
    assert {"act-query", "act-get", "act-create", "act-update", "act-delete"} <= set(full)
    narrowed = rules(org_grammar(client, [], kinds=("update",)))
    assert "act-update" in narrowed and "act-query" not in narrowed
    assert "decline" not in narrowed["root"]
    with pytest.raises(ValueError, match="unknown action kind"):
        action_grammar(objects, kinds=("upsert",))
    with pytest.raises(ValueError, match="at least one described object"):
        action_grammar({})


@pytest.mark.parametrize(("decoding", "grammar_sent"), [("grammar", True), ("free", False)])
def test_the_embedded_model_decodes_under_the_org_grammar_unless_told_free(
    client: SalesforceClient, decoding: str, grammar_sent: bool
) -> None:
    model = RecordingEmbeddedModel(model_path="unused.gguf", reply=COUNT_ACCOUNTS, seen=[])
    settings = salesforce_settings(Context(backend="embedded", salesforce_decoding=decoding))
    request = f"How many accounts? And what is {ACCOUNT_ID}?"
    answer = answer_salesforce(model, client, request, settings, Timer())
    assert answer.result is not None
    sent = model.seen[0]
    assert ("grammar" in sent) is grammar_sent and ("format" in sent) is not grammar_sent
    if grammar_sent:
        assert sent["grammar"] == action_grammar(org_objects(client), ids=[ACCOUNT_ID])


def test_other_backends_keep_the_json_schema(client: SalesforceClient) -> None:
    model = ScriptedChatModel.of(
        ['{"action": {"action": "query", "soql": "SELECT COUNT() FROM Account"}}']
    )
    settings = salesforce_settings(Context(salesforce_decoding="grammar"))
    answer = answer_salesforce(model, client, "How many accounts?", settings, Timer())
    assert answer.result is not None
    assert all("grammar" not in kwargs and "format" in kwargs for _, kwargs in model.calls)


def test_salesforce_decoding_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLM_SALESFORCE_DECODING", "free")
    assert Context().salesforce_decoding == "free"
    with pytest.raises(ValueError, match="unknown Salesforce decoding 'beam'"):
        Context(salesforce_decoding="beam")
