"""Requests per second with and without flask-session-epoch, and how long revocations take.

Starts the example app twice under gunicorn (2 workers each) on one SQLite database:
plain Flask-AppBuilder (``DEMO_EXTENSION=0``) and with the extension. ``wrk`` (Debian
package ``wrk``) then loads the same two endpoints of each, alternating A and B round by
round so that both see the same machine: a cookie-authenticated HTML page (``/demo/``)
and a JWT API call (``/api/v1/ping/``). It prints requests/s, the B/A ratio (goal
>= 0.98) and the SQL statements per request counted in-process.

Then it times ``invalidate_all_sessions()`` on databases of 10,000 and 1,000,000 users
(goal: flat, it writes one row) and a per-user ``invalidate_sessions()``::

    python benchmarks/throughput.py                 # everything
    python benchmarks/throughput.py --rounds 3 --seconds 5 --revoke-users 10000

Each gunicorn, wrk and helper interpreter runs in a process group of its own, and the
whole group is stopped on every way out: the normal end, an error, Ctrl-C, SIGTERM. A
gunicorn that does not answer within ``--startup-timeout`` seconds ends the script with
a one-line error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import requests
import sqlalchemy as sa
from _processes import exited, guarded, run, start, stop  # benchmarks/_processes.py

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEMO = ("demo", "demo-demo")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_env(data: Path, extension: bool) -> dict[str, str]:
    return {
        **os.environ,
        "DEMO_DATA_DIR": str(data),
        "DEMO_EXTENSION": "1" if extension else "0",
        "PYTHONWARNINGS": "ignore",
    }


class Server:
    """The example app under gunicorn with two workers, on 127.0.0.1, in its own process group."""

    def __init__(self, data: Path, name: str, extension: bool) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data / f"gunicorn-{self.port}.log"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        env = {**run_env(data, extension), "DEMO_SETUP": "0"}
        with open(self.log, "wb") as log:
            self.process = start(
                [str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{self.port}", "--log-level", "warning",
                 "demo_app:create_app()"],
                cwd=EXAMPLES, env=env, stdout=subprocess.DEVNULL, stderr=log,
            )

    def wait_ready(self, timeout: float) -> None:
        """Ask for ``/health`` until any answer below 500 comes, or end the script at ``timeout`` s.

        gunicorn accepts connections before a worker has imported the app, so for a while
        a request can hang or be refused: any requests error means "not yet".
        """
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            if exited(self.process):
                raise SystemExit(f"gunicorn ({self.name}) exited before answering: {self.last_log_line()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"gunicorn ({self.name}) did not answer {self.base}/health within {timeout:g} s"
                                 f" (last: {last})")
            try:
                status = requests.get(self.base + "/health", timeout=min(5.0, max(left, 0.5))).status_code
            except requests.RequestException as error:
                last = type(error).__name__
            else:
                if status < 500:
                    return
                last = f"HTTP {status}"
            time.sleep(min(0.3, max(deadline - time.monotonic(), 0)))

    def last_log_line(self) -> str:
        lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else "nothing in its log"

    def cookie(self) -> str:
        client = requests.Session()
        page = client.get(self.base + "/login/", timeout=10).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        data = {"username": DEMO[0], "password": DEMO[1], "csrf_token": token.group(1) if token else ""}
        client.post(self.base + "/login/", data=data, timeout=10)
        assert client.get(self.base + "/demo/", allow_redirects=False, timeout=10).status_code == 200
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())

    def jwt(self) -> str:
        body = {"username": DEMO[0], "password": DEMO[1], "provider": "db"}
        token = requests.post(self.base + "/api/v1/security/login", json=body, timeout=10).json()["access_token"]
        assert requests.get(self.base + "/api/v1/ping/", headers={"Authorization": f"Bearer {token}"},
                            timeout=10).status_code == 200
        return str(token)

    def stop(self) -> None:
        """SIGTERM to gunicorn's whole group (master and workers), SIGKILL if still there after 10 s."""
        stop(self.process)


def wrk(url: str, header: str, seconds: int) -> float:
    out = run(["wrk", "-t2", "-c8", f"-d{seconds}s", "-H", header, url], f"wrk {url}", timeout=seconds + 30)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        raise SystemExit(f"{url}: {non_2xx.group(1)} failed responses under load:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def statements_per_request(data: Path, extension: bool) -> dict[str, int]:
    """Count SQL statements in-process with Flask's test client (one warm-up first)."""
    code = r"""
import json, sys
import sqlalchemy as sa
sys.path.insert(0, ".")
from demo_app import create_app, DEMO
app = create_app()
app.config["WTF_CSRF_ENABLED"] = False  # the login form's token is not the point here
client = app.test_client()
client.post("/login/", data={"username": DEMO[0], "password": DEMO[1]})
token = client.post("/api/v1/security/login", json={"username": DEMO[0], "password": DEMO[1],
                    "provider": "db"}).get_json()["access_token"]
with app.app_context():
    engine = app.extensions["sqlalchemy"].engine
counts = {}
for name, call in (("cookie HTML /demo/", lambda: client.get("/demo/")),
                   ("JWT API /api/v1/ping/", lambda: client.get("/api/v1/ping/",
                                                             headers={"Authorization": "Bearer " + token}))):
    call()
    seen = []
    listener = lambda *args: seen.append(1)
    sa.event.listen(engine, "before_cursor_execute", listener)
    status = call().status_code
    sa.event.remove(engine, "before_cursor_execute", listener)
    assert status == 200, (name, status)
    counts[name] = len(seen)
print(json.dumps(counts))
"""
    env = {**run_env(data, extension), "DEMO_SETUP": "0"}
    out = run([sys.executable, "-c", code], "counting SQL statements", timeout=120, cwd=EXAMPLES, env=env)
    return t.cast(dict[str, int], json.loads(out.strip().splitlines()[-1]))


def init_demo(data: Path) -> None:
    """Tables, permissions and the demo users, once, before several workers start."""
    run([sys.executable, "demo_app.py", "init"], "demo_app.py init", timeout=120, cwd=EXAMPLES,
        env=run_env(data, True))


def throughput(rounds: int, seconds: int, startup_timeout: float) -> None:
    data = Path(tempfile.mkdtemp(prefix="fse-throughput-"))
    try:
        init_demo(data)
        servers: dict[str, Server] = {}
        try:
            for name, extension in (("A plain FAB", False), ("B with extension", True)):
                servers[name] = Server(data, name, extension)
                servers[name].wait_ready(startup_timeout)
            headers = {
                name: {"cookie": f"Cookie: {server.cookie()}", "jwt": f"Authorization: Bearer {server.jwt()}"}
                for name, server in servers.items()
            }
            results: dict[tuple[str, str], list[float]] = {}
            for number in range(rounds):
                order = list(servers.items()) if number % 2 == 0 else list(reversed(servers.items()))
                for name, server in order:
                    for kind, path in (("cookie", "/demo/"), ("jwt", "/api/v1/ping/")):
                        rate = wrk(server.base + path, headers[name][kind], seconds)
                        results.setdefault((name, kind), []).append(rate)
        finally:
            for server in servers.values():
                server.stop()
        counts = {name: statements_per_request(data, name.startswith("B")) for name in servers}
    finally:
        shutil.rmtree(data, ignore_errors=True)

    print(f"\nThroughput: gunicorn 2 workers each, wrk -t2 -c8, {rounds} rounds x {seconds}s, A/B alternating")
    print(f"{'endpoint':24} {'A plain FAB req/s':>18} {'B extension req/s':>18} {'B/A':>6}")
    for kind, label in (("cookie", "cookie HTML /demo/"), ("jwt", "JWT API /api/v1/ping/")):
        a = statistics.median(results[("A plain FAB", kind)])
        b = statistics.median(results[("B with extension", kind)])
        print(f"{label:24} {a:18.1f} {b:18.1f} {b / a:6.3f}")
    print("SQL statements per request:")
    for name, per in counts.items():
        print(f"  {name}: " + ", ".join(f"{k} = {v}" for k, v in per.items()))


def revoke_timing(users: int) -> None:
    """Time the global and the per-user stamp on a database of ``users`` users."""
    code = r"""
import os, statistics, sys, time
import sqlalchemy as sa
sys.path.insert(0, ".")
from demo_app import create_app
import flask_session_epoch as fse
users = int(sys.argv[1])
app = create_app()
with app.app_context():
    db = app.extensions["sqlalchemy"]
    with db.engine.begin() as conn:
        # Set-based: users 3..N+2 with unique names, FAB's columns filled as add_user does.
        conn.execute(sa.text(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :users) "
            "INSERT INTO ab_user (first_name, last_name, username, email, active, password) "
            "SELECT 'U', 'N', 'user' || i, 'user' || i || '@example.org', 1, 'x' FROM n"), {"users": users})
        ids = [row[0] for row in conn.execute(sa.text("SELECT id FROM ab_user ORDER BY id DESC LIMIT 100"))]
    all_times = []
    for _ in range(5):
        started = time.perf_counter()
        fse.invalidate_all_sessions(reason="bench")
        all_times.append(time.perf_counter() - started)
    one_times = []
    for user_id in ids:
        started = time.perf_counter()
        fse.invalidate_sessions(user_id, reason="bench")
        one_times.append(time.perf_counter() - started)
    total = db.session.execute(sa.text("SELECT COUNT(*) FROM ab_user")).scalar()
print(f"{total:>9} users: revoke-all median {statistics.median(all_times) * 1000:.2f} ms, "
      f"per-user revoke median {statistics.median(one_times) * 1000:.2f} ms (p95 "
      f"{sorted(one_times)[94] * 1000:.2f} ms)")
"""
    data = Path(tempfile.mkdtemp(prefix="fse-revoke-"))
    try:
        init_demo(data)
        env = {**run_env(data, True), "DEMO_SETUP": "0"}
        out = run([sys.executable, "-c", code, str(users)], f"revocation timing ({users} users)", timeout=1800,
                  cwd=EXAMPLES, env=env)
        print(out.strip())
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="A/B rounds (default 4)")
    parser.add_argument("--seconds", type=int, default=8, help="wrk duration per run (default 8)")
    parser.add_argument("--revoke-users", type=int, nargs="*", default=[10_000, 1_000_000],
                        help="database sizes for the revocation timings")
    parser.add_argument("--startup-timeout", type=float, default=60,
                        help="seconds a gunicorn may take to answer its first request (default 60)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    print(f"flask-session-epoch throughput benchmark, {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
          f" SQLAlchemy {sa.__version__}, SQLite")
    throughput(args.rounds, args.seconds, args.startup_timeout)
    print("\nRevocations (SQLite):")
    for users in args.revoke_users:
        revoke_timing(users)


if __name__ == "__main__":
    sys.exit(guarded(main))
