"""The council server in a process of its own, for tests that kill it with SIGKILL.

    python -m tests.server_process --db PATH --info FILE [--port P]
                                   [--invite USER ...] [--hold-push SECONDS]

On first start (no file at PATH yet) it builds the tiny world of tests/support.py
and invites the users named by --invite. PATH may also be a postgresql:// URL of
a database whose world the test built (several processes may serve it). Once it
listens it writes FILE as JSON: {"port": ..., "pid": ..., "codes": {user:
invitation code}}. The server's clock is support's fixed T0, like the devices
the tests build.

:class:`Wire` is the ASGI wrapper both this process and the in-process socket
tests put around the app: it records what crossed the wire (headers as sent,
so after the app's gzip) and can hold push answers back after the server has
committed them, which opens a window to kill the server or time the client out
between the commit and the answer.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support import Clock, Council
from watchapp.server import create_app
from watchapp.server.serving import serve
from watchapp.server.store import is_postgres_url, open_store
from watchapp.sync.protocol import API

PUSH_PATH = f"{API}/sync/push"


@dataclass
class Exchange:
    """One request and its answer, as they crossed the wire."""

    method: str
    path: str
    request_encoding: str
    status: int = 0
    response_encoding: str = ""
    response_bytes: int = 0


class Wire:
    """Records every exchange; may hold push answers after the app has run."""

    def __init__(self, app: ASGIApp, *, hold_pushes: float = 0.0) -> None:
        self.app = app
        self.hold_pushes = hold_pushes
        self.stalls: list[float] = []  # one-shot holds for the next pushes
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
        }
        exchange = Exchange(
            scope["method"], scope["path"], headers.get("content-encoding", "")
        )
        self.exchanges.append(exchange)
        hold = 0.0
        if exchange.path == PUSH_PATH:
            hold = self.stalls.pop(0) if self.stalls else self.hold_pushes
        held: list[Message] = []

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
                for k, v in message.get("headers", []):
                    if k.decode("latin-1").lower() == "content-encoding":
                        exchange.response_encoding = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                exchange.response_bytes += len(message.get("body", b""))
            if hold:
                held.append(message)
            else:
                await send(message)

        await self.app(scope, receive, record)
        if hold:
            await asyncio.sleep(hold)  # committed; the answer is on its way
            for message in held:
                await send(message)


async def _serve(args: argparse.Namespace) -> None:
    codes: dict[str, str] = {}
    if not is_postgres_url(args.db) and not Path(args.db).exists():
        council = Council(Path(args.db))
        codes = {user: council.invite(user) for user in args.invite}
        council.store.close()
    store = open_store(args.db)
    app = Wire(create_app(store, clock=Clock()), hold_pushes=args.hold_push)
    try:
        await serve(
            app,
            port=args.port,
            info=Path(args.info),
            extra={"codes": codes},
            log_config=None,
            lifespan="off",
            ws="none",
        )
    finally:
        store.close()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.server_process")
    p.add_argument("--db", required=True)
    p.add_argument("--info", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--invite", action="append", default=[])
    p.add_argument("--hold-push", type=float, default=0.0)
    asyncio.run(_serve(p.parse_args()))


if __name__ == "__main__":
    main()
