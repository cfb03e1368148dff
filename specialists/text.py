"""Result rows as text: for prompts, for the final answer and for the CLI."""

from __future__ import annotations

from typing import Any


def format_rows(columns: list[str], rows: list[list[Any]], limit: int = 20) -> str:
    """Render rows as a small pipe-separated table for prompts and answers."""
    if not columns:
        return "(no columns)"
    lines = [" | ".join(columns)]
    for row in rows[:limit]:
        lines.append(" | ".join("" if v is None else str(v) for v in row))
    if len(rows) > limit:
        lines.append(f"… {len(rows) - limit} more rows")
    if not rows:
        lines.append("(no rows)")
    return "\n".join(lines)


def describe_rows(columns: list[str], rows: list[list[Any]], truncated: bool) -> str:
    """One line that says what a query returned, for the final answer."""
    if not rows:
        return "The query returned no rows."
    if len(rows) == 1 and len(columns) == 1:
        return f"{columns[0]} = {rows[0][0]}"
    more = " (truncated)" if truncated else ""
    return f"{len(rows)} row(s){more} with columns {', '.join(columns)}."
