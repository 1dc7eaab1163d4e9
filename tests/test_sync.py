"""Devices syncing through the real server app, in process (httpx.ASGITransport)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Council, assignment_record, enrol_device, visible
from watchapp import store
from watchapp.state import SyncState

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def council(tmp_path: Path) -> Council:
    return Council(tmp_path / "server.sqlite")


async def test_a_visit_reaches_the_coordinator(council: Council, tmp_path: Path) -> None:
    phone = await enrol_device(council, tmp_path, "vol1")
    office = await enrol_device(council, tmp_path, "coord1")
    assert sorted(r.resident.id for r in phone.state.round()) == ["r1", "r2"]
    visit = phone.visit("r1", note="all fine")
    assert phone.state.status().pending == 1
    outcome = await phone.state.sync_now()
    assert outcome.state is SyncState.OK and outcome.report is not None
    assert outcome.report.pushed == 1
    assert phone.state.status().pending == 0
    await office.state.sync_now()
    assert office.db.table("visits").get(visit.id)["note"] == "all fine"
