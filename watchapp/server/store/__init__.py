"""The council server's storage: the contract (:mod:`.base`) and its engines.

:func:`open_store` picks the engine from where the data lives: a file path
(SQLite, the embedded default) or a ``postgresql://`` URL.
"""

from __future__ import annotations

from pathlib import Path

from watchapp.server.store.base import (
    Account,
    Admit,
    AuditEntry,
    DeviceAuth,
    DeviceRevoked,
    InvitationProblem,
    Judge,
    Judgement,
    LostEnrolment,
    Reads,
    Scope,
    ServerStore,
    Stored,
    StoreUnavailable,
    WriteQuotaExceeded,
    judge_nothing,
)
from watchapp.server.store.sqlite import BODY, SqliteServerStore, migrations

__all__ = [
    "BODY",
    "Account",
    "Admit",
    "AuditEntry",
    "DeviceAuth",
    "DeviceRevoked",
    "InvitationProblem",
    "Judge",
    "Judgement",
    "LostEnrolment",
    "Reads",
    "Scope",
    "ServerStore",
    "SqliteServerStore",
    "Stored",
    "StoreUnavailable",
    "WriteQuotaExceeded",
    "judge_nothing",
    "migrations",
    "open_store",
    "restore_store",
]


def open_store(where: str | Path) -> ServerStore:
    """The store at ``where``: a ``postgresql://`` URL, or a SQLite file."""
    if is_postgres_url(where):
        # Imported here: an embedded server need not load psycopg.
        from watchapp.server.store.postgres import PostgresServerStore

        return PostgresServerStore(str(where))
    return SqliteServerStore(where)


def restore_store(backup: Path, into: str | Path) -> None:
    """Bring the backup at ``backup`` back as the store at ``into`` (no
    server may have it open), under a new epoch."""
    if is_postgres_url(into):
        from watchapp.server.store.postgres import PostgresServerStore

        PostgresServerStore.restore(backup, str(into))
    else:
        SqliteServerStore.restore(backup, Path(into))


def is_postgres_url(where: str | Path) -> bool:
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))
