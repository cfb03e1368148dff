"""Fine-tuning datasets of the router, sql, salesforce and summarize specialists, checked.

Every example is a request written from a template over the demo domain
(``shared/spec/demo_domain.md``) and the exact text the specialist must answer with. Values come
from the data itself, and every target is checked with the project's own tools before it is
kept:

* **sql**: questions about the demo database (built with
  :func:`tools.demo_db.create_sqlite_db`; names and values are read from its rows). The target
  is one SQLite SELECT in the style of ``prompts.sql.SQL_EXAMPLES``, inside the shape of the
  grammar of :mod:`tools.sql_grammar`: tables named in full, no table aliases, every column of a
  joined query written ``table.column``, joins along foreign keys only. Each target is
  validated and executed with :meth:`tools.sql.SqlDatabase.run`; one that fails, or finds
  nothing where the request expects rows, is dropped. The first rows it returned are stored
  as the gold result (``gold_columns``, ``gold_rows``).
* **salesforce**: requests about the offline sandbox org (values read from its records). The
  target is the JSON of :class:`tools.salesforce.ActionRequest`: read actions (query, get,
  describe) and writes (families ``create``, ``update``, ``update_status``, ``update_two``,
  ``delete``: new records built from the org's picklist values, account Ids and name pools;
  changes and deletions of records named by Id). Each target is parsed, checked with
  :meth:`tools.salesforce.SalesforceClient.validate_action` (its normalised form must equal
  the target) and run on a sandbox started for the purpose; failures are dropped. The sandbox's
  day is fixed (:data:`SANDBOX_ANCHOR`), so date literals select the same records on every
  machine; ``gold_records`` is the number of rows the action returned there (1 for a write).
  The writes are checked after every read, with random streams of their own, and follow the
  reads in each file; updates and deletes name disjoint records, so every write finds its
  record (run the stored targets reads first, then create, update, delete).
* **router**: requests of one to four clauses made of the sql and salesforce requests above
  and of summarise clauses, joined with "then", "and", new sentences and the like. The target
  is the JSON of :class:`specialists.router.Plan`; each instruction is the clause as the specialist
  would receive it, and :func:`specialists.router.plan_from_model` must keep the plan unchanged.

* **summarize**: the sql questions' gold queries run on the demo database (as they are, cut
  at a few rows, and with a value that matches nothing), each result given as the node gives
  it (:func:`specialists.summarize.dependency_content`) with one of many instructions. The
  target is the sentence :func:`specialists.summarize.describe_result` writes from the rows;
  :func:`specialists.facts.unsupported` must find nothing in it that the rows, the question
  and the query do not support, or it is dropped. Training examples come from the sql
  training questions, held-out ones from the sql held-out questions. Summaries of free text
  have no examples: their gold cannot be made honestly from templates without a reference
  model to write and judge it.

Held-out examples differ from the training examples twice over: one phrasing (``template``)
of every family occurs only in held-out, and so do about a fifth of the values of each kind of
entity (industries, countries, customers, products, accounts, picklist values, record Ids,
date literals ...); :func:`generate` records both in the manifest. Generation is
deterministic: the same seed gives byte-identical files.

Submodules:

* ``common``: constants and building blocks (families, slots, candidates, held-out choices,
  sampling and splits).
* ``sql_domain``: the demo database's joins, filters and values; ``sql_counts``,
  ``sql_revenue``, ``sql_lookups``: the SQL families; ``sql``: those in order, their held-out
  entities and their checker.
* ``salesforce_domain``: the sandbox org's objects, filters, date literals and values;
  ``salesforce_filters``, ``salesforce_aggregates``, ``salesforce_records``: the read
  families; ``salesforce``: those in order, their held-out entities and their checker.
* ``salesforce_writes``: the write families (create, update, delete) and their checker.
* ``router``: the router's plan shapes, clauses, texts and plan checker.
* ``summarize``: the summariser's results, instructions, targets and checker.
* ``generation``: :func:`generate`, :func:`load_examples`, :func:`verify` and the files and
  manifest they write and read.
* ``cli``: the ``slm-dispatch data`` sub-command.
"""

from finetune.datasets.cli import DATA_DESCRIPTION, DATA_HELP, add_data_command, cmd_data
from finetune.datasets.common import (
    DATA_DIR,
    DEFAULT_SEED,
    ENTITY_SEPARATOR,
    GENERATOR_VERSION,
    GOLD_ROWS,
    HELDOUT_FRACTION,
    HELDOUT_SIZE,
    MANIFEST_NAME,
    NO_ENTITY,
    SANDBOX_ANCHOR,
    SPECIALISTS_WITH_DATA,
    SPLITS,
    TRAIN_SIZE,
    entity_parts,
)
from finetune.datasets.generation import generate, load_examples, verify
from finetune.datasets.salesforce_writes import WRITE_HELDOUT_SIZE, WRITE_TRAIN_SIZE
from finetune.datasets.summarize import SUMMARY_HELDOUT_SIZE, SUMMARY_TRAIN_SIZE

__all__ = [
    "DATA_DESCRIPTION",
    "DATA_DIR",
    "DATA_HELP",
    "DEFAULT_SEED",
    "ENTITY_SEPARATOR",
    "GENERATOR_VERSION",
    "GOLD_ROWS",
    "HELDOUT_FRACTION",
    "HELDOUT_SIZE",
    "MANIFEST_NAME",
    "NO_ENTITY",
    "SANDBOX_ANCHOR",
    "SPECIALISTS_WITH_DATA",
    "SPLITS",
    "SUMMARY_HELDOUT_SIZE",
    "SUMMARY_TRAIN_SIZE",
    "TRAIN_SIZE",
    "WRITE_HELDOUT_SIZE",
    "WRITE_TRAIN_SIZE",
    "add_data_command",
    "cmd_data",
    "entity_parts",
    "generate",
    "load_examples",
    "verify",
]
