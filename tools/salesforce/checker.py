"""Validation of a parsed SOQL query against the org's ``describe()`` metadata.

What a query may contain is an allow-list (see :mod:`tools.salesforce_limits`): its size
and nesting are capped before parsing, only read-only clauses pass (``FOR VIEW``,
``FOR UPDATE``, ``UPDATE TRACKING`` ... are refused by name), SOQL's own OFFSET / LIMIT
rules are enforced, and only the configured objects may be queried, traversed by a
relationship path or acted on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlglot import exp

from tools.salesforce.errors import PicklistValueError, SoqlValidationError
from tools.salesforce.hints import _did_you_mean, _short
from tools.salesforce.metadata import (
    _DEFAULT_ALLOW_LIST,
    _NUMERIC_TYPES,
    _TEXT_TYPES,
    _AllowList,
    _field_list,
    _no_object_message,
    _ObjectInfo,
)
from tools.salesforce.soql import (
    _AGGREGATES,
    _DATE_FUNCTIONS,
    _DATE_LITERALS,
    _DATE_N_LITERALS,
    _FN_PREFIX,
    _ISO_DATE_RE,
    _ISO_DATETIME_RE,
    _PLACEHOLDER_RE,
    _Value,
)
from tools.salesforce_limits import (
    MAX_FIELDS_ALL_LIMIT,
    MAX_OFFSET,
    MAX_SOQL_CONDITIONS,
    MAX_SOQL_NESTING,
)

_COMPARISONS: Final = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.In)


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
        raise PicklistValueError(
            f"'{value}' is not a value of the picklist `{fld.get('name')}`{hint}{listing}",
            field=str(fld.get("name")),
            value=value,
            allowed=allowed,
        )
