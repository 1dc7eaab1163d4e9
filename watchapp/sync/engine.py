"""One sync round: push the outbox in batches, then pull pages until done.

Each pushed batch is settled, and each pulled page applied with its cursor, in
its own SQLite transaction: a round cut off anywhere resumes where it stopped,
and pushing or pulling the same thing twice changes nothing.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlite_utils import Database

from watchapp import store
from watchapp.domain.ids import uuid7
from watchapp.domain.kinds import per_kind
from watchapp.sync.client import (
    CouncilClient,
    PushAnswer,
    PushBody,
    RetryPolicy,
    push_body,
)
from watchapp.sync.errors import DeviceRevoked, RequestRejected
from watchapp.sync.protocol import columns

PUSH_BATCH = 500
# Pushes out at once: while the server waits for its disk to commit one batch,
# it reads the next.
PUSH_WINDOW = 2
# Batches of these kinds only may be out together. The server may write two
# batches out at once in either order, so a batch with records that others
# refer to (a resident, then an assignment to them) goes alone: sent when no
# other is out, and nothing sent until it is answered.
PIPELINED_KINDS = frozenset({"visits"})
PULL_PAGE = 1000
# The pull's answer when the council database went back in time.
SERVER_RESTORED = "server_restored"
MAX_ROUNDS = 10_000  # a bound, far above any real backlog
# Seconds a request may take to leave before the device gets on with its own
# work, when the transport does not say it has left.
SEND_WINDOW = 0.05
_COLUMNS = per_kind(lambda kind: columns(kind.table))


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
        if kind not in _COLUMNS:
            continue  # from a newer server: not for this app version
        # JSON booleans go into SQLite as 0/1 like to_row's ints: bool is an int.
        rows.setdefault(kind, []).append({k: change.get(k) for k in _COLUMNS[kind]})
    return rows


def _prepare(
    db: Database, batch: int, after: str
) -> tuple[list[store.Outgoing], PushBody | None]:
    """The next batch after stamp ``after``, and its request body."""
    outgoing = store.outbox_batch(db, batch, after=after)
    if not outgoing:
        return outgoing, None
    return outgoing, push_body([o.change for o in outgoing])


async def _under_way(request: asyncio.Future[Any], left: asyncio.Event) -> None:
    """Wait until a request is written out (or answered) before this thread
    gets busy with the database, so that the server works on it meanwhile.
    Only speed depends on it: all database work stays on this thread, between
    awaits. Without word from the transport, wait at most SEND_WINDOW."""
    leaving = asyncio.ensure_future(left.wait())
    try:
        await asyncio.wait(
            {request, leaving},
            timeout=SEND_WINDOW,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        leaving.cancel()


def _drop(request: asyncio.Future[Any]) -> None:
    """Stop a request if still running, and mark its outcome seen: an error
    raised meanwhile supersedes it."""
    request.cancel()
    if request.done() and not request.cancelled():
        request.exception()


async def push(
    db: Database, client: CouncilClient, policy: RetryPolicy, *, batch: int
) -> tuple[int, int]:
    """Batches are read in stamp order and sent PUSH_WINDOW at a time (those
    of :data:`PIPELINED_KINDS`; others one at a time); each is settled when
    answered, and the next one read and sent while the server works on those
    still out. Order between batches out together does not matter: the last
    writer wins by stamp wherever a record lands, and a record written again
    meanwhile stays queued with its new stamp (see ``store.settle_push``)."""
    pushed = rejected = 0
    out: deque[tuple[list[store.Outgoing], asyncio.Future[PushAnswer]]] = deque()
    # The next batch is read before an answer is waited for, and sent before
    # the answered one is settled: the server need not wait for this thread.
    after = ""  # the stamp of the last write sent
    upcoming, body = _prepare(db, batch, after)
    answered: tuple[list[store.Outgoing], PushAnswer] | None = None

    def settle_answered() -> None:
        nonlocal answered, pushed, rejected
        if answered is not None:
            settling, answered = answered, None
            accepted, refused = _settle(db, *settling)
            pushed, rejected = pushed + accepted, rejected + refused

    try:
        for _ in range(MAX_ROUNDS):
            if body is None:  # what was written meanwhile goes in this round
                upcoming, body = _prepare(db, batch, after)
            while body is not None and _may_send(upcoming, out):
                out.append((upcoming, await _send(client, policy, body)))
                after = upcoming[-1].hlc
                upcoming, body = _prepare(db, batch, after)
            settle_answered()
            if not out:
                break
            outgoing, sending = out[0]
            answered = (outgoing, await sending)
            out.popleft()
    finally:
        settle_answered()  # MAX_ROUNDS ran out, or stopped while sending the next
        for _, sending in out:  # still out only when something went wrong
            _drop(sending)
    return pushed, rejected


def _may_send(
    upcoming: list[store.Outgoing],
    out: deque[tuple[list[store.Outgoing], asyncio.Future[PushAnswer]]],
) -> bool:
    """Whether the next batch may go now, beside the batches still out."""
    if not out:
        return True
    return len(out) < PUSH_WINDOW and all(
        _pipelined(batch) for batch in (upcoming, *(sent for sent, _ in out))
    )


def _pipelined(batch: list[store.Outgoing]) -> bool:
    return all(o.kind in PIPELINED_KINDS for o in batch)


def _settle(
    db: Database, outgoing: list[store.Outgoing], answer: PushAnswer
) -> tuple[int, int]:
    """Mark a batch as the server answered it: how many were accepted and
    how many refused (kept, with their reasons)."""
    refused = {
        int(r["index"]): (str(r.get("field") or ""), str(r["reason"]))
        for r in answer.rejected
    }
    store.settle_push(db, outgoing, refused)
    return len(outgoing) - len(refused), len(refused)


async def _send(
    client: CouncilClient, policy: RetryPolicy, body: PushBody
) -> asyncio.Future[PushAnswer]:
    """A push on its way (given its moment to leave)."""
    left = asyncio.Event()
    request = asyncio.ensure_future(
        policy.run(partial(client.push, body, sent=left.set))
    )
    try:
        await _under_way(request, left)
    except BaseException:
        _drop(request)
        raise
    return request


async def pull(
    db: Database,
    client: CouncilClient,
    policy: RetryPolicy,
    *,
    page: int,
    now: Callable[[], datetime],
) -> tuple[int, int, int]:
    """Pages are applied in order, each with its cursor; the next page is asked
    for (with the cursor this one brought) before this one is written."""
    pulled = pages = purged = 0
    left = asyncio.Event()
    fetching = asyncio.ensure_future(
        policy.run(partial(client.pull, store.device(db).cursor, page, sent=left.set))
    )
    try:
        for _ in range(MAX_ROUNDS):
            answer = await fetching
            if answer.more:
                left = asyncio.Event()
                fetching = asyncio.ensure_future(
                    policy.run(partial(client.pull, answer.cursor, page, sent=left.set))
                )
                await _under_way(fetching, left)
            pulled += store.apply_page(
                db,
                _rows(answer.changes),
                cursor=answer.cursor,
                purge_residents=answer.purge_residents,
                purge_districts=answer.purge_districts,
                purge_salons=answer.purge_salons,
                now_ms=int(now().timestamp() * 1000),
            )
            pages += 1
            purged += (
                len(answer.purge_residents)
                + len(answer.purge_districts)
                + len(answer.purge_salons)
            )
            if not answer.more:
                break
    finally:
        _drop(fetching)  # still running only when something went wrong
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
        try:
            pulled, pages, purged = await pull(db, client, policy, page=page, now=now)
        except RequestRejected as exc:
            if exc.code != SERVER_RESTORED:
                raise
            # The council was restored from a backup: what it lost of ours
            # goes again, and everything is pulled afresh.
            store.requeue_own(db)
            more, refused = await push(db, client, policy, batch=batch)
            pushed, rejected = pushed + more, rejected + refused
            pulled, pages, purged = await pull(db, client, policy, page=page, now=now)
    except DeviceRevoked:
        new_id = uuid7(int(now().timestamp() * 1000), os.urandom(10))
        store.wipe(db, notice="revoked", new_device_id=new_id)
        raise
    store.set_last_sync(db, now())
    return SyncReport(pushed, rejected, pulled, pages, purged)
