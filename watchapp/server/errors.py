"""One error body for every error: ``{"ok": false, "errors": [...]}``.

ApiError          an answer other than 2xx, with .status, .code, .field
 └─ BodyTimeout   the request body did not arrive in time (408)

The store's StoreUnavailable (its database went away mid-request) is answered
503 with Retry-After: nothing was written, and the client may send it again.

A client's fault (a body cut off or too slow) is logged as one line; only a
fault of the server's own (anything else) is logged with its traceback, and
answered 500 in the same body shape, with no detail.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from watchapp.server.store.base import StoreUnavailable
from watchapp.sync.protocol import error_body

log = logging.getLogger("watchapp.server")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


class BodyTimeout(ApiError):
    """Raised where the app reads a request body that is not in by its deadline
    (see watchapp/server/serving.py). The connection is closed after the
    answer: the rest of the body may still be on its way."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            "body_timeout",
            f"the request body did not arrive within {seconds:g} s",
            headers={"Connection": "close"},
        )


def route_of(request: Request) -> str:
    """The route's template, never the raw path (which may carry anything)."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "-"))


def _answer(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, exc.field),
        status_code=exc.status,
        headers=exc.headers,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _answer(exc)

    @app.exception_handler(BodyTimeout)
    async def body_timeout(request: Request, exc: BodyTimeout) -> JSONResponse:
        log.warning("%s %s: %s", request.method, route_of(request), exc.message)
        return _answer(exc)

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # Nobody reads this answer; it is here for the access log's status.
        message = "the client went away before its request body was in"
        log.warning("%s %s: %s", request.method, route_of(request), message)
        return _answer(ApiError(400, "client_disconnected", message))

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # The database went away before the transaction committed: nothing
        # was written, and the same request may be sent again.
        log.warning(
            "%s %s: store unavailable (%s)", request.method, route_of(request), exc
        )
        return _answer(
            ApiError(
                503,
                "store_unavailable",
                "the server's database is unavailable; try again shortly",
                headers={"Retry-After": "1"},
            )
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback after this answer is sent (a fault of
        # ours, to be fixed); the client learns nothing of it.
        return JSONResponse(
            error_body("internal_error", "the server failed; try again later"),
            status_code=500,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = first.get("loc", ())
        field = str(loc[-1]) if loc else None
        return JSONResponse(
            error_body("invalid_request", str(first.get("msg", "invalid")), field),
            status_code=400,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
