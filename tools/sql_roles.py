"""The PostgreSQL role that model-written SQL runs as: refuse a privileged one, make a reader.

Every query already runs in a ``READ ONLY`` transaction behind the validator's allow-list,
but a superuser (or a role that may write) turns any gap in either into a real write, a
file read or a signal to another session. So :class:`tools.sql.SqlDatabase` asks
:func:`privilege_problems` at connect time and refuses such a role unless the caller
overrides it explicitly; :func:`reader_role_statements` is the exact SQL that makes a
role which can only read, and :func:`create_reader_role` runs it.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = [
    "create_reader_role",
    "privilege_problems",
    "reader_role_statements",
    "refusal_message",
]

# Predefined roles whose members may touch the server outside the database's own rows.
_RISKY_MEMBERSHIPS = (
    "pg_write_server_files",
    "pg_read_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
    "pg_write_all_data",
)

_USER_RELATIONS = (
    "c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', "
    "'information_schema') AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'"
)

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def privilege_problems(conn: Any) -> list[str]:
    """What the connected role may do beyond reading (empty when it can only read).

    Args:
        conn: An open psycopg connection.

    Returns:
        Short phrases such as ``"it is a superuser"``, one per kind of privilege.
    """
    problems: list[str] = []
    with conn.cursor() as cur:
        cur.execute(
            "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_catalog.pg_roles "
            "WHERE rolname = current_user"
        )
        superuser, createrole, bypassrls = cur.fetchone() or (False, False, False)
        if superuser:
            # A superuser may do everything; the finer checks below would only repeat it.
            return ["it is a superuser"]
        if createrole:
            problems.append("it may create roles")
        if bypassrls:
            problems.append("it bypasses row-level security")
        cur.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE {_USER_RELATIONS} AND (has_table_privilege(c.oid, 'INSERT') "
            "OR has_table_privilege(c.oid, 'UPDATE') OR has_table_privilege(c.oid, 'DELETE') "
            "OR has_table_privilege(c.oid, 'TRUNCATE')) ORDER BY 1"
        )
        writable = [str(r[0]) for r in cur.fetchall()]
        if writable:
            shown = ", ".join(writable[:3]) + (" ..." if len(writable) > 3 else "")
            problems.append(f"it may write to {len(writable)} table(s) ({shown})")
        cur.execute(
            "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
            "AND nspname <> 'information_schema' AND has_schema_privilege(oid, 'CREATE') "
            "ORDER BY 1"
        )
        creatable = [str(r[0]) for r in cur.fetchall()]
        if creatable:
            problems.append(f"it may create objects in schema(s) {', '.join(creatable)}")
        cur.execute(
            "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY(%s) "
            "AND pg_has_role(current_user, oid, 'USAGE') ORDER BY 1",
            (list(_RISKY_MEMBERSHIPS),),
        )
        members = [str(r[0]) for r in cur.fetchall()]
        if members:
            problems.append(f"it is a member of {', '.join(members)}")
    return problems


def reader_role_statements(
    role: str, database: str, schemas: list[str], password: str
) -> list[str]:
    """The SQL that creates ``role``, able to log in and read the tables of ``schemas`` only.

    Raises:
        ValueError: ``role`` is not a plain lower-case identifier.
    """
    if not _ROLE_NAME.match(role):
        raise ValueError(
            f"role name {role!r} must be lower-case letters, digits and underscores, "
            "starting with a letter"
        )
    statements = [
        f"CREATE ROLE {role} LOGIN PASSWORD {_literal(password)} NOSUPERUSER NOCREATEDB "
        "NOCREATEROLE NOINHERIT",
        f"GRANT CONNECT ON DATABASE {_ident(database)} TO {role}",
    ]
    for schema in schemas:
        statements += [
            f"GRANT USAGE ON SCHEMA {_ident(schema)} TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {_ident(schema)} TO {role}",
        ]
    return statements


def refusal_message(role: str, problems: list[str], database: str, schemas: list[str]) -> str:
    """Why a privileged role is refused, with the exact SQL of a read-only one."""
    sql = "; ".join(reader_role_statements("slm_reader", database, schemas, "choose-a-password"))
    return (
        f"refusing to run model-written SQL as PostgreSQL role `{role}`: "
        f"{'; '.join(problems)}. Connect as a role that can only read, e.g.: {sql}; "
        "or run `slm-dispatch setup --sql-reader-role slm_reader`, which creates it and prints "
        "the URL to use. To accept the risk, set SLM_SQL_ALLOW_PRIVILEGED=1."
    )


def create_reader_role(url: str, role: str) -> str:
    """Create ``role`` as a reader of the schemas on ``url``'s search path; return its URL.

    Args:
        url: A ``postgresql://`` URL of a role allowed to create roles and grant SELECT.
        role: Name of the new role.

    Returns:
        ``url`` with the new role and its generated password in place of the old user.

    Raises:
        ValueError: Bad role name.
        psycopg.Error: The server refused (e.g. the role exists already).
    """
    import psycopg

    password = secrets.token_urlsafe(18)
    with psycopg.connect(url, autocommit=True) as conn:
        database = str(conn.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
        found = conn.execute("SELECT current_schemas(false)").fetchone()
        schemas = [str(s) for s in (found[0] if found else [])] or ["public"]
        for statement in reader_role_statements(role, database, schemas, password):
            conn.execute(statement.encode())
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(role)}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
