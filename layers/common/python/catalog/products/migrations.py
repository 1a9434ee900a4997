"""Versioned migrations of the PostgreSQL catalog: numbered SQL files in `migrations/`, each
applied once, in order, inside a transaction holding an advisory lock, so concurrent cold starts
apply it exactly once. Statements in a file end with `;` at the end of a line (the Data API runs
one statement per call)."""
from __future__ import annotations

from pathlib import Path

from catalog.products.sql import SqlClient

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 7_311_950_201      # pg_advisory_xact_lock key of the migrations


def statements(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    out, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).strip().rstrip(";"))
            current = []
    if "".join(current).strip():
        out.append("\n".join(current).strip())
    return [s for s in out if s]


def pending(applied: set[str]) -> list[Path]:
    return [path for path in sorted(MIGRATIONS.glob("*.sql")) if path.stem not in applied]


def migrate(db: SqlClient) -> list[str]:
    """Applies the migrations not applied yet; returns their names."""
    done: list[str] = []
    with db.transaction() as tx:
        tx.execute("SELECT pg_advisory_xact_lock(:key)", {"key": _LOCK_KEY})
        # Under the lock: two CREATE TABLE IF NOT EXISTS at once can still collide in PostgreSQL's
        # catalog (duplicate key in pg_type) when cold starts meet on a new database.
        tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                   "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        applied = {row["version"] for row in tx.query("SELECT version FROM schema_migrations")}
        for path in pending(applied):
            for statement in statements(path.read_text()):
                tx.execute(statement)
            tx.execute("INSERT INTO schema_migrations (version) VALUES (:version)", {"version": path.stem})
            done.append(path.stem)
    return done
