"""One line per request, without personal data, to the "watchapp.access" logger:

    {time} POST /api/v1/sync/push 200 device=3f2a9c01d4e7 in=48213 out=61 ms=21.4

time (UTC, when the request came: 2026-11-26T01:00:00.123Z), method, the
route's template (never the raw path or query, which may carry a code),
status, a short hash of the authenticated device's id (``-`` when none), body
bytes in and out as they crossed the wire (gzipped), and the duration.
Names, notes, tokens and codes never reach it: it reads no header and no body.

The device id is put on ``request.state.device_id`` by
``Context.authenticate``; the hash is a plain SHA-256 prefix, so an
administrator can find a device's lines from its id, while the log alone
does not name devices.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("watchapp.access")


def device_hash(device_id: str) -> str:
    return hashlib.sha256(device_id.encode()).hexdigest()[:12]


class AccessLog:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it costs more per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.time()
        clock = time.perf_counter()
        # Shared with request.state, which the app writes the device id into.
        state: dict[str, Any] = scope.setdefault("state", {})
        status = 500  # unless the app answers
        sizes = [0, 0]  # in, out

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                sizes[0] += len(message.get("body", b""))
            return message

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sizes[1] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            route = getattr(scope.get("route"), "path", "-")
            device = state.get("device_id")
            log.info(
                "%s %s %s %d device=%s in=%d out=%d ms=%.1f",
                _utc(started),
                scope["method"],
                route,
                status,
                device_hash(device) if isinstance(device, str) else "-",
                sizes[0],
                sizes[1],
                (time.perf_counter() - clock) * 1000,
            )


def _utc(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )
