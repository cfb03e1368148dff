"""The sandbox org's data: SQLite tables for the five objects, and the REST operations.

Every operation raises :class:`SandboxApiError` carrying the HTTP status and the
Salesforce error code the real API would answer with; the HTTP layer only serialises.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from tools.salesforce import (
    KEY_PREFIXES,
    SoqlValidationError,
    check_field_value,
    check_record_id,
)
from tools.salesforce_sandbox.schema import (
    API_VERSION,
    OBJECTS,
    STAGE_PROBABILITY,
    FieldSpec,
    ObjectSpec,
    describe_object,
    field_spec,
    object_spec,
)
from tools.salesforce_sandbox.seed import format_datetime, make_id, seed_records
from tools.salesforce_sandbox.soql import QueryPlan, translate

__all__ = ["SandboxApiError", "SandboxOrg"]

_FIRST_NEW_RECORD: Final = 100_000
_VALUE_CODES: Final = {
    "INVALID_PICKLIST_VALUE": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "INVALID_TYPE_ON_FIELD": "JSON_PARSER_ERROR",
    "INVALID_VALUE": "INVALID_FIELD",
}
_QUERY_CODES: Final = frozenset({"INVALID_FIELD", "INVALID_TYPE", "MALFORMED_QUERY"})


class SandboxApiError(Exception):
    """An error the sandbox answers with, shaped like the REST API's."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict[str, Any]]:
        """The JSON body: a list with one error, as Salesforce sends it."""
        error: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            error["fields"] = self.fields
        return [error]


def _not_found() -> SandboxApiError:
    return SandboxApiError(404, "NOT_FOUND", "The requested resource does not exist")


def record_url(sobject: str, record_id: str) -> str:
    """The ``attributes.url`` of a record."""
    return f"/services/data/v{API_VERSION}/sobjects/{sobject}/{record_id}"


def _to_json(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.type == "boolean":
        return bool(value)
    if spec.type == "int":
        return int(value)
    if spec.type in ("currency", "double", "percent"):
        return float(value)
    return value


class SandboxOrg:
    """The records of the sandbox org in one SQLite file; safe to use from many threads.

    Args:
        path: The SQLite file; created and seeded when missing.
        anchor: The day seed dates are laid out around (today by default).
    """

    def __init__(self, path: Path, *, anchor: dt.date | None = None) -> None:
        self.path = path
        self._anchor = anchor
        self._lock = threading.RLock()
        fresh = not path.exists()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        if fresh or not self._has_tables():
            self.reset()

    # -- lifecycle ---------------------------------------------------------------------

    def _has_tables(self) -> bool:
        names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        return {*OBJECTS, "_meta"} <= names

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def reset(self) -> None:
        """Drop every change: recreate the tables and load the seed data again."""
        records = seed_records(self._anchor)
        with self._transaction() as db:
            for spec in OBJECTS.values():
                db.execute(f'DROP TABLE IF EXISTS "{spec.name}"')
                columns = ", ".join(
                    f'"{f.name}" {f.sql_type}' + (" PRIMARY KEY" if f.name == "Id" else "")
                    for f in spec.fields
                )
                db.execute(f'CREATE TABLE "{spec.name}" ({columns})')
                names = [f.name for f in spec.fields]
                marks = ", ".join("?" for _ in names)
                quoted = ", ".join(f'"{n}"' for n in names)
                db.executemany(
                    f'INSERT INTO "{spec.name}" ({quoted}) VALUES ({marks})',
                    [[row.get(n) for n in names] for row in records[spec.name]],
                )
                for fld in spec.fields:
                    if fld.type == "reference":
                        db.execute(
                            f'CREATE INDEX "{spec.name}_{fld.name}" ON "{spec.name}" ("{fld.name}")'
                        )
            db.execute("DROP TABLE IF EXISTS _meta")
            db.execute("CREATE TABLE _meta (key TEXT PRIMARY KEY, value INTEGER)")
            db.execute("INSERT INTO _meta VALUES ('next_record', ?)", (_FIRST_NEW_RECORD,))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def counts(self) -> dict[str, int]:
        """Records per object."""
        with self._lock:
            return {
                name: int(self._db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0])
                for name in OBJECTS
            }

    # -- queries -----------------------------------------------------------------------

    def query(self, soql: str, *, today: dt.date | None = None) -> tuple[list[Any], int]:
        """Run a SOQL query.

        Args:
            soql: The query.
            today: The current day for date literals (today in UTC by default).

        Returns:
            The records (REST-shaped dicts) and ``totalSize``.

        Raises:
            SandboxApiError: ``MALFORMED_QUERY``, ``INVALID_FIELD`` or ``INVALID_TYPE``.
        """
        try:
            plan = translate(soql, today=today)
        except SoqlValidationError as exc:
            code = exc.code if exc.code in _QUERY_CODES else "MALFORMED_QUERY"
            raise SandboxApiError(400, code, exc.message) from None
        with self._lock:
            try:
                rows = self._db.execute(plan.sql, plan.params).fetchall()
            except sqlite3.Error as exc:
                raise SandboxApiError(
                    400, "MALFORMED_QUERY", f"the sandbox could not run this query: {exc}"
                ) from None
        if plan.bare_count:
            return [], int(rows[0][0])
        records = [self._shape(plan, row) for row in rows]
        return records, len(records)

    @staticmethod
    def _shape(plan: QueryPlan, row: sqlite3.Row) -> dict[str, Any]:
        if plan.aggregate:
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for i, item in enumerate(plan.items):
                value = row[f"c{i}"]
                if item.ftype == "boolean" and value is not None:
                    value = bool(value)
                elif isinstance(value, float) and item.ftype == "int":
                    value = int(value)
                record[item.key] = value
            return record
        root_type, root_id = plan.parents[()]
        record = {"attributes": {"type": root_type, "url": record_url(root_type, row[root_id])}}
        for i, item in enumerate(plan.items):
            cursor: dict[str, Any] | None = record
            for depth, rel in enumerate(item.path[:-1]):
                assert cursor is not None
                if rel not in cursor:
                    parent_type, id_column = plan.parents[tuple(item.path[: depth + 1])]
                    parent_id = row[id_column]
                    cursor[rel] = (
                        None
                        if parent_id is None
                        else {
                            "attributes": {
                                "type": parent_type,
                                "url": record_url(parent_type, parent_id),
                            }
                        }
                    )
                cursor = cursor[rel]
                if cursor is None:
                    break
            if cursor is None:
                continue
            obj = OBJECTS[plan.sobject]
            for rel in item.path[:-1]:
                ref = next(f for f in obj.fields if f.relationship_name == rel)
                obj = OBJECTS[ref.reference_to or ""]
            spec = field_spec(obj, item.path[-1])
            value = row[f"c{i}"]
            key = item.path[-1] if len(item.path) > 1 else item.key
            cursor[key] = _to_json(spec, value) if spec is not None else value
        return record

    # -- records -----------------------------------------------------------------------

    @staticmethod
    def _object(name: str) -> ObjectSpec:
        spec = object_spec(name)
        if spec is None:
            raise SandboxApiError(
                404, "NOT_FOUND", f"The requested resource does not exist: sObject type '{name}'"
            )
        return spec

    @staticmethod
    def _id(spec: ObjectSpec, record_id: str) -> str:
        try:
            return check_record_id(record_id, spec.name, spec.key_prefix)
        except SoqlValidationError:
            raise SandboxApiError(
                404 if len(record_id) in (15, 18) else 400,
                "NOT_FOUND" if len(record_id) in (15, 18) else "MALFORMED_ID",
                f"Provided external ID field does not exist or is not accessible: {record_id}"
                if len(record_id) in (15, 18)
                else f"{spec.name} ID: id value of incorrect type: {record_id}",
            ) from None

    def describe(self, sobject: str) -> dict[str, Any]:
        """Return the describe body of one object (404 NOT_FOUND when unknown)."""
        described = describe_object(sobject)
        if described is None:
            self._object(sobject)
            raise _not_found()
        return described

    def get(self, sobject: str, record_id: str, fields: list[str] | None) -> dict[str, Any]:
        """Read one record, all fields or the named ones."""
        spec = self._object(sobject)
        record_id = self._id(spec, record_id)
        chosen: list[FieldSpec] = []
        for name in fields or [f.name for f in spec.fields]:
            fld = field_spec(spec, name.strip())
            if fld is None:
                raise SandboxApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name.strip()}' on entity '{spec.name}'. If you are "
                    "attempting to use a custom field, be sure to append the '__c' after the "
                    "custom field name.",
                )
            chosen.append(fld)
        with self._lock:
            row = self._db.execute(
                f'SELECT * FROM "{spec.name}" WHERE "Id" = ?', (record_id,)
            ).fetchone()
        if row is None:
            raise _not_found()
        record: dict[str, Any] = {
            "attributes": {"type": spec.name, "url": record_url(spec.name, row["Id"])}
        }
        for fld in chosen:
            record[fld.name] = _to_json(fld, row[fld.name])
        return record

    def _values(
        self, spec: ObjectSpec, body: Any, *, kind: str, db: sqlite3.Connection
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise SandboxApiError(
                400, "JSON_PARSER_ERROR", "The request body must be a JSON object of fields"
            )
        flag = "createable" if kind == "create" else "updateable"
        described = {str(f["name"]).lower(): f for f in self.describe(spec.name)["fields"]}
        values: dict[str, Any] = {}
        for key, value in body.items():
            fld = described.get(str(key).lower())
            if fld is None:
                raise SandboxApiError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {spec.name}"
                )
            name = str(fld["name"])
            if not fld[flag]:
                raise SandboxApiError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to {kind} fields: {name}. Please check the security settings of "
                    "this field and verify that it is read/write for your profile or "
                    "permission set.",
                    [name],
                )
            try:
                values[name] = check_field_value(
                    spec.name, fld, value, key_prefix_of=KEY_PREFIXES.get
                )
            except SoqlValidationError as exc:
                code = _VALUE_CODES.get(exc.code or "", exc.code or "INVALID_FIELD")
                raise SandboxApiError(400, code, exc.message, [name]) from None
            target = fld.get("referenceTo") or []
            if values[name] is not None and target:
                found = db.execute(
                    f'SELECT 1 FROM "{target[0]}" WHERE "Id" = ?', (values[name],)
                ).fetchone()
                if found is None:
                    raise SandboxApiError(
                        400,
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"invalid cross reference id: no {target[0]} {values[name]}",
                        [name],
                    )
        return values

    def _derive(self, spec: ObjectSpec, values: dict[str, Any], *, create: bool) -> None:
        now = format_datetime(dt.datetime.now(dt.UTC))
        if create:
            values["CreatedDate"] = now
            for fld in spec.fields:
                if fld.default is not None and values.get(fld.name) is None:
                    values[fld.name] = fld.default
            missing = [
                f.name
                for f in spec.fields
                if f.createable and not f.nillable and values.get(f.name) is None
            ]
            if missing:
                raise SandboxApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
        if spec.name == "Opportunity" and "StageName" in values:
            stage = values["StageName"]
            values["IsClosed"] = stage.startswith("Closed")
            values["IsWon"] = stage == "Closed Won"
            if "Probability" not in values:
                values["Probability"] = float(STAGE_PROBABILITY.get(stage, 0))
        if spec.name == "Opportunity" and create:
            values.setdefault("IsClosed", False)
            values.setdefault("IsWon", False)
        if spec.name == "Case" and "Status" in values:
            values["ClosedDate"] = now if values["Status"] == "Closed" else None

    def _next_id(self, spec: ObjectSpec, db: sqlite3.Connection) -> str:
        number = int(db.execute("SELECT value FROM _meta WHERE key = 'next_record'").fetchone()[0])
        db.execute("UPDATE _meta SET value = value + 1 WHERE key = 'next_record'")
        return make_id(spec.name, number)

    def create(self, sobject: str, body: Any) -> str:
        """Insert a record; return its new Id."""
        spec = self._object(sobject)
        with self._transaction() as db:
            values = self._values(spec, body, kind="create", db=db)
            self._derive(spec, values, create=True)
            values["Id"] = self._next_id(spec, db)
            quoted = ", ".join(f'"{name}"' for name in values)
            marks = ", ".join("?" for _ in values)
            db.execute(
                f'INSERT INTO "{spec.name}" ({quoted}) VALUES ({marks})', list(values.values())
            )
        return str(values["Id"])

    def update(self, sobject: str, record_id: str, body: Any) -> None:
        """Change fields of a record."""
        spec = self._object(sobject)
        record_id = self._id(spec, record_id)
        with self._transaction() as db:
            found = db.execute(f'SELECT 1 FROM "{spec.name}" WHERE "Id" = ?', (record_id,))
            if found.fetchone() is None:
                raise _not_found()
            values = self._values(spec, body, kind="update", db=db)
            if spec.name == "Case" and values.get("Status") == "Closed":
                current = db.execute(
                    'SELECT "Status", "ClosedDate" FROM "Case" WHERE "Id" = ?', (record_id,)
                ).fetchone()
                if current["Status"] == "Closed":
                    values.pop("Status")
            self._derive(spec, values, create=False)
            for fld in spec.fields:
                if not fld.nillable and fld.name in values and values[fld.name] is None:
                    raise SandboxApiError(
                        400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{fld.name}]"
                    )
            if values:
                assignments = ", ".join(f'"{n}" = ?' for n in values)
                db.execute(
                    f'UPDATE "{spec.name}" SET {assignments} WHERE "Id" = ?',
                    [*values.values(), record_id],
                )

    def delete(self, sobject: str, record_id: str) -> None:
        """Delete a record; an Account takes its contacts, opportunities and cases along."""
        spec = self._object(sobject)
        record_id = self._id(spec, record_id)
        with self._transaction() as db:
            gone = db.execute(f'DELETE FROM "{spec.name}" WHERE "Id" = ?', (record_id,))
            if gone.rowcount == 0:
                raise _not_found()
            if spec.name == "Account":
                db.execute(
                    'UPDATE "Case" SET "ContactId" = NULL WHERE "ContactId" IN '
                    '(SELECT "Id" FROM "Contact" WHERE "AccountId" = ?)',
                    (record_id,),
                )
                for child in ("Contact", "Opportunity", "Case"):
                    db.execute(f'DELETE FROM "{child}" WHERE "AccountId" = ?', (record_id,))
            if spec.name == "Contact":
                db.execute(
                    'UPDATE "Case" SET "ContactId" = NULL WHERE "ContactId" = ?', (record_id,)
                )
