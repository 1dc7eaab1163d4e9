"""Push and pull: the sync endpoints (wire format in watchapp/sync/protocol.py).

A pull cursor is ``v1.<seq>.<snap>``: the last change number the device has
seen and the server's snapshot of which residents (or districts) the device
holds. Comparing that snapshot with the current scope tells what the device
gained (sent with recent history, even if older than the cursor) and lost
(listed under "purge"). A device whose answer was lost asks again with the
same cursor and gets the same answer.
"""

from __future__ import annotations

import asyncio
import json
import operator
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from watchapp.domain.model import Role
from watchapp.domain.schema import KINDS
from watchapp.server import rules
from watchapp.server.auth import digest
from watchapp.server.body import only_keys, read_json
from watchapp.server.context import Context
from watchapp.server.errors import ApiError
from watchapp.server.store import Admit, DeviceAuth, Stored
from watchapp.sync.protocol import (
    API,
    DEFAULT_PULL_LIMIT,
    MAX_CHANGES_PER_PUSH,
    MAX_PULL_LIMIT,
    Change,
    Rejection,
    check_changes,
)

PUSH_SCHEMA = {
    "type": "object",
    "required": ["changes"],
    "additionalProperties": False,
    "properties": {
        "changes": {
            "type": "array",
            "maxItems": MAX_CHANGES_PER_PUSH,
            "items": {
                "type": "object",
                "required": ["kind", "id", "hlc", "origin", "deleted", "district_id"],
                "properties": {
                    "kind": {
                        "type": "string",
                        "enum": [
                            "districts",
                            "groups",
                            "residents",
                            "users",
                            "assignments",
                            "visits",
                            "concern_updates",
                        ],
                    },
                    "id": {"type": "string"},
                    "hlc": {"type": "string", "pattern": "^[0-9]{13}-[0-9]{5}$"},
                    "origin": {"type": "string"},
                    "deleted": {"type": "boolean"},
                    "district_id": {"type": "string"},
                },
            },
        }
    },
}
_ALL = "*"
# ASCII digits only (str.isdigit takes "²"), and below 2**63 for SQLite.
_CURSOR = re.compile(r"v1\.([0-9]{1,18})\.([0-9]{1,18})")


@dataclass(frozen=True)
class Cursor:
    seq: int
    snap: int

    def __str__(self) -> str:
        return f"v1.{self.seq}.{self.snap}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        if not text:
            return cls(0, 0)
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise ApiError(400, "bad_cursor", "malformed cursor", field="cursor")
        return cls(int(match[1]), int(match[2]))


class _Turn:
    """One push's place after the push before it from the same device."""

    def __init__(self, before: asyncio.Future[None] | None) -> None:
        self.before = before
        self.gave_up = False  # waited too long for the push before

    @property
    def now(self) -> bool:
        """Whether it is this push's turn already."""
        return self.before is None or self.before.done()

    async def wait(self, limit: float) -> None:
        """Until the push before has written, or ``limit`` seconds: a push
        whose upload stalled on a dead connection must not hold the device
        up for as long as the server takes to notice."""
        if self.before is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.before), timeout=limit)
        except TimeoutError:
            self.gave_up = True


class _Turns:
    """Pushes made with one token are written in the order they arrived.

    A device keeps two batches out at once, and a later one may refer to a
    record in the one before (a resident, then a visit to them). Each push
    reads, checks and judges its body at once, but writes only after the
    push before it from the same device has written (or has been waited for
    long enough). A push that ends early, refused or cut off, hands its turn
    on only when the one before it is done, so that nothing behind it
    overtakes that one. Other devices never wait."""

    def __init__(self) -> None:
        self._last: dict[str, asyncio.Future[None]] = {}

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[_Turn]:
        """Taken when a push arrives, before anything is awaited."""
        before = self._last.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last[key] = mine

        def release(_: object = None) -> None:
            if not mine.done():
                mine.set_result(None)
            if self._last.get(key) is mine:
                del self._last[key]

        turn = _Turn(before)
        try:
            yield turn
        finally:
            if before is None or before.done() or turn.gave_up:
                release()
            else:
                before.add_done_callback(release)


# What the rules ask of a new record, by kind (all required fields): two
# records alike in these get the same verdict.
_VERDICT_FIELDS = {
    kind: operator.itemgetter(
        *[
            f.name
            for f in spec.wire_fields
            if f.name
            in ("origin", "district_id", "group_id", "user_id", "resident_id", "role")
            or (kind == "users" and f.name == "id")
        ]
    )
    for kind, spec in KINDS.items()
}


@dataclass
class _Judged:
    """A batch after the rules, as if each record were new."""

    accepted: list[Change]
    where: list[int]  # each accepted change's index in the batch
    problems: dict[int, Rejection]  # by index in the batch
    by_rules: bool  # whether the rules (not the checks) refused any
    admit: Admit  # the rules, with what is stored: for the store's transaction


def _judge(
    ctx: Context, device: DeviceAuth, checked: list[Change | Rejection]
) -> _Judged:
    """The rules for each change that passed :func:`check_changes`, as if its
    record were new, with the residents, assignments and roles stored now."""
    account = device.account
    ok = [c for c in checked if isinstance(c, Change)]
    residents = {
        rid: s
        for (_, rid), s in ctx.store.stored(
            [
                ("residents", c.record["resident_id"])
                for c in ok
                if "resident_id" in c.record
            ]
            + [("residents", c.id) for c in ok if c.kind == "residents"]
        ).items()
    }
    mine = (
        ctx.store.assigned_residents(account.user_id)
        if rules.is_field_worker(account)
        else frozenset()
    )
    roles = {
        c.id: a.role
        for c in ok
        if c.kind == "users" and (a := ctx.store.account(c.id)) is not None
    }

    def check(change: Change, stored: Stored | None) -> Rejection | None:
        resident_id = change.record.get("resident_id")
        return rules.check_write(
            account,
            device.device_id,
            change,
            stored=stored,
            resident=residents.get(resident_id) if resident_id else None,
            my_residents=mine,
            stored_role=roles.get(change.id) if change.kind == "users" else None,
        )

    # As if new, a change's verdict depends only on these fields (and on the
    # residents known, which change only when a resident is written): a batch
    # of visits asks about a few dozen residents, not thousands of records.
    verdicts: dict[tuple[Any, ...], Rejection | None] = {}

    def check_new(change: Change) -> Rejection | None:
        key = (change.kind, _VERDICT_FIELDS[change.kind](change.record))
        if key not in verdicts:
            verdicts[key] = check(change, None)
        return verdicts[key]

    judged = _Judged([], [], {}, False, check)
    for index, result in enumerate(checked):
        if isinstance(result, Change):
            problem = check_new(result)
            if problem is None:
                judged.accepted.append(result)
                judged.where.append(index)
                if result.kind == "residents":  # later changes may refer to it
                    residents[result.id] = _as_stored(result)
                    verdicts.clear()
                continue
            judged.by_rules = True
        else:
            problem = result
        judged.problems[index] = problem
    return judged


def _write(
    ctx: Context,
    device: DeviceAuth,
    items: list[Any],
    checked: list[Change | Rejection],
    judged: _Judged,
) -> dict[str, Any]:
    """Write what the rules let through, in this device's turn.

    The batch was judged while the one before it may still have been written.
    Should the rules have refused anything, they judge again now: the record
    a change refers to (a resident, say) may have come with that batch. What
    they passed stands: a later batch was made on the device after the one
    before it. The store then applies the rules again, inside its
    transaction, to records it already holds."""
    if judged.by_rules:
        judged = _judge(ctx, device, checked)
    problems = dict(judged.problems)
    written = ctx.store.apply(judged.accepted, admit=judged.admit, now=ctx.clock())
    for i, problem in written.items():
        problems[judged.where[i]] = problem
    rejected = [
        {
            "index": index,
            **_named(items[index]),
            "field": problem.field,
            "reason": problem.reason.value,
            "message": problem.message,
        }
        for index, problem in sorted(problems.items())
    ]
    return {"ok": True, "accepted": len(items) - len(rejected), "rejected": rejected}


def _check_and_judge(
    ctx: Context, device: DeviceAuth, items: list[Any]
) -> tuple[list[Change | Rejection], _Judged]:
    checked = check_changes(items, now=ctx.clock())
    return checked, _judge(ctx, device, checked)


def _check_judge_write(
    ctx: Context, device: DeviceAuth, items: list[Any]
) -> dict[str, Any]:
    checked, judged = _check_and_judge(ctx, device, items)
    return _write(ctx, device, items, checked, judged)


def _named(item: Any) -> dict[str, Any]:
    """The kind and id a rejected change says it has, if it says."""
    if not isinstance(item, dict):
        return {"kind": None, "id": None}
    return {"kind": item.get("kind"), "id": item.get("id")}


def _as_stored(change: Change) -> Stored:
    r = change.record
    return Stored(
        change.kind,
        change.id,
        r["hlc"],
        r["origin"],
        bool(r["deleted"]),
        r["district_id"],
        r.get("group_id"),
        change.id,
        None,
    )


def _pull(ctx: Context, device: DeviceAuth, cursor: Cursor, limit: int) -> str:
    store = ctx.store
    account = device.account
    held = store.scope_snapshot(device.device_id, cursor.snap) if cursor.snap else None
    seq = cursor.seq if held is not None or cursor.snap == 0 else 0
    held = held or frozenset()
    purge: dict[str, list[str]] = {"residents": [], "districts": []}

    if rules.is_field_worker(account):
        current = store.assigned_residents(account.user_id)
        gained, lost = sorted(current - held), sorted(held - current)
        purge["residents"] = lost
        if gained:
            return _backfill(ctx, device, held, gained, lost, seq, limit, purge)
        scope = rules.scope_of(account, current)
    else:
        current = frozenset({_ALL}) if account.role is Role.ADMIN else account.districts
        if current - held:
            seq = 0  # a new district: read it all again, in scope
        purge["districts"] = sorted(held - current - {_ALL})
        scope = rules.scope_of(account, frozenset())

    snap = cursor.snap
    if current != held or not snap:
        snap = store.save_scope_snapshot(device.device_id, current)
    bodies, last = store.changes_after(scope, seq, limit)
    if rules.is_field_worker(account):
        bodies = _least_data(bodies, account.user_id, store.without_consent(current))
    more = len(bodies) >= limit
    return _page(bodies, Cursor(last, snap), more, purge)


def _backfill(
    ctx: Context,
    device: DeviceAuth,
    held: frozenset[str],
    gained: list[str],
    lost: list[str],
    seq: int,
    limit: int,
    purge: dict[str, list[str]],
) -> str:
    """Residents newly in scope: their record and recent history, whole."""
    store = ctx.store
    first_sync = seq == 0 and not held
    top = store.max_seq()  # before reading: later writes arrive by seq
    since: datetime = ctx.clock() - ctx.recent_history
    bodies: list[str] = []
    if first_sync:
        # Their own user, group and district are stored before ``top``, where
        # the cursor below starts: they come with the first page.
        frame = rules.scope_of(device.account, frozenset())
        bodies, _ = store.changes_after(frame, 0, max(top, 1))
    taken: list[str] = []
    for resident in gained:
        if taken and len(bodies) >= limit:
            break
        history = store.history(device.account.user_id, [resident], since=since)
        withheld = store.without_consent([resident])
        bodies += _least_data(history, device.account.user_id, withheld)
        taken.append(resident)
    bodies = list(dict.fromkeys(bodies))  # own assignments come twice
    members = (held - set(lost)) | set(taken)
    snap = store.save_scope_snapshot(device.device_id, frozenset(members))
    next_seq = top if first_sync else seq
    return _page(bodies, Cursor(next_seq, snap), True, purge)


def _least_data(bodies: list[str], user_id: str, withheld: frozenset[str]) -> list[str]:
    """What a volunteer's phone gets of residents who did not consent.

    Without consent (honnin doui) only what is needed to visit leaves the
    server: the resident's name, address and rhythm, and the dates and
    outcomes of visits, but not other people's notes about them.
    """
    if not withheld:
        return bodies
    out = []
    for body in bodies:
        if body.startswith(_NOTED):
            record = json.loads(body)
            if record["resident_id"] in withheld and record.get("user_id") != user_id:
                record["note"] = ""
                body = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        out.append(body)
    return out


_NOTED = ('{"kind":"visits"', '{"kind":"concern_updates"')


def _page(
    bodies: list[str], cursor: Cursor, more: bool, purge: dict[str, list[str]]
) -> str:
    """The page as JSON text: the bodies SQLite wrote are spliced in as they are."""
    return (
        '{"ok":true,"changes":['
        + ",".join(bodies)
        + '],"cursor":'
        + json.dumps(str(cursor))
        + ',"more":'
        + ("true" if more else "false")
        + ',"purge":'
        + json.dumps(purge)
        + "}"
    )


def router(ctx: Context) -> APIRouter:
    r = APIRouter(prefix=f"{API}/sync")
    turns = _Turns()

    @r.post(
        "/push",
        summary="Send a batch of changes; each is accepted or rejected with a reason",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PUSH_SCHEMA}},
            }
        },
    )
    async def push(request: Request) -> dict[str, Any]:
        # Taken before anything is awaited: in the order the requests came.
        # By the token's hash, as the server keeps tokens everywhere else.
        token = digest(request.headers.get("authorization", ""))
        async with turns.turn(token) as turn:
            return await _push_in_turn(request, turn)

    async def _push_in_turn(request: Request, turn: _Turn) -> dict[str, Any]:
        device = await run_in_threadpool(ctx.authenticate, request)
        body = await read_json(request)
        only_keys(body, {"changes"})
        items = body.get("changes")
        if not isinstance(items, list):
            raise ApiError(
                400, "invalid_request", "changes must be a list", field="changes"
            )
        if len(items) > MAX_CHANGES_PER_PUSH:
            raise ApiError(
                413,
                "too_many_changes",
                f"at most {MAX_CHANGES_PER_PUSH} changes in one push",
                field="changes",
            )
        if turn.now:  # nothing to wait for: all in one go
            return await run_in_threadpool(_check_judge_write, ctx, device, items)
        checked, judged = await run_in_threadpool(_check_and_judge, ctx, device, items)
        await turn.wait(ctx.push_turn_wait)
        return await run_in_threadpool(_write, ctx, device, items, checked, judged)

    @r.get("/pull", summary="Changes after a cursor, in the server's order")
    async def pull(
        request: Request, cursor: str = "", limit: int = DEFAULT_PULL_LIMIT
    ) -> Response:
        device = await run_in_threadpool(ctx.authenticate, request)
        if not 1 <= limit <= MAX_PULL_LIMIT:
            raise ApiError(
                400, "bad_limit", f"limit must be 1..{MAX_PULL_LIMIT}", field="limit"
            )
        parsed = Cursor.parse(cursor)
        text = await run_in_threadpool(_pull, ctx, device, parsed, limit)
        return Response(text, media_type="application/json")

    return r
