"""Database-enforced append-only tables (the audit log, the pay ledger).

A trigger refuses UPDATE and DELETE, so not even raw SQL or a bug in a migration can rewrite history.
Used from migrations: `migrations.RunPython(*append_only("agents_auditentry"))`.
"""

from django.core.exceptions import ImproperlyConfigured

# Every table made append-only by a migration; the test suite lifts the SQLite triggers around the
# DELETE-based flush between transactional tests (PostgreSQL empties tables with TRUNCATE, which row
# triggers do not see).
APPEND_ONLY_TABLES = ["agents_auditentry", "payouts_payline"]


def _statements(vendor: str, table: str) -> tuple[list[str], list[str]]:
    name = f"{table}_append_only"
    if vendor == "postgresql":
        create = [
            f"""CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{table} is append-only: % refused', TG_OP; END;
            $$ LANGUAGE plpgsql""",
            f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()",
            # TRUNCATE is left allowed on purpose: test databases are emptied between tests with it.
        ]
        drop = [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
    elif vendor == "sqlite":
        create = [
            f"""CREATE TRIGGER {name}_update BEFORE UPDATE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END""",
            f"""CREATE TRIGGER {name}_delete BEFORE DELETE ON {table}
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END""",
        ]
        drop = [f"DROP TRIGGER IF EXISTS {name}_update", f"DROP TRIGGER IF EXISTS {name}_delete"]
    else:
        raise ImproperlyConfigured(f"Append-only triggers exist for PostgreSQL and SQLite, not for {vendor}.")
    return create, drop


def trigger_sql(vendor: str, table: str) -> tuple[list[str], list[str]]:
    """(statements that create the triggers, statements that drop them)."""
    return _statements(vendor, table)


def append_only(table: str):
    def forwards(apps, schema_editor):
        for sql in _statements(schema_editor.connection.vendor, table)[0]:
            schema_editor.execute(sql, params=None)

    def backwards(apps, schema_editor):
        for sql in _statements(schema_editor.connection.vendor, table)[1]:
            schema_editor.execute(sql, params=None)

    return forwards, backwards
