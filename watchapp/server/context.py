"""What the routes share: the store, the clock, the limiter, and authentication."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import Request

from watchapp.server.auth import RateLimiter, digest
from watchapp.server.errors import ApiError
from watchapp.server.store import DeviceAuth, ServerStore


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    store: ServerStore
    clock: Callable[[], datetime] = utc_now
    limiter: RateLimiter = field(default_factory=RateLimiter)
    recent_history: timedelta = timedelta(days=180)
    # How long a push waits for the one before it from the same device (the
    # device itself gives up on a request after 20 s).
    push_turn_wait: float = 15.0

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
        device = self.store.device(digest(token.strip()))
        if device is None:
            raise ApiError(
                401,
                "unauthorized",
                "unknown token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if device.revoked:
            raise ApiError(
                401,
                "revoked",
                "this device has been revoked",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return device
