"""The demo database as the SQL families see it: joins, filters, dimensions and its values."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from finetune.datasets.common import _plain, _shared_words

# ------------------------------------------------------------------------------------------
# SQL: the demo database
# ------------------------------------------------------------------------------------------

_J_ORDERS = " JOIN orders ON orders.id = order_items.order_id"
_J_CUSTOMERS = " JOIN customers ON customers.id = orders.customer_id"
_J_REPS = " JOIN sales_reps ON sales_reps.id = customers.rep_id"
_J_PRODUCTS = " JOIN products ON products.id = order_items.product_id"
_REVENUE = "SUM(order_items.quantity * order_items.unit_price)"

_SQL_NOUNS = {
    "sales_reps": "sales reps",
    "customers": "customers",
    "products": "products",
    "orders": "orders",
    "order_items": "order items",
}

# kind, table, column, where-phrase of one value, where-phrase of several ("{v}" is "A or B")
_SQL_FILTERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("industry", "customers", "industry", "in the {v} industry", "in the {v} industries"),
    ("country", "customers", "country", "based in {v}", "based in {v}"),
    ("segment", "customers", "segment", "in the {v} segment", "in the {v} segments"),
    ("category", "products", "category", "in the {v} category", "in the {v} categories"),
    ("order_status", "orders", "status", "marked as {v}", "marked as {v}"),
    ("region", "sales_reps", "region", "in the {v} region", "in the {v} regions"),
)

# dimension word, plural, table, column
_SQL_DIMS: tuple[tuple[str, str, str, str], ...] = (
    ("industry", "industries", "customers", "industry"),
    ("country", "countries", "customers", "country"),
    ("segment", "segments", "customers", "segment"),
    ("category", "categories", "products", "category"),
    ("status", "statuses", "orders", "status"),
    ("region", "regions", "sales_reps", "region"),
)

# kind -> joins after FROM order_items, the filtered column, the request phrase
_ORDER_CUSTOMER = _J_ORDERS + _J_CUSTOMERS
_REVENUE_SCOPES: dict[str, tuple[str, str, str]] = {
    "order_status": (_J_ORDERS, "orders.status", "from orders marked as {v}"),
    "industry": (_ORDER_CUSTOMER, "customers.industry", "from customers in the {v} industry"),
    "country": (_J_ORDERS + _J_CUSTOMERS, "customers.country", "from customers based in {v}"),
    "segment": (_J_ORDERS + _J_CUSTOMERS, "customers.segment", "from customers in the {v} segment"),
    "customer": (_J_ORDERS + _J_CUSTOMERS, "customers.name", "from {v}"),
    "region": (
        _J_ORDERS + _J_CUSTOMERS + _J_REPS,
        "sales_reps.region",
        "from customers in the {v} region",
    ),
    "rep": (_J_ORDERS + _J_CUSTOMERS + _J_REPS, "sales_reps.name", "from the customers of {v}"),
    "category": (_J_PRODUCTS, "products.category", "from products in the {v} category"),
    "product": (_J_PRODUCTS, "products.name", "from sales of {v}"),
}  # fmt: skip

# dimension word, joins after FROM order_items, selected expression, grouped expression
_REVENUE_DIMS: tuple[tuple[str, str, str, str], ...] = (
    ("region", _J_ORDERS + _J_CUSTOMERS + _J_REPS, "sales_reps.region", "sales_reps.region"),
    ("industry", _J_ORDERS + _J_CUSTOMERS, "customers.industry", "customers.industry"),
    ("country", _J_ORDERS + _J_CUSTOMERS, "customers.country", "customers.country"),
    ("customer segment", _J_ORDERS + _J_CUSTOMERS, "customers.segment", "customers.segment"),
    ("sales rep", _J_ORDERS + _J_CUSTOMERS + _J_REPS, "sales_reps.name", "sales_reps.name"),
    ("product category", _J_PRODUCTS, "products.category", "products.category"),
    ("order status", _J_ORDERS, "orders.status", "orders.status"),
    (
        "year",
        _J_ORDERS,
        "strftime('%Y', orders.order_date) AS year",
        "strftime('%Y', orders.order_date)",
    ),
)

_CUSTOMER_FILTER_KINDS = ("industry", "country", "segment")
_PRICE_STEPS = (100, 250, 500, 1000, 2000, 5000, 10000, 20000)
_QUARTERS = (("first", "01-01", "03-31"), ("second", "04-01", "06-30"),
             ("third", "07-01", "09-30"), ("fourth", "10-01", "12-31"))  # fmt: skip
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip


@dataclass
class _SqlDomain:
    """The values of the demo database that requests are written about."""

    values: dict[str, list[str]]
    """Entity kind -> the distinct values of its column (industry, country, ...)."""
    customers: list[str]
    reps: list[tuple[str, str]]
    """(name, region) of every sales rep."""
    products: list[str]
    years: list[str]
    """Years that have orders."""
    customer_years: list[str]
    """Years in which customers were created."""
    hire_years: list[str]
    name_words: list[str]
    """Words that occur in at least two customer names."""
    product_words: list[str]
    """Words that occur in at least two product names."""
    group_sizes: dict[tuple[str, str], list[int]]
    """(table, column) -> the row count of each of its values."""


def _read_sql_domain(path: Path) -> _SqlDomain:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:

        def column(sql: str) -> list[str]:
            return [str(row[0]) for row in conn.execute(sql) if _plain(str(row[0]))]

        values = {
            kind: column(f"SELECT DISTINCT {col} FROM {table} ORDER BY {col}")
            for kind, table, col, _, _ in _SQL_FILTERS
        }
        group_sizes = {
            (table, col): [
                int(row[0]) for row in conn.execute(f"SELECT COUNT(*) FROM {table} GROUP BY {col}")
            ]
            for _, _, table, col in _SQL_DIMS
        }
        customers = column("SELECT name FROM customers ORDER BY id")
        reps = [
            (str(name), str(region))
            for name, region in conn.execute("SELECT name, region FROM sales_reps ORDER BY id")
            if _plain(name)
        ]
        products = column("SELECT name FROM products ORDER BY id")
        years = column("SELECT DISTINCT strftime('%Y', order_date) FROM orders ORDER BY 1")
        customer_years = column(
            "SELECT DISTINCT strftime('%Y', created_on) FROM customers ORDER BY 1"
        )
        hire_years = column("SELECT DISTINCT strftime('%Y', hired_on) FROM sales_reps ORDER BY 1")
    finally:
        conn.close()
    return _SqlDomain(
        values=values,
        customers=customers,
        reps=reps,
        products=products,
        years=years,
        customer_years=customer_years,
        hire_years=hire_years,
        name_words=_shared_words(customers),
        product_words=_shared_words(products),
        group_sizes=group_sizes,
    )


_SqlFilter = tuple[str, str, str, str, str]
"""One filter of a request: kind, table, column, where-phrase, value."""
