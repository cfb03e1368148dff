"""The HTTP session under the client: a default timeout and a pinned CA bundle."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import requests

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
