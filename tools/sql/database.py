"""The SQL tool: validate a model's query with sqlglot, then run it read-only.

:class:`SqlDatabase` wraps one SQLite file (opened read-only) or one PostgreSQL database
(every query in a read-only transaction with a statement timeout). :meth:`SqlDatabase.validate`
rejects anything but a single SELECT over known tables and columns, with short, precise
messages that a small model can use to repair its query; :meth:`SqlDatabase.execute` runs
validated SQL with a row limit and a timeout and returns JSON-friendly rows.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from tools.sql.backends import _Backend, _PostgresBackend, _SqliteBackend
from tools.sql.checks import (
    _ALLOWED_ROOTS,
    _FORBIDDEN_NODES,
    _check_set_operation_order,
    _check_subquery_depth,
    _conjuncts,
    _drop_generated_aliases,
    _equi_join,
    _in_select_list,
    _output_aliases,
    _single_row,
    _statement_kind,
    _visible_ctes,
)
from tools.sql.results import (
    MAX_PAREN_DEPTH,
    MAX_QUERY_CHARS,
    MAX_SUBQUERY_DEPTH,
    Column,
    QueryResult,
    SqlConnectionError,
    SqlExecutionError,
    SqlToolError,
    SqlValidationError,
    _json_value,
)
from tools.sql.schema import _only_tables, _Source
from tools.sql.text import (
    _DIALECT_NAMES,
    _check_invisible_characters,
    _check_size,
    _check_tokens,
    _did_you_mean,
    _normalize_dialect,
    _optimize_error_message,
    _parse_error_message,
    _quote_ident,
    _suggest,
    clean_sql,
)
from tools.sql_policy import check_node

logger = logging.getLogger("tools.sql")

VALUES_MAX_AGE_S = 60.0
"""How long the values read by :meth:`SqlDatabase.text_values` are kept before a re-read."""


class _CommandFallbackFilter(logging.Filter):
    """Drop sqlglot's warning about statements it keeps as opaque commands.

    :meth:`SqlDatabase.validate` rejects every such statement with its own message, so the
    warning would only repeat, in the log, each hostile or malformed input it refused.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


logging.getLogger("sqlglot").addFilter(_CommandFallbackFilter())


class SqlDatabase:
    """A read-only SQL database for the graph's ``sql`` node.

    Open with :meth:`open`; then :meth:`validate` and :meth:`execute` (or :meth:`run`, which
    does both). Safe to share between threads (queries are serialized).
    """

    dialect: str
    """``"sqlite"`` or ``"postgres"`` (sqlglot dialect names)."""

    def __init__(self, backend: _Backend, *, tables: str = "") -> None:
        """Wrap an opened backend; use :meth:`open` instead."""
        self._backend = backend
        self.dialect = backend.dialect
        try:
            self._schema = _only_tables(backend.read_schema(), tables)
        except sqlite3.Error as err:
            backend.close()
            raise SqlConnectionError(f"cannot read the database schema: {err}") from err
        except SqlToolError:
            backend.close()
            raise
        self._lower_tables: dict[str, str] = {name.lower(): name for name in self._schema.tables}
        self._lower_columns: dict[str, list[str]] = {
            name.lower(): [column.name.lower() for column in columns]
            for name, columns in self._schema.tables.items()
        }
        self._glot_schema: dict[str, object] = {
            name: {column.name: self._glot_type(column.type) for column in columns}
            for name, columns in self._schema.tables.items()
        }
        self._values_cache: dict[tuple[str, str, int], list[Any] | None] = {}
        self._values_read_at = time.monotonic()
        self._schema_names: set[str] = set(self._lower_tables) | {
            column for columns in self._lower_columns.values() for column in columns
        }
        self.max_query_chars = MAX_QUERY_CHARS
        """Longest query :meth:`validate` accepts, in characters."""
        self.max_paren_depth = MAX_PAREN_DEPTH
        """Deepest parenthesis nesting :meth:`validate` accepts."""
        self.max_subquery_depth = MAX_SUBQUERY_DEPTH
        """Deepest SELECT-in-SELECT nesting :meth:`validate` accepts."""

    # ---------------------------------------------------------------- opening and closing

    @classmethod
    def open(cls, url: str, *, tables: str = "", allow_privileged: bool = False) -> SqlDatabase:
        """Open a database read-only.

        Args:
            url: A SQLite file path, ``sqlite:///relative/path`` or ``sqlite:////abs/path``,
                or a ``postgresql://`` URL (libpq syntax; a search path can be given with the
                ``options`` query parameter, e.g. ``?options=-csearch_path%3Ddemo``).
            tables: Which tables the model may see and query, comma-separated: names to
                allow only those, ``!name`` to hide one; empty for every table. A hidden
                table is absent from the schema, the prompt and the grammar, and a query
                naming it is rejected as naming an unknown table.
            allow_privileged: Run on PostgreSQL even when the role may do more than read
                (a superuser, or a role that may write or create); refused by default.

        Returns:
            The opened database, with its schema read.

        Raises:
            SqlConnectionError: The file does not exist, is not a database, the server
                cannot be reached, the PostgreSQL role is privileged, or ``tables`` names a
                table the database does not have.
        """
        text = url.strip()
        lowered = text.lower()
        if lowered.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            if lowered.startswith("postgresql+psycopg://"):
                text = "postgresql://" + text[len("postgresql+psycopg://") :]
            return cls(_PostgresBackend(text, allow_privileged=allow_privileged), tables=tables)
        if lowered.startswith("sqlite:"):
            if not lowered.startswith("sqlite:///"):
                raise SqlConnectionError(
                    f"unsupported SQLite URL {url!r}: use sqlite:///relative/path or "
                    "sqlite:////absolute/path (in-memory databases have no tables)"
                )
            text = text[len("sqlite:///") :]
        elif re.match(r"^[a-z][a-z0-9+.-]*://", lowered):
            raise SqlConnectionError(f"unsupported database URL {url!r}: use SQLite or PostgreSQL")
        path = Path(text).expanduser()
        if not path.is_file():
            raise SqlConnectionError(f"SQLite database file not found: {str(path)!r}")
        return cls(_SqliteBackend(path), tables=tables)

    def close(self) -> None:
        """Close the connection; further queries fail."""
        self._backend.close()

    def __enter__(self) -> SqlDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- schema

    def tables(self) -> dict[str, list[Column]]:
        """Return the live schema read at open: table name -> columns in table order."""
        return {name: list(columns) for name, columns in self._schema.tables.items()}

    def foreign_keys(self) -> list[tuple[str, str, str, str]]:
        """Return the live foreign keys as ``(table, column, ref_table, ref_column)``."""
        return [
            (fk.table, fk.column, fk.ref_table, fk.ref_column) for fk in self._schema.foreign_keys
        ]

    def schema_text(self, *, sample_values: bool = False, max_values: int = 12) -> str:
        """Return a compact CREATE TABLE-like description of the schema for a model prompt.

        Args:
            sample_values: Also list the distinct values of low-cardinality text columns
                (read from the database once, then cached).
            max_values: A text column is listed only if it has at most this many values.

        Returns:
            One ``CREATE TABLE`` line per table with column types, primary and foreign keys,
            optionally followed by ``-- table.column: 'a', 'b'`` lines.
        """
        refs = {(fk.table, fk.column): fk for fk in self._schema.foreign_keys}
        lines: list[str] = []
        for table, columns in self._schema.tables.items():
            pk = self._schema.primary_keys.get(table, [])
            parts: list[str] = []
            for column in columns:
                part = f"{column.name} {column.type}".rstrip()
                if pk == [column.name]:
                    part += " PRIMARY KEY"
                fk = refs.get((table, column.name))
                if fk is not None:
                    part += f" REFERENCES {fk.ref_table}({fk.ref_column})"
                parts.append(part)
            if len(pk) > 1:
                parts.append(f"PRIMARY KEY ({', '.join(pk)})")
            lines.append(f"CREATE TABLE {table} ({', '.join(parts)});")
            if sample_values:
                for column in columns:
                    values = self._distinct_values(table, column, max_values)
                    if values:
                        listed = ", ".join(_sql_literal(value) for value in values)
                        lines.append(f"--   {table}.{column.name}: {listed}")
        return "\n".join(lines)

    def text_values(
        self, *, max_values: int = 50, max_age_s: float = VALUES_MAX_AGE_S
    ) -> dict[tuple[str, str], list[str]]:
        """The values each low-cardinality text column holds, read from the live database.

        Args:
            max_values: A column is listed only if it holds at most this many values.
            max_age_s: Values read longer ago than this are read again, so that a change
                to the data reaches the grammar and the value check.

        Returns:
            ``(table, column) -> its distinct non-null values``, sorted, for every text
            column with 1 to ``max_values`` of them.
        """
        now = time.monotonic()
        if now - self._values_read_at > max_age_s:
            self._values_cache.clear()
            self._values_read_at = now
        found: dict[tuple[str, str], list[str]] = {}
        for table, columns in self._schema.tables.items():
            for column in columns:
                values = self._distinct_values(table, column, max_values)
                if values and all(isinstance(value, str) for value in values):
                    found[table, column.name] = values
        return found

    def _distinct_values(self, table: str, column: Column, max_values: int) -> list[Any] | None:
        if not any(word in column.type.upper() for word in ("TEXT", "CHAR", "STRING")):
            return None
        key = (table, column.name, max_values)
        if key not in self._values_cache:
            sql = (
                f"SELECT DISTINCT {_quote_ident(column.name)} FROM {_quote_ident(table)} "
                f"WHERE {_quote_ident(column.name)} IS NOT NULL ORDER BY 1 LIMIT {max_values + 1}"
            )
            try:
                _, rows, _ = self._backend.run(sql, max_values + 1, 10.0)
            except SqlExecutionError as err:
                logger.warning("cannot list values of %s.%s: %s", table, column.name, err)
                rows = []
            values = [row[0] for row in rows]
            self._values_cache[key] = values if 0 < len(values) <= max_values else None
        return self._values_cache[key]

    def _glot_type(self, type_name: str) -> str:
        if not type_name:
            return "UNKNOWN"
        try:
            exp.DataType.build(type_name, dialect=self.dialect)
        except Exception:  # noqa: BLE001 - any unparseable type just becomes UNKNOWN
            return "UNKNOWN"
        return type_name

    # ---------------------------------------------------------------- validation

    def validate(self, sql: str, *, read_dialect: str = "sqlite") -> str:
        """Check that ``sql`` is one read-only SELECT over known tables and columns.

        Args:
            sql: The query, possibly in a markdown fence and with a trailing semicolon.
            read_dialect: The sqlglot dialect the query is written in.

        Returns:
            The SQL to run on this database: the cleaned text when ``read_dialect`` is this
            database's dialect, otherwise the query transpiled to it.

        Raises:
            SqlValidationError: The query is empty, malformed, not a single SELECT, writes,
                calls a forbidden function, or names an unknown table or column.
            ValueError: ``read_dialect`` is not a sqlglot dialect.
        """
        dialect = _normalize_dialect(read_dialect)
        text = clean_sql(sql)
        if not text:
            raise SqlValidationError("empty query; write one SELECT statement")
        _check_size(text, self.max_query_chars)
        _check_invisible_characters(text)
        try:
            tokens = sqlglot.tokenize(text, read=dialect)
            _check_tokens(tokens, dialect, self._schema_names, self.max_paren_depth)
            parsed = sqlglot.parse(text, read=dialect)
        except ParseError as err:
            raise SqlValidationError(_parse_error_message(err)) from err
        except TokenError as err:
            raise SqlValidationError(
                "syntax error: the query cannot be tokenized; check for an unterminated string, "
                "quoted name or /* comment"
            ) from err
        except RecursionError as err:
            raise SqlValidationError(
                "query too complex to check (nested too deeply); write a simpler query"
            ) from err
        statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
        if not statements:
            raise SqlValidationError("empty query; write one SELECT statement")
        if len(statements) > 1:
            raise SqlValidationError(
                f"only one SELECT statement is allowed; found {len(statements)} statements"
            )
        try:
            return self._check_parsed(statements[0], text, dialect)
        except RecursionError as err:
            raise SqlValidationError(
                "query too complex to check (nested too deeply); write a simpler query"
            ) from err

    def _check_parsed(self, statement: exp.Expr, text: str, dialect: str) -> str:
        """Every check on the parsed statement; return the SQL to run on this database."""
        self._check_statement(statement, text, dialect)
        _check_subquery_depth(statement, self.max_subquery_depth)
        self._check_tables(statement)
        qualified = self._check_columns(statement, dialect)
        _check_set_operation_order(statement)
        self._check_cartesian(qualified)
        if dialect == self.dialect:
            return text
        sql = qualified.sql(dialect=self.dialect)
        # What runs is the transpiled text: check it again, in the database's own dialect.
        try:
            transpiled = sqlglot.parse_one(sql, read=self.dialect)
        except (ParseError, TokenError) as err:
            raise SqlValidationError(
                f"the query cannot be translated to {_DIALECT_NAMES[self.dialect]}; "
                "write it more simply"
            ) from err
        self._check_statement(transpiled, sql, self.dialect)
        self._check_tables(transpiled)
        return sql

    def _check_statement(self, statement: exp.Expr, text: str, dialect: str) -> None:
        """The statement kind, then the allow-list of ``tools.sql_policy``.

        The writes and admin statements named in ``_FORBIDDEN_NODES`` are looked for first
        only to say precisely what was found; the allow-list alone is the wall.
        """
        if not isinstance(statement, _ALLOWED_ROOTS):
            raise SqlValidationError(
                f"only SELECT queries are allowed, not {_statement_kind(statement, text)}"
            )
        for node in statement.walk():
            for node_type, label in _FORBIDDEN_NODES:
                if isinstance(node, node_type):
                    if node_type is exp.Command:
                        label = str(node.this).upper()
                    raise SqlValidationError(
                        f"only read-only SELECT queries are allowed; found {label} inside the query"
                    )
            if isinstance(node, exp.Into):
                raise SqlValidationError("SELECT ... INTO is not allowed; use a plain SELECT")
            if isinstance(node, exp.Lock):
                raise SqlValidationError("FOR UPDATE / FOR SHARE is not allowed in a read query")
        for node in statement.walk():
            reason = check_node(node, dialect)
            if reason is not None:
                raise SqlValidationError(reason)

    def _check_tables(self, statement: exp.Expr) -> None:
        """Every FROM / JOIN source is a CTE visible where it is named, or a known table."""
        for table in statement.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                function = table.this.sql_name() if isinstance(table.this, exp.Func) else ""
                if isinstance(table.this, exp.Anonymous):
                    function = str(table.this.name)
                raise SqlValidationError(
                    f"table-valued function `{function.lower() or table.sql()[:40]}` is not "
                    f"allowed; select from the tables: {', '.join(self._schema.tables)}"
                )
            name = table.name
            if table.args.get("db") or table.args.get("catalog"):
                raise SqlValidationError(
                    f"write the bare table name `{name}` without a schema prefix "
                    f"(`{table.sql()}` is not allowed)"
                )
            if name.lower() in _visible_ctes(table) or name.lower() in self._lower_tables:
                continue
            available = ", ".join(self._schema.tables)
            suggestion = _suggest(name, self._schema.tables)
            raise SqlValidationError(
                f"no table `{name}`{_did_you_mean(suggestion)} tables: {available}"
                if suggestion
                else f"no table `{name}`; tables: {available}"
            )

    def _check_columns(self, statement: exp.Expr, dialect: str) -> exp.Expr:
        """Resolve every column with sqlglot's qualifier; return the qualified tree."""
        try:
            qualified = qualify(
                statement.copy(),
                dialect=dialect,
                schema=self._glot_schema,
                expand_alias_refs=True,
                expand_stars=True,
                validate_qualify_columns=True,
                quote_identifiers=False,
                identify=False,
            )
        except OptimizeError as err:
            message = self._diagnose_columns(statement) or _optimize_error_message(err)
            raise SqlValidationError(message) from err
        except RecursionError:
            raise
        except Exception as err:  # noqa: BLE001 - names that cannot be checked are not trusted
            logger.warning("sqlglot could not qualify the query", exc_info=True)
            raise SqlValidationError(
                "the column names of this query cannot be checked; write a simpler query"
            ) from err
        _drop_generated_aliases(qualified)
        return qualified

    def _check_cartesian(self, qualified: exp.Expr) -> None:
        """Reject a FROM clause whose tables are not all tied together by a join condition.

        Sources count as joined by USING / NATURAL, or by an ON / WHERE conjunct that is an
        equality with columns of one source on one side and of another on the other
        (``<>``, ``OR`` and conditions inside subqueries tie nothing). A derived table of at
        most one row (an aggregate without GROUP BY or window, LIMIT 1) may be cross-joined
        freely.
        """
        try:
            scopes = traverse_scope(qualified)
        except RecursionError:
            raise
        except Exception as err:  # noqa: BLE001 - joins that cannot be checked are not trusted
            raise SqlValidationError(
                "the joins of this query cannot be checked; write a simpler query"
            ) from err
        for scope in scopes:
            select = scope.expression
            if not isinstance(select, exp.Select):
                continue
            names: dict[str, str | None] = {}  # alias -> base table (None: derived)
            for alias, (_node, source) in scope.selected_sources.items():
                if isinstance(source, exp.Table):
                    if not isinstance(source.this, exp.Identifier):
                        continue  # a table-valued function such as json_each(...)
                    names[alias] = self._lower_tables.get(source.name.lower(), source.name)
                elif isinstance(source, Scope) and not _single_row(source):
                    names[alias] = None
            if len(names) < 2:
                continue
            parent = {alias: alias for alias in names}

            def find(alias: str, parent: dict[str, str] = parent) -> str:
                while parent[alias] != alias:
                    alias = parent[alias]
                return alias

            conditions = _conjuncts(select.args.get("where"))
            for join in select.args.get("joins") or []:
                conditions += _conjuncts(join.args.get("on"))
                if join.args.get("using") or join.args.get("method") == "NATURAL":
                    joined = join.this.alias_or_name
                    if joined in parent:
                        for alias in names:
                            parent[find(alias)] = find(joined)
            for condition in conditions:
                tied = _equi_join(condition, select, names.keys())
                if tied is not None:
                    parent[find(tied[1])] = find(tied[0])
            groups: dict[str, list[str]] = {}
            for alias in names:
                groups.setdefault(find(alias), []).append(alias)
            if len(groups) > 1:
                first, second = (group[0] for group in list(groups.values())[:2])
                raise SqlValidationError(self._cartesian_message(first, second, names))

    def _cartesian_message(self, first: str, second: str, names: dict[str, str | None]) -> str:
        def label(alias: str) -> str:
            table = names[alias]
            return f"`{table}`" if table == alias or table is None else f"`{table}` (`{alias}`)"

        message = (
            f"cartesian product: {label(first)} and {label(second)} are not joined, so every "
            "row of one is paired with every row of the other"
        )
        left, right = names[first], names[second]
        for fk in self._schema.foreign_keys:
            for a, b, alias_a, alias_b in (
                (left, right, first, second),
                (right, left, second, first),
            ):
                if fk.table == a and fk.ref_table == b:
                    return (
                        f"{message}; add a join condition, e.g. "
                        f"ON {alias_a}.{fk.column} = {alias_b}.{fk.ref_column}"
                    )
        return f"{message}; add JOIN ... ON with the matching columns"

    # ---------------------------------------------------------------- column diagnostics

    def _scope_sources(self, scope: Scope) -> dict[str, _Source]:
        sources: dict[str, _Source] = {}
        for alias, source in scope.sources.items():
            if isinstance(source, exp.Table):
                table = self._lower_tables.get(source.name.lower())
                label = f"table `{source.name}`"
                if alias.lower() != source.name.lower():
                    label += f" (alias `{alias}`)"
                columns = self._lower_columns.get(table.lower()) if table else None
                sources[alias.lower()] = _Source(alias, label, table, columns)
            elif isinstance(source, Scope):
                names = list(getattr(source.expression, "named_selects", []) or [])
                known = None if "*" in names or not names else [n.lower() for n in names]
                kind = "CTE" if source.is_cte else "subquery"
                sources[alias.lower()] = _Source(alias, f"{kind} `{alias}`", None, known)
        return sources

    def _outer_sources(self, scope: Scope) -> dict[str, _Source]:
        found: dict[str, _Source] = {}
        parent = scope.parent
        while parent is not None:
            for alias, source in self._scope_sources(parent).items():
                found.setdefault(alias, source)
            parent = parent.parent
        return found

    def _column_hint(self, name: str, in_scope: dict[str, _Source]) -> str:
        """Explain where an unknown column really lives, if some other table has it."""
        scope_tables = {s.table for s in in_scope.values() if s.table}
        holders = [
            table
            for table in self._schema.tables
            if table not in scope_tables and name.lower() in self._lower_columns[table.lower()]
        ]
        if not holders:
            return ""
        holder = holders[0]
        for fk in self._schema.foreign_keys:
            if fk.table in scope_tables and fk.ref_table == holder:
                on = f"{holder}.{fk.ref_column} = {fk.table}.{fk.column}"
                return f"; `{name}` is a column of `{holder}`: JOIN {holder} ON {on}"
            if fk.ref_table in scope_tables and fk.table == holder:
                on = f"{holder}.{fk.column} = {fk.ref_table}.{fk.ref_column}"
                return f"; `{name}` is a column of `{holder}`: JOIN {holder} ON {on}"
        return f"; `{name}` is a column of table `{holder}`, which is not in the FROM clause"

    def _diagnose_columns(self, statement: exp.Expr) -> str | None:
        """Explain, for a model, why the qualifier rejected ``statement`` (None if unsure)."""
        try:
            scopes = traverse_scope(statement.copy())
        except Exception:  # noqa: BLE001 - diagnostics are best effort
            return None
        ambiguous: str | None = None
        for scope in scopes:
            sources = self._scope_sources(scope)
            outer = self._outer_sources(scope)
            outputs = _output_aliases(scope.expression)
            using: set[str] = set()
            for join in scope.expression.args.get("joins") or []:
                names = [ident.name for ident in join.args.get("using") or []]
                using.update(name.lower() for name in names)
                problem = self._using_problem(join, names, sources)
                if problem:
                    return problem
            for column in scope.columns:
                name = column.name
                if not name or isinstance(column.this, exp.Star):
                    continue
                quoted_hint = ""
                if isinstance(column.this, exp.Identifier) and column.this.quoted:
                    quoted_hint = f"; for a text value use single quotes: '{name}'"
                qualifier = column.table
                if qualifier:
                    source = sources.get(qualifier.lower()) or outer.get(qualifier.lower())
                    if source is None:
                        in_scope = ", ".join(s.label for s in sources.values()) or "none"
                        suggestion = _suggest(qualifier, [s.alias for s in sources.values()])
                        return (
                            f"unknown table or alias `{qualifier}` in `{qualifier}.{name}`"
                            f"{_did_you_mean(suggestion)}; tables in scope: {in_scope}"
                        )
                    if source.columns is None or name.lower() in source.columns:
                        continue
                    suggestion = _suggest(name, source.columns)
                    other = [
                        s
                        for s in sources.values()
                        if s is not source and s.columns and name.lower() in s.columns
                    ]
                    if suggestion is None and other:
                        return (
                            f"no column `{name}` in {source.label}; use `{other[0].alias}.{name}`"
                        )
                    message = f"no column `{name}` in {source.label}"
                    if suggestion:
                        return f"{message}; did you mean `{qualifier}.{suggestion}`?"
                    return message + self._column_hint(name, sources) + quoted_hint
                holders = [s for s in sources.values() if s.columns and name.lower() in s.columns]
                if len(holders) > 1 and name.lower() not in using:
                    ambiguous = ambiguous or (
                        f"column `{name}` is ambiguous: it is in "
                        + " and ".join(s.label for s in holders)
                        + f"; qualify it, e.g. `{holders[0].alias}.{name}`"
                    )
                    continue
                if holders or (name.lower() in outputs and not _in_select_list(column, scope)):
                    continue
                if any(s.columns is None for s in sources.values()):
                    continue
                if any(s.columns and name.lower() in s.columns for s in outer.values()):
                    continue  # a correlated reference to an outer query
                return self._unknown_column_message(name, sources) + quoted_hint
        return ambiguous

    @staticmethod
    def _using_problem(join: exp.Expr, names: list[str], sources: dict[str, _Source]) -> str | None:
        joined_alias = join.this.alias_or_name.lower() if join.this is not None else ""
        joined = sources.get(joined_alias)
        others = [source for alias, source in sources.items() if alias != joined_alias]
        for name in names:
            if joined is not None and joined.columns is not None:
                if name.lower() not in joined.columns:
                    return f"JOIN ... USING ({name}): no column `{name}` in {joined.label}"
            if others and all(
                s.columns is not None and name.lower() not in s.columns for s in others
            ):
                return (
                    f"JOIN ... USING ({name}): no table before the JOIN has a column `{name}`; "
                    "use JOIN ... ON with the matching columns instead"
                )
        return None

    def _unknown_column_message(self, name: str, sources: dict[str, _Source]) -> str:
        known = [s for s in sources.values() if s.columns is not None]
        if not known:
            return f"no column `{name}`: the query has no FROM clause"
        if len(known) == 1:
            only = known[0]
            suggestion = _suggest(name, only.columns or [])
            message = f"no column `{name}` in {only.label}{_did_you_mean(suggestion)}"
            return message if suggestion else message + self._column_hint(name, sources)
        qualified = {f"{s.alias}.{c}": c for s in known for c in s.columns or []}
        bare = _suggest(name, list(qualified.values()))
        suggestion = next((q for q, c in qualified.items() if c == bare), None) if bare else None
        labels = " or ".join(s.label for s in known)
        message = f"no column `{name}` in {labels}{_did_you_mean(suggestion)}"
        return message if suggestion else message + self._column_hint(name, sources)

    # ---------------------------------------------------------------- execution

    def execute(self, sql: str, *, row_limit: int = 100, timeout_s: float = 10.0) -> QueryResult:
        """Run already-validated SQL read-only.

        A ``LIMIT row_limit + 1`` is appended to a SELECT that has no LIMIT, so that
        truncation can be detected; at most ``row_limit`` rows are returned in any case.

        Args:
            sql: SQL in this database's dialect, normally the output of :meth:`validate`.
            row_limit: Most rows to return.
            timeout_s: Statement timeout in seconds.

        Returns:
            The query's result.

        Raises:
            SqlExecutionError: The database reported an error, the query timed out, or it
                tried to write.
            ValueError: ``row_limit`` is negative or ``timeout_s`` is not positive.
        """
        if row_limit < 0:
            raise ValueError("row_limit must be >= 0")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        text = clean_sql(sql)
        if not text:
            raise SqlExecutionError("empty query")
        text = self._with_limit(text, row_limit + 1)
        started = time.perf_counter()
        columns, raw_rows, cut_short = self._backend.run(text, row_limit + 1, timeout_s)
        elapsed = time.perf_counter() - started
        truncated = cut_short or len(raw_rows) > row_limit
        rows = [[_json_value(value) for value in row] for row in raw_rows[:row_limit]]
        logger.debug(
            "%s query returned %d rows%s in %.3fs",
            self.dialect,
            len(rows),
            " (truncated)" if truncated else "",
            elapsed,
        )
        return QueryResult(
            sql=text, columns=columns, rows=rows, truncated=truncated, elapsed_s=elapsed
        )

    def run(
        self,
        sql: str,
        *,
        read_dialect: str = "sqlite",
        row_limit: int = 100,
        timeout_s: float = 10.0,
    ) -> QueryResult:
        """Validate ``sql`` (see :meth:`validate`) and execute it (see :meth:`execute`).

        Raises:
            SqlValidationError: The query was rejected before execution.
            SqlExecutionError: The database failed the query.
        """
        return self.execute(
            self.validate(sql, read_dialect=read_dialect), row_limit=row_limit, timeout_s=timeout_s
        )

    def _with_limit(self, text: str, limit: int) -> str:
        """Append ``LIMIT limit`` to a lone SELECT / set operation that has none."""
        try:
            parsed = [
                s
                for s in sqlglot.parse(text, read=self.dialect)
                if s is not None and not isinstance(s, exp.Semicolon)
            ]
        except (ParseError, TokenError):
            return text  # let the database report the error
        if len(parsed) != 1 or not isinstance(parsed[0], _ALLOWED_ROOTS):
            return text
        if parsed[0].args.get("limit") is not None or parsed[0].args.get("fetch") is not None:
            return text
        # A newline, so that a trailing `-- comment` cannot swallow the LIMIT.
        return f"{text}\nLIMIT {limit}"


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(_json_value(value))
