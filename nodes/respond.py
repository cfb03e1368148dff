"""The respond node: the final answer, assembled from every sub-task's result."""

from __future__ import annotations

from typing import Any

from graph.state import State
from specialists.text import format_rows


def compose_answer(state: State) -> dict[str, Any]:
    """Write the final answer: one section per sub-task, failures included with their reason."""
    route = state.route
    if not state.plan:
        note = route["note"] if route else "nothing was planned"
        return {"answer": f"Nothing was done. {note}"}
    by_id = {r["id"]: r for r in state.results}
    sections = []
    for task in state.plan:
        result = by_id.get(task["id"])
        header = f"[{task['id']}] {task['specialist']}: {task['instruction']}"
        if result is None:
            sections.append(f"{header}\n    not run")
            continue
        if result["status"] == "ok":
            body = result["output"]
            if result["columns"] and len(result["rows"]) > 1:
                body = body + "\n" + format_rows(result["columns"], result["rows"], limit=10)
        else:
            body = f"{result['status'].upper()}: {result['output']}"
        indented = "\n".join("    " + line for line in body.splitlines())
        sections.append(f"{header}\n{indented}")
    failed = sum(1 for r in state.results if r["status"] != "ok")
    done = len(state.plan) - failed
    summary = f"{len(state.plan)} sub-task(s): {done} completed with validated output" + (
        f", {failed} not completed." if failed else "."
    )
    return {"answer": summary + "\n\n" + "\n\n".join(sections)}
