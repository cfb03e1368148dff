"""The report of ``slm-dispatch eval``: ``report.md`` and its PNG charts from a summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["render_report"]

_ACCURACY_LABELS = {
    "router": "exact plan",
    "sql": "execution accuracy",
    "salesforce": "action exact-match",
}


def _percent(value: float | None, n: int | None = None) -> str:
    if value is None:
        return "–"
    text = f"{100 * value:.0f}%"
    return f"{text} ({round(value * n)}/{n})" if n is not None else text


def _table_text(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _metric_columns(specialist: str) -> list[tuple[str, str]]:
    columns = [("syntactic", "syntactic validity"), ("semantic", "semantic validity")]
    if specialist == "router":
        columns.append(("routing_accuracy", "routing accuracy"))
    columns.append(("accuracy", _ACCURACY_LABELS[specialist]))
    if specialist == "salesforce":
        columns.append(("result_match", "result match"))
    return columns


def _specialist_table(specialist: str, results: Mapping[str, Mapping[str, Any]]) -> list[str]:
    metric_columns = _metric_columns(specialist)
    header = ["config", "n", *(label for _, label in metric_columns)]
    header += ["mean s", "p95 s", "tokens/s", "model errors"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for config, metrics in results.items():
        if metrics["status"] != "ok":
            cells = [config, "–", f"skipped: {_table_text(metrics['reason'])}"]
            cells += [""] * (len(header) - len(cells))
        else:
            n = int(metrics["n"])
            cells = [config, str(n)]
            cells += [_percent(metrics[key], n) for key, _ in metric_columns]
            cells += [
                f"{metrics['latency_mean_s']:.2f}",
                f"{metrics['latency_p95_s']:.2f}",
                f"{metrics['tokens_per_s']:.1f}",
                str(metrics["model_errors"]),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _chain_table(chains: Mapping[str, Any]) -> list[str]:
    steps = chains["steps"]
    lines = [
        f"| model | decoding per specialist | chains ok | success rate | per-step p | p^{steps} |",
        "|---|---|---|---|---|---|",
    ]
    for family, entry in chains["families"].items():
        if entry["status"] != "ok":
            lines.append(f"| {family} | skipped: {_table_text(entry['reason'])} | | | | |")
            continue
        decodings = ", ".join(
            f"{name}: {config.split('/', 1)[1]}" for name, config in entry["decodings"].items()
        )
        lines.append(
            f"| {family} | {decodings} | {entry['successes']}/{chains['n']} | "
            f"{_percent(entry['success_rate'])} | {entry['per_step_accuracy']:.3f} | "
            f"{entry['per_step_accuracy_pow']:.4f} |"
        )
    return lines


def render_report(summary: Mapping[str, Any], out_dir: Path) -> Path:
    """Write ``report.md`` and the PNG charts for a summary from :func:`run_eval`.

    Args:
        summary: The summary :func:`run_eval` returned (or ``results.json``'s ``summary``).
        out_dir: Where the report and charts go; created if missing.

    Returns:
        The path of ``report.md``.

    Raises:
        OSError: ``out_dir`` cannot be written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = _draw_charts(summary, out_dir)
    models = summary["models"]
    lines = [
        "# Specialists: prompted base model vs fine-tuned",
        "",
        f"Date: {summary['date']} · seed {summary['seed']} · up to {summary['limit']} held-out "
        f"items per specialist · {summary['elapsed_s']} s in all.",
        "",
        "## Models and data",
        "",
        "| what | file | sha256[:12] |",
        "|---|---|---|",
        f"| base model | {models['base']['file']} | {models['base']['sha256']} |",
    ]
    for name, adapter in models["adapters"].items():
        if adapter.get("missing"):
            lines.append(
                f"| {name} adapter | {adapter['file']} | missing: fine-tuned configs skipped |"
            )
        else:
            lines.append(f"| {name} adapter | {adapter['file']} | {adapter['sha256']} |")
    lines += ["", "| specialist | held-out size | evaluated |", "|---|---|---|"]
    for name, sizes in summary["heldout"].items():
        lines.append(f"| {name} | {sizes['size']} | {sizes['evaluated']} |")
    if summary.get("database"):
        lines += [
            "",
            f"SQL runs on the demo database `{summary['database']}`; Salesforce "
            "actions on the offline sandbox org (fixed day).",
        ]
    lines += [
        "",
        "Configurations: `base-prompted` is the base model with the few-shot prompt (SQL: "
        "schema with sample values); `fine-tuned` is the base model with the specialist's LoRA "
        "adapter and the zero-shot prompt it was trained on. `constrained` decodes SQL under "
        "the grammar of the live schema and JSON under its schema's grammar; `free` decodes "
        "plain text, then parses it. Latency is the model call alone (prompt processing "
        "included), after one unscored warm-up call per configuration.",
        "",
    ]
    for name, results in summary["results"].items():
        lines += [f"## {name}", "", *_specialist_table(name, results), ""]
        lines += [_METRIC_NOTES[name], ""]
        for chart in charts.get(name, []):
            lines += [f"![{name}: {chart.stem}]({chart.name})", ""]
    chains = summary.get("chains") or {}
    if chains.get("families"):
        lines += [
            f"## End to end: chains of {chains['steps']} sub-tasks",
            "",
            f"{chains['n']} chains, each step a held-out item drawn (seeded) from a specialist "
            "chosen at random, the same draws for both models. A chain succeeds when every one "
            "of its steps was answered correctly, judged by the per-item outcomes measured "
            "above (router: exact plan; sql: execution accuracy; salesforce: action "
            "exact-match); each model uses, per specialist, the decoding with the higher "
            f"accuracy. p is the mean per-step accuracy and p^{chains['steps']} the success "
            "rate independent steps would give.",
            "",
            *_chain_table(chains),
            "",
        ]
        for chart in charts.get("chains", []):
            lines += [f"![chains]({chart.name})", ""]
    if "error" in charts:
        lines += [f"Charts were not drawn: {charts['error'][0]}", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


_METRIC_NOTES = {
    "router": (
        "Syntactic: the reply parses as a `Plan`. Semantic: `plan_from_model` keeps a "
        "non-empty plan of known specialists. Routing accuracy: the list of (specialist, "
        "depends_on) equals the gold's; exact plan: and every instruction equals the gold's "
        "after folding case, whitespace and end punctuation (both plans as `plan_from_model` "
        "leaves them)."
    ),
    "sql": (
        "Syntactic: one SQLite query for sqlglot. Semantic: the project's validator accepts it "
        "and it runs. Execution accuracy: the prediction and the gold return the same rows on "
        "the demo database (multisets; order counts only when the gold has ORDER BY; column "
        "names ignored; numbers rounded to 2 decimals)."
    ),
    "salesforce": (
        "Syntactic: the reply parses as an `ActionRequest`. Semantic: `validate_action` "
        "accepts it against the org's metadata. Action exact-match: the validated actions have "
        "the same kind, object, record Id, `get` fields and SOQL (outside quoted literals "
        "compared case-insensitively with whitespace collapsed). Result match: a predicted "
        "read returns the same records as the gold on the sandbox (writes are never run)."
    ),
}


def _draw_charts(summary: Mapping[str, Any], out_dir: Path) -> dict[str, Any]:
    """Draw the charts; return their paths per section (``error`` when none could be)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return {"error": [f"matplotlib is not installed ({exc})"]}

    configs = list(summary["configs"])
    results = summary["results"]
    drawn: dict[str, Any] = {}

    def grouped(ax: Any, name: str, keys: Sequence[tuple[str, str]], scale: float) -> None:
        width = 0.8 / max(1, len(configs))
        positions = range(len(keys))
        for index, config in enumerate(configs):
            metrics = results[name].get(config, {"status": "skipped"})
            values = [
                float(metrics.get(key, 0.0)) * scale if metrics["status"] == "ok" else 0.0
                for key, _ in keys
            ]
            xs = [p - 0.4 + width * (index + 0.5) for p in positions]
            bars = ax.bar(xs, values, width, label=config)
            if metrics["status"] != "ok":
                for x in xs:
                    ax.text(x, 0, "skipped", rotation=90, ha="center", va="bottom", fontsize=7)
            else:
                ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(list(positions), [label for _, label in keys])

    for name in results:
        paths = []
        figure, ax = plt.subplots(figsize=(7, 4))
        accuracy_keys = [(key, label) for key, label in _metric_columns(name)[2:]]
        grouped(ax, name, accuracy_keys, 1.0)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("share of held-out items")
        ax.set_title(f"{name}: task accuracy by configuration")
        ax.legend(fontsize=8)
        paths.append(_save(figure, out_dir / f"{name}-accuracy.png"))

        figure, ax = plt.subplots(figsize=(7, 4))
        grouped(ax, name, _metric_columns(name)[:2], 1.0)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("share of held-out items")
        ax.set_title(f"{name}: validity by configuration")
        ax.legend(fontsize=8)
        paths.append(_save(figure, out_dir / f"{name}-validity.png"))

        figure, ax = plt.subplots(figsize=(7, 4))
        grouped(ax, name, [("latency_mean_s", "mean"), ("latency_p95_s", "p95")], 1.0)
        ax.set_ylabel("seconds per request")
        ax.set_title(f"{name}: latency by configuration")
        ax.legend(fontsize=8)
        paths.append(_save(figure, out_dir / f"{name}-latency.png"))
        drawn[name] = paths

    chains = summary.get("chains") or {}
    ran = {
        family: entry
        for family, entry in (chains.get("families") or {}).items()
        if entry["status"] == "ok"
    }
    if ran:
        figure, ax = plt.subplots(figsize=(6, 4))
        names = list(ran)
        bars = ax.bar(
            names,
            [ran[family]["success_rate"] for family in names],
            0.5,
            label="measured chain success",
        )
        ax.bar_label(bars, fmt="%.2f")
        ax.scatter(
            names,
            [ran[family]["per_step_accuracy_pow"] for family in names],
            color="black",
            zorder=3,
            label=f"p^{chains['steps']} (independent steps)",
        )
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share of chains")
        ax.set_title(f"{chains['n']} chains of {chains['steps']} sub-tasks")
        ax.legend(fontsize=8)
        drawn["chains"] = [_save(figure, out_dir / "chains.png")]
    return drawn


def _save(figure: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
