"""SOQL for the sandbox: the supported subset, translated into SQLite SQL.

The statement goes through the same lexer, rewriter and sqlglot parse as the client's
validation (``tools.salesforce``), is checked against the sandbox's describe() the same
way (so unknown objects and fields come back as ``INVALID_TYPE`` / ``INVALID_FIELD``), and
the tree is then translated into one parameterised SQLite statement: every value becomes a
``?`` parameter, parent relationship paths become LEFT JOINs.

Supported: field lists with parent paths (``Account.Name``, ``Contact.Account.Name``),
``FIELDS(ALL|STANDARD)``, WHERE with AND/OR/NOT, comparisons, IN / NOT IN (lists and
``Id IN (SELECT ...)`` semi-joins), LIKE, ``= null``, date literals and ISO dates,
date functions (``CALENDAR_YEAR`` ...), COUNT(), COUNT/COUNT_DISTINCT/SUM/AVG/MIN/MAX with
GROUP BY and HAVING, ORDER BY ... ASC/DESC NULLS FIRST/LAST, LIMIT, OFFSET. Anything else
(child sub-queries, TYPEOF, toLabel(), GROUP BY ROLLUP, ...) is refused with a
``MALFORMED_QUERY`` error saying it is not emulated.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import sqlglot
from sqlglot import exp

from tools.salesforce import SoqlValidationError, clean_soql, to_18_char_id
from tools.salesforce.checker import _Checker
from tools.salesforce.metadata import _ObjectInfo
from tools.salesforce.soql import _FN_PREFIX, _PLACEHOLDER_RE, _lex, _Rewriter, _Value
from tools.salesforce_sandbox.schema import (
    OBJECTS,
    FieldSpec,
    ObjectSpec,
    describe_object,
    field_spec,
    object_spec,
)

__all__ = ["QueryPlan", "SelectItem", "date_range", "translate"]


class NotEmulated(SoqlValidationError):
    """Valid SOQL that the sandbox does not emulate."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} is not emulated by the offline sandbox (it runs a subset of SOQL); "
            "use a real org for it",
            code="MALFORMED_QUERY",
        )


@dataclass
class SelectItem:
    """One output column of a query."""

    key: str  # the record key: field name, alias or exprN
    sql: str  # the SQL expression (a column alias in the generated statement)
    path: list[str]  # canonical relationship path + field name; empty for functions
    ftype: str  # describe type of the field, or the function's result type
    aggregate: bool = False


@dataclass
class QueryPlan:
    """A translated query, ready to run on the sandbox database."""

    sobject: str
    sql: str
    params: list[Any]
    items: list[SelectItem]
    parents: dict[tuple[str, ...], tuple[str, str]]  # path -> (object, Id column alias)
    aggregate: bool
    bare_count: bool


# --------------------------------------------------------------------------------------
# Date literals
# --------------------------------------------------------------------------------------

_UNITS: Final = {"DAY": "day", "WEEK": "week", "MONTH": "month", "QUARTER": "quarter",
                 "YEAR": "year"}  # fmt: skip


def _start(day: dt.date, unit: str) -> dt.date:
    if unit == "week":  # weeks start on Sunday (en_US)
        return day - dt.timedelta(days=(day.weekday() + 1) % 7)
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    return day


def _add(day: dt.date, unit: str, n: int) -> dt.date:
    if unit == "day":
        return day + dt.timedelta(days=n)
    if unit == "week":
        return day + dt.timedelta(weeks=n)
    months = {"month": 1, "quarter": 3, "year": 12}[unit] * n
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return day.replace(year=year, month=month + 1, day=min(day.day, last))


def date_range(literal: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """Return the half-open day range ``[start, end)`` a SOQL date literal stands for.

    Fiscal literals use the calendar year (the default fiscal year of an org).

    Args:
        literal: ``TODAY``, ``LAST_N_DAYS:30``, ``THIS_FISCAL_QUARTER``, ...
        today: The current day.

    Returns:
        The first day in the range and the first day after it.

    Raises:
        SoqlValidationError: The literal is unknown or reaches outside the calendar.
    """
    try:
        return _date_range(literal, today)
    except (OverflowError, ValueError):
        raise SoqlValidationError(
            f"the date literal {literal} reaches outside the calendar", code="MALFORMED_QUERY"
        ) from None


def _date_range(literal: str, today: dt.date) -> tuple[dt.date, dt.date]:
    name, _, arg = literal.upper().partition(":")
    name = name.replace("FISCAL_", "")
    n = int(arg) if arg else 0
    if name == "YESTERDAY":
        return today - dt.timedelta(days=1), today
    if name == "TODAY":
        return today, today + dt.timedelta(days=1)
    if name == "TOMORROW":
        return today + dt.timedelta(days=1), today + dt.timedelta(days=2)
    if name in ("LAST_90_DAYS", "NEXT_90_DAYS"):
        name, n = name.replace("90", "N"), 90
    if name == "LAST_N_DAYS":
        return today - dt.timedelta(days=n), today + dt.timedelta(days=1)
    if name == "NEXT_N_DAYS":
        return today, today + dt.timedelta(days=n + 1)
    match = re.fullmatch(r"(LAST|THIS|NEXT)_(WEEK|MONTH|QUARTER|YEAR)", name)
    if match:
        unit = _UNITS[match.group(2)]
        offset = {"LAST": -1, "THIS": 0, "NEXT": 1}[match.group(1)]
        begin = _add(_start(today, unit), unit, offset)
        return begin, _add(begin, unit, 1)
    match = re.fullmatch(r"(LAST|NEXT)_N_(DAY|WEEK|MONTH|QUARTER|YEAR)S", name)
    if match:
        unit = _UNITS[match.group(2)]
        current = _start(today, unit)
        if match.group(1) == "LAST":
            return _add(current, unit, -n), current
        return _add(current, unit, 1), _add(current, unit, 1 + n)
    match = re.fullmatch(r"N_(DAY|WEEK|MONTH|QUARTER|YEAR)S_AGO", name)
    if match:
        unit = _UNITS[match.group(1)]
        begin = _add(_start(today, unit), unit, -n)
        return begin, _add(begin, unit, 1)
    raise NotEmulated(f"the date literal {literal}")


def _datetime_text(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00.000+0000"


def _normalise_datetime(text: str) -> str:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


# --------------------------------------------------------------------------------------
# Translation
# --------------------------------------------------------------------------------------

_DATE_FUNCTION_SQL: Final[Mapping[str, str]] = {
    "CALENDAR_YEAR": "CAST(strftime('%Y', substr({0}, 1, 19)) AS INTEGER)",
    "FISCAL_YEAR": "CAST(strftime('%Y', substr({0}, 1, 19)) AS INTEGER)",
    "CALENDAR_MONTH": "CAST(strftime('%m', substr({0}, 1, 19)) AS INTEGER)",
    "FISCAL_MONTH": "CAST(strftime('%m', substr({0}, 1, 19)) AS INTEGER)",
    "CALENDAR_QUARTER": "((CAST(strftime('%m', substr({0}, 1, 19)) AS INTEGER) + 2) / 3)",
    "FISCAL_QUARTER": "((CAST(strftime('%m', substr({0}, 1, 19)) AS INTEGER) + 2) / 3)",
    "DAY_IN_MONTH": "CAST(strftime('%d', substr({0}, 1, 19)) AS INTEGER)",
    "DAY_IN_WEEK": "(CAST(strftime('%w', substr({0}, 1, 19)) AS INTEGER) + 1)",
    "DAY_IN_YEAR": "CAST(strftime('%j', substr({0}, 1, 19)) AS INTEGER)",
    "HOUR_IN_DAY": "CAST(strftime('%H', substr({0}, 1, 19)) AS INTEGER)",
    "WEEK_IN_YEAR": "((CAST(strftime('%j', substr({0}, 1, 19)) AS INTEGER) - 1) / 7 + 1)",
    "WEEK_IN_MONTH": "((CAST(strftime('%d', substr({0}, 1, 19)) AS INTEGER) - 1) / 7 + 1)",
    "DAY_ONLY": "substr({0}, 1, 10)",
}
_AGGREGATE_SQL: Final[Mapping[str, str]] = {
    "COUNT": "COUNT({0})",
    "COUNT_DISTINCT": "COUNT(DISTINCT {0})",
    "SUM": "SUM({0})",
    "AVG": "AVG({0})",
    "MIN": "MIN({0})",
    "MAX": "MAX({0})",
}
_SQL_OPS: Final = {exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<",
                   exp.LTE: "<="}  # fmt: skip


class _LenientChecker(_Checker):
    """The client's checks, minus the picklist check: a real org filters on any value."""

    @staticmethod
    def _check_picklist(fld: Mapping[str, Any], value: str) -> None:
        return None


def _info(name: str) -> _ObjectInfo | None:
    described = describe_object(name)
    return None if described is None else _ObjectInfo.from_describe(name, described)


def _names() -> list[str]:
    return list(OBJECTS)


@dataclass
class _Scope:
    """One SELECT being translated: its object, table alias, joins and aliases."""

    spec: ObjectSpec
    alias: str
    soql_alias: str | None
    joins: dict[tuple[str, ...], tuple[str, ObjectSpec]] = field(default_factory=dict)
    join_sql: list[str] = field(default_factory=list)
    select_aliases: dict[str, str] = field(default_factory=dict)


class _Translator:
    def __init__(self, values: Mapping[int, _Value], today: dt.date) -> None:
        self._values = values
        self._today = today
        self._params: list[Any] = []
        self._counter = 0

    def _new_alias(self) -> str:
        self._counter += 1
        return f"t{self._counter}"

    # -- paths -------------------------------------------------------------------------

    def _column(self, scope: _Scope, node: exp.Expr) -> tuple[str, FieldSpec, list[str]]:
        parts = [p.name for p in node.parts] if isinstance(node, exp.Column | exp.Dot) else []
        if len(parts) > 1:
            head = parts[0].lower()
            if scope.soql_alias and head == scope.soql_alias.lower():
                parts = parts[1:]
            elif head == scope.spec.name.lower() and not any(
                (f.relationship_name or "").lower() == head for f in scope.spec.fields
            ):
                parts = parts[1:]
        current, alias = scope.spec, scope.alias
        trail: tuple[str, ...] = ()
        canonical: list[str] = []
        for part in parts[:-1]:
            ref = next(
                (f for f in current.fields if (f.relationship_name or "").lower() == part.lower()),
                None,
            )
            target = object_spec(ref.reference_to or "") if ref is not None else None
            if ref is None or target is None or ref.relationship_name is None:
                raise SoqlValidationError(f"no relationship `{part}`", code="INVALID_FIELD")
            trail = (*trail, ref.relationship_name)
            canonical.append(ref.relationship_name)
            joined = scope.joins.get(trail)
            if joined is None:
                new = self._new_alias()
                scope.join_sql.append(
                    f'LEFT JOIN "{target.name}" {new} ON {new}."Id" = {alias}."{ref.name}"'
                )
                joined = (new, target)
                scope.joins[trail] = joined
            alias, current = joined
        spec = field_spec(current, parts[-1]) if parts else None
        if spec is None:
            raise SoqlValidationError(f"no field `{'.'.join(parts)}`", code="INVALID_FIELD")
        canonical.append(spec.name)
        return f'{alias}."{spec.name}"', spec, canonical

    # -- values ------------------------------------------------------------------------

    def _param(self, value: Any) -> str:
        self._params.append(value)
        return "?"

    def _literal(self, node: exp.Expr, ftype: str) -> Any:
        """A Python value for a literal operand, or a ``(start, end)`` date range."""
        if isinstance(node, exp.Null):
            return None
        if isinstance(node, exp.Boolean):
            return 1 if node.this else 0
        negative = isinstance(node, exp.Neg)
        if negative:
            node = node.this
        if not isinstance(node, exp.Literal):
            raise NotEmulated(f"the operand `{node.sql()}`")
        if not node.is_string:
            text = str(node.this)
            number = float(text) if "." in text else int(text)
            return -number if negative else number
        match = _PLACEHOLDER_RE.match(node.this)
        if match is None:
            return node.this
        value = self._values[int(match.group(1))]
        if value.kind == "date_literal":
            start, end = date_range(value.value, self._today)
            if ftype == "datetime":
                return (_datetime_text(start), _datetime_text(end))
            return (start.isoformat(), end.isoformat())
        if value.kind == "datetime":
            return _normalise_datetime(value.value)
        if value.kind == "date":
            return (
                _datetime_text(dt.date.fromisoformat(value.value))
                if ftype == "datetime"
                else (value.value)
            )
        if ftype in ("id", "reference") and len(value.value) == 15:
            return to_18_char_id(value.value)
        return value.value

    # -- expressions -------------------------------------------------------------------

    def _operand(self, scope: _Scope, node: exp.Expr) -> tuple[str, str]:
        """SQL and type of a field or function on the left of a comparison."""
        if isinstance(node, exp.Column | exp.Dot):
            parts = [p.name for p in node.parts]
            if len(parts) == 1 and parts[0].lower() in scope.select_aliases:
                return scope.select_aliases[parts[0].lower()], "double"
            sql, spec, _ = self._column(scope, node)
            return sql, spec.type
        if isinstance(node, exp.Anonymous):
            return self._function(scope, node)
        if isinstance(node, exp.Paren):
            return self._operand(scope, node.this)
        raise NotEmulated(f"the expression `{node.sql()}`")

    def _function(self, scope: _Scope, node: exp.Anonymous) -> tuple[str, str]:
        name = str(node.name).upper().removeprefix(_FN_PREFIX)
        args = list(node.expressions)
        if name == "COUNT" and not args:
            return "COUNT(*)", "int"
        if name in _AGGREGATE_SQL:
            inner, ftype = self._operand(scope, args[0])
            result = {"COUNT": "int", "COUNT_DISTINCT": "int", "AVG": "double"}.get(name, ftype)
            if name == "SUM" and ftype == "int":
                result = "int"
            return _AGGREGATE_SQL[name].format(inner), result
        if name in _DATE_FUNCTION_SQL:
            inner, _ = self._operand(scope, args[0])
            ftype = "date" if name == "DAY_ONLY" else "int"
            return _DATE_FUNCTION_SQL[name].format(inner), ftype
        raise NotEmulated(f"the function {name}()")

    def _condition(self, scope: _Scope, node: exp.Expr) -> str:
        if isinstance(node, exp.Paren):
            return self._condition(scope, node.this)
        if isinstance(node, exp.And | exp.Or):
            word = "AND" if isinstance(node, exp.And) else "OR"
            left = self._condition(scope, node.this)
            return f"({left} {word} {self._condition(scope, node.expression)})"
        if isinstance(node, exp.Not):
            return f"(NOT {self._condition(scope, node.this)})"
        if isinstance(node, exp.In):
            return self._in(scope, node)
        if isinstance(node, exp.Like):
            left, _ = self._operand(scope, node.this)
            pattern = self._like_pattern(node.expression)
            return f"COALESCE({left} LIKE {self._param(pattern)} ESCAPE '\\', 0)"
        for cls, op in _SQL_OPS.items():
            if isinstance(node, cls):
                left, ftype = self._operand(scope, node.this)
                return self._compare(left, op, self._literal(node.expression, ftype))
        raise NotEmulated(f"the condition `{node.sql()}`")

    def _compare(self, left: str, op: str, value: Any) -> str:
        if value is None:
            if op == "=":
                return f"({left} IS NULL)"
            if op == "!=":
                return f"({left} IS NOT NULL)"
            return "0"
        if isinstance(value, tuple):
            start, end = value
            if op == "=":
                return f"({left} >= {self._param(start)} AND {left} < {self._param(end)})"
            if op == "!=":
                s = self._param(start)
                return f"({left} IS NULL OR {left} < {s} OR {left} >= {self._param(end)})"
            bound = {"<": ("<", start), "<=": ("<", end), ">": (">=", end), ">=": (">=", start)}
            sql_op, edge = bound[op]
            return f"COALESCE({left} {sql_op} {self._param(edge)}, 0)"
        if op == "!=":
            return f"({left} IS NULL OR {left} != {self._param(value)})"
        return f"COALESCE({left} {op} {self._param(value)}, 0)"

    def _in(self, scope: _Scope, node: exp.In) -> str:
        left, ftype = self._operand(scope, node.this)
        query = node.args.get("query")
        if query is not None:
            select = query.this if isinstance(query, exp.Subquery) else query
            if not isinstance(select, exp.Select):
                raise NotEmulated("this sub-query")
            inner = self._select(select, semi=True)
            return f"COALESCE({left} IN ({inner}), 0)"
        values = [self._literal(v, ftype) for v in node.expressions]
        ranges = [v for v in values if isinstance(v, tuple)]
        if ranges:
            return "(" + " OR ".join(self._compare(left, "=", v) for v in values) + ")"
        plain = [v for v in values if v is not None]
        parts = []
        if plain:
            marks = ", ".join(self._param(v) for v in plain)
            parts.append(f"COALESCE({left} IN ({marks}), 0)")
        if len(plain) != len(values):
            parts.append(f"({left} IS NULL)")
        return "(" + " OR ".join(parts or ["0"]) + ")"

    def _like_pattern(self, node: exp.Expr) -> str:
        if not isinstance(node, exp.Literal) or not node.is_string:
            raise SoqlValidationError("LIKE takes a quoted pattern", code="MALFORMED_QUERY")
        match = _PLACEHOLDER_RE.match(node.this)
        raw = self._values[int(match.group(1))].raw[1:-1] if match else str(node.this)
        out: list[str] = []
        i = 0
        while i < len(raw):
            char = raw[i]
            if char == "\\" and i + 1 < len(raw):
                nxt = raw[i + 1]
                if nxt in "%_\\":
                    out.append("\\" + nxt)
                else:
                    out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
                i += 2
                continue
            out.append(char)
            i += 1
        return "".join(out)

    # -- statements --------------------------------------------------------------------

    def plan(self, select: exp.Select) -> QueryPlan:
        scope = self._scope(select)
        items, bare_count, aggregate = self._items(scope, select)
        sql = self._assemble(scope, select, items, bare_count)
        parents: dict[tuple[str, ...], tuple[str, str]] = {
            (): (scope.spec.name, f"{scope.alias}__Id")
        }
        for path, (alias, spec) in scope.joins.items():
            parents[path] = (spec.name, f"{alias}__Id")
        return QueryPlan(
            sobject=scope.spec.name,
            sql=sql,
            params=self._params,
            items=items,
            parents=parents,
            aggregate=aggregate,
            bare_count=bare_count,
        )

    def _scope(self, select: exp.Select) -> _Scope:
        source = select.args.get("from_") or select.args.get("from")
        table = source.this if isinstance(source, exp.From) else None
        spec = object_spec(table.name) if isinstance(table, exp.Table) else None
        if spec is None or not isinstance(table, exp.Table):
            raise SoqlValidationError("FROM must name one object", code="INVALID_TYPE")
        return _Scope(spec, self._new_alias(), table.alias or None)

    def _items(self, scope: _Scope, select: exp.Select) -> tuple[list[SelectItem], bool, bool]:
        items: list[SelectItem] = []
        bare_count = False
        aggregate = select.args.get("group") is not None
        expr_index = 0
        for item in select.expressions:
            node, alias = (item.this, item.alias) if isinstance(item, exp.Alias) else (item, None)
            if isinstance(node, exp.Subquery):
                raise NotEmulated("a child relationship sub-query in SELECT")
            if isinstance(node, exp.Anonymous):
                fn = str(node.name).upper().removeprefix(_FN_PREFIX)
                if fn == "FIELDS":
                    for spec in scope.spec.fields:
                        column = exp.column(spec.name, quoted=True)
                        sql, fspec, path = self._column(scope, column)
                        items.append(SelectItem(fspec.name, sql, path, fspec.type))
                    continue
                if fn == "COUNT" and not node.expressions:
                    bare_count = True
                    continue
                sql, ftype = self._function(scope, node)
                is_agg = fn in _AGGREGATE_SQL
                aggregate = aggregate or is_agg
                key = alias or f"expr{expr_index}"
                if alias is None:
                    expr_index += 1
                if alias:
                    scope.select_aliases[alias.lower()] = sql
                items.append(SelectItem(key, sql, [], ftype, aggregate=is_agg))
                continue
            if isinstance(node, exp.Column | exp.Dot):
                sql, fspec, path = self._column(scope, node)
                items.append(SelectItem(alias or fspec.name, sql, path, fspec.type))
                continue
            raise NotEmulated(f"`{node.sql()}` in SELECT")
        if bare_count and select.args.get("group") is not None:
            raise NotEmulated("COUNT() with GROUP BY")
        return items, bare_count, aggregate

    def _tail(self, scope: _Scope, select: exp.Select) -> list[str]:
        clauses: list[str] = []
        where = select.args.get("where")
        if where is not None:
            clauses.append("WHERE " + self._condition(scope, where.this))
        group = select.args.get("group")
        if group is not None:
            if group.args.get("rollup") or group.args.get("cube"):
                raise NotEmulated("GROUP BY ROLLUP / CUBE")
            keys = [self._operand(scope, g)[0] for g in group.expressions]
            clauses.append("GROUP BY " + ", ".join(keys))
        having = select.args.get("having")
        if having is not None:
            clauses.append("HAVING " + self._condition(scope, having.this))
        return clauses

    def _order_limit(self, scope: _Scope, select: exp.Select) -> list[str]:
        clauses: list[str] = []
        order = select.args.get("order")
        if order is not None:
            keys = []
            for ordered in order.expressions:
                sql, _ = self._operand(scope, ordered.this)
                desc = bool(ordered.args.get("desc"))
                nulls_first = ordered.args.get("nulls_first")
                if nulls_first is None:
                    nulls_first = not desc
                keys.append(
                    f"{sql} {'DESC' if desc else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}"
                )
            clauses.append("ORDER BY " + ", ".join(keys))
        limit = select.args.get("limit")
        offset = select.args.get("offset")
        if limit is not None or offset is not None:
            count = int(limit.expression.this) if limit is not None else -1
            clauses.append(f"LIMIT {count}")
            if offset is not None:
                clauses.append(f"OFFSET {int(offset.expression.this)}")
        return clauses

    def _assemble(
        self, scope: _Scope, select: exp.Select, items: list[SelectItem], bare_count: bool
    ) -> str:
        # Parameters must appear in the order of the statement: the SELECT list holds none,
        # so translate the clauses first and the joins they add go before WHERE.
        tail = self._tail(scope, select)
        order = self._order_limit(scope, select)
        if bare_count:
            inner = f'SELECT 1 FROM "{scope.spec.name}" {scope.alias} ' + " ".join(
                [*scope.join_sql, *tail, *order]
            )
            return f"SELECT COUNT(*) FROM ({inner})"
        columns = [f'{item.sql} AS "c{i}"' for i, item in enumerate(items)]
        if not any(item.aggregate for item in items) and select.args.get("group") is None:
            aliases = [scope.alias, *(alias for alias, _ in scope.joins.values())]
            columns += [f'{alias}."Id" AS "{alias}__Id"' for alias in aliases]
        return f'SELECT {", ".join(columns)} FROM "{scope.spec.name}" {scope.alias} ' + " ".join(
            [*scope.join_sql, *tail, *order]
        )

    def _select(self, select: exp.Select, *, semi: bool) -> str:
        scope = self._scope(select)
        items, _, _ = self._items(scope, select)
        if semi and len(items) != 1:
            raise SoqlValidationError(
                "a sub-query in WHERE selects exactly one field", code="MALFORMED_QUERY"
            )
        tail = self._tail(scope, select)
        order = self._order_limit(scope, select)
        return f'SELECT {items[0].sql} FROM "{scope.spec.name}" {scope.alias} ' + " ".join(
            [*scope.join_sql, *tail, *order]
        )


def translate(soql: str, *, today: dt.date | None = None) -> QueryPlan:
    """Check a SOQL query against the sandbox's metadata and translate it into SQLite SQL.

    Args:
        soql: The query as received.
        today: The current day, for date literals (today in UTC by default).

    Returns:
        The plan: SQL with ``?`` parameters, and how to shape the rows into records.

    Raises:
        SoqlValidationError: The query is invalid for this org (``code`` says how:
            ``INVALID_FIELD``, ``INVALID_TYPE``, ``MALFORMED_QUERY``), or it uses SOQL the
            sandbox does not emulate (``MALFORMED_QUERY``).
    """
    cleaned = clean_soql(soql)
    if not cleaned:
        raise SoqlValidationError("the query is empty", code="MALFORMED_QUERY")
    rewriter = _Rewriter(_lex(cleaned))
    sql = rewriter.rewrite()
    try:
        trees = [t for t in sqlglot.parse(sql) if t is not None]
    except sqlglot.errors.SqlglotError:
        raise SoqlValidationError(
            "unexpected token: the query could not be parsed", code="MALFORMED_QUERY"
        ) from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Select):
        raise SoqlValidationError("one SELECT statement is expected", code="MALFORMED_QUERY")
    root = trees[0]
    _LenientChecker(_info, _names, rewriter.values).check(root)
    translator = _Translator(rewriter.values, today or dt.datetime.now(dt.UTC).date())
    return translator.plan(root)
