"""The operators: revocations through the CLI and the REST APIs while the load runs.

Each revocation is recorded with the moment it returned (the CLI exited 0, the API
answered 200) and the users it affects; then a fresh login of those users is checked
on every worker, in the background, while the operator goes on with the next user.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import threading
import time
import traceback
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

import requests
from soak_clients import TIMEOUT, Schedule, verify_fresh_login
from soak_ledger import Ledger, Revocation
from soak_servers import ADMIN, PASSWORD, Site

#: How long a user stays disabled: long enough for the load to run into it.
DISABLED_FOR = 1.0
#: Users whose fresh login is checked after the revoke-all.
CHECKED_AFTER_REVOKE_ALL = 4
#: Revocations stop this long before the load's latest end, whatever is left to do:
#: the revoke-all and the load after it need the time.
LEAVE_FOR_REVOKE_ALL = 25.0


class Desk:
    """What the operators share: the users being revoked or checked, and the checks' pool.

    A user is taken from the moment an operator picks them until the fresh login after
    the revocation has been checked, so that no other revocation ends it mid-check.
    """

    def __init__(self, site: Site, seed: int = 7) -> None:
        self.site = site
        self.rng = random.Random(seed)
        self.pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="soak-check")
        self.checks: list[Future[t.Any]] = []
        self._taken: set[str] = set()
        self._lock = threading.Lock()
        self._tags = itertools.count(1)

    def take(self) -> str | None:
        with self._lock:
            free = [user for user in self.site.soak_users if user not in self._taken]
            user = self.rng.choice(free) if free else None
            if user is not None:
                self._taken.add(user)
            return user

    def release(self, user: str) -> None:
        with self._lock:
            self._taken.discard(user)

    def check_later(self, ledger: Ledger, user: str, after: str, password: str = PASSWORD) -> None:
        """Check a fresh login of ``user`` in the background, then release them."""
        tag = f"check-{next(self._tags)}"

        def check() -> None:
            try:
                verify_fresh_login(self.site, ledger, user, after, tag, password=password)
            finally:
                self.release(user)

        with self._lock:
            self.checks.append(self.pool.submit(check))

    def wait(self, until: float) -> None:
        """Wait for every check submitted so far (TimeoutError past ``until``)."""
        with self._lock:
            pending = list(self.checks)
        for future in pending:
            future.result(timeout=max(1.0, until - time.time()))

    def close(self, ledger: Ledger) -> None:
        # Normally every check is done by now; after a crash the queued ones are dropped.
        self.pool.shutdown(wait=True, cancel_futures=True)
        for future in self.checks:
            if future.done() and not future.cancelled() and future.exception() is not None:
                ledger.problem(f"a fresh-login check crashed: {future.exception()!r}")


class Operator(threading.Thread):
    """Revokes one user after another with ``kinds`` (in turn) from ``begin`` to ``last_start``.

    Each kind is used at least once, however late that gets (within the schedule). With
    ``revoke_all_via`` ("cli" or "api") it then waits for the ``others`` to finish and
    ends everyone's sessions once.
    """

    def __init__(self, name: str, site: Site, ledger: Ledger, desk: Desk, kinds: t.Sequence[str], *,
                 schedule: Schedule, begin: t.Callable[[], None], last_start: float, give_up: float,
                 pause: float = 0.5, revoke_all_via: str | None = None,
                 others: t.Sequence[threading.Thread] = (), max_revocations: int = 40) -> None:
        super().__init__(name=name, daemon=True)
        self.site, self.ledger, self.desk, self.kinds = site, ledger, desk, kinds
        self.schedule, self.begin, self.last_start, self.give_up, self.pause = (
            schedule, begin, last_start, give_up, pause)
        self.revoke_all_via, self.others = revoke_all_via, others
        self.max_revocations = max_revocations
        self.http = requests.Session()
        self.admin_token = ""

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # noqa: BLE001 - recorded: a crash in a thread must fail the test, not vanish
            self.ledger.problem(f"{self.name} crashed:\n{traceback.format_exc()}")
        finally:
            self.http.close()

    def _run(self) -> None:
        self._login_admin()
        self.begin()
        kinds = itertools.cycle(self.kinds)
        done: set[str] = set()
        for _ in range(self.max_revocations):
            now = time.time()
            if now >= self.schedule.latest - LEAVE_FOR_REVOKE_ALL:
                break
            if now >= self.last_start and done >= set(self.kinds):
                break
            user = self.desk.take()
            if user is None:
                time.sleep(0.1)
                continue
            kind = next(kinds)
            if getattr(self, f"_{kind.replace('-', '_')}")(user):
                done.add(kind)
                self.desk.check_later(self.ledger, user, kind)
            else:
                self.desk.release(user)
            time.sleep(self.pause)
        if self.revoke_all_via is None:
            return
        for other in self.others:
            other.join(timeout=max(1.0, self.give_up - time.time()))
        # The checks still running must not see their users' sessions end under them.
        self.desk.wait(self.give_up)
        if self._revoke_all():
            self.schedule.revoked_all()
            self._login_admin()
            for user in self.desk.rng.sample(self.site.soak_users, CHECKED_AFTER_REVOKE_ALL):
                self.desk.check_later(self.ledger, user, "revoke-all")
            self.desk.check_later(self.ledger, ADMIN[0], "revoke-all", ADMIN[1])
            self.desk.wait(self.give_up)

    # -- bookkeeping -------------------------------------------------------------

    def _record(self, kind: str, users: frozenset[str] | None, started: float) -> None:
        self.ledger.add(Revocation(kind, users, started, time.time()))

    # -- through the CLI ---------------------------------------------------------

    def _cli(self, *args: str) -> bool:
        try:
            done = self.site.cli("session-epoch", *args, timeout=max(5.0, min(90.0, self.give_up - time.time())))
        except subprocess.TimeoutExpired:
            self.ledger.problem(f"flask session-epoch {' '.join(args)} timed out")
            return False
        if done.returncode != 0:
            self.ledger.problem(f"flask session-epoch {' '.join(args)} exited {done.returncode}: "
                                f"{done.stderr.strip()[-500:]}")
        return done.returncode == 0

    def _cli_revoke(self, user: str) -> bool:
        started = time.time()
        if not self._cli("revoke", user):
            return False
        self._record("cli-revoke", frozenset({user}), started)
        return True

    def _disable(self, user: str) -> bool:
        started = time.time()
        if not self._cli("disable", user):
            return False
        self._record("disable", frozenset({user}), started)
        time.sleep(DISABLED_FOR)
        enabled = self._cli("enable", user)
        self.ledger.disabled_between(user, started, time.time() if enabled else float("inf"))
        return enabled

    # -- through the REST APIs, as the admin -------------------------------------

    def _login_admin(self) -> None:
        answer = self._api("POST", "/api/v1/security/login", "admin login", auth=False, json={
            "username": ADMIN[0], "password": ADMIN[1], "provider": "db"})
        if answer is None or answer.status_code != 200:
            raise RuntimeError("the admin cannot log in to the REST API")
        self.admin_token = answer.json()["access_token"]

    def _api(self, method: str, path: str, what: str, *, auth: bool = True,
             **kwargs: t.Any) -> requests.Response | None:
        headers = {"Authorization": f"Bearer {self.admin_token}"} if auth else {}
        self.http.cookies.clear()
        try:
            answer = self.http.request(method, self.site.base_url + path, headers=headers, timeout=TIMEOUT,
                                       allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            self.ledger.operator_call(what, None)
            self.ledger.problem(f"{what}: no answer ({exc!r})")
            return None
        self.ledger.operator_call(what, answer.status_code)
        return answer

    def _api_revoke(self, user: str) -> bool:
        started = time.time()
        answer = self._api("POST", f"/api/v1/session_epoch/revoke/{self.site.users[user]}", "REST revoke")
        if answer is None or answer.status_code != 200:
            return False
        self._record("api-revoke", frozenset({user}), started)
        return True

    def _password(self, user: str) -> bool:
        # The same password again: a new hash all the same, so the load's logins keep working.
        started = time.time()
        answer = self._api("PUT", f"/api/v1/security/users/{self.site.users[user]}", "REST password change",
                           json={"password": PASSWORD})
        if answer is None or answer.status_code != 200:
            return False
        self._record("password", frozenset({user}), started)
        return True

    def _revoke_all(self) -> bool:
        started = time.time()
        if self.revoke_all_via == "cli":
            ok = self._cli("revoke-all", "--yes")
        else:
            answer = self._api("POST", "/api/v1/session_epoch/revoke_all", "REST revoke-all")
            ok = answer is not None and answer.status_code == 200
        if ok:
            self._record("revoke-all", None, started)
        return ok

