"""What only admins may read: the audit trail of who changed what."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from watchapp.domain.model import Role
from watchapp.server.context import Context
from watchapp.server.errors import ApiError
from watchapp.sync.protocol import API

MAX_AUDIT_LIMIT = 1000


def router(ctx: Context) -> APIRouter:
    r = APIRouter(prefix=f"{API}/admin")

    @r.get("/audit", summary="Who changed what, newest first (admins only)")
    async def audit(request: Request, limit: int = 100) -> dict[str, Any]:
        device = await run_in_threadpool(ctx.authenticate, request)
        if device.account.role is not Role.ADMIN:
            raise ApiError(403, "forbidden", "only an admin reads the audit trail")
        if not 1 <= limit <= MAX_AUDIT_LIMIT:
            raise ApiError(
                400, "bad_limit", f"limit must be 1..{MAX_AUDIT_LIMIT}", field="limit"
            )
        entries = await run_in_threadpool(ctx.store.audit, limit=limit)
        return {"ok": True, "entries": [asdict(e) for e in entries]}

    return r
