"""Every error ``POST /enrol`` answers is an EnrolmentProblem, and the
profile screen explains each in Japanese.

Each member is brought about for real against the council app (in process,
or as a raw ASGI call where a connection has to stall or die), and its very
answer is then served to a phone whose volunteer taps "save".
"""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import flet as ft
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import BASE_URL, Council, fast_retry
from tests.test_views import FakeShell, click, find
from watchapp import store
from watchapp.server.serving import BodyDeadline
from watchapp.state import AppState
from watchapp.strings.device import JA
from watchapp.sync.client import CouncilClient
from watchapp.sync.protocol import API, EnrolmentProblem
from watchapp.views.profile import profile_view

P = EnrolmentProblem
Scenario = Callable[[Council], Coroutine[Any, Any, httpx.Response]]


@pytest.fixture
def council(tmp_path: Path) -> Iterator[Council]:
    council = Council(tmp_path / "server.sqlite")
    yield council
    council.store.close()


def enrol_body(code: str, device_id: str | None = None, **extra: Any) -> bytes:
    body = {
        "code": code,
        "device_id": device_id or str(uuid.uuid4()),
        "device_name": "Hanako's phone",
        **extra,
    }
    return json.dumps(body).encode()


async def post(
    council: Council, content: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    # A fault of the server comes back as its 500 answer, as a phone sees it.
    transport = httpx.ASGITransport(app=council.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        return await http.post(
            f"{API}/enrol",
            content=content,
            headers={"Content-Type": "application/json", **(headers or {})},
        )


async def raw_asgi(
    app: Any, receive: Callable[[], Awaitable[dict[str, Any]]]
) -> httpx.Response:
    """A POST /enrol whose body arrives as ``receive`` hands it out: what
    httpx cannot send (a body that stalls, a client that goes away)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"{API}/enrol",
        "raw_path": f"{API}/enrol".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"council.test"),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("council.test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    body = b"".join(
        m.get("body", b"") for m in sent if m["type"] == "http.response.body"
    )
    return httpx.Response(
        start["status"],
        headers=[(k.decode(), v.decode()) for k, v in start["headers"]],
        content=body,
    )


# ---- one way to bring about each problem -------------------------------------


async def unknown_code(council: Council) -> httpx.Response:
    return await post(council, enrol_body("ABCDEFGHJK"))


async def used_code(council: Council) -> httpx.Response:
    code = council.invite("vol1")
    assert (await post(council, enrol_body(code))).status_code == 200
    return await post(council, enrol_body(code))


async def expired_code(council: Council) -> httpx.Response:
    code = council.invite("vol1", hours=1)
    council.clock.advance(timedelta(hours=2).total_seconds())
    return await post(council, enrol_body(code))


async def device_taken(council: Council) -> httpx.Response:
    device_id = str(uuid.uuid4())
    first = await post(council, enrol_body(council.invite("vol1"), device_id))
    assert first.status_code == 200
    return await post(council, enrol_body(council.invite("vol2"), device_id))


async def too_many_attempts(council: Council) -> httpx.Response:
    device_id = str(uuid.uuid4())
    for attempt in range(council.limiter.per_device):
        wrong = await post(council, enrol_body(f"WRONGCODE{attempt}", device_id))
        assert wrong.status_code == 400
    return await post(council, enrol_body(council.invite("vol1"), device_id))


async def field_missing(council: Council) -> httpx.Response:
    return await post(council, json.dumps({"code": council.invite("vol1")}).encode())


async def field_unknown(council: Council) -> httpx.Response:
    return await post(council, enrol_body(council.invite("vol1"), extra=1))


async def not_json(council: Council) -> httpx.Response:
    return await post(council, b'{"code": ')


async def not_gzip(council: Council) -> httpx.Response:
    return await post(council, b"not gzip", {"Content-Encoding": "gzip"})


async def too_large(council: Council) -> httpx.Response:
    return await post(council, enrol_body("ABCDEFGHJK", pad="x" * 5000))


async def unknown_encoding(council: Council) -> httpx.Response:
    return await post(council, enrol_body("ABCDEFGHJK"), {"Content-Encoding": "br"})


async def body_too_slow(council: Council) -> httpx.Response:
    parts = [{"type": "http.request", "body": b'{"code": ', "more_body": True}]

    async def receive() -> dict[str, Any]:
        if parts:
            return parts.pop()
        await asyncio.Event().wait()  # the rest never comes
        raise AssertionError("unreachable")

    return await raw_asgi(BodyDeadline(council.app, 0.05), receive)


async def client_gone(council: Council) -> httpx.Response:
    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    return await raw_asgi(council.app, receive)


async def server_fault(council: Council) -> httpx.Response:
    council.store.close()  # the database is gone from under the server
    return await post(council, enrol_body("ABCDEFGHJK"))


SCENARIOS: dict[EnrolmentProblem, tuple[int, Scenario]] = {
    P.INVITATION_UNKNOWN: (400, unknown_code),
    P.INVITATION_USED: (400, used_code),
    P.INVITATION_EXPIRED: (400, expired_code),
    P.DEVICE_TAKEN: (409, device_taken),
    P.TOO_MANY_ATTEMPTS: (429, too_many_attempts),
    P.INVALID_REQUEST: (400, field_missing),
    P.UNKNOWN_FIELD: (400, field_unknown),
    P.MALFORMED_JSON: (400, not_json),
    P.MALFORMED_GZIP: (400, not_gzip),
    P.TOO_LARGE: (413, too_large),
    P.UNSUPPORTED_ENCODING: (415, unknown_encoding),
    P.BODY_TIMEOUT: (408, body_too_slow),
    P.CLIENT_DISCONNECTED: (400, client_gone),
    P.INTERNAL_ERROR: (500, server_fault),
}


def answer_to(council: Council, problem: EnrolmentProblem) -> httpx.Response:
    status, scenario = SCENARIOS[problem]
    response = asyncio.run(scenario(council))
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["code"] == problem.value
    return response


def test_every_problem_is_one_the_council_can_answer() -> None:
    """No member is dead: each has a way to bring it about (below)."""
    assert set(SCENARIOS) == set(EnrolmentProblem)


@pytest.mark.parametrize("problem", list(EnrolmentProblem))
def test_the_council_answers_each_problem_in_the_error_shape(
    council: Council, problem: EnrolmentProblem
) -> None:
    body = answer_to(council, problem).json()
    assert body["ok"] is False and set(body) == {"ok", "errors"}


_scalar = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=70)
)
_value = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_key = st.sampled_from(["code", "device_id", "device_name", "enrol_key"]) | st.text(
    max_size=6
)
_json_body = st.dictionaries(_key, _value | st.uuids().map(str), max_size=5).map(
    lambda body: json.dumps(body).encode()
)
_body = _json_body | st.binary(max_size=40) | st.binary(min_size=4090, max_size=4100)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=_body,
    encoding=st.sampled_from(["", "identity", "gzip", "gzip-garbled", "deflate"]),
)
def test_whatever_is_sent_every_error_is_a_member(
    council: Council, body: bytes, encoding: str
) -> None:
    headers: dict[str, str] = {}
    if encoding.startswith("gzip"):
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body)[: -4 if encoding == "gzip-garbled" else None]
    elif encoding:
        headers["Content-Encoding"] = encoding
    response = asyncio.run(post(council, body, headers))
    if response.status_code != 200:
        [error] = response.json()["errors"]
        assert error["code"] in {p.value for p in EnrolmentProblem}


# ---- the device -------------------------------------------------------------


def phone_answered(
    council: Council, tmp_path: Path, answer: httpx.Response
) -> AppState:
    """A phone whose every request gets ``answer`` back."""

    def serve(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if "retry-after" in answer.headers:
            headers["Retry-After"] = answer.headers["retry-after"]
        return httpx.Response(
            answer.status_code, headers=headers, content=answer.content
        )

    def connect(url: str, token: str | None) -> CouncilClient:
        http = httpx.AsyncClient(transport=httpx.MockTransport(serve), base_url=url)
        return CouncilClient(http, token)

    return AppState(
        store.open_db(tmp_path / "phone.sqlite"),
        connect=connect,
        retry=fast_retry,
        clock=council.clock,
    )


def shown_on_enrolment(state: AppState) -> str | None:
    """What the profile screen says under the code after "save"."""
    view = profile_view(state, JA, FakeShell())
    find(view, "name", ft.TextField).value = "Hanako"
    find(view, "server_url", ft.TextField).value = BASE_URL
    find(view, "invite_code", ft.TextField).value = "ABCDE-FGHJK"
    click(find(view, "save", ft.Button))
    assert not state.is_enrolled()
    error = find(view, "invite_code", ft.TextField).error
    assert error is None or isinstance(error, str)
    return error


@pytest.mark.parametrize("problem", list(EnrolmentProblem))
def test_the_profile_screen_explains_each_problem(
    council: Council, tmp_path: Path, problem: EnrolmentProblem
) -> None:
    state = phone_answered(council, tmp_path, answer_to(council, problem))
    assert shown_on_enrolment(state) == JA.enrol_problems[problem]
    assert JA.enrol_problems[problem] != JA.enrol_offline


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (404, b"<html>Not Found</html>"),  # a wrong address: another site
        (400, b'{"ok": false, "errors": [{"code": "new_in_v2", "message": "?"}]}'),
        (502, b"Bad Gateway"),
    ],
    ids=["other-site", "newer-council", "proxy"],
)
def test_an_answer_the_phone_cannot_explain_says_check_the_address(
    council: Council, tmp_path: Path, status: int, content: bytes
) -> None:
    state = phone_answered(council, tmp_path, httpx.Response(status, content=content))
    assert shown_on_enrolment(state) == JA.enrol_offline
