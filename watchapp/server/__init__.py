"""The council server: an ASGI app (FastAPI) over a :class:`ServerStore`.

Modules: store (SQLite), rules (scope and roles), auth (tokens, codes),
limiter (the enrolment rate limit), enrol, sync, admin and reports (routers),
body (request bodies), errors (one shape).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from watchapp.server import admin, enrol, errors, reports, sync
from watchapp.server.access_log import AccessLog
from watchapp.server.context import DEFAULT_WRITE_QUOTA, Context, utc_now
from watchapp.server.limiter import EnrolmentLimiter, parse_proxies
from watchapp.server.store import ServerStore
from watchapp.sync.protocol import API


def create_app(
    store: ServerStore,
    *,
    clock: Callable[[], datetime] = utc_now,
    limiter: EnrolmentLimiter | None = None,
    trusted_proxies: Iterable[str] = (),
    write_quota: int | None = DEFAULT_WRITE_QUOTA,
) -> FastAPI:
    """The council server's app over ``store``.

    Args:
        clock: the server's time (tests move it by hand).
        limiter: the enrolment rate limit (watchapp/server/limiter.py).
        trusted_proxies: addresses or networks of the reverse proxies in
            front of this server. Only a request from one of them may name
            its client in ``X-Forwarded-For``; run uvicorn with
            ``proxy_headers=False`` so that the app sees the real peer.
        write_quota: changes one device may push in an hour (None: no
            limit, for benchmarks).
    """
    limiter = limiter or EnrolmentLimiter()
    if trusted_proxies:
        limiter = replace(limiter, trusted_proxies=parse_proxies(trusted_proxies))
    ctx = Context(store=store, clock=clock, limiter=limiter, write_quota=write_quota)
    app = FastAPI(
        title="watchapp council server",
        version="1",
        description="Sync and enrolment for the watchapp devices.",
        docs_url=None,
        redoc_url=None,
    )
    # Level 6, not Starlette's 9: a few bytes more a pulled visit, for half the
    # server's CPU in compressing a page (bench/NOTES.md).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    # Outside gzip, so that it counts the bytes that cross the wire.
    app.add_middleware(AccessLog)
    errors.install(app)
    app.include_router(enrol.router(ctx))
    app.include_router(sync.router(ctx))
    app.include_router(admin.router(ctx))
    app.include_router(reports.router(ctx))

    @app.get(f"{API}/health", summary="Is the server up")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    app.state.context = ctx
    return app
