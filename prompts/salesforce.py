"""Prompts of the Salesforce specialist."""

SOQL_PROMPT = """Salesforce objects and fields:
{objects}

Request: How many leads are there?
Action: {{"action": {{"action": "query", "soql": "SELECT COUNT() FROM Lead"}}}}

Request: List the names of accounts in the Retail industry.
Action: {{"action": {{"action": "query", "soql": "SELECT Name FROM Account WHERE Industry = 'Retail'"}}}}

Request: How many cases per priority?
Action: {{"action": {{"action": "query", "soql": "SELECT Priority, COUNT(Id) FROM Case GROUP BY Priority"}}}}

Request: Which fields does the Case object have?
Action: {{"action": {{"action": "describe", "sobject": "Case"}}}}

Request: {request}
Action:"""
"""First request to the Salesforce specialist; decoding is constrained to the action schema."""

SOQL_REPAIR_PROMPT = """That action was rejected: {error}
Write one corrected action for the same request.
Action:"""
"""Follow-up after a validation or API error; the error text comes from ``tools.salesforce``."""

SALESFORCE_OBJECTS = """Account(Id, Name, Industry, Type, BillingCity, BillingCountry, AnnualRevenue, NumberOfEmployees, CreatedDate)
Contact(Id, FirstName, LastName, Email, Phone, Title, AccountId, CreatedDate)
Opportunity(Id, Name, AccountId, Amount, StageName, CloseDate, Probability, Type, LeadSource, IsClosed, IsWon, CreatedDate)
Lead(Id, FirstName, LastName, Company, Email, Phone, Status, LeadSource, Industry, Rating, CreatedDate)
Case(Id, Subject, Description, Status, Priority, Origin, AccountId, ContactId, CreatedDate, ClosedDate)"""
"""The objects the specialist is told about (the demo org's, see the demo domain)."""

SALESFORCE_OBJECTS_PROMPT = """Salesforce objects and fields:
{objects}"""
"""Appended to the fine-tuned Salesforce specialist's system message."""
