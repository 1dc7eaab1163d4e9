"""Push and pull: the sync endpoints (wire format in watchapp/sync/protocol.py).

A pull cursor is ``v2.<epoch>.<seq>.<snap>``: the server database's epoch
(new when it is restored from a backup), the last change number the device
has seen, and the server's snapshot of which residents and salons (or
districts) the device holds. Comparing that snapshot with the current scope
tells what the device gained (sent with recent history, even if older than
the cursor) and lost (listed under "purge"). A device whose answer was lost
asks again with the same cursor and gets the same answer. A cursor of
another epoch is answered 409 ``server_restored``: the device sends its own
records again and pulls afresh. (A ``v1.<seq>.<snap>`` cursor, from before
epochs, is taken as of this epoch.)"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from watchapp.domain.model import Role
from watchapp.domain.schema import KINDS
from watchapp.server import rules
from watchapp.server.body import only_keys, read_json
from watchapp.server.context import Context
from watchapp.server.errors import ApiError
from watchapp.server.judge import judge
from watchapp.server.store import (
    DeviceAuth,
    DeviceRevoked,
    ServerStore,
    WriteQuotaExceeded,
)
from watchapp.sync.protocol import (
    API,
    DEFAULT_PULL_LIMIT,
    MAX_CHANGES_PER_PUSH,
    MAX_PULL_LIMIT,
    Change,
    Rejection,
    change_schema,
    check_changes,
)


def push_schema() -> dict[str, Any]:
    """The push body's JSON Schema, for the OpenAPI document: one schema per
    registered kind (:func:`watchapp.sync.protocol.change_schema`)."""
    return {
        "type": "object",
        "required": ["changes"],
        "additionalProperties": False,
        "properties": {
            "changes": {
                "type": "array",
                "maxItems": MAX_CHANGES_PER_PUSH,
                "items": {"oneOf": [change_schema(kind) for kind in KINDS]},
            }
        },
    }


_ALL = "*"
# In a field worker's snapshot, a salon they organise (a resident is its id).
_SALON = "salon:"
# ASCII digits only (str.isdigit takes "²"), and below 2**63 for SQLite.
_CURSOR = re.compile(r"v2\.([0-9a-f]{1,32})\.([0-9]{1,18})\.([0-9]{1,18})")
_CURSOR_V1 = re.compile(r"v1\.([0-9]{1,18})\.([0-9]{1,18})")


@dataclass(frozen=True)
class Cursor:
    seq: int
    snap: int
    epoch: str

    def __str__(self) -> str:
        return f"v2.{self.epoch}.{self.seq}.{self.snap}"

    @classmethod
    def parse(cls, text: str, epoch: str) -> Cursor:
        """The cursor a device sent, for the database of ``epoch``."""
        if not text:
            return cls(0, 0, epoch)
        if old := _CURSOR_V1.fullmatch(text):
            return cls(int(old[1]), int(old[2]), epoch)
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise ApiError(400, "bad_cursor", "malformed cursor", field="cursor")
        if match[1] != epoch:
            raise ApiError(
                409,
                "server_restored",
                "the server was restored from a backup: send your own records"
                " again and pull from the start",
                field="cursor",
            )
        return cls(int(match[2]), int(match[3]), epoch)


def _write(
    ctx: Context,
    device: DeviceAuth,
    items: list[Any],
    checked: list[Change | Rejection],
) -> dict[str, Any]:
    """Judge and write a checked push, in one of the store's transactions."""
    claimed = [_claimed(item) for item in items]
    try:
        judgement = ctx.store.write_as(
            device.device_id,
            lambda reads, account: judge(
                reads, account, device.device_id, checked, claimed
            ),
            count=len(items),
            quota=ctx.write_quota,
            now=ctx.clock(),
        )
    except DeviceRevoked:
        raise ApiError(
            401,
            "revoked",
            "this device has been revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    except WriteQuotaExceeded as exc:
        raise ApiError(
            429,
            "write_quota",
            "too many changes from this device this hour: wait and try again",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    rejected = [
        {
            "index": index,
            **_named(items[index]),
            "field": problem.field,
            "reason": problem.reason.value,
            "message": problem.message,
        }
        for index, problem in sorted(judgement.problems.items())
    ]
    return {"ok": True, "accepted": len(items) - len(rejected), "rejected": rejected}


def _check_and_write(
    ctx: Context, device: DeviceAuth, items: list[Any]
) -> dict[str, Any]:
    return _write(ctx, device, items, check_changes(items, now=ctx.clock()))


def _claimed(item: Any) -> tuple[str, str] | None:
    """The (kind, id) an item of a push says it has, if it says so as text."""
    if isinstance(item, dict):
        kind, record_id = item.get("kind"), item.get("id")
        if isinstance(kind, str) and isinstance(record_id, str):
            return (kind, record_id)
    return None


def _named(item: Any) -> dict[str, Any]:
    """The kind and id a rejected change says it has, if it says so as text
    (anything else it sent is not echoed back)."""
    if not isinstance(item, dict):
        return {"kind": None, "id": None}
    kind, record_id = item.get("kind"), item.get("id")
    return {
        "kind": kind if isinstance(kind, str) else None,
        "id": record_id if isinstance(record_id, str) else None,
    }


def _pull(ctx: Context, device: DeviceAuth, cursor: Cursor, limit: int) -> str:
    store = ctx.store
    account = device.account
    held = store.scope_snapshot(device.device_id, cursor.snap) if cursor.snap else None
    seq = cursor.seq if held is not None or cursor.snap == 0 else 0
    held = held or frozenset()
    purge: dict[str, list[str]] = {"residents": [], "districts": [], "salons": []}

    if rules.is_field_worker(account):
        residents = store.assigned_residents(account.user_id)
        salons = store.organised_salons(account.user_id)
        current = residents | {_SALON + s for s in salons}
        gained, lost = sorted(current - held), sorted(held - current)
        purge["residents"] = [x for x in lost if not x.startswith(_SALON)]
        purge["salons"] = [x.removeprefix(_SALON) for x in lost if x.startswith(_SALON)]
        if gained:
            return _backfill(ctx, device, held, gained, lost, seq, limit, purge)
        scope = rules.scope_of(account, residents, salons)
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
    more = len(bodies) >= limit  # a full page, before least data takes any out
    if rules.is_field_worker(account):
        bodies = _least_data(
            store, bodies, account.user_id, store.without_consent(residents)
        )
    return _page(bodies, Cursor(last, snap, cursor.epoch), more, purge)


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
    """Residents (and salons) newly in scope: their record and recent
    history, whole (a salon's: all of it)."""
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
    user_id = device.account.user_id
    for gain in gained:
        if taken and len(bodies) >= limit:
            break
        if gain.startswith(_SALON):
            salon = [gain.removeprefix(_SALON)]
            bodies += store.history(user_id, [], since=since, salons=salon)
        else:
            history = store.history(user_id, [gain], since=since)
            withheld = store.without_consent([gain])
            bodies += _least_data(store, history, user_id, withheld)
        taken.append(gain)
    bodies = list(dict.fromkeys(bodies))  # own assignments come twice
    members = (held - set(lost)) | set(taken)
    snap = store.save_scope_snapshot(device.device_id, frozenset(members))
    next_seq = top if first_sync else seq
    return _page(bodies, Cursor(next_seq, snap, store.epoch()), True, purge)


def _least_data(
    store: ServerStore, bodies: list[str], user_id: str, withheld: frozenset[str]
) -> list[str]:
    """What a volunteer's phone gets of residents who did not consent: of
    records another person wrote, not the fields each kind withholds
    (:attr:`Kind.withheld`), and none of the records withheld whole (concern
    updates), unless about the volunteer's own visit."""
    if not withheld:
        return bodies
    out, about_visits = [], []
    for body in bodies:
        record = json.loads(body)
        spec = KINDS[record["kind"]]
        if not (spec.withheld or spec.withheld_whole) or (
            record["resident_id"] not in withheld
        ):
            out.append(body)
            continue
        if spec.withheld_whole:
            about_visits.append((len(out), record))
            out.append("")
        elif record.get("user_id") != user_id:
            record.update(dict.fromkeys(spec.withheld))
            out.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        else:
            out.append(body)
    if about_visits:
        own = store.visits_by(user_id, [r["visit_id"] for _, r in about_visits])
        for at, record in about_visits:
            if record["visit_id"] in own:
                out[at] = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return [body for body in out if body]


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

    @r.post(
        "/push",
        summary="Send a batch of changes; each is accepted or rejected with a reason",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": push_schema()}},
            }
        },
    )
    async def push(request: Request) -> dict[str, Any]:
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
        return await run_in_threadpool(_check_and_write, ctx, device, items)

    @r.get("/pull", summary="Changes after a cursor, in the server's order")
    async def pull(
        request: Request, cursor: str = "", limit: int = DEFAULT_PULL_LIMIT
    ) -> Response:
        device = await run_in_threadpool(ctx.authenticate, request)
        if not 1 <= limit <= MAX_PULL_LIMIT:
            raise ApiError(
                400, "bad_limit", f"limit must be 1..{MAX_PULL_LIMIT}", field="limit"
            )
        parsed = Cursor.parse(cursor, ctx.store.epoch())
        text = await run_in_threadpool(_pull, ctx, device, parsed, limit)
        return Response(text, media_type="application/json")

    return r
