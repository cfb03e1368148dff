"""The sandbox's HTTPS server: the REST API subset simple-salesforce uses, on loopback."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import socket
import ssl
import threading
from collections import OrderedDict
from collections.abc import MutableMapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from tools.salesforce import SalesforceClient, SalesforceCredentials
from tools.salesforce_sandbox.org import SandboxApiError, SandboxOrg
from tools.salesforce_sandbox.schema import API_VERSION, describe_global
from tools.salesforce_sandbox.tls import ensure_certificate

logger = logging.getLogger(__name__)

__all__ = [
    "DB_NAME",
    "DEFAULT_PAGE_SIZE",
    "SandboxServer",
    "sandbox_client",
    "start_if_unconfigured",
    "start_sandbox",
]

DB_NAME: Final = "salesforce-sandbox.sqlite"
DEFAULT_PAGE_SIZE: Final = 200
_MAX_CURSORS: Final = 64
_MAX_BODY: Final = 1_000_000
_DATA_RE: Final = re.compile(r"^/services/data/v(\d+\.\d+)(?:/(.*))?$")
_LOCATOR_RE: Final = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d+)$")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,12}")
_BEARER_RE: Final = re.compile(r"Bearer +(\S+)", re.IGNORECASE)
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _random_token(length: int) -> str:
    return "".join(secrets.choice(_BASE62) for _ in range(length))


def new_session_id() -> str:
    """A fresh session id shaped like a real one (org Id, ``!``, token)."""
    return f"00D8d000000{_random_token(4)}!AQ{_random_token(6)}.{_random_token(40)}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "slm-dispatch-sandbox"
    sys_version = ""
    timeout = 30
    server: _HTTPSServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        logger.debug("sandbox %s %s", self.command, urlsplit(self.path).path)

    # -- plumbing ----------------------------------------------------------------------

    def _send(self, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _body_length(self) -> int:
        """The declared body length; malformed framing is refused before anything is read.

        Raises:
            SandboxApiError: 400 for a Content-Length that is not one whole number from 0
                (negative, non-numeric, repeated with different values) or for a
                Transfer-Encoding (unsupported); 413 for a body over the size limit. Either
                way the connection is closed, since the unread body cannot be skipped.
        """
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            raise SandboxApiError(
                400, "BAD_REQUEST", "Transfer-Encoding is not supported; send a Content-Length"
            )
        if not values:
            return 0
        text = values.pop()
        if values or not _DIGITS_RE.fullmatch(text):
            self.close_connection = True
            raise SandboxApiError(
                400, "BAD_REQUEST", "The Content-Length header must be one whole number"
            )
        length = int(text)
        if length > _MAX_BODY:
            self.close_connection = True
            raise SandboxApiError(413, "REQUEST_TOO_LARGE", "The request body is too large")
        return length

    def _read_body(self, length: int) -> bytes:
        return self.rfile.read(length) if length else b""

    @staticmethod
    def _json(raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise SandboxApiError(
                400, "JSON_PARSER_ERROR", "The request body is not valid JSON"
            ) from None

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        try:
            raw = self._read_body(self._body_length())  # keeps the connection in step
            parts = urlsplit(self.path)
            match = _DATA_RE.match(parts.path.rstrip("/") or "/")
            if parts.path.rstrip("/") == "/services/data" and self.command == "GET":
                self._send(200, [{"label": "Sandbox", "url": f"/services/data/v{API_VERSION}",
                                  "version": API_VERSION}])  # fmt: skip
                return
            if match is None:
                raise SandboxApiError(404, "NOT_FOUND", "The requested resource does not exist")
            if self.command in ("POST", "PATCH", "DELETE"):
                sandbox.count_write_request()
            sandbox.check_session(self.headers.get("Authorization"))
            version, rest = match.group(1), match.group(2) or ""
            segments = [unquote(s) for s in rest.split("/") if s]
            query = parse_qs(parts.query)
            status, body = sandbox.route(
                self.command, version, segments, query, lambda: self._json(raw)
            )
            self._send(status, body)
        except SandboxApiError as exc:
            self._send(exc.status, exc.body())
        except Exception:  # a bug in the sandbox: answer like Salesforce's 500
            logger.exception("sandbox request failed")
            self._send(500, [{"message": "An unexpected error occurred", "errorCode": "UNKNOWN"}])

    do_GET = _handle
    do_POST = _handle
    do_PATCH = _handle
    do_DELETE = _handle
    do_PUT = _handle


class _HTTPSServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: SandboxServer
    ssl_context: ssl.SSLContext

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("sandbox connection from %s failed", client_address, exc_info=True)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms ACK stalls
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.debug("TLS handshake failed: %s", exc)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            try:
                tls.close()
            except OSError:
                pass


class SandboxServer:
    """A running offline sandbox org; use :func:`start_sandbox` to make one.

    Attributes:
        org: The data (SQLite) behind the API.
        ca_path: The certificate the client must trust.
        page_size: Records per query page before ``nextRecordsUrl`` paging.
        write_requests: POST/PATCH/DELETE requests received (accepted or not).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 0,
        session_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        anchor: dt.date | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.ca_path, key_path = ensure_certificate(data_dir)
        self.org = SandboxOrg(data_dir / DB_NAME, anchor=anchor)
        self.page_size = page_size
        self.write_requests = 0
        self._today = anchor
        self._lock = threading.Lock()
        self._session_id = session_id or new_session_id()
        self._sessions = {self._session_id}
        self._cursors: OrderedDict[str, list[Any]] = OrderedDict()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.ca_path, key_path)
        self._httpd = _HTTPSServer(("127.0.0.1", port), _Handler)
        self._httpd.sandbox = self
        self._httpd.ssl_context = context
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="salesforce-sandbox",
            daemon=True,
        )
        self._thread.start()
        logger.info("Salesforce sandbox listening on %s", self.instance_url)

    # -- public API --------------------------------------------------------------------

    @property
    def instance_url(self) -> str:
        """``https://127.0.0.1:<port>``: what ``SF_INSTANCE_URL`` is set to."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def session_id(self) -> str:
        """The session id the sandbox currently accepts (``SF_SESSION_ID``)."""
        return self._session_id

    def env(self) -> dict[str, str]:
        """The environment variables that point a client at this sandbox.

        Returns:
            ``SF_INSTANCE_URL``, ``SF_SESSION_ID`` and ``SF_CA_BUNDLE``.
        """
        return {
            "SF_INSTANCE_URL": self.instance_url,
            "SF_SESSION_ID": self.session_id,
            "SF_CA_BUNDLE": str(self.ca_path),
        }

    def credentials(self) -> SalesforceCredentials:
        """Credentials for this sandbox (session id, instance URL, CA bundle)."""
        return SalesforceCredentials(
            instance_url=self.instance_url, session_id=self.session_id, ca_bundle=str(self.ca_path)
        )

    def expire_sessions(self) -> None:
        """Invalidate every session: requests now get 401 ``INVALID_SESSION_ID``."""
        with self._lock:
            self._sessions.clear()

    def new_session(self, session_id: str | None = None) -> str:
        """Start a session (after :meth:`expire_sessions`) and return its id.

        Args:
            session_id: The id to accept; a fresh random one by default.

        Returns:
            The id, which :attr:`session_id` and :meth:`env` now report.
        """
        with self._lock:
            self._session_id = session_id or new_session_id()
            self._sessions.add(self._session_id)
            return self._session_id

    def reset(self) -> None:
        """Restore the seed data and forget open query cursors."""
        with self._lock:
            self._cursors.clear()
            self.write_requests = 0
        self.org.reset()

    def counts(self) -> dict[str, int]:
        """Records per object."""
        return self.org.counts()

    def stop(self) -> None:
        """Stop serving and close the database."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self.org.close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer(instance_url={self.instance_url!r}, data_dir={str(self.data_dir)!r})"

    # -- request handling --------------------------------------------------------------

    def count_write_request(self) -> None:
        """Count one POST/PATCH/DELETE request (the tests check that none arrived)."""
        with self._lock:
            self.write_requests += 1

    def check_session(self, authorization: str | None) -> None:
        """Raise 401 ``INVALID_SESSION_ID`` unless the header is ``Bearer <live session id>``.

        A token without the ``Bearer`` scheme (or with another scheme) is refused like an
        invalid one.
        """
        match = _BEARER_RE.fullmatch((authorization or "").strip())
        token = match.group(1) if match else ""
        with self._lock:
            valid = bool(token) and any(
                secrets.compare_digest(token.encode(), s.encode()) for s in self._sessions
            )
        if not valid:
            raise SandboxApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def route(
        self,
        method: str,
        version: str,
        segments: list[str],
        query: dict[str, list[str]],
        body: Any,
    ) -> tuple[int, Any]:
        """Answer one API request: ``(status, JSON body or None)``; errors are raised."""
        head = segments[0] if segments else ""
        if head in ("query", "queryAll") and method == "GET":
            if len(segments) == 1:
                soql = (query.get("q") or [""])[0]
                return 200, self._query(version, soql)
            if len(segments) == 2:
                return 200, self._query_more(version, segments[1])
        if head == "sobjects":
            return self._sobjects(method, segments[1:], query, body)
        if head == "limits" and method == "GET":
            return 200, {"DailyApiRequests": {"Max": 15000, "Remaining": 15000}}
        raise SandboxApiError(
            404, "NOT_FOUND", "The requested resource does not exist (not emulated by the sandbox)"
        )

    def _page(self, version: str, locator: str, records: list[Any], offset: int) -> dict[str, Any]:
        end = offset + self.page_size
        page: dict[str, Any] = {
            "totalSize": len(records),
            "done": end >= len(records),
            "records": records[offset:end],
        }
        if not page["done"]:
            page["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        return page

    def _query(self, version: str, soql: str) -> dict[str, Any]:
        records, total = self.org.query(soql, today=self._today)
        if not records:
            return {"totalSize": total, "done": True, "records": []}
        if len(records) <= self.page_size:
            return {"totalSize": total, "done": True, "records": records}
        locator = "01g" + _random_token(15)
        with self._lock:
            self._cursors[locator] = records
            while len(self._cursors) > _MAX_CURSORS:
                self._cursors.popitem(last=False)
        return self._page(version, locator, records, 0)

    def _query_more(self, version: str, token: str) -> dict[str, Any]:
        match = _LOCATOR_RE.match(token)
        with self._lock:
            records = self._cursors.get(match.group(1)) if match else None
        if match is None or records is None:
            raise SandboxApiError(
                400, "INVALID_QUERY_LOCATOR", "invalid query locator (it may have expired)"
            )
        return self._page(version, match.group(1), records, int(match.group(2)))

    def _sobjects(
        self, method: str, rest: list[str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        if not rest:
            if method == "GET":
                return 200, describe_global()
            raise SandboxApiError(405, "METHOD_NOT_ALLOWED", f"HTTP method '{method}' not allowed")
        sobject = rest[0]
        if len(rest) == 1:
            if method == "GET":
                described = self.org.describe(sobject)
                basic = {k: v for k, v in described.items() if k not in ("fields",)}
                return 200, {"objectDescribe": basic, "recentItems": []}
            if method == "POST":
                new_id = self.org.create(sobject, body())
                return 201, {"id": new_id, "success": True, "errors": []}
        elif len(rest) == 2 and rest[1] == "describe" and method == "GET":
            return 200, self.org.describe(sobject)
        elif len(rest) == 2:
            record_id = rest[1]
            if method == "GET":
                fields = ",".join(query.get("fields") or [])
                names = [f for f in fields.split(",") if f.strip()] or None
                return 200, self.org.get(sobject, record_id, names)
            if method == "PATCH":
                self.org.update(sobject, record_id, body())
                return 204, None
            if method == "DELETE":
                self.org.delete(sobject, record_id)
                return 204, None
        raise SandboxApiError(
            404, "NOT_FOUND", "The requested resource does not exist (not emulated by the sandbox)"
        )


def start_sandbox(
    data_dir: Path,
    *,
    port: int = 0,
    session_id: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    anchor: dt.date | None = None,
) -> SandboxServer:
    """Start the offline sandbox org on ``https://127.0.0.1:<port>``.

    Args:
        data_dir: Where the SQLite file and the throwaway certificate live; the org is
            seeded there on first use and keeps its changes until :meth:`SandboxServer.reset`.
        port: The TCP port; 0 picks a free one.
        session_id: The session id to accept; a random one by default.
        page_size: Records per query page (Salesforce uses 2000; 200 here so that paging
            happens on the demo data).
        anchor: The current day for seed dates and date literals (today by default).

    Returns:
        The running server; use it as a context manager, or call ``stop()``.
    """
    return SandboxServer(
        data_dir, port=port, session_id=session_id, page_size=page_size, anchor=anchor
    )


def sandbox_client(server: SandboxServer) -> SalesforceClient:
    """A :class:`SalesforceClient` connected to ``server`` through simple-salesforce."""
    return SalesforceClient.connect(server.credentials())


def start_if_unconfigured(
    data_dir: Path, *, environ: MutableMapping[str, str] | None = None
) -> SandboxServer | None:
    """Start the sandbox and point the environment at it, unless credentials are set.

    For ``make demo`` and tests: with real ``SF_*`` credentials in ``environ`` nothing
    happens (the real org is used); without, a sandbox starts on a free port and its
    :meth:`SandboxServer.env` variables are written into ``environ``.

    Args:
        data_dir: The sandbox's data directory.
        environ: The variables to read and update; the process environment by default.

    Returns:
        The running sandbox (stop it when done), or None when credentials were set.
    """
    target = os.environ if environ is None else environ
    if SalesforceCredentials.from_env(target) is not None:
        return None
    server = start_sandbox(data_dir)
    target.update(server.env())
    return server


def port_is_free(port: int) -> bool:
    """Whether ``port`` on 127.0.0.1 can be bound (for the CLI's message)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
