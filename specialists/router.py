"""The router specialist: turns a request into a plan of sub-tasks.

Two paths. The rules fast path splits the request into clauses and matches each
against patterns per specialist; when every clause clearly belongs to exactly one
specialist the plan is made without a model call. Anything else goes to the router
model, whose output is constrained to the ``Plan`` schema and then checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, ConfigDict, Field

import runtime
from prompts.render import render
from prompts.router import ROUTER_PROMPT
from specialists.base import (
    Binding,
    BindingKind,
    Specialist,
    SubTask,
    TaskSpecialist,
    Timer,
    Turn,
    invoke_structured,
    system_turns,
)
from specialists.bindings import bind_plan, find_reference
from specialists.scope import SYSTEMS, Cues

MAX_TASKS = 10
"""Most sub-tasks one plan may hold."""


class PlannedBinding(BaseModel):
    """A value a sub-task takes from an earlier sub-task's result, as the router writes it."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    source: int = Field(alias="from", description="Position (from 1) of the earlier sub-task.")
    column: str | None = Field(
        default=None, max_length=80, description="The column to read (None: the name column)."
    )
    kind: BindingKind = Field(
        default="value",
        description="value: the single row's cell; list: the column's values; id: the record "
        "Id; count: the number of rows.",
    )
    name: str = Field(
        alias="as",
        max_length=40,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="The placeholder {as} in the instruction that the value replaces.",
    )


class PlannedTask(BaseModel):
    """One sub-task as the router model writes it."""

    specialist: TaskSpecialist = Field(
        description="sql: the company database; salesforce: the CRM; summarize: summarise text "
        "or an earlier result."
    )
    instruction: str = Field(
        max_length=300, description="What the specialist must do, in one sentence."
    )
    depends_on: int | None = Field(
        default=None,
        description="Position (from 1) of an earlier sub-task whose result this one needs.",
    )
    inputs: list[PlannedBinding] = Field(
        default_factory=list,
        max_length=4,
        exclude_if=lambda inputs: not inputs,
        description="Values copied from earlier results into the instruction's placeholders.",
    )


class Plan(BaseModel):
    """The router model's answer: the sub-tasks of the request, in order."""

    tasks: list[PlannedTask] = Field(
        max_length=MAX_TASKS, description="The sub-tasks, in the order they should run."
    )


SUMMARIZE_PATTERN = re.compile(
    r"\b(summari[sz]e|summary|summari[sz]ing|tl;?dr|recap|condense|sum up|sum it up|gist|"
    r"short version|nutshell|boil(?:s|ed|ing)? (?:\w+ ){0,3}down|"
    r"in (?:one|a|two|three) sentences?)\b",
    re.IGNORECASE,
)
"""Words that ask for a summary. Which system a clause is about comes from the live
schemas' names instead (:mod:`specialists.scope`)."""

_CLAUSE_SPLIT = re.compile(
    r"(?<=[.?!;])\s+"
    r"|,?\s+\b(?:and then|then|and subsequently|subsequently)\b,?\s+"
    # "after that" joins clauses only as a phrase of its own ("..., after that list ..."),
    # not in "which rep looks after that customer".
    r"|(?:,\s*|\s+and\s+)after that\b,?\s+|\s+after that,\s+"
    r"|,\s+(?:and\s+)?also\s+|\s+and also\s+"
    r"|\s+(?:->|=>|\u2192|\+)\s+"
    r"|,\s+(?:and\s+)?(?=(?:how many|how much|what|which|who|list|show me|give me)\b)",
    re.IGNORECASE,
)
_LEADING_JOINER = re.compile(
    r"^(?:and\s+|then\s+|also\s+|finally\s+|please\s+|furthermore,?\s+|additionally,?\s+"
    r"|after that,?\s+"
    r"|besides,?\s+)+",
    re.IGNORECASE,
)
_BACK_REFERENCE = re.compile(
    r"\b(it|that|this|them|these|those|the (?:results?|answer|above|output|rows|data|list|"
    r"numbers|figures))\b",
    re.IGNORECASE,
)
_SUMMARIZE_WITH_TEXT = re.compile(
    r"^[^.?!:\n]{0,60}?\b(?:summari[sz]e|summary of|sum up|recap|condense|tl;?dr|"
    r"short version of|gist of|boil (?:\w+ ){0,3}down)\b"
    r"(?:[^:?\n]{0,80}:|[^:?\n]{0,80}\?(?=\s+\S.{60}))\s*(?P<text>\S.*)$",
    re.IGNORECASE | re.DOTALL,
)


_OWN_TEXT = re.compile(r"[:\"\u201c]")
"""A summary clause with a colon or a quotation carries its own text to summarise."""

_QUOTED_THEN_MORE = re.compile(r'^\s*"[^"]*"\W*\w', re.DOTALL)
"""A quoted text followed by more words: the request goes on after the text to summarise
("Summarise: \"...\" Then how many orders ..."), so the rules leave it to the router model."""


_ACTION = re.compile(
    r"(?:,\s*(?:and\s+)?|\s+and\s+)(?=(?:please\s+|also\s+|then\s+)?(?:open|create|log|raise|"
    r"file|list|show|find|count|mark|move|change|set|update|close|escalate|give|get|pull|add|"
    r"delete|remove|assign|reassign|tell me|look up|send|make|flag|convert|put|take|check)\b)",
    re.IGNORECASE,
)
"""Where a clause goes on with another action ("find the contact X and open a case for her")."""


def split_dependent(clause: str, is_noun: Callable[[str], bool]) -> list[str]:
    """Split ``clause`` before each further action that refers back to what came before.

    "Find the contact Chloe Dubois and open a case for her" is two steps, the second taking
    the contact from the first; "list customers and products" stays one (nothing refers
    back), and so does "create a case and set its priority to High" only when the part
    after "and" refers to nothing earlier.
    """
    cuts = [match for match in _ACTION.finditer(clause)]
    parts: list[str] = []
    start = 0
    for index, cut in enumerate(cuts):
        end = cuts[index + 1].start() if index + 1 < len(cuts) else len(clause)
        following = clause[cut.end() : end]
        if clause[start : cut.start()].strip() and find_reference(following, is_noun):
            parts.append(clause[start : cut.start()].strip())
            start = cut.end()
    parts.append(clause[start:].strip())
    return [part for part in parts if part]


def split_clauses(request: str) -> list[str]:
    """Split a request into clauses.

    At sentence ends and semicolons, at ``then`` / ``subsequently`` / ``after that``, at
    ``and also``, at ``->`` and ``+``, and at a comma before another question ("how many
    SMB customers, how many open cases, and who is our newest rep").
    """
    parts = [_LEADING_JOINER.sub("", p.strip()) for p in _CLAUSE_SPLIT.split(request)]
    return [p for p in parts if p and re.search(r"\w", p)]


def matching_specialists(clause: str, cues: Cues, *, probe: str | None = None) -> list[str]:
    """Specialists ``clause`` names: summarize by its words, a system by its own cues.

    The systems are read from ``probe`` when given: the clause without the words that refer
    back to an earlier result.
    """
    found = ["summarize"] if SUMMARIZE_PATTERN.search(clause) else []
    return found + cues.systems(clause if probe is None else probe)


def out_of_scope(request: str, cues: Cues) -> bool:
    """Whether ``request`` names nothing any system holds and asks for no summary."""
    return not SUMMARIZE_PATTERN.search(request) and not cues.any_named(request)


def plan_by_rules(request: str, cues: Cues) -> list[SubTask] | None:
    """Plan ``request`` with the rules, or return None when the rules cannot decide.

    The rules decide only when every clause that names something matches exactly one
    specialist (a ``summarize`` clause that refers back to an earlier clause counts as
    summarize); a clause that names nothing joins its neighbour. A ``summarize`` clause
    without a text of its own depends on the sub-task just before it. A clause matches
    ``sql`` or ``salesforce`` when it names something only that system holds
    (:meth:`specialists.scope.Cues.systems`); the words by which a clause refers back to
    the step before ("that customer") do not count, and such a clause takes its value from
    that step (:func:`specialists.bindings.bind_plan`).
    """
    with_text = _SUMMARIZE_WITH_TEXT.match(request)
    if with_text:
        if _QUOTED_THEN_MORE.match(with_text["text"]):
            return None
        return [SubTask(id=1, specialist="summarize", instruction=request.strip(), depends_on=None)]
    plan: list[SubTask] = []
    carried = ""
    clauses = [
        part
        for clause in split_clauses(request)
        for part in split_dependent(clause, cues.names_thing)
    ]
    for clause in clauses:
        # "create a case for that customer": the customer is the earlier step's result, so
        # the words that refer back do not say which system this clause is about.
        reference = find_reference(clause, cues.names_thing) if plan or carried else None
        probe = None if reference is None else reference.without(clause)
        found = matching_specialists(clause, cues, probe=probe)
        if not found and reference is not None and plan and plan[-1]["specialist"] in SYSTEMS:
            # "move it to negotiation": an action on what the step before found, in its system.
            found = [plan[-1]["specialist"]]
        if not found:
            # A clause that names nothing ("Could you dig that up?", "Quick one:") is no
            # sub-task of its own: it belongs to the clause before it (or after it).
            if plan:
                plan[-1]["instruction"] += " " + clause
            else:
                carried += clause + " "
            continue
        if carried and reference is not None and len(found) == 1 and found[0] in SYSTEMS:
            # "look up Guido Berners-Lee at Oscorp Group and log a case for him": the words
            # before name no system, but this clause refers back to them: a lookup step of
            # this clause's system comes first.
            plan.append(
                SubTask(
                    id=len(plan) + 1,
                    specialist=found[0],  # type: ignore[typeddict-item]
                    instruction=carried.strip(),
                    depends_on=None,
                )
            )
            carried = ""
        clause, carried = carried + clause, ""
        if "summarize" in found and plan and _BACK_REFERENCE.search(clause):
            found = ["summarize"]
        if len(found) != 1:
            return None
        specialist = found[0]
        depends_on = None
        if specialist == "summarize":
            # A summary with no text of its own is a summary of the result before it.
            if not plan or _OWN_TEXT.search(clause):
                return None
            depends_on = plan[-1]["id"]
        plan.append(
            SubTask(
                id=len(plan) + 1,
                specialist=specialist,  # type: ignore[typeddict-item]
                instruction=clause,
                depends_on=depends_on,
            )
        )
        if len(plan) > MAX_TASKS:
            return None
    return bind_plan(plan, cues.names_thing) if plan else None


def plan_from_model(plan: Plan, request: str) -> list[SubTask]:
    """Turn the router model's ``Plan`` into sub-tasks, repairing what can be repaired.

    Empty instructions take the request's text; a ``depends_on`` or a binding that does
    not name an earlier sub-task is dropped, so the plan can never wait on itself or on the
    future. The caller adds the bindings that the instructions' references imply
    (:func:`specialists.bindings.bind_plan`).
    """
    tasks: list[SubTask] = []
    for position, planned in enumerate(plan.tasks[:MAX_TASKS], start=1):
        depends_on = planned.depends_on
        if depends_on is not None and not 1 <= depends_on < position:
            depends_on = None
        if planned.specialist == "summarize" and depends_on is None and position > 1:
            depends_on = position - 1
        inputs = [
            Binding({"from": b.source, "column": b.column, "kind": b.kind, "as": b.name})
            for b in planned.inputs
            if 1 <= b.source < position and planned.specialist != "summarize"
        ]
        if inputs and depends_on is None:
            depends_on = inputs[-1]["from"]
        task = SubTask(
            id=position,
            specialist=planned.specialist,
            instruction=planned.instruction.strip() or request.strip(),
            depends_on=depends_on,
        )
        if inputs:
            task["inputs"] = inputs
        tasks.append(task)
    return tasks


def router_chat(system: str, request: str, *, fewshot: bool, schema: str = "") -> list[Turn]:
    """The router's chat: the request, inside the worked-example prompt when ``fewshot``."""
    user = render(ROUTER_PROMPT, request=request) if fewshot else request
    return [*system_turns(system), ("user", user)]


ROUTER = Specialist(
    name="router",
    label="router",
    chat=router_chat,
    checked_by="the Plan schema, then plan_from_model (dependencies only on earlier tasks)",
    output_schema=Plan,
    trainable=True,
)
"""The router: plans sub-tasks; constrained to :class:`Plan`, never repaired."""


def plan_with_model(
    model: BaseChatModel, request: str, *, system: str, timer: Timer
) -> tuple[list[SubTask] | None, str | None]:
    """Have the router model plan ``request``: the sub-tasks, or None and why not.

    A fine-tuned router gets the zero-shot chat, a prompted base model the worked examples.

    Raises:
        ModelUnavailableError, BackendError, SchemaGrammarError: The model cannot serve
            (see :data:`specialists.base.SUBTASK_ERRORS`).
    """
    fewshot = not runtime.is_finetuned(model, ROUTER.name)
    messages = ROUTER.messages(system, request, fewshot=fewshot)
    plan, _, error = invoke_structured(model, messages, Plan, timer)
    if plan is None:
        return None, f"The router model wrote an invalid plan ({error})."
    return plan_from_model(plan, request), None
