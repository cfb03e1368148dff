"""What a read query may contain: the allow-lists behind :meth:`SqlDatabase.validate`.

The wall is an allow-list, so it fails closed: every node of the parsed query must be of a
kind listed here (clauses, operators, literals), and every function call must be one of the
reporting functions listed for the dialect the query runs on (aggregates, arithmetic,
string, date and conditional functions, window functions). Anything else, including every
function that runs SQL text, reads files or settings, sleeps, locks or signals other
sessions, and every table-valued function, is rejected with the function's name.

sqlglot parses the functions it knows into typed nodes (``exp.Lower``, ``exp.Count``...)
and the rest into ``exp.Anonymous``; both are listed here. The query that runs on the
database is checked in that database's dialect (after transpiling), so what is checked is
what the server executes.
"""

from __future__ import annotations

from sqlglot import exp

__all__ = [
    "ALLOWED_ANONYMOUS",
    "ALLOWED_FUNCTION_TYPES",
    "ALLOWED_NODE_TYPES",
    "allowed_function_names",
    "check_node",
]


def _types(*names: str) -> frozenset[type[exp.Expr]]:
    """The sqlglot node classes called ``names`` (a name this sqlglot lacks is skipped)."""
    found = (getattr(exp, name, None) for name in names)
    return frozenset(t for t in found if isinstance(t, type))


ALLOWED_NODE_TYPES = _types(
    # query structure
    "Select", "Union", "Intersect", "Except", "Subquery", "With", "CTE", "From", "Join",
    "Where", "Group", "Having", "Order", "Ordered", "Limit", "Offset", "Fetch", "LimitOptions",
    "Distinct", "Table", "TableAlias", "Alias", "Column", "Identifier", "Star", "Tuple",
    "Window", "WindowSpec", "Filter", "WithinGroup",
    # values
    "Literal", "Null", "Boolean", "DataType", "DataTypeParam", "Interval", "Var",
    # operators
    "Paren", "Neg", "Not", "And", "Or", "Add", "Sub", "Mul", "Div", "IntDiv", "Mod", "DPipe",
    "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "NullSafeEQ", "NullSafeNEQ", "Is", "In",
    "Between", "Like", "ILike", "Glob", "SimilarTo", "Exists", "Any", "All",
    "Case", "If", "Cast", "TryCast",
)
"""Node kinds a reporting query is made of, other than function calls."""

ALLOWED_FUNCTION_TYPES = _types(
    # aggregates
    "Count", "Sum", "Avg", "Min", "Max", "GroupConcat", "ArrayAgg", "Stddev", "StddevPop",
    "StddevSamp", "Variance", "VariancePop", "Median", "PercentileCont", "PercentileDisc",
    "LogicalAnd", "LogicalOr", "Corr", "CovarPop", "CovarSamp",
    # window functions
    "RowNumber", "Rank", "DenseRank", "NTile", "Lag", "Lead", "FirstValue", "LastValue",
    "NthValue", "PercentRank", "CumeDist",
    # arithmetic
    "Abs", "Round", "Ceil", "Floor", "Sqrt", "Cbrt", "Pow", "Exp", "Ln", "Log", "Sign", "Pi",
    "Trunc", "Greatest", "Least",
    # strings
    "Lower", "Upper", "Length", "Substring", "Trim", "Concat", "ConcatWs", "Replace",
    "StrPosition", "Left", "Right", "Initcap", "SplitPart", "Reverse", "Typeof", "Collate",
    # conditional
    "Coalesce", "Nullif",
    # dates and times
    "CurrentDate", "CurrentTimestamp", "CurrentTime", "Date", "DateAdd", "DateSub",
    "DateDiff", "DateTrunc", "TimestampTrunc", "Extract", "TimeToStr", "StrToTime",
    "StrToDate", "TsOrDsToTimestamp", "TsOrDsToDate", "TimeStrToTime", "Year", "Month", "Day",
    "DayOfWeek", "DayOfMonth", "DayOfYear", "Quarter", "Week",
)
"""Functions sqlglot knows by meaning that a reporting query may call, in any dialect.

Deliberately absent: string builders that can make a value of any size from a small input
(``repeat``, ``lpad``/``rpad``), random numbers, and everything that reaches outside the
query's own rows."""

ALLOWED_ANONYMOUS: dict[str, frozenset[str]] = {
    "sqlite": frozenset(
        {
            "date", "time", "datetime", "julianday", "unixepoch", "strftime", "total",
            "printf", "format", "instr", "ifnull", "iif", "substr", "ltrim", "rtrim",
            "char_length", "octet_length", "log10", "log2", "power", "mod", "ceiling",
            "trunc", "nullif", "group_concat", "string_agg",
        }
    ),
    "postgres": frozenset(
        {
            "age", "date_part", "make_date", "make_timestamp", "to_char", "to_date",
            "to_number", "justify_days", "justify_interval", "btrim", "ltrim", "rtrim",
            "strpos", "char_length", "character_length", "octet_length", "log10", "power",
            "mod", "div", "ceiling", "width_bucket", "string_agg", "bool_and", "bool_or",
            "every", "var_samp", "var_pop", "stddev_samp", "stddev_pop", "mode", "substr",
            "isfinite", "date_bin",
        }
    ),
}
"""Functions sqlglot parses by name only, per dialect, that a reporting query may call."""


def allowed_function_names(dialect: str) -> frozenset[str]:
    """The by-name function allow-list of ``dialect`` (empty for an unknown dialect)."""
    return ALLOWED_ANONYMOUS.get(dialect, frozenset())


def _label(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key.upper()


def check_node(node: exp.Expr, dialect: str) -> str | None:
    """Why ``node`` may not appear in a read query on ``dialect``; None when it may.

    Args:
        node: One node of a parsed query.
        dialect: The sqlglot dialect the query runs on (``sqlite`` or ``postgres``).

    Returns:
        A short reason meant for the model, or None.
    """
    if isinstance(node, exp.Anonymous):
        name = str(node.name).lower()
        if isinstance(node.parent, exp.Dot):
            return f"function `{name}` is not allowed with a schema prefix; call it plainly"
        if name in allowed_function_names(dialect):
            return None
        return f"function `{name}` is not allowed: not a reporting function"
    if isinstance(node, exp.Func) and type(node) not in ALLOWED_NODE_TYPES:
        if type(node) in ALLOWED_FUNCTION_TYPES:
            return None
        return f"function `{_label(node)}` is not allowed: not a reporting function"
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        name = _label(node.expression)
        return f"function `{name}` is not allowed with a schema prefix; call it plainly"
    if isinstance(node, exp.Var):
        if isinstance(node.parent, exp.Func | exp.Interval | exp.DataType):
            return None  # a unit keyword: EXTRACT(YEAR FROM ...), INTERVAL '1' DAY
        return f"`{node.name}` is not allowed here"
    if type(node) in ALLOWED_NODE_TYPES:
        return None
    return f"`{_label(node)}` is not allowed in a read query"
