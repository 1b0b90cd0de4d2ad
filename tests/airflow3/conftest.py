"""Fixtures that run flask-session-epoch inside a real Apache Airflow 3 with the FAB auth manager.

The metadata database (SQLite) is prepared once per session with Airflow's own CLI
(``airflow db migrate``, ``airflow session-epoch db upgrade``, ``airflow users create``),
and one ``airflow api-server`` with two workers serves every test on 127.0.0.1.
Each test signs in as users of its own, created through the FAB provider's REST API.
Nothing here imports Airflow: ``test_airflow.py`` decides whether a missing Airflow is
a skip or an error.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
AUTH_MANAGER = "flask_session_epoch.airflow.SessionEpochFabAuthManager"
PLAIN_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
ADMIN = ("admin", "admin-pass-1")
PASSWORD = "user-pass-1"
CLI_TIMEOUT = 300
_user_numbers = itertools.count(1)


class Account(t.NamedTuple):
    id: int
    username: str
    password: str


def airflow_env(home: Path, *, extension: bool = True, **extra: str) -> dict[str, str]:
    """The environment of an Airflow whose home, database and auth manager are ours."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER if extension else PLAIN_AUTH_MANAGER,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "test-jwt-secret-long-enough-0123456789abcdef",
        "AIRFLOW__API__SECRET_KEY": "test-secret-key-long-enough-0123456789abcdef",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # The tests sign in far more often than FAB's limit of 5 logins per 40 seconds.
        "AIRFLOW__FAB__AUTH_RATE_LIMITED": "False",
        "PYTHONWARNINGS": "ignore",
    }
    env.update(extra)
    return env


def run_airflow(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """One ``airflow`` CLI command; with ``check`` a failure fails the test with its output."""
    proc = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    if check and proc.returncode != 0:
        pytest.fail(f"`airflow {' '.join(args)}` exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                    f"{proc.stderr[-3000:]}", pytrace=False)
    return proc


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home whose database has Airflow's, the FAB provider's and our tables, and an admin."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = airflow_env(home)
    run_airflow("db", "migrate", env=env)
    run_airflow("session-epoch", "db", "upgrade", env=env)
    run_airflow("users", "create", "-u", ADMIN[0], "-p", ADMIN[1], "-f", "Ada", "-l", "Admin",
                "-e", "admin@example.org", "-r", "Admin", env=env)
    return home


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiServer:
    """``airflow api-server`` with two workers on 127.0.0.1, in a process group of its own."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        self._log = log.open("w")
        port = self.url.rsplit(":", 1)[1]
        self.process = subprocess.Popen([AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", port, "-w", "2"],
                                        env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.log_path = log

    def wait(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"airflow api-server did not come up:\n{self.log_path.read_text()[-4000:]}", pytrace=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def api_server(airflow_home: Path) -> t.Iterator[ApiServer]:
    server = ApiServer(airflow_env(airflow_home), airflow_home / "api-server.log")
    try:
        server.wait()
        yield server
    finally:
        server.stop()


@pytest.fixture
def admin_token(api_server: ApiServer) -> str:
    return token(api_server, *ADMIN)


def token(server: ApiServer, username: str, password: str) -> str:
    """A JWT from ``POST /auth/token``, as API clients get one."""
    response = requests.post(f"{server.url}/auth/token", json={"username": username, "password": password},
                             timeout=30)
    assert response.status_code == 201, response.text
    return t.cast(str, response.json()["access_token"])


def bearer(jwt: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt}"}


@pytest.fixture
def make_user(api_server: ApiServer) -> t.Callable[..., Account]:
    """A new user, created through the FAB provider's REST API (role Viewer unless told).

    The admin signs in afresh each time: a test may have ended every session.
    """

    def make(role: str = "Viewer") -> Account:
        admin_token = token(api_server, *ADMIN)
        name = f"user{next(_user_numbers)}-{os.getpid()}"
        body = {"username": name, "email": f"{name}@example.org", "first_name": "Test", "last_name": name,
                "roles": [{"name": role}], "password": PASSWORD}
        created = requests.post(f"{api_server.url}/auth/fab/v1/users", json=body, headers=bearer(admin_token),
                                timeout=30)
        assert created.status_code in (200, 201), created.text
        return Account(user_id(api_server, name), name, PASSWORD)

    return make


def user_id(server: ApiServer, username: str) -> int:
    """A user's id, from the users list page an admin sees."""
    admin = browser_login(server, *ADMIN)
    page = admin.get(f"{server.url}/auth/users/list/", params={"_flt_0_username": username}, timeout=30)
    found = re.findall(r"/auth/users/show/(\d+)", page.text)
    assert found, f"no id for {username}"
    return int(found[0])


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'id="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def browser_login(server: ApiServer, username: str, password: str) -> requests.Session:
    """A browser that signed in through ``/auth/login/``: it holds ``session`` and ``_token``."""
    browser = requests.Session()
    page = browser.get(f"{server.url}/auth/login/", timeout=30)
    response = browser.post(f"{server.url}/auth/login/", data={"username": username, "password": password,
                                                               "csrf_token": csrf_token(page.text)},
                            allow_redirects=False, timeout=30)
    assert response.status_code == 302 and "/login" not in response.headers["Location"], response.text[:500]
    assert {"session", "_token"} <= set(browser.cookies.keys())
    return browser
