"""An offline Salesforce sandbox org: the REST API subset this project uses, on loopback.

It exists so that the demo and the tests run the Salesforce specialist for real with no
Salesforce account. :func:`start_sandbox` serves, over HTTPS on ``127.0.0.1`` (with a
throwaway self-signed certificate that the client is told to trust), the part of the
Salesforce REST API that simple-salesforce uses here:

- ``GET  /services/data/vNN.N/query?q=SOQL`` with ``nextRecordsUrl`` paging (``queryAll``
  answers the same; there is no recycle bin);
- ``GET  .../sobjects`` (describeGlobal), ``GET .../sobjects/<Object>/describe``;
- ``GET  .../sobjects/<Object>/<Id>[?fields=A,B]``, ``POST .../sobjects/<Object>/``,
  ``PATCH`` and ``DELETE .../sobjects/<Object>/<Id>``;
- Salesforce-shaped errors (``[{"message": ..., "errorCode": ...}]`` with the same HTTP
  status: 400 ``MALFORMED_QUERY`` / ``INVALID_FIELD`` / ``INVALID_TYPE`` /
  ``INVALID_FIELD_FOR_INSERT_UPDATE`` / ``STRING_TOO_LONG`` / ``REQUIRED_FIELD_MISSING`` /
  ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`` / ``INVALID_CROSS_REFERENCE_KEY`` ..., 401
  ``INVALID_SESSION_ID``, 404 ``NOT_FOUND``).

The data is the org of ``spec/demo_domain.md`` section 2 (60 accounts, 150 contacts, 200
opportunities, 120 leads, 150 cases), seeded deterministically into SQLite. SOQL runs by
translation into SQLite SQL (see :mod:`tools.salesforce_sandbox.soql` for the subset);
what is outside it is answered with ``MALFORMED_QUERY`` saying it is not emulated.

**It emulates a subset; it is not Salesforce.** No login endpoints (it takes a session id),
no sharing or field-level security, no triggers, workflows or validation rules beyond
field types, picklists (treated as restricted), required fields and the few computed fields
of the spec (``IsClosed``/``IsWon``, ``Probability`` from the stage, ``ClosedDate``,
``CreatedDate``), no child-relationship sub-queries, no Bulk/SOAP/Tooling APIs. A real org
is used simply by setting real credentials (``SF_USERNAME``/``SF_PASSWORD``/
``SF_SECURITY_TOKEN``, ``SF_INSTANCE_URL``/``SF_SESSION_ID``, JWT or client credentials)
instead of the sandbox's variables.
"""

from tools.salesforce_sandbox.server import (
    DEFAULT_PAGE_SIZE,
    SandboxServer,
    sandbox_client,
    start_if_unconfigured,
    start_sandbox,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "SandboxServer",
    "sandbox_client",
    "start_if_unconfigured",
    "start_sandbox",
]
