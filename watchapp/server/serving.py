"""The council server (or any ASGI app) on uvicorn: for the command line, the
benchmarks and the tests that run it in a process of its own.

What a slow or hostile client can hold is bounded here:

- a request head (request line and headers) must be in whole within
  ``head_timeout`` seconds of the connection opening, or of the answer before
  on a kept-alive connection, else the connection is closed (uvicorn itself
  waits for a head for ever once a byte of it came); and be at most
  ``max_head_bytes``, else uvicorn answers 400;
- a request body must be in within ``body_timeout`` seconds of its head,
  else the app answers 408 (:class:`BodyDeadline`);
- at most ``limit_concurrency`` connections and requests at once; beyond
  that uvicorn answers 503, which devices retry later.

The defaults are far beyond what a healthy phone needs: its requests give up
after 20 s (watchapp/sync/client.py), a head is half a kilobyte, and a push
of 2,000 visits is about 200 KB gzipped, 16 s at 100 kbit/s.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import HTTP_PROTOCOLS, LOGGING_CONFIG
from uvicorn.importer import import_from_string

from watchapp.server.errors import BodyTimeout

HEAD_TIMEOUT = 10.0
BODY_TIMEOUT = 60.0
# Devices keep a connection each, two while a push is pipelined (bench/load.py
# runs 200 at once); idle ones are closed after uvicorn's 5 s keep-alive.
LIMIT_CONCURRENCY = 1000
# A head the app needs is under 1 KB; h11 allows 16 KB, httptools no limit.
MAX_HEAD_BYTES = 16 * 1024

log = logging.getLogger("watchapp.server")

# uvicorn's own logging, plus ours to stderr: the access log
# (watchapp/server/access_log.py) and the server's one-line warnings.
LOGGING: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
LOGGING["formatters"]["plain"] = {"format": "%(message)s"}
LOGGING["handlers"]["plain"] = {
    "formatter": "plain",
    "class": "logging.StreamHandler",
    "stream": "ext://sys.stderr",
}
LOGGING["loggers"]["watchapp"] = {
    "handlers": ["default"],
    "level": "INFO",
    "propagate": False,
}
LOGGING["loggers"]["watchapp.access"] = {
    "handlers": ["plain"],
    "level": "INFO",
    "propagate": False,
}


class _HeadDeadline(asyncio.Protocol):
    """Mixed in before one of uvicorn's HTTP protocols (h11 or httptools).

    It relies on what both keep per connection: ``loop``, ``transport``, and
    ``cycle``, the request being answered (None before the first), replaced
    by a new one as soon as a head is in (inside ``data_received``), and
    ``on_response_complete``, called once a request is answered. The timer
    runs from the connection's start, then from each answer; uvicorn's own
    keep-alive timeout (5 s) still closes an idle connection first, but
    stops as soon as a byte arrives, a head trickled in a byte at a time
    included. :func:`with_head_deadline` checks the methods at start-up; a
    renamed attribute fails every request (and the tests), not silently."""

    head_timeout: float
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:
            self._disarm()  # a head came in whole

    def on_response_complete(self) -> None:
        before = self.cycle
        super().on_response_complete()  # type: ignore[misc]
        if self.cycle is before:  # no pipelined head waiting
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(self.head_timeout, self._overdue)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _overdue(self) -> None:
        self._head_timer = None
        answered = self.cycle is None or self.cycle.response_complete
        if answered and not self.transport.is_closing():
            log.info(
                "closed a connection: no request head within %g s", self.head_timeout
            )
            self.transport.close()


class _HeadLimit(asyncio.Protocol):
    """For httptools, which keeps a head of any size (h11 refuses one over
    ``h11_max_incomplete_event_size``): a head still coming after
    ``max_head_bytes`` is answered 400 and the connection closed. httptools
    calls ``on_message_begin`` at a head's first byte and
    ``on_headers_complete`` at its end."""

    max_head_bytes: int

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._in_head = False
                log.info("refused a request head over %d bytes", self.max_head_bytes)
                self.send_400_response("Request head too large.")  # type: ignore[attr-defined]

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = 0
        super().on_message_begin()  # type: ignore[misc]

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()  # type: ignore[misc]


_RELIED_ON = ("data_received", "on_response_complete", "connection_lost")
_HTTPTOOLS_RELIED_ON = ("on_message_begin", "on_headers_complete", "send_400_response")


def _is_httptools(protocol: type) -> bool:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools not installed: h11 it is
        return False
    return issubclass(protocol, HttpToolsProtocol)


def with_head_deadline(
    http: str | type[asyncio.Protocol], seconds: float, max_bytes: int
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol ``http`` ("auto", "h11", "httptools" or a
    class), closing connections whose request head is late or too big."""
    base = import_from_string(HTTP_PROTOCOLS[http]) if isinstance(http, str) else http
    mixins: tuple[type, ...] = (_HeadDeadline,)
    relied_on: tuple[str, ...] = _RELIED_ON
    if _is_httptools(base):
        mixins += (_HeadLimit,)
        relied_on += _HTTPTOOLS_RELIED_ON
    missing = [name for name in relied_on if not hasattr(base, name)]
    if missing:
        raise RuntimeError(f"uvicorn's {base.__name__} has no {missing}: see above")
    attributes = {"head_timeout": seconds, "max_head_bytes": max_bytes}
    protocol: type[asyncio.Protocol] = type(
        f"Bounded{base.__name__}", (*mixins, base), attributes
    )
    return protocol


class BodyDeadline:
    """Wraps an ASGI app: reading a request body that is not all in within
    ``seconds`` of the request's head raises :class:`BodyTimeout` where the
    app reads it (the council server answers it 408). Once the body is in,
    messages pass untouched: an app waiting for a disconnect waits on."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_in = False

        async def receive_in_time() -> Message:
            nonlocal body_in
            if body_in:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.seconds) from None
            body_in = message["type"] != "http.request" or not message.get(
                "more_body", False
            )
            return message

        await self.app(scope, receive_in_time, send)


def config(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    head_timeout: float = HEAD_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    limit_concurrency: int | None = LIMIT_CONCURRENCY,
    max_head_bytes: int = MAX_HEAD_BYTES,
    **options: Any,
) -> uvicorn.Config:
    """uvicorn's configuration for ``app`` with the bounds above; ``options``
    go to uvicorn.Config (``log_config=None`` leaves logging alone)."""
    options.setdefault("log_config", LOGGING)
    # uvicorn believes X-Forwarded-For from 127.0.0.1 by default; the app
    # reads it only from the proxies it is told to trust (server/limiter.py).
    options.setdefault("proxy_headers", False)
    http = options.pop("http", "auto")
    return uvicorn.Config(
        BodyDeadline(app, body_timeout),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # ours is watchapp.access, without personal data
        http=with_head_deadline(http, head_timeout, max_head_bytes),
        h11_max_incomplete_event_size=max_head_bytes,
        limit_concurrency=limit_concurrency,
        **options,
    )


async def serve(
    app: Any,
    *,
    info: Path | None = None,
    extra: dict[str, Any] | None = None,
    **options: Any,
) -> None:
    """Serve ``app`` until stopped. With ``info``: once listening, write
    ``{"port", "pid", **extra}`` there as JSON, whole or not at all, so that
    whoever started this process learns the port (port 0: any free one).
    ``options`` go to :func:`config`."""
    server = uvicorn.Server(config(app, **options))
    task = asyncio.create_task(server.serve())
    if info is not None:
        while not server.started:
            if task.done():
                break  # failed to start: its error comes out below
            await asyncio.sleep(0.01)
        else:
            bound = server.servers[0].sockets[0].getsockname()[1]
            partial = info.with_name(info.name + ".partial")
            partial.write_text(
                json.dumps({"port": bound, "pid": os.getpid(), **(extra or {})})
            )
            partial.replace(info)
    await task
