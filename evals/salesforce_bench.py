"""Salesforce specialist benchmark on the offline sandbox org.

For a held-out set of requests written for the sandbox org, each with the one action a
correct specialist emits, it measures per action:

* latency split into model / validation (describe() checks) / HTTP (simple-salesforce
  against the sandbox over HTTPS);
* first-try validity (the action parses and passes validation) and validity after repair
  (the validation error fed back, up to ``--repairs`` times);
* action exact-match against the expected action (both normalised by validation; SOQL
  compared with whitespace and case folded) and, for queries, result match (same rows).

``--oracle`` (the default) replays the expected actions: no model, so it measures the
tool side alone and checks that every expected action is valid and runs. ``--model`` asks
the ``salesforce`` specialist through the runtime, decoding under the ``ActionRequest``
grammar. Writes run against the sandbox too and are undone (reset) after each case.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tools.salesforce import (
    ActionRequest,
    AnyAction,
    QueryAction,
    SalesforceClient,
    SalesforceError,
)
from tools.salesforce_sandbox import SandboxServer, sandbox_client, start_sandbox
from tools.salesforce_sandbox.seed import make_id

ACC, CON, OPP, LEAD = (
    make_id("Account", 4),
    make_id("Contact", 9),
    make_id("Opportunity", 12),
    make_id("Lead", 7),
)


@dataclass(frozen=True)
class BenchCase:
    """One held-out request and the action a correct specialist emits for it."""

    request: str
    expected: dict[str, Any]


def _q(soql: str) -> dict[str, Any]:
    return {"action": "query", "soql": soql}


HELD_OUT: list[BenchCase] = [
    BenchCase("How many leads are rated Hot?", _q("SELECT COUNT() FROM Lead WHERE Rating = 'Hot'")),
    BenchCase(
        "List the names of the accounts in the Banking industry.",
        _q("SELECT Name FROM Account WHERE Industry = 'Banking'"),
    ),
    BenchCase(
        "What is the total amount of the opportunities we won?",
        _q("SELECT SUM(Amount) FROM Opportunity WHERE StageName = 'Closed Won'"),
    ),
    BenchCase(
        "How many cases are there for each priority?",
        _q("SELECT Priority, COUNT(Id) FROM Case GROUP BY Priority"),
    ),
    BenchCase(
        "Show the 5 largest open opportunities with their account names.",
        _q(
            "SELECT Name, Account.Name, Amount FROM Opportunity WHERE IsClosed = false "
            "ORDER BY Amount DESC LIMIT 5"
        ),
    ),
    BenchCase(
        "Which contacts have the title CEO?",
        _q("SELECT FirstName, LastName, Email FROM Contact WHERE Title = 'CEO'"),
    ),
    BenchCase(
        "How many opportunities close this quarter?",
        _q("SELECT COUNT() FROM Opportunity WHERE CloseDate = THIS_QUARTER"),
    ),
    BenchCase(
        "List the web leads created in the last 30 days.",
        _q(
            "SELECT FirstName, LastName, Company FROM Lead WHERE CreatedDate = LAST_N_DAYS:30 "
            "AND LeadSource = 'Web'"
        ),
    ),
    BenchCase(
        "What is the average annual revenue per industry?",
        _q("SELECT Industry, AVG(AnnualRevenue) FROM Account GROUP BY Industry"),
    ),
    BenchCase(
        "Which high priority cases are escalated, and for which accounts?",
        _q(
            "SELECT Subject, Account.Name FROM Case WHERE Status = 'Escalated' "
            "AND Priority = 'High'"
        ),
    ),
    BenchCase(
        f"What stage and amount does opportunity {OPP} have?",
        {
            "action": "get",
            "sobject": "Opportunity",
            "record_id": OPP,
            "fields": ["StageName", "Amount"],
        },
    ),  # fmt: skip
    BenchCase(
        f"What is the email address of contact {CON}?",
        {"action": "get", "sobject": "Contact", "record_id": CON, "fields": ["Email"]},
    ),
    BenchCase("What fields does a lead have?", {"action": "describe", "sobject": "Lead"}),
    BenchCase(
        "Which stages can an opportunity be in?", {"action": "describe", "sobject": "Opportunity"}
    ),
    BenchCase(
        "Create a lead for Grace Hopper at Navy Labs, rated Hot.",
        {
            "action": "create",
            "sobject": "Lead",
            "values": {
                "FirstName": "Grace",
                "LastName": "Hopper",
                "Company": "Navy Labs",
                "Rating": "Hot",
            },
        },
    ),  # fmt: skip
    BenchCase(
        f"Open a high priority case 'Cannot log in' for account {ACC}.",
        {
            "action": "create",
            "sobject": "Case",
            "values": {"Subject": "Cannot log in", "Priority": "High", "AccountId": ACC},
        },
    ),  # fmt: skip
    BenchCase(
        f"Mark opportunity {OPP} as Closed Won.",
        {
            "action": "update",
            "sobject": "Opportunity",
            "record_id": OPP,
            "values": {"StageName": "Closed Won"},
        },
    ),  # fmt: skip
    BenchCase(
        f"Change the title of contact {CON} to CTO.",
        {"action": "update", "sobject": "Contact", "record_id": CON, "values": {"Title": "CTO"}},
    ),
    BenchCase(
        f"Set the rating of lead {LEAD} to Cold.",
        {"action": "update", "sobject": "Lead", "record_id": LEAD, "values": {"Rating": "Cold"}},
    ),
    BenchCase(f"Delete lead {LEAD}.", {"action": "delete", "sobject": "Lead", "record_id": LEAD}),
]
"""Requests written for the sandbox org, kept out of any training data."""

Generator = Callable[[BenchCase, str | None, str | None], tuple[str, float]]
"""``(case, previous output, error) -> (raw JSON text, model seconds)``."""


def oracle_generator(case: BenchCase, previous: str | None, error: str | None) -> tuple[str, float]:
    """Answer with the expected action (no model): measures the tool side alone."""
    return json.dumps({"action": case.expected}), 0.0


def model_generator(backend: str | None = None) -> Generator:
    """Ask the ``salesforce`` specialist, decoding under the ``ActionRequest`` grammar.

    The messages are the ones the graph's ``salesforce`` node sends (the specialist's chat:
    zero-shot for the fine-tuned specialist, few-shot for a model without adapter) and, on a
    repair, the rejected output with ``SOQL_REPAIR_PROMPT``.
    """
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

    from graph.context import Context
    from prompts.render import render
    from prompts.salesforce import SOQL_REPAIR_PROMPT
    from runtime import get_chat_model, is_finetuned
    from specialists.salesforce import SALESFORCE

    context = Context() if backend is None else Context(backend=backend)
    model = get_chat_model(SALESFORCE.name, **context.model_settings())
    schema = ActionRequest.model_json_schema()
    system = SALESFORCE.system()
    fewshot = not is_finetuned(model, SALESFORCE.name)

    def generate(case: BenchCase, previous: str | None, error: str | None) -> tuple[str, float]:
        messages: list[BaseMessage] = SALESFORCE.messages(system, case.request, fewshot=fewshot)
        if previous is not None and error is not None:
            messages += [AIMessage(previous), HumanMessage(render(SOQL_REPAIR_PROMPT, error=error))]
        started = time.perf_counter()
        reply = model.invoke(messages, format=schema)
        content = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        return content, time.perf_counter() - started

    return generate


def _normalise(client: SalesforceClient, action: AnyAction) -> dict[str, Any]:
    checked = client.validate_action(action)
    dumped = checked.model_dump()
    if isinstance(checked, QueryAction):
        dumped["soql"] = " ".join(checked.soql.split()).lower()
    return dumped


def run_case(
    case: BenchCase,
    generate: Generator,
    server: SandboxServer,
    client: SalesforceClient,
    *,
    max_repairs: int,
) -> dict[str, Any]:
    """Run one case: generate, validate (repairing), execute, compare."""
    expected = ActionRequest.model_validate({"action": case.expected}).action
    row: dict[str, Any] = {
        "request": case.request,
        "kind": expected.action,
        "model_s": 0.0,
        "validation_s": 0.0,
        "http_s": 0.0,
        "first_try_valid": False,
        "valid": False,
        "attempts": 0,
        "exact_match": False,
        "result_match": None,
        "error": None,
    }
    previous: str | None = None
    error: str | None = None
    action: AnyAction | None = None
    for attempt in range(max_repairs + 1):
        row["attempts"] = attempt + 1
        raw, model_s = generate(case, previous, error)
        row["model_s"] += model_s
        started = time.perf_counter()
        try:
            action = ActionRequest.model_validate_json(raw).action
            client.validate_action(action)
        except ValidationError as exc:
            error = f"the output does not fit the schema: {exc.errors()[0].get('msg')}"
        except SalesforceError as exc:
            error = exc.message
            if not exc.retryable:
                row["validation_s"] += time.perf_counter() - started
                break
        else:
            error = None
        row["validation_s"] += time.perf_counter() - started
        previous = raw
        if error is None:
            break
    row["error"] = error
    if error is not None or action is None:
        return row
    row["valid"] = True
    row["first_try_valid"] = row["attempts"] == 1
    row["exact_match"] = _normalise(client, action) == _normalise(client, expected)
    try:
        result = client.run(action, row_limit=500)
        row["http_s"] = result.http_s
        if expected.action == "query":
            reference = client.run(expected, row_limit=500)
            row["result_match"] = sorted(map(repr, result.rows)) == sorted(
                map(repr, reference.rows)
            )
    except SalesforceError as exc:
        row["error"] = exc.message
    finally:
        if expected.action in ("create", "update", "delete"):
            server.reset()
    return row


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def summarise(rows: list[dict[str, Any]]) -> str:
    """Format the per-kind latency split and the validity / match rates."""
    lines = [
        f"{'action':<9} {'n':>3} {'model ms':>9} {'valid ms':>9} {'http ms':>8} "
        f"{'1st-try':>8} {'repaired':>9} {'exact':>6} {'result':>7}"
    ]
    kinds = sorted({r["kind"] for r in rows})
    for kind in [*kinds, "all"]:
        chosen = [r for r in rows if kind in ("all", r["kind"])]
        queries = [r for r in chosen if r["result_match"] is not None]
        n = len(chosen)
        lines.append(
            f"{kind:<9} {n:>3} {1000 * _mean([r['model_s'] for r in chosen]):>9.1f} "
            f"{1000 * _mean([r['validation_s'] for r in chosen]):>9.1f} "
            f"{1000 * _mean([r['http_s'] for r in chosen]):>8.1f} "
            f"{sum(r['first_try_valid'] for r in chosen) / n:>8.0%} "
            f"{sum(r['valid'] for r in chosen) / n:>9.0%} "
            f"{sum(r['exact_match'] for r in chosen) / n:>6.0%} "
            + (f"{sum(r['result_match'] for r in queries) / len(queries):>7.0%}" if queries else
               f"{'-':>7}")
        )  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on a fresh sandbox and print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m evals.salesforce_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--oracle", action="store_true", help="replay expected actions (default)")
    mode.add_argument("--model", action="store_true", help="ask the salesforce specialist")
    parser.add_argument("--backend", help="model backend for --model (env SLM_BACKEND)")
    parser.add_argument("--repairs", type=int, default=2, help="repairs per case (default 2)")
    parser.add_argument("--json", type=Path, help="also write the raw rows to this file")
    args = parser.parse_args(argv)
    generate = model_generator(args.backend) if args.model else oracle_generator
    with tempfile.TemporaryDirectory() as tmp, start_sandbox(Path(tmp)) as server:
        client = sandbox_client(server)
        rows = [
            run_case(case, generate, server, client, max_repairs=args.repairs) for case in HELD_OUT
        ]
    print(summarise(rows))
    failed = [r for r in rows if r["error"]]
    for row in failed:
        print(f"  failed: {row['request']} -> {row['error']}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
