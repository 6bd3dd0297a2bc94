"""Database-level refusal of UPDATE and DELETE on the two ledgers (stock and partner), the same
way the audit trail guards its events: a PostgreSQL row trigger, SQLite BEFORE triggers.
Migrations call `install_guards`; the SQL must only ever grow compatible."""

from __future__ import annotations

from typing import Any

TABLES = ("trading_stockledgerentry", "trading_partnerledgerentry")
MESSAGE = "ledger entries are append-only"

POSTGRESQL_INSTALL = [
    f"""
    CREATE OR REPLACE FUNCTION trading_ledger_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    *(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in TABLES),
    *(
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION trading_ledger_refuse_change()"""
        for table in TABLES
    ),
]
POSTGRESQL_REMOVE = [
    *(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS trading_ledger_refuse_change()",
]
SQLITE_INSTALL = [
    statement
    for table in TABLES
    for statement in (
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    )
]
SQLITE_REMOVE = [
    statement
    for table in TABLES
    for statement in (
        f"DROP TRIGGER IF EXISTS {table}_no_update",
        f"DROP TRIGGER IF EXISTS {table}_no_delete",
    )
]


def _run(connection: Any, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def install_guards(connection: Any) -> None:
    if connection.vendor == "postgresql":
        _run(connection, POSTGRESQL_INSTALL)
    elif connection.vendor == "sqlite":
        _run(connection, SQLITE_INSTALL)


def remove_guards(connection: Any) -> None:
    if connection.vendor == "postgresql":
        _run(connection, POSTGRESQL_REMOVE)
    elif connection.vendor == "sqlite":
        _run(connection, SQLITE_REMOVE)
