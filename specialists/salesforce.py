"""The Salesforce specialist: one typed action per request, checked against the org.

The model's output is constrained to the ``ActionRequest`` schema; ``tools.salesforce``
validates the action against the org's ``describe()`` metadata and a rejected action goes
back to the model with the error. A read runs at once; a write stops validated, with its
preview, unless the caller pre-approves it (the approval and the exactly-once write are
:mod:`graph.approvals`' business, not the specialist's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

import runtime
from prompts.render import render
from prompts.salesforce import (
    SALESFORCE_OBJECTS,
    SALESFORCE_OBJECTS_PROMPT,
    SOQL_PROMPT,
    SOQL_REPAIR_PROMPT,
)
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
from specialists.text import describe_rows
from tools.salesforce import (
    ActionRequest,
    ActionResult,
    AnyAction,
    SalesforceClient,
    SalesforceError,
    is_write,
)


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


SALESFORCE = Specialist(
    name="salesforce",
    label="Salesforce",
    chat=salesforce_chat,
    checked_by="tools.salesforce: the action checked against the org's describe() metadata",
    output_schema=ActionRequest,
    trainable=True,
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
    """

    max_repairs: int = 2
    row_limit: int = 50
    system: str = ""
    preapproved: Callable[[str, str], bool] = lambda sobject, action: False


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
    messages = SALESFORCE.messages(settings.system, request, fewshot=fewshot)
    answer = SalesforceAnswer()

    def check(reply: AIMessage) -> tuple[AnyAction, str]:
        parsed, error = parse_reply(reply, ActionRequest)
        if parsed is None:
            raise Rejected(str(reply.content), f"the action does not fit the schema: {error}")
        action = parsed.action
        shown = action.model_dump_json()
        try:
            action = client.validate_action(action)
            sobject = getattr(action, "sobject", "")
            if is_write(action) and not settings.preapproved(sobject, action.action):
                answer.preview = client.preview(action)
            else:
                answer.result = client.run(action, row_limit=settings.row_limit)
        except SalesforceError as exc:
            final = f"Salesforce refused the action: {exc.message}"
            raise Rejected(shown, exc.message, final=not exc.retryable, final_text=final) from exc
        return action, shown

    outcome = repair_loop(
        SALESFORCE,
        model,
        messages,
        check,
        request=request,
        max_repairs=settings.max_repairs,
        timer=timer,
        options=SALESFORCE.constraint(),
    )
    answer.action = outcome.value
    answer.attempts = outcome.attempts
    answer.stopped = outcome.stopped
    return answer


def outcome_text(result: ActionResult, action: dict[str, Any]) -> str:
    """What a performed action did, in one line for the final answer."""
    if result.record_id and result.action in ("create", "update", "delete"):
        past = {"create": "Created", "update": "Updated", "delete": "Deleted"}[result.action]
        return f"{past} {action.get('sobject', 'record')} {result.record_id}."
    return describe_rows(result.columns, result.rows, result.truncated)
