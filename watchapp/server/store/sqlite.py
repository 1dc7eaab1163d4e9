"""The council server's store on SQLite: one file, WAL.

Synced records live in one table, ``records``, keyed by (kind, id), each with
the server's change number ``seq`` (a later write gets a later seq; pull walks
seq) and one column per field of :mod:`watchapp.domain.schema` (NULL where a
kind has no such field). SQLite writes a pulled record's JSON itself
(``json_object``): a push stores values, not text to re-encode. Accounts,
devices and invitations are server-only tables.
"""

from __future__ import annotations

import functools
import json
import operator
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from watchapp.domain.hlc import Hlc
from watchapp.domain.kinds import (
    HOLDING,
    LISTED,
    FieldType,
    HeldBy,
    History,
    per_kind,
    when_changed,
)
from watchapp.domain.model import Role
from watchapp.domain.schema import KINDS, format_datetime, json_object_sql
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
    Scope,
    Stored,
    WriteQuotaExceeded,
    judge_nothing,
    stamp_server_records,
    user_record,
)
from watchapp.sync.protocol import CLOCK_AHEAD_LIMIT, Change, Rejection

migrations = Migrations("watchapp-server")


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE records (
            seq INTEGER PRIMARY KEY,  -- a later write moves the row to the end
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            hlc TEXT NOT NULL,
            origin TEXT NOT NULL,
            deleted INTEGER NOT NULL,
            district_id TEXT NOT NULL,
            group_id TEXT,
            resident_id TEXT,
            user_id TEXT,
            active INTEGER,
            body TEXT NOT NULL
        );
        CREATE UNIQUE INDEX records_by_key ON records (kind, id);
        CREATE INDEX records_by_district ON records (district_id, seq);
        CREATE INDEX records_by_resident ON records (resident_id, seq);
        CREATE INDEX assignments_by_user ON records (user_id)
            WHERE kind = 'assignments';

        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('seq', '0'), ('hlc', '0000000000000-00000');

        CREATE TABLE coordinator_districts (
            user_id TEXT NOT NULL,
            district_id TEXT NOT NULL,
            PRIMARY KEY (user_id, district_id));

        CREATE TABLE invitations (
            code_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            device_id TEXT);

        CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            enrolled_at TEXT NOT NULL,
            last_seen_at TEXT,
            revoked_at TEXT);

        -- What each device holds, by pull cursor: lets a pull find residents
        -- the device gained (send them) or lost (tell it to purge them).
        CREATE TABLE device_scopes (
            snap INTEGER PRIMARY KEY AUTOINCREMENT,
            device_id TEXT NOT NULL,
            members TEXT NOT NULL);
        CREATE INDEX device_scopes_by_device ON device_scopes (device_id, snap);
        """
    )


@migrations()
def m002_record_columns(db: Database) -> None:
    """The body's fields as columns: a push stores values instead of JSON text
    (a visit's push costs about 4 µs less), and pulls build JSON in SQLite.

    Columns are listed here, not generated from the schema, so that this
    migration does the same thing whatever the schema becomes later.
    """
    fields = [
        "name",
        "kana",
        "address",
        "since",
        "role",
        "visited_at",
        "outcome",
        "concern_category",
        "urgency",
        "note",
        "visit_id",
        "status",
    ]
    numbers = ["visit_every_days", "consent", "evacuation_register"]
    texts = ",\n".join(f"{f} TEXT" for f in fields)
    ints = ",\n".join(f"{f} INTEGER" for f in numbers)
    extracted = ", ".join(f"json_extract(body, '$.{f}')" for f in fields + numbers)
    db.executescript(
        f"""
        CREATE TABLE records_new (
            seq INTEGER PRIMARY KEY,  -- a later write moves the row to the end
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            hlc TEXT NOT NULL,
            origin TEXT NOT NULL,
            deleted INTEGER NOT NULL,
            district_id TEXT NOT NULL,
            group_id TEXT,
            resident_id TEXT,  -- for residents: their own id
            user_id TEXT,  -- for users: their own id
            active INTEGER,
            {texts},
            {ints}
        );
        INSERT INTO records_new
        SELECT seq, kind, id, hlc, origin, deleted, district_id, group_id,
               resident_id, user_id, active, {extracted}
        FROM records;
        DROP TABLE records;
        ALTER TABLE records_new RENAME TO records;
        CREATE UNIQUE INDEX records_by_key ON records (kind, id);
        CREATE INDEX records_by_district ON records (district_id, seq);
        CREATE INDEX records_by_resident ON records (resident_id, seq);
        CREATE INDEX assignments_by_user ON records (user_id)
            WHERE kind = 'assignments';
        """
    )


@migrations()
def m003_visits_found_by_district(db: Database) -> None:
    """Visits leave the index by resident, which cost a push more than any
    other (a visit lands in the middle of it: about 3 µs of the server's 13
    per visit). A resident's visits are found among the records of the
    districts their records are filed under (``resident_districts``), through
    the index by district and seq; for recent history, from the first seq
    written on the first day of the window (``seq_days``)."""
    db.executescript(
        """
        DROP INDEX records_by_resident;
        CREATE INDEX records_by_resident ON records (resident_id, seq)
            WHERE kind != 'visits';
        CREATE TABLE seq_days (day TEXT PRIMARY KEY, first_seq INTEGER NOT NULL);
        -- Records written before this table: as if all written today.
        INSERT INTO seq_days SELECT date('now'), 0 WHERE EXISTS (SELECT 1 FROM records);
        CREATE TABLE resident_districts (
            resident_id TEXT NOT NULL,
            district_id TEXT NOT NULL,
            PRIMARY KEY (resident_id, district_id)) WITHOUT ROWID;
        INSERT OR IGNORE INTO resident_districts
            SELECT DISTINCT resident_id, district_id FROM records
            WHERE resident_id IS NOT NULL;
        """
    )


@migrations()
def m004_enrolment(db: Database) -> None:
    """A lost enrolment answer can be asked for again only by whoever sent
    the request (``enrol_salt``: see watchapp/server/enrol.py), and the
    enrolment limiter's counts live here, so that every server process on
    this file shares them."""
    db.executescript(
        """
        ALTER TABLE invitations ADD COLUMN enrol_salt TEXT;
        CREATE TABLE enrolment_attempts (
            bucket TEXT PRIMARY KEY,
            attempts INTEGER NOT NULL,
            window_ends REAL NOT NULL  -- unix seconds
        ) WITHOUT ROWID;
        CREATE INDEX enrolment_attempts_by_end
            ON enrolment_attempts (window_ends);
        """
    )


@migrations()
def m005_write_quota_and_audit(db: Database) -> None:
    """How many changes each device sent per hour (its write quota, counted in
    the database so that every server process sees the same count), and who
    changed what: the audit trail that admins read."""
    db.executescript(
        """
        CREATE TABLE device_writes (
            device_id TEXT NOT NULL,
            hour TEXT NOT NULL,
            changes INTEGER NOT NULL,
            PRIMARY KEY (device_id, hour)) WITHOUT ROWID;
        CREATE TABLE audit_log (
            n INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user_id TEXT NOT NULL,
            device_id TEXT,
            action TEXT NOT NULL,
            kind TEXT,
            record_id TEXT NOT NULL);
        """
    )


# Residents and users are indexed by their own id in these columns (a
# district's own id is its district_id on the wire already).
_OWN_ID_AS = per_kind(
    lambda k: (
        k.own_id_as if k.own_id_as not in {f.name for f in k.wire_fields} else None
    )
)


@dataclass(frozen=True)
class _KindSql:
    """How one kind is written: the upsert, and which record key goes into
    each of its ``?`` after the seq."""

    into: str  # "INSERT INTO records (seq, kind, ...)"
    row: str  # "(?, 'kind', ?, ...)": one record's values
    upsert: str  # the last writer wins
    keys: tuple[str, ...]
    values: Callable[[dict[str, Any]], tuple[Any, ...]]  # keys' values, all there

    @property
    def width(self) -> int:
        """How many ``?`` a row has: the seq and the keys."""
        return 1 + len(self.keys)


def _kind_sql(kind: str) -> _KindSql:
    names = [f.name for f in KINDS[kind].wire_fields]
    columns, keys = list(names), list(names)
    own = _OWN_ID_AS[kind]
    if own is not None:
        columns.append(own)
        keys.append("id")
    updates = ", ".join(f"{c} = excluded.{c}" for c in ["seq", *columns])
    into = f"INSERT INTO records (seq, kind, {', '.join(columns)})"
    row = f"(?, '{kind}', {', '.join('?' for _ in columns)})"
    return _KindSql(
        into,
        row,
        f"{into} VALUES {row} ON CONFLICT (kind, id) DO UPDATE SET {updates}"
        " WHERE (excluded.hlc, excluded.origin) > (records.hlc, records.origin)",
        tuple(keys),
        operator.itemgetter(*keys),
    )


@functools.lru_cache(maxsize=128)
def _insert_sql(kind: str, count: int) -> str:
    """``count`` new records of a kind in one statement; a (kind, id) already
    stored is left as it is (the caller sees it in ``total_changes``)."""
    sql = _SQL[kind]
    rows = ", ".join([sql.row] * count)
    return f"{sql.into} VALUES {rows} ON CONFLICT (kind, id) DO NOTHING"


def _body_sql() -> str:
    """SQL for a row's wire JSON, whatever its kind."""
    cases = " ".join(f"WHEN '{k}' THEN {json_object_sql(k)}" for k in KINDS)
    return f"CASE kind {cases} END"


_SQL = per_kind(lambda kind: _kind_sql(kind.table))
when_changed(_insert_sql.cache_clear)  # a kind registered again: not its old SQL


def _record_values(kind: str, record: dict[str, Any]) -> tuple[Any, ...]:
    """A record's values in its kind's column order (None for an optional
    field left out)."""
    sql = _SQL[kind]
    try:
        return sql.values(record)  # devices send every field
    except KeyError:
        return tuple(map(record.get, sql.keys))


def _values(seq: int, change: Change) -> tuple[Any, ...]:
    """One row for a kind's upsert: the seq, then the record's values."""
    return (seq, *_record_values(change.kind, change.record))


def _flat_rows(changes: Sequence[Change], first: int) -> dict[str, list[Any]]:
    """Each kind's rows for its multi-row INSERT, one after the other in one
    list: the seq (``first`` for the first change), then the values."""
    rows: dict[str, list[Any]] = {}
    for seq, change in enumerate(changes, first):
        out = rows.get(change.kind)
        if out is None:
            out = rows[change.kind] = []
        out.append(seq)
        out += _record_values(change.kind, change.record)
    return rows


_HLC_OF = operator.itemgetter("hlc")
BODY = ""  # the SQL of _body_sql(), set just below and when a kind is added


@when_changed
def _derive_body() -> None:
    global BODY
    BODY = _body_sql()


def _is_kind(tables: Sequence[str], column: str = "kind") -> str:
    """``kind = 'visits'``, or ``kind IN ('residents', 'visits')``."""
    if len(tables) == 1:
        return f"{column} = '{tables[0]}'"
    listed = ", ".join(f"'{t}'" for t in tables)
    return f"{column} IN ({listed})"


def _held_by(how: HeldBy, history: History | None = None) -> list[str]:
    """The kinds a field worker holds ``how`` (and that come ``history``)."""
    return [
        k.table
        for k in KINDS.values()
        if k.held_by is how and (history is None or k.history is history)
    ]


def _matches(how: HeldBy) -> str:
    column, of_scope = HOLDING[how]
    if how in LISTED:  # a set (residents, salons): bound as a JSON array
        return f"{column} IN (SELECT value FROM json_each(:{of_scope}))"
    return f"{column} = :{of_scope}"


def _held_sql() -> str:
    """Which records a field worker's device holds (:attr:`Kind.held_by`),
    with :func:`_field_worker_params`. All are filed under their own
    district, their group's, or one their residents' records are filed
    under (resident_districts): that keeps the read on the index by
    (district_id, seq)."""
    frame = ["SELECT :district_id"]
    if groups := _held_by(HeldBy.OWN_GROUP):
        frame.append(
            f"SELECT district_id FROM records WHERE {_is_kind(groups)}"
            " AND id = :group_id"
        )
    frame.append(
        "SELECT district_id FROM resident_districts"
        " WHERE resident_id IN (SELECT value FROM json_each(:residents))"
    )
    if salons := _held_by(HeldBy.SALON):
        frame.append(
            f"SELECT district_id FROM records WHERE {_is_kind(salons)}"
            f" AND {_matches(HeldBy.SALON)}"
        )
    # "+kind": the kind filters, it does not pick an index. Else SQLite may
    # look each way up by (kind, id) and sort them all, where a page wants
    # the walk by (district_id, seq) that LIMIT stops early.
    held = [
        f"({_is_kind(tables, '+kind')} AND {_matches(how)})"
        for how in HeldBy
        if (tables := _held_by(how))
    ]
    return f"district_id IN ({' UNION '.join(frame)}) AND ({' OR '.join(held) or '0'})"


def _history_sql() -> str:
    """The seqs of what comes with newly assigned residents (:attr:`Kind.history`),
    with :func:`_field_worker_params` and the window's; "" for none."""
    whole = [
        _is_kind(tables)
        if how is HeldBy.RESIDENT
        else f"({_is_kind(tables)} AND {_matches(how)})"
        for how in HeldBy
        if how is not HeldBy.SALON and (tables := _held_by(how, History.ALL))
    ]
    salons = _held_by(HeldBy.SALON, History.ALL)
    recent = _held_by(HeldBy.RESIDENT, History.RECENT)
    by_clock: dict[str, list[str]] = {}
    for table in recent:
        by_clock.setdefault(str(KINDS[table].clock_field), []).append(table)
    parts = []
    if whole:
        # The index by resident leaves visits out (m003): saying so lets it serve.
        parts.append(
            "SELECT seq FROM records"
            " WHERE resident_id IN (SELECT value FROM json_each(:residents))"
            f" AND kind != 'visits' AND ({' OR '.join(whole)})"
        )
    if salons:  # a salon newly organised: all of it (records_by_salon)
        parts.append(
            f"SELECT seq FROM records WHERE {_matches(HeldBy.SALON)}"
            f" AND {_is_kind(salons)}"
        )
    if recent:
        # Not by resident: from the districts the residents' records are filed
        # under, from the first seq written since the window began (seq_days).
        # A record reaches the server after its clock field (the clock check),
        # so any since ``since`` was written at or after ``since`` less that leeway.
        in_window = " OR ".join(
            f"({_is_kind(tables)} AND {clock} >= :since)"
            for clock, tables in by_clock.items()
        )
        parts.append(
            "SELECT seq FROM records INDEXED BY records_by_district"
            " WHERE district_id IN (SELECT district_id FROM resident_districts"
            "   WHERE resident_id IN (SELECT value FROM json_each(:residents)))"
            " AND seq >= (SELECT coalesce(min(first_seq), :beyond)"
            "   FROM seq_days WHERE day >= :first_day)"
            " AND resident_id IN (SELECT value FROM json_each(:residents))"
            f" AND ({in_window})"
        )
    return " UNION ALL ".join(parts)


HELD = ""  # the SQL of _held_sql(), set just below and when a kind is added
HISTORY = ""  # the SQL of _history_sql(), likewise


@when_changed
def _derive_scope() -> None:
    global HELD, HISTORY
    HELD, HISTORY = _held_sql(), _history_sql()


def _field_worker_params(scope: Scope) -> dict[str, Any]:
    return {
        "district_id": scope.district_id,
        "group_id": scope.group_id,
        "user_id": scope.user_id,
        "residents": json.dumps(sorted(scope.residents)),
        "salons": json.dumps(sorted(scope.salons)),
    }


_SQL_TYPES = {FieldType.INT: "INTEGER", FieldType.BOOL: "INTEGER"}  # else TEXT


def _add_field_columns(db: Database) -> None:
    """A column of ``records`` for each field name of the registry that has
    none yet (a kind or field added since the migrations): nullable, as every
    field column is, since each kind uses only some."""
    held = {c.name for c in db.table("records").columns}
    for kind in KINDS.values():
        for field in kind.fields:
            if field.name not in held:
                sql_type = _SQL_TYPES.get(field.datatype, "TEXT")
                db.execute(f"ALTER TABLE records ADD COLUMN {field.name} {sql_type}")
                held.add(field.name)
    if "salon_id" in held:  # a salon's records, for one newly organised
        db.execute(
            "CREATE INDEX IF NOT EXISTS records_by_salon ON records (salon_id, seq)"
            " WHERE salon_id IS NOT NULL"
        )


def _organised_salons(db: Database, user_id: str) -> frozenset[str]:
    """The salons an organiser holds: an active organiser record, filed where
    the salon is (one left behind when a salon moved district gives nothing)."""
    return frozenset(
        r[0]
        for r in db.execute(
            "SELECT o.salon_id FROM records o"
            " JOIN records s ON s.kind = 'salons' AND s.id = o.salon_id"
            " WHERE o.user_id = ? AND o.kind = 'salon_organisers' AND o.deleted = 0"
            " AND o.active = 1 AND s.deleted = 0 AND s.district_id = o.district_id",
            [user_id],
        ).fetchall()
    )


def _assigned_residents(db: Database, user_id: str) -> frozenset[str]:
    """The residents a volunteer holds: an active assignment, filed where the
    resident is now (an assignment left behind when a resident moved gives
    nothing: the district they moved to assigns them again)."""
    return frozenset(
        r[0]
        for r in db.execute(
            "SELECT a.resident_id FROM records a"
            " JOIN records r ON r.kind = 'residents' AND r.id = a.resident_id"
            " WHERE a.user_id = ? AND a.kind = 'assignments' AND a.deleted = 0"
            " AND a.active = 1 AND r.deleted = 0 AND r.district_id = a.district_id",
            [user_id],
        ).fetchall()
    )


class _Reads:
    """:class:`Reads` over the writer's connection, inside its transaction."""

    def __init__(self, store: SqliteServerStore) -> None:
        self._store = store

    def stored(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
        held = self._store._stored_with_seq(list(keys))
        return {key: s for key, (_, s) in held.items()}

    def assigned_residents(self, user_id: str) -> frozenset[str]:
        return _assigned_residents(self._store.db, user_id)

    def organised_salons(self, user_id: str) -> frozenset[str]:
        return _organised_salons(self._store.db, user_id)


def new_epoch() -> str:
    return secrets.token_hex(8)


# Connections for reads besides the writer's. Two did best for 200 devices at
# once (bench/load.py): more only share the same two cores and the GIL.
READERS = 2


class SqliteServerStore:
    """One SQLite file in WAL mode. Writes go through one connection,
    serialised by a lock; authentication and a push's checks read through
    connections of their own, so that they need not wait for a write."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        conn = sqlite3.connect(self._path, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        # 16 KiB pages for a new file (an existing one keeps its own): less to
        # write a pushed record (bench/NOTES.md).
        conn.execute("PRAGMA page_size = 16384")
        conn.execute("PRAGMA journal_mode = WAL")
        # An accepted push must survive a crash a moment later: devices drop
        # their copy of what the server accepted.
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: index pages stay hot
        self.db = Database(conn)
        # How many ``?`` one statement may have (32,766 by default).
        self._variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._lock = threading.RLock()
        migrations.apply(self.db)
        with self.db.atomic():
            _add_field_columns(self.db)
            self.db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", [new_epoch()]
            )
        self._epoch = str(
            self.db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
        )
        # A few connections for reads that must not wait for a write; opened
        # now, not in the middle of a rush of devices.
        self._readers: queue.SimpleQueue[Database] = queue.SimpleQueue()
        self._all_readers: list[Database] = []
        if self._path != ":memory:":
            for _ in range(READERS):
                reader = sqlite3.connect(self._path, check_same_thread=False)
                reader.execute("PRAGMA busy_timeout = 5000")
                reader.execute("PRAGMA query_only = ON")
                reader.execute("SELECT count(*) FROM sqlite_schema").fetchone()
                self._all_readers.append(Database(reader))
                self._readers.put(self._all_readers[-1])

    def epoch(self) -> str:
        return self._epoch

    def backup(self, out: Path) -> None:
        """SQLite's online backup, from a connection of its own (a read
        transaction: pushes go on meanwhile, and the copy is what was committed
        when it began)."""
        source = sqlite3.connect(self._path)
        target = sqlite3.connect(str(out))
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()

    @classmethod
    def restore(cls, backup: Path, into: Path) -> None:
        """Bring a backup back as the database at ``into`` (no server may have
        it open), under a new epoch."""
        source = sqlite3.connect(str(backup))
        target = sqlite3.connect(str(into))
        try:
            source.backup(target)
            with target:
                target.execute(
                    "UPDATE meta SET value = ? WHERE key = 'epoch'", [new_epoch()]
                )
        finally:
            target.close()
            source.close()

    def close(self) -> None:
        for reader in self._all_readers:
            reader.close()
        self._all_readers.clear()
        self.db.close()

    @contextmanager
    def _reading(self) -> Iterator[Database]:
        """A connection to read with, while a write may be under way. In WAL
        mode each statement sees the last commit, as the writer's would after
        waiting for the lock. An in-memory database has only the writer's."""
        if not self._all_readers:
            with self._lock:
                yield self.db
            return
        reader = self._readers.get()
        try:
            yield reader
        finally:
            self._readers.put(reader)

    # ---- accounts, invitations, devices --------------------------------------

    def _account(self, row: Mapping[str, Any], db: Database | None = None) -> Account:
        role = Role(row["role"])
        districts = frozenset(
            r["district_id"]
            for r in (db or self.db).query(
                "SELECT district_id FROM coordinator_districts WHERE user_id = ?",
                [row["id"]],
            )
        ) or frozenset({row["district_id"]})
        return Account(
            user_id=row["id"],
            name=row["name"],
            role=role,
            district_id=row["district_id"],
            group_id=row["group_id"],
            districts=districts,
        )

    def accounts(self) -> list[Account]:
        with self._lock:
            return [
                self._account(r)
                for r in self.db.query(
                    "SELECT * FROM records WHERE kind = 'users' AND deleted = 0"
                    " ORDER BY district_id, id"
                )
            ]

    def account(self, user_id: str) -> Account | None:
        with self._reading() as db:
            return self._account_in(db, user_id)

    def _account_in(self, db: Database, user_id: str) -> Account | None:
        row = next(
            db.query(
                "SELECT * FROM records WHERE kind = 'users' AND id = ? AND deleted = 0",
                [user_id],
            ),
            None,
        )
        return self._account(row, db) if row else None

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
    ) -> Account:
        record = user_record(
            user_id=user_id,
            name=name,
            role=role,
            district_id=district_id,
            group_id=group_id,
        )
        with self._lock, self.db.atomic():
            self.write_server_records([record], now=now)
            for d in districts:
                self.db.execute(
                    "INSERT OR IGNORE INTO coordinator_districts VALUES (?, ?)",
                    [user_id, d],
                )
        account = self.account(user_id)
        assert account is not None
        return account

    def create_invitation(
        self, *, user_id: str, code_hash: str, now: datetime, expires_at: datetime
    ) -> None:
        with self._lock, self.db.atomic():
            self.db.execute(
                "INSERT INTO invitations (code_hash, user_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                [code_hash, user_id, format_datetime(now), format_datetime(expires_at)],
            )

    def redeem_invitation(
        self,
        *,
        code_hash: str,
        device_id: str,
        device_name: str,
        token_hash: str,
        enrol_salt: str | None = None,
        now: datetime,
    ) -> Account:
        """A used code is refused whoever asks: a device whose answer was
        lost asks :meth:`lost_enrolment`, which changes nothing."""
        with self._lock, self.db.atomic():
            rows = list(
                self.db.query(
                    "SELECT * FROM invitations WHERE code_hash = ?", [code_hash]
                )
            )
            if not rows:
                raise InvitationProblem("unknown")
            invitation = rows[0]
            if invitation["used_at"]:
                raise InvitationProblem("used")
            if invitation["expires_at"] <= format_datetime(now):
                raise InvitationProblem("expired")
            account = self._account_in(self.db, invitation["user_id"])
            if account is None:
                raise InvitationProblem("unknown")
            taken = list(
                self.db.query("SELECT 1 FROM devices WHERE device_id = ?", [device_id])
            )
            if taken:
                raise InvitationProblem("device_taken")
            stamp = format_datetime(now)
            self.db.execute(
                "UPDATE invitations SET used_at = ?, device_id = ?, enrol_salt = ?"
                " WHERE code_hash = ?",
                [stamp, device_id, enrol_salt, code_hash],
            )
            self.db.execute(
                "INSERT INTO devices (device_id, user_id, name, token_hash,"
                " enrolled_at) VALUES (?, ?, ?, ?, ?)",
                [device_id, account.user_id, device_name, token_hash, stamp],
            )
            return account

    def lost_enrolment(
        self, *, code_hash: str, device_id: str, since: datetime
    ) -> LostEnrolment | None:
        """The enrolment made with this code by this device at or after
        ``since``, if it left a salt and its token was never used, and the
        device still stands."""
        with self._reading() as db:
            row = next(
                db.query(
                    "SELECT i.enrol_salt, i.user_id, d.token_hash FROM invitations i"
                    " JOIN devices d ON d.device_id = i.device_id"
                    " AND d.user_id = i.user_id"
                    " WHERE i.code_hash = ? AND i.device_id = ? AND i.used_at >= ?"
                    " AND i.enrol_salt IS NOT NULL AND d.revoked_at IS NULL"
                    " AND d.last_seen_at IS NULL",
                    [code_hash, device_id, format_datetime(since)],
                ),
                None,
            )
            account = self._account_in(db, row["user_id"]) if row else None
        if row is None or account is None:
            return None
        return LostEnrolment(row["enrol_salt"], row["token_hash"], account)

    def reserve_enrolment(
        self, buckets: Sequence[tuple[str, int]], *, now: datetime, window: float
    ) -> float:
        """Count one attempt in every bucket, each (name, limit), unless one
        is full: then count none and return the seconds until it empties
        (0.0 when counted). A bucket's count starts at its first attempt and
        is dropped ``window`` seconds later."""
        stamp = now.timestamp()
        names = json.dumps([name for name, _ in buckets])
        with self._lock, self.db.atomic():
            # A write first: from here the transaction holds SQLite's write
            # lock, so check and count are one step for every process on
            # this file, not only for the threads of this one.
            self.db.execute(
                "DELETE FROM enrolment_attempts WHERE window_ends <= ?", [stamp]
            )
            held = {
                row[0]: (row[1], row[2])
                for row in self.db.execute(
                    "SELECT bucket, attempts, window_ends FROM enrolment_attempts"
                    " WHERE bucket IN (SELECT value FROM json_each(?))",
                    [names],
                )
            }
            waits = [
                held[name][1] - stamp
                for name, limit in buckets
                if name in held and held[name][0] >= limit
            ]
            if waits:
                return float(max(waits))
            self.db.conn.executemany(
                "INSERT INTO enrolment_attempts VALUES (?, 1, ?)"
                " ON CONFLICT (bucket) DO UPDATE SET attempts = attempts + 1",
                [(name, stamp + window) for name, _ in buckets],
            )
            return 0.0

    def release_enrolment(self, buckets: Sequence[str]) -> None:
        """Give back an attempt counted by :meth:`reserve_enrolment`."""
        with self._lock, self.db.atomic():
            names = json.dumps(list(buckets))
            self.db.execute(
                "UPDATE enrolment_attempts SET attempts = attempts - 1"
                " WHERE bucket IN (SELECT value FROM json_each(?))",
                [names],
            )
            self.db.execute("DELETE FROM enrolment_attempts WHERE attempts <= 0")

    def device(self, token_hash: str) -> DeviceAuth | None:
        """The device with this token, read without waiting for a write: a
        push is authenticated while the one before it is written."""
        with self._reading() as db:
            row = next(
                db.query("SELECT * FROM devices WHERE token_hash = ?", [token_hash]),
                None,
            )
            if row is None:
                return None
            account = self._account_in(db, row["user_id"])
            revoked = row["revoked_at"] is not None
            if account is None:
                # The user was deleted: their devices are revoked, and must be
                # told so, to wipe the personal data they hold.
                gone = next(
                    db.query(
                        "SELECT * FROM records WHERE kind = 'users' AND id = ?",
                        [row["user_id"]],
                    ),
                    None,
                )
                if gone is None:
                    return None
                account, revoked = self._account(gone, db), True
            return DeviceAuth(
                device_id=row["device_id"],
                name=row["name"],
                account=account,
                revoked=revoked,
                seen=row["last_seen_at"] is not None,
            )

    def mark_seen(self, token_hash: str, *, now: datetime) -> None:
        """The token's first use; written once, so later requests cost no
        write."""
        with self._lock, self.db.atomic():
            self.db.execute(
                "UPDATE devices SET last_seen_at = ? WHERE token_hash = ?"
                " AND last_seen_at IS NULL",
                [format_datetime(now), token_hash],
            )

    def device_ids(self, user_id: str) -> list[str]:
        with self._lock:
            return [
                r["device_id"]
                for r in self.db.query(
                    "SELECT device_id FROM devices WHERE user_id = ?"
                    " ORDER BY enrolled_at",
                    [user_id],
                )
            ]

    def revoke_device(self, device_id: str, *, now: datetime) -> bool:
        with self._lock, self.db.atomic():
            cursor = self.db.execute(
                "UPDATE devices SET revoked_at = ? WHERE device_id = ?"
                " AND revoked_at IS NULL",
                [format_datetime(now), device_id],
            )
            return cursor.rowcount == 1

    # ---- records --------------------------------------------------------------

    def stored(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
        """The records stored under these keys, read without waiting for a
        write (those a write under way changes are checked again by
        :meth:`apply`, inside its transaction)."""
        with self._reading() as db:
            held = self._stored_with_seq(keys, db)
        return {key: s for key, (_, s) in held.items()}

    def _stored_with_seq(
        self, keys: Sequence[tuple[str, str]], db: Database | None = None
    ) -> dict[tuple[str, str], tuple[int, Stored]]:
        # One lookup per kind through the (kind, id) index: a row-value
        # "(kind, id) IN (...)" list makes SQLite scan the whole index.
        ids: dict[str, set[str]] = {}
        for kind, record_id in keys:
            ids.setdefault(kind, set()).add(record_id)
        out: dict[tuple[str, str], tuple[int, Stored]] = {}
        for kind, wanted in ids.items():
            rows = (db or self.db).execute(
                "SELECT seq, kind, id, hlc, origin, deleted, district_id, group_id,"
                " resident_id, user_id, role, salon_id FROM records WHERE kind = ?"
                " AND id IN (SELECT value FROM json_each(?))",
                [kind, json.dumps(list(wanted))],
            )
            for r in rows:
                s = Stored(r[1], r[2], r[3], r[4], bool(r[5]), *r[6:])
                out[(s.kind, s.id)] = (r[0], s)
        return out

    def assigned_residents(self, user_id: str) -> frozenset[str]:
        with self._reading() as db:
            return _assigned_residents(db, user_id)

    def organised_salons(self, user_id: str) -> frozenset[str]:
        with self._reading() as db:
            return _organised_salons(db, user_id)

    def write_as(
        self,
        device_id: str,
        judge: Judge,
        *,
        count: int,
        quota: int | None,
        now: datetime,
    ) -> Judgement:
        """A device's push, judged and written in one transaction.

        Inside it, before anything is written: the device must still stand
        (not revoked, its user not deleted; else :class:`DeviceRevoked`), and
        its ``count`` changes must fit in what it may send this hour (else
        :class:`WriteQuotaExceeded`). ``judge`` then reads what is stored, as
        of this transaction, through :class:`Reads`. Changes by coordinators
        and admins go into the audit trail."""
        with self._lock, self.db.atomic():
            account = self._standing(device_id)
            if quota is not None:
                self._count_writes(device_id, count, quota, now)
            judgement = judge(_Reads(self), account)
            refused = self._apply_in_transaction(
                judgement.accepted, admit=judgement.admit, now=now
            )
            problems = dict(judgement.problems)
            for i, problem in refused.items():
                problems[judgement.where[i]] = problem
            if account.role in (Role.COORDINATOR, Role.ADMIN):
                written = [
                    c for i, c in enumerate(judgement.accepted) if i not in refused
                ]
                self._audit_writes(account.user_id, device_id, written, now)
        return Judgement(judgement.accepted, judgement.where, problems, judge_nothing)

    def _standing(self, device_id: str) -> Account:
        row = self.db.execute(
            "SELECT user_id, revoked_at FROM devices WHERE device_id = ?",
            [device_id],
        ).fetchone()
        account = self._account_in(self.db, row[0]) if row else None
        if row is None or row[1] is not None or account is None:
            raise DeviceRevoked(device_id)
        return account

    def _count_writes(
        self, device_id: str, count: int, quota: int, now: datetime
    ) -> None:
        """Count ``count`` changes in this hour's total for the device, or
        raise :class:`WriteQuotaExceeded` (the caller's transaction rolls the
        count back). Hours before this one are dropped."""
        hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
        self.db.execute(
            "DELETE FROM device_writes WHERE device_id = ? AND hour < ?",
            [device_id, hour],
        )
        total = self.db.execute(
            "INSERT INTO device_writes VALUES (?, ?, ?)"
            " ON CONFLICT (device_id, hour) DO UPDATE"
            " SET changes = changes + excluded.changes RETURNING changes",
            [device_id, hour, count],
        ).fetchone()[0]
        if total > quota:
            moment = now.astimezone(UTC)
            left = 3600 - (moment.minute * 60 + moment.second)
            raise WriteQuotaExceeded(max(1, left))

    def _audit_writes(
        self, user_id: str, device_id: str, changes: Sequence[Change], now: datetime
    ) -> None:
        stamp = format_datetime(now)
        self.db.conn.executemany(
            "INSERT INTO audit_log (at, user_id, device_id, action, kind, record_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    stamp,
                    user_id,
                    device_id,
                    "delete" if c.record["deleted"] else "write",
                    c.kind,
                    c.id,
                )
                for c in changes
            ],
        )

    def record_admin_action(
        self, *, actor: str, action: str, subject: str, now: datetime
    ) -> None:
        """An admin's action on the server itself (a user made, a code
        issued, a device revoked), for the audit trail."""
        with self._lock, self.db.atomic():
            self.db.execute(
                "INSERT INTO audit_log (at, user_id, device_id, action, kind,"
                " record_id) VALUES (?, ?, NULL, ?, NULL, ?)",
                [format_datetime(now), actor, action, subject],
            )

    def audit(self, *, limit: int = 100) -> list[AuditEntry]:
        """The latest entries of the audit trail, newest first."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT at, user_id, device_id, action, kind, record_id"
                " FROM audit_log ORDER BY n DESC LIMIT ?",
                [limit],
            ).fetchall()
        return [AuditEntry(*r) for r in rows]

    def _reserve(self, n: int) -> int:
        """The first of ``n`` new change numbers (called inside a transaction)."""
        row = self.db.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'seq'"
            " RETURNING CAST(value AS INTEGER)",
            [n],
        ).fetchone()
        return int(row[0]) - n + 1

    def apply(
        self,
        changes: Sequence[Change],
        *,
        admit: Admit | None = None,
        now: datetime | None = None,
    ) -> dict[int, Rejection]:
        """Last writer wins by (hlc, origin); a change already held is a no-op.

        ``now`` (the server's clock; the system's if not given) dates the
        batch's seqs, for :meth:`history`.

        A change to a record already stored is first put to ``admit`` with the
        stored record, inside the transaction: the write rules that depend on
        what is stored. Returns what ``admit`` refused, by index.

        Most pushes are new records. They go in as few INSERT statements as
        SQLite's limit on ``?`` allows (a push of 2,000 visits: one), not
        with ``executemany``: SQLite then keeps the table and its indexes in
        one call without Python's GIL (``executemany`` takes it back for
        every row), and the server reads and checks the next push
        meanwhile. Only when some were already there is anything looked up.
        """
        with self._lock, self.db.atomic():
            return self._apply_in_transaction(changes, admit=admit, now=now)

    def _apply_in_transaction(
        self,
        changes: Sequence[Change],
        *,
        admit: Admit | None = None,
        now: datetime | None = None,
    ) -> dict[int, Rejection]:
        """:meth:`apply`, inside a transaction the caller holds."""
        if not changes:
            return {}
        refused: dict[int, Rejection] = {}
        conn = self.db.conn
        first = self._reserve(len(changes))
        day = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
        self.db.execute("INSERT OR IGNORE INTO seq_days VALUES (?, ?)", [day, first])
        rows = _flat_rows(changes, first)
        before = conn.total_changes
        for kind, values in rows.items():
            step = self._variables - self._variables % _SQL[kind].width
            for start in range(0, len(values), step):
                part = values[start : start + step]
                conn.execute(_insert_sql(kind, len(part) // _SQL[kind].width), part)
        if conn.total_changes - before < len(changes):
            refused = self._write_over(changes, first, admit)
        # Where each resident's records are filed, for history and pulls.
        conn.execute(
            "INSERT OR IGNORE INTO resident_districts"
            " SELECT DISTINCT resident_id, district_id FROM records"
            " WHERE seq BETWEEN ? AND ? AND resident_id IS NOT NULL",
            [first, first + len(changes) - 1],
        )
        # HLC receive: the server's own later writes stamp after these.
        kept = [c.record for i, c in enumerate(changes) if i not in refused]
        if kept:
            self.db.execute(
                "UPDATE meta SET value = max(value, ?) WHERE key = 'hlc'",
                [max(map(_HLC_OF, kept))],
            )
        return refused

    def _write_over(
        self, changes: Sequence[Change], first: int, admit: Admit | None
    ) -> dict[int, Rejection]:
        """The changes :meth:`apply` found already stored (or twice in the
        batch): admitted, then written where they win."""
        held = self._stored_with_seq([(c.kind, c.id) for c in changes])
        refused: dict[int, Rejection] = {}
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for index, change in enumerate(changes):
            seq = first + index
            seq_held, stored = held[(change.kind, change.id)]
            if seq_held == seq:
                continue  # inserted just now
            problem = admit(change, stored) if admit else None
            if problem is not None:
                refused[index] = problem
                continue
            rows.setdefault(change.kind, []).append(_values(seq, change))
        # By kind: a (kind, id) written twice in one batch keeps its order.
        for kind, kind_rows in rows.items():
            self.db.conn.executemany(_SQL[kind].upsert, kind_rows)
        return refused

    def write_server_records(
        self, changes: Sequence[dict[str, Any]], *, now: datetime
    ) -> None:
        """Writes made on the server (admin, seed): stamped with its own clock."""
        with self._lock, self.db.atomic():
            last = Hlc.parse(
                self.db.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()[
                    0
                ]
            )
            stamped, last = stamp_server_records(changes, last, now=now)
            self.db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [str(last)])
            self.apply(stamped, now=now)

    def changes_after(
        self, scope: Scope, seq: int, limit: int
    ) -> tuple[list[str], int]:
        """Up to ``limit`` bodies in scope after ``seq``, and the last seq read.

        The last seq read can be beyond the last body returned when the page
        ends on records out of scope, so the next pull does not re-read them.
        """
        params: dict[str, Any] = {"seq": seq, "limit": limit}
        if scope.everything:
            where = "1"
        elif scope.districts:
            where = "district_id IN (SELECT value FROM json_each(:districts))"
            params["districts"] = json.dumps(sorted(scope.districts))
        else:
            where = HELD
            params.update(_field_worker_params(scope))
        with self._lock:
            rows = self.db.execute(
                f"SELECT seq, {BODY} FROM records WHERE seq > :seq AND {where}"
                " ORDER BY seq LIMIT :limit",
                params,
            ).fetchall()
            # A short page means nothing else in scope up to the newest change.
            last = self.max_seq() if len(rows) < limit else rows[-1][0]
        return [r[1] for r in rows], last

    def history(
        self,
        user_id: str,
        residents: Iterable[str],
        *,
        since: datetime,
        salons: Iterable[str] = (),
    ) -> list[str]:
        """What comes with newly assigned residents (:attr:`Kind.history`):
        their record, own assignments, concern updates and recent visits;
        and with salons newly organised, all of their records.

        Recent ones are read from the districts the residents' records are
        filed under, from the first seq written since the window began: see
        :func:`_history_sql`.
        """
        if not HISTORY:
            return []
        first_day = (since - CLOCK_AHEAD_LIMIT).astimezone(UTC).date().isoformat()
        params = _field_worker_params(
            Scope(
                user_id=user_id,
                residents=frozenset(residents),
                salons=frozenset(salons),
            )
        )
        params.update(beyond=2**62, first_day=first_day, since=format_datetime(since))
        with self._lock:
            rows = self.db.execute(
                f"SELECT {BODY} FROM records WHERE seq IN ({HISTORY}) ORDER BY seq",
                params,
            ).fetchall()
        return [r[0] for r in rows]

    def without_consent(self, residents: Iterable[str]) -> frozenset[str]:
        """Which of these residents have not consented to sharing (honnin doui)."""
        with self._lock:
            return frozenset(
                r[0]
                for r in self.db.execute(
                    "SELECT id FROM records WHERE kind = 'residents'"
                    " AND id IN (SELECT value FROM json_each(?))"
                    " AND consent = 0",
                    [json.dumps(sorted(residents))],
                ).fetchall()
            )

    def visits_by(self, user_id: str, visit_ids: Iterable[str]) -> frozenset[str]:
        """Which of these visits this user made."""
        with self._reading() as db:
            return frozenset(
                r[0]
                for r in db.execute(
                    "SELECT id FROM records WHERE kind = 'visits'"
                    " AND id IN (SELECT value FROM json_each(?)) AND user_id = ?",
                    [json.dumps(sorted(set(visit_ids))), user_id],
                ).fetchall()
            )

    def bodies(self, kind: str) -> list[str]:
        """Every live record of one kind, oldest change first."""
        with self._lock:
            return [
                r[0]
                for r in self.db.execute(
                    f"SELECT {BODY} FROM records WHERE kind = ? AND deleted = 0"
                    " ORDER BY seq",
                    [kind],
                ).fetchall()
            ]

    def record(self, kind: str, record_id: str) -> str | None:
        """One record's wire JSON, a tombstone too; None if not stored."""
        with self._reading() as db:
            row = db.execute(
                f"SELECT {BODY} FROM records WHERE kind = ? AND id = ?",
                [kind, record_id],
            ).fetchone()
        return None if row is None else str(row[0])

    def max_seq(self) -> int:
        with self._lock:
            row = self.db.execute("SELECT max(seq) FROM records").fetchone()
            return int(row[0] or 0)

    def scope_snapshot(self, device_id: str, snap: int) -> frozenset[str] | None:
        with self._lock:
            row = self.db.execute(
                "SELECT members FROM device_scopes WHERE snap = ? AND device_id = ?",
                [snap, device_id],
            ).fetchone()
        return frozenset(json.loads(row[0])) if row else None

    def save_scope_snapshot(self, device_id: str, members: frozenset[str]) -> int:
        with self._lock, self.db.atomic():
            snap = self.db.execute(
                "INSERT INTO device_scopes (device_id, members) VALUES (?, ?)"
                " RETURNING snap",
                [device_id, json.dumps(sorted(members))],
            ).fetchone()[0]
            # Keep the last few: a device whose answer got lost asks again with
            # the cursor before.
            self.db.execute(
                "DELETE FROM device_scopes WHERE device_id = ? AND snap NOT IN"
                " (SELECT snap FROM device_scopes WHERE device_id = ?"
                "  ORDER BY snap DESC LIMIT 4)",
                [device_id, device_id],
            )
            return int(snap)
