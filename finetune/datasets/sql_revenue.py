"""SQL families of revenue, top-N rankings and product prices."""

from __future__ import annotations

from collections.abc import Sequence

from finetune.datasets.common import _TOP_N, _Add, _lit, _Slot
from finetune.datasets.sql_domain import (
    _J_CUSTOMERS,
    _J_ORDERS,
    _J_PRODUCTS,
    _PRICE_STEPS,
    _REVENUE,
    _REVENUE_DIMS,
    _REVENUE_SCOPES,
    _SqlDomain,
    _SqlFilter,
)


def _sql_revenue_families(add: _Add, d: _SqlDomain) -> None:
    """Revenue: in total, in a year, per group, per group in a year."""
    revenue: list[_Slot] = [
        _Slot({"scope": ""}, (), "SELECT SUM(quantity * unit_price) FROM order_items")
    ]
    scope_values: dict[str, list[str]] = {
        **{kind: d.values[kind] for kind in ("order_status", "industry", "country", "segment")},
        "region": d.values["region"],
        "category": d.values["category"],
        "customer": d.customers,
        "rep": [name for name, _ in d.reps],
        "product": d.products,
    }
    for kind, (joins, col, phrase) in _REVENUE_SCOPES.items():
        for value in scope_values[kind]:
            revenue.append(
                _Slot(
                    {"scope": " " + phrase.format(v=value)},
                    (f"{kind}={value}",),
                    f"SELECT {_REVENUE} FROM order_items{joins} WHERE {col} = {_lit(value)}",
                )
            )
    for year in d.years:
        revenue.append(
            _Slot(
                {"scope": f" in {year}"},
                (f"year={year}",),
                f"SELECT {_REVENUE} FROM order_items{_J_ORDERS} WHERE "
                f"strftime('%Y', orders.order_date) = {_lit(year)}",
            )
        )
    add(
        "revenue_total",
        (
            "What is the total revenue{scope}?",
            "How much revenue did we make{scope}?",
            "Calculate the total revenue{scope}.",
            "Could you tell me the revenue{scope}?",
            "Please compute our revenue{scope}.",
        ),
        revenue,
    )

    revenue_year: list[_Slot] = []
    for kind in ("order_status", "industry", "country", "segment", "region", "category"):
        joins, col, phrase = _REVENUE_SCOPES[kind]
        if kind == "category":
            joins = _J_ORDERS + _J_PRODUCTS
        for value in scope_values[kind]:
            for year in d.years:
                revenue_year.append(
                    _Slot(
                        {"scope": phrase.format(v=value), "year": year},
                        (f"{kind}={value}", f"year={year}"),
                        f"SELECT {_REVENUE} FROM order_items{joins} WHERE {col} = {_lit(value)} "
                        f"AND strftime('%Y', orders.order_date) = {_lit(year)}",
                    )
                )
    add(
        "revenue_in_year",
        (
            "What was the total revenue {scope} in {year}?",
            "How much revenue did we make {scope} in {year}?",
            "In {year}, how much revenue came {scope}?",
            "Calculate the {year} revenue {scope}.",
        ),
        revenue_year,
    )

    add(
        "revenue_by_group",
        (
            "What is the total revenue per {dim}?",
            "Show the revenue broken down by {dim}.",
            "How much revenue does each {dim} bring in?",
            "Give me revenue by {dim}.",
            "Break down our revenue by {dim}, please.",
        ),
        (
            _Slot(
                {"dim": dim},
                (f"group={grouped}",),
                f"SELECT {selected}, {_REVENUE} FROM order_items{joins} GROUP BY {grouped}",
            )
            for dim, joins, selected, grouped in _REVENUE_DIMS
        ),
    )

    by_group_year: list[_Slot] = []
    dims_in_year = [dim for dim in _REVENUE_DIMS if dim[0] != "year"] + [
        (
            "month",
            _J_ORDERS,
            "strftime('%m', orders.order_date) AS month",
            "strftime('%m', orders.order_date)",
        )
    ]
    for dim, joins, selected, grouped in dims_in_year:
        if _J_ORDERS not in joins:
            joins = _J_ORDERS + joins
        for year in d.years:
            by_group_year.append(
                _Slot(
                    {"dim": dim, "year": year},
                    (f"year={year}",),
                    f"SELECT {selected}, {_REVENUE} FROM order_items{joins} WHERE "
                    f"strftime('%Y', orders.order_date) = {_lit(year)} GROUP BY {grouped}",
                )
            )
    add(
        "revenue_by_group_in_year",
        (
            "What was the revenue per {dim} in {year}?",
            "Show the {year} revenue broken down by {dim}.",
            "How much revenue did each {dim} bring in during {year}?",
            "Give me {year} revenue by {dim}.",
        ),
        by_group_year,
    )


def _sql_top_families(add: _Add, d: _SqlDomain, customer_filters: Sequence[_SqlFilter]) -> None:
    """Top-N customers by revenue and by orders, top-N products by units sold."""
    customer_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" {where}", f" WHERE customers.{col} = {_lit(value)}", (f"{kind}={value}",))
        for kind, _, col, where, value in customer_filters
    ]
    add(
        "top_customers_by_revenue",
        (
            "Who are our top {n} customers by revenue{where}?",
            "Which {n} customers{where} generated the most revenue?",
            "List the {n} customers{where} with the highest revenue.",
            "Show me the top {n} customers{where} ranked by revenue.",
        ),
        (
            _Slot(
                {"n": str(n), "where": where},
                entity,
                f"SELECT customers.name, {_REVENUE} AS revenue FROM order_items{_J_ORDERS}"
                f"{_J_CUSTOMERS}{clause} GROUP BY customers.name ORDER BY revenue DESC LIMIT {n}",
            )
            for where, clause, entity in customer_scopes
            for n in _TOP_N
        ),
    )

    product_scopes: list[tuple[str, str, str, tuple[str, ...]]] = [("", _J_PRODUCTS, "", ())]
    product_scopes += [
        (
            f" in the {value} category",
            _J_PRODUCTS,
            f" WHERE products.category = {_lit(value)}",
            (f"category={value}",),
        )
        for value in d.values["category"]
    ]
    product_scopes += [
        (
            f" in {year}",
            _J_ORDERS + _J_PRODUCTS,
            f" WHERE strftime('%Y', orders.order_date) = {_lit(year)}",
            (f"year={year}",),
        )
        for year in d.years
    ]
    add(
        "top_products_by_units",
        (
            "What are the {n} best-selling products by units sold{where}?",
            "Which {n} products sold the most units{where}?",
            "List the top {n} products by quantity sold{where}.",
            "Show me the {n} products with the highest unit sales{where}.",
        ),
        (
            _Slot(
                {"n": str(n), "where": where},
                entity,
                f"SELECT products.name, SUM(order_items.quantity) AS units FROM order_items"
                f"{joins}{clause} GROUP BY products.name ORDER BY units DESC LIMIT {n}",
            )
            for where, joins, clause, entity in product_scopes
            for n in _TOP_N
        ),
    )

    order_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())]
    order_scopes += [
        (
            f" in {year}",
            f" WHERE strftime('%Y', orders.order_date) = {_lit(year)}",
            (f"year={year}",),
        )
        for year in d.years
    ]
    order_scopes += [
        (
            f" among customers based in {value}",
            f" WHERE customers.country = {_lit(value)}",
            (f"country={value}",),
        )
        for value in d.values["country"]
    ]
    add(
        "top_customers_by_orders",
        (
            "Which {n} customers placed the most orders{where}?",
            "List the top {n} customers by number of orders{where}.",
            "Who are the {n} customers with the most orders{where}?",
            "Show me the {n} most frequent buyers{where}.",
        ),
        (
            _Slot(
                {"n": str(n), "where": where},
                entity,
                f"SELECT customers.name, COUNT(*) AS order_count FROM orders{_J_CUSTOMERS}"
                f"{clause} GROUP BY customers.name ORDER BY order_count DESC LIMIT {n}",
            )
            for where, clause, entity in order_scopes
            for n in _TOP_N
        ),
    )


def _sql_price_families(add: _Add, d: _SqlDomain) -> None:
    """Product prices: the priciest and cheapest, price ranges, price statistics."""
    category_scopes: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" in the {value} category", f" WHERE category = {_lit(value)}", (f"category={value}",))
        for value in d.values["category"]
    ]
    add(
        "priciest_products",
        (
            "What are the {n} {adj} products{where}?",
            "List the {n} {adj} products{where} with their prices.",
            "Show me the {n} {adj} items in our catalog{where}.",
            "Which {n} products{where} are the {adj}?",
        ),
        (
            _Slot(
                {"n": str(n), "adj": adj, "where": where},
                entity,
                f"SELECT name, unit_price FROM products{clause} ORDER BY unit_price {order} "
                f"LIMIT {n}",
            )
            for where, clause, entity in category_scopes
            for adj, order in (("most expensive", "DESC"), ("cheapest", "ASC"))
            for n in _TOP_N
        ),
    )

    comparisons: list[tuple[str, str]] = []
    for low, high in zip(_PRICE_STEPS, _PRICE_STEPS[1:], strict=False):
        comparisons.append((f"more than {low}", f"unit_price > {low}"))
        comparisons.append((f"less than {high}", f"unit_price < {high}"))
    for low, high in zip(_PRICE_STEPS, _PRICE_STEPS[2:], strict=False):
        comparisons.append((f"between {low} and {high}", f"unit_price BETWEEN {low} AND {high}"))
    category_conditions: list[tuple[str, str, tuple[str, ...]]] = [("", "", ())] + [
        (f" in the {value} category", f"category = {_lit(value)} AND ", (f"category={value}",))
        for value in d.values["category"]
    ]
    add(
        "price_filter",
        (
            "Which {np} cost {cmp}?",
            "List the {np} priced {cmp}.",
            "Find all {np} that cost {cmp}.",
            "Show me the {np} with a unit price of {cmp}.",
        ),
        (
            _Slot(
                {"np": "products" + where, "cmp": phrase},
                entity,
                f"SELECT name, unit_price FROM products WHERE {prefix}{condition}",
            )
            for where, prefix, entity in category_conditions
            for phrase, condition in comparisons
        ),
    )

    aggregates = (("average", "AVG"), ("lowest", "MIN"), ("highest", "MAX"))
    add(
        "price_stats",
        (
            "What is the {agg} price of {np}?",
            "Tell me the {agg} unit price of {np}.",
            "Calculate the {agg} price across {np}.",
            "What's the {agg} list price for {np}?",
        ),
        (
            _Slot(
                {"agg": word, "np": ("products" + where) if where else "our products"},
                entity,
                f"SELECT {function}(unit_price) FROM products{clause}",
            )
            for where, clause, entity in category_scopes
            for word, function in aggregates
        ),
    )
    add(
        "price_by_category",
        (
            "What is the {agg} product price per category?",
            "Show the {agg} unit price of each product category.",
            "Give me the {agg} price by category.",
            "For every category, what is the {agg} product price?",
        ),
        (
            _Slot(
                {"agg": word},
                ("group=products.category",),
                f"SELECT category, {function}(unit_price) FROM products GROUP BY category",
            )
            for word, function in aggregates
        ),
    )
