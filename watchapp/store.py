"""The device's SQLite file, through sqlite-utils. Functions take the Database first.

Every local write stamps the record with the device's hybrid logical clock and
queues it in the outbox in the same transaction, so a record is never saved
without being queued for the council, nor queued without being saved.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

from sqlite_utils import Database
from sqlite_utils.db import Table
from sqlite_utils.migrations import Migrations

from watchapp.domain import hlc
from watchapp.domain.kinds import KINDS, Field, FieldType, Kind, per_kind
from watchapp.domain.model import (
    CONTACT_OUTCOMES,
    Concern,
    ConcernCategory,
    ConcernStatus,
    Outcome,
    Resident,
    Urgency,
    Visit,
)
from watchapp.domain.rules import local_date
from watchapp.domain.schema import format_datetime, json_object_sql, parse_datetime

migrations = Migrations("watchapp-device")

_ENVELOPE_SQL = """
    id TEXT PRIMARY KEY,
    hlc TEXT NOT NULL,
    origin TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    district_id TEXT NOT NULL"""


@migrations()
def m001_initial(db: Database) -> None:
    """Synced tables (see domain/schema.py), the outbox and this device's row."""
    db.executescript(
        f"""
        CREATE TABLE districts ({_ENVELOPE_SQL},
            name TEXT NOT NULL);
        CREATE TABLE groups ({_ENVELOPE_SQL},
            name TEXT NOT NULL);
        CREATE TABLE residents ({_ENVELOPE_SQL},
            group_id TEXT NOT NULL,
            name TEXT NOT NULL,
            kana TEXT NOT NULL,
            address TEXT,
            visit_every_days INTEGER NOT NULL,
            consent INTEGER NOT NULL,
            evacuation_register INTEGER NOT NULL,
            since TEXT NOT NULL,
            active INTEGER NOT NULL);
        CREATE TABLE users ({_ENVELOPE_SQL},
            group_id TEXT NOT NULL,
            name TEXT NOT NULL,
            role TEXT NOT NULL);
        CREATE TABLE assignments ({_ENVELOPE_SQL},
            group_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            resident_id TEXT NOT NULL,
            active INTEGER NOT NULL);
        CREATE INDEX assignments_by_user ON assignments (user_id, resident_id);
        CREATE TABLE visits ({_ENVELOPE_SQL},
            group_id TEXT NOT NULL,
            resident_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            visited_at TEXT NOT NULL,
            outcome TEXT NOT NULL,
            concern_category TEXT,
            urgency TEXT,
            note TEXT);
        CREATE INDEX visits_by_resident ON visits (resident_id, visited_at);
        CREATE INDEX visits_by_user ON visits (user_id, visited_at);
        CREATE TABLE concern_updates ({_ENVELOPE_SQL},
            group_id TEXT NOT NULL,
            resident_id TEXT NOT NULL,
            visit_id TEXT NOT NULL,
            status TEXT NOT NULL,
            note TEXT);
        CREATE INDEX concern_updates_by_visit ON concern_updates (visit_id);

        -- One row per record with unsent local writes: the latest state is
        -- what gets pushed, so a record edited twice offline is sent once.
        CREATE TABLE outbox (
            kind TEXT NOT NULL,
            record_id TEXT NOT NULL,
            hlc TEXT NOT NULL,
            rejected_field TEXT,
            rejected_reason TEXT,
            PRIMARY KEY (kind, record_id));

        -- This device: its identity, clock, profile and sync bookkeeping.
        CREATE TABLE device (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            device_id TEXT NOT NULL,
            hlc TEXT NOT NULL,
            user_id TEXT,
            name TEXT,
            server_url TEXT,
            invite_code TEXT,
            last_sync_at TEXT);
        """
    )


@migrations()
def m002_enrolment_and_sync(db: Database) -> None:
    """The council's answer to enrolment, the pull cursor, sync outcomes."""
    db.executescript(
        """
        ALTER TABLE device ADD COLUMN token TEXT;
        ALTER TABLE device ADD COLUMN role TEXT;
        ALTER TABLE device ADD COLUMN cursor TEXT NOT NULL DEFAULT '';
        ALTER TABLE device ADD COLUMN notice TEXT;
        """
    )


@migrations()
def m003_outbox_in_push_order(db: Database) -> None:
    """The unsent writes in push order: a batch is read off the index, not sorted
    out of the whole queue each time."""
    db.execute(
        "CREATE INDEX outbox_unsent ON outbox (kind, hlc) WHERE rejected_reason IS NULL"
    )


_SQL_TYPES = {
    FieldType.TEXT: "TEXT",
    FieldType.INT: "INTEGER",
    FieldType.BOOL: "INTEGER",  # 0 or 1
    FieldType.DATE: "TEXT",
    FieldType.DATETIME: "TEXT",  # fixed width: text order is time order
}


def _column_sql(field: Field) -> str:
    return f"{field.name} {_SQL_TYPES[field.datatype]}" + (
        " NOT NULL" if field.required else ""
    )


def tables_from_kinds(db: Database) -> None:
    """Each registered kind's table, with its indexes, as the registry
    declares it: made where missing, and given the columns it lacks.

    Run at every open, after the migrations, so that a kind or a field
    added to the registry needs no migration of its own. A required field
    added to a table that exists already gets a column that allows NULL
    (SQLite adds no NOT NULL column without a default): rows written before
    have no value. tests/test_store.py compares every table with the
    registry, and so asks for a migration that says what old rows hold.
    """
    with db.atomic():
        for kind in KINDS.values():
            _table_from_kind(db, kind)


def _table_from_kind(db: Database, kind: Kind) -> None:
    table = kind.table
    if not _table(db, table).exists():
        columns = ",\n".join([_ENVELOPE_SQL, *map(_column_sql, kind.fields)])
        db.execute(f"CREATE TABLE [{table}] ({columns})")
    held = {c.name for c in _table(db, table).columns}
    for field in kind.wire_fields:
        if field.name not in held:
            nullable = Field(field.name, field.datatype, required=False)
            db.execute(f"ALTER TABLE [{table}] ADD COLUMN {_column_sql(nullable)}")
    for indexed in kind.indexes:
        db.execute(
            f"CREATE INDEX IF NOT EXISTS {kind.index_name(indexed)}"
            f" ON [{table}] ({', '.join(indexed)})"
        )


class StoreError(Exception):
    """Base of the store's errors.

    StoreError
     └─ NoDevice    the file has no device row yet (call ensure_device first)
    """


class NoDevice(StoreError):
    pass


@dataclass(frozen=True)
class Profile:
    name: str
    server_url: str
    invite_code: str
    user_id: str | None


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    hlc: str
    profile: Profile | None
    last_sync_at: datetime | None
    token: str | None = None
    role: str | None = None
    cursor: str = ""
    notice: str | None = None  # why personal data was wiped, shown once


@dataclass(frozen=True)
class ConcernRow:
    visit: Visit
    status: ConcernStatus


def open_db(path: Path | str) -> Database:
    """Open (creating if needed) the device file, with migrations applied.

    WAL with synchronous=FULL: a committed visit survives the phone dying a
    moment later. The connection may be used from Flet's worker threads; the
    caller serialises access (AppState holds a lock).
    """
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    db = Database(conn)
    migrations.apply(db)
    tables_from_kinds(db)
    return db


def _table(db: Database, name: str) -> Table:
    return db.table(name)


def ensure_device(db: Database, device_id: str) -> DeviceRow:
    """This file's device row, created with ``device_id`` on first use."""
    with db.atomic():
        db.execute(
            "INSERT OR IGNORE INTO device (singleton, device_id, hlc) VALUES (1, ?, ?)",
            [device_id, str(hlc.Hlc(0))],
        )
    return device(db)


def device(db: Database) -> DeviceRow:
    rows = list(db.query("SELECT * FROM device WHERE singleton = 1"))
    if not rows:
        raise NoDevice("this file has no device row")
    row = rows[0]
    profile = (
        Profile(
            name=row["name"],
            server_url=row["server_url"] or "",
            invite_code=row["invite_code"] or "",
            user_id=row["user_id"],
        )
        if row["name"]
        else None
    )
    last = row["last_sync_at"]
    return DeviceRow(
        device_id=row["device_id"],
        hlc=row["hlc"],
        profile=profile,
        last_sync_at=parse_datetime(last) if last else None,
        token=row["token"],
        role=row["role"],
        cursor=row["cursor"],
        notice=row["notice"],
    )


def save_profile(
    db: Database,
    *,
    name: str,
    server_url: str,
    invite_code: str,
    user_id: str | None = None,
) -> None:
    with db.atomic():
        db.execute(
            "UPDATE device SET name = ?, server_url = ?, invite_code = ?,"
            " user_id = coalesce(?, user_id) WHERE singleton = 1",
            [name, server_url, invite_code, user_id],
        )


def write(db: Database, kind: str, record: Mapping[str, Any], *, now_ms: int) -> str:
    """Save a local write of one record and queue it, in one transaction.

    Stamps ``hlc`` and ``origin`` (this device) and returns the stamp.
    """
    with db.atomic():
        dev = device(db)
        stamp = str(hlc.tick(hlc.Hlc.parse(dev.hlc), now_ms))
        row = {**record, "hlc": stamp, "origin": dev.device_id}
        row.setdefault("deleted", 0)
        _table(db, kind).upsert(row, pk="id")
        db.execute(
            "INSERT INTO outbox (kind, record_id, hlc) VALUES (?, ?, ?)"
            " ON CONFLICT (kind, record_id) DO UPDATE SET hlc = excluded.hlc,"
            " rejected_field = NULL, rejected_reason = NULL",
            [kind, row["id"], stamp],
        )
        db.execute("UPDATE device SET hlc = ? WHERE singleton = 1", [stamp])
    return stamp


def visit_row(visit: Visit) -> dict[str, Any]:
    return {
        "id": visit.id,
        "district_id": visit.district_id,
        "group_id": visit.group_id,
        "resident_id": visit.resident_id,
        "user_id": visit.user_id,
        "visited_at": format_datetime(visit.visited_at),
        "outcome": visit.outcome.value,
        "concern_category": visit.concern.category.value if visit.concern else None,
        "urgency": visit.concern.urgency.value if visit.concern else None,
        "note": visit.note,
    }


def save_visit(db: Database, visit: Visit, *, now_ms: int) -> str:
    return write(db, "visits", visit_row(visit), now_ms=now_ms)


def delete_visit(db: Database, visit: Visit, *, now_ms: int) -> str:
    """Tombstone a visit (a later write that says "deleted"), queued like any."""
    return write(db, "visits", {**visit_row(visit), "deleted": 1}, now_ms=now_ms)


def put_reference(db: Database, kind: str, rows: list[dict[str, Any]]) -> None:
    """Store records that came from the council (or the demo seed), unqueued."""
    with db.atomic():
        _table(db, kind).upsert_all(rows, pk="id")


# ---- reading --------------------------------------------------------------


def _resident(row: Mapping[str, Any]) -> Resident:
    return Resident(
        id=row["id"],
        district_id=row["district_id"],
        group_id=row["group_id"],
        name=row["name"],
        kana=row["kana"],
        address=row["address"] or "",
        visit_every_days=row["visit_every_days"],
        consent=bool(row["consent"]),
        evacuation_register=bool(row["evacuation_register"]),
        since=date.fromisoformat(row["since"]),
        active=bool(row["active"]),
    )


def _visit(row: Mapping[str, Any]) -> Visit:
    category = row["concern_category"]
    concern = (
        Concern(ConcernCategory(category), Urgency(row["urgency"] or "normal"))
        if category
        else None
    )
    return Visit(
        id=row["id"],
        resident_id=row["resident_id"],
        district_id=row["district_id"],
        group_id=row["group_id"],
        user_id=row["user_id"],
        visited_at=parse_datetime(row["visited_at"]),
        outcome=Outcome(row["outcome"]),
        concern=concern,
        note=row["note"] or "",
    )


def resident(db: Database, resident_id: str) -> Resident | None:
    rows = list(
        db.query("SELECT * FROM residents WHERE id = ? AND deleted = 0", [resident_id])
    )
    return _resident(rows[0]) if rows else None


_CONTACT_SQL = ", ".join(f"'{o.value}'" for o in sorted(CONTACT_OUTCOMES))

_ROUND_SQL = f"""
SELECT r.*,
  (SELECT v.visited_at FROM visits v
    WHERE v.resident_id = r.id AND v.deleted = 0
      AND v.outcome IN ({_CONTACT_SQL})
    ORDER BY v.visited_at DESC LIMIT 1) AS last_contact_at,
  (SELECT v.outcome FROM visits v
    WHERE v.resident_id = r.id AND v.deleted = 0
    ORDER BY v.visited_at DESC LIMIT 1) AS last_outcome
FROM assignments a
JOIN residents r ON r.id = a.resident_id
WHERE a.user_id = ? AND a.active = 1 AND a.deleted = 0
  AND r.deleted = 0 AND r.active = 1
"""


def round_rows(
    db: Database, user_id: str
) -> list[tuple[Resident, date | None, Outcome | None]]:
    """The residents assigned to ``user_id``, each with last contact and outcome."""
    out = []
    for row in db.query(_ROUND_SQL, [user_id]):
        last = row["last_contact_at"]
        outcome = row["last_outcome"]
        out.append(
            (
                _resident(row),
                local_date(parse_datetime(last)) if last else None,
                Outcome(outcome) if outcome else None,
            )
        )
    return out


def resident_visits(db: Database, resident_id: str, *, limit: int) -> list[Visit]:
    """A resident's latest visits, newest first."""
    return [
        _visit(r)
        for r in db.query(
            "SELECT * FROM visits WHERE resident_id = ? AND deleted = 0"
            " ORDER BY visited_at DESC LIMIT ?",
            [resident_id, limit],
        )
    ]


def user_visits(db: Database, user_id: str, *, limit: int) -> list[tuple[Visit, str]]:
    """The visits ``user_id`` logged, newest first, with the resident's name."""
    return [
        (_visit(r), r["resident_name"] or "")
        for r in db.query(
            "SELECT v.*, r.name AS resident_name FROM visits v"
            " LEFT JOIN residents r ON r.id = v.resident_id"
            " WHERE v.user_id = ? AND v.deleted = 0"
            " ORDER BY v.visited_at DESC LIMIT ?",
            [user_id, limit],
        )
    ]


def recent_visits(db: Database, *, limit: int) -> list[tuple[Visit, str, str]]:
    """Every visit on this device, newest first, with resident and visitor names."""
    return [
        (_visit(r), r["resident_name"] or "", r["user_name"] or "")
        for r in db.query(
            "SELECT v.*, r.name AS resident_name, u.name AS user_name FROM visits v"
            " LEFT JOIN residents r ON r.id = v.resident_id"
            " LEFT JOIN users u ON u.id = v.user_id"
            " WHERE v.deleted = 0 ORDER BY v.visited_at DESC LIMIT ?",
            [limit],
        )
    ]


def open_concerns(db: Database, resident_id: str) -> list[ConcernRow]:
    """Concerns raised for a resident and not yet resolved, newest first."""
    rows = db.query(
        """
        SELECT v.*, coalesce(
          (SELECT u.status FROM concern_updates u
            WHERE u.visit_id = v.id AND u.deleted = 0
            ORDER BY u.hlc DESC LIMIT 1), 'open') AS concern_status
        FROM visits v
        WHERE v.resident_id = ? AND v.deleted = 0
          AND v.concern_category IS NOT NULL
        ORDER BY v.visited_at DESC
        """,
        [resident_id],
    )
    out = []
    for r in rows:
        status = ConcernStatus(r["concern_status"])
        if status is not ConcernStatus.RESOLVED:
            out.append(ConcernRow(_visit(r), status))
    return out


def pending_count(db: Database) -> int:
    """Records with local writes not yet accepted by the council."""
    rows = list(db.query("SELECT count(*) AS n FROM outbox"))
    return int(rows[0]["n"])


# ---- sync bookkeeping -------------------------------------------------------


class Outgoing(NamedTuple):
    """An unsent write, read for a push: its outbox entry and the record as a
    wire change (see :func:`outbox_batch`)."""

    entry: int  # the outbox row's rowid
    kind: str
    record_id: str
    hlc: str  # the stamp queued, which the record carries
    change: bytes  # one JSON object, UTF-8


@dataclass(frozen=True)
class RejectedRow:
    kind: str
    record_id: str
    field: str
    reason: str
    resident_name: str
    visited_at: datetime | None


def save_enrolment(
    db: Database, *, user_id: str, role: str, token: str, name: str, server_url: str
) -> None:
    with db.atomic():
        db.execute(
            "UPDATE device SET user_id = ?, role = ?, token = ?, name = ?,"
            " server_url = ?, invite_code = '', cursor = '', notice = NULL"
            " WHERE singleton = 1",
            [user_id, role, token, name, server_url],
        )


def _outbox_sql(kind: str) -> str:
    """A kind's unsent writes in push order, each record already encoded as
    ``protocol.to_wire`` has it: ``"kind"``, then the envelope and the kind's
    fields in schema order (tests/test_store.py holds the two equal). SQLite
    writes the JSON, which spares a Python dict and a json.dumps per record."""
    return (
        "SELECT o.rowid, o.kind, o.record_id, o.hlc,"
        f" CAST({json_object_sql(kind, 't')} AS BLOB)"
        f" FROM outbox o JOIN [{kind}] t ON t.id = o.record_id"
        " WHERE o.kind = ? AND o.rejected_reason IS NULL AND o.hlc > ?"
        " ORDER BY o.hlc LIMIT ?"
    )


_OUTBOX_SQL = per_kind(lambda kind: _outbox_sql(kind.table))


def outbox_batch(db: Database, limit: int, *, after: str = "") -> list[Outgoing]:
    """The oldest unsent writes not already rejected, with their current records.

    ``after``: only writes stamped later than this (the last of a batch still on
    its way), so the next batch can be read before the last one is settled.
    """
    out: list[Outgoing] = []
    for kind, sql in _OUTBOX_SQL.items():
        out += map(Outgoing._make, db.execute(sql, [kind, after, limit]))
    out.sort(key=attrgetter("hlc"))
    return out[:limit]


def settle_push(
    db: Database,
    sent: list[Outgoing],
    rejected: dict[int, tuple[str, str]],
) -> None:
    """Forget what the council accepted; mark what it rejected, with why.

    A record written again while the push was on its way stays queued: its
    entry (the same row) now carries a later stamp, and only entries still
    carrying a stamp that was sent are settled. The device clock never stamps
    two writes alike, so a pushed stamp names one write, even should the rowids
    have moved meanwhile (VACUUM may renumber them).
    """
    accepted: list[Outgoing] = []
    refused: list[tuple[str, str, int, str]] = []
    for index, item in enumerate(sent):
        if index in rejected:
            refused.append((*rejected[index], item.entry, item.hlc))
        else:
            accepted.append(item)
    with db.atomic():
        if refused:
            db.conn.executemany(
                "UPDATE outbox SET rejected_field = ?, rejected_reason = ?"
                " WHERE rowid = ? AND hlc = ?",
                refused,
            )
        if accepted:
            # One statement for the batch: cheaper than a step per entry.
            db.execute(
                "DELETE FROM outbox WHERE rowid IN (SELECT value FROM json_each(?))"
                " AND hlc IN (SELECT value FROM json_each(?))",
                [
                    json.dumps([item.entry for item in accepted]),
                    json.dumps([item.hlc for item in accepted]),
                ],
            )


def rejected_count(db: Database) -> int:
    row = db.execute(
        "SELECT count(*) FROM outbox WHERE rejected_reason IS NOT NULL"
    ).fetchone()
    return int(row[0])


def requeue_rejected(db: Database) -> int:
    """Put the writes the council refused back in the queue, to be sent again
    (the council's side may have changed: a resident assigned since, say).
    Returns how many."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE outbox SET rejected_field = NULL, rejected_reason = NULL"
            " WHERE rejected_reason IS NOT NULL"
        )
        return int(cursor.rowcount)


def rejected(db: Database) -> list[RejectedRow]:
    out = []
    for r in db.query(
        "SELECT o.*, v.visited_at, res.name AS resident_name FROM outbox o"
        " LEFT JOIN visits v ON o.kind = 'visits' AND v.id = o.record_id"
        " LEFT JOIN residents res ON res.id = v.resident_id"
        " WHERE o.rejected_reason IS NOT NULL ORDER BY o.hlc"
    ):
        out.append(
            RejectedRow(
                kind=r["kind"],
                record_id=r["record_id"],
                field=r["rejected_field"] or "",
                reason=r["rejected_reason"],
                resident_name=r["resident_name"] or "",
                visited_at=parse_datetime(r["visited_at"]) if r["visited_at"] else None,
            )
        )
    return out


def _upsert_sql(kind: str, columns: list[str]) -> str:
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "id")
    return (
        f"INSERT INTO [{kind}] ({names}) VALUES ({marks})"
        f" ON CONFLICT (id) DO UPDATE SET {updates}"
        f" WHERE (excluded.hlc, excluded.origin) > ([{kind}].hlc, [{kind}].origin)"
    )


def apply_page(
    db: Database,
    rows: dict[str, list[dict[str, Any]]],
    *,
    cursor: str,
    purge_residents: list[str],
    purge_districts: list[str],
    purge_salons: Sequence[str] = (),
    now_ms: int,
) -> int:
    """One pulled page, its purges and its cursor, in one transaction.

    Last writer wins by (hlc, origin). A local write that lost to a later one
    from elsewhere leaves the outbox; the device clock moves past what it saw.
    """
    applied = 0

    def queued(kind: str) -> bool:
        return bool(
            db.execute("SELECT 1 FROM outbox WHERE kind = ? LIMIT 1", [kind]).fetchone()
        )

    with db.atomic():
        dev = device(db)
        latest = hlc.Hlc.parse(dev.hlc)
        for kind, records in rows.items():
            if not records:
                continue
            columns = list(records[0])
            before = db.conn.total_changes
            db.conn.executemany(
                _upsert_sql(kind, columns), [[r[c] for c in columns] for r in records]
            )
            applied += db.conn.total_changes - before
            if queued(kind):
                db.conn.executemany(
                    f"DELETE FROM outbox WHERE kind = ? AND record_id = ? AND NOT"
                    f" EXISTS (SELECT 1 FROM [{kind}] t WHERE t.id = outbox.record_id"
                    f"  AND t.hlc = outbox.hlc AND t.origin = ?)",
                    [(kind, r["id"], dev.device_id) for r in records],
                )
            # Stamps are fixed-width text that sorts in time order.
            newest = hlc.Hlc.parse(max(r["hlc"] for r in records))
            latest = hlc.receive(latest, newest, now_ms) if newest > latest else latest
        if purge_residents:
            _purge(db, "residents", purge_residents)
        if purge_districts:
            _purge(db, "districts", purge_districts)
        if purge_salons:
            _purge(db, "salons", list(purge_salons))
        if dev.role in _FIELD_ROLES and dev.profile and dev.profile.user_id:
            _withhold(db, dev.profile.user_id)
        db.execute(
            "UPDATE device SET cursor = ?, hlc = ? WHERE singleton = 1",
            [cursor, str(latest)],
        )
    return applied


_FIELD_ROLES = frozenset({"volunteer", "organiser"})


def _withhold(db: Database, user_id: str) -> None:
    """Least data on a volunteer's phone: of residents who have not consented
    (or withdrew consent), what the server no longer sends it
    (:attr:`Kind.withheld`) goes from what it already holds too."""
    without = "SELECT id FROM residents WHERE consent = 0"
    for kind, spec in KINDS.items():
        if spec.withheld:
            blanks = ", ".join(f"{name} = NULL" for name in spec.withheld)
            held = " OR ".join(f"{name} IS NOT NULL" for name in spec.withheld)
            db.execute(
                f"UPDATE [{kind}] SET {blanks} WHERE resident_id IN ({without})"
                f" AND user_id IS NOT ? AND ({held})",
                [user_id],
            )
        if spec.withheld_whole:
            db.execute(
                f"DELETE FROM [{kind}] WHERE resident_id IN ({without})"
                " AND visit_id NOT IN (SELECT id FROM visits WHERE user_id = ?)"
                f" AND id NOT IN (SELECT record_id FROM outbox WHERE kind = '{kind}')",
                [user_id],
            )


def _purge(db: Database, lost: str, ids: list[str]) -> None:
    """Drop personal data that left this device's scope: the records of
    ``lost`` (residents, districts, salons) with these ids, and of every kind purged
    with them (:attr:`Kind.purge`); except unsent writes, and the records
    they refer to (so the user can still tell whose visit was not sent)."""
    marks = ", ".join("?" for _ in ids)
    for kind, spec in KINDS.items():
        column = spec.purge.get(lost)
        if column is None:
            continue
        keep = "SELECT record_id FROM outbox WHERE kind = ?" + _named_by_unsent(kind)
        db.execute(
            f"DELETE FROM [{kind}] WHERE {column} IN ({marks}) AND id NOT IN ({keep})",
            [*ids, kind],
        )


def _named_by_unsent(kind: str) -> str:
    """SQL for more ids of ``kind`` to keep: those that unsent writes refer
    to (:attr:`Kind.references`), such as the resident of an unsent visit."""
    return "".join(
        f" UNION SELECT {field} FROM [{other}] WHERE id IN"
        f" (SELECT record_id FROM outbox WHERE kind = '{other}')"
        for other, spec in KINDS.items()
        for field, target in spec.references.items()
        if target == kind
    )


def wipe(db: Database, *, notice: str, new_device_id: str) -> int:
    """Remove every synced record and unsent write (a revoked device).

    The device takes ``new_device_id``: the council keeps the revoked id
    taken, and the phone may be enrolled again with a new code. Returns how many unsent
    writes were lost, so the user can be told.
    """
    with db.atomic():
        lost = pending_count(db)
        for kind in KINDS:
            db.execute(f"DELETE FROM [{kind}]")
        db.execute("DELETE FROM outbox")
        db.execute(
            "UPDATE device SET token = NULL, user_id = NULL, role = NULL,"
            " cursor = '', notice = ?, device_id = ? WHERE singleton = 1",
            [notice, new_device_id],
        )
    return lost


def set_last_sync(db: Database, when: datetime) -> None:
    with db.atomic():
        db.execute(
            "UPDATE device SET last_sync_at = ? WHERE singleton = 1",
            [format_datetime(when)],
        )


def requeue_own(db: Database) -> int:
    """The council went back in time (restored from a backup): every record
    this device wrote goes back in the outbox, as it is now, and the next
    pull starts from the beginning. The council keeps what it already has
    (the same stamp is a no-op) and gets back what it lost. Returns how many
    records were queued."""
    with db.atomic():
        dev = device(db)
        before = db.conn.total_changes
        for kind in KINDS:
            db.execute(
                "INSERT INTO outbox (kind, record_id, hlc)"
                f" SELECT ?, id, hlc FROM [{kind}] WHERE origin = ?"
                " ON CONFLICT (kind, record_id) DO NOTHING",
                [kind, dev.device_id],
            )
        queued = db.conn.total_changes - before
        db.execute("UPDATE device SET cursor = '' WHERE singleton = 1")
    return queued
