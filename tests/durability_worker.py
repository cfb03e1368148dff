"""A service process for the durability tests: one Dispatcher call, then exit.

Run as ``python -m tests.durability_worker COMMAND --checkpoint URL --thread ID ...``.
The specialists are scripted models that append their name to ``--calls-file`` on every
call (so a test counts model calls across processes); Salesforce is whatever the ``SF_*``
environment names (the tests point it at the offline sandbox). Fault hooks kill this
process with SIGKILL at a chosen moment, as a crash would.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from graph.api import Dispatcher, RunFailedError
from graph.approvals import WriteJournal
from graph.context import Context
from tests.fakes import ScriptedChatModel
from tools.salesforce import SalesforceClient

NO_JOURNAL = object()
"""Keeps ``Dispatcher.open`` from adding a journal; replaced by None once open."""


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def scripted(name: str, text: str, calls_file: Path, sleep_s: float = 0.0) -> ScriptedChatModel:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        with calls_file.open("a") as out:
            out.write(f"{name}\n")
        if sleep_s:
            time.sleep(sleep_s)
        return text

    return ScriptedChatModel.of([reply], repeat_last=True)


def install_fault(fault: str) -> None:
    if fault == "kill-after-http":
        perform = SalesforceClient._perform

        def perform_then_die(self: SalesforceClient, action: Any, row_limit: int) -> Any:
            outcome = perform(self, action, row_limit)
            if action.action in ("create", "update", "delete"):
                die()
            return outcome

        SalesforceClient._perform = perform_then_die  # type: ignore[method-assign]
    elif fault == "kill-after-journal":
        finish = WriteJournal.finish

        def finish_then_die(self: WriteJournal, key: str, record_id: str | None) -> None:
            finish(self, key, record_id)
            die()

        WriteJournal.finish = finish_then_die  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["ask", "approve", "resume", "state"])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--thread", required=True)
    parser.add_argument("--request", default="")
    parser.add_argument("--database", default="")
    parser.add_argument("--calls-file", type=Path, required=True)
    parser.add_argument("--salesforce-reply", default="")
    parser.add_argument("--sql-reply", default="SELECT COUNT(*) AS n FROM orders")
    parser.add_argument("--summarize-reply", default="A short summary.")
    parser.add_argument("--summarize-sleep", type=float, default=0.0)
    parser.add_argument("--fault", default="")
    parser.add_argument("--no-journal", action="store_true", help="writes without the journal")
    args = parser.parse_args()

    install_fault(args.fault)
    models = {
        "sql": scripted("sql", args.sql_reply, args.calls_file),
        "summarize": scripted(
            "summarize", args.summarize_reply, args.calls_file, args.summarize_sleep
        ),
        "salesforce": scripted("salesforce", args.salesforce_reply, args.calls_file),
    }
    extra: dict[str, Any] = {"database_url": args.database} if args.database else {}
    if args.no_journal:
        extra["write_journal"] = NO_JOURNAL
    context = Context(backend="embedded", chat_models=models, **extra)
    with Dispatcher.open(args.checkpoint, context=context) as dispatcher:
        if args.no_journal:
            dispatcher.context = replace(dispatcher.context, write_journal=None)
        try:
            if args.command == "ask":
                result = dispatcher.ask(args.request, thread_id=args.thread)
            elif args.command == "approve":
                result = dispatcher.approve(args.thread, by=f"pid {os.getpid()}")
            elif args.command == "resume":
                result = dispatcher.resume(args.thread)
            else:
                result = dispatcher.state(args.thread)
        except RunFailedError as exc:
            print(json.dumps({"error": str(exc)}))
            return 1
    print(json.dumps(result.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
