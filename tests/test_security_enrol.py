"""Enrolment probed as an attacker would (issue 8, points 2 and 4).

- A used code is no credential: with it and a device id (every record that
  device writes carries it as ``origin``), nobody re-enrols the device or
  logs the real phone out. Only the request itself, sent again with its
  secret ``enrol_key`` within minutes and before the token was used, gets
  its lost answer back: the same token.
- Device ids have one spelling.
- The enrolment limiter counts before the code is checked, in the database
  (so concurrent requests and several server processes share it), believes
  X-Forwarded-For only from configured proxies, lets one person's typos lock
  out only their own phone, and stays small under a flood of addresses.

In process through httpx.ASGITransport (which can say which address a
request comes from), and over real sockets against ``watchapp server``
processes where concurrency matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import BASE_URL, Council, Stores, stored_rows
from tests.test_server import assert_error
from watchapp.server import create_app
from watchapp.server.auth import digest, new_code
from watchapp.server.enrol import RETRY_SECONDS
from watchapp.server.limiter import EnrolmentLimiter, client_address, parse_proxies
from watchapp.server.store import open_store
from watchapp.sync.protocol import API

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
PEER = ("198.51.100.20", 50000)  # the community centre's one NAT address


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def new_key() -> str:
    return secrets.token_urlsafe(32)


def enrol_body(
    code: str, device_id: str, key: str | None = None, name: str = "Hanako's phone"
) -> dict[str, Any]:
    body = {"code": code, "device_id": device_id, "device_name": name}
    if key is not None:
        body["enrol_key"] = key
    return body


class Line:
    """HTTP to one app from one peer address."""

    def __init__(self, app: Any, peer: tuple[str, int] = PEER) -> None:
        transport = httpx.ASGITransport(app=app, client=peer)
        self.http = httpx.AsyncClient(transport=transport, base_url=BASE_URL)

    async def enrol(
        self,
        code: str,
        device_id: str | None = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = enrol_body(code, device_id or str(uuid.uuid4()), key)
        return await self.http.post(f"{API}/enrol", json=body, headers=headers)

    async def me(self, token: str) -> httpx.Response:
        return await self.http.get(
            f"{API}/me", headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture
def council(stores: Stores, tmp_path: Path) -> Iterator[Council]:
    council = stores.council(tmp_path / "server.sqlite")
    yield council
    council.close()


@pytest.fixture
async def line(council: Council, anyio_backend: str) -> AsyncIterator[Line]:
    line = Line(council.app)
    yield line
    await line.http.aclose()


def from_peer(council: Council, host: str, **kw: Any) -> Line:
    """A line from another address, to an app over the same store."""
    return Line(create_app(council.store, clock=council.clock, **kw), (host, 1))


def attempts_stored(council: Council) -> int:
    return sum(table == "enrolment_attempts" for table, _ in stored_rows(council))


# ---- 2. a used code is not a credential ------------------------------------


@pytest.mark.parametrize("attacker_key", [None, "wrong"], ids=["no-key", "own-key"])
@pytest.mark.parametrize("phone_key", [False, True], ids=["phone-none", "phone-key"])
async def test_a_used_code_and_the_device_id_do_not_log_the_phone_out(
    line: Line, council: Council, attacker_key: str | None, phone_key: bool
) -> None:
    code, device_id = council.invite("vol1"), str(uuid.uuid4())
    first = await line.enrol(code, device_id, new_key() if phone_key else None)
    assert first.status_code == 200, first.text
    token = first.json()["token"]
    # At once, before the phone has used its token, and later.
    for wait in (0, 3600):
        council.clock.advance(wait)
        key = new_key() if attacker_key else None
        assert_error(
            await line.enrol(code, device_id, key), 400, "invitation_used", "code"
        )
        assert_error(
            await line.enrol(code.lower(), device_id), 400, "invitation_used", "code"
        )
        assert (await line.me(token)).status_code == 200


async def test_a_lost_answer_is_got_again_with_the_same_key(
    line: Line, council: Council
) -> None:
    code, device_id, key = council.invite("vol2"), str(uuid.uuid4()), new_key()
    first = await line.enrol(code, device_id, key)
    assert first.status_code == 200, first.text  # ...and lost on the way
    council.clock.advance(RETRY_SECONDS - 1)
    again = await line.enrol(code, device_id, key)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert (await line.me(again.json()["token"])).json()["user"]["id"] == "vol2"
    assert council.store.device_ids("vol2") == [device_id]


@pytest.mark.parametrize(
    "case",
    [
        "wrong-key",
        "other-device",
        "after-the-window",
        "token-used",
        "device-revoked",
        "another-users-code",
        "key-only-on-retry",
    ],
)
async def test_a_retry_is_honoured_only_for_the_request_itself(
    line: Line, council: Council, case: str
) -> None:
    code, device_id, key = council.invite("vol1"), str(uuid.uuid4()), new_key()
    first = await line.enrol(
        code, device_id, None if case == "key-only-on-retry" else key
    )
    assert first.status_code == 200, first.text
    token = first.json()["token"]
    retry = {"code": code, "device_id": device_id, "key": key}
    if case == "wrong-key":
        retry["key"] = new_key()
    elif case == "other-device":
        retry["device_id"] = str(uuid.uuid4())
    elif case == "after-the-window":
        council.clock.advance(RETRY_SECONDS + 1)
    elif case == "token-used":
        assert (await line.me(token)).status_code == 200
    elif case == "device-revoked":
        assert council.store.revoke_device(device_id, now=council.clock())
    elif case == "another-users-code":
        other = council.invite("vol2")
        assert (await line.enrol(other, None, new_key())).status_code == 200
        retry["code"] = other
    answer = await line.enrol(retry["code"], retry["device_id"], retry["key"])
    assert_error(answer, 400, "invitation_used", "code")
    me = await line.me(token)
    assert me.status_code == (401 if case == "device-revoked" else 200), me.text


async def test_a_retry_after_the_first_use_started_is_refused_for_good(
    line: Line, council: Council
) -> None:
    """The first use is written once: a second one, or the app restarting,
    does not reopen the window."""
    code, device_id, key = council.invite("vol1"), str(uuid.uuid4()), new_key()
    token = (await line.enrol(code, device_id, key)).json()["token"]
    for _ in range(2):
        assert (await line.me(token)).status_code == 200
    again = Line(create_app(council.store, clock=council.clock))
    assert_error(
        await again.enrol(code, device_id, key), 400, "invitation_used", "code"
    )


@pytest.mark.parametrize(
    "key",
    ["short", "x" * 42, "x" * 129, "has space" + "x" * 40, "é" * 43, 12345, ""],
)
async def test_a_bad_enrol_key_is_refused_and_spends_nothing(
    line: Line, council: Council, key: Any
) -> None:
    code = council.invite("vol1")
    body = enrol_body(code, str(uuid.uuid4()))
    body["enrol_key"] = key
    response = await line.http.post(f"{API}/enrol", json=body)
    assert_error(response, 400, "invalid_request", "enrol_key")
    assert (await line.enrol(code, None, new_key())).status_code == 200


def other_spellings(value: uuid.UUID) -> list[str]:
    canonical = str(value)
    return [
        "{" + canonical + "}",
        f"urn:uuid:{canonical}",
        value.hex,
        canonical.upper(),
        "{" + value.hex.upper() + "}",
        f" {canonical}",
    ]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.uuids())
async def test_a_device_id_has_one_spelling(
    line: Line, council: Council, value: uuid.UUID
) -> None:
    code = council.invite("vol1")
    for spelling in other_spellings(value):
        refused = await line.enrol(code, spelling)
        assert_error(refused, 400, "invalid_request", "device_id")
    assert council.store.device_ids("vol1") == []


async def test_a_device_enrolled_once_is_taken_in_every_spelling(
    line: Line, council: Council
) -> None:
    """Found: ``{uuid}``, ``urn:uuid:`` and hyphen-less forms were three devices."""
    value = uuid.uuid4()
    assert (await line.enrol(council.invite("vol1"), str(value))).status_code == 200
    for spelling in other_spellings(value):
        refused = await line.enrol(council.invite("vol2"), spelling)
        assert refused.status_code == 400, refused.text
    assert council.store.device_ids("vol2") == []
    taken = await line.enrol(council.invite("vol2"), str(value))
    assert_error(taken, 409, "device_taken", "code")


# ---- 4. the limiter, in process ----------------------------------------------


async def test_one_persons_typos_do_not_lock_out_the_room(
    line: Line, council: Council
) -> None:
    """Found: after a lockout a valid code from the same address was refused.
    Volunteers enrol together from one community centre Wi-Fi."""
    limits = council.limiter
    typist = str(uuid.uuid4())
    for attempt in range(limits.per_device):
        wrong = await line.enrol(f"WRONGCODE{attempt}", typist)
        assert_error(wrong, 400, "invitation_unknown", "code")
    assert_error(
        await line.enrol(council.invite("vol1"), typist), 429, "too_many_attempts"
    )
    # Everybody else in the room, each with their own code.
    for user in ("vol2", "vol3", "org1", "coord1", "admin1", "vol1", "vol2"):
        response = await line.enrol(council.invite(user))
        assert response.status_code == 200, response.text


async def test_a_guesser_who_makes_up_device_ids_is_stopped_per_address(
    line: Line, council: Council
) -> None:
    limits = council.limiter
    for attempt in range(limits.per_address):
        assert (await line.enrol(f"WRONGCODE{attempt}")).status_code == 400
    refused = await line.enrol(council.invite("vol1"))
    assert_error(refused, 429, "too_many_attempts")
    assert 1 <= int(refused.headers["retry-after"]) <= limits.window
    elsewhere = from_peer(council, "203.0.113.9")
    assert (await elsewhere.enrol(council.invite("vol1"))).status_code == 200
    council.clock.advance(limits.window)
    assert (await line.enrol(council.invite("vol1"))).status_code == 200


async def test_a_right_code_gives_its_attempt_back(
    line: Line, council: Council
) -> None:
    """40 volunteers at one address, more than the address's limit."""
    typist = str(uuid.uuid4())
    for _ in range(council.limiter.per_device - 1):
        assert (await line.enrol("WRONGCODE1", typist)).status_code == 400
    assert (await line.enrol(council.invite("vol1"), typist)).status_code == 200
    for _ in range(council.limiter.per_address + 10):
        assert (await line.enrol(council.invite("vol2"))).status_code == 200
    assert attempts_stored(council) == 3  # the typist's, kept


async def test_a_spoofed_forwarded_for_is_not_believed_from_an_unknown_peer(
    council: Council,
) -> None:
    line = from_peer(council, "127.0.0.1")
    for attempt in range(council.limiter.per_address):
        spoof = {"X-Forwarded-For": f"192.0.2.{attempt}"}
        assert (
            await line.enrol(f"WRONGCODE{attempt}", headers=spoof)
        ).status_code == 400
    spoof = {"X-Forwarded-For": "192.0.2.200"}
    assert_error(await line.enrol("WRONGCODE", headers=spoof), 429, "too_many_attempts")


@pytest.mark.parametrize(
    "forwarded",
    [
        "{spoof}, 203.0.113.5",
        "{spoof},203.0.113.5, 10.0.0.2",  # two proxies deep
        "{spoof}, [::ffff:203.0.113.5]:4711, 10.0.0.3",
    ],
)
async def test_behind_a_trusted_proxy_the_right_most_other_address_counts(
    council: Council, forwarded: str
) -> None:
    proxy = from_peer(council, "10.0.0.1", trusted_proxies=["10.0.0.0/24"])
    for attempt in range(council.limiter.per_address):
        spoof = {"X-Forwarded-For": forwarded.format(spoof=f"192.0.2.{attempt}")}
        assert (
            await proxy.enrol(f"WRONGCODE{attempt}", headers=spoof)
        ).status_code == 400
    spoof = {"X-Forwarded-For": forwarded.format(spoof="192.0.2.250")}
    assert_error(
        await proxy.enrol("WRONGCODE", headers=spoof), 429, "too_many_attempts"
    )
    neighbour = {"X-Forwarded-For": "203.0.113.6"}
    response = await proxy.enrol(council.invite("vol1"), headers=neighbour)
    assert response.status_code == 200, response.text


async def test_a_huge_forwarded_for_header_is_read_from_its_end(
    council: Council,
) -> None:
    proxy = from_peer(council, "10.0.0.1", trusted_proxies=["10.0.0.1"])
    junk = ", ".join(f"192.0.2.{i % 250}" for i in range(50_000))
    for attempt in range(council.limiter.per_address):
        headers = {"X-Forwarded-For": f"{junk}, not-an-ip, 203.0.113.{attempt}"}
        assert (
            await proxy.enrol(f"WRONGCODE{attempt}", headers=headers)
        ).status_code == 400
    # Each was counted against its own right-most address, none against the proxy.
    direct = await proxy.enrol(council.invite("vol1"))
    assert direct.status_code == 200, direct.text


async def test_ipv6_clients_count_per_64_block(council: Council) -> None:
    """An IPv6 subscriber picks any address in its /64 at will."""
    for attempt in range(council.limiter.per_address):
        host = f"2001:db8:1:2:{attempt:x}::{attempt + 1:x}"
        line = from_peer(council, host)
        assert (await line.enrol(f"WRONGCODE{attempt}")).status_code == 400
    same_block = from_peer(council, "2001:db8:1:2:ffff::1")
    assert_error(
        await same_block.enrol(council.invite("vol1")), 429, "too_many_attempts"
    )
    next_block = from_peer(council, "2001:db8:1:3::1")
    assert (await next_block.enrol(council.invite("vol1"))).status_code == 200


async def test_a_flood_of_addresses_meets_the_overall_budget_and_stays_small(
    stores: Stores, tmp_path: Path
) -> None:
    """Found: the failure table grew with every spoofed address."""
    limiter = EnrolmentLimiter(overall=50, trusted_proxies=parse_proxies(["10.0.0.1"]))
    council = stores.council(tmp_path / "flood.sqlite", limiter=limiter)
    proxy = Line(council.app, ("10.0.0.1", 1))
    answers: Counter[int] = Counter()
    for attempt in range(200):
        headers = {"X-Forwarded-For": f"198.18.{attempt // 250}.{attempt % 250}"}
        answers[(await proxy.enrol("WRONGCODE", headers=headers)).status_code] += 1
    assert answers == {400: 50, 429: 150}
    assert attempts_stored(council) <= 1 + 2 * limiter.overall
    council.clock.advance(limiter.window)
    response = await proxy.enrol(council.invite("vol1"))
    assert response.status_code == 200, response.text
    assert attempts_stored(council) == 0  # the old windows went
    council.close()


# ---- the address, as a pure function ------------------------------------------

ip4 = st.ip_addresses(v=4).map(str)
TRUSTED = parse_proxies(["10.0.0.0/8", "fd00::/8"])
proxies = st.lists(
    st.one_of(
        st.integers(1, 2**24 - 2).map(
            lambda n: f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
        ),
        st.integers(1, 2**64).map(lambda n: f"fd00::{n & 0xFFFF:x}"),
    ),
    max_size=4,
)


@given(
    client=ip4.filter(lambda a: not a.startswith("10.")),
    spoofed=st.lists(st.text(max_size=20).filter(lambda t: "," not in t), max_size=5),
    hops=proxies,
)
def test_the_client_is_the_right_most_untrusted_address(
    client: str, spoofed: list[str], hops: list[str]
) -> None:
    """Whatever the client wrote at the left, and however many trusted
    proxies passed the request on."""
    chain = [*spoofed, client, *hops]
    peer, forwarded = chain[-1], chain[:-1]
    header = [", ".join(forwarded)] if forwarded else []
    assert client_address(peer, header, TRUSTED) == client


# ---- over real sockets: watchapp server processes ------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def invite_now(db: Path | str, user: str, count: int = 1) -> list[str]:
    """Codes valid now by the real clock, which the servers below run on."""
    store = open_store(db)
    try:
        codes = [new_code() for _ in range(count)]
        now = datetime.now(UTC)
        for code in codes:
            store.create_invitation(
                user_id=user,
                code_hash=digest(code),
                now=now,
                expires_at=now + timedelta(hours=1),
            )
        return codes
    finally:
        store.close()


@contextlib.contextmanager
def watchapp_server(db: Path | str, log: Path, *options: str) -> Iterator[str]:
    """``watchapp server`` in a process of its own; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "watchapp", "server", "--db", str(db)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), *options],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}{API}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wrong_codes_at_once(
    urls: list[str], count: int, headers: Any = lambda i: {}
) -> Counter[str]:
    """``count`` wrong codes at once, spread over ``urls``: each answer's code."""
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def one(i: int) -> str:
            response = await http.post(
                f"{urls[i % len(urls)]}{API}/enrol",
                json=enrol_body(f"WRONGCODE{i:02}", str(uuid.uuid4())),
                headers=headers(i),
            )
            return str(response.json()["errors"][0]["code"])

        return Counter(await asyncio.gather(*(one(i) for i in range(count))))


@pytest.fixture
def world(stores: Stores, tmp_path: Path) -> Iterator[Path | str]:
    """A council's store for ``watchapp server`` processes to open."""
    where, release = stores.where(tmp_path / "council.sqlite")
    Council(where).store.close()
    yield where
    release()


async def test_100_wrong_codes_at_once_meet_the_limit(
    world: Path | str, tmp_path: Path
) -> None:
    limits = EnrolmentLimiter()
    with watchapp_server(world, tmp_path / "server.log") as url:
        answers = await wrong_codes_at_once([url], 100)
    assert answers == {
        "invitation_unknown": limits.per_address,
        "too_many_attempts": 100 - limits.per_address,
    }


async def test_a_spoofed_forwarded_for_from_localhost_is_not_believed(
    world: Path | str, tmp_path: Path
) -> None:
    """Found: uvicorn believes X-Forwarded-For from 127.0.0.1 by default."""
    limits = EnrolmentLimiter()
    with watchapp_server(world, tmp_path / "server.log") as url:
        answers = await wrong_codes_at_once(
            [url], 60, lambda i: {"X-Forwarded-For": f"192.0.2.{i}"}
        )
    assert answers["invitation_unknown"] == limits.per_address


async def test_servers_on_one_database_share_the_limit(
    world: Path | str, tmp_path: Path
) -> None:
    limits = EnrolmentLimiter()
    [code] = invite_now(world, "vol1")
    with (
        watchapp_server(world, tmp_path / "a.log") as a,
        watchapp_server(world, tmp_path / "b.log") as b,
    ):
        answers = await wrong_codes_at_once([a, b], 60)
        assert answers["invitation_unknown"] == limits.per_address
        async with httpx.AsyncClient(base_url=b) as http:
            late = await http.post(
                f"{API}/enrol", json=enrol_body(code, str(uuid.uuid4()))
            )
    assert_error(late, 429, "too_many_attempts")


async def test_a_configured_proxy_is_believed_over_sockets(
    world: Path | str, tmp_path: Path
) -> None:
    [code] = invite_now(world, "vol1")
    with watchapp_server(
        world, tmp_path / "server.log", "--trusted-proxy", "127.0.0.1"
    ) as url:
        answers = await wrong_codes_at_once(
            [url], 40, lambda i: {"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.5"}
        )
        assert answers["invitation_unknown"] == EnrolmentLimiter().per_address
        async with httpx.AsyncClient(base_url=url) as http:
            neighbour = await http.post(
                f"{API}/enrol",
                json=enrol_body(code, str(uuid.uuid4())),
                headers={"X-Forwarded-For": "203.0.113.6"},
            )
    assert neighbour.status_code == 200, neighbour.text


def test_a_bad_trusted_proxy_is_refused_by_the_command_line(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "watchapp", "server", "--db", str(tmp_path / "x.db")]
        + ["--trusted-proxy", "proxy.example"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "not an IP address or network: 'proxy.example'" in run.stderr
