"""The site under test: its own PostgreSQL database, the demo app set up, gunicorn serving it.

Everything listens on 127.0.0.1 and every step has a time limit.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APP = "demo_app:create_app()"
ADMIN = ("admin", "admin-demo")  # created by ``demo_app.py init``
PASSWORD = "soak-pass-1"
TAG_HEADER = "X-Soak-Tag"
# The worker's pid and our tag on every access-log line: which worker served which check.
ACCESS_FORMAT = "%(p)s %({x-soak-tag}i)s %(s)s %(m)s %(U)s"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Lines in the server's output that mean something went wrong inside a worker.
TROUBLE = re.compile(r"Traceback|WORKER TIMEOUT|\[ERROR\]|Could not read the session epoch|check failed")

# Creates the soak users in the demo's "Demo" role; prints their ids (and the admin's).
_CREATE_USERS = """
import json, sys
from demo_app import ADMIN, DEMO_ROLE, create_app
app = create_app()
with app.app_context():
    sm = app.appbuilder.sm
    role = sm.find_role(DEMO_ROLE)
    ids = {}
    for name in sys.argv[2:]:
        user = sm.find_user(name) or sm.add_user(name, "Soak", name, name + "@example.org", role, sys.argv[1])
        if not user:
            raise SystemExit("could not create " + name)
        ids[name] = user.id
    ids[ADMIN[0]] = sm.find_user(ADMIN[0]).id
    print("SOAK-USERS " + json.dumps(ids))
"""


def executable(name: str) -> Path:
    """A console script of the running interpreter's environment (``gunicorn``, ``flask``)."""
    return Path(sys.executable).with_name(name)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"


def run(cmd: list[str], env: dict[str, str], what: str, timeout: float) -> str:
    """Run a command in examples/; its output, or RuntimeError with that output."""
    try:
        done = subprocess.run(cmd, check=False, cwd=EXAMPLES, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        raise RuntimeError(f"{what} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


class Database:
    """A database of our own on the test PostgreSQL server, dropped at the end."""

    def __init__(self, server_url: str) -> None:
        base = sa.engine.make_url(server_url)
        self.name = f"fse_soak_{secrets.token_hex(4)}"
        self.url = base.set(database=self.name).render_as_string(hide_password=False)
        # The maintenance database, never the suite's fse_test.
        self._engine = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT",
                                        poolclass=NullPool)
        with self._engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        try:
            with self._engine.connect() as conn:
                # FORCE: a connection left by a killed worker must not keep it alive.
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            self._engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Site:
    """The demo app behind gunicorn, and what the test needs to drive it."""

    mode: str
    base_url: str
    env: dict[str, str]  # for the CLI: the same settings as the servers
    users: dict[str, int]  # the soak users and the admin, by name
    workers: int
    access_log: Path
    server_log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def soak_users(self) -> list[str]:
        return sorted(name for name in self.users if name != ADMIN[0])

    def cli(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """``flask --app 'demo_app:create_app()' ARGS`` in examples/ (TimeoutExpired past the limit)."""
        cmd = [str(executable("flask")), "--app", APP, *args]
        return subprocess.run(cmd, check=False, cwd=EXAMPLES, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def workers_for(self, tag: str | None = None) -> set[str]:
        """The worker pids that served requests carrying ``tag`` (every request with None)."""
        pids = set()
        with open(self.access_log, errors="replace") as log:
            for line in log:
                parts = line.split()
                if len(parts) >= 2 and (tag is None or parts[1] == tag):
                    pids.add(parts[0])
        return pids

    def trouble(self) -> list[str]:
        """Lines of the server's output that show an error inside a worker."""
        lines = self.server_log.read_text(errors="replace").splitlines()
        found = [line for line in lines if TROUBLE.search(line)]
        booted = sum("Booting worker" in line for line in lines)
        if booted > self.workers:
            found.append(f"{booted - self.workers} workers were restarted")
        return found


def _supports(option: str) -> bool:
    done = subprocess.run([str(executable("gunicorn")), "--help"], check=False, capture_output=True, text=True,
                          timeout=60)
    return option in done.stdout


def prepare(env: dict[str, str], users: list[str], timeout: float = 180) -> dict[str, int]:
    """Schema, permissions and the demo's users (``demo_app.py init``), then the soak users."""
    run([sys.executable, "demo_app.py", "init"], {**env, "DEMO_SETUP": "1"}, "demo_app.py init", timeout)
    out = run([sys.executable, "-c", _CREATE_USERS, PASSWORD, *users], env, "creating the soak users", timeout)
    line = next(line for line in out.splitlines() if line.startswith("SOAK-USERS "))
    return {name: int(user_id) for name, user_id in json.loads(line.split(" ", 1)[1]).items()}


def start(site: Site, logs: Path, ready_within: float = 90) -> None:
    """Start gunicorn on a free loopback port and wait until every worker has answered."""
    port = _free_port()
    site.base_url = f"http://127.0.0.1:{port}"
    cmd = [
        str(executable("gunicorn")), "--workers", str(site.workers), "--bind", f"127.0.0.1:{port}",
        "--timeout", "60", "--graceful-timeout", "5",
        "--access-logfile", str(site.access_log), "--access-logformat", ACCESS_FORMAT,
    ]
    if _supports("--no-control-socket"):  # gunicorn 25+: else every instance shares ~/.gunicorn
        cmd += ["--control-socket", str(logs / "gunicorn.ctl")]
    cmd.append(APP)
    with open(site.server_log, "wb") as out:
        # A session of its own: stop() ends the master and its workers, nothing else.
        site.process = subprocess.Popen(cmd, cwd=EXAMPLES, env=site.env, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + ready_within
    while True:
        if site.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited {site.process.returncode}:\n{tail(site.server_log)}")
        try:
            answer = requests.get(f"{site.base_url}/login/", headers={TAG_HEADER: "warmup"}, timeout=5)
            ready = answer.status_code == 200
        except requests.RequestException:
            ready = False
        if ready and len(site.workers_for("warmup")) >= site.workers:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn not ready within {ready_within:.0f}s:\n{tail(site.server_log)}")
        time.sleep(0.1)


def stop(site: Site) -> None:
    process = site.process
    if process is None or process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait(timeout=10)


def environment(database_url: str, redis_url: str | None, data_dir: Path) -> dict[str, str]:
    """The demo's settings for init, the CLI and gunicorn alike."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DEMO_")}
    env.update(
        DEMO_DATABASE_URL=database_url,
        DEMO_DATA_DIR=str(data_dir),
        DEMO_SETUP="0",
        DEMO_EXTENSION="1",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["DEMO_REDIS_URL"] = redis_url
    return env


def is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK
