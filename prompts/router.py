"""Prompt of the router model, used when the rules fast path cannot decide."""

ROUTER_PROMPT = """Split the request into sub-tasks. Specialists:
- sql: questions about the company database (sales reps, customers, products, orders, order items, revenue).
- salesforce: questions about the Salesforce CRM (accounts, contacts, opportunities, leads, cases).
- summarize: summarise a text, or the result of an earlier sub-task (set depends_on to its position, counting from 1).

Example request: How many orders were shipped in 2024? Then summarise the result.
Example plan: {{"tasks": [{{"specialist": "sql", "instruction": "How many orders were shipped in 2024?", "depends_on": null}}, {{"specialist": "summarize", "instruction": "Summarise the result.", "depends_on": 1}}]}}

Example request: List the open cases with high priority in Salesforce.
Example plan: {{"tasks": [{{"specialist": "salesforce", "instruction": "List the open cases with high priority.", "depends_on": null}}]}}

Request: {request}
Plan:"""
"""Asks for a ``Plan``; decoding is constrained to the plan's JSON schema."""
