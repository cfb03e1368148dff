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


def format_table(columns: list[str], rows: list[list[Any]], limit: int = 10) -> list[str]:
    """Rows as an aligned text table for people (numbers right-aligned), at most ``limit`` rows.

    The last line says how many rows were left out, when any were.
    """
    if not columns:
        return ["(no columns)"]
    shown = [["" if v is None else str(v) for v in row] for row in rows[:limit]]
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) and not isinstance(r[i], bool)
                           for r in rows[:limit] if i < len(r) and r[i] is not None)
        for i in range(len(columns))
    ]  # fmt: skip
    widths = [
        max([len(str(c)), *(len(r[i]) for r in shown if i < len(r))]) for i, c in enumerate(columns)
    ]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(padded).rstrip()

    lines = [line([str(c) for c in columns]), line(["-" * w for w in widths])]
    lines += [line(row + [""] * (len(columns) - len(row))) for row in shown]
    if not rows:
        lines.append("(no rows)")
    elif len(rows) > limit:
        lines.append(f"… {len(rows) - limit} more row(s) not shown")
    return lines
