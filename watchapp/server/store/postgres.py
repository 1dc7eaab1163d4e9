"""The council server's store on PostgreSQL (psycopg 3, pooled).

The same behaviour and answers as :mod:`.sqlite`, for deployments that outgrow
one file: several server processes (uvicorn workers, machines behind a load
balancer) over one database behave as one server, since everything they
share lives in it (change numbers, the enrolment limiter's counts, write
quotas, scope snapshots).

Change numbers: every transaction that writes records first locks the one
row of ``server_state`` and holds it to its commit. So seqs are handed out
in commit order, and a pull that has read up to seq N can never later miss
a change committed with a smaller one. The rules that judge a push read
what is stored after taking that lock, in the same transaction.

A broken connection (the database restarted, a backend terminated) surfaces
as :class:`StoreUnavailable`: the transaction did not commit, and the
request may be retried.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolClosed

from watchapp.domain.hlc import Hlc
from watchapp.domain.model import Role
from watchapp.domain.schema import KINDS, Kind, format_datetime
from watchapp.server.store import postgres_sql as sql
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
    StoreUnavailable,
    WriteQuotaExceeded,
    judge_nothing,
    stamp_server_records,
    user_record,
)
from watchapp.server.store.sqlite import new_epoch
from watchapp.sync.protocol import CLOCK_AHEAD_LIMIT, Change, Rejection

Conn = psycopg.Connection[Any]

# Advisory lock keys (any two fixed numbers): migrations, the enrolment limiter.
_MIGRATING = 0x77617463_68617070
_ENROLLING = 0x77617463_656E726F

# Connections per server process: a push's write, and reads beside it.
POOL_SIZE = 4

_STORED = (
    "SELECT seq, kind, id, hlc, origin, deleted, district_id, group_id,"
    " resident_id, user_id, role, salon_id FROM records"
)


# Has ``records`` changed by more rows than it had at its last ANALYZE (and by
# more than a push's batch, so a small table is not analysed at every write)?
_GROWN = (
    "SELECT s.n_mod_since_analyze > greatest(c.reltuples, 0) + 1000"
    " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.relid = 'records'::regclass"
)


def _program(name: str) -> str:
    """A PostgreSQL client program: on PATH, else Debian's newest."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name),
    )
    if not versions:
        raise FileNotFoundError(f"{name}: install PostgreSQL's client programs")
    return str(versions[-1])


def _field_worker_params(scope: Scope) -> dict[str, Any]:
    """What :func:`postgres_sql.held_sql` and ``history_sql`` are bound to."""
    return {
        "district_id": scope.district_id,
        "group_id": scope.group_id,
        "user_id": scope.user_id,
        "residents": sorted(scope.residents),
        "salons": sorted(scope.salons),
    }


def _stored_row(r: tuple[Any, ...]) -> tuple[int, Stored]:
    return int(r[0]), Stored(r[1], r[2], r[3], r[4], bool(r[5]), *r[6:])


def _column_values(kind_sql: sql.KindSql, record: dict[str, Any]) -> list[Any]:
    """A record's values in its kind's column order: flags as booleans and
    numbers as ints (whatever a seed passed), None where left out."""
    values = [record.get(key) for key in kind_sql.keys]
    for i in kind_sql.bools:
        if values[i] is not None:
            values[i] = bool(values[i])
    for i in kind_sql.ints:
        value = values[i]
        if value is not None:
            values[i] = int(value)
    return values


def _insert_new(
    conn: Conn, kind_sql: sql.KindSql, rows: Sequence[tuple[int, Change]]
) -> int:
    """Rows of one kind not stored yet, inserted with their seqs: how many
    (COPY into a staging table, then one INSERT that skips the others)."""
    with conn.cursor() as cur:
        cur.execute(kind_sql.stage.encode())
        with cur.copy(kind_sql.copy.encode()) as copy:
            for seq, change in rows:
                copy.write_row((seq, *_column_values(kind_sql, change.record)))
        inserted = cur.execute(kind_sql.insert.encode()).rowcount
        cur.execute(f"DROP TABLE {sql.STAGE}".encode())
    return inserted


def _assigned_residents(conn: Conn, user_id: str) -> frozenset[str]:
    """As in SQLite: an active assignment, filed where the resident is now."""
    rows = conn.execute(
        "SELECT a.resident_id FROM records a"
        " JOIN records r ON r.kind = 'residents' AND r.id = a.resident_id"
        " WHERE a.user_id = %s AND a.kind = 'assignments' AND NOT a.deleted"
        " AND a.active AND NOT r.deleted AND r.district_id = a.district_id",
        [user_id],
    ).fetchall()
    return frozenset(r[0] for r in rows)


def _organised_salons(conn: Conn, user_id: str) -> frozenset[str]:
    """As in SQLite: an active organiser record, filed where the salon is."""
    rows = conn.execute(
        "SELECT o.salon_id FROM records o"
        " JOIN records s ON s.kind = 'salons' AND s.id = o.salon_id"
        " WHERE o.user_id = %s AND o.kind = 'salon_organisers' AND NOT o.deleted"
        " AND o.active AND NOT s.deleted AND s.district_id = o.district_id",
        [user_id],
    ).fetchall()
    return frozenset(r[0] for r in rows)


def _stored_with_seq(
    conn: Conn, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, Stored]]:
    ids: dict[str, set[str]] = {}
    for kind, record_id in keys:
        ids.setdefault(kind, set()).add(record_id)
    out: dict[tuple[str, str], tuple[int, Stored]] = {}
    for kind, wanted in ids.items():
        rows = conn.execute(
            f"{_STORED} WHERE kind = %s AND id = ANY(%s)", [kind, list(wanted)]
        )
        for r in rows:
            seq, s = _stored_row(r)
            out[(s.kind, s.id)] = (seq, s)
    return out


class _Reads:
    """:class:`Reads` over the writer's connection, inside its transaction."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def stored(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
        return {k: s for k, (_, s) in _stored_with_seq(self._conn, keys).items()}

    def assigned_residents(self, user_id: str) -> frozenset[str]:
        return _assigned_residents(self._conn, user_id)

    def organised_salons(self, user_id: str) -> frozenset[str]:
        return _organised_salons(self._conn, user_id)


def migrate(conn: Conn) -> None:
    """Apply the numbered steps not yet applied, then give every field of the
    kinds a column (one server process at a time: an advisory lock)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATING])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, step in sql.MIGRATIONS:
            if version not in done:
                conn.execute(step.encode())
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (%s, now())", [version]
                )
        _add_field_columns(conn)


def _add_field_columns(conn: Conn) -> None:
    """A column for every field of the kinds that has none yet (inside a
    transaction holding the migration lock)."""
    have = {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_name = 'records' AND table_schema = current_schema()"
        )
    }
    for name, kind in sql.field_columns().items():
        if name not in have:
            conn.execute(f"ALTER TABLE records ADD COLUMN {name} {kind}".encode())
        elif have[name] != sql.CATALOG_TYPES[kind]:
            raise sql.SchemaMismatch(f"records.{name} is {have[name]}, not {kind}")
    if "salon_id" in sql.field_columns():  # a salon's records, newly organised
        conn.execute(
            "CREATE INDEX IF NOT EXISTS records_by_salon ON records (salon_id, seq)"
            " WHERE salon_id IS NOT NULL"
        )


class PostgresServerStore:
    """A PostgreSQL database, through a pool of connections in autocommit
    mode: a read is one statement; a write is one explicit transaction."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            # A connection broken while idle is replaced, not handed out.
            check=ConnectionPool.check_connection,
            open=False,
            name="watchapp",
        )
        self._url = url
        try:
            self._pool.open(wait=True, timeout=30)
            with self._pool.connection() as conn:
                migrate(conn)
                row = conn.execute(
                    "UPDATE server_state SET epoch = coalesce(epoch, %s)"
                    " RETURNING epoch",
                    [new_epoch()],
                ).fetchone()
        except BaseException:
            self._pool.close()
            raise
        assert row is not None
        self._epoch = str(row[0])
        self._kinds = tuple(KINDS.values())

    def _ensure_kinds(self) -> tuple[Kind, ...]:
        """The kinds as declared now. One registered since the store opened
        (a test's throwaway kind, say) gets its columns before first use."""
        kinds = tuple(KINDS.values())
        if kinds != self._kinds:
            with self._transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATING])
                _add_field_columns(conn)
            self._kinds = kinds
        return kinds

    def _body(self) -> str:
        """SQL for a row's wire JSON (before a read's transaction begins)."""
        return sql.body_sql(self._ensure_kinds())

    def epoch(self) -> str:
        return self._epoch

    def backup(self, out: Path) -> None:
        """pg_dump's archive: one snapshot of a repeatable-read transaction,
        taken while pushes go on."""
        subprocess.run(
            [_program("pg_dump"), "--format=custom", f"--file={out}", self._url],
            check=True,
            capture_output=True,
        )

    @classmethod
    def restore(cls, backup: Path, into: str) -> None:
        """Bring a backup back as the (empty or stale) database at ``into``
        (no server may have it open), under a new epoch."""
        subprocess.run(
            [_program("pg_restore"), "--clean", "--if-exists", "--no-owner"]
            + [f"--dbname={into}", str(backup)],
            check=True,
            capture_output=True,
        )
        with psycopg.connect(into, autocommit=True) as conn:
            conn.execute("UPDATE server_state SET epoch = %s", [new_epoch()])

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolClosed:
            raise  # a store used after close(): a fault of ours, not the database's
        except psycopg.OperationalError as exc:
            # The message names the failure, never the data.
            raise StoreUnavailable(type(exc).__name__) from exc

    @contextmanager
    def _transaction(self, *, snapshot: bool = False) -> Iterator[Conn]:
        """One transaction; ``snapshot``: its reads all see one moment."""
        with self._connection() as conn, conn.transaction():
            if snapshot:
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield conn

    @contextmanager
    def _writing(self) -> Iterator[Conn]:
        """A transaction that may write records: it holds the seq counter's
        lock from the start, so it commits before the next writer begins."""
        with self._transaction() as conn:
            conn.execute("SELECT seq FROM server_state FOR UPDATE")
            yield conn
        self._keep_statistics()

    def _keep_statistics(self) -> None:
        """ANALYZE ``records`` once writes have changed more rows than it held
        at its last ANALYZE. Autovacuum does it too, but up to a minute later:
        meanwhile the planner takes a table that just grew tenfold for as
        small as it was, and a pull sorted every row after its cursor to
        answer one page (bench/NOTES.md)."""
        try:
            with self._connection() as conn:
                row = conn.execute(_GROWN).fetchone()
                if row is not None and row[0]:
                    conn.execute("ANALYZE records")
        except StoreUnavailable:
            pass  # the write has committed; the statistics can wait for autovacuum

    # ---- accounts, invitations, devices --------------------------------------

    def _account(self, conn: Conn, row: dict[str, Any]) -> Account:
        districts = frozenset(
            r[0]
            for r in conn.execute(
                "SELECT district_id FROM coordinator_districts WHERE user_id = %s",
                [row["id"]],
            )
        ) or frozenset({row["district_id"]})
        return Account(
            user_id=row["id"],
            name=row["name"],
            role=Role(row["role"]),
            district_id=row["district_id"],
            group_id=row["group_id"],
            districts=districts,
        )

    def _user_row(
        self, conn: Conn, user_id: str, *, live: bool = True
    ) -> dict[str, Any] | None:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(
                "SELECT id, name, role, district_id, group_id FROM records"
                " WHERE kind = 'users' AND id = %s"
                + (" AND NOT deleted" if live else ""),
                [user_id],
            ).fetchone()

    def _account_in(self, conn: Conn, user_id: str) -> Account | None:
        row = self._user_row(conn, user_id)
        return self._account(conn, row) if row else None

    def accounts(self) -> list[Account]:
        with (
            self._transaction(snapshot=True) as conn,
            conn.cursor(row_factory=dict_row) as cur,
        ):
            rows = cur.execute(
                "SELECT id, name, role, district_id, group_id FROM records"
                " WHERE kind = 'users' AND NOT deleted ORDER BY district_id, id"
            ).fetchall()
            return [self._account(conn, r) for r in rows]

    def account(self, user_id: str) -> Account | None:
        with self._transaction(snapshot=True) as conn:
            return self._account_in(conn, user_id)

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
        with self._writing() as conn:
            self._write_server_records(conn, [record], now)
            for d in districts:
                conn.execute(
                    "INSERT INTO coordinator_districts VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [user_id, d],
                )
        account = self.account(user_id)
        assert account is not None
        return account

    def create_invitation(
        self, *, user_id: str, code_hash: str, now: datetime, expires_at: datetime
    ) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO invitations (code_hash, user_id, created_at, expires_at)"
                " VALUES (%s, %s, %s, %s)",
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
        """As in SQLite. The invitation's row is locked: two devices with one
        code, on two server processes, cannot both redeem it."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT user_id, used_at, expires_at FROM invitations"
                " WHERE code_hash = %s FOR UPDATE",
                [code_hash],
            ).fetchone()
            if row is None:
                raise InvitationProblem("unknown")
            user_id, used_at, expires_at = row
            if used_at:
                raise InvitationProblem("used")
            if expires_at <= format_datetime(now):
                raise InvitationProblem("expired")
            account = self._account_in(conn, user_id)
            if account is None:
                raise InvitationProblem("unknown")
            stamp = format_datetime(now)
            added = conn.execute(
                "INSERT INTO devices (device_id, user_id, name, token_hash,"
                " enrolled_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (device_id) DO NOTHING",
                [device_id, account.user_id, device_name, token_hash, stamp],
            )
            if added.rowcount != 1:
                raise InvitationProblem("device_taken")
            conn.execute(
                "UPDATE invitations SET used_at = %s, device_id = %s,"
                " enrol_salt = %s WHERE code_hash = %s",
                [stamp, device_id, enrol_salt, code_hash],
            )
            return account

    def lost_enrolment(
        self, *, code_hash: str, device_id: str, since: datetime
    ) -> LostEnrolment | None:
        with self._transaction(snapshot=True) as conn:
            row = conn.execute(
                "SELECT i.enrol_salt, i.user_id, d.token_hash FROM invitations i"
                " JOIN devices d ON d.device_id = i.device_id"
                " AND d.user_id = i.user_id"
                " WHERE i.code_hash = %s AND i.device_id = %s AND i.used_at >= %s"
                " AND i.enrol_salt IS NOT NULL AND d.revoked_at IS NULL"
                " AND d.last_seen_at IS NULL",
                [code_hash, device_id, format_datetime(since)],
            ).fetchone()
            account = self._account_in(conn, row[1]) if row else None
        if row is None or account is None:
            return None
        return LostEnrolment(row[0], row[2], account)

    def reserve_enrolment(
        self, buckets: Sequence[tuple[str, int]], *, now: datetime, window: float
    ) -> float:
        """As in SQLite; check and count are one step for every server
        process on this database (an advisory lock)."""
        stamp = now.timestamp()
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_ENROLLING])
            conn.execute(
                "DELETE FROM enrolment_attempts WHERE window_ends <= %s", [stamp]
            )
            held = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    "SELECT bucket, attempts, window_ends FROM enrolment_attempts"
                    " WHERE bucket = ANY(%s)",
                    [[name for name, _ in buckets]],
                )
            }
            waits = [
                held[name][1] - stamp
                for name, limit in buckets
                if name in held and held[name][0] >= limit
            ]
            if waits:
                return float(max(waits))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO enrolment_attempts VALUES (%s, 1, %s)"
                    " ON CONFLICT (bucket) DO UPDATE"
                    " SET attempts = enrolment_attempts.attempts + 1",
                    [(name, stamp + window) for name, _ in buckets],
                )
            return 0.0

    def release_enrolment(self, buckets: Sequence[str]) -> None:
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_ENROLLING])
            conn.execute(
                "UPDATE enrolment_attempts SET attempts = attempts - 1"
                " WHERE bucket = ANY(%s)",
                [list(buckets)],
            )
            conn.execute("DELETE FROM enrolment_attempts WHERE attempts <= 0")

    def device(self, token_hash: str) -> DeviceAuth | None:
        with self._transaction(snapshot=True) as conn:
            row = conn.execute(
                "SELECT device_id, user_id, name, revoked_at, last_seen_at"
                " FROM devices WHERE token_hash = %s",
                [token_hash],
            ).fetchone()
            if row is None:
                return None
            device_id, user_id, name, revoked_at, last_seen_at = row
            account = self._account_in(conn, user_id)
            revoked = revoked_at is not None
            if account is None:
                # The user was deleted: their devices are revoked, and must be
                # told so, to wipe the personal data they hold.
                gone = self._user_row(conn, user_id, live=False)
                if gone is None:
                    return None
                account, revoked = self._account(conn, gone), True
            return DeviceAuth(
                device_id=device_id,
                name=name,
                account=account,
                revoked=revoked,
                seen=last_seen_at is not None,
            )

    def mark_seen(self, token_hash: str, *, now: datetime) -> None:
        with self._connection() as conn:
            conn.execute(
                "UPDATE devices SET last_seen_at = %s WHERE token_hash = %s"
                " AND last_seen_at IS NULL",
                [format_datetime(now), token_hash],
            )

    def device_ids(self, user_id: str) -> list[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT device_id FROM devices WHERE user_id = %s"
                " ORDER BY enrolled_at, n",
                [user_id],
            ).fetchall()
        return [r[0] for r in rows]

    def revoke_device(self, device_id: str, *, now: datetime) -> bool:
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE devices SET revoked_at = %s WHERE device_id = %s"
                " AND revoked_at IS NULL",
                [format_datetime(now), device_id],
            )
            return cursor.rowcount == 1

    # ---- records --------------------------------------------------------------

    def stored(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
        with self._transaction(snapshot=True) as conn:
            held = _stored_with_seq(conn, keys)
        return {key: s for key, (_, s) in held.items()}

    def assigned_residents(self, user_id: str) -> frozenset[str]:
        with self._connection() as conn:
            return _assigned_residents(conn, user_id)

    def organised_salons(self, user_id: str) -> frozenset[str]:
        with self._connection() as conn:
            return _organised_salons(conn, user_id)

    def write_as(
        self,
        device_id: str,
        judge: Judge,
        *,
        count: int,
        quota: int | None,
        now: datetime,
    ) -> Judgement:
        """As in SQLite: standing, quota, judgement and write in one
        transaction, which holds the seq counter's lock from its start."""
        self._ensure_kinds()
        with self._writing() as conn:
            account = self._standing(conn, device_id)
            if quota is not None:
                self._count_writes(conn, device_id, count, quota, now)
            judgement = judge(_Reads(conn), account)
            refused = self._apply_in(
                conn, judgement.accepted, admit=judgement.admit, now=now
            )
            problems = dict(judgement.problems)
            for i, problem in refused.items():
                problems[judgement.where[i]] = problem
            if account.role in (Role.COORDINATOR, Role.ADMIN):
                written = [
                    c for i, c in enumerate(judgement.accepted) if i not in refused
                ]
                self._audit_writes(conn, account.user_id, device_id, written, now)
        return Judgement(judgement.accepted, judgement.where, problems, judge_nothing)

    def _standing(self, conn: Conn, device_id: str) -> Account:
        row = conn.execute(
            "SELECT user_id, revoked_at FROM devices WHERE device_id = %s",
            [device_id],
        ).fetchone()
        account = self._account_in(conn, row[0]) if row else None
        if row is None or row[1] is not None or account is None:
            raise DeviceRevoked(device_id)
        return account

    def _count_writes(
        self, conn: Conn, device_id: str, count: int, quota: int, now: datetime
    ) -> None:
        hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
        conn.execute(
            "DELETE FROM device_writes WHERE device_id = %s AND hour < %s",
            [device_id, hour],
        )
        row = conn.execute(
            "INSERT INTO device_writes VALUES (%s, %s, %s)"
            " ON CONFLICT (device_id, hour) DO UPDATE"
            " SET changes = device_writes.changes + excluded.changes"
            " RETURNING changes",
            [device_id, hour, count],
        ).fetchone()
        assert row is not None
        if row[0] > quota:
            moment = now.astimezone(UTC)
            left = 3600 - (moment.minute * 60 + moment.second)
            raise WriteQuotaExceeded(max(1, left))

    def _audit_writes(
        self,
        conn: Conn,
        user_id: str,
        device_id: str,
        changes: Sequence[Change],
        now: datetime,
    ) -> None:
        stamp = format_datetime(now)
        # COPY: a coordinator's push audits every record it writes, and rows
        # sent one by one cost more than the write itself (bench/NOTES.md).
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY audit_log (at, user_id, device_id, action, kind, record_id)"
                " FROM STDIN"
            ) as copy,
        ):
            for c in changes:
                action = "delete" if c.record["deleted"] else "write"
                copy.write_row((stamp, user_id, device_id, action, c.kind, c.id))

    def record_admin_action(
        self, *, actor: str, action: str, subject: str, now: datetime
    ) -> None:
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO audit_log (at, user_id, device_id, action, kind,"
                " record_id) VALUES (%s, %s, NULL, %s, NULL, %s)",
                [format_datetime(now), actor, action, subject],
            )

    def audit(self, *, limit: int = 100) -> list[AuditEntry]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT at, user_id, device_id, action, kind, record_id"
                " FROM audit_log ORDER BY n DESC LIMIT %s",
                [limit],
            ).fetchall()
        return [AuditEntry(*r) for r in rows]

    def apply(
        self,
        changes: Sequence[Change],
        *,
        admit: Admit | None = None,
        now: datetime | None = None,
    ) -> dict[int, Rejection]:
        """As in SQLite: last writer wins by (hlc, origin); a change already
        held is a no-op; ``admit`` judges a change to a stored record."""
        self._ensure_kinds()
        with self._writing() as conn:
            return self._apply_in(conn, changes, admit=admit, now=now)

    def _apply_in(
        self,
        conn: Conn,
        changes: Sequence[Change],
        *,
        admit: Admit | None = None,
        now: datetime | None = None,
    ) -> dict[int, Rejection]:
        """:meth:`apply`, inside a :meth:`_writing` transaction."""
        if not changes:
            return {}
        row = conn.execute(
            "UPDATE server_state SET seq = seq + %s RETURNING seq", [len(changes)]
        ).fetchone()
        assert row is not None
        first = int(row[0]) - len(changes) + 1
        day = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
        conn.execute(
            "INSERT INTO seq_days VALUES (%s, %s) ON CONFLICT DO NOTHING", [day, first]
        )
        by_kind: dict[str, list[tuple[int, Change]]] = {}
        for seq, change in enumerate(changes, first):
            by_kind.setdefault(change.kind, []).append((seq, change))
        inserted = sum(
            _insert_new(conn, sql.kind_sql(KINDS[kind]), rows)
            for kind, rows in by_kind.items()
        )
        refused: dict[int, Rejection] = {}
        if inserted < len(changes):
            refused = self._write_over(conn, changes, first, admit)
        last = first + len(changes) - 1
        conn.execute(
            "INSERT INTO resident_districts"
            " SELECT DISTINCT resident_id, district_id FROM records"
            " WHERE seq BETWEEN %s AND %s AND resident_id IS NOT NULL"
            " ON CONFLICT DO NOTHING",
            [first, last],
        )
        # HLC receive: the server's own later writes stamp after these.
        kept = [c.record["hlc"] for i, c in enumerate(changes) if i not in refused]
        if kept:
            conn.execute("UPDATE server_state SET hlc = greatest(hlc, %s)", [max(kept)])
        return refused

    def _write_over(
        self, conn: Conn, changes: Sequence[Change], first: int, admit: Admit | None
    ) -> dict[int, Rejection]:
        """The changes found already stored (or twice in the batch): admitted,
        then written where they win, in the batch's order."""
        held = _stored_with_seq(conn, [(c.kind, c.id) for c in changes])
        refused: dict[int, Rejection] = {}
        with conn.cursor() as cur:
            for index, change in enumerate(changes):
                seq = first + index
                seq_held, stored = held[(change.kind, change.id)]
                if seq_held == seq:
                    continue  # inserted just now
                problem = admit(change, stored) if admit else None
                if problem is not None:
                    refused[index] = problem
                    continue
                kind_sql = sql.kind_sql(KINDS[change.kind])
                cur.execute(
                    kind_sql.upsert, [seq, *_column_values(kind_sql, change.record)]
                )
        return refused

    def write_server_records(
        self, changes: Sequence[dict[str, Any]], *, now: datetime
    ) -> None:
        """Writes made on the server (admin, seed): stamped with its own clock."""
        self._ensure_kinds()
        with self._writing() as conn:
            self._write_server_records(conn, changes, now)

    def _write_server_records(
        self, conn: Conn, changes: Sequence[dict[str, Any]], now: datetime
    ) -> None:
        row = conn.execute("SELECT hlc FROM server_state").fetchone()
        assert row is not None
        last = Hlc.parse(row[0])
        stamped, last = stamp_server_records(changes, last, now=now)
        conn.execute("UPDATE server_state SET hlc = %s", [str(last)])
        self._apply_in(conn, stamped, now=now)

    def changes_after(
        self, scope: Scope, seq: int, limit: int
    ) -> tuple[list[str], int]:
        """As in SQLite: up to ``limit`` bodies in scope after ``seq``, and the
        last seq read. Both read one snapshot, so a change that commits
        meanwhile is neither returned nor counted as read."""
        params: dict[str, Any] = {"seq": seq, "limit": limit}
        if scope.everything:
            where = "true"
        elif scope.districts:
            where = "district_id = ANY(%(districts)s)"
            params["districts"] = sorted(scope.districts)
        else:
            where = sql.held_sql(self._ensure_kinds())
            params.update(_field_worker_params(scope))
        body = self._body()
        with self._transaction(snapshot=True) as conn:
            rows = conn.execute(
                f"SELECT seq, {body} FROM records WHERE seq > %(seq)s AND {where}"
                " ORDER BY seq LIMIT %(limit)s",
                params,
            ).fetchall()
            # A short page means nothing else in scope up to the newest change.
            last = self._max_seq(conn) if len(rows) < limit else int(rows[-1][0])
        return [r[1] for r in rows], last

    def history(
        self,
        user_id: str,
        residents: Iterable[str],
        *,
        since: datetime,
        salons: Iterable[str] = (),
    ) -> list[str]:
        """As in SQLite: what comes with newly assigned residents
        (:attr:`Kind.history`), recent ones found through ``seq_days``."""
        wanted = sql.history_sql(self._ensure_kinds())
        if not wanted:
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
        body = self._body()
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {body} FROM records WHERE seq IN ({wanted}) ORDER BY seq",
                params,
            ).fetchall()
        return [r[0] for r in rows]

    def without_consent(self, residents: Iterable[str]) -> frozenset[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id FROM records WHERE kind = 'residents'"
                " AND id = ANY(%s) AND consent = false",
                [sorted(residents)],
            ).fetchall()
        return frozenset(r[0] for r in rows)

    def visits_by(self, user_id: str, visit_ids: Iterable[str]) -> frozenset[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT id FROM records WHERE kind = 'visits'"
                " AND id = ANY(%s) AND user_id = %s",
                [sorted(set(visit_ids)), user_id],
            ).fetchall()
        return frozenset(r[0] for r in rows)

    def bodies(self, kind: str) -> list[str]:
        body = self._body()
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {body} FROM records WHERE kind = %s AND NOT deleted"
                " ORDER BY seq",
                [kind],
            ).fetchall()
        return [r[0] for r in rows]

    def record(self, kind: str, record_id: str) -> str | None:
        """One record's wire JSON, a tombstone too; None if not stored."""
        body = self._body()
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {body} FROM records WHERE kind = %s AND id = %s",
                [kind, record_id],
            ).fetchone()
        return None if row is None else str(row[0])

    def max_seq(self) -> int:
        with self._connection() as conn:
            return self._max_seq(conn)

    @staticmethod
    def _max_seq(conn: Conn) -> int:
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()
        return int(row[0]) if row else 0

    def scope_snapshot(self, device_id: str, snap: int) -> frozenset[str] | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT members FROM device_scopes WHERE snap = %s AND device_id = %s",
                [snap, device_id],
            ).fetchone()
        return frozenset(json.loads(row[0])) if row else None

    def save_scope_snapshot(self, device_id: str, members: frozenset[str]) -> int:
        with self._transaction() as conn:
            row = conn.execute(
                "INSERT INTO device_scopes (device_id, members) VALUES (%s, %s)"
                " RETURNING snap",
                [device_id, json.dumps(sorted(members))],
            ).fetchone()
            assert row is not None
            # Keep the last few: a device whose answer got lost asks again with
            # the cursor before.
            conn.execute(
                "DELETE FROM device_scopes WHERE device_id = %s AND snap NOT IN"
                " (SELECT snap FROM device_scopes WHERE device_id = %s"
                "  ORDER BY snap DESC LIMIT 4)",
                [device_id, device_id],
            )
            return int(row[0])
