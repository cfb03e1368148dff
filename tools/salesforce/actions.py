"""The typed actions the Salesforce specialist emits: :class:`ActionRequest` and its parts.

A request holds exactly one action: a SOQL query, a record get, a create, update or delete
(writes, which a person approves first) or a describe. :class:`SoqlQuery` is a query on its
own, accepted wherever an action is.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.salesforce_limits import MAX_SOQL_LENGTH


class SoqlQuery(BaseModel):
    """The action the Salesforce specialist emits: one read-only SOQL query."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["query"] = Field(
        default="query",
        description='Always "query": run one read-only SOQL query against Salesforce.',
    )
    soql: str = Field(
        description=(
            "One SOQL SELECT statement over standard Salesforce objects (Account, Contact, "
            "Opportunity, Lead, Case), e.g. SELECT Name, Amount FROM Opportunity "
            "WHERE StageName = 'Closed Won' LIMIT 10. Name each field (no SELECT *), follow "
            "parents with relationship paths such as Account.Name, put text in single "
            "quotes, write dates without quotes (2024-01-31) or as date literals "
            "(TODAY, LAST_N_DAYS:30, THIS_QUARTER). No semicolon, no INSERT/UPDATE/DELETE."
        ),
    )


# Free-text limits for the grammar: long enough for any field of the demo org (a long text
# area holds 32,000 characters), short enough that a runaway model stops.
_MAX_SOQL: Final = MAX_SOQL_LENGTH
_MAX_NAME: Final = 80
_MAX_VALUE: Final = 32000
_MAX_FIELDS: Final = 60

FieldValue = Annotated[str, Field(max_length=_MAX_VALUE)] | int | float | bool | None
"""One field value in a create/update: text, number, boolean, or null to clear it."""

_SOBJECT_DESCRIPTION: Final = "The object's API name: Account, Contact, Opportunity, Lead or Case."
_RECORD_ID_DESCRIPTION: Final = (
    "The record's 18-character Id (15 also accepted); its first three characters are the "
    "object's key prefix: 001 Account, 003 Contact, 006 Opportunity, 00Q Lead, 500 Case."
)
_VALUES_DESCRIPTION: Final = (
    "Field API name -> new value. Text in quotes, numbers and true/false without quotes, "
    "dates as 2024-01-31, picklists as one of the field's values, references as the 18-char "
    "Id of the parent record, null to clear a field."
)


def _action_first(schema: dict[str, Any]) -> None:
    """Mark ``action`` required in a JSON schema, so a grammar made from it writes it first.

    A JSON-schema grammar writes required properties in order and optional ones after them;
    with ``action`` optional (it has a default), constrained decoding could only produce
    ``{"soql": ..., "action": "query"}``, unlike every other action and every example.
    """
    required = [name for name in schema.get("required", []) if name != "action"]
    schema["required"] = ["action", *required]


class QueryAction(BaseModel):
    """Run one read-only SOQL query."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_action_first)

    action: Literal["query"] = Field(
        default="query", description="query: run one read-only SOQL query."
    )
    soql: str = Field(
        max_length=_MAX_SOQL,
        description=SoqlQuery.model_fields["soql"].description,
    )


class GetAction(BaseModel):
    """Read named fields of one record by its Id."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["get"] = Field(description="get: read fields of one record by Id.")
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)
    record_id: str = Field(max_length=18, description=_RECORD_ID_DESCRIPTION)
    fields: list[Annotated[str, Field(max_length=_MAX_NAME * 3)]] = Field(
        max_length=_MAX_FIELDS,
        description=(
            'Field API names to read, e.g. ["Name", "Industry"]; parent fields through '
            "relationship paths such as Account.Name. Empty reads every field."
        ),
    )


class CreateAction(BaseModel):
    """Create one record (a write: a person approves it first)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["create"] = Field(description="create: insert one new record.")
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)
    values: dict[str, FieldValue] = Field(description=_VALUES_DESCRIPTION)


class UpdateAction(BaseModel):
    """Change fields of one record (a write: a person approves it first)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["update"] = Field(description="update: change fields of one record.")
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)
    record_id: str = Field(max_length=18, description=_RECORD_ID_DESCRIPTION)
    values: dict[str, FieldValue] = Field(description=_VALUES_DESCRIPTION)


class DeleteAction(BaseModel):
    """Delete one record (a write: a person approves it first)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["delete"] = Field(description="delete: remove one record.")
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)
    record_id: str = Field(max_length=18, description=_RECORD_ID_DESCRIPTION)


class DescribeAction(BaseModel):
    """List an object's fields, their types and picklist values."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["describe"] = Field(
        description="describe: list an object's fields, types and picklist values."
    )
    sobject: str = Field(max_length=_MAX_NAME, description=_SOBJECT_DESCRIPTION)


SalesforceAction = Annotated[
    QueryAction | GetAction | CreateAction | UpdateAction | DeleteAction | DescribeAction,
    Field(discriminator="action"),
]
"""One typed Salesforce action; ``action`` says which."""

AnyAction = QueryAction | GetAction | CreateAction | UpdateAction | DeleteAction | DescribeAction


class ActionRequest(BaseModel):
    """What the Salesforce specialist emits: exactly one action.

    ``ActionRequest.model_json_schema()`` is the schema that constrains decoding.
    """

    model_config = ConfigDict(extra="forbid")

    action: SalesforceAction = Field(
        description=(
            "The one Salesforce action to take: query (SOQL), get (one record's fields), "
            "create, update, delete (writes, approved by a person first) or describe."
        )
    )


WRITE_ACTIONS: Final = frozenset({"create", "update", "delete"})
"""The action kinds that change data and need a person's approval."""


def is_write(action: AnyAction | SoqlQuery | str) -> bool:
    """Say whether an action changes data (create, update or delete).

    Args:
        action: An action model, or its ``action`` name.

    Returns:
        True for create, update and delete.
    """
    name = action if isinstance(action, str) else action.action
    return name in WRITE_ACTIONS
