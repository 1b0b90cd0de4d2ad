"""How fast the Shared Signals receiver takes SETs in, by push and by poll, and how soon a SET ends a session.

Builds the test app (``tests/fabapp.py``) with one transmitter in
``SESSION_EPOCH_SSF_TRANSMITTERS``, the loopback SSF transmitter of the tests
(``tests/ssf/transmitter.py``: discovery, JWKS, stream management, the poll endpoint),
and ``--users`` users with e-mail addresses. Every SET is signed by that transmitter
(RS256) before its part starts, so signing is not timed; half are CAEP
``credential-change``, half RISC ``sessions-revoked``, each naming one of the users by
``email``, round robin. Then it measures:

1. push: ``--sets`` SETs POSTed one by one to ``/session_epoch/ssf/events/bench`` through
   Flask's test client (each validated, its ``jti`` recorded and the user's epoch stamped
   in one transaction); total time, SETs per second, per-SET latency, SQL statements per
   push;
2. poll: the stream set up with ``flask_session_epoch.inbound.ssf_streams.add`` (poll
   delivery), ``--sets`` SETs queued at the transmitter, then
   ``flask_session_epoch.inbound.ssf_poll.poll()`` with ``maxEvents`` 100 and 1000
   (fresh SETs for each); SETs per second, requests made, time in the HTTP round trips;
3. receipt to refusal, ``--rounds`` times: alice logs in with her password (as
   ``tests/helpers.py``'s ``login``), one request of her browser is accepted, a SET for
   her is pushed, and her browser's very next request is timed and must be refused;
4. SQL statements of an ordinary logged-in request (a cookie page, a JWT API call), in
   an app without ``SESSION_EPOCH_SSF_TRANSMITTERS`` and in the one with it, counted
   with ``before_cursor_execute`` on the app's engine as ``tests/test_zero_cost.py`` does.

Afterwards every user's epoch generation must have grown by the number of SETs that
named them; the exit code is 1 when a SET was not carried out as expected. ::

    python benchmarks/ssf.py                      # 2 000 SETs per part, SQLite in a temp dir
    python benchmarks/ssf.py --sets 10000         # the full size
    python benchmarks/ssf.py --database-url postgresql+psycopg2://...   # an empty database

Needs the ``test`` extra. A server database is set up afresh (its tables are dropped).
It starts no process (the transmitter is a thread); the SQLite directory is removed at
the end, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import sys
import tempfile
import time
import typing as t
import warnings
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import jwt  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from _processes import guarded  # noqa: E402  (benchmarks/_processes.py)
from databases import dispose, drop_all, prepare_database  # noqa: E402
from fabapp import ALICE, create_app  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from helpers import api_login, bearer, login  # noqa: E402
from helpers import statements as count_statements  # noqa: E402
from ssf import sets as tx_sets  # noqa: E402  (tests/ssf)
from ssf.transmitter import Transmitter  # noqa: E402

from flask_session_epoch.inbound import ssf_poll, ssf_push, ssf_streams  # noqa: E402
from flask_session_epoch.models import UserSessionEpoch  # noqa: E402
from flask_session_epoch.revoke import db_session  # noqa: E402

NAME = "bench"
AUDIENCE = "https://app.example.org/"
PUSH_URL = f"/session_epoch/ssf/events/{NAME}"
PUSH_ENV, MANAGEMENT_ENV = "FSE_BENCH_SSF_PUSH", "FSE_BENCH_SSF_MGMT"
PUSH_AUTH = "Bearer bench-push-secret-0123456789abcdef0123456789"
ALICE_EMAIL = "alice@example.org"
EVENTS = (tx_sets.credential_change, lambda: {tx_sets.SESSIONS_REVOKED: {}})
POLL_SIZES = (100, 1000)


class Failed(Exception):
    """A SET or request was not answered as the receiver's documentation says."""


def _ms(seconds: float) -> float:
    return seconds * 1000


def _latency(times: list[float]) -> str:
    """``median / p95 / max`` of times in seconds, in ms."""
    ordered = sorted(times)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {_ms(statistics.median(ordered)):.2f} ms, p95 {_ms(p95):.2f} ms, max {_ms(ordered[-1]):.2f} ms"


class Bench:
    """The app, the transmitter, the users, and what each part expects to have stamped."""

    def __init__(self, url: str, tx: Transmitter, users: int) -> None:
        self.url, self.tx = url, tx
        self.dialect = sa.engine.make_url(url).get_backend_name()
        options = {"issuer": tx.issuer, "jwks_uri": tx.jwks_uri, "audience": AUDIENCE, "delivery": "poll",
                   "configuration_url": tx.configuration_url, "management_token_env": MANAGEMENT_ENV,
                   "push_authorization_env": PUSH_ENV}
        self.app = create_app(url, SESSION_EPOCH_SSF_TRANSMITTERS={NAME: options})
        self.emails = self._add_users(users)
        self.stamps: collections.Counter[str] = collections.Counter()  # e-mail -> SETs carried out for it
        self.generations = self._generations()

    def _add_users(self, count: int) -> list[str]:
        """``count`` users, ``bench-user-N@example.org``; alice's password hash, so none is hashed here."""
        with self.app.app_context():
            sm = self.app.appbuilder.sm
            alice = sm.find_user(ALICE[0])
            emails = []
            for n in range(1, count + 1):
                email = f"bench-user-{n}@example.org"
                if sm.find_user(email=email) is None:
                    sm.add_user(f"bench-user-{n}", "Bench", f"User {n}", email, alice.roles[0],
                                hashed_password=alice.password)
                emails.append(email)
            db_session(sm).remove()
        return emails

    def _generations(self) -> dict[str, int]:
        with self.app.app_context():
            sm = self.app.appbuilder.sm
            db = db_session(sm)
            rows = db.execute(sa.select(sm.user_model.email, UserSessionEpoch.generation)
                              .join(UserSessionEpoch, UserSessionEpoch.user_id == sm.user_model.id)).all()
            db.remove()
        return dict(rows)

    def sign(self, count: int, emails: t.Sequence[str]) -> list[tuple[str, str]]:
        """``count`` signed SETs, ``(email, SET)``, the two event types and the users taken in turn."""
        return [(emails[i % len(emails)],
                 self.tx.make_set(EVENTS[i % 2](), tx_sets.email(emails[i % len(emails)])))
                for i in range(count)]

    def check_generations(self) -> list[str]:
        """What is wrong: users whose generation did not grow by the SETs carried out for them."""
        now = self._generations()
        wrong = []
        for email, before in self.generations.items():
            expected = before + self.stamps[email]
            if now.get(email) != expected:
                wrong.append(f"{email}: generation {now.get(email)}, expected {expected}")
        return wrong


def push(client: FlaskClient, set_jwt: str) -> t.Any:
    return client.post(PUSH_URL, data=set_jwt, content_type=tx_sets.SET_MEDIA_TYPE,
                       headers={"Authorization": PUSH_AUTH, "Accept": "application/json"})


def measure_push(bench: Bench, count: int) -> None:
    signed = bench.sign(count + 10, bench.emails)
    client = bench.app.test_client()
    times = []
    start = time.perf_counter()
    for email, set_jwt in signed[:count]:
        began = time.perf_counter()
        response = push(client, set_jwt)
        times.append(time.perf_counter() - began)
        if response.status_code != 202:
            raise Failed(f"push answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
        bench.stamps[email] += 1
    total = time.perf_counter() - start
    statements = []
    for email, set_jwt in signed[count:]:
        found, status = count_statements(bench.app, lambda set_jwt=set_jwt: push(client, set_jwt))
        if status != 202:
            raise Failed(f"push answered {status}")
        bench.stamps[email] += 1
        statements.append(found)
    tenth = max(1, count // 10)
    print(f"(1) push, {count:,} SETs: {total:.2f} s, {count / total:,.0f} SETs/s; per SET {_latency(times)}")
    print(f"    median of the first 10 % {_ms(statistics.median(times[:tenth])):.2f} ms,"
          f" of the last 10 % {_ms(statistics.median(times[-tenth:])):.2f} ms")
    print(f"    SQL statements per push: {'/'.join(map(str, sorted(set(statements))))}"
          f" (counted on {len(statements)} more pushes)")


def measure_poll(bench: Bench, count: int) -> None:
    with bench.app.app_context():
        answered = ssf_streams.add(bench.app.extensions[ssf_push.EXTENSION_KEY][NAME].transmitter)
    stream_id = answered["stream_id"]
    stream = bench.tx.streams[stream_id]
    real_post = ssf_poll._post
    http: list[float] = []

    def timed_post(*args: t.Any, **kwargs: t.Any) -> t.Any:
        began = time.perf_counter()
        try:
            return real_post(*args, **kwargs)
        finally:
            http.append(time.perf_counter() - began)

    for max_events in POLL_SIZES:
        signed = bench.sign(count, bench.emails)
        for _, set_jwt in signed:
            bench.tx.queue(set_jwt, stream_id)
        acked_before, http[:] = len(bench.tx.acked), []
        ssf_poll._post = timed_post  # the module's HTTP call, timed; restored below
        try:
            with bench.app.app_context():
                receiver = bench.app.extensions[ssf_push.EXTENSION_KEY][NAME]
                start = time.perf_counter()
                report = ssf_poll.poll(receiver, max_events=max_events, duration=3600)
                total = time.perf_counter() - start
        finally:
            ssf_poll._post = real_post
        acked = len(bench.tx.acked) - acked_before
        print(f"(2) poll, maxEvents {max_events:>4}, {count:,} SETs: {total:.2f} s, {count / total:,.0f} SETs/s;"
              f" {report.requests} requests ({report.failures} failed), {sum(http):.2f} s of it in HTTP"
              f" (median request {_ms(statistics.median(http)):.1f} ms)")
        for email, _ in signed[:report.applied]:
            bench.stamps[email] += 1
        if (report.applied, report.refused, acked, len(stream.pending)) != (count, 0, count, 0) or bench.tx.set_errors:
            raise Failed(f"poll: applied {report.applied}, refused {report.refused}, acknowledged {acked},"
                         f" still queued {len(stream.pending)}, setErrs {dict(list(bench.tx.set_errors.items())[:3])}")


def _refused(response: t.Any) -> bool:
    return response.status_code == 302 and "/login" in response.headers.get("Location", "")


def measure_refusal(bench: Bench, rounds: int) -> None:
    signed = bench.sign(rounds, [ALICE_EMAIL])
    pusher = bench.app.test_client()
    accepted, pushed, refused = [], [], []
    for email, set_jwt in signed:
        browser = bench.app.test_client()
        login(browser, ALICE)
        began = time.perf_counter()
        response = browser.get("/protected/")
        accepted.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise Failed(f"alice's request after her login answered {response.status_code}")
        began = time.perf_counter()
        response = push(pusher, set_jwt)
        between = time.perf_counter()
        next_one = browser.get("/protected/")
        done = time.perf_counter()
        if response.status_code != 202:
            raise Failed(f"push answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
        bench.stamps[email] += 1
        if not _refused(next_one):
            raise Failed(f"the request after the SET answered {next_one.status_code}"
                         f" {next_one.headers.get('Location')}: it was not refused")
        pushed.append(between - began)
        refused.append(done - between)
    total = [p + r for p, r in zip(pushed, refused, strict=True)]
    print(f"(3) receipt to refusal, {rounds} rounds, {len(refused)} of the next requests refused (302 to the"
          f" login page); medians: push answered (202) {_ms(statistics.median(pushed)):.2f} ms, next request"
          f" refused {_ms(statistics.median(refused)):.2f} ms, together {_ms(statistics.median(total)):.2f} ms"
          f" (max {_ms(max(total)):.2f} ms)")
    print(f"    an accepted request of the browser before the SET: median {_ms(statistics.median(accepted)):.2f} ms")


def measure_statements(bench: Bench) -> None:
    plain = create_app(bench.url)  # the same database, no SESSION_EPOCH_SSF_TRANSMITTERS
    try:
        counts = {}
        for label, app in (("without SSF", plain), ("with SSF", bench.app)):
            cookie, api = app.test_client(), app.test_client()
            login(cookie, ALICE)
            token = api_login(api, ALICE)["access_token"]
            requests = {
                "cookie page /protected/": lambda cookie=cookie: cookie.get("/protected/"),
                "JWT API /api/v1/ping/": lambda api=api, token=token: api.get("/api/v1/ping/", headers=bearer(token)),
            }
            for name, request in requests.items():
                request().close()  # warm-up
                found = [count_statements(app, request) for _ in range(5)]
                if any(status != 200 for _, status in found):
                    raise Failed(f"{label} {name}: {[status for _, status in found]}")
                counts[label, name] = "/".join(map(str, sorted({n for n, _ in found})))
        for name in ("cookie page /protected/", "JWT API /api/v1/ping/"):
            print(f"(4) SQL statements, {name}: without SSF {counts['without SSF', name]},"
                  f" with SSF {counts['with SSF', name]}")
    finally:
        dispose(plain)


def measure(url: str, sets: int, rounds: int, users: int) -> int:
    if not url.startswith("sqlite"):
        drop_all(url)
    prepare_database(url)
    with Transmitter(audience=AUDIENCE) as tx:
        os.environ[PUSH_ENV], os.environ[MANAGEMENT_ENV] = PUSH_AUTH, tx.bearer_token
        bench = Bench(url, tx, users)
        print(f"{bench.dialect}, SQLAlchemy {sa.__version__}: {sets:,} SETs per part, {users} users,"
              f" {rounds} rounds; RS256, signed before each part (not timed)")
        try:
            measure_push(bench, sets)
            measure_poll(bench, sets)
            measure_refusal(bench, rounds)
            measure_statements(bench)
        except Failed as failure:
            print(f"FAILED: {failure}")
            return 1
        finally:
            wrong = bench.check_generations()
            print(f"JWKS fetches: {tx.jwks_fetches}; epochs: {sum(bench.stamps.values()):,} stamps expected,"
                  f" {'all there' if not wrong else f'{len(wrong)} users wrong: ' + '; '.join(wrong[:5])}")
            dispose(bench.app)
        return 1 if wrong else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--sets", type=int, default=2000, help="SETs pushed, and SETs per poll run (default 2000;"
                                                              " 10000 for the full run)")
    parser.add_argument("--rounds", type=int, default=50, help="rounds of receipt to refusal (default 50)")
    parser.add_argument("--users", type=int, default=100, help="users the SETs name (default 100)")
    args = parser.parse_args()
    if min(args.sets, args.rounds, args.users) < 1:
        parser.error("--sets, --rounds and --users must be at least 1")
    warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
    scratch = None if args.database_url else tempfile.mkdtemp(prefix="fse-ssf-")
    try:
        return measure(args.database_url or f"sqlite:///{scratch}/app.db", args.sets, args.rounds, args.users)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(guarded(main))
