"""How to reach a Salesforce org: credentials read from environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

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
