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
        "SELECT r.region, SUM(oi.quantity * oi.unit_price) FROM order_items oi "
        "JOIN orders o ON o.id = oi.order_id JOIN customers c ON c.id = o.customer_id "
        "JOIN sales_reps r ON r.id = c.rep_id GROUP BY r.region",
    ),
)
"""Few-shot pairs shown as earlier turns of the chat."""

SQL_REPAIR_PROMPT = """{error}
SELECT statement for: {question}"""
"""Follow-up after a validation or execution error: the error text from ``tools.sql``, then
the question again, so the turn looks like the examples' (a bare "write a corrected
statement" led the base model to write INSERTs when sampling)."""
