"""The council server's store contract: what the routes, the CLI, the seed and
the tests may ask of storage, whatever engine is behind it.

No SQL types cross it. Records cross it as their wire JSON text (one object
per record, the keys of docs/protocol.md; readers parse it and never rely on
its key order) or as the model types below. Engines: :mod:`.sqlite` (the
embedded default) and :mod:`.postgres`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from watchapp.domain.hlc import Hlc, tick
from watchapp.domain.model import Role
from watchapp.sync.protocol import Change, Rejection


@dataclass(frozen=True)
class Account:
    user_id: str
    name: str
    role: Role
    district_id: str
    group_id: str
    districts: frozenset[str]  # where a coordinator works; else their own


@dataclass(frozen=True)
class DeviceAuth:
    device_id: str
    name: str
    account: Account
    revoked: bool
    seen: bool = True  # False until the token's first use


@dataclass(frozen=True)
class LostEnrolment:
    """A device enrolled moments ago whose token was never used: its answer
    may have been lost on the way."""

    enrol_salt: str
    token_hash: str
    account: Account


@dataclass(frozen=True)
class Stored:
    """The scope columns of a stored record."""

    kind: str
    id: str
    hlc: str
    origin: str
    deleted: bool
    district_id: str
    group_id: str | None
    resident_id: str | None
    user_id: str | None
    role: str | None = None  # users only
    salon_id: str | None = None  # salons' records (a salon's own id)


# Whether a change may overwrite the record stored: None, or why not.
Admit = Callable[[Change, Stored], Rejection | None]


class Reads(Protocol):
    """What the write rules may read, inside the transaction that writes."""

    def stored(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Stored]: ...
    def assigned_residents(self, user_id: str) -> frozenset[str]: ...
    def organised_salons(self, user_id: str) -> frozenset[str]: ...


@dataclass
class Judgement:
    """A push after the rules: what may be written, and what may not and why.

    ``where`` holds each accepted change's index in the push; ``problems``
    the refused ones', by index; ``admit`` judges a change whose record turns
    out to be stored already."""

    accepted: list[Change]
    where: list[int]
    problems: dict[int, Rejection]
    admit: Admit


# The rules for a push, given what is stored and who is writing now.
Judge = Callable[[Reads, "Account"], Judgement]


class DeviceRevoked(Exception):
    """The device was revoked (or its user deleted) before its write."""


class WriteQuotaExceeded(Exception):
    """A device wrote more changes this hour than it may."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"write quota exceeded; retry after {retry_after} s")
        self.retry_after = retry_after


class StoreUnavailable(Exception):
    """The database could not be reached, or its connection broke, before the
    transaction committed: nothing of it was written, and the same request
    may be sent again."""


@dataclass(frozen=True)
class Scope:
    """What a device may hold. ``everything`` for admins; districts for
    coordinators; for field workers their user, group, residents and salons."""

    everything: bool = False
    districts: frozenset[str] = frozenset()
    user_id: str | None = None
    group_id: str | None = None
    district_id: str | None = None
    residents: frozenset[str] = frozenset()
    salons: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AuditEntry:
    """One change a coordinator or an admin made: pushed from a device (with
    its kind and record id) or done on the server (``watchapp admin``)."""

    at: str
    user_id: str  # who; "cli" for the server's own command line
    device_id: str | None
    action: str  # "write" or "delete" of a record; or an admin action's name
    kind: str | None
    record_id: str  # the record, or what an admin action was about


class InvitationProblem(Exception):
    """unknown, used or expired: ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Accounts(Protocol):
    """Users, as the server knows them (their ``users`` records, and where a
    coordinator works)."""

    def accounts(self) -> list[Account]: ...
    def account(self, user_id: str) -> Account | None: ...
    def create_user(
        self,
        *,
        user_id: str,
        name: str,
        role: Role,
        district_id: str,
        group_id: str,
        districts: Iterable[str] = (),
        now: datetime,
    ) -> Account: ...


class Enrolment(Protocol):
    """One-time invitation codes, and the enrolment rate limit (kept in the
    database, so that every server process counts the same attempts)."""

    def create_invitation(
        self, *, user_id: str, code_hash: str, now: datetime, expires_at: datetime
    ) -> None: ...
    def redeem_invitation(
        self,
        *,
        code_hash: str,
        device_id: str,
        device_name: str,
        token_hash: str,
        enrol_salt: str | None = None,
        now: datetime,
    ) -> Account: ...
    def lost_enrolment(
        self, *, code_hash: str, device_id: str, since: datetime
    ) -> LostEnrolment | None: ...
    def reserve_enrolment(
        self, buckets: Sequence[tuple[str, int]], *, now: datetime, window: float
    ) -> float: ...
    def release_enrolment(self, buckets: Sequence[str]) -> None: ...


class Devices(Protocol):
    """Enrolled devices, by the hash of their token."""

    def device(self, token_hash: str) -> DeviceAuth | None: ...
    def mark_seen(self, token_hash: str, *, now: datetime) -> None: ...
    def device_ids(self, user_id: str) -> list[str]: ...
    def revoke_device(self, device_id: str, *, now: datetime) -> bool: ...


class Records(Protocol):
    """Synced records: written by pushes (judged in the write's transaction)
    and by the server itself, read as wire JSON text by scope and change
    number."""

    def stored(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], Stored]: ...
    def assigned_residents(self, user_id: str) -> frozenset[str]: ...
    def organised_salons(self, user_id: str) -> frozenset[str]: ...
    def apply(
        self,
        changes: Sequence[Change],
        *,
        admit: Admit | None = None,
        now: datetime | None = None,
    ) -> dict[int, Rejection]: ...
    def write_as(
        self,
        device_id: str,
        judge: Judge,
        *,
        count: int,
        quota: int | None,
        now: datetime,
    ) -> Judgement: ...
    def write_server_records(
        self, changes: Sequence[dict[str, Any]], *, now: datetime
    ) -> None: ...
    def changes_after(
        self, scope: Scope, seq: int, limit: int
    ) -> tuple[list[str], int]: ...
    def history(
        self,
        user_id: str,
        residents: Iterable[str],
        *,
        since: datetime,
        salons: Iterable[str] = (),
    ) -> list[str]: ...
    def max_seq(self) -> int: ...
    def without_consent(self, residents: Iterable[str]) -> frozenset[str]: ...
    def visits_by(self, user_id: str, visit_ids: Iterable[str]) -> frozenset[str]: ...
    def bodies(self, kind: str) -> list[str]: ...
    def record(self, kind: str, record_id: str) -> str | None: ...


class ScopeSnapshots(Protocol):
    """What each device holds, by pull cursor (server/sync.py)."""

    def scope_snapshot(self, device_id: str, snap: int) -> frozenset[str] | None: ...
    def save_scope_snapshot(self, device_id: str, members: frozenset[str]) -> int: ...


class Audit(Protocol):
    """Who changed what: coordinators' and admins' writes, admin actions."""

    def audit(self, *, limit: int = 100) -> list[AuditEntry]: ...
    def record_admin_action(
        self, *, actor: str, action: str, subject: str, now: datetime
    ) -> None: ...


class Lifecycle(Protocol):
    def epoch(self) -> str:
        """This database's identity: new when it is made, and again when it is
        restored from a backup, so that devices see the server went back."""
        ...

    def backup(self, out: Path) -> None:
        """A consistent copy of everything, taken while devices push: what
        was committed when it began, whole."""
        ...

    def close(self) -> None: ...


class ServerStore(
    Accounts,
    Enrolment,
    Devices,
    Records,
    ScopeSnapshots,
    Audit,
    Lifecycle,
    Protocol,
):
    """Everything an engine implements. Callers that need less may ask for
    one of the narrow protocols above."""


def judge_nothing(change: Change, stored: Stored) -> Rejection | None:
    """An :data:`Admit` for a judgement already carried out."""
    return None


def user_record(
    *, user_id: str, name: str, role: Role, district_id: str, group_id: str
) -> dict[str, Any]:
    """A new user's ``users`` record, as :meth:`Accounts.create_user` writes it."""
    return {
        "kind": "users",
        "id": user_id,
        "deleted": False,
        "district_id": district_id,
        "group_id": group_id,
        "name": name,
        "role": role.value,
    }


def stamp_server_records(
    changes: Sequence[dict[str, Any]], last: Hlc, *, now: datetime
) -> tuple[list[Change], Hlc]:
    """Records written on the server itself (admin, seed), stamped one after
    another with its clock from ``last``, its origin "server"; and the last
    stamp, for the engine to keep."""
    stamped = []
    for change in changes:
        last = tick(last, int(now.timestamp() * 1000))
        record = {k: v for k, v in change.items() if k != "kind"}
        record.update(hlc=str(last), origin="server")
        stamped.append(Change(change["kind"], record))
    return stamped, last
