"""Fixtures for the browser tests: the example app under gunicorn, and a real Chromium.

The browser is Debian's ``/usr/bin/chromium`` (``bash tests/e2e/install-browser.sh``
installs it), driven by Playwright; Playwright's own browser downloads are never used.
Without it the tests skip, and fail when ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.error
import urllib.request
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Flags that let Chromium run headless as root in a container, and keep it off the network.
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
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: Upper bound of every wait in these tests, in seconds.
WAIT = 15
# Settings of the demo app that would point it elsewhere than its own SQLite file.
_DEMO_OVERRIDES = ("DEMO_DATABASE_URL", "DEMO_REDIS_URL", "DEMO_EXTENSION", "DEMO_SECRET_KEY", "DEMO_SETUP",
                   "DEMO_IDLE_TIMEOUT")
# The screenshot folders of this run, listed at the end of the terminal report.
_FOLDERS = pytest.StashKey[list[Path]]()


def _unavailable(message: str) -> t.NoReturn:
    """Skip locally; in CI a missing browser is a failure, not a silent skip."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(reason=message)


@pytest.fixture(scope="session")
def playwright_driver() -> t.Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> t.Iterator[Browser]:
    """Headless system Chromium; each test opens its own contexts (one per user)."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing: run `bash tests/e2e/install-browser.sh` as root")
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=WAIT * 1000)
    yield browser
    browser.close()


def _demo_env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _DEMO_OVERRIDES}
    env["DEMO_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Path]:
    """Where the demo's data directories go: in memory when possible.

    The demo keeps its database in SQLite, whose fsync on every commit makes set-up and
    each login several times slower on a busy disk than on tmpfs.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("demo")
        return
    root = Path(tempfile.mkdtemp(prefix="session-epoch-e2e-", dir=shm))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def demo_template(demo_root: Path) -> Path:
    """A data directory after ``python demo_app.py init``: database, secret key, users."""
    data_dir = demo_root / "template"
    data_dir.mkdir()
    done = subprocess.run(
        [sys.executable, "demo_app.py", "init"],
        check=False,  # the return code is reported with the output below
        cwd=EXAMPLES,
        env=_demo_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        pytest.fail(f"demo_app.py init failed ({done.returncode}):\n{done.stdout}{done.stderr}", pytrace=False)
    return data_dir


class LiveServer:
    """The example app served by gunicorn on a free local port."""

    def __init__(self, data_dir: Path, log_path: Path, extra_env: t.Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_env = dict(extra_env or {})
        self.log_path = log_path
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{self.port}"]
        if _gunicorn_has_control_socket():
            # gunicorn >= 25.1 opens ~/.gunicorn/gunicorn.ctl, shared by every server of the user.
            command.append("--no-control-socket")
        command.append("demo_app:create_app()")
        env = {**_demo_env(self.data_dir), **self.extra_env, "DEMO_SETUP": "0"}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=EXAMPLES, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy for 127.0.0.1
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}", pytrace=False)
            try:
                with direct.open(f"{self.url}/login/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        pytest.fail(f"gunicorn did not answer on {self.url} within {WAIT}s:\n{self.log_tail()}", pytrace=False)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)  # gunicorn's quick shutdown, workers included
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=WAIT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gunicorn_has_control_socket() -> bool:
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except ImportError:
        _unavailable("gunicorn is not installed: pip install -e '.[test]'")
    return any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)


@pytest.fixture
def live_server(
    demo_template: Path, demo_root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> t.Iterator[LiveServer]:
    """A fresh copy of the initialised demo data, served by ``gunicorn -w 2`` for one test."""
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=demo_root))
    shutil.copytree(demo_template, data_dir, dirs_exist_ok=True)
    marker = request.node.get_closest_marker("demo_env")  # @pytest.mark.demo_env(DEMO_IDLE_TIMEOUT="60")
    server = LiveServer(data_dir, tmp_path / "gunicorn.log", marker.kwargs if marker else None)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(f"gunicorn log ({server.log_path}):\n{server.log_tail()}")


class Screenshots:
    """Numbered PNGs of a test's key steps in ``artifacts/screenshots/<test name>/``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def __call__(self, page: Page, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Screenshots:
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)  # only this run's steps, none left from an older one
    folder.mkdir(parents=True)
    print(f"screenshots: {folder}")
    request.config.stash.setdefault(_FOLDERS, []).append(folder)
    return Screenshots(folder)


@pytest.fixture
def open_page(
    browser: Browser, live_server: LiveServer, screenshot: Screenshots, request: pytest.FixtureRequest
) -> t.Iterator[t.Callable[[str], Page]]:
    """Open a page in a new browser context (its own cookies: one user) on the live server."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT * 1000)
    opened: dict[str, Page] = {}

    def open_page(who: str) -> Page:
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(WAIT * 1000)
        context.set_default_navigation_timeout(WAIT * 1000)
        opened[who] = page = context.new_page()
        return page

    yield open_page
    report = getattr(request.node, "rep_call", None)
    for who, page in opened.items():
        if report is not None and report.failed and not page.is_closed():
            screenshot(page, f"failed-{who}")
        page.context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> t.Generator[None, pytest.TestReport, pytest.TestReport]:
    # Fixtures look at the outcome of the test body to save a failure screenshot and log.
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


def pytest_terminal_summary(terminalreporter: t.Any, config: pytest.Config) -> None:
    folders = config.stash.get(_FOLDERS, [])
    if folders:
        terminalreporter.section("browser screenshots")
        for folder in folders:
            terminalreporter.write_line(str(folder.relative_to(ROOT)))
