"""The Salesforce client: describe() metadata, validation, queries and the typed actions."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import requests
import sqlglot
from simple_salesforce import Salesforce
from simple_salesforce import exceptions as sf_exc
from simple_salesforce.format import format_soql
from sqlglot import exp

from tools.salesforce.actions import (
    AnyAction,
    CreateAction,
    DeleteAction,
    DescribeAction,
    GetAction,
    QueryAction,
    SoqlQuery,
    UpdateAction,
)
from tools.salesforce.checker import _Analysis, _Checker, _too_deep
from tools.salesforce.credentials import SalesforceCredentials, missing_credentials_message
from tools.salesforce.errors import SalesforceError, SoqlValidationError, map_salesforce_exception
from tools.salesforce.fields import KEY_PREFIXES, check_field_value, check_record_id
from tools.salesforce.hints import _did_you_mean, _short
from tools.salesforce.metadata import _AllowList, _field_list, _no_object_message, _ObjectInfo
from tools.salesforce.results import ActionResult, SoqlResult, _describe_row, _show_value, _table
from tools.salesforce.session import _trusting_session, http_timeout
from tools.salesforce.soql import _PLACEHOLDER_RE, _lex, _Rewriter, _Value, clean_soql
from tools.salesforce_limits import MAX_SOQL_LENGTH, OBJECTS_ENV_VAR, parse_objects

logger = logging.getLogger(__package__)  # records are named after the package


class SalesforceClient:
    """A thin, validating wrapper around a ``simple_salesforce.Salesforce`` connection.

    Args:
        sf: A connected ``Salesforce`` instance, or any object offering the same
            ``<Object>.describe()``, ``describe()``, ``query()`` and ``query_all_iter()``
            (tests pass a stand-in).
        secrets: Values to scrub from error messages.
        allowed_objects: The objects that may be queried, reached through a relationship
            path or subquery, and read, written or described by an action. None (the
            default) allows :data:`DEFAULT_OBJECTS`, the ones the specialist is trained for;
            ``frozenset({"*"})`` allows every object the org describes. Anything else is
            refused before it reaches the org.

    Raises:
        ValueError: ``allowed_objects`` holds something that is not an object API name.
    """

    def __init__(
        self,
        sf: Any,
        *,
        secrets: Iterable[str] = (),
        allowed_objects: frozenset[str] | Iterable[str] | None = None,
    ) -> None:
        self._sf = sf
        self._secrets = tuple(secrets)
        self._allowed = _AllowList.of(allowed_objects)
        self._describes: dict[str, dict[str, Any] | None] = {}
        self._infos: dict[str, _ObjectInfo | None] = {}
        self._global_names: list[str] | None = None
        self._global_loaded = False

    @property
    def allowed_objects(self) -> frozenset[str] | None:
        """The objects this client may use; None when every described object is allowed."""
        return self._allowed.names

    @classmethod
    def connect(
        cls,
        creds: SalesforceCredentials,
        *,
        allowed_objects: frozenset[str] | Iterable[str] | None = None,
        timeout_s: float | None = None,
    ) -> SalesforceClient:
        """Sign in to Salesforce with the given credentials.

        Args:
            creds: Credentials from :meth:`SalesforceCredentials.from_env` or built directly.
            allowed_objects: The object allow-list (see :class:`SalesforceClient`).
            timeout_s: Seconds every HTTP call may wait; None: :func:`http_timeout`
                (``SF_TIMEOUT``, else 30).

        Returns:
            A client for the org.

        Raises:
            SalesforceError: Sign-in failed (final; the message holds no secrets).
        """
        by_kind: dict[str, dict[str, Any]] = {
            "password": {
                "username": creds.username,
                "password": creds.password,
                "security_token": creds.security_token,
                "domain": creds.domain,
            },
            "jwt": {
                "username": creds.username,
                "consumer_key": creds.consumer_key,
                "privatekey_file": creds.private_key_file,
                "privatekey": creds.private_key,
                "domain": creds.domain,
            },
            "client_credentials": {
                "consumer_key": creds.consumer_key,
                "consumer_secret": creds.consumer_secret,
                "domain": creds.domain,
            },
        }
        options = by_kind.get(
            creds.kind, {"instance_url": creds.instance_url, "session_id": creds.session_id}
        )
        timeout = timeout_s if timeout_s is not None and timeout_s > 0 else http_timeout()
        session = _trusting_session(creds.ca_bundle, timeout)
        try:
            sf = Salesforce(**options, session=session)
        except Exception as exc:
            error = map_salesforce_exception(exc, secrets=creds.secrets)
            error.retryable = False
            logger.warning("Salesforce connection failed: %s", error.message)
            raise error from None
        logger.info("connected to Salesforce (%s)", creds.kind)
        return cls(sf, secrets=creds.secrets, allowed_objects=allowed_objects)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SalesforceClient:
        """Connect with credentials and settings from environment variables.

        Besides the credentials, ``SF_OBJECTS`` sets the object allow-list: API names
        separated by commas, or ``*`` for every object the org describes; unset, the client
        allows :data:`DEFAULT_OBJECTS`.

        Args:
            environ: The variables to read; the process environment by default.

        Returns:
            A client for the org.

        Raises:
            SalesforceError: The variables are missing or ``SF_OBJECTS`` is malformed
                (``NOT_CONFIGURED``), or sign-in failed.
        """
        try:
            allowed = parse_objects(environ.get(OBJECTS_ENV_VAR))
        except ValueError as exc:
            raise SalesforceError(str(exc), code="NOT_CONFIGURED") from None
        creds = SalesforceCredentials.from_env(environ)
        if creds is None:
            raise SalesforceError(missing_credentials_message(), code="NOT_CONFIGURED")
        return cls.connect(creds, allowed_objects=allowed)

    # -- metadata ----------------------------------------------------------------------

    def _map(self, exc: BaseException) -> SalesforceError:
        return map_salesforce_exception(exc, secrets=self._secrets)

    def _object_names(self) -> list[str]:
        """Names from the org's global describe, or [] if it is unavailable."""
        if not self._global_loaded:
            self._global_loaded = True
            describe = getattr(self._sf, "describe", None)
            if callable(describe):
                try:
                    result = describe()
                    sobjects = result.get("sobjects") if isinstance(result, Mapping) else None
                    if isinstance(sobjects, list):
                        self._global_names = [str(s["name"]) for s in sobjects if "name" in s]
                except sf_exc.SalesforceError as exc:
                    if not isinstance(exc, sf_exc.SalesforceResourceNotFound):
                        raise self._map(exc) from exc
                except (requests.exceptions.RequestException, ConnectionError) as exc:
                    raise self._map(exc) from exc
                except Exception:  # a stand-in without a global describe
                    logger.debug("global describe unavailable", exc_info=True)
        return list(self._global_names or [])

    def _describe_once(self, name: str) -> dict[str, Any] | None:
        """One describe() call; None when the object does not exist."""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            return None
        try:
            described = getattr(self._sf, name).describe()
        except (AttributeError, sf_exc.SalesforceResourceNotFound):
            return None
        except Exception as exc:
            raise self._map(exc) from exc
        return dict(described) if isinstance(described, Mapping) else None

    def _lookup(self, sobject: str) -> dict[str, Any] | None:
        key = sobject.lower()
        if key not in self._describes:
            result = self._describe_once(sobject)
            if result is None:
                # Maybe only the casing differs: ask the global describe for the real name.
                canonical = next(
                    (n for n in self._object_names() if n.lower() == key and n != sobject), None
                )
                if canonical is not None:
                    result = self._describe_once(canonical)
            self._describes[key] = result
        return self._describes[key]

    def describe(self, sobject: str) -> dict[str, Any]:
        """Return the org's ``describe()`` of one object, cached per client.

        Args:
            sobject: The object's API name, e.g. ``Opportunity`` (case-insensitive).

        Returns:
            The describe result (``name``, ``fields``, ``childRelationships``, ...).

        Raises:
            SalesforceError: No such object, or one this client does not allow (retryable,
                so the model can pick another), or the call failed (final).
        """
        if not self._allowed.allows(sobject):
            raise self._allowed.refusal(sobject, self._object_names)
        result = self._lookup(sobject)
        if result is None:
            raise SalesforceError(
                _no_object_message(sobject, self._allowed, self._object_names),
                retryable=True,
                code="INVALID_TYPE",
            )
        return result

    def _info(self, sobject: str) -> _ObjectInfo | None:
        key = sobject.lower()
        if key not in self._infos:
            described = self._lookup(sobject)
            self._infos[key] = (
                None if described is None else _ObjectInfo.from_describe(sobject, described)
            )
        return self._infos[key]

    # -- validation and queries --------------------------------------------------------

    def _analyse(self, soql: str) -> tuple[str, _Analysis]:
        if len(soql) > MAX_SOQL_LENGTH:
            raise SoqlValidationError(
                f"the query has {len(soql):,} characters; at most {MAX_SOQL_LENGTH:,} are "
                "allowed: select fewer fields or use shorter conditions",
                code="QUERY_TOO_COMPLICATED",
            )
        cleaned = clean_soql(soql)
        if not cleaned:
            raise SoqlValidationError(
                "the query is empty; write one SELECT <fields> FROM <Object> statement",
                code="EMPTY",
            )
        try:
            rewriter = _Rewriter(_lex(cleaned))
            sql = rewriter.rewrite()  # also caps nesting and conditions before parsing
            try:
                trees = [t for t in sqlglot.parse(sql) if t is not None]
            except sqlglot.errors.SqlglotError as exc:
                message = _parse_error_message(exc, rewriter.values)
                raise SoqlValidationError(message, code="MALFORMED_QUERY") from None
            if len(trees) != 1:
                raise SoqlValidationError("only one SOQL statement is allowed")
            root = trees[0]
            if isinstance(root, exp.Union | exp.Intersect | exp.Except):
                raise SoqlValidationError("SOQL allows one SELECT only; there is no UNION")
            checker = _Checker(self._info, self._object_names, rewriter.values, self._allowed)
            return cleaned, checker.check(root)
        except RecursionError:
            raise _too_deep() from None

    def validate_soql(self, soql: str) -> str:
        """Check a SOQL query against the org's metadata without running it.

        Args:
            soql: The query as the model wrote it (markdown fences and a trailing ``;`` are
                tolerated).

        Returns:
            The cleaned query, ready to send.

        Raises:
            SoqlValidationError: The query is not one valid read-only SELECT for this org;
                the message says what to change.
            SalesforceError: Fetching metadata failed (final).
        """
        cleaned, analysis = self._analyse(soql)
        logger.debug("validated SOQL on %s: %s", analysis.sobject, cleaned)
        return cleaned

    def query(self, soql: str, *, row_limit: int = 100) -> SoqlResult:
        """Validate and run a SOQL query, returning at most ``row_limit`` rows.

        Args:
            soql: The query as the model wrote it.
            row_limit: The most rows to return; one more is read to detect truncation.

        Returns:
            The rows, with relationship fields flattened into dotted columns.

        Raises:
            SoqlValidationError: The query failed validation.
            SalesforceError: Salesforce rejected the query (retryable) or the call failed.
        """
        if row_limit < 1:
            raise ValueError("row_limit must be at least 1")
        cleaned, analysis = self._analyse(soql)
        return self._run_soql(cleaned, analysis, row_limit)

    def _run_soql(self, cleaned: str, analysis: _Analysis, row_limit: int) -> SoqlResult:
        started = time.perf_counter()
        try:
            if analysis.bare_count:
                response = self._sf.query(cleaned)
                columns = ["COUNT()"]
                rows: list[list[Any]] = [[int(response.get("totalSize", 0))]]
                truncated = False
            else:
                records = self._fetch(cleaned, row_limit + 1)
                truncated = len(records) > row_limit
                columns, rows = _table(records[:row_limit])
        except SalesforceError:
            raise
        except Exception as exc:
            error = self._map(exc)
            logger.info("SOQL failed (%s): %s", error.code, error.message)
            raise error from exc
        elapsed = time.perf_counter() - started
        logger.debug(
            "SOQL returned %d rows%s in %.3fs",
            len(rows),
            " (truncated)" if truncated else "",
            elapsed,
        )
        return SoqlResult(cleaned, columns, rows, truncated, elapsed)

    def _fetch(self, soql: str, most: int) -> list[Mapping[str, Any]]:
        records: list[Mapping[str, Any]] = []
        iterator: Iterator[Mapping[str, Any]] = iter(self._sf.query_all_iter(soql))
        try:
            for record in iterator:
                records.append(record)
                if len(records) >= most:
                    break
        finally:
            close = getattr(iterator, "close", None)
            if callable(close):
                close()
        return records

    # -- typed actions -----------------------------------------------------------------

    def _key_prefix(self, sobject: str) -> str | None:
        described = self._lookup(sobject)
        prefix = described.get("keyPrefix") if described is not None else None
        return str(prefix) if prefix else KEY_PREFIXES.get(sobject)

    def _object(self, sobject: str) -> tuple[dict[str, Any], _ObjectInfo]:
        described = self.describe(sobject)
        info = self._info(sobject)
        assert info is not None  # describe() succeeded
        return described, info

    def _field(self, info: _ObjectInfo, name: str, *, verb: str) -> dict[str, Any]:
        fld = info.fields.get(name.lower())
        if fld is not None:
            return fld
        if "." in name:
            head = name.split(".", 1)[0]
            rel = info.relationships.get(head.lower())
            target = f"`{rel['name']}` (the parent's Id)" if rel else "the parent's Id field"
            raise SoqlValidationError(
                f"{verb} sets fields of {info.name} itself, not `{name}`; set {target} instead",
                code="INVALID_FIELD",
            )
        hint = _did_you_mean(name, info.field_names())
        listing = "" if hint else f" (fields: {_field_list(info)})"
        raise SoqlValidationError(
            f"no field `{_short(name)}` on {info.name}{hint}{listing}", code="INVALID_FIELD"
        )

    def _check_values(
        self, info: _ObjectInfo, values: Mapping[str, Any], *, kind: Literal["create", "update"]
    ) -> dict[str, Any]:
        flag = "createable" if kind == "create" else "updateable"
        checked: dict[str, Any] = {}
        for key, value in values.items():
            fld = self._field(info, key, verb=kind)
            name = str(fld["name"])
            if name in checked:
                raise SoqlValidationError(f"`{name}` is set twice; set each field once")
            if fld.get(flag) is False:
                settable = [str(f["name"]) for f in info.fields.values() if f.get(flag)]
                raise SoqlValidationError(
                    f"`{name}` on {info.name} cannot be set by {kind} (it is read-only or "
                    f"computed by Salesforce); fields you can set: {', '.join(settable)}",
                    code="INVALID_FIELD_FOR_INSERT_UPDATE",
                )
            checked[name] = check_field_value(info.name, fld, value, key_prefix_of=self._key_prefix)
        if kind == "create":
            missing = [
                str(f["name"])
                for f in info.fields.values()
                if f.get("createable")
                and f.get("nillable") is False
                and not f.get("defaultedOnCreate")
                and f.get("type") != "boolean"
                and str(f["name"]) not in checked
            ]
            if missing:
                raise SoqlValidationError(
                    f"a new {info.name} needs {', '.join(f'`{m}`' for m in missing)}; add "
                    f"{'it' if len(missing) == 1 else 'them'} to values",
                    code="REQUIRED_FIELD_MISSING",
                )
        elif not checked:
            raise SoqlValidationError(
                "update needs at least one field in values", code="REQUIRED_FIELD_MISSING"
            )
        return checked

    def _check_object_allows(self, described: Mapping[str, Any], verb: str, flag: str) -> None:
        if described.get(flag) is False:
            raise SalesforceError(
                f"{described.get('name')} records cannot be {verb} by this user",
                retryable=False,
                code="INSUFFICIENT_ACCESS",
            )

    def _canonical_path(self, info: _ObjectInfo, path: str) -> str:
        parts = [p.strip() for p in path.split(".")]
        if not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", p) for p in parts):
            raise SoqlValidationError(
                f"`{_short(path)}` is not a field name; list field API names such as Name or "
                "Account.Name",
                code="INVALID_FIELD",
            )
        checker = _Checker(self._info, self._object_names, {}, self._allowed)
        if (
            len(parts) > 1
            and parts[0].lower() == info.name.lower()
            and (parts[0].lower() not in info.relationships)
        ):
            parts = parts[1:]
        checker._resolve(parts, info, clause="select")  # every step allowed and described
        canonical: list[str] = []
        current = info
        for part in parts[:-1]:
            rel = current.relationships[part.lower()]
            canonical.append(str(rel["relationshipName"]))
            current = checker._target(rel, current, part)
        canonical.append(str(current.fields[parts[-1].lower()]["name"]))
        return ".".join(canonical)

    def validate_action(self, action: AnyAction | SoqlQuery) -> AnyAction:
        """Check an action against the org's metadata without running it.

        Objects, fields and relationship paths must exist in ``describe()``; record Ids must
        be well formed and carry the object's key prefix; values must fit their field's type
        (length, number range, date format, boolean, picklist value, reference Id of the
        right object); create/update may only set createable/updateable fields.

        Args:
            action: The action the model emitted.

        Returns:
            The action normalised: canonical object and field names, 18-character Ids,
            values converted to the field's type, the SOQL cleaned.

        Raises:
            SoqlValidationError: The action does not fit the org, or uses an object this
                client does not allow; the message says what to change (retryable).
            SalesforceError: The object is unknown (retryable), the user may not perform
                this kind of action, or fetching metadata failed (final).
        """
        try:
            return self._validate_action(action)
        except RecursionError:
            raise _too_deep() from None

    def _validate_action(self, action: AnyAction | SoqlQuery) -> AnyAction:
        if isinstance(action, QueryAction | SoqlQuery):
            return QueryAction(soql=self.validate_soql(action.soql))
        described, info = self._object(action.sobject)
        if isinstance(action, DescribeAction):
            return DescribeAction(action="describe", sobject=info.name)
        prefix = self._key_prefix(info.name)
        if isinstance(action, GetAction):
            record_id = check_record_id(action.record_id, info.name, prefix)
            fields: list[str] = []
            for path in action.fields:
                canonical = self._canonical_path(info, path)
                if canonical.lower() not in {f.lower() for f in fields}:
                    fields.append(canonical)
            return GetAction(action="get", sobject=info.name, record_id=record_id, fields=fields)
        if isinstance(action, CreateAction):
            self._check_object_allows(described, "created", "createable")
            values = self._check_values(info, action.values, kind="create")
            return CreateAction(action="create", sobject=info.name, values=values)
        if isinstance(action, UpdateAction):
            self._check_object_allows(described, "updated", "updateable")
            record_id = check_record_id(action.record_id, info.name, prefix)
            values = self._check_values(info, action.values, kind="update")
            return UpdateAction(
                action="update", sobject=info.name, record_id=record_id, values=values
            )
        if isinstance(action, DeleteAction):
            self._check_object_allows(described, "deleted", "deletable")
            record_id = check_record_id(action.record_id, info.name, prefix)
            return DeleteAction(action="delete", sobject=info.name, record_id=record_id)
        raise SoqlValidationError(f"unknown action {getattr(action, 'action', action)!r}")

    def preview(self, action: AnyAction | SoqlQuery) -> str:
        """Describe exactly what an action will do, for a person to approve.

        The action is validated first, so the preview shows the canonical field names and
        the exact values that will be sent (text in double quotes, ``null`` clears a field).

        Args:
            action: The action to describe.

        Returns:
            A few lines of plain text naming the object, the Id and every field and value.

        Raises:
            SoqlValidationError: The action does not fit the org.
            SalesforceError: Fetching metadata failed.
        """
        checked = self.validate_action(action)
        if isinstance(checked, QueryAction):
            return f"Run this read-only SOQL query:\n  {checked.soql}"
        if isinstance(checked, DescribeAction):
            return f"Describe the fields of {checked.sobject} (read-only)."
        if isinstance(checked, GetAction):
            shown = ", ".join(checked.fields) if checked.fields else "every field"
            return f"Read {shown} of {checked.sobject} {checked.record_id} (read-only)."
        if isinstance(checked, DeleteAction):
            return (
                f"DELETE the {checked.sobject} record {checked.record_id}.\n"
                "The record goes to the Recycle Bin; records that depend on it may be "
                "deleted with it."
            )
        values = checked.values if isinstance(checked, CreateAction | UpdateAction) else {}
        width = max((len(k) for k in values), default=0)
        lines = [f"  {k.ljust(width)} = {_show_value(v)}" for k, v in values.items()]
        if isinstance(checked, CreateAction):
            head = f"CREATE a new {checked.sobject} record with {len(values)} field(s):"
        else:
            assert isinstance(checked, UpdateAction)
            head = (
                f"UPDATE the {checked.sobject} record {checked.record_id}: set "
                f"{len(values)} field(s), leaving the others unchanged:"
            )
        return "\n".join([head, *lines])

    def run(self, action: AnyAction | SoqlQuery, *, row_limit: int = 100) -> ActionResult:
        """Validate an action and perform it.

        Queries go through ``query_all_iter``; get, create, update and delete through the
        sobject REST API (a get with relationship paths becomes a SOQL query whose values
        are escaped with ``format_soql``); describe returns one row per field. Approval of
        writes is the caller's business: this method performs what it is given.

        Args:
            action: The action the model emitted.
            row_limit: The most rows a query returns; one more is read to detect truncation.

        Returns:
            The result, with the time spent validating and in HTTP calls.

        Raises:
            SoqlValidationError: The action failed validation (nothing was sent).
            SalesforceError: Salesforce rejected it (``retryable`` when the model can fix it)
                or the call failed (final).
        """
        if row_limit < 1:
            raise ValueError("row_limit must be at least 1")
        started = time.perf_counter()
        if isinstance(action, QueryAction | SoqlQuery):
            cleaned, analysis = self._analyse(action.soql)
            validation_s = time.perf_counter() - started
            soql_result = self._run_soql(cleaned, analysis, row_limit)
            return ActionResult(
                action="query",
                columns=soql_result.columns,
                rows=soql_result.rows,
                truncated=soql_result.truncated,
                record_id=None,
                elapsed_s=time.perf_counter() - started,
                http_s=soql_result.elapsed_s,
                validation_s=validation_s,
            )
        checked = self.validate_action(action)
        assert not isinstance(checked, QueryAction)
        validation_s = time.perf_counter() - started
        http_started = time.perf_counter()
        try:
            columns, rows, record_id = self._perform(checked, row_limit)
        except SalesforceError:
            raise
        except Exception as exc:
            error = self._map_action_error(exc, checked)
            logger.info("Salesforce %s failed (%s): %s", checked.action, error.code, error.message)
            raise error from exc
        http_s = time.perf_counter() - http_started
        logger.debug("Salesforce %s on %s in %.3fs", checked.action, checked.sobject, http_s)
        return ActionResult(
            action=checked.action,
            columns=columns,
            rows=rows,
            truncated=False,
            record_id=record_id,
            elapsed_s=time.perf_counter() - started,
            http_s=http_s,
            validation_s=validation_s,
        )

    def _perform(
        self, action: AnyAction, row_limit: int
    ) -> tuple[list[str], list[list[Any]], str | None]:
        if isinstance(action, DescribeAction):
            described = self.describe(action.sobject)
            rows = [_describe_row(f) for f in described.get("fields") or []]
            return ["name", "type", "picklist"], rows[:], None
        assert not isinstance(action, QueryAction)
        sobject = getattr(self._sf, action.sobject)
        if isinstance(action, GetAction):
            if any("." in f for f in action.fields):
                soql = format_soql(
                    "SELECT {:literal} FROM {:literal} WHERE Id = {}",
                    ", ".join(action.fields),
                    action.sobject,
                    action.record_id,
                )
                records = self._fetch(soql, 1)
                if not records:
                    raise SalesforceError(
                        f"no {action.sobject} with Id {action.record_id}; query for the Id first",
                        retryable=True,
                        code="NOT_FOUND",
                    )
                record: Mapping[str, Any] = records[0]
            elif action.fields:
                record = sobject.get(action.record_id, params={"fields": ",".join(action.fields)})
            else:
                record = sobject.get(action.record_id)
            columns, rows = _table([record])
            return columns, rows, action.record_id
        if isinstance(action, CreateAction):
            response = sobject.create(dict(action.values))
            new_id = str(response.get("id")) if isinstance(response, Mapping) else None
            return ["Id", *action.values], [[new_id, *action.values.values()]], new_id
        if isinstance(action, UpdateAction):
            sobject.update(action.record_id, dict(action.values))
            return (
                ["Id", *action.values],
                [[action.record_id, *action.values.values()]],
                action.record_id,
            )
        assert isinstance(action, DeleteAction)
        sobject.delete(action.record_id)
        return ["Id"], [[action.record_id]], action.record_id

    def _map_action_error(self, exc: BaseException, action: AnyAction) -> SalesforceError:
        error = self._map(exc)
        record_id = getattr(action, "record_id", None)
        if isinstance(exc, sf_exc.SalesforceResourceNotFound) and record_id:
            return SalesforceError(
                f"no {getattr(action, 'sobject', 'record')} with Id {record_id} (it may have "
                "been deleted); query for the Id first",
                retryable=True,
                code="NOT_FOUND",
            )
        if error.message.startswith("Salesforce rejected the query"):
            error.message = error.message.replace("the query", f"the {action.action}", 1)
            error.args = (error.message,)
        return error


def _parse_error_message(exc: Exception, values: Mapping[int, _Value]) -> str:
    """Describe a sqlglot parse failure in SOQL terms, without sqlglot internals."""
    near = ""
    detail = ""
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        description = str(first.get("description") or "")
        if description and "<" not in description and len(description) <= 80:
            detail = description.rstrip(".")
        highlight = str(first.get("highlight") or "").strip()
        placeholder = _PLACEHOLDER_RE.match(highlight.strip("'"))
        if placeholder is not None:
            value = values.get(int(placeholder.group(1)))
            highlight = value.raw if value is not None else ""
        highlight = highlight.strip('"')
        if highlight:
            near = f" near `{highlight}`"
    detail = f" ({detail})" if detail else ""
    return (
        f"the SOQL could not be parsed{near}{detail}; the form is SELECT <fields> FROM <Object> "
        "[WHERE ...] [GROUP BY ...] [ORDER BY ...] [LIMIT n]"
    )
