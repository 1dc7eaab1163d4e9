"""Support for the browser tests: the demo's processes, Chromium, the Flutter UI.

The app draws on a canvas; with Flutter's semantics turned on, the page also
holds an accessibility tree that Playwright can read and tap: buttons are
``role=button`` named by their text, text fields are inputs labelled by their
field label, the navigation bar is a ``tablist``, a snackbar is a ``group``
named by its message. See /work/shared/FLET-WEB.md.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    Playwright,
    Route,
    ViewportSize,
    WebSocket,
    expect,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts" / "browser"

# Debian's chromium, installed by `make chromium`; never a downloaded build.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A phone's width, but tall: every screen the tests look at fits without
# scrolling, even under the snackbar.
VIEWPORT: ViewportSize = {"width": 412, "height": 1200}
TIMEOUT_MS = 15_000  # one step: a tap and the server's answer
TAP_SENT_MS = 3_000  # a tap not sent to the server by then was lost
LOAD_TIMEOUT_MS = 30_000  # the Flutter web client's first frame
START_S = 30.0  # a server process answering HTTP
SEED_S = 180.0  # `watchapp seed`: the 46-district demo city


# ---- processes ------------------------------------------------------------------


def watchapp_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "watchapp", *args]


def start(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start a process in its own process group, its output to ``log_path``."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("DISPLAY", None)  # `watchapp demo` would open a desktop browser
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    """Stop a process and everything it started (its process group).

    ``kill``: at once with SIGKILL, as a crash or a pulled plug would.
    """
    if process.poll() is None:
        for sig in (signal.SIGKILL,) if kill else (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue
    process.wait()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until_up(process: subprocess.Popen[bytes], urls: list[str]) -> bool:
    """True once every URL answers 200; False if the process exits or is slow."""
    deadline = time.monotonic() + START_S
    waiting = list(urls)
    while time.monotonic() < deadline and process.poll() is None:
        waiting = [u for u in waiting if not answers(u)]
        if not waiting:
            return True
        time.sleep(0.1)
    return False


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free right now (bound together, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def seed_council(db: Path, log_path: Path) -> Path:
    """`watchapp seed`: the demo city in a council database, to copy per test."""
    with log_path.open("wb") as log:
        done = subprocess.run(
            watchapp_argv("seed", "--db", str(db)),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=SEED_S,
            check=False,
        )
    if done.returncode != 0:
        pytest.fail(
            f"`watchapp seed` failed ({done.returncode}):\n{log_path.read_text()}",
            pytrace=False,
        )
    return db


INVITATION_LINE = r"^\s*{role}\s+(\S+)\s+\((.+)\)\s*$"
VOLUNTEER_LINE = re.compile(INVITATION_LINE.format(role="volunteer"), re.MULTILINE)
COORDINATOR_LINE = re.compile(INVITATION_LINE.format(role="coordinator"), re.MULTILINE)


@dataclass
class Invitation:
    code: str
    name: str


class Demo:
    """The demo's processes over one data folder, on two ports kept for good.

    ``start()`` runs `watchapp demo` (council server + app). ``go_offline()``
    stops it and serves the same device file with `watchapp app` alone, so the
    council is unreachable, as when a phone has no signal; ``council_back()``
    starts `watchapp server` on the council's port again.
    Each process writes ``<command>-<n>.log`` in ``logs``.
    """

    def __init__(self, folder: Path, logs: Path, council_template: Path) -> None:
        self.folder = folder
        self.logs = logs
        self.council_template = council_template
        self.app_port = 0
        self.server_port = 0
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.log_paths: list[Path] = []
        self.coordinator: Invitation | None = None  # printed by start()

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}/"

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def council_db(self) -> Path:
        return self.folder / "council.sqlite"

    def _run(
        self, command: str, *args: str, probe: list[str], new_ports: bool = False
    ) -> Path:
        """Start `watchapp <command>`, wait until ``probe`` answers.

        ``new_ports``: raise PortTaken if a port was taken, to try others.
        """
        log_path = self.logs / f"{command}-{len(self.log_paths) + 1}.log"
        self.log_paths.append(log_path)
        process = start(watchapp_argv(command, *args, "--host", "127.0.0.1"), log_path)
        self.processes[command] = process
        if not wait_until_up(process, probe):
            code = process.poll()
            stop(process)
            log = log_path.read_text(encoding="utf-8", errors="replace")
            taken = "address already in use" in log.lower()
            if new_ports and code is not None and taken:
                raise PortTaken(log)
            why = f"exited with code {code}" if code is not None else "did not answer"
            pytest.fail(
                f"`watchapp {command}` {why} at {probe} (its output: {log_path})"
                f"\n{log}",
                pytrace=False,
            )
        return log_path

    def start(self) -> Invitation:
        """`watchapp demo`; returns the volunteer's invitation it printed.

        The first start picks free ports (others if one is taken before the
        demo binds it); a later start keeps them, so the browser's origin, and
        with it the device key in its storage, stays the same.
        """
        if not self.council_db.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.council_template, self.council_db)
        fresh = not self.app_port
        for _attempt in range(3 if fresh else 1):
            if fresh:
                self.app_port, self.server_port = free_ports(2)
            try:
                log_path = self._run(
                    "demo",
                    *("--data", str(self.folder), "--port", str(self.app_port)),
                    *("--server-port", str(self.server_port)),
                    probe=[self.app_url, self.server_url + "/openapi.json"],
                    new_ports=fresh,
                )
                break
            except PortTaken:
                continue
        else:
            pytest.fail("`watchapp demo` found no free ports", pytrace=False)
        printed = log_path.read_text(encoding="utf-8")
        found = VOLUNTEER_LINE.search(printed)
        assert found, f"no volunteer invitation in {log_path}"
        coordinator = COORDINATOR_LINE.search(printed)
        assert coordinator, f"no coordinator invitation in {log_path}"
        self.coordinator = Invitation(code=coordinator[1], name=coordinator[2])
        return Invitation(code=found[1], name=found[2])

    def device_db(self) -> Path:
        """The one device file the demo made (one browser profile enrolled)."""
        files = sorted((self.folder / "devices").glob("*.sqlite"))
        assert len(files) == 1, files
        return files[0]

    def go_offline(self) -> None:
        """The council goes away; the same device stays served on the app port.

        The demo process is killed outright (the device file must survive
        that too); `watchapp app` then serves the device file alone.
        """
        stop(self.processes.pop("demo"), kill=True)
        self._run(
            "app",
            *("--db", str(self.device_db()), "--port", str(self.app_port)),
            *("--server-url", self.server_url),
            probe=[self.app_url],
        )

    def council_back(self) -> None:
        self._run(
            "server",
            *("--db", str(self.council_db), "--port", str(self.server_port)),
            probe=[self.server_url + "/openapi.json"],
        )

    def close(self) -> None:
        """Stop every process; print their output (pytest shows it on failure)."""
        for process in self.processes.values():
            stop(process)
        self.processes.clear()
        for log_path in self.log_paths:
            print(f"---- {log_path} ----")
            print(log_path.read_text(encoding="utf-8", errors="replace"))


class PortTaken(Exception):
    """A server could not bind its port."""


# ---- Chromium ------------------------------------------------------------------


def chromium_missing() -> str | None:
    """Why Chromium cannot be used, or None."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    return (
        f"Chromium is missing at {CHROMIUM}: the browser tests drive Debian's "
        "chromium. Install it with `make chromium` (`make test` does that) "
        "or `sudo apt-get install chromium`; do not run `playwright install`."
    )


def launch_chromium(playwright: Playwright) -> Browser:
    missing = chromium_missing()
    if missing:
        pytest.fail(missing, pytrace=False)
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=LOAD_TIMEOUT_MS
    )


LOCAL_PREFIXES = ("http://127.0.0.1:", "http://127.0.0.1/", "blob:", "data:")

# Flutter draws a frame in a requestAnimationFrame callback and asks for none
# while nothing moves. Noting when it last asked lets a screenshot wait for the
# screen to settle (page transitions, ink splashes, a new frame after typing).
FRAME_WATCH = """
(() => {
  const raf = window.requestAnimationFrame.bind(window);
  window.__lastFrameAt = performance.now();
  window.requestAnimationFrame = (callback) => {
    window.__lastFrameAt = performance.now();
    return raf((t) => {
      window.__lastFrameAt = performance.now();
      return callback(t);
    });
  };
})();
"""
SETTLED_MS = 250  # no frame for this long: nothing is animating

# Flet's wire format (msgpack, flet 1.0.5): a tap reaching the server is an
# event frame whose "name" is "click" (a button, a card) or "change" (a tab).
TAP_EVENTS = (b"\xa4name\xa5click", b"\xa4name\xa6change")


def is_tap_event(payload: str | bytes) -> bool:
    return isinstance(payload, bytes) and any(e in payload for e in TAP_EVENTS)


# ---- one tab on the app ------------------------------------------------------------


@dataclass
class App:
    """One browser tab (its own profile: its own device) on the app.

    Writes a numbered screenshot per step, the console and the requests it
    blocked (anything not on 127.0.0.1) to ``shots``.
    """

    page: Page
    shots: Path
    blocked: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    sockets: list[WebSocket] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    _step: int = 0
    _t0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.page.set_default_timeout(TIMEOUT_MS)
        self.page.add_init_script(FRAME_WATCH)
        self.page.route("**/*", self._local_only)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("websocket", lambda ws: self.sockets.append(ws))

    def _local_only(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(LOCAL_PREFIXES):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    # -- loading

    def open(self, url: str) -> None:
        self.page.goto(url)
        self._ready()

    def reload(self) -> None:
        self.page.reload()
        self._ready()

    def _ready(self) -> None:
        """Wait for the first frame, then turn on Flutter's semantics tree."""
        self.page.wait_for_function(
            "() => !document.getElementById('loading')", timeout=LOAD_TIMEOUT_MS
        )
        self.page.locator("flt-semantics-placeholder").dispatch_event("click")
        expect(self.page.locator("flt-semantics").first).to_be_attached(
            timeout=LOAD_TIMEOUT_MS
        )

    # -- finding things (in the semantics tree, not Flutter's live announcements)

    @property
    def ui(self) -> Locator:
        return self.page.locator("flt-semantics-host")

    @property
    def status(self) -> Locator:
        """The status line's first line (未送信 … ・ …同期…), on every screen."""
        return self.ui.get_by_text(re.compile("未送信"))

    def text(self, value: str | re.Pattern[str]) -> Locator:
        """Text on the screen, not a tab's label in the navigation bar: a
        screen's title says what its tab says, and the tab's label is at
        times a text node of its own (two matches: the test failed)."""
        outside_tabs = self.ui.locator(
            "xpath=//*[not(ancestor-or-self::*[@role='tab'])]"
        )
        return self.ui.get_by_text(value, exact=isinstance(value, str)).and_(
            outside_tabs
        )

    def button(self, name: str) -> Locator:
        return self.ui.get_by_role("button", name=name, exact=True)

    def tab(self, name: str) -> Locator:
        return self.ui.get_by_role("tab", name=name, exact=True)

    def field(self, label: str) -> Locator:
        return self.ui.get_by_role("textbox", name=label, exact=True)

    def snackbar(self, message: str) -> Locator:
        """A snackbar: a group named by its message if it has an action."""
        return self.ui.get_by_role("group", name=message, exact=True).or_(
            self.ui.get_by_text(message, exact=True)
        )

    @property
    def cards(self) -> Locator:
        """The round's resident cards (or わたしの記録's rows), top first."""
        return self.ui.get_by_role("button", name=re.compile("さん"))

    def card(self, name: str) -> Locator:
        """The round card of resident ``name`` (without さん)."""
        return self.ui.get_by_role(
            "button", name=re.compile("^" + re.escape(name) + "さん")
        )

    # -- acting

    def tap(self, target: Locator, *, answered: bool = False) -> None:
        """Tap ``target``; again if the tap never reached the server.

        A sync in the background re-renders the page it ends on: every
        semantics node is replaced, and a tap landing on an old node in that
        moment is dropped by Flutter. A tap that arrives is a websocket frame
        with a click (or change) event in it, so wait for that frame, and tap
        again only if none was sent (nothing happened: safe even for a save).
        ``answered``: also wait for the server's answer to the tap (when the
        accessibility tree shows no change, e.g. a choice button's colour).
        """
        for _attempt in range(3):
            ws = self.sockets[-1]  # this page load's connection
            clicked = False
            try:
                with (
                    ws.expect_event("framereceived") if answered else nullcontext(),
                    ws.expect_event(
                        "framesent", predicate=is_tap_event, timeout=TAP_SENT_MS
                    ),
                ):
                    target.click()
                    clicked = True
                return
            except PlaywrightTimeoutError:
                if not clicked:
                    raise
        raise AssertionError(f"three taps on {target} never reached the server")

    def type_into(self, field: Locator, text: str) -> None:
        """Type into a text field, as reliably as Flutter allows.

        Flutter takes the focused input over a frame or so after the browser
        focuses it, and writes its own (empty) text into it then: text filled
        before that is lost. So: tap, wait for focus and for Flutter to settle,
        fill, and check the text stayed; once more if it did not.
        """
        for _attempt in range(3):
            field.click()
            expect(field).to_be_focused()
            self.settle()
            field.fill(text)
            try:
                expect(field).to_have_value(text, timeout=2_000)
                self.settle()
                expect(field).to_have_value(text, timeout=1_000)
                return
            except AssertionError:
                continue
        expect(field).to_have_value(text)

    # -- evidence

    def settle(self) -> None:
        """Wait until Flutter has drawn its last frame (animations finished)."""
        self.page.wait_for_function(
            f"() => performance.now() - window.__lastFrameAt > {SETTLED_MS}",
            polling=50,
        )

    def shot(self, step: str, *, settle: bool = True) -> Path:
        """Screenshot the (settled) screen as <nn>-<step>.png."""
        if settle:
            self.settle()
        self._step += 1
        path = self.shots / f"{self._step:02d}-{step}.png"
        self.page.screenshot(path=path)
        self.steps.append(f"{time.monotonic() - self._t0:6.1f} s  {path.name}")
        return path

    def save_logs(self) -> None:
        (self.shots / "console.log").write_text(
            "\n".join(self.console) + "\n", encoding="utf-8"
        )
        (self.shots / "steps.log").write_text(
            "\n".join(self.steps) + "\n", encoding="utf-8"
        )
        (self.shots / "blocked.log").write_text(
            "\n".join(self.blocked) + "\n", encoding="utf-8"
        )
