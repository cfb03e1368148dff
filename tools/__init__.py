"""The real systems: the SQL database, the Salesforce org, and the demo data generator."""
