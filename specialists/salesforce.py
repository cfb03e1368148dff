"""The Salesforce specialist: one typed action per request, checked against the org.

The model's output is constrained to the ``ActionRequest`` schema; ``tools.salesforce``
validates the action against the org's ``describe()`` metadata and a rejected action goes
back to the model with the error. A read runs at once; a write stops validated, with its
preview, unless the caller pre-approves it (the approval and the exactly-once write are
:mod:`graph.approvals`' business, not the specialist's).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

import runtime
from prompts.render import render
from prompts.salesforce import (
    SALESFORCE_OBJECTS,
    SALESFORCE_OBJECTS_PROMPT,
    SOQL_PROMPT,
    SOQL_REPAIR_PROMPT,
)
from runtime.grammar import schema_to_gbnf
from specialists.base import (
    Attempt,
    Outcome,
    Rejected,
    RepairPolicy,
    Specialist,
    Timer,
    Turn,
    parse_reply,
    repair_loop,
    system_turns,
)
from specialists.bindings import missing_values, respelled
from specialists.spellings import fold, spelled_as_held
from specialists.text import describe_rows
from tools.salesforce import (
    KEY_PREFIXES,
    ActionRequest,
    ActionResult,
    AnyAction,
    PicklistValueError,
    SalesforceClient,
    SalesforceError,
    is_write,
)
from tools.salesforce.actions import (
    CreateAction,
    DeleteAction,
    DescribeAction,
    GetAction,
    QueryAction,
    UpdateAction,
)
from tools.salesforce.grammar import KINDS, action_grammar
from tools.salesforce_limits import DEFAULT_OBJECTS


def salesforce_chat(system: str, request: str, *, fewshot: bool, schema: str = "") -> list[Turn]:
    """The Salesforce specialist's chat.

    Few-shot: the objects and worked examples in the user turn. Fine-tuned: the objects in
    the system message and the bare request as the user turn.
    """
    if fewshot:
        user = render(SOQL_PROMPT, objects=SALESFORCE_OBJECTS, request=request)
        return [*system_turns(system), ("user", user)]
    objects = render(SALESFORCE_OBJECTS_PROMPT, objects=SALESFORCE_OBJECTS)
    return [*system_turns(system, objects), ("user", request)]


def _repair_prompt(error: str, request: str) -> str:
    return render(SOQL_REPAIR_PROMPT, error=error)


DECLINED = (
    "The Salesforce specialist declined: the org holds nothing that this request asks about, "
    "so no action was taken."
)
"""The sub-task's output when the model declines."""


class Declined(BaseModel):
    """In place of an action: the org holds nothing that the request asks about."""

    model_config = ConfigDict(extra="forbid")

    decline: Literal["cannot answer from this org"] = Field(
        description="Written instead of an action when the org holds nothing the request "
        "asks about."
    )


class SalesforceReply(RootModel[ActionRequest | Declined]):
    """The Salesforce specialist's output: one action, or the decline."""


SALESFORCE = Specialist(
    name="salesforce",
    label="Salesforce",
    chat=salesforce_chat,
    checked_by="tools.salesforce: the action checked against the org's describe() metadata",
    output_schema=SalesforceReply,
    trainable=True,
    digits=True,
    repair=RepairPolicy(prompt=_repair_prompt),
)
"""The Salesforce specialist (repairs greedy, from the same chat plus the error)."""


@dataclass(frozen=True)
class SalesforceSettings:
    """What the Salesforce specialist needs of a run's settings.

    Attributes:
        max_repairs: Repairs allowed after the first attempt.
        row_limit: Most rows kept from a query.
        system: The SYSTEM text ('' for a model that brings its own).
        preapproved: Whether a write of ``(sobject, action)`` may run without a human.
        ground: Copy record Ids from the request and keep repairs on the first attempt's
            action kind (off only to measure what they change).
        sampled_repairs: Sample the repairs (True) or decode them greedily (False); None
            keeps the specialist's policy (greedy).
    """

    max_repairs: int = 2
    row_limit: int = 50
    system: str = ""
    preapproved: Callable[[str, str], bool] = lambda sobject, action: False
    ground: bool = True
    sampled_repairs: bool | None = None
    bound: tuple[str, ...] = ()
    """Values copied in from earlier steps of a chain (:mod:`specialists.bindings`): the
    action must carry each of them (in its SOQL, its record Id or a field value)."""
    decoding: str = "grammar"
    """``grammar``: decode under the org's action grammar (:func:`org_grammar`) where the
    runtime supports grammars and grounding is on; ``free``: under the action's JSON schema."""


@dataclass
class SalesforceAnswer:
    """What :func:`answer_salesforce` produced for one request.

    Exactly one of ``result`` (a read that ran, or a pre-approved write), ``pending`` (a
    validated write that waits for approval, with ``preview``) and ``stopped``/nothing
    (no action was accepted) is set.
    """

    action: AnyAction | None = None
    """The validated action (None when none was accepted)."""
    result: ActionResult | None = None
    """What running it returned."""
    preview: str = ""
    """For a write that waits: exactly what it will write."""
    attempts: list[Attempt] = field(default_factory=list)
    """Every action the model wrote, with the reason it was rejected."""
    stopped: str | None = None
    """Why the loop stopped early (refused for good, or the model is unavailable)."""

    def failure(self, max_repairs: int) -> str:
        """The sub-task's output when no action was accepted."""
        outcome: Outcome[AnyAction] = Outcome(attempts=self.attempts, stopped=self.stopped)
        return outcome.failure("action", max_repairs)


def answer_salesforce(
    model: BaseChatModel,
    client: SalesforceClient,
    request: str,
    settings: SalesforceSettings,
    timer: Timer,
) -> SalesforceAnswer:
    """Have ``model`` write one action for ``request``, check it, and run it if it reads.

    A write that is not pre-approved is validated and previewed, not performed.
    """
    fewshot = not runtime.is_finetuned(model, SALESFORCE.name)
    as_held = spelled_as_held(request, picklist_values(client)) if settings.ground else request
    messages = SALESFORCE.messages(settings.system, as_held, fewshot=fewshot)
    answer = SalesforceAnswer()

    request_ids = ids_in(request)
    first_kind: list[str] = []
    grammar = settings.ground and settings.decoding == "grammar" and runtime.supports_grammar(model)
    # A chain's bound values are already written into ``request`` (its filled instruction).
    first = {"grammar": org_grammar(client, request_ids)} if grammar else SALESFORCE.constraint()
    repair_grammars: dict[str, str] = {}

    def check(reply: AIMessage) -> tuple[AnyAction, str]:
        parsed, error = parse_reply(reply, ActionRequest)
        if parsed is None:
            declined, _ = parse_reply(reply, Declined)
            if declined is not None:
                raise Rejected(str(reply.content), DECLINED, final=True)
            raise Rejected(str(reply.content), f"the action does not fit the schema: {error}")
        action = parsed.action
        if not first_kind:
            first_kind.append(action.action)
        kind = first_kind[0]
        stay: dict[str, Any] | None = None
        if grammar:
            if kind not in repair_grammars:
                repair_grammars[kind] = org_grammar(client, request_ids, kinds=(kind,))
            stay = {"grammar": repair_grammars[kind]}
        elif settings.ground:
            stay = {"format": kind_schema(kind)}
        if settings.ground and action.action != kind:
            raise Rejected(
                action.model_dump_json(),
                f"the request asks for a {kind} action; write a {kind} action",
                repair_options=stay,
            )
        id_problem = None
        if settings.ground:
            action, id_problem = copy_ids(action, request_ids)
        shown = action.model_dump_json()
        if id_problem is not None:
            raise Rejected(shown, id_problem, final=True)
        action = with_bound_values(action, settings.bound)
        missing = missing_values(settings.bound, written_values(action))
        if missing:
            listed = ", ".join(f"'{value}'" for value in missing[:5])
            raise Rejected(
                shown,
                f"the action must use the value(s) the earlier step found, written exactly: "
                f"{listed}",
                repair_options=stay,
            )
        try:
            action = _validated(client, action, ground=settings.ground)
            shown = action.model_dump_json()
            sobject = getattr(action, "sobject", "")
            if is_write(action) and not settings.preapproved(sobject, action.action):
                answer.preview = client.preview(action)
            else:
                answer.result = client.run(action, row_limit=settings.row_limit)
        except SalesforceError as exc:
            final = f"Salesforce refused the action: {exc.message}"
            raise Rejected(
                shown,
                exc.message,
                final=not exc.retryable,
                final_text=final,
                repair_options=stay,
            ) from exc
        return action, shown

    outcome = repair_loop(
        SALESFORCE.repairing(settings.sampled_repairs),
        model,
        messages,
        check,
        request=request,
        max_repairs=settings.max_repairs,
        timer=timer,
        options=first,
    )
    answer.action = outcome.value
    answer.attempts = outcome.attempts
    answer.stopped = outcome.stopped
    return answer


def written_values(action: AnyAction) -> list[str]:
    """Every text an action carries: its SOQL, record Id and field values."""
    written = [
        str(getattr(action, name)) for name in ("soql", "record_id") if hasattr(action, name)
    ]
    soql = getattr(action, "soql", None)
    if isinstance(soql, str):
        # A quote inside a SOQL literal is escaped; the value it holds is the unescaped text.
        written.append(soql.replace("\\'", "'").replace("\\\\", "\\"))
    values = getattr(action, "values", None) or {}
    return written + [str(value) for value in values.values() if value is not None]


def with_bound_values(action: AnyAction, bound: Sequence[str]) -> AnyAction:
    """``action`` with each retyped copy of a chain's value replaced by the value itself.

    See :func:`specialists.bindings.respelled`; the SOQL and the text field values are
    looked at, a value already written exactly is left alone.
    """
    if not bound:
        return action
    soql = getattr(action, "soql", None)
    values = dict(getattr(action, "values", None) or {})
    for value in missing_values(bound, written_values(action)):
        if isinstance(soql, str):
            # Inside SOQL the value is written as a literal would hold it (format_soql's escapes).
            escaped = _soql_quoted(value)[1:-1]
            soql = respelled(soql, escaped) or soql
        for name, written in values.items():
            if isinstance(written, str):
                values[name] = respelled(written, value) or written
    update: dict[str, Any] = {}
    if isinstance(soql, str) and soql != getattr(action, "soql", None):
        update["soql"] = soql
    if values and values != getattr(action, "values", None):
        update["values"] = values
    return action.model_copy(update=update) if update else action


def org_objects(client: SalesforceClient) -> dict[str, dict[str, Any]]:
    """The describe() of each object ``client`` may use, by name.

    An object whose describe() cannot be read is left out (what names it is then checked by
    the validator alone).
    """
    found: dict[str, dict[str, Any]] = {}
    for sobject in sorted(client.allowed_objects or DEFAULT_OBJECTS):
        try:
            found[sobject] = client.describe(sobject)
        except SalesforceError:
            continue
    return found


def org_grammar(
    client: SalesforceClient, ids: Sequence[str], *, kinds: Sequence[str] | None = None
) -> str:
    """The GBNF grammar of an action against ``client``'s org (:mod:`tools.salesforce.grammar`).

    ``ids`` are the record Ids the request holds; ``kinds`` narrows a repair to the first
    attempt's action kind (and then drops the decline). An org none of whose objects can be
    described gives the JSON schema's grammar instead, so decoding is never unconstrained.
    """
    objects = org_objects(client)
    if not objects:
        return schema_to_gbnf(
            kind_schema(kinds[0]) if kinds else SalesforceReply.model_json_schema()
        )
    return action_grammar(
        objects, kinds=tuple(kinds or KINDS), ids=tuple(ids), decline=kinds is None
    )


def picklist_values(client: SalesforceClient) -> dict[tuple[str, str], list[str]]:
    """The active values of each picklist of the objects ``client`` may use.

    An object whose describe() cannot be read is left out (its picklists are then checked
    by the validator alone).
    """
    found: dict[tuple[str, str], list[str]] = {}
    for sobject, describe in org_objects(client).items():
        for spec in describe.get("fields", []):
            if spec.get("type") == "picklist":
                found[sobject, str(spec.get("name"))] = [
                    str(entry["value"])
                    for entry in spec.get("picklistValues") or []
                    if entry.get("active", True) and entry.get("value")
                ]
    return found


def _validated(client: SalesforceClient, action: AnyAction, *, ground: bool) -> AnyAction:
    """The action as ``client.validate_action`` returns it.

    Grounded, a picklist value written otherwise than the org writes it is first replaced
    by the value it clearly stands for (:func:`held_value`).
    """
    for _ in range(MAX_HELD_VALUES):
        try:
            return client.validate_action(action)
        except PicklistValueError as exc:
            fixed = with_held_value(action, exc) if ground else None
            if fixed is None:
                raise
            action = fixed
    return client.validate_action(action)


MAX_HELD_VALUES = 4
"""Most picklist values of one action replaced by the values they stand for."""


_KINDS: dict[str, type[BaseModel]] = {
    "query": QueryAction,
    "get": GetAction,
    "create": CreateAction,
    "update": UpdateAction,
    "delete": DeleteAction,
    "describe": DescribeAction,
}


@functools.lru_cache(maxsize=len(_KINDS))
def kind_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of an ``ActionRequest`` that holds only a ``kind`` action.

    A repair decodes under it, so a query is never repaired into a write, nor a write into
    another kind of write.
    """
    narrowed = create_model(
        f"{kind.title()}Request",
        __config__=ConfigDict(extra="forbid"),
        action=(_KINDS[kind], Field(description=f"The one {kind} action.")),
    )
    return narrowed.model_json_schema()


_ID = re.compile(r"\b[a-zA-Z0-9]{18}\b|\b[a-zA-Z0-9]{15}\b")


def ids_in(text: str) -> list[str]:
    """The record Ids written in ``text`` (15 or 18 characters, with a digit), in order."""
    found: list[str] = []
    for match in _ID.finditer(text):
        token = match.group(0)
        if any(ch.isdigit() for ch in token) and token not in found:
            found.append(token)
    return found


def _closest(written: str, allowed: list[str], prefix: str | None) -> str:
    fitting = [i for i in allowed if prefix is None or i.startswith(prefix)] or allowed
    return max(fitting, key=lambda i: difflib.SequenceMatcher(None, written, i).ratio())


def copy_ids(action: AnyAction, allowed: list[str]) -> tuple[AnyAction, str | None]:
    """Put Ids from the request where the model wrote a record Id; say why not if it can't.

    The model chooses which Id goes where; the runtime copies it, so an Id is never
    retyped (a missing zero, a letter's case). An Id the request does not hold is replaced
    by the request's Id nearest to it (of the same object where the prefix tells); a
    get, update or delete when the request holds no Id at all cannot be done.
    """
    updates: dict[str, Any] = {}
    record_id = getattr(action, "record_id", None)
    if record_id is not None:
        if not allowed:
            return action, (
                f"a {action.action} needs the record's Id, and the request gives none; "
                "find the record first (a query), then ask again with its Id"
            )
        if record_id not in allowed:
            prefix = KEY_PREFIXES.get(getattr(action, "sobject", ""))
            updates["record_id"] = _closest(record_id, allowed, prefix)
    values = getattr(action, "values", None)
    if values:
        fixed = dict(values)
        for name, value in values.items():
            if (
                allowed
                and name.endswith("Id")
                and isinstance(value, str)
                and len(value) in (15, 18)
                and value not in allowed
            ):
                fixed[name] = _closest(value, allowed, None)
        if fixed != values:
            updates["values"] = fixed
    return (action.model_copy(update=updates) if updates else action), None


def _soql_quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def held_value(written: str, allowed: Sequence[str]) -> str | None:
    """The one picklist value that ``written`` stands for, or None when it is not clear.

    "closed-won" and "CLOSED WON" stand for ``Closed Won`` (the same letters and digits),
    "Negotiation" for ``Negotiation/Review`` and "working" for ``Working - Contacted`` (the
    only value they begin), "Qualifcation" for ``Qualification`` and "workng" for
    ``Working - Contacted`` (the only value, or first words of one, this close to it).
    "Closed", where there are ``Closed Won`` and ``Closed Lost``, stands for neither.
    """
    key = fold(written)
    if not key:
        return None
    forms: dict[str, set[str]] = {}
    for value in allowed:
        words = re.findall(r"[0-9A-Za-z]+", value)
        for count in range(1, len(words) + 1):
            forms.setdefault(fold(" ".join(words[:count])), set()).add(value)
    whole = [value for value in allowed if fold(value) == key]
    if whole:
        return whole[0]
    begun = {value for value in allowed if fold(value).startswith(key)}
    if len(key) >= 4 and begun:
        return begun.pop() if len(begun) == 1 else None
    if len(key) < 5:
        return None
    near = difflib.get_close_matches(
        key, [form for form in forms if abs(len(form) - len(key)) <= 2], n=3, cutoff=0.8
    )
    stands_for = set().union(*(forms[form] for form in near)) if near else set()
    return stands_for.pop() if len(stands_for) == 1 else None


def with_held_value(action: AnyAction, error: PicklistValueError) -> AnyAction | None:
    """``action`` with the picklist value ``error`` names written as the value it stands for.

    None when the value it stands for is not clear, or the value cannot be found where it
    was written (then the error goes back to the model as usual).
    """
    held = held_value(error.value, error.allowed)
    if held is None:
        return None
    if isinstance(action, QueryAction):
        quoted = _soql_quoted(error.value)
        if quoted not in action.soql:
            return None
        return action.model_copy(update={"soql": action.soql.replace(quoted, _soql_quoted(held))})
    values = getattr(action, "values", None)
    if values and values.get(error.field) == error.value:
        return action.model_copy(update={"values": {**values, error.field: held}})
    return None


def outcome_text(result: ActionResult, action: dict[str, Any]) -> str:
    """What a performed action did, in one line for the final answer."""
    if result.record_id and result.action in ("create", "update", "delete"):
        past = {"create": "Created", "update": "Updated", "delete": "Deleted"}[result.action]
        return f"{past} {action.get('sobject', 'record')} {result.record_id}."
    return describe_rows(result.columns, result.rows, result.truncated)
