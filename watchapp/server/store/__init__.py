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
    "WriteQuotaExceeded",
    "judge_nothing",
    "migrations",
    "open_store",
]


def open_store(where: str | Path) -> ServerStore:
    """The store at ``where``: a ``postgresql://`` URL, or a SQLite file."""
    return SqliteServerStore(where)
