"""Salesforce tools: the actions a specialist emits, credentials, validation and queries.

The specialist model emits an :class:`ActionRequest` holding one typed action: a SOQL query,
a record get, a create, update or delete, or a describe. Before anything reaches the org,
:meth:`SalesforceClient.validate_action` checks it against the org's own ``describe()``
metadata; a query goes through :meth:`SalesforceClient.validate_soql`, which checks one
read-only ``SELECT ... FROM <Object>``: objects, fields, relationship paths, functions, value
types and picklist values. Every problem found there raises :class:`SoqlValidationError`
with a short message the model can act on ("no field `Amout` on Opportunity; did you mean
`Amount`?").

Submodules:
    actions: the typed actions (:class:`ActionRequest`, :class:`QueryAction` ...) and
        :func:`is_write`.
    credentials: :class:`SalesforceCredentials` and the environment variables they come from.
    errors: :class:`SalesforceError`, :class:`SoqlValidationError`, secret scrubbing and
        :func:`map_salesforce_exception`.
    hints: "did you mean" suggestions and shortened values for messages.
    soql: the SOQL lexer, the rewrite for sqlglot and :func:`clean_soql`.
    metadata: field types, ``describe()`` lookups and the object allow-list.
    checker: the check of a parsed query against ``describe()``.
    fields: record Ids (key prefixes, checksum) and field values.
    results: :class:`SoqlResult`, :class:`ActionResult` and the flattening of records.
    session: the HTTP session, with its timeout and pinned CA bundle.
    client: :class:`SalesforceClient`.
"""

from tools.salesforce.actions import (
    WRITE_ACTIONS,
    ActionRequest,
    AnyAction,
    CreateAction,
    DeleteAction,
    DescribeAction,
    GetAction,
    QueryAction,
    SalesforceAction,
    SoqlQuery,
    UpdateAction,
    is_write,
)
from tools.salesforce.client import SalesforceClient
from tools.salesforce.credentials import (
    ALL_ENV_VARS,
    ENV_VARS,
    MORE_ENV_VARS,
    SalesforceCredentials,
    missing_credentials_message,
)
from tools.salesforce.errors import (
    PicklistValueError,
    SalesforceError,
    SoqlValidationError,
    map_salesforce_exception,
)
from tools.salesforce.fields import (
    KEY_PREFIXES,
    check_field_value,
    check_record_id,
    id_checksum,
    to_18_char_id,
)
from tools.salesforce.results import ActionResult, SoqlResult
from tools.salesforce.session import DEFAULT_TIMEOUT_S, http_timeout
from tools.salesforce.soql import clean_soql
from tools.salesforce_limits import DEFAULT_OBJECTS

__all__ = [
    "ALL_ENV_VARS",
    "DEFAULT_OBJECTS",
    "DEFAULT_TIMEOUT_S",
    "ENV_VARS",
    "KEY_PREFIXES",
    "MORE_ENV_VARS",
    "PicklistValueError",
    "WRITE_ACTIONS",
    "ActionRequest",
    "ActionResult",
    "AnyAction",
    "CreateAction",
    "DeleteAction",
    "DescribeAction",
    "GetAction",
    "QueryAction",
    "SalesforceAction",
    "SalesforceClient",
    "SalesforceCredentials",
    "SalesforceError",
    "SoqlQuery",
    "SoqlResult",
    "SoqlValidationError",
    "UpdateAction",
    "check_field_value",
    "check_record_id",
    "clean_soql",
    "http_timeout",
    "id_checksum",
    "is_write",
    "map_salesforce_exception",
    "missing_credentials_message",
    "to_18_char_id",
]
