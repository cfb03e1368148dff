"""Checks on the parsed query (sqlglot trees) that need no schema.

The statement kinds allowed and forbidden, subquery depth, the join analysis behind the
cartesian-product check (single-row sources, equi-join conjuncts), CTE visibility, ORDER BY
after a set operation, output aliases and the qualifier's generated aliases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from tools.sql.results import SqlValidationError

_ALLOWED_ROOTS: tuple[type[exp.Expr], ...] = (exp.Select, exp.SetOperation)

# Nodes that write, change the session or the schema, or reach outside the database.
_FORBIDDEN_NODES: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Insert, "INSERT"),
    (exp.Update, "UPDATE"),
    (exp.Delete, "DELETE"),
    (exp.Merge, "MERGE"),
    (exp.Create, "CREATE"),
    (exp.Drop, "DROP"),
    (exp.Alter, "ALTER"),
    (exp.TruncateTable, "TRUNCATE"),
    (exp.Copy, "COPY"),
    (exp.Pragma, "PRAGMA"),
    (exp.Attach, "ATTACH"),
    (exp.Detach, "DETACH"),
    (exp.Set, "SET"),
    (exp.Use, "USE"),
    (exp.Transaction, "BEGIN"),
    (exp.Commit, "COMMIT"),
    (exp.Rollback, "ROLLBACK"),
    (exp.Grant, "GRANT"),
    (exp.Revoke, "REVOKE"),
    (exp.LoadData, "LOAD DATA"),
    (exp.Analyze, "ANALYZE"),
    (exp.Cache, "CACHE"),
    (exp.Uncache, "UNCACHE"),
    (exp.Refresh, "REFRESH"),
    (exp.Kill, "KILL"),
    (exp.Comment, "COMMENT"),
    (exp.Declare, "DECLARE"),
    (exp.Execute, "EXECUTE"),
    (exp.Command, "command"),
)


# --------------------------------------------------------------------------------------------
# Checks on the parsed query
# --------------------------------------------------------------------------------------------


def _check_subquery_depth(statement: exp.Expr, max_depth: int) -> None:
    deepest = 0
    for select in statement.find_all(exp.Select):
        depth = 0
        node = select.parent
        while node is not None:
            if isinstance(node, exp.Select):
                depth += 1
            node = node.parent
        deepest = max(deepest, depth)
    if deepest > max_depth:
        raise SqlValidationError(
            f"subqueries nested {deepest} deep, the limit is {max_depth}; "
            "use a CTE (WITH ...) or a JOIN instead"
        )


def _single_row(source: Scope) -> bool:
    """Whether a derived table has at most one row (an aggregate without GROUP BY, LIMIT 1)."""
    query = source.expression
    if not isinstance(query, exp.Select):
        return False
    limit = query.args.get("limit")
    if limit is not None:
        value = limit.expression
        if isinstance(value, exp.Literal) and value.is_int and int(value.name) <= 1:
            return True
    if query.args.get("group") is not None:
        return False

    def aggregates(projection: exp.Expr) -> bool:
        # An aggregate of this query itself: not in a window (count(*) OVER () keeps every
        # row) and not in a nested subquery.
        for found in projection.find_all(exp.AggFunc):
            if found.find_ancestor(exp.Window) is None and found.find_ancestor(exp.Select) is query:
                return True
        return False

    if any(projection.find(exp.Window) for projection in query.expressions):
        return False
    return any(aggregates(projection) for projection in query.expressions)


def _own_columns(node: exp.Expr, select: exp.Expr) -> set[str]:
    """Table aliases of the columns in ``node`` that belong to ``select`` (not a subquery)."""
    found = set()
    for column in node.find_all(exp.Column):
        if column.table and column.find_ancestor(exp.Select) is select:
            found.add(column.table)
    return found


def _equi_join(
    condition: exp.Expr, select: exp.Expr, sources: Iterable[str]
) -> tuple[str, str] | None:
    """The two sources an equality conjunct ties (``a.x = b.y``), or None."""
    while isinstance(condition, exp.Paren):
        condition = condition.this
    if not isinstance(condition, exp.EQ | exp.NullSafeEQ):
        return None
    known = set(sources)
    left = _own_columns(condition.left, select) & known
    right = _own_columns(condition.right, select) & known
    if len(left) != 1 or len(right) != 1 or left == right:
        return None
    return next(iter(left)), next(iter(right))


def _conjuncts(condition: exp.Expr | None) -> list[exp.Expr]:
    if condition is None:
        return []
    if isinstance(condition, exp.Where | exp.Having):
        condition = condition.this
    if isinstance(condition, exp.And):
        return list(condition.flatten())
    return [condition]


def _statement_kind(statement: exp.Expr, text: str) -> str:
    for node_type, label in _FORBIDDEN_NODES:
        if isinstance(statement, node_type) and node_type is not exp.Command:
            return label
    first = re.match(r"\s*([A-Za-z_]+)", re.sub(r"(?s)/\*.*?\*/|--[^\n]*", " ", text))
    return first.group(1).upper() if first else statement.key.upper()


def _visible_ctes(node: exp.Expr) -> set[str]:
    """Names of the CTEs in scope where ``node`` stands, lower-cased.

    A CTE is visible in the body of the query that defines it and in the CTEs defined after
    it in the same WITH (and in itself when the WITH is RECURSIVE); not in an enclosing
    query. So a CTE named like a real table inside a subquery does not hide that table from
    the outer query.
    """
    names: set[str] = set()
    child: exp.Expr = node
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with_") or parent.args.get("with")
        if isinstance(with_, exp.With) and child is not with_:
            names.update(cte.alias_or_name.lower() for cte in with_.expressions)
        elif isinstance(parent, exp.With) and isinstance(child, exp.CTE):
            ctes = list(parent.expressions)
            index = next(i for i, cte in enumerate(ctes) if cte is child)
            visible = ctes[: index + 1] if parent.args.get("recursive") else ctes[:index]
            names.update(cte.alias_or_name.lower() for cte in visible)
        child, parent = parent, parent.parent
    return names


def _drop_generated_aliases(tree: exp.Expr) -> None:
    """Remove the ``_col_N`` aliases the qualifier gave unnamed outermost output columns."""
    query: exp.Expr | None = tree
    while isinstance(query, exp.SetOperation):
        query = query.this
    if isinstance(query, exp.Subquery):
        query = query.unnest()
    if not isinstance(query, exp.Select):
        return
    referenced = {column.name for column in tree.find_all(exp.Column)}
    for projection in list(query.expressions):
        alias = projection.alias if isinstance(projection, exp.Alias) else ""
        if re.fullmatch(r"_col_\d+", alias) and alias not in referenced:
            projection.replace(projection.this)


def _check_set_operation_order(statement: exp.Expr) -> None:
    """ORDER BY after UNION / INTERSECT / EXCEPT may only name output columns or positions."""
    for node in statement.find_all(exp.SetOperation):
        order = node.args.get("order")
        if order is None:
            continue
        names = [name for name in node.named_selects if name]
        listed = ", ".join(f"`{name}`" for name in names) or "none (give them aliases)"
        for ordered in order.expressions:
            key = ordered.this
            if isinstance(key, exp.Literal) and key.is_int:
                continue
            if (
                isinstance(key, exp.Column)
                and not key.table
                and key.name.lower() in {name.lower() for name in names}
            ):
                continue
            raise SqlValidationError(
                f"ORDER BY `{key.sql()}` after {node.key.upper()} must be an output column of "
                f"the first SELECT or a position; output columns: {listed}"
            )


def _output_aliases(query: exp.Expr) -> set[str]:
    """Names a query gives its output columns with AS (or, for set operations, its first part)."""
    while isinstance(query, exp.SetOperation):
        if query.args.get("order") is not None:
            # ORDER BY of a set operation names the output columns, aliased or not.
            return {name.lower() for name in query.named_selects}
        query = query.this
    if not isinstance(query, exp.Select):
        return set()
    return {p.alias.lower() for p in query.expressions if isinstance(p, exp.Alias)}


def _in_select_list(column: exp.Column, scope: Scope) -> bool:
    """Whether ``column`` sits in the SELECT list of its scope's query (not WHERE, ORDER BY...)."""
    node: exp.Expr = column
    while node.parent is not None and node.parent is not scope.expression:
        node = node.parent
    return node.parent is scope.expression and node.arg_key == "expressions"
