"""Graph nodes, one module per node: router, sql, salesforce, summarize, respond."""
