"""Salesforce errors, described for the model and the operator, with secrets scrubbed.

:func:`map_salesforce_exception` turns what simple-salesforce and requests raise into a
:class:`SalesforceError` whose ``retryable`` says whether the model can repair its request.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final
from xml.sax.saxutils import escape as xml_escape

import requests
from simple_salesforce import exceptions as sf_exc


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


class PicklistValueError(SoqlValidationError):
    """A value that is not one of a picklist's values.

    Attributes:
        field: The picklist field's name.
        value: The value as written.
        allowed: The picklist's active values.
    """

    def __init__(self, message: str, *, field: str, value: str, allowed: list[str]) -> None:
        super().__init__(message, code="INVALID_PICKLIST_VALUE")
        self.field = field
        self.value = value
        self.allowed = allowed


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
