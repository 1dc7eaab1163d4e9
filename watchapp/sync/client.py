"""The council's HTTP API, for the device: the only module that imports httpx.

Everything httpx can raise is translated here into watchapp.sync.errors, and
the transport comes from outside so tests can pass the real server app
(``httpx.ASGITransport``) or a transport that injects faults.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import random
import ssl
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from watchapp.sync.errors import (
    CouncilUnreachable,
    DeviceRevoked,
    EnrolmentRefused,
    RequestRejected,
    ServerBusy,
    ServerFailed,
    SyncError,
    Unauthorized,
)
from watchapp.sync.protocol import API, EnrolmentProblem

T = TypeVar("T")
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# Level 1: ~52 bytes a visit against ~44 at level 6 (zlib's default), for half
# the device CPU (1.2 against 2.6 us a visit). A day's visits are a few KB
# either way: the difference is nothing to a weak signal.
GZIP_LEVEL = 1


@dataclass(frozen=True)
class Enrolment:
    device_id: str
    token: str
    user: dict[str, Any]


@dataclass(frozen=True)
class PushAnswer:
    accepted: int
    rejected: list[dict[str, Any]]


@dataclass(frozen=True)
class PushBody:
    """A push request body as sent, encoded ahead: the engine encodes the next
    batch while the server works on the last."""

    content: bytes


def encode(body: Any) -> bytes:
    """A request body: compact UTF-8 JSON, gzipped."""
    return _gzip(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def push_body(changes: Sequence[bytes]) -> PushBody:
    """A push body around changes already encoded, each one JSON object in
    UTF-8 (the device store writes them: see ``store.outbox_batch``)."""
    return PushBody(_gzip(b'{"changes":[' + b",".join(changes) + b"]}"))


def _gzip(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0)


@dataclass(frozen=True)
class PullPage:
    changes: list[dict[str, Any]]
    cursor: str
    more: bool
    purge_residents: list[str]
    purge_districts: list[str]
    purge_salons: list[str] = field(default_factory=list)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        first = response.json()["errors"][0]
        return str(first["code"]), str(first["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return "http_error", f"HTTP {response.status_code}"


class CouncilClient:
    """One device's conversation with the council server."""

    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.token = token

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        params: Any = None,
        sent: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """``body`` is encoded here; ``content`` is already (see :func:`encode`).
        ``sent`` is called once the request is written out, if the transport
        tells (a socket does; an in-process app does not)."""
        headers = {"Accept-Encoding": "gzip"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            content = encode(body)
        if content is not None:
            headers["Content-Type"] = "application/json"
            headers["Content-Encoding"] = "gzip"
        try:
            response = await self.http.request(
                method,
                f"{API}{path}",
                content=content,
                params=params,
                headers=headers,
                extensions={"trace": _on_sent(sent)} if sent else None,
            )
        except httpx.TimeoutException as exc:
            raise CouncilUnreachable(f"timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise CouncilUnreachable(str(exc) or type(exc).__name__) from exc
        except httpx.HTTPError as exc:  # a garbled answer (bad gzip), redirects
            raise ServerFailed(f"unusable answer from the server: {exc}", 502) from exc
        status = response.status_code
        if status < 400:
            return response
        code, message = _error(response)
        if status in (429, 503):
            raise ServerBusy(message, _retry_after(response))
        if status >= 500:
            raise ServerFailed(message, status)
        if status == 401:
            if code == "revoked":
                raise DeviceRevoked(message)
            raise Unauthorized(message)
        raise RequestRejected(message, status, code)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            value = response.json()
        except ValueError as exc:
            raise ServerFailed("the server's answer is not JSON", 502) from exc
        if not isinstance(value, dict) or value.get("ok") is not True:
            raise ServerFailed("unexpected answer from the server", 502)
        return value

    async def enrol(
        self,
        code: str,
        device_id: str,
        device_name: str,
        *,
        enrol_key: str | None = None,
    ) -> Enrolment:
        """``enrol_key``: a secret new for each code; sent again with the same
        code, it gets back an answer that was lost on the way."""
        body = {"code": code, "device_id": device_id, "device_name": device_name}
        if enrol_key is not None:
            body["enrol_key"] = enrol_key
        try:
            response = await self._request("POST", "/enrol", body=body)
        except ServerBusy as exc:
            raise EnrolmentRefused(
                str(exc), EnrolmentProblem.TOO_MANY_ATTEMPTS, exc.retry_after
            ) from exc
        except ServerFailed as exc:
            if exc.status != 500:  # 502-504: a proxy's word, or no usable answer
                raise
            raise EnrolmentRefused(str(exc), EnrolmentProblem.INTERNAL_ERROR) from exc
        except RequestRejected as exc:
            try:
                problem = EnrolmentProblem(exc.code)
            except ValueError:
                # Not the council's answer (a proxy's or another site's page:
                # a wrong address), or a newer one: nothing to explain.
                raise exc from None
            raise EnrolmentRefused(str(exc), problem) from exc
        data = self._json(response)
        self.token = str(data["token"])
        return Enrolment(str(data["device_id"]), self.token, dict(data["user"]))

    async def me(self) -> dict[str, Any]:
        return self._json(await self._request("GET", "/me"))

    async def push(
        self,
        changes: list[dict[str, Any]] | PushBody,
        *,
        sent: Callable[[], None] | None = None,
    ) -> PushAnswer:
        if not isinstance(changes, PushBody):
            changes = PushBody(encode({"changes": changes}))
        data = self._json(
            await self._request(
                "POST", "/sync/push", content=changes.content, sent=sent
            )
        )
        return PushAnswer(int(data["accepted"]), list(data["rejected"]))

    async def pull(
        self, cursor: str, limit: int, *, sent: Callable[[], None] | None = None
    ) -> PullPage:
        data = self._json(
            await self._request(
                "GET",
                "/sync/pull",
                params={"cursor": cursor, "limit": limit},
                sent=sent,
            )
        )
        purge = data.get("purge") or {}
        return PullPage(
            changes=list(data["changes"]),
            cursor=str(data["cursor"]),
            more=bool(data["more"]),
            purge_residents=list(purge.get("residents", [])),
            purge_districts=list(purge.get("districts", [])),
            purge_salons=list(purge.get("salons", [])),
        )


def _on_sent(
    sent: Callable[[], None],
) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """An httpcore trace hook that calls ``sent`` when the body is written."""

    async def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):
            sent()

    return trace


@functools.cache
def _tls() -> ssl.SSLContext:
    # httpx's default context, made once: loading the CA bundle is slow, and
    # every sync round paid for it when it built its client (bench/NOTES.md).
    return httpx.create_ssl_context()


def connect(base_url: str, token: str | None = None) -> CouncilClient:
    """A client over the network to ``base_url``."""
    http = httpx.AsyncClient(
        base_url=base_url.rstrip("/"), timeout=TIMEOUT, verify=_tls()
    )
    return CouncilClient(http, token)


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; a server's Retry-After wins."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: SyncError) -> float:
        if isinstance(error, ServerBusy) and error.retry_after is not None:
            return min(error.retry_after, self.cap)
        return self.rng.uniform(0, min(self.cap, self.base * 2**attempt))

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` until it succeeds, retrying only what may pass next time."""
        for attempt in range(self.attempts):
            try:
                return await call()
            except (CouncilUnreachable, ServerBusy, ServerFailed) as exc:
                if attempt == self.attempts - 1:
                    raise
                await self.sleep(self.delay(attempt, exc))
        raise AssertionError("unreachable")
