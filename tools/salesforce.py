"""Salesforce tools: the SOQL action a specialist emits, credentials, validation and queries.

The specialist model emits a :class:`SoqlQuery`. Before anything reaches the org,
:meth:`SalesforceClient.validate_soql` checks the statement against the org's own
``describe()`` metadata: one read-only ``SELECT ... FROM <Object>``, objects, fields,
relationship paths, functions, value types and picklist values. Every problem found there
raises :class:`SoqlValidationError` with a short message the model can act on
("no field `Amout` on Opportunity; did you mean `Amount`?").

Parsing: SOQL is not SQL, so the text is first scanned by a small SOQL lexer that keeps the
structure and replaces every value (strings, ISO dates, date literals such as
``LAST_N_DAYS:30``) by a numbered string placeholder, quotes every identifier (``Case`` and
``Type`` are SQL keywords), renames SOQL functions to a private prefix so sqlglot sees plain
anonymous functions, turns ``INCLUDES``/``EXCLUDES`` into ``IN``/``NOT IN`` and drops the two
allowed clauses that do not affect field checks (``WITH SECURITY_ENFORCED|USER_MODE`` and
``USING SCOPE <scope>``, after checking them). The rewritten text is parsed by sqlglot and
the tree is walked with the placeholders resolved back to their SOQL values. The query sent
to Salesforce is always the cleaned original text, never the rewrite.

What a query may contain is an allow-list (see :mod:`tools.salesforce_limits`): its size
and nesting are capped before parsing, only read-only clauses pass (``FOR VIEW``,
``FOR UPDATE``, ``UPDATE TRACKING`` ... are refused by name), SOQL's own OFFSET / LIMIT
rules are enforced, and only the configured objects may be queried, traversed by a
relationship path or acted on.
"""

from __future__ import annotations

import datetime
import difflib
import json
import logging
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal
from xml.sax.saxutils import escape as xml_escape

import requests
import sqlglot
from pydantic import BaseModel, ConfigDict, Field
from simple_salesforce import Salesforce
from simple_salesforce import exceptions as sf_exc
from simple_salesforce.format import format_soql
from sqlglot import exp

from tools.salesforce_limits import (
    ALL_OBJECTS,
    DEFAULT_OBJECTS,
    MAX_FIELDS_ALL_LIMIT,
    MAX_OFFSET,
    MAX_SOQL_CONDITIONS,
    MAX_SOQL_LENGTH,
    MAX_SOQL_NESTING,
    OBJECTS_ENV_VAR,
    SIDE_EFFECT_CLAUSES,
    USING_SCOPES,
    WITH_CLAUSES,
    parse_objects,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ALL_ENV_VARS",
    "DEFAULT_OBJECTS",
    "ENV_VARS",
    "KEY_PREFIXES",
    "MORE_ENV_VARS",
    "WRITE_ACTIONS",
    "ActionRequest",
    "ActionResult",
    "AnyAction",
    "CreateAction",
    "DeleteAction",
    "DescribeAction",
    "GetAction",
    "QueryAction",
    "SalesforceAction",
    "UpdateAction",
    "check_field_value",
    "check_record_id",
    "id_checksum",
    "is_write",
    "to_18_char_id",
    "SalesforceClient",
    "SalesforceCredentials",
    "SalesforceError",
    "SoqlQuery",
    "SoqlResult",
    "SoqlValidationError",
    "map_salesforce_exception",
    "missing_credentials_message",
]


# --------------------------------------------------------------------------------------
# The typed action
# --------------------------------------------------------------------------------------


class SoqlQuery(BaseModel):
    """The action the Salesforce specialist emits: one read-only SOQL query."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["query"] = Field(
        default="query",
        description='Always "query": run one read-only SOQL query against Salesforce.',
    )
    soql: str = Field(
        description=(
            "One SOQL SELECT statement over standard Salesforce objects (Account, Contact, "
            "Opportunity, Lead, Case), e.g. SELECT Name, Amount FROM Opportunity "
            "WHERE StageName = 'Closed Won' LIMIT 10. Name each field (no SELECT *), follow "
            "parents with relationship paths such as Account.Name, put text in single "
            "quotes, write dates without quotes (2024-01-31) or as date literals "
            "(TODAY, LAST_N_DAYS:30, THIS_QUARTER). No semicolon, no INSERT/UPDATE/DELETE."
        ),
    )


# Free-text limits for the grammar: long enough for any field of the demo org (a long text
# area holds 32,000 characters), short enough that a runaway model stops.
_MAX_SOQL: Final = MAX_SOQL_LENGTH
_MAX_NAME: Final = 80
_MAX_VALUE: Final = 32000
_MAX_FIELDS: Final = 60

FieldValue = Annotated[str, Field(max_length=_MAX_VALUE)] | int | float | bool | None
"""One field value in a create/update: text, number, boolean, or null to clear it."""

_SOBJECT_DESCRIPTION: Final = "The object's API name: Account, Contact, Opportunity, Lead or Case."
_RECORD_ID_DESCRIPTION: Final = (
    "The record's 18-character Id (15 also accepted); its first three characters are the "
    "object's key prefix: 001 Account, 003 Contact, 006 Opportunity, 00Q Lead, 500 Case."
)
_VALUES_DESCRIPTION: Final = (
    "Field API name -> new value. Text in quotes, numbers and true/false without quotes, "
    "dates as 2024-01-31, picklists as one of the field's values, references as the 18-char "
    "Id of the parent record, null to clear a field."
)


def _action_first(schema: dict[str, Any]) -> None:
    """Mark ``action`` required in a JSON schema, so a grammar made from it writes it first.

    A JSON-schema grammar writes required properties in order and optional ones after them;
    with ``action`` optional (it has a default), constrained decoding could only produce
    ``{"soql": ..., "action": "query"}``, unlike every other action and every example.
    """
    required = [name for name in schema.get("required", []) if name != "action"]
    schema["required"] = ["action", *required]


class QueryAction(BaseModel):
    """Run one read-only SOQL query."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_action_first)

    action: Literal["query"] = Field(
        default="query", description="query: run one read-only SOQL query."
    )
    soql: str = Field(
        max_length=_MAX_SOQL,
        description=SoqlQuery.model_fields["soql"].description,
    )


class GetAction(BaseModel):
    """Read named fields of one record by its Id."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["get"] = Field(description="get: read fields of one record by Id.")
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)
    record_id: str = Field(max_length=18, description=_RECORD_ID_DESCRIPTION)
    fields: list[Annotated[str, Field(max_length=_MAX_NAME * 3)]] = Field(
        max_length=_MAX_FIELDS,
        description=(
            'Field API names to read, e.g. ["Name", "Industry"]; parent fields through '
            "relationship paths such as Account.Name. Empty reads every field."
        ),
    )


class CreateAction(BaseModel):
    """Create one record (a write: a person approves it first)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["create"] = Field(description="create: insert one new record.")
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)
    values: dict[str, FieldValue] = Field(description=_VALUES_DESCRIPTION)


class UpdateAction(BaseModel):
    """Change fields of one record (a write: a person approves it first)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["update"] = Field(description="update: change fields of one record.")
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)
    record_id: str = Field(max_length=18, description=_RECORD_ID_DESCRIPTION)
    values: dict[str, FieldValue] = Field(description=_VALUES_DESCRIPTION)


class DeleteAction(BaseModel):
    """Delete one record (a write: a person approves it first)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["delete"] = Field(description="delete: remove one record.")
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)
    record_id: str = Field(max_length=18, description=_RECORD_ID_DESCRIPTION)


class DescribeAction(BaseModel):
    """List an object's fields, their types and picklist values."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["describe"] = Field(
        description="describe: list an object's fields, types and picklist values."
    )
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)


SalesforceAction = Annotated[
    QueryAction | GetAction | CreateAction | UpdateAction | DeleteAction | DescribeAction,
    Field(discriminator="action"),
]
"""One typed Salesforce action; ``action`` says which."""

AnyAction = QueryAction | GetAction | CreateAction | UpdateAction | DeleteAction | DescribeAction


class ActionRequest(BaseModel):
    """What the Salesforce specialist emits: exactly one action.

    ``ActionRequest.model_json_schema()`` is the schema that constrains decoding.
    """

    model_config = ConfigDict(extra="forbid")

    action: SalesforceAction = Field(
        description=(
            "The one Salesforce action to take: query (SOQL), get (one record's fields), "
            "create, update, delete (writes, approved by a person first) or describe."
        )
    )


WRITE_ACTIONS: Final = frozenset({"create", "update", "delete"})
"""The action kinds that change data and need a person's approval."""


def is_write(action: AnyAction | SoqlQuery | str) -> bool:
    """Say whether an action changes data (create, update or delete).

    Args:
        action: An action model, or its ``action`` name.

    Returns:
        True for create, update and delete.
    """
    name = action if isinstance(action, str) else action.action
    return name in WRITE_ACTIONS


# --------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------

ENV_VARS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "SF_USERNAME": "Option A: the Salesforce user name (an e-mail address).",
        "SF_PASSWORD": "Option A: that user's password.",
        "SF_SECURITY_TOKEN": "Option A: the user's security token (Settings > Reset My "
        "Security Token).",
        "SF_DOMAIN": "Option A, optional: login domain; 'login' (default) for production, "
        "'test' for sandboxes, or a My Domain prefix such as 'acme.my'.",
        "SF_INSTANCE_URL": "Option B: the org's instance URL, e.g. https://acme.my.salesforce.com.",
        "SF_SESSION_ID": "Option B: a session id or OAuth access token for that instance.",
    }
)
"""The basic variables: username/password/token, or instance URL + session id."""

MORE_ENV_VARS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "SF_CONSUMER_KEY": "Options C and D: the connected app's consumer key (client id).",
        "SF_PRIVATE_KEY_FILE": "Option C (JWT bearer, with SF_USERNAME): path to the PEM "
        "private key whose certificate the connected app holds.",
        "SF_PRIVATE_KEY": "Option C: the PEM private key itself, instead of a file.",
        "SF_CONSUMER_SECRET": "Option D (OAuth client credentials): the consumer secret; "
        "needs SF_DOMAIN (a My Domain such as 'acme.my') or SF_INSTANCE_URL.",
        "SF_CA_BUNDLE": "Optional: a CA certificate file to trust (the offline sandbox's "
        "throwaway certificate).",
    }
)
"""Further variables: JWT bearer, OAuth client credentials, a CA bundle to trust."""

ALL_ENV_VARS: Final[Mapping[str, str]] = MappingProxyType({**ENV_VARS, **MORE_ENV_VARS})
"""Every variable :meth:`SalesforceCredentials.from_env` reads."""

_PASSWORD_VARS: Final = ("SF_USERNAME", "SF_PASSWORD", "SF_SECURITY_TOKEN")
_SESSION_VARS: Final = ("SF_INSTANCE_URL", "SF_SESSION_ID")

CredentialKind = Literal["password", "session", "jwt", "client_credentials"]


def missing_credentials_message() -> str:
    """Return a sentence naming the environment variables that enable Salesforce.

    Returns:
        The message, listing the ways to provide credentials.
    """
    return (
        "Salesforce is not configured: set SF_USERNAME, SF_PASSWORD and SF_SECURITY_TOKEN "
        "(plus SF_DOMAIN=test for a sandbox), or set SF_INSTANCE_URL and SF_SESSION_ID "
        "(an existing session or OAuth access token), or SF_CONSUMER_KEY with "
        "SF_USERNAME and SF_PRIVATE_KEY_FILE (JWT bearer) or with SF_CONSUMER_SECRET and "
        "SF_DOMAIN (client credentials). `slm-dispatch sandbox` serves an offline "
        "sandbox org and prints the variables that point at it."
    )


def _env_value(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _normalise_domain(domain: str | None) -> str | None:
    if domain is None:
        return None
    domain = re.sub(r"^https?://", "", domain.strip(), flags=re.IGNORECASE).rstrip("/")
    domain = re.sub(r"\.salesforce\.com$", "", domain, flags=re.IGNORECASE)
    return domain or None


def _with_scheme(url: str) -> str:
    if not re.match(r"^https?://", url, flags=re.IGNORECASE):
        url = "https://" + url
    return url.rstrip("/")


@dataclass(frozen=True)
class SalesforceCredentials:
    """How to reach one Salesforce org; secrets never appear in ``repr``.

    One of four options is filled: ``username``/``password``/``security_token`` (with an
    optional ``domain``); ``instance_url``/``session_id``; JWT bearer (``username``,
    ``consumer_key`` and ``private_key_file`` or ``private_key``); OAuth client credentials
    (``consumer_key``, ``consumer_secret`` and a My Domain ``domain``). ``ca_bundle`` names a
    certificate file to trust (the offline sandbox).
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    domain: str | None = None
    instance_url: str | None = None
    session_id: str | None = field(default=None, repr=False)
    consumer_key: str | None = field(default=None, repr=False)
    consumer_secret: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    private_key_file: str | None = None
    ca_bundle: str | None = None

    @property
    def kind(self) -> CredentialKind:
        """Which option these credentials use."""
        if self.username is not None and self.password is not None:
            return "password"
        if self.consumer_key is not None and (self.private_key or self.private_key_file):
            return "jwt"
        if self.consumer_key is not None and self.consumer_secret is not None:
            return "client_credentials"
        if self.username is not None:
            return "password"
        return "session"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values, so that messages can be scrubbed of them."""
        values = (
            self.password,
            self.security_token,
            self.session_id,
            self.consumer_key,
            self.consumer_secret,
            self.private_key,
        )
        return tuple(v for v in values if v)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SalesforceCredentials | None:
        """Read credentials from environment variables (see :data:`ALL_ENV_VARS`).

        The first complete option wins, in this order: username/password/token (it can sign
        in again where a session expires), JWT bearer, client credentials, session id.

        Args:
            environ: The variables to read; the process environment by default.

        Returns:
            The credentials, or None when no option is complete.
        """

        def get(name: str) -> str | None:
            return _env_value(environ, name)

        domain = _normalise_domain(get("SF_DOMAIN"))
        ca_bundle = get("SF_CA_BUNDLE")
        username, password, token = (get(n) for n in _PASSWORD_VARS)
        if username and password and token:
            return cls(
                username=username,
                password=password,
                security_token=token,
                domain=domain,
                ca_bundle=ca_bundle,
            )
        consumer_key = get("SF_CONSUMER_KEY")
        key_file, key = get("SF_PRIVATE_KEY_FILE"), get("SF_PRIVATE_KEY")
        if consumer_key and username and (key_file or key):
            return cls(
                username=username,
                consumer_key=consumer_key,
                private_key_file=key_file,
                private_key=None if key_file else key,
                domain=domain,
                ca_bundle=ca_bundle,
            )
        secret = get("SF_CONSUMER_SECRET")
        instance_url = get("SF_INSTANCE_URL")
        if consumer_key and secret:
            my_domain = domain
            if my_domain in (None, "login", "test") and instance_url:
                my_domain = _normalise_domain(instance_url)
            if my_domain and my_domain not in ("login", "test"):
                return cls(
                    consumer_key=consumer_key,
                    consumer_secret=secret,
                    domain=my_domain,
                    ca_bundle=ca_bundle,
                )
        session_id = get("SF_SESSION_ID")
        if instance_url and session_id:
            return cls(
                instance_url=_with_scheme(instance_url), session_id=session_id, ca_bundle=ca_bundle
            )
        return None

    def __repr__(self) -> str:
        kind = self.kind
        ca = f", ca_bundle={self.ca_bundle!r}" if self.ca_bundle else ""
        if kind == "password":
            return (
                f"SalesforceCredentials(kind='password', username={self.username!r}, "
                f"domain={self.domain or 'login'!r}, password='***', security_token='***'{ca})"
            )
        if kind == "jwt":
            key = (
                f"private_key_file={self.private_key_file!r}"
                if self.private_key_file
                else "private_key='***'"
            )
            return (
                f"SalesforceCredentials(kind='jwt', username={self.username!r}, "
                f"domain={self.domain or 'login'!r}, consumer_key='***', {key}{ca})"
            )
        if kind == "client_credentials":
            return (
                f"SalesforceCredentials(kind='client_credentials', domain={self.domain!r}, "
                f"consumer_key='***', consumer_secret='***'{ca})"
            )
        return (
            f"SalesforceCredentials(kind='session', instance_url={self.instance_url!r}, "
            f"session_id='***'{ca})"
        )

    __str__ = __repr__


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class SalesforceError(Exception):
    """A Salesforce failure, described for the model and the operator.

    Attributes:
        message: A short message without tokens or session ids.
        retryable: True when the model can repair its SOQL and try again (malformed query,
            unknown field); False when the failure is final (sign-in failed, session
            expired, request refused, resource not found, network down).
        code: A Salesforce error code (``INVALID_FIELD``) or one of this module's
            (``AUTH_FAILED``, ``NOT_CONFIGURED``), when known.
    """

    def __init__(self, message: str, *, retryable: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code


class SoqlValidationError(SalesforceError):
    """The SOQL was rejected before it reached Salesforce; the model can repair it."""

    def __init__(self, message: str, *, code: str | None = "INVALID_SOQL") -> None:
        super().__init__(message, retryable=True, code=code)


_MAX_MESSAGE: Final = 600
_SESSION_ID_RE: Final = re.compile(r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+")
_BEARER_RE: Final = re.compile(r"(?i)bearer\s+\S+")


_PERCENT_RE: Final = re.compile(r"(%[0-9A-F]{2})")
_XML_QUOTES: Final[Mapping[str, str]] = MappingProxyType({'"': "&quot;", "'": "&apos;"})


def _secret_forms(secret: str) -> set[str]:
    """The ways a secret can appear in a message: as is, URL-, JSON- and XML-escaped."""
    forms = {
        secret,
        urllib.parse.quote(secret),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        urllib.parse.quote_plus(secret, safe="/"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        xml_escape(secret),
        xml_escape(secret, dict(_XML_QUOTES)),
        xml_escape(secret, {'"': "&#34;", "'": "&#39;"}),
        xml_escape(secret, {'"': "&quot;", "'": "&#x27;"}),
    }
    return {form for form in forms if len(form) >= 4}


def _scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secrets and anything shaped like a session id from ``text``.

    Each secret is removed as written and in its URL-encoded (``quote``, ``quote_plus``;
    percent escapes in either case), JSON-escaped and XML-escaped forms.
    """
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= 4:
            forms |= _secret_forms(secret)
    for form in sorted(forms, key=len, reverse=True):
        if _PERCENT_RE.search(form):  # percent escapes may come back in lower case
            pattern = "".join(
                f"%(?i:{part[1:]})" if _PERCENT_RE.fullmatch(part) else re.escape(part)
                for part in _PERCENT_RE.split(form)
            )
            text = re.sub(pattern, "***", text)
        else:
            text = text.replace(form, "***")
    text = _SESSION_ID_RE.sub("***", text)
    text = _BEARER_RE.sub("Bearer ***", text)
    text = text.strip()
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1].rstrip() + "…"
    return text


def _error_details(content: Any) -> tuple[str | None, str]:
    """Pull ``(errorCode, message)`` out of a Salesforce error response body."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return None, content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        content = content[0]
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("error")
        message = content.get("message") or content.get("error_description") or ""
        return (str(code) if code else None), str(message)
    return None, "" if content is None else str(content)


def map_salesforce_exception(exc: BaseException, *, secrets: Iterable[str] = ()) -> SalesforceError:
    """Translate an exception from simple-salesforce or requests into a SalesforceError.

    Args:
        exc: The exception raised by a Salesforce call.
        secrets: Values to scrub from the message (password, token, session id).

    Returns:
        A SalesforceError whose ``retryable`` says whether the model can repair its query.
    """
    secrets = tuple(secrets)
    if isinstance(exc, SalesforceError):
        return exc
    if isinstance(exc, sf_exc.SalesforceAuthenticationFailed):
        code = str(exc.code) if exc.code is not None else None
        detail = _scrub(exc.auth_message or "", secrets)
        message = "Salesforce sign-in failed" + (f" ({code})" if code else "")
        message += f": {detail}" if detail else "."
        return SalesforceError(message, retryable=False, code="AUTH_FAILED")
    if isinstance(exc, sf_exc.SalesforceError):
        code, detail = _error_details(exc.content)
        detail = _scrub(detail, secrets)
        suffix = f": {detail}" if detail else "."
        if isinstance(exc, sf_exc.SalesforceMalformedRequest):
            label = f" ({code})" if code else ""
            return SalesforceError(
                f"Salesforce rejected the query{label}{suffix}",
                retryable=True,
                code=code or "MALFORMED_REQUEST",
            )
        if isinstance(exc, sf_exc.SalesforceExpiredSession):
            return SalesforceError(
                "The Salesforce session has expired or is invalid; sign in again "
                "(a fresh SF_SESSION_ID, or SF_USERNAME/SF_PASSWORD/SF_SECURITY_TOKEN).",
                retryable=False,
                code=code or "INVALID_SESSION_ID",
            )
        if isinstance(exc, sf_exc.SalesforceRefusedRequest):
            return SalesforceError(
                f"Salesforce refused the request (the user lacks access or a limit was "
                f"reached){suffix}",
                retryable=False,
                code=code or "REFUSED",
            )
        if isinstance(exc, sf_exc.SalesforceResourceNotFound):
            name = _scrub(str(exc.resource_name or "resource"), secrets)
            return SalesforceError(
                f"Salesforce could not find {name}{suffix}",
                retryable=False,
                code=code or "NOT_FOUND",
            )
        return SalesforceError(f"Salesforce error {exc.status}{suffix}", retryable=False, code=code)
    if isinstance(exc, requests.exceptions.Timeout):
        return SalesforceError(
            "Salesforce did not answer in time.", retryable=False, code="TIMEOUT"
        )
    if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
        return SalesforceError(
            "Could not reach Salesforce (network error).", retryable=False, code="CONNECTION"
        )
    detail = _scrub(str(exc), secrets)
    return SalesforceError(
        f"Salesforce call failed ({type(exc).__name__})" + (f": {detail}" if detail else "."),
        retryable=False,
    )


# --------------------------------------------------------------------------------------
# SOQL lexing and rewriting for sqlglot
# --------------------------------------------------------------------------------------

_DATE_LITERALS: Final = frozenset(
    """YESTERDAY TODAY TOMORROW LAST_WEEK THIS_WEEK NEXT_WEEK LAST_MONTH THIS_MONTH
    NEXT_MONTH LAST_90_DAYS NEXT_90_DAYS THIS_QUARTER LAST_QUARTER NEXT_QUARTER THIS_YEAR
    LAST_YEAR NEXT_YEAR THIS_FISCAL_QUARTER LAST_FISCAL_QUARTER NEXT_FISCAL_QUARTER
    THIS_FISCAL_YEAR LAST_FISCAL_YEAR NEXT_FISCAL_YEAR""".split()
)
_DATE_N_LITERALS: Final = frozenset(
    """LAST_N_DAYS NEXT_N_DAYS N_DAYS_AGO LAST_N_WEEKS NEXT_N_WEEKS N_WEEKS_AGO
    LAST_N_MONTHS NEXT_N_MONTHS N_MONTHS_AGO LAST_N_QUARTERS NEXT_N_QUARTERS
    N_QUARTERS_AGO LAST_N_YEARS NEXT_N_YEARS N_YEARS_AGO LAST_N_FISCAL_QUARTERS
    NEXT_N_FISCAL_QUARTERS N_FISCAL_QUARTERS_AGO LAST_N_FISCAL_YEARS NEXT_N_FISCAL_YEARS
    N_FISCAL_YEARS_AGO""".split()
)
_KEYWORDS: Final = frozenset(
    """SELECT FROM WHERE AND OR NOT IN LIKE GROUP BY HAVING ORDER ASC DESC NULLS FIRST LAST
    LIMIT OFFSET NULL TRUE FALSE ROLLUP CUBE""".split()
)
_AGGREGATES: Final = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
_DATE_FUNCTIONS: Final = frozenset(
    """CALENDAR_MONTH CALENDAR_QUARTER CALENDAR_YEAR DAY_IN_MONTH DAY_IN_WEEK DAY_IN_YEAR
    DAY_ONLY FISCAL_MONTH FISCAL_QUARTER FISCAL_YEAR HOUR_IN_DAY WEEK_IN_MONTH
    WEEK_IN_YEAR""".split()
)
_OTHER_FUNCTIONS: Final = frozenset(
    {
        "CONVERTTIMEZONE",
        "CONVERTCURRENCY",
        "TOLABEL",
        "FORMAT",
        "GROUPING",
        "DISTANCE",
        "GEOLOCATION",
        "FIELDS",
    }
)
_FUNCTIONS: Final = _AGGREGATES | _DATE_FUNCTIONS | _OTHER_FUNCTIONS
_FN_PREFIX: Final = "SOQLFN_"
_DML_WORDS: Final = frozenset(
    """INSERT UPDATE DELETE UPSERT MERGE UNDELETE DROP CREATE ALTER TRUNCATE GRANT REVOKE
    EXEC EXECUTE CALL""".split()
)
_SQL_ONLY: Final[Mapping[str, str]] = MappingProxyType(
    {
        "JOIN": "SOQL has no JOIN; follow relationships with paths such as Account.Name",
        "DISTINCT": "SOQL has no DISTINCT; use GROUP BY on the field instead",
        "UNION": "SOQL allows one SELECT only; there is no UNION",
        "AS": "SOQL aliases take no AS; write e.g. COUNT(Id) total",
        "IS": "SOQL has no IS NULL; write Field = null or Field != null",
        "BETWEEN": "SOQL has no BETWEEN; write Field >= low AND Field <= high",
        "TYPEOF": "TYPEOF is not supported here; select the polymorphic fields directly",
    }
)
_FIELDS_ARGS: Final = frozenset({"ALL", "STANDARD", "CUSTOM"})
_AFTER_WITH: Final = frozenset({"GROUP", "ORDER", "LIMIT", "OFFSET"})
_AFTER_USING: Final = _AFTER_WITH | {"WHERE", "WITH"}
_LOGICAL: Final = frozenset({"AND", "OR", "NOT"})
_OPERAND_KINDS: Final = frozenset({"string", "datetime", "date", "number", "ident", "bind"})

_TOKEN_RE: Final = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<string>'(?:[^'\\]|\\.)*')
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))
    |(?P<number>\d+(?:\.\d+)?)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z0-9_-]*)?)
    |(?P<bind>:\s*[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>!=|<>|<=|>=|=|<|>)
    |(?P<punct>[(),.])
    |(?P<sign>[-+])
    """,
    re.VERBOSE,
)
_ISO_DATE_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_FENCE_RE: Final = re.compile(
    r"^```[ \t]*(?:[A-Za-z0-9_+-]+[ \t]*\n)?(?P<body>.*?)(?:```)?\s*$", re.DOTALL
)
_PLACEHOLDER_RE: Final = re.compile(r"^__soql_value_(\d+)__$")

ValueKind = Literal["string", "date", "datetime", "date_literal"]


@dataclass(frozen=True)
class _Value:
    kind: ValueKind
    raw: str  # as written in the SOQL
    value: str  # strings unescaped; others as written


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _unescape(body: str) -> str:
    escapes = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), body, flags=re.DOTALL)


def _suggest(name: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> list[str]:
    """Return the candidates closest to ``name`` (case-insensitive), best first.

    Only candidates nearly as close as the best one are kept, so a clear winner is
    suggested alone.
    """
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    target = name.lower()
    scored = []
    for lower, original in by_lower.items():
        ratio = difflib.SequenceMatcher(None, target, lower).ratio()
        if ratio >= cutoff:
            scored.append((ratio, original))
    scored.sort(key=lambda item: -item[0])
    if not scored:
        return []
    best = scored[0][0]
    return [original for ratio, original in scored[:3] if best - ratio < 0.08]


def _did_you_mean(name: str, candidates: Iterable[str], *, quote: str = "`") -> str:
    found = _suggest(name, candidates)
    if not found:
        return ""
    if len(found) == 1:
        return f"; did you mean {quote}{found[0]}{quote}?"
    return "; did you mean one of " + ", ".join(f"{quote}{f}{quote}" for f in found) + "?"


def clean_soql(soql: str) -> str:
    """Strip whitespace, markdown fences, backticks and trailing semicolons.

    Args:
        soql: The text the model produced.

    Returns:
        The bare statement.
    """
    text = soql.strip()
    if text.startswith("```"):
        match = _FENCE_RE.match(text)
        text = match.group("body").strip() if match else text.strip("`").strip()
    if len(text) >= 2 and text[0] == "`" and text[-1] == "`":
        text = text.strip("`").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _lex(soql: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN_RE.match(soql, pos)
        if match is None:
            char = soql[pos]
            if char == ";":
                raise SoqlValidationError(
                    "only one SOQL statement is allowed; remove the `;` and anything after it"
                )
            if char == "'":
                raise SoqlValidationError("a string literal is not closed; end it with `'`")
            if char == '"':
                raise SoqlValidationError(
                    "SOQL strings use single quotes: write 'text', not \"text\""
                )
            if char == "`":
                raise SoqlValidationError("SOQL does not use backticks; write plain field names")
            if char == "*" and re.search(r"(?i)\bCOUNT\s*\(\s*$", soql[:pos]):
                raise SoqlValidationError("COUNT(*) is not SOQL; use COUNT() or COUNT(Id)")
            if char == "*":
                raise SoqlValidationError(
                    "SOQL has no `*`: list the fields (SELECT Id, Name FROM ...) and count "
                    "with COUNT() or COUNT(Id)"
                )
            raise SoqlValidationError(f"unexpected character `{char}` in the SOQL")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group()))
        pos = match.end()
    return tokens


def _check_complexity(tokens: list[_Token]) -> None:
    """Refuse queries nested or chained beyond the limits, before anything parses them.

    The nesting depth counts open parentheses plus the prefix operators (NOT, a sign)
    waiting for their operand at each level: the parser recurses on both.
    """
    levels = [0]  # per open parenthesis: prefix operators pending at that level
    deepest = 0
    conditions = 0
    previous: _Token | None = None
    for tok in tokens:
        upper = tok.text.upper() if tok.kind == "ident" else ""
        if tok.text == "(":
            levels.append(0)
        elif tok.text == ")":
            if len(levels) > 1:
                levels.pop()
            levels[-1] = 0
        elif upper == "NOT" or (
            tok.kind == "sign"
            and (previous is None or (previous.kind not in _OPERAND_KINDS and previous.text != ")"))
        ):
            levels[-1] += 1
        elif upper in ("AND", "OR") or tok.kind == "op" or tok.text == ",":
            levels[-1] = 0
        if upper in _LOGICAL:
            conditions += 1
        deepest = max(deepest, len(levels) - 1 + sum(levels))
        previous = tok
    if deepest > MAX_SOQL_NESTING:
        raise SoqlValidationError(
            f"the query nests {deepest} levels deep (parentheses, NOT and signs); at most "
            f"{MAX_SOQL_NESTING} are allowed: remove redundant parentheses and double NOTs",
            code="QUERY_TOO_COMPLICATED",
        )
    if conditions > MAX_SOQL_CONDITIONS:
        raise SoqlValidationError(
            f"the query joins {conditions} conditions with AND / OR / NOT; at most "
            f"{MAX_SOQL_CONDITIONS} are allowed: list values with IN ('a', 'b', ...) instead",
            code="QUERY_TOO_COMPLICATED",
        )


class _Rewriter:
    """Turns SOQL tokens into sqlglot-friendly SQL and remembers every literal value."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.values: dict[int, _Value] = {}
        self.out: list[str] = []

    def _peek(self, i: int) -> _Token | None:
        return self.tokens[i] if i < len(self.tokens) else None

    def _peek_word(self, i: int) -> str | None:
        tok = self._peek(i)
        return tok.text.upper() if tok is not None and tok.kind == "ident" else None

    def _placeholder(self, kind: ValueKind, raw: str, value: str) -> None:
        index = len(self.values)
        self.values[index] = _Value(kind, raw, value)
        self.out.append(f"'__soql_value_{index}__'")

    def rewrite(self) -> str:
        _check_complexity(self.tokens)
        first = self._peek_word(0)
        if first != "SELECT":
            if first in _DML_WORDS:
                raise SoqlValidationError(
                    f"only read-only SELECT queries can run here; `{first}` is not allowed",
                    code="NOT_A_QUERY",
                )
            raise SoqlValidationError(
                "the query must be one SOQL statement starting with SELECT, "
                "e.g. SELECT Id, Name FROM Account LIMIT 10",
                code="NOT_A_QUERY",
            )
        i = 0
        while i < len(self.tokens):
            i = self._step(i)
        return " ".join(self.out)

    def _step(self, i: int) -> int:
        tok = self.tokens[i]
        if tok.kind == "string":
            self._placeholder("string", tok.text, _unescape(tok.text[1:-1]))
        elif tok.kind == "date":
            self._placeholder("date", tok.text, tok.text)
        elif tok.kind == "datetime":
            self._placeholder("datetime", tok.text, tok.text)
        elif tok.kind == "bind":
            raise SoqlValidationError(
                f"bind variables such as `{tok.text}` are not supported; write the value itself"
            )
        elif tok.kind == "ident":
            return self._ident(i, tok.text)
        elif tok.kind == "sign" and i > 0 and self._peek_word(i - 1) in ("LIMIT", "OFFSET"):
            word = self._peek_word(i - 1)
            raise SoqlValidationError(f"{word} takes a whole number from 0 up, e.g. {word} 10")
        else:
            self.out.append(tok.text)
        return i + 1

    def _ident(self, i: int, text: str) -> int:
        upper = text.upper()
        if ":" in text:
            self._date_n_literal(text)
            return i + 1
        if upper in _DATE_N_LITERALS:
            raise SoqlValidationError(f"the date literal {upper} needs a number, e.g. {upper}:30")
        if upper in _DATE_LITERALS:
            self._placeholder("date_literal", text, upper)
            return i + 1
        nxt = self._peek_word(i + 1)
        if upper in ("FOR", "UPDATE"):
            self._side_effect_clause(upper, nxt)
        if upper == "WITH":
            return self._with_clause(i, nxt)
        if upper == "USING":
            return self._using_scope(i, nxt)
        if upper in _DML_WORDS:
            raise SoqlValidationError(
                f"only read-only SELECT queries can run here; `{upper}` is not allowed",
                code="NOT_A_QUERY",
            )
        if upper in _SQL_ONLY:
            raise SoqlValidationError(_SQL_ONLY[upper])
        if upper in _KEYWORDS:
            self.out.append(upper)
            return i + 1
        if upper == "INCLUDES":
            self.out.append("IN")
            return i + 1
        if upper == "EXCLUDES":
            self.out.append("NOT IN")
            return i + 1
        after = self._peek(i + 1)
        if after is not None and after.text == "(":
            return self._function(i, text, upper)
        self.out.append(f'"{text}"')
        return i + 1

    @staticmethod
    def _side_effect_clause(upper: str, nxt: str | None) -> None:
        """Refuse FOR VIEW / FOR REFERENCE / FOR UPDATE / UPDATE TRACKING / UPDATE VIEWSTAT."""
        clause = f"{upper} {nxt}" if nxt else upper
        effect = SIDE_EFFECT_CLAUSES.get(clause)
        if effect is not None:
            raise SoqlValidationError(
                f"`{clause}` is not allowed: {effect}, and a query here must be read-only; "
                "remove the clause",
                code="NOT_A_QUERY",
            )
        if upper == "FOR":
            raise SoqlValidationError(
                f"`{clause}` is not allowed: a read-only query has no FOR clause; remove it",
                code="NOT_A_QUERY",
            )

    def _followed_by_clause(self, i: int, allowed: frozenset[str]) -> bool:
        """Whether token ``i`` ends the query or subquery, or starts one of ``allowed``."""
        tok = self._peek(i)
        if tok is None or tok.text == ")":
            return True
        return tok.kind == "ident" and tok.text.upper() in allowed

    def _with_clause(self, i: int, nxt: str | None) -> int:
        """Check a WITH clause (one of WITH_CLAUSES) and its place, then drop it."""
        if nxt not in WITH_CLAUSES:
            shown = {None: "WITH", "DATA": "WITH DATA CATEGORY"}.get(nxt, f"WITH {nxt}")
            raise SoqlValidationError(
                f"`{shown}` is not allowed here; the only WITH clauses are "
                + " and ".join(f"WITH {w}" for w in sorted(WITH_CLAUSES))
            )
        if self._peek_word(i + 2) == "WHERE":
            raise SoqlValidationError(
                f"WITH {nxt} goes after WHERE: write ... WHERE <conditions> WITH {nxt}"
            )
        if not self._after_from(i) or not self._followed_by_clause(i + 2, _AFTER_WITH):
            raise SoqlValidationError(
                f"WITH {nxt} goes after FROM and WHERE, before GROUP BY, ORDER BY and LIMIT, "
                "once per query"
            )
        return i + 2

    def _using_scope(self, i: int, nxt: str | None) -> int:
        """Check USING SCOPE <scope> and its place (right after FROM <Object>), then drop it."""
        scope_tok = self._peek(i + 2)
        scope = scope_tok.text if scope_tok is not None and scope_tok.kind == "ident" else None
        known = ", ".join(USING_SCOPES.values())
        if nxt != "SCOPE" or scope is None:
            raise SoqlValidationError(f"write USING SCOPE followed by a scope, one of: {known}")
        if scope.lower() not in USING_SCOPES:
            hint = _did_you_mean(scope, USING_SCOPES.values())
            raise SoqlValidationError(
                f"`{_short(scope)}` is not a scope for USING SCOPE{hint} (scopes: {known})"
            )
        words = [self._peek_word(j) if j >= 0 else None for j in (i - 3, i - 2, i - 1)]
        follows_from = words[2] is not None and "FROM" in (words[0], words[1])
        if words[1] != "FROM" and words[2] in _KEYWORDS:
            follows_from = False
        if not follows_from or not self._followed_by_clause(i + 3, _AFTER_USING):
            raise SoqlValidationError(
                "USING SCOPE goes right after FROM <Object>, once, e.g. "
                "SELECT Name FROM Account USING SCOPE mine WHERE ..."
            )
        return i + 3

    def _after_from(self, i: int) -> bool:
        """Whether a FROM comes before token ``i`` at the same parenthesis level."""
        depth = 0
        for j in range(i - 1, -1, -1):
            text = self.tokens[j].text
            if text == ")":
                depth += 1
            elif text == "(":
                if depth == 0:
                    return False
                depth -= 1
            elif depth == 0 and self.tokens[j].kind == "ident" and text.upper() == "FROM":
                return True
        return False

    def _function(self, i: int, text: str, upper: str) -> int:
        if upper not in _FUNCTIONS:
            suggestion = _did_you_mean(upper, sorted(_FUNCTIONS))
            raise SoqlValidationError(
                f"`{text}()` is not a SOQL function{suggestion} (SOQL has COUNT, "
                "COUNT_DISTINCT, SUM, AVG, MIN, MAX and date functions such as "
                "CALENDAR_YEAR)"
            )
        if upper == "FIELDS":
            arg = self._peek_word(i + 2)
            close = self._peek(i + 3)
            if arg not in _FIELDS_ARGS or close is None or close.text != ")":
                raise SoqlValidationError("write FIELDS(ALL), FIELDS(STANDARD) or FIELDS(CUSTOM)")
            self.out.append(f"{_FN_PREFIX}FIELDS ( '{arg}' )")
            return i + 4
        self.out.append(f"{_FN_PREFIX}{upper}")
        return i + 1

    def _date_n_literal(self, text: str) -> None:
        name, _, arg = text.partition(":")
        upper = name.upper()
        if upper in _DATE_N_LITERALS:
            if not arg.isdigit():
                raise SoqlValidationError(
                    f"the date literal {upper} needs a whole number, e.g. {upper}:30"
                )
            self._placeholder("date_literal", text, f"{upper}:{arg}")
            return
        if arg and not arg[0].isdigit():
            raise SoqlValidationError(
                f"bind variables such as `:{arg}` are not supported; write the value itself"
            )
        suggestion = _did_you_mean(upper, sorted(_DATE_N_LITERALS))
        raise SoqlValidationError(f"unknown date literal `{text}`{suggestion}")


# --------------------------------------------------------------------------------------
# Validation against describe() metadata
# --------------------------------------------------------------------------------------

_NUMERIC_TYPES: Final = frozenset({"currency", "double", "int", "percent", "long"})
_TEXT_TYPES: Final = frozenset(
    {
        "string",
        "picklist",
        "multipicklist",
        "email",
        "phone",
        "textarea",
        "url",
        "id",
        "reference",
        "combobox",
        "encryptedstring",
    }
)
_COMPARISONS: Final = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.In)


@dataclass
class _ObjectInfo:
    """Field and relationship lookups for one object, built from describe()."""

    name: str
    fields: dict[str, dict[str, Any]]
    relationships: dict[str, dict[str, Any]]
    children: dict[str, dict[str, Any]]

    @classmethod
    def from_describe(cls, name: str, describe: Mapping[str, Any]) -> _ObjectInfo:
        fields: dict[str, dict[str, Any]] = {}
        relationships: dict[str, dict[str, Any]] = {}
        for item in describe.get("fields") or []:
            fields[str(item["name"]).lower()] = item
            rel = item.get("relationshipName")
            if rel:
                relationships[str(rel).lower()] = item
        children: dict[str, dict[str, Any]] = {}
        for child in describe.get("childRelationships") or []:
            rel = child.get("relationshipName")
            if rel:
                children[str(rel).lower()] = child
        return cls(str(describe.get("name") or name), fields, relationships, children)

    def field_names(self) -> list[str]:
        return [str(f["name"]) for f in self.fields.values()]

    def relationship_names(self) -> list[str]:
        return [str(f["relationshipName"]) for f in self.relationships.values()]


def _field_list(info: _ObjectInfo, limit: int = 30) -> str:
    names = info.field_names()
    shown = ", ".join(names[:limit])
    return shown + (", …" if len(names) > limit else "")


def _path_parts(node: exp.Expr) -> list[str]:
    if isinstance(node, exp.Column | exp.Dot):
        return [part.name for part in node.parts]
    return []


@dataclass
class _Analysis:
    """What validation learned about the top-level query."""

    sobject: str
    bare_count: bool


_SELECT_ARGS: Final = frozenset(
    {"expressions", "from", "from_", "where", "group", "having", "order", "limit", "offset"}
)
"""The parts of a parsed SELECT that a read-only SOQL query may have."""

_MAX_TREE_DEPTH: Final = MAX_SOQL_CONDITIONS + 8 * MAX_SOQL_NESTING + 32
"""The deepest parse tree the (recursive) checks walk: chains of AND/OR are left-deep."""


def _too_deep() -> SoqlValidationError:
    return SoqlValidationError(
        f"the query is nested too deeply to check; simplify it (at most {MAX_SOQL_NESTING} "
        f"levels of parentheses and {MAX_SOQL_CONDITIONS} AND / OR / NOT conditions)",
        code="QUERY_TOO_COMPLICATED",
    )


def _check_tree_depth(root: exp.Expr) -> None:
    """Refuse a parse tree deeper than the recursive checks can walk (measured iteratively)."""
    stack: list[tuple[exp.Expr, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_TREE_DEPTH:
            raise _too_deep()
        stack.extend((child, depth + 1) for child in node.iter_expressions())


@dataclass(frozen=True)
class _AllowList:
    """The objects a client may query, traverse with a path and act on.

    Attributes:
        names: The object API names as configured; None allows every described object.
    """

    names: frozenset[str] | None

    @classmethod
    def of(cls, objects: Iterable[str] | str | None) -> _AllowList:
        """Build from ``allowed_objects``: None is the default, ``*`` every object.

        Raises:
            ValueError: An entry is not an object API name.
        """
        if objects is None:
            return cls(DEFAULT_OBJECTS)
        if isinstance(objects, str):
            parsed = parse_objects(objects)
            return cls(DEFAULT_OBJECTS) if parsed is None else cls.of(parsed)
        names = frozenset(str(o).strip() for o in objects if str(o).strip())
        if ALL_OBJECTS in names:
            return cls(None)
        bad = sorted(n for n in names if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", n))
        if bad:
            raise ValueError(f"allowed_objects holds object API names; {bad[0]!r} is not one")
        return cls(names)

    def allows(self, name: str) -> bool:
        """Whether ``name`` (any casing) may be used."""
        return self.names is None or name.lower() in {n.lower() for n in self.names}

    def listing(self) -> str:
        """The allowed names for messages."""
        if self.names is None:
            return "every object of the org"
        return ", ".join(sorted(self.names)) if self.names else "none"

    def refusal(self, name: str, object_names: Callable[[], list[str]]) -> SoqlValidationError:
        """The error for an object that is not on the list (it may or may not exist)."""
        if name.lower() in {n.lower() for n in object_names()}:
            return SoqlValidationError(
                f"`{_short(name)}` is not an object allowed here; use one of: {self.listing()}",
                code="INVALID_TYPE",
            )
        return SoqlValidationError(
            _no_object_message(name, self, object_names), code="INVALID_TYPE"
        )


_DEFAULT_ALLOW_LIST: Final = _AllowList(DEFAULT_OBJECTS)


def _no_object_message(
    name: str, allowed: _AllowList, object_names: Callable[[], list[str]]
) -> str:
    """``no object `X` in this org``, with a suggestion among the objects allowed here."""
    if allowed.names is None:
        return f"no object `{_short(name)}` in this org{_did_you_mean(name, object_names())}"
    hint = _did_you_mean(name, sorted(allowed.names))
    listing = "" if hint else f" (objects allowed here: {allowed.listing()})"
    return f"no object `{_short(name)}` in this org{hint}{listing}"


class _Checker:
    """Walks a parsed query and checks it against the org's metadata."""

    def __init__(
        self,
        object_info: Callable[[str], _ObjectInfo | None],
        object_names: Callable[[], list[str]],
        values: Mapping[int, _Value],
        allowed: _AllowList = _DEFAULT_ALLOW_LIST,
    ) -> None:
        self._object_info = object_info
        self._object_names = object_names
        self._values = values
        self._allowed = allowed

    # -- entry points ------------------------------------------------------------------

    def check(self, root: exp.Expr) -> _Analysis:
        """Check a parsed query; no RecursionError escapes (it becomes a validation error)."""
        try:
            if not isinstance(root, exp.Select):
                raise SoqlValidationError(
                    "the query must be one SELECT ... FROM <Object> statement"
                )
            _check_tree_depth(root)
            info = self._from_object(root, parent=None)
            bare_count = self._check_select(root, info, nested="top")
        except RecursionError:
            raise _too_deep() from None
        return _Analysis(sobject=info.name, bare_count=bare_count)

    def _target(self, rel: Mapping[str, Any], owner: _ObjectInfo, part: str) -> _ObjectInfo:
        """The object a relationship path step leads to; it must be single, allowed, described."""
        name = rel.get("relationshipName") or part
        id_field = rel.get("name")
        targets = [str(t) for t in rel.get("referenceTo") or []]
        if len(targets) != 1:
            kinds = f" ({', '.join(targets)})" if targets else ""
            raise SoqlValidationError(
                f"`{name}` on {owner.name} is polymorphic{kinds}: the fields behind it cannot "
                f"be checked, so they cannot be used here; use the Id field `{id_field}` instead",
                code="INVALID_FIELD",
            )
        if not self._allowed.allows(targets[0]):
            raise SoqlValidationError(
                f"`{name}` on {owner.name} leads to {targets[0]}, which is not an object "
                f"allowed here ({self._allowed.listing()}); use the Id field `{id_field}` "
                "instead",
                code="INVALID_FIELD",
            )
        target = self._object_info(targets[0])
        if target is None:
            raise SoqlValidationError(
                f"`{name}` on {owner.name} leads to {targets[0]}, which cannot be described, "
                f"so its fields cannot be checked; use the Id field `{id_field}` instead",
                code="INVALID_FIELD",
            )
        return target

    # -- structure ---------------------------------------------------------------------

    def _from_object(self, select: exp.Select, parent: _ObjectInfo | None) -> _ObjectInfo:
        for key, hint in (
            ("distinct", "SOQL has no DISTINCT; use GROUP BY"),
            (
                "joins",
                "SOQL queries one object; follow relationships with paths such as Account.Name",
            ),
            ("with_", "SOQL has no WITH common table expressions"),
            ("with", "SOQL has no WITH common table expressions"),
            ("laterals", "SOQL has no LATERAL"),
        ):
            if select.args.get(key):
                raise SoqlValidationError(hint)
        extra = sorted(k for k, v in select.args.items() if v and k not in _SELECT_ARGS)
        if extra:  # anything sqlglot understood beyond the read-only clauses: refuse it
            raise SoqlValidationError(
                f"the query has a clause SOQL reads do not allow ({extra[0].rstrip('_')}); "
                "the form is SELECT ... FROM ... [WHERE] [GROUP BY] [HAVING] [ORDER BY] "
                "[LIMIT] [OFFSET]"
            )
        source = select.args.get("from_") or select.args.get("from")
        if not isinstance(source, exp.From):
            raise SoqlValidationError("the query has no FROM: write SELECT <fields> FROM <Object>")
        table = source.this
        if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
            raise SoqlValidationError("FROM must name one object, e.g. FROM Opportunity")
        if table.args.get("db") or table.args.get("catalog"):
            raise SoqlValidationError(
                f"FROM must name one object; `{'.'.join(p.name for p in table.parts)}` is not "
                "an object name"
            )
        if any(v for k, v in table.args.items() if k not in ("this", "alias")) or any(
            v for k, v in source.args.items() if k != "this"
        ):
            raise SoqlValidationError("FROM must name one object, e.g. FROM Opportunity")
        name = table.name
        if parent is not None:
            child = parent.children.get(name.lower())
            if child is None:
                candidates = [str(c["relationshipName"]) for c in parent.children.values()]
                hint = _did_you_mean(name, candidates)
                listing = (
                    f" (child relationships on {parent.name}: {', '.join(candidates)})"
                    if candidates and not hint
                    else ""
                )
                raise SoqlValidationError(
                    f"no child relationship `{name}` on {parent.name}{hint}{listing} "
                    "(a subquery in SELECT names a child relationship, e.g. "
                    "(SELECT LastName FROM Contacts))"
                )
            child_object = str(child.get("childSObject"))
            if not self._allowed.allows(child_object):
                raise SoqlValidationError(
                    f"the child relationship `{name}` on {parent.name} holds {child_object} "
                    f"records, and {child_object} is not an object allowed here "
                    f"({self._allowed.listing()})",
                    code="INVALID_TYPE",
                )
            child_info = self._object_info(child_object)
            if child_info is None:
                raise SoqlValidationError(f"cannot describe the child objects of `{name}`")
            return child_info
        if not self._allowed.allows(name):
            raise self._allowed.refusal(name, self._object_names)
        info = self._object_info(name)
        if info is None:
            raise SoqlValidationError(
                _no_object_message(name, self._allowed, self._object_names), code="INVALID_TYPE"
            )
        return info

    def _check_select(self, select: exp.Select, info: _ObjectInfo, *, nested: str) -> bool:
        source = select.args.get("from_") or select.args.get("from")
        alias = (source.this.alias or None) if isinstance(source, exp.From) else None
        items = select.expressions
        if not items:
            raise SoqlValidationError("SELECT needs at least one field")
        aliases: set[str] = set()
        plain_fields: list[str] = []
        aggregate = False
        bare_count = False
        for item in items:
            node = item
            if isinstance(item, exp.Alias):
                aliases.add(item.alias.lower())
                node = item.this
            if isinstance(node, exp.Column | exp.Dot):
                parts = self._strip_alias(_path_parts(node), info, alias)
                self._resolve(parts, info, clause="select")
                plain_fields.append(".".join(parts))
            elif isinstance(node, exp.Anonymous):
                fn = self._function_name(node)
                if fn == "COUNT" and not node.expressions:
                    bare_count = True
                if fn in _AGGREGATES:
                    aggregate = True
                self._walk(node, info, alias, aliases, clause="select")
            elif isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select):
                if nested != "top":
                    raise SoqlValidationError(
                        "a subquery in SELECT can only appear in the outer query"
                    )
                child = node.this
                child_info = self._from_object(child, parent=info)
                self._check_select(child, child_info, nested="child")
            else:
                raise SoqlValidationError(
                    f"SELECT lists fields, functions or child subqueries; `{self._show(item)}` "
                    "is none of these"
                )
        if bare_count and len(items) > 1:
            raise SoqlValidationError(
                "COUNT() must stand alone; to count next to other fields use COUNT(Id)"
            )
        if nested == "semi" and (len(items) != 1 or not plain_fields):
            raise SoqlValidationError(
                "a subquery in WHERE must select exactly one Id or reference field"
            )

        where = select.args.get("where")
        if where is not None:
            self._walk(where.this, info, alias, aliases, clause="where")
        group = select.args.get("group")
        grouped: set[str] = set()
        if group is not None:
            for expr in group.expressions:
                self._walk(expr, info, alias, aliases, clause="group")
                for col in expr.find_all(exp.Column, exp.Dot):
                    grouped.add(".".join(self._strip_alias(_path_parts(col), info, alias)).lower())
        having = select.args.get("having")
        if having is not None:
            if group is None:
                raise SoqlValidationError("HAVING needs a GROUP BY")
            self._walk(having.this, info, alias, aliases, clause="having")
        order = select.args.get("order")
        if order is not None:
            for ordered in order.expressions:
                self._walk(ordered, info, alias, aliases, clause="order")
        self._check_limits(select)

        if (aggregate or group is not None) and not bare_count:
            for name in plain_fields:
                if name.lower() not in grouped:
                    raise SoqlValidationError(
                        f"field `{name}` must be grouped or aggregated: add it to GROUP BY "
                        "or wrap it in an aggregate such as MAX()"
                    )
        return bare_count

    @staticmethod
    def _check_limits(select: exp.Select) -> None:
        """LIMIT and OFFSET are whole numbers from 0; OFFSET and FIELDS() have SOQL's caps."""
        numbers: dict[str, int] = {}
        for key in ("limit", "offset"):
            node = select.args.get(key)
            if node is None:
                continue
            value = node.args.get("expression")
            extra = any(v for k, v in node.args.items() if k != "expression")
            if extra or not (isinstance(value, exp.Literal) and value.is_int):
                raise SoqlValidationError(
                    f"{key.upper()} takes a whole number from 0 up, e.g. {key.upper()} 10"
                )
            numbers[key] = int(value.this)
        if numbers.get("offset", 0) > MAX_OFFSET:
            raise SoqlValidationError(
                f"OFFSET can be at most {MAX_OFFSET} in SOQL; narrow the query with WHERE "
                "instead (e.g. on CreatedDate or Id)",
                code="NUMBER_OUTSIDE_VALID_RANGE",
            )
        for item in select.expressions:
            node = item.this if isinstance(item, exp.Alias) else item
            if not isinstance(node, exp.Anonymous) or _Checker._function_name(node) != "FIELDS":
                continue
            arg = node.expressions[0] if node.expressions else None
            which = str(arg.this).upper() if isinstance(arg, exp.Literal) else ""
            if which in ("ALL", "CUSTOM") and not (
                "limit" in numbers and numbers["limit"] <= MAX_FIELDS_ALL_LIMIT
            ):
                raise SoqlValidationError(
                    f"FIELDS({which}) needs LIMIT {MAX_FIELDS_ALL_LIMIT} or less, e.g. "
                    f"SELECT FIELDS({which}) FROM ... LIMIT {MAX_FIELDS_ALL_LIMIT}; "
                    "FIELDS(STANDARD) needs no LIMIT",
                    code="MALFORMED_QUERY",
                )

    def _show(self, node: exp.Expr) -> str:
        """Render a node as SOQL-ish text: values as written, identifiers unquoted."""

        def restore(match: re.Match[str]) -> str:
            value = self._values.get(int(match.group(1)))
            return value.raw if value is not None else match.group(0)

        text = re.sub(r"'__soql_value_(\d+)__'", restore, node.sql())
        return text.replace('"', "").replace(_FN_PREFIX, "")

    @staticmethod
    def _strip_alias(parts: list[str], info: _ObjectInfo, alias: str | None) -> list[str]:
        if len(parts) > 1:
            head = parts[0].lower()
            if alias is not None and head == alias.lower():
                return parts[1:]
            if head == info.name.lower() and head not in info.relationships:
                return parts[1:]
        return parts

    @staticmethod
    def _function_name(node: exp.Anonymous) -> str:
        name = str(node.name).upper()
        return name[len(_FN_PREFIX) :] if name.startswith(_FN_PREFIX) else name

    # -- fields ------------------------------------------------------------------------

    def _resolve(self, parts: list[str], info: _ObjectInfo, *, clause: str) -> dict[str, Any]:
        """Check a field path and return its describe() entry.

        Every object the path traverses must be allowed and described; a path through a
        polymorphic relationship cannot be checked and is refused.
        """
        current = info
        trail = info.name
        for part in parts[:-1]:
            rel = current.relationships.get(part.lower())
            if rel is None:
                fld = current.fields.get(part.lower())
                if fld is not None and fld.get("relationshipName"):
                    raise SoqlValidationError(
                        f"`{fld['name']}` on {current.name} is an Id field; to follow the "
                        f"relationship write `{fld['relationshipName']}.{parts[-1]}`"
                    )
                hint = _did_you_mean(part, current.relationship_names())
                names = current.relationship_names()
                listing = (
                    f" (relationships on {current.name}: {', '.join(names)})"
                    if names and not hint
                    else (f" ({current.name} has no parent relationships)" if not names else "")
                )
                raise SoqlValidationError(
                    f"no relationship `{part}` on {current.name}{hint}{listing}",
                    code="INVALID_FIELD",
                )
            target = self._target(rel, current, part)
            trail = f"{trail}.{rel['relationshipName']}"
            current = target
        last = parts[-1]
        fld = current.fields.get(last.lower())
        if fld is None:
            via = f" (via {trail})" if trail != info.name else ""
            rel = current.relationships.get(last.lower())
            if rel is not None:
                raise SoqlValidationError(
                    f"`{rel['relationshipName']}` on {current.name}{via} is a relationship; "
                    f"select a field through it, e.g. `{rel['relationshipName']}.Name`, or "
                    f"the Id field `{rel['name']}`",
                    code="INVALID_FIELD",
                )
            hint = _did_you_mean(last, current.field_names())
            if not hint and last.upper() == last:
                hint = _did_you_mean(
                    last, sorted(_DATE_LITERALS | _DATE_N_LITERALS), quote=""
                ).replace("did you mean ", "did you mean the date literal ")
            listing = "" if hint else f" (fields: {_field_list(current)})"
            raise SoqlValidationError(
                f"no field `{last}` on {current.name}{via}{hint}{listing}",
                code="INVALID_FIELD",
            )
        flag = {"where": "filterable", "group": "groupable", "order": "sortable"}.get(clause)
        if flag is not None and fld.get(flag) is False:
            verb = {"filterable": "filtered", "groupable": "grouped", "sortable": "sorted"}[flag]
            raise SoqlValidationError(
                f"`{fld['name']}` on {current.name} ({fld.get('type')}) cannot be {verb} in SOQL",
                code="INVALID_FIELD",
            )
        return fld

    # -- expressions -------------------------------------------------------------------

    def _walk(
        self,
        node: exp.Expression,
        info: _ObjectInfo,
        alias: str | None,
        aliases: set[str],
        *,
        clause: str,
    ) -> None:
        if isinstance(node, exp.Column | exp.Dot):
            parts = self._strip_alias(_path_parts(node), info, alias)
            if len(parts) == 1 and parts[0].lower() in aliases and clause in ("having", "order"):
                return
            self._resolve(parts, info, clause=clause)
            return
        if isinstance(node, exp.Anonymous):
            self._check_function(node, info, alias, aliases, clause=clause)
            return
        if isinstance(node, exp.Subquery | exp.Select):
            select = node.this if isinstance(node, exp.Subquery) else node
            if clause != "where" or not isinstance(select, exp.Select):
                raise SoqlValidationError(
                    "subqueries are allowed only in SELECT (child relationships) and in "
                    "WHERE ... IN (SELECT ...)"
                )
            inner = self._from_object(select, parent=None)
            self._check_select(select, inner, nested="semi")
            return
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div | exp.Mod | exp.DPipe):
            raise SoqlValidationError("SOQL has no arithmetic or string operators")
        if isinstance(node, exp.And | exp.Or):
            other = exp.Or if isinstance(node, exp.And) else exp.And
            if isinstance(node.this, other) or isinstance(node.expression, other):
                raise SoqlValidationError(
                    "SOQL needs parentheses when AND and OR are mixed, e.g. "
                    "A = 1 AND (B = 2 OR C = 3)"
                )
        if isinstance(node, _COMPARISONS):
            self._check_comparison(node, info, alias, aliases, clause=clause)
        for child in node.iter_expressions():
            self._walk(child, info, alias, aliases, clause=clause)

    def _check_function(
        self,
        node: exp.Anonymous,
        info: _ObjectInfo,
        alias: str | None,
        aliases: set[str],
        *,
        clause: str,
    ) -> None:
        fn = self._function_name(node)
        if fn == "FIELDS":
            if clause != "select":
                raise SoqlValidationError("FIELDS() can only appear in SELECT")
            return
        if fn in _AGGREGATES and clause in ("where", "group"):
            raise SoqlValidationError(
                f"{fn}() cannot be used in {'WHERE' if clause == 'where' else 'GROUP BY'}; "
                "filter on aggregates with HAVING"
            )
        args = list(node.expressions)
        if fn != "COUNT" and fn in _AGGREGATES | _DATE_FUNCTIONS and len(args) != 1:
            raise SoqlValidationError(f"{fn}() takes exactly one field")
        for arg in args:
            if isinstance(arg, exp.Column | exp.Dot):
                parts = self._strip_alias(_path_parts(arg), info, alias)
                fld = self._resolve(parts, info, clause="function")
                self._check_function_arg(fn, fld)
            else:
                self._walk(arg, info, alias, aliases, clause=clause)

    @staticmethod
    def _check_function_arg(fn: str, fld: Mapping[str, Any]) -> None:
        ftype = str(fld.get("type") or "")
        name = fld.get("name")
        if fn in ("SUM", "AVG") and ftype and ftype not in _NUMERIC_TYPES:
            raise SoqlValidationError(
                f"{fn}() needs a number field; `{name}` is {ftype}; use COUNT() or MIN()/MAX()"
            )
        if fn in _DATE_FUNCTIONS and ftype and ftype not in ("date", "datetime"):
            raise SoqlValidationError(f"{fn}() needs a date or datetime field; `{name}` is {ftype}")
        if fn in _AGGREGATES and fld.get("aggregatable") is False:
            raise SoqlValidationError(f"`{name}` ({ftype}) cannot be aggregated with {fn}()")

    # -- values ------------------------------------------------------------------------

    def _value_of(self, node: exp.Expression) -> tuple[str, _Value | None] | None:
        """Classify a literal operand: kind name and, for placeholders, the SOQL value."""
        if isinstance(node, exp.Null):
            return "null", None
        if isinstance(node, exp.Boolean):
            return "boolean", None
        if isinstance(node, exp.Neg):
            node = node.this
        if isinstance(node, exp.Literal):
            if not node.is_string:
                return "number", None
            match = _PLACEHOLDER_RE.match(node.this)
            if match is not None:
                value = self._values[int(match.group(1))]
                return value.kind, value
        return None

    def _check_comparison(
        self,
        node: exp.Expression,
        info: _ObjectInfo,
        alias: str | None,
        aliases: set[str],
        *,
        clause: str,
    ) -> None:
        left = node.this
        if not isinstance(left, exp.Column | exp.Dot):
            if isinstance(left, exp.Literal | exp.Boolean | exp.Null | exp.Neg):
                raise SoqlValidationError(
                    "put the field on the left of a comparison, e.g. Amount > 1000"
                )
            if not isinstance(left, exp.Anonymous):
                raise SoqlValidationError(
                    f"`{_short(self._show(left))}` cannot stand on the left of a comparison: "
                    "compare one field or function with a value, e.g. Amount > 1000 AND "
                    "Amount < 5000"
                )
            return  # a function such as CALENDAR_YEAR(CloseDate) = 2024
        parts = self._strip_alias(_path_parts(left), info, alias)
        if len(parts) == 1 and parts[0].lower() in aliases:
            return
        fld = self._resolve(parts, info, clause=clause)
        if isinstance(node, exp.In):
            if node.args.get("query") is not None:
                return
            operands = list(node.expressions)
        else:
            operands = [node.expression]
        for operand in operands:
            if isinstance(operand, exp.Column | exp.Dot):
                other = self._strip_alias(_path_parts(operand), info, alias)
                self._resolve(other, info, clause=clause)
                raise SoqlValidationError(
                    f"SOQL compares a field with a value, not with another field "
                    f"(`{'.'.join(other)}`); quote text values like 'abc'"
                )
            classified = self._value_of(operand)
            if classified is None:
                continue
            kind, value = classified
            self._check_value_type(node, fld, kind, value)
            if (
                value is not None
                and kind == "string"
                and isinstance(node, exp.EQ | exp.NEQ | exp.In)
            ):
                self._check_picklist(fld, value.value)

    @staticmethod
    def _check_value_type(
        node: exp.Expression, fld: Mapping[str, Any], kind: str, value: _Value | None
    ) -> None:
        if kind == "null":
            return
        ftype = str(fld.get("type") or "")
        name = fld.get("name")
        raw = value.raw if value is not None else ""
        if isinstance(node, exp.Like):
            if ftype and ftype not in _TEXT_TYPES:
                raise SoqlValidationError(f"LIKE works on text fields; `{name}` is {ftype}")
            if kind != "string":
                raise SoqlValidationError("LIKE takes a quoted pattern, e.g. Name LIKE 'Acme%'")
            return
        if ftype == "boolean" and kind != "boolean":
            raise SoqlValidationError(
                f"`{name}` is a boolean: compare it with true or false, without quotes"
            )
        if ftype in _NUMERIC_TYPES and kind != "number":
            raise SoqlValidationError(
                f"`{name}` is a number field ({ftype}): write the number without quotes, "
                f"e.g. {name} > 1000"
            )
        if ftype in ("date", "datetime"):
            if kind == "string":
                inner = value.value if value is not None else ""
                if _ISO_DATE_RE.match(inner) or _ISO_DATETIME_RE.match(inner):
                    raise SoqlValidationError(
                        f"dates are not quoted in SOQL: write {name} >= {inner}"
                        if ftype == "date" or _ISO_DATETIME_RE.match(inner)
                        else f"dates are not quoted in SOQL, and `{name}` is a datetime: "
                        f"write {name} >= {inner}T00:00:00Z"
                    )
                if inner.upper().split(":")[0] in _DATE_LITERALS | _DATE_N_LITERALS:
                    raise SoqlValidationError(
                        f"date literals are not quoted in SOQL: write {inner.upper()}"
                    )
            if ftype == "date" and kind == "datetime":
                raise SoqlValidationError(
                    f"`{name}` is a date field: compare it with a date such as "
                    f"{raw[:10]}, without a time"
                )
            if ftype == "datetime" and kind == "date":
                raise SoqlValidationError(
                    f"`{name}` is a datetime field: write {raw}T00:00:00Z, or use a date "
                    "literal such as LAST_N_DAYS:30"
                )
            if kind not in ("date", "datetime", "date_literal"):
                raise SoqlValidationError(
                    f"`{name}` is a {ftype} field: compare it with a date such as "
                    "2024-01-31 or a date literal such as THIS_QUARTER"
                )
            return
        if ftype in _TEXT_TYPES:
            if kind == "date_literal":
                raise SoqlValidationError(
                    f"`{name}` is a {ftype} field; date literals such as {raw} only apply to "
                    "date and datetime fields"
                )
            if kind != "string":
                raise SoqlValidationError(
                    f"`{name}` is a {ftype} field: put the value in single quotes"
                )

    @staticmethod
    def _check_picklist(fld: Mapping[str, Any], value: str) -> None:
        if fld.get("type") != "picklist":
            return
        entries = fld.get("picklistValues") or []
        allowed = [str(e.get("value")) for e in entries if e.get("active", True) and e.get("value")]
        if not allowed or value.lower() in {a.lower() for a in allowed}:
            return
        hint = _did_you_mean(value, allowed, quote="'")
        listing = (
            " (values: " + ", ".join(f"'{a}'" for a in allowed) + ")"
            if len(allowed) <= 12 or not hint
            else ""
        )
        raise SoqlValidationError(
            f"'{value}' is not a value of the picklist `{fld.get('name')}`{hint}{listing}",
            code="INVALID_PICKLIST_VALUE",
        )


# --------------------------------------------------------------------------------------
# Record Ids and field values
# --------------------------------------------------------------------------------------

KEY_PREFIXES: Final[Mapping[str, str]] = MappingProxyType(
    {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q", "Case": "500"}
)
"""Standard object key prefixes: the first three characters of every record Id."""

_ID_SUFFIX_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE: Final = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_EMAIL_RE: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATE_VALUE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_VALUE_RE: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


def id_checksum(id15: str) -> str:
    """Return the three-character suffix that turns a 15-character Id into 18.

    Args:
        id15: A case-sensitive 15-character record Id.

    Returns:
        The suffix Salesforce appends (one character per five-character chunk).
    """
    suffix = ""
    for start in (0, 5, 10):
        chunk = id15[start : start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _ID_SUFFIX_CHARS[bits]
    return suffix


def to_18_char_id(record_id: str) -> str:
    """Turn a 15-character Id into its 18-character form (18-character Ids pass through)."""
    return record_id + id_checksum(record_id) if len(record_id) == 15 else record_id


def check_record_id(record_id: str, sobject: str, key_prefix: str | None) -> str:
    """Check that ``record_id`` is a well-formed Id of ``sobject``.

    Args:
        record_id: The Id as written (15 or 18 characters).
        sobject: The object it should belong to, for messages.
        key_prefix: That object's key prefix (``001`` for Account); None skips the check.

    Returns:
        The 18-character Id.

    Raises:
        SoqlValidationError: The Id is malformed or belongs to another object.
    """
    example = f"{key_prefix or '001'}5g00000AbCdEAAZ"[:18]
    if not isinstance(record_id, str) or not _ID_RE.fullmatch(record_id):
        raise SoqlValidationError(
            f"`{_short(record_id)}` is not a Salesforce Id: an Id is 15 or 18 letters and "
            f"digits, e.g. {example}",
            code="MALFORMED_ID",
        )
    if key_prefix and record_id[:3] != key_prefix:
        owner = next((o for o, p in KEY_PREFIXES.items() if p == record_id[:3]), None)
        what = f"an Id of {owner}" if owner else f"an Id with key prefix {record_id[:3]}"
        raise SoqlValidationError(
            f"`{record_id}` is {what}, not of {sobject}: {sobject} Ids start with {key_prefix}",
            code="MALFORMED_ID",
        )
    if len(record_id) == 18 and id_checksum(record_id[:15]) != record_id[15:].upper():
        raise SoqlValidationError(
            f"`{record_id}` is not a valid 18-character Id (its last three characters do not "
            "match); copy the Id exactly as a query returned it",
            code="MALFORMED_ID",
        )
    return to_18_char_id(record_id)


def _short(value: Any, most: int = 40) -> str:
    text = str(value)
    return text if len(text) <= most else text[: most - 1] + "…"


def check_field_value(
    sobject: str,
    fld: Mapping[str, Any],
    value: Any,
    *,
    key_prefix_of: Callable[[str], str | None] = KEY_PREFIXES.get,
) -> Any:
    """Check one value against a field's ``describe()`` entry and return it normalised.

    Used by the client before a create/update, and by the offline sandbox as the org's
    own check.

    Args:
        sobject: The object's name, for messages.
        fld: The field's describe entry (``name``, ``type``, ``length``, ``nillable``,
            ``picklistValues``, ``referenceTo``, ...).
        value: The value from the request (JSON scalar).
        key_prefix_of: Maps an object name to its key prefix, for reference fields.

    Returns:
        The value to send: 18-character Ids, integral numbers as ints, booleans as bools.

    Raises:
        SoqlValidationError: The value does not fit; the message says what would.
    """
    name = fld.get("name")
    ftype = str(fld.get("type") or "string")
    where = f"`{name}` on {sobject}"
    if value is None:
        if fld.get("nillable") is False and ftype != "boolean":
            raise SoqlValidationError(
                f"{where} is required and cannot be set to null", code="REQUIRED_FIELD_MISSING"
            )
        return None
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SoqlValidationError(
            f"{where} is a boolean: write true or false", code="INVALID_TYPE_ON_FIELD"
        )
    if ftype in _NUMERIC_TYPES:
        return _check_number(where, fld, ftype, value)
    if not isinstance(value, str):
        raise SoqlValidationError(
            f"{where} is a {ftype} field: give the value as text in quotes",
            code="INVALID_TYPE_ON_FIELD",
        )
    if "\x00" in value:
        raise SoqlValidationError(f"{where} cannot hold a NUL character", code="INVALID_VALUE")
    if ftype == "date":
        if not _DATE_VALUE_RE.fullmatch(value) or not _valid_date(value):
            raise SoqlValidationError(
                f"{where} is a date: write it as YYYY-MM-DD, e.g. 2024-01-31",
                code="INVALID_TYPE_ON_FIELD",
            )
        return value
    if ftype == "datetime":
        if not _DATETIME_VALUE_RE.fullmatch(value) or not _valid_date(value[:10]):
            raise SoqlValidationError(
                f"{where} is a datetime: write it as 2024-01-31T09:30:00Z",
                code="INVALID_TYPE_ON_FIELD",
            )
        return value
    if ftype in ("reference", "id"):
        targets = [str(t) for t in fld.get("referenceTo") or []]
        prefix = key_prefix_of(targets[0]) if len(targets) == 1 else None
        target = targets[0] if len(targets) == 1 else "the referenced object"
        return check_record_id(value, f"{target} (for {name})", prefix)
    length = fld.get("length")
    if isinstance(length, int) and length > 0 and len(value) > length:
        raise SoqlValidationError(
            f"{where} holds at most {length} characters; the value has {len(value)}",
            code="STRING_TOO_LONG",
        )
    if ftype == "email" and not _EMAIL_RE.fullmatch(value):
        raise SoqlValidationError(
            f"{where} is an e-mail field: `{_short(value)}` is not an e-mail address",
            code="INVALID_EMAIL_ADDRESS",
        )
    if ftype == "picklist":
        return _check_picklist_value(where, fld, value)
    return value


def _check_number(where: str, fld: Mapping[str, Any], ftype: str, value: Any) -> int | float:
    number: int | float
    if isinstance(value, bool):
        raise SoqlValidationError(
            f"{where} is a number field ({ftype}), not a boolean", code="INVALID_TYPE_ON_FIELD"
        )
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+(?:\.\d+)?", value.strip()):
        number = float(value) if "." in value else int(value)
    else:
        raise SoqlValidationError(
            f"{where} is a number field ({ftype}): write a number without quotes",
            code="INVALID_TYPE_ON_FIELD",
        )
    if number != number or number in (float("inf"), float("-inf")):
        raise SoqlValidationError(f"{where} needs a finite number", code="INVALID_TYPE_ON_FIELD")
    if ftype in ("int", "long"):
        if isinstance(number, float) and not number.is_integer():
            raise SoqlValidationError(
                f"{where} is a whole number field: write e.g. 250", code="INVALID_TYPE_ON_FIELD"
            )
        number = int(number)
    digits = fld.get("digits") or 0
    precision, scale = fld.get("precision") or 0, fld.get("scale") or 0
    most = 10 ** int(digits) if digits else (10 ** int(precision - scale) if precision else None)
    if ftype == "percent" and not 0 <= number <= 100:
        raise SoqlValidationError(
            f"{where} is a percentage: write a number from 0 to 100",
            code="NUMBER_OUTSIDE_VALID_RANGE",
        )
    if most is not None and abs(number) >= most:
        raise SoqlValidationError(
            f"{where} is too large: it takes numbers below {most:,}",
            code="NUMBER_OUTSIDE_VALID_RANGE",
        )
    return number


def _valid_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_picklist_value(where: str, fld: Mapping[str, Any], value: str) -> str:
    entries = fld.get("picklistValues") or []
    allowed = [str(e.get("value")) for e in entries if e.get("active", True) and e.get("value")]
    if not allowed:
        return value
    for candidate in allowed:
        if candidate == value:
            return candidate
    for candidate in allowed:
        if candidate.lower() == value.lower():
            return candidate
    hint = _did_you_mean(value, allowed, quote="'")
    raise SoqlValidationError(
        f"'{_short(value)}' is not a value of the picklist {where}{hint} (values: "
        + ", ".join(f"'{a}'" for a in allowed)
        + ")",
        code="INVALID_PICKLIST_VALUE",
    )


# --------------------------------------------------------------------------------------
# Results and the client
# --------------------------------------------------------------------------------------


@dataclass
class SoqlResult:
    """Rows returned by a SOQL query.

    Attributes:
        soql: The query as sent to Salesforce.
        columns: Column names; relationship fields are flattened (``Account.Name``).
        rows: One list of values per record, in ``columns`` order.
        truncated: True when Salesforce had more rows than the row limit.
        elapsed_s: Wall time of the Salesforce call, in seconds.
    """

    soql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_s: float


@dataclass
class ActionResult:
    """What one action returned.

    Attributes:
        action: The action kind (query, get, create, update, delete, describe).
        columns: Column names; relationship fields are flattened (``Account.Name``). A write
            returns ``Id`` and the fields it set; describe returns name, type, picklist.
        rows: One list of values per record, in ``columns`` order.
        truncated: True when a query had more rows than the row limit.
        record_id: The record read or written (the new Id for a create); None otherwise.
        elapsed_s: Wall time of the whole call, validation included, in seconds.
        http_s: Time spent in Salesforce HTTP calls.
        validation_s: Time spent validating against describe() (metadata fetches included).
    """

    action: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    record_id: str | None
    elapsed_s: float
    http_s: float
    validation_s: float


def _describe_row(fld: Mapping[str, Any]) -> list[Any]:
    ftype = str(fld.get("type") or "")
    targets = fld.get("referenceTo") or []
    if targets:
        ftype += f" → {', '.join(str(t) for t in targets)}"
    values = [
        str(e.get("value"))
        for e in fld.get("picklistValues") or []
        if e.get("active", True) and e.get("value")
    ]
    return [str(fld.get("name")), ftype, ", ".join(values)]


def _show_value(value: Any) -> str:
    if value is None:
        return "null (clears the field)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _is_child_result(value: Mapping[str, Any]) -> bool:
    return "records" in value and isinstance(value.get("records"), list)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten one record: drop ``attributes``, expand parent records into dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if _is_child_result(value):
                flat[name] = [_flatten(child) for child in value["records"]]
            else:
                flat.update(_flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def _table(records: list[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    flat = [_flatten(r) for r in records]
    columns: dict[str, None] = {}
    for row in flat:
        for key in row:
            columns.setdefault(key, None)
    # A parent that is null in one record and present in another: keep only the dotted keys.
    names = [c for c in columns if not any(other.startswith(c + ".") for other in columns)]
    return names, [[row.get(c) for c in names] for row in flat]


DEFAULT_TIMEOUT_S: Final = 30.0
"""Seconds to wait for Salesforce to connect or send its next bytes (env ``SF_TIMEOUT``)."""


def http_timeout(environ: Mapping[str, str] = os.environ) -> float:
    """The HTTP timeout in seconds: ``SF_TIMEOUT`` if set to a positive number, else 30."""
    try:
        value = float(environ.get("SF_TIMEOUT", "") or DEFAULT_TIMEOUT_S)
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    """A default timeout, and TLS verified against a pinned CA bundle when one is given.

    simple-salesforce sets no timeout, so a hung org would hang; and requests lets
    ``REQUESTS_CA_BUNDLE`` override ``Session.verify``, so the bundle is pinned here.
    """

    def __init__(self, timeout: float, ca_bundle: str | None = None) -> None:
        super().__init__()
        self._timeout = timeout
        self._ca_bundle = ca_bundle

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        """Send with the default timeout when the caller gave none, and the pinned bundle."""
        return super().send(
            request, stream=stream, timeout=timeout or self._timeout,
            verify=self._ca_bundle or verify, cert=cert, proxies=proxies,
        )  # fmt: skip


def _trusting_session(
    ca_bundle: str | None, timeout: float = DEFAULT_TIMEOUT_S
) -> requests.Session:
    """Return a requests session with a default timeout that trusts ``ca_bundle`` if given.

    requests lets ``REQUESTS_CA_BUNDLE`` in the environment override ``Session.verify``, so an
    adapter pins the bundle for every HTTPS request.
    """
    session = requests.Session()
    if ca_bundle:
        session.verify = ca_bundle
    session.mount("https://", _TimeoutAdapter(timeout, ca_bundle or None))
    session.mount("http://", _TimeoutAdapter(timeout))
    return session


class SalesforceClient:
    """A thin, validating wrapper around a ``simple_salesforce.Salesforce`` connection.

    Args:
        sf: A connected ``Salesforce`` instance, or any object offering the same
            ``<Object>.describe()``, ``describe()``, ``query()`` and ``query_all_iter()``
            (tests pass a stand-in).
        secrets: Values to scrub from error messages.
        allowed_objects: The objects that may be queried, reached through a relationship
            path or subquery, and read, written or described by an action. None (the
            default) allows :data:`DEFAULT_OBJECTS`, the ones the specialist is trained for;
            ``frozenset({"*"})`` allows every object the org describes. Anything else is
            refused before it reaches the org.

    Raises:
        ValueError: ``allowed_objects`` holds something that is not an object API name.
    """

    def __init__(
        self,
        sf: Any,
        *,
        secrets: Iterable[str] = (),
        allowed_objects: frozenset[str] | Iterable[str] | None = None,
    ) -> None:
        self._sf = sf
        self._secrets = tuple(secrets)
        self._allowed = _AllowList.of(allowed_objects)
        self._describes: dict[str, dict[str, Any] | None] = {}
        self._infos: dict[str, _ObjectInfo | None] = {}
        self._global_names: list[str] | None = None
        self._global_loaded = False

    @property
    def allowed_objects(self) -> frozenset[str] | None:
        """The objects this client may use; None when every described object is allowed."""
        return self._allowed.names

    @classmethod
    def connect(
        cls,
        creds: SalesforceCredentials,
        *,
        allowed_objects: frozenset[str] | Iterable[str] | None = None,
    ) -> SalesforceClient:
        """Sign in to Salesforce with the given credentials.

        Args:
            creds: Credentials from :meth:`SalesforceCredentials.from_env` or built directly.
            allowed_objects: The object allow-list (see :class:`SalesforceClient`).

        Returns:
            A client for the org.

        Raises:
            SalesforceError: Sign-in failed (final; the message holds no secrets).
        """
        by_kind: dict[str, dict[str, Any]] = {
            "password": {
                "username": creds.username,
                "password": creds.password,
                "security_token": creds.security_token,
                "domain": creds.domain,
            },
            "jwt": {
                "username": creds.username,
                "consumer_key": creds.consumer_key,
                "privatekey_file": creds.private_key_file,
                "privatekey": creds.private_key,
                "domain": creds.domain,
            },
            "client_credentials": {
                "consumer_key": creds.consumer_key,
                "consumer_secret": creds.consumer_secret,
                "domain": creds.domain,
            },
        }
        options = by_kind.get(
            creds.kind, {"instance_url": creds.instance_url, "session_id": creds.session_id}
        )
        session = _trusting_session(creds.ca_bundle, http_timeout())
        try:
            sf = Salesforce(**options, session=session)
        except Exception as exc:
            error = map_salesforce_exception(exc, secrets=creds.secrets)
            error.retryable = False
            logger.warning("Salesforce connection failed: %s", error.message)
            raise error from None
        logger.info("connected to Salesforce (%s)", creds.kind)
        return cls(sf, secrets=creds.secrets, allowed_objects=allowed_objects)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SalesforceClient:
        """Connect with credentials and settings from environment variables.

        Besides the credentials, ``SF_OBJECTS`` sets the object allow-list: API names
        separated by commas, or ``*`` for every object the org describes; unset, the client
        allows :data:`DEFAULT_OBJECTS`.

        Args:
            environ: The variables to read; the process environment by default.

        Returns:
            A client for the org.

        Raises:
            SalesforceError: The variables are missing or ``SF_OBJECTS`` is malformed
                (``NOT_CONFIGURED``), or sign-in failed.
        """
        try:
            allowed = parse_objects(environ.get(OBJECTS_ENV_VAR))
        except ValueError as exc:
            raise SalesforceError(str(exc), code="NOT_CONFIGURED") from None
        creds = SalesforceCredentials.from_env(environ)
        if creds is None:
            raise SalesforceError(missing_credentials_message(), code="NOT_CONFIGURED")
        return cls.connect(creds, allowed_objects=allowed)

    # -- metadata ----------------------------------------------------------------------

    def _map(self, exc: BaseException) -> SalesforceError:
        return map_salesforce_exception(exc, secrets=self._secrets)

    def _object_names(self) -> list[str]:
        """Names from the org's global describe, or [] if it is unavailable."""
        if not self._global_loaded:
            self._global_loaded = True
            describe = getattr(self._sf, "describe", None)
            if callable(describe):
                try:
                    result = describe()
                    sobjects = result.get("sobjects") if isinstance(result, Mapping) else None
                    if isinstance(sobjects, list):
                        self._global_names = [str(s["name"]) for s in sobjects if "name" in s]
                except sf_exc.SalesforceError as exc:
                    if not isinstance(exc, sf_exc.SalesforceResourceNotFound):
                        raise self._map(exc) from exc
                except (requests.exceptions.RequestException, ConnectionError) as exc:
                    raise self._map(exc) from exc
                except Exception:  # a stand-in without a global describe
                    logger.debug("global describe unavailable", exc_info=True)
        return list(self._global_names or [])

    def _describe_once(self, name: str) -> dict[str, Any] | None:
        """One describe() call; None when the object does not exist."""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            return None
        try:
            described = getattr(self._sf, name).describe()
        except (AttributeError, sf_exc.SalesforceResourceNotFound):
            return None
        except Exception as exc:
            raise self._map(exc) from exc
        return dict(described) if isinstance(described, Mapping) else None

    def _lookup(self, sobject: str) -> dict[str, Any] | None:
        key = sobject.lower()
        if key not in self._describes:
            result = self._describe_once(sobject)
            if result is None:
                # Maybe only the casing differs: ask the global describe for the real name.
                canonical = next(
                    (n for n in self._object_names() if n.lower() == key and n != sobject), None
                )
                if canonical is not None:
                    result = self._describe_once(canonical)
            self._describes[key] = result
        return self._describes[key]

    def describe(self, sobject: str) -> dict[str, Any]:
        """Return the org's ``describe()`` of one object, cached per client.

        Args:
            sobject: The object's API name, e.g. ``Opportunity`` (case-insensitive).

        Returns:
            The describe result (``name``, ``fields``, ``childRelationships``, ...).

        Raises:
            SalesforceError: No such object, or one this client does not allow (retryable,
                so the model can pick another), or the call failed (final).
        """
        if not self._allowed.allows(sobject):
            raise self._allowed.refusal(sobject, self._object_names)
        result = self._lookup(sobject)
        if result is None:
            raise SalesforceError(
                _no_object_message(sobject, self._allowed, self._object_names),
                retryable=True,
                code="INVALID_TYPE",
            )
        return result

    def _info(self, sobject: str) -> _ObjectInfo | None:
        key = sobject.lower()
        if key not in self._infos:
            described = self._lookup(sobject)
            self._infos[key] = (
                None if described is None else _ObjectInfo.from_describe(sobject, described)
            )
        return self._infos[key]

    # -- validation and queries --------------------------------------------------------

    def _analyse(self, soql: str) -> tuple[str, _Analysis]:
        if len(soql) > MAX_SOQL_LENGTH:
            raise SoqlValidationError(
                f"the query has {len(soql):,} characters; at most {MAX_SOQL_LENGTH:,} are "
                "allowed: select fewer fields or use shorter conditions",
                code="QUERY_TOO_COMPLICATED",
            )
        cleaned = clean_soql(soql)
        if not cleaned:
            raise SoqlValidationError(
                "the query is empty; write one SELECT <fields> FROM <Object> statement",
                code="EMPTY",
            )
        try:
            rewriter = _Rewriter(_lex(cleaned))
            sql = rewriter.rewrite()  # also caps nesting and conditions before parsing
            try:
                trees = [t for t in sqlglot.parse(sql) if t is not None]
            except sqlglot.errors.SqlglotError as exc:
                message = _parse_error_message(exc, rewriter.values)
                raise SoqlValidationError(message, code="MALFORMED_QUERY") from None
            if len(trees) != 1:
                raise SoqlValidationError("only one SOQL statement is allowed")
            root = trees[0]
            if isinstance(root, exp.Union | exp.Intersect | exp.Except):
                raise SoqlValidationError("SOQL allows one SELECT only; there is no UNION")
            checker = _Checker(self._info, self._object_names, rewriter.values, self._allowed)
            return cleaned, checker.check(root)
        except RecursionError:
            raise _too_deep() from None

    def validate_soql(self, soql: str) -> str:
        """Check a SOQL query against the org's metadata without running it.

        Args:
            soql: The query as the model wrote it (markdown fences and a trailing ``;`` are
                tolerated).

        Returns:
            The cleaned query, ready to send.

        Raises:
            SoqlValidationError: The query is not one valid read-only SELECT for this org;
                the message says what to change.
            SalesforceError: Fetching metadata failed (final).
        """
        cleaned, analysis = self._analyse(soql)
        logger.debug("validated SOQL on %s: %s", analysis.sobject, cleaned)
        return cleaned

    def query(self, soql: str, *, row_limit: int = 100) -> SoqlResult:
        """Validate and run a SOQL query, returning at most ``row_limit`` rows.

        Args:
            soql: The query as the model wrote it.
            row_limit: The most rows to return; one more is read to detect truncation.

        Returns:
            The rows, with relationship fields flattened into dotted columns.

        Raises:
            SoqlValidationError: The query failed validation.
            SalesforceError: Salesforce rejected the query (retryable) or the call failed.
        """
        if row_limit < 1:
            raise ValueError("row_limit must be at least 1")
        cleaned, analysis = self._analyse(soql)
        return self._run_soql(cleaned, analysis, row_limit)

    def _run_soql(self, cleaned: str, analysis: _Analysis, row_limit: int) -> SoqlResult:
        started = time.perf_counter()
        try:
            if analysis.bare_count:
                response = self._sf.query(cleaned)
                columns = ["COUNT()"]
                rows: list[list[Any]] = [[int(response.get("totalSize", 0))]]
                truncated = False
            else:
                records = self._fetch(cleaned, row_limit + 1)
                truncated = len(records) > row_limit
                columns, rows = _table(records[:row_limit])
        except SalesforceError:
            raise
        except Exception as exc:
            error = self._map(exc)
            logger.info("SOQL failed (%s): %s", error.code, error.message)
            raise error from exc
        elapsed = time.perf_counter() - started
        logger.debug(
            "SOQL returned %d rows%s in %.3fs",
            len(rows),
            " (truncated)" if truncated else "",
            elapsed,
        )
        return SoqlResult(cleaned, columns, rows, truncated, elapsed)

    def _fetch(self, soql: str, most: int) -> list[Mapping[str, Any]]:
        records: list[Mapping[str, Any]] = []
        iterator: Iterator[Mapping[str, Any]] = iter(self._sf.query_all_iter(soql))
        try:
            for record in iterator:
                records.append(record)
                if len(records) >= most:
                    break
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()
        return records

    # -- typed actions -----------------------------------------------------------------

    def _key_prefix(self, sobject: str) -> str | None:
        described = self._lookup(sobject)
        prefix = described.get("keyPrefix") if described is not None else None
        return str(prefix) if prefix else KEY_PREFIXES.get(sobject)

    def _object(self, sobject: str) -> tuple[dict[str, Any], _ObjectInfo]:
        described = self.describe(sobject)
        info = self._info(sobject)
        assert info is not None  # describe() succeeded
        return described, info

    def _field(self, info: _ObjectInfo, name: str, *, verb: str) -> dict[str, Any]:
        fld = info.fields.get(name.lower())
        if fld is not None:
            return fld
        if "." in name:
            head = name.split(".", 1)[0]
            rel = info.relationships.get(head.lower())
            target = f"`{rel['name']}` (the parent's Id)" if rel else "the parent's Id field"
            raise SoqlValidationError(
                f"{verb} sets fields of {info.name} itself, not `{name}`; set {target} instead",
                code="INVALID_FIELD",
            )
        hint = _did_you_mean(name, info.field_names())
        listing = "" if hint else f" (fields: {_field_list(info)})"
        raise SoqlValidationError(
            f"no field `{_short(name)}` on {info.name}{hint}{listing}", code="INVALID_FIELD"
        )

    def _check_values(
        self, info: _ObjectInfo, values: Mapping[str, Any], *, kind: Literal["create", "update"]
    ) -> dict[str, Any]:
        flag = "createable" if kind == "create" else "updateable"
        checked: dict[str, Any] = {}
        for key, value in values.items():
            fld = self._field(info, key, verb=kind)
            name = str(fld["name"])
            if name in checked:
                raise SoqlValidationError(f"`{name}` is set twice; set each field once")
            if fld.get(flag) is False:
                settable = [str(f["name"]) for f in info.fields.values() if f.get(flag)]
                raise SoqlValidationError(
                    f"`{name}` on {info.name} cannot be set by {kind} (it is read-only or "
                    f"computed by Salesforce); fields you can set: {', '.join(settable)}",
                    code="INVALID_FIELD_FOR_INSERT_UPDATE",
                )
            checked[name] = check_field_value(info.name, fld, value, key_prefix_of=self._key_prefix)
        if kind == "create":
            missing = [
                str(f["name"])
                for f in info.fields.values()
                if f.get("createable")
                and f.get("nillable") is False
                and not f.get("defaultedOnCreate")
                and f.get("type") != "boolean"
                and str(f["name"]) not in checked
            ]
            if missing:
                raise SoqlValidationError(
                    f"a new {info.name} needs {', '.join(f'`{m}`' for m in missing)}; add "
                    f"{'it' if len(missing) == 1 else 'them'} to values",
                    code="REQUIRED_FIELD_MISSING",
                )
        elif not checked:
            raise SoqlValidationError(
                "update needs at least one field in values", code="REQUIRED_FIELD_MISSING"
            )
        return checked

    def _check_object_allows(self, described: Mapping[str, Any], verb: str, flag: str) -> None:
        if described.get(flag) is False:
            raise SalesforceError(
                f"{described.get('name')} records cannot be {verb} by this user",
                retryable=False,
                code="INSUFFICIENT_ACCESS",
            )

    def _canonical_path(self, info: _ObjectInfo, path: str) -> str:
        parts = [p.strip() for p in path.split(".")]
        if not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", p) for p in parts):
            raise SoqlValidationError(
                f"`{_short(path)}` is not a field name; list field API names such as Name or "
                "Account.Name",
                code="INVALID_FIELD",
            )
        checker = _Checker(self._info, self._object_names, {}, self._allowed)
        if (
            len(parts) > 1
            and parts[0].lower() == info.name.lower()
            and (parts[0].lower() not in info.relationships)
        ):
            parts = parts[1:]
        checker._resolve(parts, info, clause="select")  # every step allowed and described
        canonical: list[str] = []
        current = info
        for part in parts[:-1]:
            rel = current.relationships[part.lower()]
            canonical.append(str(rel["relationshipName"]))
            current = checker._target(rel, current, part)
        canonical.append(str(current.fields[parts[-1].lower()]["name"]))
        return ".".join(canonical)

    def validate_action(self, action: AnyAction | SoqlQuery) -> AnyAction:
        """Check an action against the org's metadata without running it.

        Objects, fields and relationship paths must exist in ``describe()``; record Ids must
        be well formed and carry the object's key prefix; values must fit their field's type
        (length, number range, date format, boolean, picklist value, reference Id of the
        right object); create/update may only set createable/updateable fields.

        Args:
            action: The action the model emitted.

        Returns:
            The action normalised: canonical object and field names, 18-character Ids,
            values converted to the field's type, the SOQL cleaned.

        Raises:
            SoqlValidationError: The action does not fit the org, or uses an object this
                client does not allow; the message says what to change (retryable).
            SalesforceError: The object is unknown (retryable), the user may not perform
                this kind of action, or fetching metadata failed (final).
        """
        try:
            return self._validate_action(action)
        except RecursionError:
            raise _too_deep() from None

    def _validate_action(self, action: AnyAction | SoqlQuery) -> AnyAction:
        if isinstance(action, QueryAction | SoqlQuery):
            return QueryAction(soql=self.validate_soql(action.soql))
        described, info = self._object(action.sobject)
        if isinstance(action, DescribeAction):
            return DescribeAction(action="describe", sobject=info.name)
        prefix = self._key_prefix(info.name)
        if isinstance(action, GetAction):
            record_id = check_record_id(action.record_id, info.name, prefix)
            fields: list[str] = []
            for path in action.fields:
                canonical = self._canonical_path(info, path)
                if canonical.lower() not in {f.lower() for f in fields}:
                    fields.append(canonical)
            return GetAction(action="get", sobject=info.name, record_id=record_id, fields=fields)
        if isinstance(action, CreateAction):
            self._check_object_allows(described, "created", "createable")
            values = self._check_values(info, action.values, kind="create")
            return CreateAction(action="create", sobject=info.name, values=values)
        if isinstance(action, UpdateAction):
            self._check_object_allows(described, "updated", "updateable")
            record_id = check_record_id(action.record_id, info.name, prefix)
            values = self._check_values(info, action.values, kind="update")
            return UpdateAction(
                action="update", sobject=info.name, record_id=record_id, values=values
            )
        if isinstance(action, DeleteAction):
            self._check_object_allows(described, "deleted", "deletable")
            record_id = check_record_id(action.record_id, info.name, prefix)
            return DeleteAction(action="delete", sobject=info.name, record_id=record_id)
        raise SoqlValidationError(f"unknown action {getattr(action, 'action', action)!r}")

    def preview(self, action: AnyAction | SoqlQuery) -> str:
        """Describe exactly what an action will do, for a person to approve.

        The action is validated first, so the preview shows the canonical field names and
        the exact values that will be sent (text in double quotes, ``null`` clears a field).

        Args:
            action: The action to describe.

        Returns:
            A few lines of plain text naming the object, the Id and every field and value.

        Raises:
            SoqlValidationError: The action does not fit the org.
            SalesforceError: Fetching metadata failed.
        """
        checked = self.validate_action(action)
        if isinstance(checked, QueryAction):
            return f"Run this read-only SOQL query:\n  {checked.soql}"
        if isinstance(checked, DescribeAction):
            return f"Describe the fields of {checked.sobject} (read-only)."
        if isinstance(checked, GetAction):
            shown = ", ".join(checked.fields) if checked.fields else "every field"
            return f"Read {shown} of {checked.sobject} {checked.record_id} (read-only)."
        if isinstance(checked, DeleteAction):
            return (
                f"DELETE the {checked.sobject} record {checked.record_id}.\n"
                "The record goes to the Recycle Bin; records that depend on it may be "
                "deleted with it."
            )
        values = checked.values if isinstance(checked, CreateAction | UpdateAction) else {}
        width = max((len(k) for k in values), default=0)
        lines = [f"  {k.ljust(width)} = {_show_value(v)}" for k, v in values.items()]
        if isinstance(checked, CreateAction):
            head = f"CREATE a new {checked.sobject} record with {len(values)} field(s):"
        else:
            assert isinstance(checked, UpdateAction)
            head = (
                f"UPDATE the {checked.sobject} record {checked.record_id}: set "
                f"{len(values)} field(s), leaving the others unchanged:"
            )
        return "\n".join([head, *lines])

    def run(self, action: AnyAction | SoqlQuery, *, row_limit: int = 100) -> ActionResult:
        """Validate an action and perform it.

        Queries go through ``query_all_iter``; get, create, update and delete through the
        sobject REST API (a get with relationship paths becomes a SOQL query whose values
        are escaped with ``format_soql``); describe returns one row per field. Approval of
        writes is the caller's business: this method performs what it is given.

        Args:
            action: The action the model emitted.
            row_limit: The most rows a query returns; one more is read to detect truncation.

        Returns:
            The result, with the time spent validating and in HTTP calls.

        Raises:
            SoqlValidationError: The action failed validation (nothing was sent).
            SalesforceError: Salesforce rejected it (``retryable`` when the model can fix it)
                or the call failed (final).
        """
        if row_limit < 1:
            raise ValueError("row_limit must be at least 1")
        started = time.perf_counter()
        if isinstance(action, QueryAction | SoqlQuery):
            cleaned, analysis = self._analyse(action.soql)
            validation_s = time.perf_counter() - started
            soql_result = self._run_soql(cleaned, analysis, row_limit)
            return ActionResult(
                action="query",
                columns=soql_result.columns,
                rows=soql_result.rows,
                truncated=soql_result.truncated,
                record_id=None,
                elapsed_s=time.perf_counter() - started,
                http_s=soql_result.elapsed_s,
                validation_s=validation_s,
            )
        checked = self.validate_action(action)
        assert not isinstance(checked, QueryAction)
        validation_s = time.perf_counter() - started
        http_started = time.perf_counter()
        try:
            columns, rows, record_id = self._perform(checked, row_limit)
        except SalesforceError:
            raise
        except Exception as exc:
            error = self._map_action_error(exc, checked)
            logger.info("Salesforce %s failed (%s): %s", checked.action, error.code, error.message)
            raise error from exc
        http_s = time.perf_counter() - http_started
        logger.debug("Salesforce %s on %s in %.3fs", checked.action, checked.sobject, http_s)
        return ActionResult(
            action=checked.action,
            columns=columns,
            rows=rows,
            truncated=False,
            record_id=record_id,
            elapsed_s=time.perf_counter() - started,
            http_s=http_s,
            validation_s=validation_s,
        )

    def _perform(
        self, action: AnyAction, row_limit: int
    ) -> tuple[list[str], list[list[Any]], str | None]:
        if isinstance(action, DescribeAction):
            described = self.describe(action.sobject)
            rows = [_describe_row(f) for f in described.get("fields") or []]
            return ["name", "type", "picklist"], rows[:], None
        assert not isinstance(action, QueryAction)
        sobject = getattr(self._sf, action.sobject)
        if isinstance(action, GetAction):
            if any("." in f for f in action.fields):
                soql = format_soql(
                    "SELECT {:literal} FROM {:literal} WHERE Id = {}",
                    ", ".join(action.fields),
                    action.sobject,
                    action.record_id,
                )
                records = self._fetch(soql, 1)
                if not records:
                    raise SalesforceError(
                        f"no {action.sobject} with Id {action.record_id}; query for the Id first",
                        retryable=True,
                        code="NOT_FOUND",
                    )
                record: Mapping[str, Any] = records[0]
            elif action.fields:
                record = sobject.get(action.record_id, params={"fields": ",".join(action.fields)})
            else:
                record = sobject.get(action.record_id)
            columns, rows = _table([record])
            return columns, rows, action.record_id
        if isinstance(action, CreateAction):
            response = sobject.create(dict(action.values))
            new_id = str(response.get("id")) if isinstance(response, Mapping) else None
            return ["Id", *action.values], [[new_id, *action.values.values()]], new_id
        if isinstance(action, UpdateAction):
            sobject.update(action.record_id, dict(action.values))
            return (
                ["Id", *action.values],
                [[action.record_id, *action.values.values()]],
                action.record_id,
            )
        assert isinstance(action, DeleteAction)
        sobject.delete(action.record_id)
        return ["Id"], [[action.record_id]], action.record_id

    def _map_action_error(self, exc: BaseException, action: AnyAction) -> SalesforceError:
        error = self._map(exc)
        record_id = getattr(action, "record_id", None)
        if isinstance(exc, sf_exc.SalesforceResourceNotFound) and record_id:
            return SalesforceError(
                f"no {getattr(action, 'sobject', 'record')} with Id {record_id} (it may have "
                "been deleted); query for the Id first",
                retryable=True,
                code="NOT_FOUND",
            )
        if error.message.startswith("Salesforce rejected the query"):
            error.message = error.message.replace("the query", f"the {action.action}", 1)
            error.args = (error.message,)
        return error


def _parse_error_message(exc: Exception, values: Mapping[int, _Value]) -> str:
    """Describe a sqlglot parse failure in SOQL terms, without sqlglot internals."""
    near = ""
    detail = ""
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        description = str(first.get("description") or "")
        if description and "<" not in description and len(description) <= 80:
            detail = description.rstrip(".")
        highlight = str(first.get("highlight") or "").strip()
        placeholder = _PLACEHOLDER_RE.match(highlight.strip("'"))
        if placeholder is not None:
            value = values.get(int(placeholder.group(1)))
            highlight = value.raw if value is not None else ""
        highlight = highlight.strip('"')
        if highlight:
            near = f" near `{highlight}`"
    detail = f" ({detail})" if detail else ""
    return (
        f"the SOQL could not be parsed{near}{detail}; the form is SELECT <fields> FROM <Object> "
        "[WHERE ...] [GROUP BY ...] [ORDER BY ...] [LIMIT n]"
    )
