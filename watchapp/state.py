"""AppState: the use-cases the screens call, and a change notification.

Views call one verb per action and re-read what they show; they never touch
SQLite or the network. Errors, drawn as a tree:

    AppError
     ├─ InvalidInput      what the user entered can't be saved; .errors per field
     ├─ UnknownResident   no such resident on this device
     ├─ NotEnrolled       the device has no volunteer profile yet
     └─ EnrolmentFailed   the council did not enrol this device; .reason

Sync problems are not errors: offline is the normal state. sync_now() answers
with a SyncOutcome the status line shows calmly.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Literal

from sqlite_utils import Database

from watchapp import salon_store, store
from watchapp.domain.ids import uuid7
from watchapp.domain.model import Concern, Outcome, Resident, Role, Visit
from watchapp.domain.rules import RoundItem, SalonAbsence, local_date, round_items
from watchapp.domain.validation import (
    ErrorCode,
    FieldError,
    check_profile,
    check_visit,
    clean_text,
)
from watchapp.store import ConcernRow, Profile, RejectedRow
from watchapp.sync import client as council
from watchapp.sync.engine import SyncReport, sync_once
from watchapp.sync.errors import (
    CouncilUnreachable,
    DeviceRevoked,
    EnrolmentRefused,
    ServerBusy,
    ServerFailed,
    SyncError,
    Unauthorized,
)
from watchapp.sync.protocol import EnrolmentProblem

Listener = Callable[[], None]

RESIDENT_HISTORY = 10


class AppError(Exception):
    pass


class InvalidInput(AppError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(", ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = tuple(errors)


class UnknownResident(AppError):
    def __init__(self, resident_id: str) -> None:
        super().__init__(resident_id)
        self.resident_id = resident_id


class NotEnrolled(AppError):
    pass


class EnrolmentFailed(AppError):
    """``reason``: the council's answer, or "offline" when no answer came that
    the device can explain (no signal, a failing server, a wrong address)."""

    def __init__(self, reason: EnrolmentProblem | Literal["offline"]) -> None:
        super().__init__(reason)
        self.reason = reason


class SyncState(StrEnum):
    OK = "ok"
    OFFLINE = "offline"  # no signal, server down or busy: try again later
    REVOKED = "revoked"  # this device was revoked; personal data wiped
    UNAUTHORIZED = "unauthorized"  # the council does not know this device
    FAILED = "failed"  # the council refused the request
    NOT_ENROLLED = "not_enrolled"


@dataclass(frozen=True)
class SyncOutcome:
    state: SyncState
    report: SyncReport | None = None


@dataclass(frozen=True)
class Status:
    """What the status line on every screen shows."""

    pending: int
    last_sync_at: datetime | None
    rejected: int = 0
    last_outcome: SyncState | None = None
    notice: str | None = None  # e.g. "revoked": why this device's data is gone
    syncing: bool = False  # a sync round is under way


@dataclass(frozen=True)
class ResidentPage:
    item: RoundItem | None  # None when the resident is no longer assigned to me
    resident: Resident
    visits: list[Visit]
    concerns: list[ConcernRow]


@dataclass(frozen=True)
class HistoryEntry:
    visit: Visit
    resident_name: str


@dataclass(frozen=True)
class DistrictEntry:
    visit: Visit
    resident_name: str
    volunteer_name: str


def system_clock() -> datetime:
    return datetime.now(UTC)


class AppState:
    """The device's use-cases over one SQLite file. Safe to share across sessions."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = system_clock,
        entropy: Callable[[int], bytes] = os.urandom,
        connect: Callable[[str, str | None], council.CouncilClient] = council.connect,
        retry: Callable[[], council.RetryPolicy] = council.RetryPolicy,
    ) -> None:
        self._db = db
        self._clock = clock
        self._entropy = entropy
        self._connect = connect
        self._retry = retry
        self._lock = threading.RLock()
        self._sync_lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._last_outcome: SyncState | None = None
        # The enrol key sent with each code tried (see enrol), in memory only.
        self._enrol_keys: dict[str, str] = {}
        # Set by the app: start a sync soon (after a save), without waiting.
        self.sync_soon: Callable[[], None] = lambda: None
        with self._lock:
            store.ensure_device(db, self._new_id())

    # ---- change notification ------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every change; returns the unsubscribe call."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # ---- time and ids ---------------------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    def today(self) -> date:
        return local_date(self._clock())

    def _now_ms(self) -> int:
        return int(self._clock().timestamp() * 1000)

    def _new_id(self) -> str:
        return uuid7(self._now_ms(), self._entropy(10))

    # ---- for the other use-cases over this device (watchapp/salon_state.py) ----

    @property
    def db(self) -> Database:
        """The device file; hold :attr:`lock` while using it."""
        return self._db

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def now_ms(self) -> int:
        return self._now_ms()

    def new_id(self) -> str:
        return self._new_id()

    def user_id(self) -> str:
        """The enrolled user's id; NotEnrolled before enrolment."""
        return self._user_id()

    def notify_saved(self) -> None:
        """A record was saved: tell the screens, and sync soon."""
        self._changed()
        self.sync_soon()

    # ---- profile ---------------------------------------------------------------

    def profile(self) -> Profile | None:
        with self._lock:
            return store.device(self._db).profile

    def save_profile(self, name: str, server_url: str, invite_code: str) -> Profile:
        name, server_url = clean_text(name), clean_text(server_url)
        invite_code = clean_text(invite_code).replace(" ", "").upper()
        errors = check_profile(name, server_url, invite_code)
        if errors:
            raise InvalidInput(errors)
        with self._lock:
            store.save_profile(
                self._db, name=name, server_url=server_url, invite_code=invite_code
            )
            profile = store.device(self._db).profile
        assert profile is not None
        self._changed()
        return profile

    def _user_id(self) -> str:
        profile = self.profile()
        if profile is None or profile.user_id is None:
            raise NotEnrolled("this device has no volunteer yet")
        return profile.user_id

    # ---- the round and residents ---------------------------------------------

    def round(self) -> list[RoundItem]:
        """Today's round, most overdue first."""
        profile = self.profile()
        if profile is None or profile.user_id is None:
            return []
        with self._lock:
            rows = store.round_rows(self._db, profile.user_id)
            absent = {
                r["resident_id"]: SalonAbsence(
                    r["missed"], date.fromisoformat(r["last_attended"])
                )
                for r in salon_store.absences(self._db)
            }
        items = round_items(rows, today=self.today())
        return [
            replace(i, salon_absence=absent[i.resident.id])
            if i.resident.id in absent
            else i
            for i in items
        ]

    def resident_page(self, resident_id: str) -> ResidentPage:
        with self._lock:
            resident = store.resident(self._db, resident_id)
            if resident is None:
                raise UnknownResident(resident_id)
            visits = store.resident_visits(
                self._db, resident_id, limit=RESIDENT_HISTORY
            )
            concerns = store.open_concerns(self._db, resident_id)
        item = next((i for i in self.round() if i.resident.id == resident_id), None)
        return ResidentPage(item, resident, visits, concerns)

    # ---- visits ----------------------------------------------------------------

    def record_visit(
        self,
        resident_id: str,
        outcome: Outcome,
        *,
        visited_at: datetime | None = None,
        concern: Concern | None = None,
        note: str = "",
    ) -> Visit:
        """Save a visit on the device and queue it for the council.

        Raises InvalidInput (nothing is stored) when any field is wrong.
        """
        user_id = self._user_id()
        now = self._clock()
        with self._lock:
            resident = store.resident(self._db, resident_id)
            visit = Visit(
                id=self._new_id(),
                resident_id=resident_id,
                district_id=resident.district_id if resident else "",
                group_id=resident.group_id if resident else "",
                user_id=user_id,
                visited_at=visited_at or now,
                outcome=outcome,
                concern=concern,
                note=clean_text(note),
            )
            errors = check_visit(visit, resident=resident, now=now)
            if errors:
                raise InvalidInput(errors)
            store.save_visit(self._db, visit, now_ms=self._now_ms())
        self._changed()
        self.sync_soon()
        return visit

    def undo_visit(self, visit: Visit) -> None:
        """Take back a visit just saved by mistake (a tombstone, synced like any)."""
        with self._lock:
            store.delete_visit(self._db, visit, now_ms=self._now_ms())
        self._changed()

    def my_visits(self, *, limit: int = 100) -> list[HistoryEntry]:
        """The visits this volunteer logged (my records), newest first."""
        user_id = self._user_id()
        with self._lock:
            rows = store.user_visits(self._db, user_id, limit=limit)
        return [HistoryEntry(visit, name) for visit, name in rows]

    def role(self) -> Role | None:
        with self._lock:
            role = store.device(self._db).role
        return Role(role) if role else None

    def district_visits(self, *, limit: int = 100) -> list[DistrictEntry]:
        """For coordinators: the latest visits in their districts."""
        with self._lock:
            rows = store.recent_visits(self._db, limit=limit)
        return [DistrictEntry(v, name, by) for v, name, by in rows]

    def status(self) -> Status:
        with self._lock:
            dev = store.device(self._db)
            return Status(
                pending=store.pending_count(self._db),
                last_sync_at=dev.last_sync_at,
                rejected=store.rejected_count(self._db),
                last_outcome=self._last_outcome,
                notice=dev.notice,
                syncing=self._sync_lock.locked(),
            )

    def rejected(self) -> list[RejectedRow]:
        """Changes the council refused, with its reason; they stay on the device."""
        with self._lock:
            return store.rejected(self._db)

    async def send_rejected_again(self) -> SyncOutcome:
        """Send the refused changes once more, now: what the council refuses
        again comes back to the list, with its reason."""
        with self._lock:
            store.requeue_rejected(self._db)
        return await self.sync_now()

    # ---- the council -----------------------------------------------------------

    def is_enrolled(self) -> bool:
        with self._lock:
            return store.device(self._db).token is not None

    async def enrol(self, name: str, server_url: str, invite_code: str) -> Profile:
        """Exchange an invitation code for this device's token, then sync."""
        name, server_url = clean_text(name), clean_text(server_url)
        code = clean_text(invite_code).replace(" ", "").replace("-", "").upper()
        errors = check_profile(name, server_url, code)
        for field, value in (("server_url", server_url), ("invite_code", code)):
            if not value and not any(e.field == field for e in errors):
                errors.append(FieldError(field, ErrorCode.REQUIRED))
        if errors:
            raise InvalidInput(errors)
        with self._lock:
            device_id = store.device(self._db).device_id
            # The same key for the same code: when the answer is lost and the
            # volunteer taps again, the council gives the same token back.
            key = self._enrol_keys.setdefault(
                code, base64.urlsafe_b64encode(self._entropy(32)).decode().rstrip("=")
            )
        client = self._connect(server_url, None)
        try:
            enrolment = await client.enrol(code, device_id, name, enrol_key=key)
        except EnrolmentRefused as exc:
            raise EnrolmentFailed(exc.code) from exc
        except SyncError as exc:
            raise EnrolmentFailed("offline") from exc
        finally:
            await client.aclose()
        user = enrolment.user
        with self._lock:
            self._enrol_keys.pop(code, None)
            store.save_enrolment(
                self._db,
                user_id=str(user["id"]),
                role=str(user["role"]),
                token=enrolment.token,
                name=name,
                server_url=server_url,
            )
            profile = store.device(self._db).profile
        assert profile is not None
        await self.sync_now()  # tells the screens at once: "syncing"
        return profile

    async def sync_now(self) -> SyncOutcome:
        """One sync round with the council; never raises for network trouble."""
        async with self._sync_lock:
            with self._lock:
                dev = store.device(self._db)
            if dev.token is None or dev.profile is None:
                return SyncOutcome(SyncState.NOT_ENROLLED)
            self._changed()  # the status line says a sync is under way
            client = self._connect(dev.profile.server_url, dev.token)
            try:
                report = await sync_once(
                    self._db, client, policy=self._retry(), now=self._clock
                )
                outcome = SyncOutcome(SyncState.OK, report)
            except (CouncilUnreachable, ServerBusy, ServerFailed):
                outcome = SyncOutcome(SyncState.OFFLINE)
            except DeviceRevoked:
                outcome = SyncOutcome(SyncState.REVOKED)
            except Unauthorized:
                outcome = SyncOutcome(SyncState.UNAUTHORIZED)
            except SyncError:
                outcome = SyncOutcome(SyncState.FAILED)
            finally:
                await client.aclose()
            self._last_outcome = outcome.state
        self._changed()
        return outcome
