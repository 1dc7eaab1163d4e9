"""The council server (or any ASGI app) on uvicorn: for the command line, the
benchmarks and the tests that run it in a process of its own."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import uvicorn


async def serve(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    info: Path | None = None,
    extra: dict[str, Any] | None = None,
    **options: Any,
) -> None:
    """Serve ``app`` until stopped. With ``info``: once listening, write
    ``{"port", "pid", **extra}`` there as JSON, whole or not at all, so that
    whoever started this process learns the port (port 0: any free one).
    ``options`` go to uvicorn.Config."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, **options
    )
    server = uvicorn.Server(config)
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
