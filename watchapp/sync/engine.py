"""One sync round: push the outbox in batches, then pull pages until done.

Each pushed batch is settled, and each pulled page applied with its cursor, in
its own SQLite transaction: a round cut off anywhere resumes where it stopped,
and pushing or pulling the same thing twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlite_utils import Database

from watchapp import store
from watchapp.domain.schema import KINDS
from watchapp.sync.client import CouncilClient, RetryPolicy
from watchapp.sync.errors import DeviceRevoked
from watchapp.sync.protocol import Change, columns, to_row, to_wire

PUSH_BATCH = 500
PULL_PAGE = 1000
MAX_ROUNDS = 10_000  # a bound, far above any real backlog


@dataclass(frozen=True)
class SyncReport:
    pushed: int = 0
    rejected: int = 0
    pulled: int = 0
    pages: int = 0
    purged: int = 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _rows(changes: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Pulled changes as store rows, by kind; unknown kinds and fields skipped."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        kind = change.get("kind")
        if kind not in KINDS:
            continue  # from a newer server: not for this app version
        wanted = columns(kind)
        record = {k: change.get(k) for k in wanted}
        rows.setdefault(kind, []).append(to_row(Change(kind, record)))
    return rows


async def push(
    db: Database, client: CouncilClient, policy: RetryPolicy, *, batch: int
) -> tuple[int, int]:
    pushed = rejected = 0
    for _ in range(MAX_ROUNDS):
        outgoing = store.outbox_batch(db, batch)
        if not outgoing:
            break
        wire = [to_wire(o.kind, o.row) for o in outgoing]
        answer = await policy.run(partial(client.push, wire))
        refused = {
            int(r["index"]): (str(r.get("field") or ""), str(r["reason"]))
            for r in answer.rejected
        }
        store.settle_push(db, outgoing, refused)
        pushed += len(outgoing) - len(refused)
        rejected += len(refused)
    return pushed, rejected


async def pull(
    db: Database,
    client: CouncilClient,
    policy: RetryPolicy,
    *,
    page: int,
    now: Callable[[], datetime],
) -> tuple[int, int, int]:
    pulled = pages = purged = 0
    for _ in range(MAX_ROUNDS):
        cursor = store.device(db).cursor
        answer = await policy.run(partial(client.pull, cursor, page))
        pulled += store.apply_page(
            db,
            _rows(answer.changes),
            cursor=answer.cursor,
            purge_residents=answer.purge_residents,
            purge_districts=answer.purge_districts,
            now_ms=int(now().timestamp() * 1000),
        )
        pages += 1
        purged += len(answer.purge_residents) + len(answer.purge_districts)
        if not answer.more:
            break
    return pulled, pages, purged


async def sync_once(
    db: Database,
    client: CouncilClient,
    *,
    policy: RetryPolicy | None = None,
    batch: int = PUSH_BATCH,
    page: int = PULL_PAGE,
    now: Callable[[], datetime] = _utc_now,
) -> SyncReport:
    """Push, then pull. Raises SyncError subclasses; a revoked device is wiped."""
    policy = policy or RetryPolicy()
    try:
        pushed, rejected = await push(db, client, policy, batch=batch)
        pulled, pages, purged = await pull(db, client, policy, page=page, now=now)
    except DeviceRevoked:
        store.wipe(db, notice="revoked")
        raise
    store.set_last_sync(db, now())
    return SyncReport(pushed, rejected, pulled, pages, purged)
