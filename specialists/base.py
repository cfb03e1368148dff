"""What every specialist is made of, and the one generate → check → repair loop they share.

A :class:`Specialist` names its parts: the Modelfile it is served from, its chat in both
forms (few-shot for a prompted base model, zero-shot for a fine-tuned one), the constraint
it decodes under, the check its output must pass and its repair policy. The registry in
:mod:`specialists` lists them; nodes, training, evaluation and the CLI all read it.

:func:`repair_loop` is the loop: generate, check against the real system, and on a
rejection send the error back for a corrected attempt, at most ``max_repairs`` times.
Which errors end what is decided here once:

* a rejection by the check (:class:`Rejected`) is repaired, unless it says ``final``;
* the model cannot be served or decode (:data:`SUBTASK_ERRORS`) ends the sub-task, with
  every attempt made so far kept;
* anything else (a lost database connection, a bug) propagates and ends the step, where
  the graph's retry policy decides whether it is transient.

This layer knows no LangGraph and no concrete model backend: it asks :mod:`runtime` for
capabilities (grammar decoding, fine-tuning, a sampled copy for repairs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, NotRequired, Protocol, TypedDict, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

import runtime
from runtime.errors import BackendError, ModelUnavailableError, SchemaGrammarError
from specialists.quantities import numbers_as_digits

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)

TaskSpecialist = Literal["sql", "salesforce", "summarize"]
"""The specialists a sub-task can be handed to (the router plans for these). The registry
in :mod:`specialists` checks at import that it holds exactly these task specialists."""

Turn = tuple[str, str]
"""One chat message as ``(role, content)``; roles are ``system``, ``user``, ``assistant``."""

SUBTASK_ERRORS: tuple[type[Exception], ...] = (
    ModelUnavailableError,
    BackendError,
    SchemaGrammarError,
)
"""Model errors that end the sub-task (it fails with the reason) but not the run: the model
is missing, its backend failed for good (the runtime already retried), or llama.cpp refused
the constraint. Other sub-tasks of the plan still run."""


class Attempt(TypedDict):
    """One generation of a specialist that was checked against a real system."""

    query: str
    """The SQL or SOQL the model wrote."""
    error: str | None
    """Why it was rejected, or None when it ran."""


BindingKind = Literal["value", "list", "id", "count"]
"""What a binding takes from an earlier result: one value (the single row's cell), a
column's values as a list, a record Id, or the number of rows (a count's value)."""

Binding = TypedDict(
    "Binding",
    {"from": int, "column": str | None, "kind": BindingKind, "as": str},
)
"""One input of a sub-task taken from an earlier sub-task's result.

``from`` is the earlier sub-task's id, ``column`` the column to read (None: the runtime
chooses it from ``as`` and the result's columns), ``as`` the name of the placeholder
(``{as}``) in the instruction that the value replaces. The runtime copies the value in
(:mod:`specialists.bindings`); the model never retypes it."""


class SubTask(TypedDict):
    """One sub-task of a plan."""

    id: int
    """1-based position in the plan."""
    specialist: TaskSpecialist
    """Which specialist runs it."""
    instruction: str
    """What the specialist is asked to do."""
    depends_on: int | None
    """Id of an earlier sub-task whose result this one needs, if any."""
    inputs: NotRequired[list[Binding]]
    """Values this sub-task takes from earlier results (absent or empty: none)."""


class ChatBuilder(Protocol):
    """Builds a specialist's chat: ``(system, request, fewshot=…, schema=…) -> turns``."""

    def __call__(self, system: str, request: str, *, fewshot: bool, schema: str = "") -> list[Turn]:
        """The chat turns for one request (``schema`` only for schema-bound specialists)."""
        ...


@dataclass(frozen=True)
class RepairPolicy:
    """How a specialist meets a rejection.

    Attributes:
        prompt: Builds the user turn that follows a rejected reply, from the error text and
            the request.
        sampled: Whether repairs are sampled (seeded) on a model that decodes greedily; a
            small greedy model tends to write the rejected output again word for word.
        temperature: The repairs' sampling temperature when ``sampled``.
    """

    prompt: Callable[[str, str], str]
    sampled: bool = False
    temperature: float = 0.7


@dataclass(frozen=True)
class Specialist:
    """One specialist, defined once.

    Attributes:
        name: Its name, also the name of its Modelfile (``ollama/Modelfiles/<name>.Modelfile``)
            and of its graph node (the router has no node of that name; it is the entry).
        label: How messages name it ("The SQL model is not available").
        chat: Its chat in both forms; the training data, the evaluation and the node all
            build the chat with this, so a specialist is served the prompt it learnt.
        checked_by: What checks its output before anything uses it (shown in docs/CLI).
        output_schema: The JSON schema its output is constrained to (``format=``), if any.
        grammar: Whether it decodes under a grammar built from the live schema on a runtime
            that supports grammars (the others validate and repair).
        trainable: Whether it has a dataset and can be fine-tuned.
        repair: Its repair policy (None: one attempt, no repair).
        digits: Whether it is shown the request with numbers as digits ("top five" ->
            "top 5", "250k" -> "250000"; :mod:`specialists.quantities`).
    """

    name: str
    label: str
    chat: ChatBuilder
    checked_by: str
    output_schema: type[BaseModel] | None = None
    grammar: bool = False
    trainable: bool = False
    repair: RepairPolicy | None = None
    digits: bool = False

    @property
    def modelfile(self) -> str:
        """The Modelfile's name (without ``.Modelfile``)."""
        return self.name

    def system(self) -> str:
        """The SYSTEM text of its Modelfile (``""`` if it has none)."""
        return runtime.system_prompt(self.modelfile)

    def repairing(self, sampled: bool | None) -> Specialist:
        """This specialist with its repairs sampled (True) or greedy (False); None: as it is."""
        if sampled is None or self.repair is None or self.repair.sampled == sampled:
            return self
        return replace(self, repair=replace(self.repair, sampled=sampled))

    def turns(self, system: str, request: str, *, fewshot: bool, schema: str = "") -> list[Turn]:
        """Its chat for ``request`` (with numbers as digits where it reads them so)."""
        if self.digits:
            request = numbers_as_digits(request)
        return self.chat(system, request, fewshot=fewshot, schema=schema)

    def messages(
        self, system: str, request: str, *, fewshot: bool, schema: str = ""
    ) -> list[BaseMessage]:
        """Its chat for ``request`` as LangChain messages (see :meth:`turns`)."""
        return to_messages(self.turns(system, request, fewshot=fewshot, schema=schema))

    def constraint(self) -> dict[str, Any]:
        """The decoding keyword for its JSON schema (``{"format": …}``), or ``{}``."""
        if self.output_schema is None:
            return {}
        return {"format": self.output_schema.model_json_schema()}


def system_turns(system: str, *extra: str) -> list[Turn]:
    """One system turn joining the non-empty parts (no turn when all are empty)."""
    text = "\n\n".join(part for part in (system, *extra) if part)
    return [("system", text)] if text else []


def to_messages(turns: Sequence[Turn]) -> list[BaseMessage]:
    """LangChain messages for ``(role, content)`` turns."""
    kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
    return [kinds[role](content) for role, content in turns]


class Timer:
    """Accumulates seconds spent in a named kind of work."""

    def __init__(self) -> None:
        """Start the timer."""
        self.started = time.perf_counter()
        self.spent: dict[str, float] = {}

    def add(self, kind: str, since: float) -> None:
        """Add the seconds since ``since`` (a ``time.perf_counter()`` value) to ``kind``."""
        self.spent[kind] = self.spent.get(kind, 0.0) + time.perf_counter() - since

    def totals(self) -> dict[str, float]:
        """Seconds per kind, plus ``total`` since the timer was made."""
        return {
            **{k: round(v, 6) for k, v in self.spent.items()},
            "total": round(time.perf_counter() - self.started, 6),
        }


def _as_ai(reply: BaseMessage) -> AIMessage:
    if isinstance(reply, AIMessage):
        return reply
    content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
    return AIMessage(content)


def invoke_text(
    model: BaseChatModel, messages: Sequence[BaseMessage], timer: Timer, **options: Any
) -> AIMessage:
    """Call the model, timing it as ``model``; ``options`` are decoding keywords."""
    since = time.perf_counter()
    try:
        reply = model.invoke(list(messages), **options)
    finally:
        timer.add("model", since)
    return _as_ai(reply)


def parse_reply(reply: AIMessage, schema: type[ModelT]) -> tuple[ModelT | None, str | None]:
    """Parse a reply into ``schema``: the object, or None and the first validation error."""
    raw = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
    try:
        return schema.model_validate_json(raw), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "output"
        return None, f"{where}: {first.get('msg', 'invalid')}"


def invoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[ModelT],
    timer: Timer,
) -> tuple[ModelT | None, AIMessage, str | None]:
    """Call the model with decoding constrained to ``schema``'s JSON schema.

    Returns:
        The parsed object (or None), the raw reply, and the validation error (or None).
    """
    reply = invoke_text(model, messages, timer, format=schema.model_json_schema())
    parsed, error = parse_reply(reply, schema)
    return parsed, reply, error


class Rejected(Exception):
    """A check's verdict on one reply: rejected, with the text to show the model.

    Attributes:
        shown: The output as recorded in the attempts (the SQL, the action's JSON).
        error: Why it was rejected (sent back to the model for a repair).
        final: True when no repair can help (the system refused for good); ``final_text``
            then says why, for the sub-task's output.
        repair_options: Decoding keywords for the repairs that follow, in place of the
            first attempt's (a narrower schema that keeps the repair on the same task).
    """

    def __init__(
        self,
        shown: str,
        error: str,
        *,
        final: bool = False,
        final_text: str = "",
        repair_options: dict[str, Any] | None = None,
    ) -> None:
        """Record the verdict."""
        super().__init__(error)
        self.shown = shown
        self.error = error
        self.final = final
        self.final_text = final_text or error
        self.repair_options = repair_options


@dataclass
class Outcome(Generic[T]):
    """What the loop produced for one request.

    Attributes:
        value: What the first accepted reply gave (None when none was accepted).
        attempts: Every reply that was checked, with its rejection (None for the accepted).
        stopped: Why the loop stopped early: a final rejection or an unavailable model.
    """

    value: T | None = None
    attempts: list[Attempt] = field(default_factory=list)
    stopped: str | None = None

    def failure(self, noun: str, max_repairs: int) -> str:
        """The sub-task's output when nothing was accepted."""
        if self.stopped:
            return self.stopped
        last = self.attempts[-1]["error"] if self.attempts else "no attempt was made"
        return (
            f"No valid {noun} after {len(self.attempts)} attempt(s) (max_repairs={max_repairs}); "
            f"last error: {last}"
        )


Check = Callable[[AIMessage], tuple[T, str]]
"""Checks one reply against the real system: returns ``(value, shown)`` or raises
:class:`Rejected`."""


def repair_loop(
    specialist: Specialist,
    model: BaseChatModel,
    messages: list[BaseMessage],
    check: Check[T],
    *,
    request: str,
    max_repairs: int,
    timer: Timer,
    options: dict[str, Any] | None = None,
) -> Outcome[T]:
    """Generate, check, repair: at most ``1 + max_repairs`` generations.

    ``messages`` grows with each rejected reply and its repair turn. Model time is counted
    as ``model`` and the check's as ``tool``.

    Args:
        specialist: Whose loop it is (its repair policy and label).
        model: The chat model.
        messages: The chat so far (extended in place).
        check: Checks one reply (see :data:`Check`).
        request: The request, for the repair prompt.
        max_repairs: Repairs allowed after the first attempt.
        timer: Where time is counted.
        options: Decoding keywords (``grammar=`` or ``format=``).

    Returns:
        The outcome; ``stopped`` says why when it stopped before the attempts ran out.
    """
    policy = specialist.repair
    outcome: Outcome[T] = Outcome()
    rounds = 1 + (max_repairs if policy is not None else 0)
    for attempt in range(rounds):
        active = model
        if attempt and policy is not None and policy.sampled:
            active = runtime.repair_variant(model, temperature=policy.temperature, seed=attempt)
        try:
            reply = invoke_text(active, messages, timer, **(options or {}))
        except SUBTASK_ERRORS as exc:
            outcome.stopped = f"The {specialist.label} model is not available: {exc}"
            return outcome
        since = time.perf_counter()
        try:
            value, shown = check(reply)
        except Rejected as rejected:
            outcome.attempts.append(Attempt(query=rejected.shown, error=rejected.error))
            if rejected.final:
                outcome.stopped = rejected.final_text
                return outcome
            if policy is not None:
                messages += [reply, HumanMessage(policy.prompt(rejected.error, request))]
            if rejected.repair_options is not None:
                options = rejected.repair_options
            continue
        finally:
            timer.add("tool", since)
        outcome.attempts.append(Attempt(query=shown, error=None))
        outcome.value = value
        return outcome
    return outcome
