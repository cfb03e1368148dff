"""The respond node: the final answer in prose, written by code from every sub-task's result.

No model writes the answer: each sub-task contributes one sentence built from its result
(a query's rows through :func:`specialists.sentences.describe_result`, a summary as the
summariser wrote it or as its check replaced it, a write as what was written), and a step
that could not be done says so and why. The per-step detail (queries, rows, timings) stays
in the results, which the CLI prints below the answer and ``--json`` returns whole.
"""

from __future__ import annotations

from typing import Any

from graph.state import State, SubTask, TaskResult
from specialists.sentences import describe_result


def _quoted(task: SubTask) -> str:
    text = task["instruction"].strip()
    return f"“{text if len(text) <= 80 else text[:79] + '…'}”"


def sentence(task: SubTask, result: TaskResult | None) -> str:
    """The answer's sentence for one sub-task."""
    if result is None:
        return f"{_quoted(task)} was not run."
    # The result holds the instruction as it was asked: chain values filled in.
    task = SubTask(**{**task, "instruction": result["instruction"]})  # type: ignore[typeddict-item]
    status = result["status"]
    if status == "ok":
        if result["specialist"] == "summarize":
            return result["output"]
        written = result["action"] is not None and result["action"].get("action") in (
            "create",
            "update",
            "delete",
        )
        if written or not result["columns"]:
            return result["output"]
        return describe_result(
            result["columns"], result["rows"], result["truncated"], request=task["instruction"]
        )
    if status == "awaiting_approval":
        first = result["output"].strip().splitlines()[0] if result["output"].strip() else ""
        return f"A Salesforce write waits for approval: {first}".rstrip(": ")
    if status == "rejected":
        return result["output"]
    if status == "skipped":
        return f"{_quoted(task)} was skipped: {result['output']}"
    return f"Could not answer {_quoted(task)}: {result['output']}"


def compose_answer(state: State) -> dict[str, Any]:
    """Write the final answer: one sentence per sub-task, failures included with their reason."""
    route = state.route
    if not state.plan:
        note = route["note"] if route else "nothing was planned"
        return {"answer": f"Nothing was done. {note}"}
    by_id = {r["id"]: r for r in state.results}
    lines = (" ".join(sentence(task, by_id.get(task["id"])).split()) for task in state.plan)
    return {"answer": "\n".join(lines)}
