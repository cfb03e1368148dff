"""``slm-dispatch models …``: manage the specialists' Ollama models.

Registered on the main parser by :func:`add_models_command`. Each specialist's server
is ``--host``, else ``SLM_OLLAMA_HOST_<SPECIALIST>``, else ``OLLAMA_HOST``, else
``http://127.0.0.1:11434``. Progress goes to stderr; results to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from graph.context import Context
from runtime.errors import BackendError, ModelUnavailableError
from runtime.modelfile import ModelfileError
from runtime.ollama_backend import DEFAULT_KEEP_ALIVE
from runtime.ollama_models import (
    Progress,
    base_model_tags,
    build_models,
    model_status,
    pull_models,
    remove_models,
    warm_models,
)
from specialists import SPECIALISTS

__all__ = ["ProgressBar", "add_models_command"]

MODELS_DESCRIPTION = """\
Build, inspect, load and remove the specialists' Ollama models. Each model is built
from ollama/Modelfiles/<specialist>.Modelfile and tagged slm-dispatch/<specialist>:<hash
of the Modelfile>, so an edited Modelfile names a new model and `status` reports the
old one as stale. A specialist's server is --host, else SLM_OLLAMA_HOST_<SPECIALIST>
(e.g. SLM_OLLAMA_HOST_SQL), else OLLAMA_HOST, else http://127.0.0.1:11434.
"""

MODELS_EPILOG = """\
examples:
  slm-dispatch models status
  slm-dispatch models build            (every specialist; blobs the server has are skipped)
  slm-dispatch models build sql --host http://gpu-box:11434
  slm-dispatch models warm --keep-alive 1h
  slm-dispatch models rm --stale       (delete builds of older Modelfiles)

exit status: 0 done (status: every model current); 1 status found a model missing or
stale; 2 a usage error, a bad Modelfile, or a server that does not answer.
"""


class ProgressBar:
    """Draws :class:`~runtime.ollama_models.Progress` updates on a stream (stderr).

    On a terminal one line is redrawn in place; otherwise each new status is printed
    once (no per-byte lines in logs).
    """

    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last: tuple[str, str] | None = None
        self.open_line = False
        self.drawn_at = 0.0

    def __call__(self, update: Progress) -> None:
        """Show one update."""
        key = (update.subject, update.status)
        measurable = update.total is not None and update.total > 0
        if not self.tty:
            if key != self.last:
                self.stream.write(f"· {update.subject}: {update.status}\n")
                self.stream.flush()
            self.last = key
            return
        now = time.monotonic()
        done = measurable and update.completed == update.total
        if key == self.last and not done and now - self.drawn_at < 0.1:
            return
        line = f"{update.subject:<11} {update.status[:44]:<44}"
        if measurable:
            assert update.total is not None
            fraction = min(1.0, (update.completed or 0) / update.total)
            filled = int(fraction * self.width)
            line += (
                f" [{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} "
                f"{(update.completed or 0) / 1e6:.1f}/{update.total / 1e6:.1f} MB"
            )
        if self.last is not None and key != self.last and self.open_line:
            self.stream.write("\n")
        self.stream.write("\r" + line)
        self.stream.flush()
        self.open_line = True
        self.last = key
        self.drawn_at = now

    def close(self) -> None:
        """End the line in progress."""
        if self.tty and self.open_line:
            self.stream.write("\n")
            self.stream.flush()
        self.open_line = False


def _chosen(args: argparse.Namespace) -> list[str]:
    """The specialists named on the command line, else every one of the registry."""
    return list(args.specialists or SPECIALISTS)


def _servers(args: argparse.Namespace) -> dict[str, Any]:
    """The ``host`` and ``hosts`` keywords: ``--host`` for every specialist, else the Context's."""
    if args.host:
        return {"hosts": {s: args.host for s in SPECIALISTS}}
    context = Context()
    return {"host": context.ollama_host, "hosts": context.ollama_hosts}


def _size(size: int | None) -> str:
    return f"{size / 1e6:.1f} MB" if size else "-"


def _cmd_status(args: argparse.Namespace) -> int:
    statuses = model_status(_chosen(args), **_servers(args))
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        header = f"{'specialist':<11} {'state':<11} {'loaded':<7} {'size':>9}  tag / digest / host"
        print(header)
        shown: set[str] = set()
        for status in statuses:
            loaded = "yes" if status.loaded else "no"
            digest = (status.digest or "-")[:12]
            print(
                f"{status.specialist:<11} {status.state:<11} {loaded:<7} {_size(status.size):>9}"
                f"  {status.tag}  {digest}  {status.host}"
            )
            for tag in status.stale_tags:
                print(f"{'':<11} stale build on the server: {tag}")
            if status.problem and status.problem not in shown:
                print(f"{'':<11} {status.problem}")
                shown.add(status.problem)
        for line in schema_lines():
            print(line)
    unreachable = [s for s in statuses if s.state == "unreachable"]
    if unreachable:
        return 2
    not_current = [s.specialist for s in statuses if s.state != "current"]
    if not_current and not args.json:
        names = " ".join(not_current)
        print(f"\nto build what is missing or stale: slm-dispatch models build {names}")
    return 1 if not_current else 0


def schema_lines(database_url: str | None = None) -> list[str]:
    """Whether the SQL adapter was trained for the configured database's schema, in words.

    The adapter's manifest entry records the sha256 of the schema it was trained for;
    nothing is said for an adapter that records none.
    """
    from graph.context import Context
    from runtime import adapter_schema
    from specialists.sql import schema_digest
    from tools.sql import SqlDatabase, SqlToolError

    trained = adapter_schema("sql")
    if trained is None:
        return []
    url = database_url or Context().database_url
    try:
        live = schema_digest(SqlDatabase.open(url))
    except (SqlToolError, OSError) as exc:
        message = getattr(exc, "message", str(exc))
        return [
            f"\nsql adapter: trained for schema {trained[:12]}; {url} cannot be read: {message}"
        ]
    if live == trained:
        return [f"\nsql adapter: trained for the schema of {url} ({trained[:12]})"]
    return [
        f"\nwarning: the sql adapter was trained for schema {trained[:12]}, but {url} has "
        f"schema {live[:12]}; its queries there are less often right. Train it for this "
        f"database: slm-dispatch train sql --database {url} --install"
    ]


def _cmd_build(args: argparse.Namespace) -> int:
    bar = ProgressBar()
    try:
        results = build_models(_chosen(args), progress=bar, **_servers(args))
    finally:
        bar.close()
    for result in results:
        print(
            f"{result.specialist}: {result.tag} on {result.host} "
            f"({len(result.uploaded)} blob(s) uploaded, {len(result.skipped)} already there, "
            f"{result.seconds:.1f}s)"
        )
    return 0


def _cmd_pull(args: argparse.Namespace) -> int:
    names = args.names or base_model_tags()
    if not names:
        print(
            "nothing to pull: every Modelfile's FROM names a local GGUF file "
            "(uploaded by `slm-dispatch models build`)"
        )
        return 0
    bar = ProgressBar()
    try:
        pulled = pull_models(names, host=args.host or Context().ollama_host, progress=bar)
    finally:
        bar.close()
    for name in pulled:
        print(f"pulled {name}")
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    for tag, host, deleted in remove_models(_chosen(args), stale=args.stale, **_servers(args)):
        print(f"{'deleted' if deleted else 'not present'}: {tag} on {host}")
    return 0


def _cmd_warm(args: argparse.Namespace) -> int:
    for result in warm_models(_chosen(args), keep_alive=args.keep_alive, **_servers(args)):
        load = f", load {result.load_seconds:.2f}s" if result.load_seconds is not None else ""
        print(
            f"{result.specialist}: {result.tag} loaded on {result.host} "
            f"in {result.seconds:.2f}s{load}, kept {args.keep_alive}"
        )
    return 0


def _guarded(command: Any) -> Any:
    """Run a models command; report runtime errors on stderr with exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            code: int = command(args)
        except (ModelfileError, ModelUnavailableError, BackendError, ValueError) as exc:
            print(f"slm-dispatch models: error: {exc}", file=sys.stderr)
            return 2
        return code

    return run


def add_models_command(subparsers: Any) -> None:
    """Register ``models status|build|pull|rm|warm`` on the main parser's subparsers.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.
    """
    models = subparsers.add_parser(
        "models",
        help="manage the specialists' Ollama models (status, build, pull, rm, warm)",
        description=MODELS_DESCRIPTION,
        epilog=MODELS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    def with_host(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--host",
            help="Ollama server for every specialist (default: SLM_OLLAMA_HOST_<SPECIALIST>, "
            "else OLLAMA_HOST, else http://127.0.0.1:11434)",
        )

    def with_specialists(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "specialists",
            nargs="*",
            metavar="SPECIALIST",
            help=f"which specialists ({', '.join(SPECIALISTS)}; default: all)",
        )

    status = actions.add_parser(
        "status",
        help="expected tag, present, current or stale, loaded, size — per specialist",
    )
    with_specialists(status)
    with_host(status)
    status.add_argument("--json", action="store_true", help="print as JSON")
    status.set_defaults(func=_guarded(_cmd_status))

    build = actions.add_parser(
        "build", help="upload the Modelfile's GGUF files as blobs and create the models"
    )
    with_specialists(build)
    with_host(build)
    build.set_defaults(func=_guarded(_cmd_build))

    pull = actions.add_parser("pull", help="pull base models named by tag")
    pull.add_argument("names", nargs="*", help="model tags (default: FROM tags in the Modelfiles)")
    with_host(pull)
    pull.set_defaults(func=_guarded(_cmd_pull))

    remove = actions.add_parser("rm", help="delete the specialists' models from the server")
    with_specialists(remove)
    with_host(remove)
    remove.add_argument(
        "--stale", action="store_true", help="delete only builds of older Modelfiles"
    )
    remove.set_defaults(func=_guarded(_cmd_rm))

    warm = actions.add_parser(
        "warm", help="load the models now so that the first request pays no load time"
    )
    with_specialists(warm)
    with_host(warm)
    warm.add_argument(
        "--keep-alive",
        default=DEFAULT_KEEP_ALIVE,
        help=f"how long the server keeps them loaded (default {DEFAULT_KEEP_ALIVE}; -1: forever)",
    )
    warm.set_defaults(func=_guarded(_cmd_warm))
