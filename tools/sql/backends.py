"""The database connections: SQLite and PostgreSQL, both read-only, within the byte caps.

:class:`_Backend` is what :class:`tools.sql.SqlDatabase` runs queries on: SQLite opened
``mode=ro`` with a read-only authorizer and a progress-handler timeout, or PostgreSQL in
read-only transactions with a statement timeout and server-side cursors. :class:`_CappedRows`
keeps the rows within the value, row and result byte caps.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot.errors import ParseError, TokenError

from tools.sql.checks import _ALLOWED_ROOTS
from tools.sql.results import (
    MAX_RESULT_BYTES,
    MAX_ROW_BYTES,
    MAX_VALUE_BYTES,
    SQLITE_MAX_LENGTH,
    Column,
    SqlConnectionError,
    SqlExecutionError,
)
from tools.sql.schema import _ForeignKey, _Schema
from tools.sql.text import _quote_ident
from tools.sql_roles import privilege_problems, refusal_message

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("tools.sql")

_FETCH_BATCH = 64


class _Backend(ABC):
    dialect: str

    @abstractmethod
    def read_schema(self) -> _Schema:
        """Read tables, columns and keys from the live database."""

    @abstractmethod
    def run(self, sql: str, max_rows: int, timeout_s: float) -> tuple[list[str], list[Any], bool]:
        """Execute ``sql`` read-only, within the byte caps.

        Returns:
            Column names, at most ``max_rows`` rows (each value over ``MAX_VALUE_BYTES``
            replaced by a marker), and whether the rows stopped at ``MAX_RESULT_BYTES``.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""


def _value_bytes(value: Any) -> int:
    """Size of one value as the result will hold it (its text, for anything but bytes)."""
    if value is None:
        return 4
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    return len(str(value))


def _left_out(size: int) -> str:
    return f"[value left out: {size} bytes, over the {MAX_VALUE_BYTES}-byte cap]"


class _CappedRows:
    """Rows gathered within the value, row and result byte caps."""

    def __init__(self, max_rows: int) -> None:
        self.rows: list[list[Any]] = []
        self.cut_short = False
        self._max_rows = max_rows
        self._bytes = 0

    def wants_more(self) -> bool:
        return not self.cut_short and len(self.rows) < self._max_rows

    def add(self, batch: Iterable[Sequence[Any]], oversized: Iterable[dict[int, int]] = ()) -> None:
        """Add fetched rows; ``oversized`` gives, per row, values the server already left out."""
        extra = iter(oversized)
        for raw in batch:
            if not self.wants_more():
                return
            cut = next(extra, {})
            row = []
            for index, value in enumerate(raw):
                size = cut[index] if index in cut else _value_bytes(value)
                row.append(_left_out(size) if size > MAX_VALUE_BYTES else value)
            row_bytes = sum(_value_bytes(value) for value in row)
            if row_bytes > MAX_ROW_BYTES:
                raise SqlExecutionError(
                    f"a result row holds {row_bytes} bytes, over the {MAX_ROW_BYTES}-byte cap; "
                    "select fewer or shorter columns"
                )
            if self._bytes + row_bytes > MAX_RESULT_BYTES:
                self.cut_short = True
                return
            self._bytes += row_bytes
            self.rows.append(row)


_SQLITE_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


def _sqlite_authorizer(
    action: int, arg1: str | None, arg2: str | None, db_name: str | None, source: str | None
) -> int:
    """Let SQLite compile reads only: no writes, PRAGMA, ATTACH or transactions."""
    if action in _SQLITE_ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master" and source is None:
        # Declaring an eponymous virtual table (json_each, json_tree) is authorized as an
        # UPDATE of sqlite_master; a real one would still fail (mode=ro, query_only).
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


class _SqliteBackend(_Backend):
    """SQLite opened with ``mode=ro``, ``query_only`` and an authorizer that allows reads only."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            self._conn = sqlite3.connect(
                uri, uri=True, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA query_only = ON")
            self._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_LENGTH)
            self._conn.set_authorizer(_sqlite_authorizer)
        except sqlite3.Error as err:
            raise SqlConnectionError(f"cannot open SQLite database {str(path)!r}: {err}") from err
        self._lock = threading.Lock()
        self._closed = False

    def read_schema(self) -> _Schema:
        schema = _Schema()
        with self._lock:
            self._conn.set_authorizer(None)  # the schema PRAGMAs below need it off
            try:
                self._read_schema_into(schema)
            finally:
                self._conn.set_authorizer(_sqlite_authorizer)
        return schema

    def _read_schema_into(self, schema: _Schema) -> None:
        names = [
            row[0]
            for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        for name in names:
            info = self._conn.execute(f"PRAGMA table_info({_quote_ident(name)})").fetchall()
            # table_info rows: cid, name, type, notnull, dflt_value, pk
            schema.tables[name] = [Column(str(r[1]), str(r[2] or "").upper()) for r in info]
            pk = sorted((int(r[5]), str(r[1])) for r in info if r[5])
            if pk:
                schema.primary_keys[name] = [column for _, column in pk]
            fks = self._conn.execute(f"PRAGMA foreign_key_list({_quote_ident(name)})").fetchall()
            # foreign_key_list rows: id, seq, table, from, to, on_update, on_delete, match
            for r in fks:
                ref_column = r[4]
                if ref_column is None:
                    ref_pk = schema.primary_keys.get(str(r[2])) or ["id"]
                    ref_column = ref_pk[0]
                schema.foreign_keys.append(_ForeignKey(name, str(r[3]), str(r[2]), ref_column))

    def run(self, sql: str, max_rows: int, timeout_s: float) -> tuple[list[str], list[Any], bool]:
        deadline = time.monotonic() + timeout_s
        timed_out = False

        def progress() -> int:
            nonlocal timed_out
            if time.monotonic() > deadline:
                timed_out = True
                return 1  # non-zero aborts the statement with "interrupted"
            return 0

        with self._lock:
            if self._closed:
                raise SqlExecutionError("the database connection is closed")
            self._conn.set_progress_handler(progress, 1000)
            try:
                cursor = self._conn.execute(sql)
                try:
                    if cursor.description is None:
                        return [], [], False
                    columns = [str(d[0]) for d in cursor.description]
                    capped = _CappedRows(max_rows)
                    while capped.wants_more():
                        batch = cursor.fetchmany(_FETCH_BATCH)
                        if not batch:
                            break
                        capped.add(batch)
                    return columns, capped.rows, capped.cut_short
                finally:
                    cursor.close()
            except (sqlite3.Error, sqlite3.Warning) as err:
                if timed_out:
                    raise SqlExecutionError(
                        f"query timed out after {timeout_s:g}s; simplify it or filter more"
                    ) from err
                message = str(err)
                if "too big" in message:
                    message = (
                        f"{message}: a value the query builds is over {SQLITE_MAX_LENGTH} "
                        "bytes; select less"
                    )
                if any(word in message for word in ("readonly", "read-only", "not authorized")):
                    message = f"{message}: the database is read-only, only SELECT is allowed"
                raise SqlExecutionError(message) from err
            finally:
                self._conn.set_progress_handler(None, 0)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


class _PostgresBackend(_Backend):
    dialect = "postgres"

    def __init__(self, url: str, *, allow_privileged: bool = False) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._closed = False
        self._conn: psycopg.Connection[Any] = self._connect()
        try:
            self._check_role(allow_privileged)
        except BaseException:
            self._conn.close()
            raise

    def _check_role(self, allow_privileged: bool) -> None:
        """Refuse a role that may do more than read, unless explicitly allowed."""
        import psycopg

        try:
            with self._conn.transaction(force_rollback=True):
                problems = privilege_problems(self._conn)
                row = self._conn.execute(
                    "SELECT current_user, current_database(), current_schemas(false)"
                ).fetchone()
        except psycopg.Error as err:
            raise SqlConnectionError(
                f"cannot read the PostgreSQL role's privileges: {err}"
            ) from err
        if not problems:
            return
        role, database, schemas = ("?", "?", []) if row is None else row
        if allow_privileged:
            logger.warning(
                "running model-written SQL as privileged role %s (%s): allowed explicitly",
                role,
                "; ".join(problems),
            )
            return
        raise SqlConnectionError(
            refusal_message(str(role), problems, str(database), list(schemas) or ["public"])
        )

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        extra: dict[str, Any] = {"application_name": "slm-dispatch-sql"}
        if "connect_timeout" not in self._url:
            extra["connect_timeout"] = 10
        try:
            conn = psycopg.connect(self._url, autocommit=False, **extra)
        except psycopg.Error as err:
            raise SqlConnectionError(f"cannot connect to PostgreSQL: {err}") from err
        conn.read_only = True  # every transaction starts with BEGIN READ ONLY
        return conn

    @contextmanager
    def _read_only_cursor(
        self, timeout_s: float
    ) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Cursor[Any]]]:
        """A cursor in a read-only transaction with a statement timeout, always rolled back."""
        conn = self._conn
        if conn.closed:
            conn = self._conn = self._connect()
        with conn.transaction(force_rollback=True), conn.cursor() as cur:
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                (str(max(1, int(timeout_s * 1000))),),
            )
            yield conn, cur

    def _fetch(
        self,
        sql: bytes,
        params: Sequence[Any] | None,
        max_rows: int | None,
        timeout_s: float,
        *,
        single: bool = False,
    ) -> tuple[list[str], list[Any]]:
        """Run ``sql`` in a read-only transaction that is always rolled back.

        With ``single``, the statement is prepared (extended protocol), so the server
        refuses a string with several statements (e.g. ``COMMIT; DELETE ...``).
        """
        with self._read_only_cursor(timeout_s) as (conn, cur):
            cur.execute(sql, params, prepare=True if single else None)
            if cur.description is None:
                return [], []
            columns = [column.name for column in cur.description]
            rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows)
            return columns, rows

    def read_schema(self) -> _Schema:
        import psycopg

        schema = _Schema()
        visible = (
            "c.relkind IN ('r', 'v', 'm', 'p', 'f') AND pg_catalog.pg_table_is_visible(c.oid) "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%'"
        )
        try:
            with self._lock:
                _, columns = self._fetch(
                    (
                        "SELECT c.relname, a.attname, "
                        "pg_catalog.format_type(a.atttypid, a.atttypmod) "
                        "FROM pg_catalog.pg_class c "
                        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
                        f"WHERE {visible} AND a.attnum > 0 AND NOT a.attisdropped "
                        "ORDER BY c.oid, a.attnum"
                    ).encode(),
                    None,
                    None,
                    30.0,
                )
                _, keys = self._fetch(
                    (
                        "SELECT con.contype, c.relname, a.attname, fc.relname, fa.attname "
                        "FROM pg_catalog.pg_constraint con "
                        "JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
                        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                        "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) "
                        "  WITH ORDINALITY AS k(attnum, fattnum, ord) "
                        "JOIN pg_catalog.pg_attribute a "
                        "  ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
                        "LEFT JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid "
                        "LEFT JOIN pg_catalog.pg_attribute fa "
                        "  ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum "
                        f"WHERE con.contype IN ('p', 'f') AND {visible} "
                        "ORDER BY c.relname, con.conname, k.ord"
                    ).encode(),
                    None,
                    None,
                    30.0,
                )
        except psycopg.Error as err:
            raise SqlConnectionError(f"cannot read the PostgreSQL schema: {err}") from err
        for table, column, type_name in columns:
            schema.tables.setdefault(str(table), []).append(
                Column(str(column), str(type_name).upper())
            )
        for kind, table, column, ref_table, ref_column in keys:
            if kind == "p":
                schema.primary_keys.setdefault(str(table), []).append(str(column))
            elif ref_table is not None and ref_column is not None:
                schema.foreign_keys.append(
                    _ForeignKey(str(table), str(column), str(ref_table), str(ref_column))
                )
        return schema

    def _fetch_capped(
        self, sql: str, max_rows: int, timeout_s: float
    ) -> tuple[list[str], list[Any], bool]:
        """Run ``sql`` through server-side cursors, within the byte caps.

        A first cursor (declared with the extended protocol, so one statement only) gives
        the output columns without computing a row. The rows then come from a second cursor
        over ``sql`` wrapped so that the server itself replaces each value over
        ``MAX_VALUE_BYTES`` by NULL and reports its size: no huge value crosses the wire,
        and ``fetchmany`` never pulls more rows than the caps keep, whatever the LIMIT.
        """
        if not _is_query(sql, self.dialect):
            # Not a SELECT: validated SQL never is, so this only shows the connection's own
            # refusal (a read-only transaction, one statement per call).
            columns, rows = self._fetch(sql.encode(), None, max_rows, timeout_s, single=True)
            capped = _CappedRows(max_rows)
            capped.add(rows)
            return columns, capped.rows, capped.cut_short
        with self._read_only_cursor(timeout_s) as (conn, cur):
            cur.execute(f"DECLARE slm_probe NO SCROLL CURSOR FOR {sql}".encode(), prepare=True)
            cur.execute(b"FETCH 0 FROM slm_probe")
            if cur.description is None:
                return [], [], False
            columns = [column.name for column in cur.description]
            cur.execute(b"CLOSE slm_probe")
            names = [f"c{i}" for i in range(len(columns))]
            sizes = [f"octet_length(_q.{name}::text)" for name in names]
            kept = ", ".join(
                f"CASE WHEN {size} > {MAX_VALUE_BYTES} THEN NULL ELSE _q.{name} END"
                for name, size in zip(names, sizes, strict=True)
            )
            cut = ", ".join(
                f"CASE WHEN {size} > {MAX_VALUE_BYTES} THEN '{i}:' || {size} END"
                for i, size in enumerate(sizes)
            )
            wrapped = (
                f"SELECT {kept}, concat_ws(',', {cut}) FROM (\n{sql}\n) AS _q({', '.join(names)})"
            )
            capped = _CappedRows(max_rows)
            with conn.cursor(name="slm_rows") as rows_cursor:
                rows_cursor.execute(wrapped.encode())
                while capped.wants_more():
                    batch = rows_cursor.fetchmany(_FETCH_BATCH)
                    if not batch:
                        break
                    oversized = [_oversized(row[-1]) for row in batch]
                    capped.add([row[:-1] for row in batch], oversized)
            return columns, capped.rows, capped.cut_short

    def run(self, sql: str, max_rows: int, timeout_s: float) -> tuple[list[str], list[Any], bool]:
        import psycopg
        from psycopg import errors as pg_errors

        with self._lock:
            if self._closed:
                raise SqlExecutionError("the database connection is closed")
            try:
                return self._fetch_capped(sql, max_rows, timeout_s)
            except pg_errors.QueryCanceled as err:
                raise SqlExecutionError(
                    f"query timed out after {timeout_s:g}s; simplify it or filter more"
                ) from err
            except psycopg.OperationalError as err:
                # The connection may be gone; reconnect on the next query.
                self._conn.close()
                raise SqlExecutionError(f"database connection error: {err}") from err
            except SqlConnectionError as err:  # the reconnect failed
                raise SqlExecutionError(err.message) from err
            except psycopg.Error as err:
                raise SqlExecutionError(_postgres_message(err)) from err

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


def _is_query(sql: str, dialect: str) -> bool:
    """Whether ``sql`` parses as one SELECT (or set operation of SELECTs)."""
    try:
        parsed = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError, RecursionError):
        return False
    return len(parsed) == 1 and isinstance(parsed[0], _ALLOWED_ROOTS)


def _oversized(text: str | None) -> dict[int, int]:
    """Parse the server's ``index:size`` list of values it left out of one row."""
    found = {}
    for item in (text or "").split(","):
        index, _, size = item.partition(":")
        if index.isdigit() and size.isdigit():
            found[int(index)] = int(size)
    return found


def _postgres_message(err: Exception) -> str:
    diag = getattr(err, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(err).strip().splitlines()[0]
    parts = [primary]
    detail = getattr(diag, "message_detail", None)
    hint = getattr(diag, "message_hint", None)
    if detail:
        parts.append(detail)
    if hint:
        parts.append(f"hint: {hint}")
    return "; ".join(parts)
