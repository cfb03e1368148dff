"""``slm-dispatch sandbox``: serve the offline Salesforce sandbox org until interrupted."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from graph.context import default_data_dir

__all__ = ["DEFAULT_PORT", "add_sandbox_command", "cmd_sandbox"]

DEFAULT_PORT = 8443
"""The port ``slm-dispatch sandbox`` listens on unless told otherwise."""

SANDBOX_HELP = "serve the offline Salesforce sandbox org over HTTPS on 127.0.0.1"
SANDBOX_DESCRIPTION = """\
Serve an offline Salesforce sandbox org on https://127.0.0.1:PORT until Ctrl-C.

It emulates the subset of the Salesforce REST API this project uses (SOQL query with
paging, record get/create/update/delete, describe, describeGlobal, Salesforce-shaped
errors) over the demo org of spec/demo_domain.md, stored in SQLite and seeded from a
fixed seed. It is NOT Salesforce: to use a real org, set real credentials
(SF_USERNAME/SF_PASSWORD/SF_SECURITY_TOKEN, or SF_INSTANCE_URL/SF_SESSION_ID, ...)
instead of the variables printed here.

The command prints the environment variables that point slm-dispatch at the sandbox:
SF_INSTANCE_URL, SF_SESSION_ID (a throwaway session of this local sandbox, valid while it
runs) and SF_CA_BUNDLE (its self-signed certificate)."""


def add_sandbox_command(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``sandbox`` on the CLI's sub-command parsers.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.
    """
    sandbox = subparsers.add_parser(
        "sandbox",
        help=SANDBOX_HELP,
        description=SANDBOX_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sandbox.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    sandbox.add_argument(
        "--data-dir",
        dest="sandbox_dir",
        type=Path,
        default=None,
        help="where the sandbox keeps its SQLite org and certificate "
        "(default: salesforce-sandbox/ in the data directory)",
    )
    sandbox.add_argument(
        "--reset", action="store_true", help="restore the seed data before serving"
    )
    sandbox.add_argument(
        "--page-size",
        type=int,
        default=None,
        help="records per query page before nextRecordsUrl paging (default 200)",
    )
    sandbox.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Run the sandbox in the foreground; print the variables a client needs.

    Args:
        args: Parsed arguments (``port``, ``sandbox_dir``, ``reset``, ``page_size`` and the
            global ``data_dir``).

    Returns:
        The exit status: 0 after Ctrl-C, 2 when the port cannot be used.
    """
    from tools.salesforce_sandbox.server import DEFAULT_PAGE_SIZE, start_sandbox

    base = getattr(args, "data_dir", None) or default_data_dir()
    directory = args.sandbox_dir or Path(base) / "salesforce-sandbox"
    page_size = args.page_size or DEFAULT_PAGE_SIZE
    if page_size < 1 or not 0 <= args.port <= 65535:
        print("slm-dispatch: error: --page-size must be >= 1 and --port 0..65535", file=sys.stderr)
        return 2
    try:
        server = start_sandbox(directory, port=args.port, page_size=page_size)
    except OSError as exc:
        print(
            f"slm-dispatch: error: cannot serve the sandbox on 127.0.0.1:{args.port} ({exc}); "
            "choose another --port (0 picks a free one)",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        if args.reset:
            server.reset()
        counts = ", ".join(f"{n} {name}" for name, n in server.counts().items())
        print(f"Salesforce sandbox (offline emulation, not Salesforce) at {server.instance_url}")
        print(f"  org: {counts}; data in {directory}")
        print("Point slm-dispatch at it from another shell:")
        for name, value in server.env().items():
            print(f"  export {name}={shlex.quote(value)}")
        print("A real org is used instead by setting real SF_* credentials. Ctrl-C stops.")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    print("sandbox stopped", file=sys.stderr)
    return 0
