"""What the routes share: the store, the clock, the limiter, and authentication."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import Request

from watchapp.server.auth import digest
from watchapp.server.errors import ApiError
from watchapp.server.limiter import EnrolmentLimiter
from watchapp.server.store import DeviceAuth, ServerStore

# Changes one device may send in an hour. A volunteer logs a few dozen visits
# a day; a phone back after a month offline sends under a thousand. A bigger
# backlog goes on in the next hour (429 with Retry-After), nothing lost.
DEFAULT_WRITE_QUOTA = 5000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    store: ServerStore
    clock: Callable[[], datetime] = utc_now
    limiter: EnrolmentLimiter = field(default_factory=EnrolmentLimiter)
    recent_history: timedelta = timedelta(days=180)
    write_quota: int | None = DEFAULT_WRITE_QUOTA

    def authenticate(self, request: Request) -> DeviceAuth:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "unauthorized",
                "a bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        token_hash = digest(token.strip())
        device = self.store.device(token_hash)
        if device is None:
            raise ApiError(
                401,
                "unauthorized",
                "unknown token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        # For the access log (hashed there), revoked devices' tries included.
        request.state.device_id = device.device_id
        if device.revoked:
            raise ApiError(
                401,
                "revoked",
                "this device has been revoked",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if not device.seen:
            # Once used, the token is the device's: its enrolment answer can
            # no longer be asked for again (watchapp/server/enrol.py).
            self.store.mark_seen(token_hash, now=self.clock())
        return device
