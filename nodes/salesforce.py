"""The Salesforce nodes: one sub-task to the specialist, and the approval of its write.

``answer_with_salesforce`` hands the sub-task to :func:`specialists.salesforce.answer_salesforce`:
a read runs at once; a validated write stops with status ``awaiting_approval`` unless the
context pre-approves it. ``perform_approved_write`` (the ``approve_write`` node) pauses the
graph with ``interrupt()``, showing exactly what will be written, and performs the write
only on an explicit approval, exactly once (:mod:`graph.approvals`). Because the write
happens in its own node after the approval, resuming the thread never generates the
action again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from graph.approvals import HOW_TO_APPROVE, approval_decision, perform_once
from graph.context import Context
from graph.state import Attempt, SubTask, TaskInput, TaskResult
from nodes import resources
from nodes.results import bound_task, make_result, update
from specialists.base import SUBTASK_ERRORS, Timer
from specialists.salesforce import (
    SALESFORCE,
    SalesforceSettings,
    answer_salesforce,
    outcome_text,
)
from tools.salesforce import ActionRequest, ActionResult, SalesforceError

logger = logging.getLogger(__name__)


def salesforce_settings(context: Context, bound: tuple[str, ...] = ()) -> SalesforceSettings:
    """The Salesforce specialist's settings from the run's context (``bound``: chain values)."""
    return SalesforceSettings(
        max_repairs=context.max_repairs,
        row_limit=context.row_limit,
        system=resources.system_text(context, SALESFORCE.name),
        preapproved=context.is_preapproved,
        bound=bound,
        decoding=context.salesforce_decoding,
    )


def _performed(
    task: SubTask,
    result: ActionResult,
    timer: Timer,
    action: dict[str, Any],
    attempts: list[Attempt],
    taken: list[dict[str, Any]] | None,
) -> TaskResult:
    return make_result(
        task,
        status="ok",
        output=outcome_text(result, action),
        timer=timer,
        query=action.get("soql") if result.action == "query" else None,
        columns=result.columns,
        rows=result.rows,
        truncated=result.truncated,
        attempts=attempts,
        action=action,
        taken=taken,
    )


def answer_with_salesforce(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Answer one sub-task from the Salesforce org (a write waits for approval).

    Without credentials (and no client in the context) the sub-task fails at once with
    a message naming the variables to set; no model is called.
    """
    context = runtime.context
    timer = Timer()
    bound = bound_task(task_input, timer)
    if isinstance(bound, dict):
        return bound
    task, filled = bound
    taken = filled.taken
    since = time.perf_counter()
    try:
        client = resources.salesforce_client(context)
    except SalesforceError as exc:
        reason = (
            exc.message
            if exc.code == "NOT_CONFIGURED"
            else (f"Could not connect to Salesforce: {exc.message}")
        )
        return update(make_result(task, status="failed", output=reason, timer=timer, taken=taken))
    finally:
        timer.add("tool", since)
    try:
        model = resources.chat_model(context, SALESFORCE.name)
    except SUBTASK_ERRORS as exc:
        reason = f"The {SALESFORCE.label} model is not available: {exc}"
        return update(make_result(task, status="failed", output=reason, timer=timer, taken=taken))
    settings = salesforce_settings(context, tuple(filled.values))
    answer = answer_salesforce(model, client, task["instruction"], settings, timer)
    attempts = answer.attempts
    if answer.action is None:
        reason = answer.failure(context.max_repairs)
        return update(
            make_result(
                task, status="failed", output=reason, timer=timer, attempts=attempts, taken=taken
            )
        )
    dumped = answer.action.model_dump(mode="json")
    if answer.result is None:
        return update(
            make_result(
                task,
                status="awaiting_approval",
                output=answer.preview,
                timer=timer,
                attempts=attempts,
                action=dumped,
                taken=taken,
            )
        )
    return update(_performed(task, answer.result, timer, dumped, attempts, taken))


def perform_approved_write(task_input: TaskInput, runtime: Runtime[Context]) -> dict[str, Any]:
    """Pause for a human decision on a validated write, then perform it once or drop it.

    The value shown to the human (``interrupt``) holds the exact preview of the write.
    Resuming runs this node again from the top: ``interrupt`` then returns the decision
    instead of pausing, and the write is performed at most once, in this step. Only an
    explicit approval (``approval_decision``) performs it; any other resume value ends the
    sub-task as ``rejected`` with a message saying what was received and how to approve.
    """
    task = task_input["task"]
    pending = task_input["pending"]
    assert pending is not None and pending["action"] is not None
    # The pending result holds the instruction as it was asked, chain values filled in.
    task = SubTask(**{**task, "instruction": pending["instruction"]})  # type: ignore[typeddict-item]
    taken = pending.get("inputs")
    timer = Timer()
    value = interrupt(
        {
            "task_id": task["id"],
            "preview": pending["output"],
            "action": pending["action"],
            "how_to_approve": HOW_TO_APPROVE,
        }
    )
    decision = approval_decision(value)
    attempts = list(pending["attempts"])
    if not decision.approved:
        logger.info("write of sub-task %s not approved: %s", task["id"], decision.received)
        return update(
            make_result(
                task,
                status="rejected",
                output=decision.rejection_text(),
                timer=timer,
                attempts=attempts,
                action=pending["action"],
                taken=taken,
            )
        )
    configurable = get_config().get("configurable", {})
    since = time.perf_counter()
    try:
        client = resources.salesforce_client(runtime.context)
        action = ActionRequest.model_validate({"action": pending["action"]}).action
        action = client.validate_action(action)
        outcome = perform_once(
            client,
            action,
            runtime.context.write_journal,
            thread_id=str(configurable.get("thread_id", "")),
            task=str(configurable.get("checkpoint_ns", "")),
        )
    except (SalesforceError, ValidationError) as exc:
        message = exc.message if isinstance(exc, SalesforceError) else f"invalid action: {exc}"
        return update(
            make_result(
                task,
                status="failed",
                output=f"The approved write failed: {message}",
                timer=timer,
                attempts=attempts,
                action=pending["action"],
                taken=taken,
            )
        )
    finally:
        timer.add("tool", since)
    return update(_performed(task, outcome, timer, pending["action"], attempts, taken))
