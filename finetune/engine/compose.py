"""Query intents composed over a schema profile, each with the SQLite SELECT it means.

An :class:`Intent` is what a request asks for, in parts that the phrasing can put into
words: the table it is about, its conditions, a measure, a grouping, an order and a limit,
and the foreign-key path its joins follow. :class:`Composer` draws intents of one family at a
time from a :class:`~finetune.engine.profile.SchemaProfile`, choosing real values: text
values the columns hold, round numbers inside a column's range, years and months inside a
date column's range, words that occur in names.

The SQL is written as the SQL specialist writes it: one SELECT, tables named in full without
aliases, bare columns over one table and ``table.column`` as soon as there is a join, each
join along a foreign key (``JOIN parent ON parent.id = child.parent_id``), year and month
filters with ``strftime``, date ranges as ``>=`` / ``<`` on ISO dates, and no ``date('now')``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from finetune.engine.profile import ColumnProfile, ForeignKey, SchemaProfile, TableProfile

FAMILIES = (
    "filter",
    "multi_filter",
    "aggregate",
    "group",
    "order_topk",
    "join",
    "subquery",
    "distinct",
    "lookup",
)
"""The query shapes, in the order the engine composes them."""

TOP_K = (1, 3, 5, 10)
"""The sizes of a top-k."""

MAX_LITERAL = 60
"""Longest string literal written into a query (the grammar's bound)."""

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUANTITY = re.compile(r"(quantity|qty|units|copies|hours|count|number)")
_PRICE = re.compile(r"(price|cost|rate|fee|amount|value)")
_UNIT = re.compile(r"(price|rate|ratio|percent|pct|score|rating|age)")
"""Columns whose values a sum would not add up to anything (a unit price, a rating)."""
_WORD = re.compile(r"[A-Za-z]{4,}")


def ident(name: str) -> str:
    """A table or column name as SQL writes it: bare when plain, else double-quoted."""
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _column(table: str, column: str, qualified: bool) -> str:
    return f"{ident(table)}.{ident(column)}" if qualified else ident(column)


def _writable(value: str) -> bool:
    """Whether a text can be written as a literal the grammar admits."""
    return 0 < len(value) <= MAX_LITERAL and "'" not in value and "\n" not in value


@dataclass(frozen=True)
class Condition:
    """One filter of a WHERE clause.

    ``kind`` is one of ``eq``, ``in``, ``or`` (two values), ``gt``, ``lt``, ``between``
    (numbers), ``year``, ``month``, ``quarter``, ``since``, ``before`` (dates), ``prefix``,
    ``contains`` (LIKE), ``null`` and ``notnull``.
    """

    kind: str
    table: str
    column: str
    values: tuple[str, ...] = ()

    def sql(self, qualified: bool) -> str:
        """The condition in SQL, with ``table.column`` when ``qualified``."""
        c = _column(self.table, self.column, qualified)
        v = self.values
        if self.kind == "eq":
            return f"{c} = {literal(v[0])}"
        if self.kind == "in":
            return f"{c} IN ({', '.join(literal(x) for x in v)})"
        if self.kind == "or":
            return " OR ".join(f"{c} = {literal(x)}" for x in v)
        if self.kind == "gt":
            return f"{c} > {v[0]}"
        if self.kind == "lt":
            return f"{c} < {v[0]}"
        if self.kind == "between":
            return f"{c} BETWEEN {v[0]} AND {v[1]}"
        if self.kind == "year":
            return f"strftime('%Y', {c}) = {literal(v[0])}"
        if self.kind == "month":
            return f"strftime('%Y-%m', {c}) = {literal(v[0])}"
        if self.kind == "quarter":
            year, quarter = int(v[0]), int(v[1])
            start = f"{year}-{3 * quarter - 2:02d}-01"
            end = f"{year + 1}-01-01" if quarter == 4 else f"{year}-{3 * quarter + 1:02d}-01"
            return f"{c} >= {literal(start)} AND {c} < {literal(end)}"
        if self.kind == "since":
            return f"{c} >= {literal(v[0] + '-01-01')}"
        if self.kind == "before":
            return f"{c} < {literal(v[0] + '-01-01')}"
        if self.kind == "prefix":
            return f"{c} LIKE {literal(v[0] + '%')}"
        if self.kind == "contains":
            return f"{c} LIKE {literal('%' + v[0] + '%')}"
        if self.kind == "null":
            return f"{c} IS NULL"
        if self.kind == "notnull":
            return f"{c} IS NOT NULL"
        raise ValueError(f"unknown condition kind {self.kind!r}")

    @property
    def entity(self) -> str:
        """The condition as the ``entity`` field of a record writes it."""
        if self.kind in ("null", "notnull"):
            return f"{self.column}={self.kind}"
        return f"{self.column}=" + "/".join(self.values)


@dataclass(frozen=True)
class Measure:
    """An aggregate: ``function`` of no column (``COUNT(*)``), one column, or a product of two."""

    function: str
    """``COUNT``, ``COUNT_DISTINCT``, ``SUM``, ``AVG``, ``MIN`` or ``MAX``."""
    table: str
    columns: tuple[str, ...] = ()

    def sql(self, qualified: bool) -> str:
        """The aggregate in SQL."""
        if not self.columns:
            return "COUNT(*)"
        inner = " * ".join(_column(self.table, c, qualified) for c in self.columns)
        if self.function == "COUNT_DISTINCT":
            return f"COUNT(DISTINCT {inner})"
        return f"{self.function}({inner})"


@dataclass(frozen=True)
class Intent:
    """What one request asks for, and the SQL that answers it."""

    family: str
    """The query shape (one of :data:`FAMILIES`)."""
    template: str
    """The variant of the shape, e.g. ``count`` or ``top_parents``."""
    table: str
    """The table the request is about (the FROM table)."""
    target: str
    """The gold SQL."""
    conditions: tuple[Condition, ...] = ()
    """The filters, on ``table`` or on a table of ``path``."""
    measure: Measure | None = None
    """The aggregate asked for, if any."""
    group: tuple[str, str] | None = None
    """``(table, column)`` the rows are grouped by, if any."""
    having: int | None = None
    """A lower bound on the group size (``HAVING COUNT(*) > n``), if any."""
    order: str | None = None
    """``"desc"`` or ``"asc"`` when the rows are ranked."""
    order_by: tuple[str, str] | None = None
    """``(table, column)`` the rows are ranked by, when not by the measure."""
    limit: int | None = None
    """How many rows a top-k keeps."""
    path: tuple[ForeignKey, ...] = ()
    """The foreign keys the joins follow, from ``table`` outwards."""
    shown: tuple[tuple[str, str], ...] = ()
    """``(table, column)`` selected, for rows, lookups and distinct values."""
    child: str | None = None
    """For requests about parents through their children: the child table."""

    @property
    def entity(self) -> str:
        """The values the request names, as the ``entity`` field of a record writes them."""
        parts = [condition.entity for condition in self.conditions]
        if self.having is not None:
            parts.append(f"having={self.having}")
        if self.limit is not None:
            parts.append(f"k={self.limit}")
        return " | ".join(parts) if parts else "-"


def _select(
    items: Sequence[str],
    table: str,
    path: Sequence[ForeignKey] = (),
    where: Sequence[str] = (),
    *,
    distinct: bool = False,
    group: str | None = None,
    having: str | None = None,
    order: str | None = None,
    limit: int | None = None,
) -> str:
    sql = "SELECT " + ("DISTINCT " if distinct else "") + ", ".join(items)
    sql += f" FROM {ident(table)}"
    for fk in path:
        parent, child = ident(fk.ref_table), ident(fk.table)
        sql += f" JOIN {parent} ON {parent}.{ident(fk.ref_column)} = {child}.{ident(fk.column)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if group:
        sql += f" GROUP BY {group}"
    if having:
        sql += f" HAVING {having}"
    if order:
        sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {limit}"
    return sql


def _nice(value: float, span: float, integer: bool, rng: random.Random) -> str:
    """``value`` rounded to a round step of ``span``, as SQL writes the number."""
    step = 10 ** math.floor(math.log10(span)) if span > 0 else 1.0
    step /= rng.choice((1, 2, 10))
    if integer:
        step = max(1.0, round(step))
    rounded = round(value / step) * step
    if integer or float(rounded).is_integer():
        return str(int(round(rounded)))
    return f"{rounded:.2f}".rstrip("0").rstrip(".")


@dataclass
class Composer:
    """Draws intents of a family from a schema profile, with a seeded random source."""

    profile: SchemaProfile
    rng: random.Random
    _paths: list[tuple[ForeignKey, ...]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        """Collect the join paths of one and two hops (no table twice)."""
        for fk in self.profile.foreign_keys:
            if fk.table == fk.ref_table:
                continue
            self._paths.append((fk,))
            for up in self.profile.parents(fk.ref_table):
                if up.ref_table not in (fk.table, fk.ref_table):
                    self._paths.append((fk, up))

    # ---------------------------------------------------------------- public

    def compose(self, family: str) -> Intent | None:
        """One intent of ``family``, or None when this draw found nothing to ask."""
        makers: dict[str, list[Callable[[], Intent | None]]] = {
            "filter": [self._filter],
            "multi_filter": [self._multi_filter],
            "aggregate": [self._aggregate],
            "group": [self._group, self._group_parent],
            "order_topk": [self._top_rows, self._top_parents],
            "join": [self._join_rows, self._join_measure],
            "subquery": [
                self._against_average,
                self._without_children,
                self._with_children,
                self._with_children,
            ],
            "distinct": [self._distinct, self._distinct_parent],
            "lookup": [self._lookup, self._lookup_parent],
        }
        return self.rng.choice(makers[family])()

    # ---------------------------------------------------------------- choosing values

    def _tables(self, test: Callable[[TableProfile], bool]) -> list[TableProfile]:
        return [table for table in self.profile.tables.values() if test(table)]

    def _pick_table(self, test: Callable[[TableProfile], bool]) -> TableProfile | None:
        tables = self._tables(test)
        return self.rng.choice(tables) if tables else None

    def _condition(
        self, table: TableProfile, column: ColumnProfile, *, alone: bool
    ) -> Condition | None:
        """A condition on ``column`` with real values; ``alone`` allows an OR of two values."""
        rng = self.rng
        name = column.name
        if column.nulls and column.nulls < table.rows and rng.random() < 0.25:
            return Condition(rng.choice(("null", "notnull")), table.name, name)
        if column.is_category:
            values = [v for v in column.values if _writable(v)]
            if not values:
                return None
            kinds = ["eq", "eq", "eq", "in"] + (["or"] if alone else [])
            kind = rng.choice(kinds)
            if kind == "eq" or len(values) < 3:
                return Condition("eq", table.name, name, (rng.choice(values),))
            return Condition(kind, table.name, name, tuple(rng.sample(values, 2)))
        if column.is_measure and isinstance(column.minimum, int | float):
            low, high = float(column.minimum), float(column.maximum or 0)
            span = high - low
            if span <= 0:
                return None
            integer = column.kind == "integer"
            kind = rng.choice(("gt", "gt", "lt", "between"))
            if kind == "between":
                a = _nice(low + span * rng.uniform(0.1, 0.4), span, integer, rng)
                b = _nice(low + span * rng.uniform(0.5, 0.9), span, integer, rng)
                return Condition(kind, table.name, name, (a, b)) if float(a) < float(b) else None
            value = _nice(low + span * rng.uniform(0.15, 0.85), span, integer, rng)
            if not low < float(value) < high:
                return None
            return Condition(kind, table.name, name, (value,))
        if column.is_date:
            first, last = str(column.minimum), str(column.maximum)
            year = str(rng.randint(int(first[:4]), int(last[:4])))
            kind = rng.choice(("year", "year", "year", "month", "quarter", "since", "before"))
            if kind == "month":
                month = f"{year}-{rng.randint(1, 12):02d}"
                if not first[:7] <= month <= last[:7]:
                    return None
                return Condition(kind, table.name, name, (month,))
            if kind == "quarter":
                return Condition(kind, table.name, name, (year, str(rng.randint(1, 4))))
            if kind in ("since", "before") and year == first[:4]:
                kind = "since"
            return Condition(kind, table.name, name, (year,))
        if column.samples and name == table.label:
            return self._search(table, column)
        return None

    def _search(self, table: TableProfile, column: ColumnProfile) -> Condition | None:
        """A LIKE on a name-like column: the first word of a name, or a word inside one."""
        sample = self.rng.choice(column.samples)
        words = [w for w in _WORD.findall(sample) if _writable(w)]
        if not words:
            return None
        if self.rng.random() < 0.5 and sample.startswith(words[0]):
            return Condition("prefix", table.name, column.name, (words[0],))
        return Condition("contains", table.name, column.name, (self.rng.choice(words),))

    def _filterable(self, table: TableProfile) -> list[ColumnProfile]:
        return [
            c
            for c in table.columns.values()
            if not c.is_key
            and (
                c.is_category
                or c.is_measure
                or c.is_date
                or (c.nulls and c.nulls < table.rows)
                or (c.samples and c.name == table.label)
            )
        ]

    def _conditions(
        self, table: TableProfile, count: int, *, avoid: Sequence[str] = (), alone: bool = True
    ) -> tuple[Condition, ...] | None:
        """``count`` conditions on distinct columns of ``table`` (None if it has too few)."""
        columns = [c for c in self._filterable(table) if c.name not in avoid]
        if len(columns) < count:
            return None
        found: list[Condition] = []
        for column in self.rng.sample(columns, count):
            condition = self._condition(table, column, alone=alone and count == 1)
            if condition is None:
                return None
            found.append(condition)
        return tuple(found)

    def _row_columns(self, table: TableProfile) -> list[str]:
        """What a list of ``table``'s rows shows: its label, else its id and two columns."""
        if table.label:
            return [table.label]
        plain = [c.name for c in table.columns.values() if not c.is_key][:2]
        key = ["id"] if "id" in table.columns else []
        return key + plain

    def _numeric(self, table: TableProfile, functions: Sequence[str]) -> Measure | None:
        """One of ``functions`` over a measure it suits (a total only of what adds up)."""
        function = self.rng.choice(list(functions))
        if function == "SUM":
            pool = self._summable(table)
        elif function == "AVG":
            pool = self._measures(table)
        else:
            pool = [m for m in self._measures(table) if len(m) == 1]
        return Measure(function, table.name, self.rng.choice(pool)) if pool else None

    def _summable(self, table: TableProfile) -> list[tuple[str, ...]]:
        """The measures of ``table`` whose total means something."""
        return [m for m in self._measures(table) if len(m) == 2 or not _UNIT.search(m[0].lower())]

    def _measures(self, table: TableProfile) -> list[tuple[str, ...]]:
        """The numeric columns of ``table``, and products of a quantity and a price."""
        names = [c.name for c in table.columns.values() if c.is_measure]
        found: list[tuple[str, ...]] = [(name,) for name in names]
        found += [
            (a, b)
            for a in names
            for b in names
            if a != b and _QUANTITY.search(a.lower()) and _PRICE.search(b.lower())
        ]
        return found

    # ---------------------------------------------------------------- filter, multi_filter

    def _rows(self, family: str, count: int) -> Intent | None:
        table = self._pick_table(lambda t: len(self._filterable(t)) >= count)
        if table is None:
            return None
        conditions = self._conditions(table, count)
        if conditions is None:
            return None
        shown = self._row_columns(table)
        for condition in conditions:
            column = table.columns[condition.column]
            if (column.is_measure or column.is_date) and condition.column not in shown:
                shown.append(condition.column)
        items = ["*"] if not table.label and self.rng.random() < 0.5 else [ident(c) for c in shown]
        where = [condition.sql(False) for condition in conditions]
        return Intent(
            family,
            "rows",
            table.name,
            _select(items, table.name, (), where),
            conditions,
            shown=tuple((table.name, c) for c in shown),
        )

    def _filter(self) -> Intent | None:
        return self._rows("filter", 1)

    def _multi_filter(self) -> Intent | None:
        return self._rows("multi_filter", self.rng.choice((2, 2, 3)))

    # ---------------------------------------------------------------- aggregate

    def _measure_of(self, table: TableProfile) -> Measure | None:
        rng = self.rng
        choice = rng.random()
        measures = self._measures(table)
        products = [m for m in measures if len(m) == 2]
        if choice < 0.3 or not measures:
            return Measure("COUNT", table.name)
        if choice < 0.4:
            columns = [c.name for c in table.columns.values() if c.is_category or c.is_date]
            if table.label:
                columns.append(table.label)
            return (
                Measure("COUNT_DISTINCT", table.name, (rng.choice(columns),)) if columns else None
            )
        if choice < 0.55 and products:
            return Measure(rng.choice(("SUM", "SUM", "AVG")), table.name, rng.choice(products))
        if choice < 0.65:
            dates = [c.name for c in table.columns.values() if c.is_date]
            if dates:
                return Measure(rng.choice(("MIN", "MAX")), table.name, (rng.choice(dates),))
        return self._numeric(table, ("SUM", "AVG", "AVG", "MIN", "MAX"))

    def _aggregate(self) -> Intent | None:
        table = self._pick_table(lambda t: True)
        if table is None:
            return None
        measure = self._measure_of(table)
        if measure is None:
            return None
        count = self.rng.choice((0, 1, 1, 1, 2))
        conditions = self._conditions(table, count, avoid=measure.columns) if count else ()
        if conditions is None:
            return None
        where = [condition.sql(False) for condition in conditions]
        target = _select([measure.sql(False)], table.name, (), where)
        return Intent(
            "aggregate", measure.function.lower(), table.name, target, conditions, measure
        )

    # ---------------------------------------------------------------- group

    def _ranked(self) -> tuple[str | None, int | None]:
        """An ``ORDER BY key DESC LIMIT k`` for a third of the groupings."""
        if self.rng.random() < 0.35:
            return "desc", self.rng.choice(TOP_K)
        return None, None

    def _group(self) -> Intent | None:
        table = self._pick_table(lambda t: any(c.is_category for c in t.columns.values()))
        if table is None:
            return None
        column = self.rng.choice([c for c in table.columns.values() if c.is_category])
        measure = Measure("COUNT", table.name)
        if self.rng.random() < 0.4:
            measure = self._numeric(table, ("SUM", "AVG")) or measure
        conditions = self._conditions(table, self.rng.choice((0, 0, 1)), avoid=[column.name])
        if conditions is None:
            return None
        having = None
        if measure.function == "COUNT" and self.rng.random() < 0.3:
            size = table.rows / max(1, len(column.values))
            having = int(_nice(size * self.rng.uniform(0.3, 1.1), size, True, self.rng))
        order, limit = (None, None) if having is not None else self._ranked()
        target = _select(
            [ident(column.name), measure.sql(False)],
            table.name,
            (),
            [c.sql(False) for c in conditions],
            group=ident(column.name),
            having=f"COUNT(*) > {having}" if having is not None else None,
            order=f"{measure.sql(False)} DESC" if order else None,
            limit=limit,
        )
        template = f"group_{measure.function.lower()}"
        return Intent(
            "group",
            template,
            table.name,
            target,
            conditions,
            measure,
            group=(table.name, column.name),
            having=having,
            order=order,
            limit=limit,
        )

    def _group_parent(self) -> Intent | None:
        """Children counted or summed per parent name or per parent category."""
        paths = [
            p
            for p in self._paths
            if len(p) == 1 and self._parent_keys(self.profile.tables[p[0].ref_table])
        ]
        if not paths:
            return None
        path = self.rng.choice(paths)
        child = self.profile.tables[path[0].table]
        parent = self.profile.tables[path[0].ref_table]
        key = self.rng.choice(self._parent_keys(parent))
        measure = Measure("COUNT", child.name)
        if self.rng.random() < 0.4:
            measure = self._numeric(child, ("SUM", "AVG")) or measure
        conditions = self._conditions(child, self.rng.choice((0, 1)), alone=False)
        if conditions is None:
            return None
        order, limit = self._ranked()
        if key == parent.label and parent.rows > 25 and order is None:
            order, limit = "desc", self.rng.choice(TOP_K)
        grouped = f"{ident(parent.name)}.{ident(key)}"
        target = _select(
            [grouped, measure.sql(True)],
            child.name,
            path,
            [c.sql(True) for c in conditions],
            group=grouped,
            order=f"{measure.sql(True)} DESC" if order else None,
            limit=limit,
        )
        return Intent(
            "group",
            f"group_parent_{measure.function.lower()}",
            child.name,
            target,
            conditions,
            measure,
            group=(parent.name, key),
            order=order,
            limit=limit,
            path=path,
        )

    def _parent_keys(self, parent: TableProfile) -> list[str]:
        keys = [c.name for c in parent.columns.values() if c.is_category]
        return keys + ([parent.label] if parent.label else [])

    # ---------------------------------------------------------------- order_topk

    def _top_rows(self) -> Intent | None:
        table = self._pick_table(
            lambda t: any(c.is_measure or c.is_date for c in t.columns.values())
        )
        if table is None:
            return None
        column = self.rng.choice([c for c in table.columns.values() if c.is_measure or c.is_date])
        conditions = self._conditions(table, self.rng.choice((0, 0, 1)), avoid=[column.name])
        if conditions is None:
            return None
        order = self.rng.choice(("desc", "desc", "asc"))
        limit = self.rng.choice(TOP_K)
        shown = [c for c in self._row_columns(table) if c != column.name] + [column.name]
        target = _select(
            [ident(c) for c in shown],
            table.name,
            (),
            [c.sql(False) for c in conditions],
            order=f"{ident(column.name)} {order.upper()}",
            limit=limit,
        )
        return Intent(
            "order_topk",
            "top_rows",
            table.name,
            target,
            conditions,
            order=order,
            order_by=(table.name, column.name),
            limit=limit,
            shown=tuple((table.name, c) for c in shown),
        )

    def _top_parents(self) -> Intent | None:
        """Parents ranked by the count or the total of their children (one or two hops)."""
        paths = [p for p in self._paths if self.profile.tables[p[-1].ref_table].label]
        if not paths:
            return None
        path = self.rng.choice(paths)
        child = self.profile.tables[path[0].table]
        parent = self.profile.tables[path[-1].ref_table]
        label = f"{ident(parent.name)}.{ident(parent.label or '')}"
        measures = self._summable(child)
        if measures and (len(path) == 2 or self.rng.random() < 0.5):
            measure = Measure("SUM", child.name, self.rng.choice(measures))
            alias = "total"
        elif len(path) == 1:
            measure = Measure("COUNT", child.name)
            alias = _count_alias(child.name)
        else:
            return None
        conditions = self._conditions(child, self.rng.choice((0, 0, 1)), alone=False)
        if conditions is None:
            return None
        limit = self.rng.choice(TOP_K)
        target = _select(
            [label, f"{measure.sql(True)} AS {alias}"],
            child.name,
            path,
            [c.sql(True) for c in conditions],
            group=label,
            order=f"{alias} DESC",
            limit=limit,
        )
        return Intent(
            "order_topk",
            f"top_parents_{measure.function.lower()}",
            child.name,
            target,
            conditions,
            measure,
            group=(parent.name, parent.label or ""),
            order="desc",
            limit=limit,
            path=path,
        )

    # ---------------------------------------------------------------- join

    def _path_condition(self, path: tuple[ForeignKey, ...]) -> Condition | None:
        """A condition on the far table of ``path``: a category value, a name, a date."""
        parent = self.profile.tables[path[-1].ref_table]
        if parent.label and self.rng.random() < 0.4:
            column = parent.columns[parent.label]
            names = [v for v in (column.values or column.samples) if _writable(v)]
            if names:
                return Condition("eq", parent.name, parent.label, (self.rng.choice(names),))
        columns = [
            c for c in self._filterable(parent) if c.is_category or c.is_date or c.is_measure
        ]
        if not columns:
            return None
        return self._condition(parent, self.rng.choice(columns), alone=False)

    def _join_parts(
        self,
    ) -> tuple[tuple[ForeignKey, ...], TableProfile, tuple[Condition, ...]] | None:
        if not self._paths:
            return None
        path = self.rng.choice(self._paths)
        child = self.profile.tables[path[0].table]
        condition = self._path_condition(path)
        if condition is None:
            return None
        extra = self._conditions(child, self.rng.choice((0, 0, 1)), alone=False)
        if extra is None:
            return None
        return path, child, (condition, *extra)

    def _join_rows(self) -> Intent | None:
        parts = self._join_parts()
        if parts is None:
            return None
        path, child, conditions = parts
        shown = self._row_columns(child)
        target = _select(
            [f"{ident(child.name)}.{ident(c)}" for c in shown],
            child.name,
            path,
            [c.sql(True) for c in conditions],
        )
        return Intent(
            "join",
            f"rows_{len(path)}hop",
            child.name,
            target,
            conditions,
            path=path,
            shown=tuple((child.name, c) for c in shown),
        )

    def _join_measure(self) -> Intent | None:
        parts = self._join_parts()
        if parts is None:
            return None
        path, child, conditions = parts
        measure = Measure("COUNT", child.name)
        if self.rng.random() < 0.5:
            measure = self._numeric(child, ("SUM", "SUM", "AVG", "MIN", "MAX")) or measure
        target = _select([measure.sql(True)], child.name, path, [c.sql(True) for c in conditions])
        return Intent(
            "join",
            f"{measure.function.lower()}_{len(path)}hop",
            child.name,
            target,
            conditions,
            measure,
            path=path,
        )

    # ---------------------------------------------------------------- subquery

    def _against_average(self) -> Intent | None:
        table = self._pick_table(lambda t: any(c.is_measure for c in t.columns.values()))
        if table is None:
            return None
        column = self.rng.choice([c for c in table.columns.values() if c.is_measure])
        order = self.rng.choice(("above", "above", "below"))
        shown = [c for c in self._row_columns(table) if c != column.name] + [column.name]
        name = ident(column.name)
        compare = ">" if order == "above" else "<"
        where = f"{name} {compare} (SELECT AVG({name}) FROM {ident(table.name)})"
        target = _select([ident(c) for c in shown], table.name, (), [where])
        return Intent(
            "subquery",
            f"{order}_average",
            table.name,
            target,
            order_by=(table.name, column.name),
            order="desc" if order == "above" else "asc",
            shown=tuple((table.name, c) for c in shown),
        )

    def _children_of(self) -> tuple[ForeignKey, TableProfile, TableProfile] | None:
        keys = [
            fk
            for fk in self.profile.foreign_keys
            if fk.table != fk.ref_table and self.profile.tables[fk.ref_table].label
        ]
        if not keys:
            return None
        fk = self.rng.choice(keys)
        return fk, self.profile.tables[fk.table], self.profile.tables[fk.ref_table]

    def _without_children(self) -> Intent | None:
        found = self._children_of()
        if found is None:
            return None
        fk, child, parent = found
        column = ident(fk.column)
        inner = f"SELECT {column} FROM {ident(child.name)} WHERE {column} IS NOT NULL"
        target = _select(
            [ident(parent.label or "")],
            parent.name,
            (),
            [f"{ident(fk.ref_column)} NOT IN ({inner})"],
        )
        return Intent(
            "subquery",
            "without_children",
            parent.name,
            target,
            path=(fk,),
            shown=((parent.name, parent.label or ""),),
            child=child.name,
        )

    def _with_children(self) -> Intent | None:
        """Parents that have (or have no) children matching a condition: IN / NOT IN."""
        found = self._children_of()
        if found is None:
            return None
        fk, child, parent = found
        conditions = self._conditions(child, 1, avoid=[fk.column], alone=False)
        if not conditions:
            return None
        negated = self.rng.random() < 0.3
        column = ident(fk.column)
        inner = f"SELECT {column} FROM {ident(child.name)} WHERE {conditions[0].sql(False)}"
        if negated:
            inner += f" AND {column} IS NOT NULL"
        test = "NOT IN" if negated else "IN"
        target = _select(
            [ident(parent.label or "")],
            parent.name,
            (),
            [f"{ident(fk.ref_column)} {test} ({inner})"],
        )
        return Intent(
            "subquery",
            "without_matching_children" if negated else "with_children",
            parent.name,
            target,
            conditions,
            path=(fk,),
            shown=((parent.name, parent.label or ""),),
            child=child.name,
        )

    # ---------------------------------------------------------------- distinct

    def _distinct(self) -> Intent | None:
        table = self._pick_table(lambda t: any(c.is_category for c in t.columns.values()))
        if table is None:
            return None
        column = self.rng.choice([c for c in table.columns.values() if c.is_category])
        conditions = self._conditions(table, self.rng.choice((0, 1, 1)), avoid=[column.name])
        if conditions is None:
            return None
        target = _select(
            [ident(column.name)], table.name, (), [c.sql(False) for c in conditions], distinct=True
        )
        return Intent(
            "distinct",
            "values",
            table.name,
            target,
            conditions,
            shown=((table.name, column.name),),
        )

    def _distinct_parent(self) -> Intent | None:
        """The values a parent column takes over the children that match a condition."""
        paths = [
            p
            for p in self._paths
            if any(c.is_category for c in self.profile.tables[p[-1].ref_table].columns.values())
        ]
        if not paths:
            return None
        path = self.rng.choice(paths)
        child = self.profile.tables[path[0].table]
        parent = self.profile.tables[path[-1].ref_table]
        column = self.rng.choice([c for c in parent.columns.values() if c.is_category])
        conditions = self._conditions(child, 1, alone=False)
        if conditions is None:
            return None
        target = _select(
            [f"{ident(parent.name)}.{ident(column.name)}"],
            child.name,
            path,
            [c.sql(True) for c in conditions],
            distinct=True,
        )
        return Intent(
            "distinct",
            "parent_values",
            child.name,
            target,
            conditions,
            path=path,
            shown=((parent.name, column.name),),
        )

    # ---------------------------------------------------------------- lookup

    def _named_row(self, table: TableProfile) -> Condition | None:
        column = table.columns[table.label or ""]
        names = [v for v in (column.values or column.samples) if _writable(v)]
        if not names:
            return None
        return Condition("eq", table.name, column.name, (self.rng.choice(names),))

    def _lookup(self) -> Intent | None:
        table = self._pick_table(
            lambda t: (
                bool(t.label)
                and any(not c.is_key and c.name != t.label for c in t.columns.values())
            )
        )
        if table is None:
            return None
        condition = self._named_row(table)
        if condition is None:
            return None
        columns = [c.name for c in table.columns.values() if not c.is_key and c.name != table.label]
        shown = self.rng.sample(columns, min(len(columns), self.rng.choice((1, 1, 2))))
        target = _select([ident(c) for c in shown], table.name, (), [condition.sql(False)])
        return Intent(
            "lookup",
            "columns",
            table.name,
            target,
            (condition,),
            shown=tuple((table.name, c) for c in shown),
        )

    def _lookup_parent(self) -> Intent | None:
        """The name of the parent a named row refers to (``customers.rep_id`` -> the rep)."""
        keys = [
            fk
            for fk in self.profile.foreign_keys
            if fk.table != fk.ref_table
            and self.profile.tables[fk.table].label
            and self.profile.tables[fk.ref_table].label
        ]
        if not keys:
            return None
        fk = self.rng.choice(keys)
        child, parent = self.profile.tables[fk.table], self.profile.tables[fk.ref_table]
        condition = self._named_row(child)
        if condition is None:
            return None
        label = parent.label or ""
        target = _select(
            [f"{ident(parent.name)}.{ident(label)}"], child.name, (fk,), [condition.sql(True)]
        )
        return Intent(
            "lookup",
            "parent",
            child.name,
            target,
            (condition,),
            path=(fk,),
            shown=((parent.name, label),),
        )


def _count_alias(table: str) -> str:
    """``orders`` -> ``order_count``, within the grammar's 16 characters."""
    base = re.sub(r"[^a-z_]", "", table.lower())
    base = base[:-1] if base.endswith("s") and not base.endswith("ss") else base
    alias = f"{base}_count"
    return alias if re.fullmatch(r"[a-z][a-z_]{0,15}", alias) else "row_count"
