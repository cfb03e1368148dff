"""SQL families about one named customer, rep or product, name searches and distinct values."""

from __future__ import annotations

from collections.abc import Sequence

from finetune.datasets.common import _Add, _lit, _Slot
from finetune.datasets.sql_domain import (
    _J_CUSTOMERS,
    _J_PRODUCTS,
    _J_REPS,
    _SQL_DIMS,
    _SqlDomain,
    _SqlFilter,
)


def _sql_lookup_families(add: _Add, d: _SqlDomain) -> None:
    """Attributes, reps, customers, orders and units of one named customer, rep or product."""
    attributes = ("industry", "country", "segment")
    add(
        "customer_attribute",
        (
            "What is the {attr} of {customer}?",
            "Which {attr} is {customer} in?",
            "Tell me the {attr} of the customer {customer}.",
            "Look up the {attr} for {customer}.",
            "Can you check which {attr} {customer} belongs to?",
        ),
        (
            _Slot(
                {"attr": attr, "customer": name},
                (f"customer={name}",),
                f"SELECT {attr} FROM customers WHERE name = {_lit(name)}",
            )
            for name in d.customers
            for attr in attributes
        ),
    )
    add(
        "customer_rep",
        (
            "Who is the sales rep for {customer}?",
            "Which sales rep manages {customer}?",
            "Who looks after {customer} on our sales team?",
            "Find the sales representative assigned to {customer}.",
        ),
        (
            _Slot(
                {"customer": name},
                (f"customer={name}",),
                f"SELECT sales_reps.name FROM customers{_J_REPS} "
                f"WHERE customers.name = {_lit(name)}",
            )
            for name in d.customers
        ),
    )
    add(
        "rep_customers",
        (
            "Which customers does {rep} manage?",
            "List the customers assigned to {rep}.",
            "Show me all customers handled by the sales rep {rep}.",
            "Who are the customers of {rep}?",
        ),
        (
            _Slot(
                {"rep": name},
                (f"rep={name}",),
                f"SELECT customers.name FROM customers{_J_REPS} "
                f"WHERE sales_reps.name = {_lit(name)}",
            )
            for name, _ in d.reps
        ),
    )
    add(
        "rep_customer_count",
        (
            "How many customers does {rep} manage?",
            "Count the customers assigned to {rep}.",
            "What is the number of customers handled by {rep}?",
            "Tell me how many customers the sales rep {rep} looks after.",
        ),
        (
            _Slot(
                {"rep": name},
                (f"rep={name}",),
                f"SELECT COUNT(*) FROM customers{_J_REPS} WHERE sales_reps.name = {_lit(name)}",
            )
            for name, _ in d.reps
        ),
    )
    add(
        "customer_order_count",
        (
            "How many orders has {customer} placed?",
            "Count the orders from {customer}.",
            "What is the number of orders placed by {customer}?",
            "Tell me how many orders {customer} has made.",
        ),
        (
            _Slot(
                {"customer": name},
                (f"customer={name}",),
                f"SELECT COUNT(*) FROM orders{_J_CUSTOMERS} WHERE customers.name = {_lit(name)}",
            )
            for name in d.customers
        ),
    )
    add(
        "customer_order_date",
        (
            "When did {customer} place its {which} order?",
            "What is the date of the {which} order from {customer}?",
            "Find the {which} order date for {customer}.",
            "On what day did {customer} make its {which} order?",
        ),
        (
            _Slot(
                {"customer": name, "which": which},
                (f"customer={name}",),
                f"SELECT {function}(orders.order_date) FROM orders{_J_CUSTOMERS} "
                f"WHERE customers.name = {_lit(name)}",
            )
            for name in d.customers
            for which, function in (("most recent", "MAX"), ("first", "MIN"))
        ),
    )
    add(
        "product_units",
        (
            "How many units of {product} have we sold?",
            "What is the total quantity sold of {product}?",
            "Count the units sold for {product}.",
            "Tell me how many units of {product} were ordered.",
        ),
        (
            _Slot(
                {"product": name},
                (f"product={name}",),
                f"SELECT SUM(order_items.quantity) FROM order_items{_J_PRODUCTS} "
                f"WHERE products.name = {_lit(name)}",
            )
            for name in d.products
        ),
    )
    add(
        "product_average_quantity",
        (
            "What is the average quantity per order line for {product}?",
            "On average, how many units of {product} are in an order line?",
            "Calculate the mean quantity ordered of {product}.",
            "Tell me the average order quantity for {product}.",
        ),
        (
            _Slot(
                {"product": name},
                (f"product={name}",),
                f"SELECT AVG(order_items.quantity) FROM order_items{_J_PRODUCTS} "
                f"WHERE products.name = {_lit(name)}",
            )
            for name in d.products
        ),
    )
    add(
        "product_attribute",
        (
            "What is the {attr} of {product}?",
            "Tell me the {attr} of the product {product}.",
            "Look up the {attr} for {product}.",
            "Can you check the {attr} of {product}?",
        ),
        (
            _Slot(
                {"attr": word, "product": name},
                (f"product={name}",),
                f"SELECT {col} FROM products WHERE name = {_lit(name)}",
            )
            for name in d.products
            for word, col in (("unit price", "unit_price"), ("category", "category"))
        ),
    )


def _sql_search_families(add: _Add, d: _SqlDomain, customer_filters: Sequence[_SqlFilter]) -> None:
    """Name searches, distinct values, hire and creation dates, orders per customer."""
    like: list[_Slot] = [
        _Slot(
            {"noun": "customers", "word": word},
            (f"name_word={word}",),
            f"SELECT name FROM customers WHERE name LIKE '%{word}%'",
        )
        for word in d.name_words
    ]
    like += [
        _Slot(
            {"noun": "products", "word": word},
            (f"product_word={word}",),
            f"SELECT name FROM products WHERE name LIKE '%{word}%'",
        )
        for word in d.product_words
    ]
    add(
        "name_contains",
        (
            'List the {noun} whose name contains "{word}".',
            'Which {noun} have "{word}" in their name?',
            "Find all {noun} with {word} in the name.",
            "Show me the {noun} whose names include the word {word}.",
        ),
        like,
    )

    distinct: list[_Slot] = []
    for _, dims, _, col in _SQL_DIMS[:3]:
        distinct.append(
            _Slot(
                {"things": dims, "np": "our customers"},
                (f"group=customers.{col}",),
                f"SELECT DISTINCT {col} FROM customers",
            )
        )
        for kind, _, fcol, where, value in customer_filters:
            if fcol == col:
                continue
            distinct.append(
                _Slot(
                    {"things": dims, "np": f"customers {where}"},
                    (f"{kind}={value}",),
                    f"SELECT DISTINCT {col} FROM customers WHERE {fcol} = {_lit(value)}",
                )
            )
        for region in d.values["region"]:
            distinct.append(
                _Slot(
                    {"things": dims, "np": f"customers in the {region} region"},
                    (f"region={region}",),
                    f"SELECT DISTINCT customers.{col} FROM customers{_J_REPS} "
                    f"WHERE sales_reps.region = {_lit(region)}",
                )
            )
    add(
        "distinct_values",
        (
            "Which distinct {things} appear among {np}?",
            "List the different {things} of {np}.",
            "Give me the unique {things} across {np}.",
            "What {things} are represented among {np}? List each once.",
        ),
        distinct,
    )

    hired: list[_Slot] = []
    rep_scopes: list[tuple[str, str, tuple[str, ...]]] = [("sales reps", "", ())] + [
        (f"sales reps in the {value} region", f"region = {_lit(value)} AND ", (f"region={value}",))
        for value in d.values["region"]
    ]
    for year in d.hire_years[1:]:
        for np, clause, entity in rep_scopes:
            for when, op in (("before", "<"), ("since", ">=")):
                hired.append(
                    _Slot(
                        {"np": np, "when": f"{when} {year}"},
                        entity,
                        f"SELECT name FROM sales_reps WHERE {clause}hired_on {op} '{year}-01-01'",
                    )
                )
    add(
        "reps_hired",
        (
            "Which {np} were hired {when}?",
            "List the {np} hired {when}.",
            "Show me the {np} who joined {when}.",
            "Find the {np} with a hire date {when}.",
        ),
        hired,
    )

    created_scopes: list[tuple[str, str, tuple[str, ...]]] = [("customers", "", ())] + [
        (f"customers {where}", f"{col} = {_lit(value)} AND ", (f"{kind}={value}",))
        for kind, _, col, where, value in customer_filters
        if kind != "country"
    ]
    add(
        "customers_created",
        (
            "How many {np} were added in {year}?",
            "Count the {np} created in {year}.",
            "How many new {np} did we get in {year}?",
            "What is the number of {np} that joined in {year}?",
        ),
        (
            _Slot(
                {"np": np, "year": year},
                (*entity, f"year={year}"),
                f"SELECT COUNT(*) FROM customers WHERE {clause}strftime('%Y', created_on) = "
                f"{_lit(year)}",
            )
            for np, clause, entity in created_scopes
            for year in d.customer_years
        ),
    )
    add(
        "orders_per_customer",
        (
            "How many orders has each customer {where} placed?",
            "Show the number of orders per customer {where}.",
            "Count the orders of every customer {where}.",
            "List each customer {where} with its order count.",
        ),
        (
            _Slot(
                {"where": where},
                (f"{kind}={value}",),
                f"SELECT customers.name, COUNT(*) AS order_count FROM orders{_J_CUSTOMERS} "
                f"WHERE customers.{col} = {_lit(value)} GROUP BY customers.name",
            )
            for kind, _, col, where, value in customer_filters
        ),
    )
