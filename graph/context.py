"""Run configuration: one ``Context`` passed to every node as ``runtime.context``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.paths import PROJECT_ROOT


def _env(name: str, default: str) -> Any:
    return field(default_factory=lambda: os.environ.get(name, default))


def default_data_dir() -> Path:
    """Data directory: ``$SLM_DATA_DIR``, else ``.data`` in the project root."""
    return Path(os.environ.get("SLM_DATA_DIR") or PROJECT_ROOT / ".data")


def default_database_url() -> str:
    """Demo database: ``$SLM_DATABASE_URL``, else ``demo.sqlite`` in the data directory."""
    return os.environ.get("SLM_DATABASE_URL") or str(default_data_dir() / "demo.sqlite")


@dataclass(kw_only=True)
class Context:
    """Settings of one run. Every field falls back to an environment variable."""

    backend: str = _env("SLM_BACKEND", "auto")
    """Model backend: ``embedded`` (llama.cpp in-process), ``ollama``, or ``auto``
    (Ollama when it answers and has the specialist's model, else embedded). Env: SLM_BACKEND."""

    ollama_host: str = _env("OLLAMA_HOST", "http://127.0.0.1:11434")
    """Ollama server for every specialist. Env: OLLAMA_HOST."""

    database_url: str = field(default_factory=default_database_url)
    """SQL database the ``sql`` specialist queries: a SQLite path or a ``postgresql://`` URL.
    Env: SLM_DATABASE_URL (default: ``demo.sqlite`` in the data directory)."""

    sql_dialect: str = _env("SLM_SQL_DIALECT", "sqlite")
    """Dialect the SQL specialist writes; sqlglot transpiles it to the database's.
    Env: SLM_SQL_DIALECT."""

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

    chat_models: Mapping[str, Any] | None = None
    """Chat models to use instead of the runtime's, by specialist name (``router``, ``sql``,
    ``salesforce``, ``summarize``). For tests and services that bring their own models."""

    def __post_init__(self) -> None:
        """Check the settings that a typo would silently break."""
        if self.backend not in ("embedded", "ollama", "auto"):
            raise ValueError(
                f"unknown backend {self.backend!r}: choose embedded, ollama or auto (SLM_BACKEND)"
            )
        if self.max_repairs < 0:
            raise ValueError("max_repairs must be 0 or more")
        if self.row_limit < 1:
            raise ValueError("row_limit must be at least 1")
