"""Prompts of the SQL specialist.

The request is a chat: the Modelfile's SYSTEM text followed by ``SQL_SCHEMA_PROMPT``
(the live schema), then ``SQL_EXAMPLES`` as question / answer turns, then the question.
"""

SQL_SCHEMA_PROMPT = """Database schema:
{schema}"""
"""Appended to the system message: the schema read from the database."""

SQL_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("How many customers are there?", "SELECT COUNT(*) FROM customers"),
    (
        "List the names of the products in the Hardware category.",
        "SELECT name FROM products WHERE category = 'Hardware'",
    ),
    (
        "How many orders are there per status?",
        "SELECT status, COUNT(*) FROM orders GROUP BY status",
    ),
    (
        "What is the total revenue per region?",
        "SELECT sales_reps.region, SUM(order_items.quantity * order_items.unit_price) "
        "FROM order_items JOIN orders ON orders.id = order_items.order_id "
        "JOIN customers ON customers.id = orders.customer_id "
        "JOIN sales_reps ON sales_reps.id = customers.rep_id GROUP BY sales_reps.region",
    ),
)
"""Few-shot pairs shown as earlier turns of the chat. They name tables in full (no aliases)
and stay inside the SQL grammar of ``tools.sql_grammar``, so that the examples and
grammar-constrained decoding agree."""

SQL_REPAIR_PROMPT = """{error}
SELECT statement for: {question}"""
"""Follow-up after a validation or execution error: the error text from ``tools.sql``, then
the question again, so the turn looks like the examples' (a bare "write a corrected
statement" led the base model to write INSERTs when sampling)."""
