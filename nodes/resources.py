"""The process-wide resources of the specialist nodes, in one place with one lifetime.

A node asks here for the chat model of a specialist, the SQL database and the Salesforce
client of its run's :class:`~graph.context.Context`. Database handles and clients are
opened once per process and settings and shared by every run (they are safe to share
between threads); :func:`close_all` closes them, e.g. when a service shuts down or a test
wants a fresh process state. Chat models are cached by the runtime itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

import runtime
from graph.context import Context
from specialists.scope import Cues, cues_of, standard_describes
from tools.salesforce import (
    SalesforceClient,
    SalesforceCredentials,
    SalesforceError,
    missing_credentials_message,
)
from tools.salesforce_limits import DEFAULT_OBJECTS, parse_objects
from tools.sql import SqlDatabase, SqlToolError

logger = logging.getLogger(__name__)

_databases_lock = threading.Lock()
_clients_lock = threading.Lock()
_databases: dict[tuple[str, str, bool], SqlDatabase] = {}
_clients: dict[tuple[SalesforceCredentials, str, float], SalesforceClient] = {}


def brings_model(context: Context, specialist: str) -> bool:
    """Whether the context brings its own model for ``specialist`` (tests, services)."""
    return bool(context.chat_models and specialist in context.chat_models)


def chat_model(context: Context, specialist: str) -> BaseChatModel:
    """The chat model for ``specialist``: the context's own, else the runtime's.

    Raises:
        ModelUnavailableError: The runtime cannot serve the specialist.
    """
    if brings_model(context, specialist):
        model: BaseChatModel = context.chat_models[specialist]  # type: ignore[index]
        return model
    return runtime.get_chat_model(specialist, **context.model_settings())


def system_text(context: Context, specialist: str) -> str:
    """The specialist's SYSTEM text from its Modelfile ('' for a model the context brings)."""
    if brings_model(context, specialist):
        return ""
    return runtime.system_prompt(specialist) or ""


def database(context: Context) -> SqlDatabase:
    """The context's SQL database, opened once per process and settings.

    Raises:
        SqlToolError: The database cannot be opened (or its role is refused).
        OSError: The file cannot be read.
    """
    key = (context.database_url, context.sql_tables, context.sql_allow_privileged)
    with _databases_lock:
        handle = _databases.get(key)
        if handle is None:
            handle = SqlDatabase.open(
                context.database_url,
                tables=context.sql_tables,
                allow_privileged=context.sql_allow_privileged,
            )
            _databases[key] = handle
        return handle


def salesforce_client(context: Context) -> SalesforceClient:
    """The context's Salesforce client, or one connected once from its credentials.

    A connected client keeps the context's object allow-list and HTTP timeout.

    Raises:
        SalesforceError: No credentials are set (``code == "NOT_CONFIGURED"``), or the
            connection failed.
    """
    if context.salesforce_client is not None:
        client: SalesforceClient = context.salesforce_client
        return client
    credentials = context.salesforce_credentials
    if credentials is None:
        raise SalesforceError(missing_credentials_message(), code="NOT_CONFIGURED")
    key = (credentials, context.salesforce_objects, context.salesforce_timeout_s)
    with _clients_lock:
        shared = _clients.get(key)
        if shared is None:
            shared = SalesforceClient.connect(
                credentials,
                allowed_objects=parse_objects(context.salesforce_objects),
                timeout_s=context.salesforce_timeout_s,
            )
            _clients[key] = shared
        return shared


def org_describes(context: Context) -> dict[str, Mapping[str, Any]]:
    """The describe() of each object the Salesforce specialist may use.

    From the configured org when there is one (cached by its client); without one, or
    when the org cannot be reached, the standard objects as the offline sandbox describes
    them.
    """
    allowed = parse_objects(context.salesforce_objects)
    names = sorted(allowed) if allowed else sorted(DEFAULT_OBJECTS)
    if context.salesforce_client is not None or context.salesforce_credentials is not None:
        try:
            client = salesforce_client(context)
            return {name: client.describe(name) for name in names}
        except (SalesforceError, OSError) as exc:
            logger.info("routing without the org's own metadata: %s", exc)
    return standard_describes(names)


def cues(context: Context) -> Cues:
    """The router's cues for the context's database and org (see :mod:`specialists.scope`).

    A database that cannot be opened leaves the SQL system unknown: the router still
    plans, and the SQL sub-task then says why the database is unavailable.
    """
    handle: SqlDatabase | None = None
    try:
        handle = database(context)
    except (SqlToolError, OSError) as exc:
        logger.info("routing without the database's schema: %s", exc)
    return cues_of(handle, org_describes(context))


def close_all() -> None:
    """Close every shared database handle and forget every client."""
    with _databases_lock:
        handles = list(_databases.values())
        _databases.clear()
    with _clients_lock:
        _clients.clear()
    for handle in handles:
        handle.close()
