"""Run configuration: one ``Context`` passed to every node as ``runtime.context``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.ollama_backend import DEFAULT_BACKOFF_S, DEFAULT_RETRIES, DEFAULT_TIMEOUT_S
from runtime.paths import PROJECT_ROOT
from specialists import SPECIALISTS
from tools.salesforce import SalesforceCredentials, http_timeout
from tools.salesforce_limits import OBJECTS_ENV_VAR, parse_objects

TRUE_VALUES = ("1", "true", "yes", "on")
"""Values (any case) of an environment variable that turn a yes/no setting on."""


def _env(name: str, default: str) -> Any:
    return field(default_factory=lambda: os.environ.get(name, default))


def _flag(name: str, *also: str) -> Any:
    """A yes/no field that is on when ``$name`` is one of :data:`TRUE_VALUES` (or ``also``)."""
    return field(
        default_factory=lambda: os.environ.get(name, "").strip().lower() in (*TRUE_VALUES, *also)
    )


def default_data_dir() -> Path:
    """Data directory: ``$SLM_DATA_DIR``, else ``.data`` in the project root."""
    return Path(os.environ.get("SLM_DATA_DIR") or PROJECT_ROOT / ".data")


def default_database_url(data_dir: Path | None = None) -> str:
    """Demo database: ``$SLM_DATABASE_URL``, else ``demo.sqlite`` in ``data_dir``.

    Args:
        data_dir: The data directory; default :func:`default_data_dir`.
    """
    return os.environ.get("SLM_DATABASE_URL") or str(
        Path(data_dir or default_data_dir()) / "demo.sqlite"
    )


def default_checkpoint_url() -> str | None:
    """``$SLM_CHECKPOINT_URL``: a ``postgresql://`` URL, ``sqlite:///path`` or a path; else None."""
    return os.environ.get("SLM_CHECKPOINT_URL") or None


def default_ollama_hosts() -> dict[str, str]:
    """Per-specialist Ollama hosts from ``$SLM_OLLAMA_HOST_<SPECIALIST>`` (e.g. ``_SQL``)."""
    hosts = {}
    for specialist in SPECIALISTS:
        value = os.environ.get(f"SLM_OLLAMA_HOST_{specialist.upper()}")
        if value:
            hosts[specialist] = value
    return hosts


@dataclass(kw_only=True)
class Context:
    """Settings of one run. Every field falls back to an environment variable."""

    backend: str = _env("SLM_BACKEND", "auto")
    """Model backend: ``embedded`` (llama.cpp in-process), ``ollama``, or ``auto``
    (Ollama when it answers and has the specialist's model, else embedded). Env: SLM_BACKEND."""

    ollama_host: str = _env("OLLAMA_HOST", "http://127.0.0.1:11434")
    """Ollama server for every specialist not placed by ``ollama_hosts``. Env: OLLAMA_HOST."""

    ollama_hosts: Mapping[str, str] = field(default_factory=default_ollama_hosts)
    """Per-specialist Ollama servers, e.g. ``{"sql": "http://gpu-box:11434"}`` (the router on
    a CPU box, the SQL specialist on a GPU box). Env: SLM_OLLAMA_HOST_<SPECIALIST>."""

    ollama_fallback: bool = _flag("SLM_OLLAMA_FALLBACK", "embedded")
    """With ``backend="auto"``: when the chosen Ollama fails for good during a run (down,
    model removed, retries exhausted), answer with the embedded model and log a warning.
    Off by default: the error is reported. Env: SLM_OLLAMA_FALLBACK (``1``/``embedded``)."""

    ollama_keep_alive: str = _env("SLM_OLLAMA_KEEP_ALIVE", "10m")
    """How long Ollama keeps a specialist loaded after a request (``-1``: forever).
    Env: SLM_OLLAMA_KEEP_ALIVE."""

    ollama_retries: int = field(
        default_factory=lambda: max(
            0, int(os.environ.get("SLM_OLLAMA_RETRIES", str(DEFAULT_RETRIES)))
        )
    )
    """Extra attempts after a transient Ollama fault (a connection reset, an HTTP 5xx, a
    model that loads too slowly); 0 disables retrying. A negative value in the environment
    counts as 0. Env: SLM_OLLAMA_RETRIES."""

    ollama_backoff_s: float = field(
        default_factory=lambda: max(
            0.0, float(os.environ.get("SLM_OLLAMA_BACKOFF", str(DEFAULT_BACKOFF_S)))
        )
    )
    """Seconds to wait before the first retry of a transient Ollama fault; doubled before
    each further one. Env: SLM_OLLAMA_BACKOFF."""

    ollama_timeout_s: float = field(
        default_factory=lambda: float(os.environ.get("SLM_OLLAMA_TIMEOUT", str(DEFAULT_TIMEOUT_S)))
    )
    """Longest wait, in seconds, for the Ollama server's next bytes (a slow model load
    counts), after which the request is retried. Env: SLM_OLLAMA_TIMEOUT."""

    data_dir: Path = field(default_factory=default_data_dir)
    """Directory of the demo database, the SQLite checkpoints and the offline Salesforce
    sandbox's org. Env: SLM_DATA_DIR (default: ``.data`` in the project)."""

    checkpoint_url: str | None = field(default_factory=default_checkpoint_url)
    """Where checkpoints live: a ``postgresql://`` URL, ``sqlite:///path`` or a SQLite file
    path; None: ``checkpoints.sqlite`` in ``data_dir``. Env: SLM_CHECKPOINT_URL."""

    database_url: str = _env("SLM_DATABASE_URL", "")
    """SQL database the ``sql`` specialist queries: a SQLite path or a ``postgresql://`` URL;
    empty: ``demo.sqlite`` in ``data_dir``. Env: SLM_DATABASE_URL."""

    sql_tables: str = _env("SLM_SQL_TABLES", "")
    """Tables the SQL specialist may see and query, comma-separated: plain names allow only
    those, ``!name`` hides one (``!salaries,!audit_log``); empty: every table. A hidden table
    is absent from the prompt and the grammar, and a query naming it is rejected.
    Env: SLM_SQL_TABLES."""

    sql_allow_privileged: bool = _flag("SLM_SQL_ALLOW_PRIVILEGED")
    """Run model-written SQL on PostgreSQL even as a role that may do more than read (a
    superuser, or a role that may write, create or signal). Off by default: such a role is
    refused with the SQL that creates a read-only one. Env: SLM_SQL_ALLOW_PRIVILEGED."""

    sql_dialect: str = _env("SLM_SQL_DIALECT", "sqlite")
    """Dialect the SQL specialist writes; sqlglot transpiles it to the database's.
    Env: SLM_SQL_DIALECT."""

    sql_decoding: str = _env("SLM_SQL_DECODING", "grammar")
    """How the SQL specialist decodes: ``grammar`` (a GBNF grammar built from the live schema,
    so only a SELECT over existing tables and columns can be written; embedded backend only,
    other backends fall back to ``free`` and say so once in the log) or ``free`` (unconstrained
    text, then validation and repair). Env: SLM_SQL_DECODING."""

    salesforce_decoding: str = _env("SLM_SALESFORCE_DECODING", "grammar")
    """How the Salesforce specialist decodes: ``grammar`` (a GBNF grammar built from the org's
    describe(): its objects, fields, picklist values and the request's record Ids; embedded
    backend only, other backends fall back to ``free``) or ``free`` (the action's JSON schema,
    then validation and repair). Env: SLM_SALESFORCE_DECODING."""

    sql_ground_values: bool = field(
        default_factory=lambda: (
            os.environ.get("SLM_SQL_GROUND_VALUES", "1") not in ("0", "false", "no")
        )
    )
    """Ground the SQL specialist's string literals in the live data: a string compared with
    a low-cardinality text column (at most 50 values) must be one of the values it holds.
    Under the grammar such a query cannot be written otherwise; decoded freely, it is
    rejected with the column's values and repaired. Env: SLM_SQL_GROUND_VALUES (``0``
    disables)."""

    sql_votes: int = field(default_factory=lambda: int(os.environ.get("SLM_SQL_VOTES", "1")))
    """Candidate queries per SQL question: 1 (the default) writes one; with k > 1, k - 1
    more are sampled, each validated and run, the answer is the result most of them
    return, and it says so when they disagree. Env: SLM_SQL_VOTES."""

    max_repairs: int = field(default_factory=lambda: int(os.environ.get("SLM_MAX_REPAIRS", "2")))
    """How many times a rejected SQL / SOQL is sent back to the model with the error.
    Env: SLM_MAX_REPAIRS."""

    row_limit: int = field(default_factory=lambda: int(os.environ.get("SLM_ROW_LIMIT", "50")))
    """Most rows kept from a query (a LIMIT is added when the query has none).
    Env: SLM_ROW_LIMIT."""

    query_timeout_s: float = field(
        default_factory=lambda: float(os.environ.get("SLM_QUERY_TIMEOUT", "10"))
    )
    """Time limit of one query, in seconds. Env: SLM_QUERY_TIMEOUT."""

    max_request_chars: int = field(
        default_factory=lambda: int(os.environ.get("SLM_MAX_REQUEST_CHARS", "4000"))
    )
    """Longest request accepted; longer ones are answered with an explanation.
    Env: SLM_MAX_REQUEST_CHARS."""

    router_rules: bool = field(
        default_factory=lambda: os.environ.get("SLM_ROUTER_RULES", "1") not in ("0", "false", "no")
    )
    """Use the rules fast path before the router model. Env: SLM_ROUTER_RULES (``0`` disables)."""

    salesforce_preapproved: str = _env("SLM_SALESFORCE_PREAPPROVED", "")
    """Salesforce writes that need no human approval, as ``Object:action`` pairs separated by
    commas (``Case:create,Lead:update``; ``*`` matches any object or action). Empty: every
    create / update / delete waits for approval. Env: SLM_SALESFORCE_PREAPPROVED."""

    salesforce_credentials: SalesforceCredentials | None = field(
        default_factory=SalesforceCredentials.from_env
    )
    """How the Salesforce specialist signs in to the org (``tools.salesforce``); None:
    Salesforce is not configured, and its sub-tasks say how to configure it. Env (the first
    complete option wins): SF_USERNAME, SF_PASSWORD and SF_SECURITY_TOKEN (with SF_DOMAIN);
    SF_CONSUMER_KEY with SF_USERNAME and SF_PRIVATE_KEY_FILE or SF_PRIVATE_KEY (JWT bearer);
    SF_CONSUMER_KEY with SF_CONSUMER_SECRET and SF_DOMAIN (client credentials);
    SF_INSTANCE_URL and SF_SESSION_ID; SF_CA_BUNDLE for a certificate to trust."""

    # The two handles below are typed Any: LangGraph Studio builds a JSON schema of Context,
    # and a live client or journal has none.
    salesforce_objects: str = _env(OBJECTS_ENV_VAR, "")
    """The Salesforce objects the specialist may query, read, write or describe: API names
    separated by commas (``Account,Case``), ``*`` for every object the org describes; empty:
    the objects it is trained for (``tools.salesforce.DEFAULT_OBJECTS``). Env: SF_OBJECTS."""

    salesforce_timeout_s: float = field(default_factory=http_timeout)
    """Seconds every Salesforce HTTP call may wait (a hung org ends the sub-task). Env:
    SF_TIMEOUT (default 30)."""

    salesforce_client: Any | None = None
    """A connected ``tools.salesforce.SalesforceClient`` to use instead of connecting with
    ``salesforce_credentials``. For tests and services that manage the connection."""

    write_journal: Any | None = None
    """A ``graph.approvals.WriteJournal`` that makes approved Salesforce writes exactly-once
    across crashes (a write-ahead record beside the checkpoints). ``Dispatcher.open`` sets it
    to the checkpoint store's database; None performs writes without a journal."""

    max_in_flight: int = field(
        default_factory=lambda: int(os.environ.get("SLM_MAX_IN_FLIGHT", "32"))
    )
    """Most runs one ``AsyncDispatcher`` accepts at once (running or queued for the model);
    past it a call fails at once with ``BusyError`` instead of queueing without bound.
    Env: SLM_MAX_IN_FLIGHT."""

    chat_models: Mapping[str, Any] | None = None
    """Chat models to use instead of the runtime's, by specialist name (``router``, ``sql``,
    ``salesforce``, ``summarize``). For tests and services that bring their own models."""

    def model_settings(self) -> dict[str, Any]:
        """The keyword arguments of ``runtime.get_chat_model`` that this context sets."""
        return {
            "backend": self.backend,
            "ollama_host": self.ollama_host,
            "ollama_hosts": self.ollama_hosts,
            "fallback": self.ollama_fallback,
            "keep_alive": self.ollama_keep_alive,
            "retries": self.ollama_retries,
            "backoff_s": self.ollama_backoff_s,
            "timeout_s": self.ollama_timeout_s,
        }

    def is_preapproved(self, sobject: str, action: str) -> bool:
        """True when ``salesforce_preapproved`` lets ``action`` on ``sobject`` run unasked."""
        for entry in self.salesforce_preapproved.split(","):
            name, _, verb = entry.strip().partition(":")
            if not name or not verb:
                continue
            if name.strip() in ("*", sobject) and verb.strip().lower() in ("*", action):
                return True
        return False

    def __post_init__(self) -> None:
        """Check the settings that a typo would silently break; derive the data defaults."""
        self.data_dir = Path(self.data_dir)
        if not self.database_url:
            self.database_url = str(self.data_dir / "demo.sqlite")
        try:
            parse_objects(self.salesforce_objects)
        except ValueError as exc:
            raise ValueError(f"{exc} ({OBJECTS_ENV_VAR})") from None
        if self.salesforce_timeout_s <= 0:
            raise ValueError(
                f"salesforce_timeout_s must be positive, got {self.salesforce_timeout_s} "
                "(SF_TIMEOUT)"
            )
        if self.backend not in ("embedded", "ollama", "auto"):
            raise ValueError(
                f"unknown backend {self.backend!r}: choose embedded, ollama or auto (SLM_BACKEND)"
            )
        unknown = sorted(set(self.ollama_hosts) - set(SPECIALISTS))
        if unknown:
            raise ValueError(
                f"ollama_hosts names unknown specialist(s) {', '.join(unknown)}: "
                f"expected {', '.join(SPECIALISTS)}"
            )
        if self.sql_decoding not in ("grammar", "free"):
            raise ValueError(
                f"unknown SQL decoding {self.sql_decoding!r}: choose grammar or free "
                "(SLM_SQL_DECODING)"
            )
        if self.salesforce_decoding not in ("grammar", "free"):
            raise ValueError(
                f"unknown Salesforce decoding {self.salesforce_decoding!r}: choose grammar or "
                "free (SLM_SALESFORCE_DECODING)"
            )
        if not 1 <= self.sql_votes <= 9:
            raise ValueError("sql_votes must be 1 to 9 (SLM_SQL_VOTES)")
        if self.max_repairs < 0:
            raise ValueError("max_repairs must be 0 or more")
        if self.row_limit < 1:
            raise ValueError("row_limit must be at least 1")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1 (SLM_MAX_IN_FLIGHT)")
        if self.ollama_retries < 0:
            raise ValueError("ollama_retries must be 0 or more (SLM_OLLAMA_RETRIES)")
        if self.ollama_backoff_s < 0:
            raise ValueError("ollama_backoff_s must be 0 or more (SLM_OLLAMA_BACKOFF)")
        if not self.ollama_timeout_s > 0:
            raise ValueError("ollama_timeout_s must be more than 0 (SLM_OLLAMA_TIMEOUT)")
