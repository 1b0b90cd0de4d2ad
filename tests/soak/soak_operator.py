"""The operators: revocations through the CLI and the REST APIs while the load runs, and
single sessions ended (the REST API's DELETE of one session, the user's logout).

Each revocation is recorded with the moment it returned (the CLI exited 0, the API
answered 200) and the users it affects; then a fresh login of those users is checked
on every worker, in the background, while the operator goes on with the next user.
A single end is recorded with the one credential it ends; then, in the background,
its copies are tried on every worker (all refused) and so are the user's other
sessions (all served).
"""

from __future__ import annotations

import functools
import itertools
import random
import subprocess
import threading
import time
import traceback
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

import requests
from soak_clients import (
    MY_SESSIONS,
    TIMEOUT,
    AnyLogin,
    Client,
    CookieLogin,
    Schedule,
    TokenLogin,
    token_record_id,
    verify_fresh_login,
    verify_single_end,
)
from soak_ledger import Ending, Ledger, Revocation
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
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="soak-check")
        self.checks: list[Future[t.Any]] = []
        self._taken: set[str] = set()
        self._lock = threading.Lock()
        self._tags = itertools.count(1)

    def take(self, eligible: t.Callable[[str], bool] | None = None) -> str | None:
        """A free user (one ``eligible`` accepts), now taken; None if there is none."""
        with self._lock:
            free = [user for user in self.site.soak_users
                    if user not in self._taken and (eligible is None or eligible(user))]
            user = self.rng.choice(free) if free else None
            if user is not None:
                self._taken.add(user)
            return user

    def release(self, user: str) -> None:
        with self._lock:
            self._taken.discard(user)

    def tag(self, prefix: str) -> str:
        """A tag of its own for a check's requests (``X-Soak-Tag``)."""
        return f"{prefix}-{next(self._tags)}"

    def later(self, user: str, check: t.Callable[[], t.Any]) -> None:
        """Run ``check`` in the background, then release ``user``."""
        def run() -> None:
            try:
                check()
            finally:
                self.release(user)

        with self._lock:
            self.checks.append(self.pool.submit(run))

    def check_later(self, ledger: Ledger, user: str, after: str, password: str = PASSWORD) -> None:
        """Check a fresh login of ``user`` in the background, then release them."""
        tag = self.tag("check")
        self.later(user, lambda: verify_fresh_login(self.site, ledger, user, after, tag, password=password))

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

    Each kind is used at least once, however late that gets (within the schedule); with
    ``once``, exactly once each. With ``revoke_all_via`` ("cli" or "api") it then waits
    for the ``others`` to finish and ends everyone's sessions once.
    """

    def __init__(self, name: str, site: Site, ledger: Ledger, desk: Desk, kinds: t.Sequence[str], *,
                 schedule: Schedule, begin: t.Callable[[], None], last_start: float, give_up: float,
                 pause: float = 0.5, revoke_all_via: str | None = None,
                 others: t.Sequence[threading.Thread] = (), max_revocations: int = 40, once: bool = False) -> None:
        super().__init__(name=name, daemon=True)
        self.site, self.ledger, self.desk, self.kinds = site, ledger, desk, kinds
        self.schedule, self.begin, self.last_start, self.give_up, self.pause = (
            schedule, begin, last_start, give_up, pause)
        self.revoke_all_via, self.others = revoke_all_via, others
        self.max_revocations, self.once = max_revocations, once
        self.http = requests.Session()
        self.admin_token = ""

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # noqa: BLE001 - recorded: a crash in a thread must fail the test, not vanish
            self.ledger.problem(f"{self.name} crashed:\n{traceback.format_exc()}")
        finally:
            self.http.close()
            if self.revoke_all_via is not None and self.schedule.revoke_all_due:
                self.schedule.no_revoke_all()  # the load need not wait for it any longer

    def _run(self) -> None:
        self._login_admin()
        self.begin()
        kinds = itertools.cycle(self.kinds)
        kind = next(kinds)
        done: set[str] = set()
        tried = 0
        while tried < self.max_revocations:
            now = time.time()
            if now >= self.schedule.latest - LEAVE_FOR_REVOKE_ALL:
                break
            if (now >= self.last_start or self.once) and done >= set(self.kinds):
                break
            if self.once and kind in done:
                kind = next(kinds)
                continue
            user = self.desk.take(functools.partial(self._eligible, kind=kind))
            if user is None:  # every user is taken, or none is ready for this kind yet
                time.sleep(0.1)
                continue
            tried += 1
            if getattr(self, f"_{kind.replace('-', '_')}")(user):
                done.add(kind)
                self._verify(user, kind)
            else:
                self.desk.release(user)
            kind = next(kinds)
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

    def _eligible(self, user: str, kind: str) -> bool:
        """Whether ``kind`` can be done to ``user`` now."""
        return True

    def _verify(self, user: str, kind: str) -> None:
        """After ``kind`` ended ``user``'s sessions: check a fresh login (releases the user when done)."""
        self.desk.check_later(self.ledger, user, kind)

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

    def _api(self, method: str, path: str, what: str, *, auth: bool = True, token: str | None = None,
             expected: int = 200, **kwargs: t.Any) -> requests.Response | None:
        """A request as the admin (or with ``token``); its status must be ``expected``."""
        headers = {"Authorization": f"Bearer {token or self.admin_token}"} if auth else {}
        self.http.cookies.clear()
        try:
            answer = self.http.request(method, self.site.base_url + path, headers=headers, timeout=TIMEOUT,
                                       allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            self.ledger.operator_call(what, None, expected)
            self.ledger.problem(f"{what}: no answer ({exc!r})")
            return None
        self.ledger.operator_call(what, answer.status_code, expected)
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


class SessionEnder(Operator):
    """Ends one session of a user at a time, picked from the load's own logins.

    In turn: the admin's ``DELETE /api/v1/session_epoch/sessions/<id>`` of an API login
    (its access and refresh tokens), the user's logout (``/logout/`` with the browser's
    cookie), the user's own ``DELETE .../me/sessions/<id>`` (from their API client) of a
    browser session, and the admin's DELETE of a browser session. The target's record id
    comes from ``GET .../me/sessions`` asked with the target itself. Before the end the
    user logs in once more with a cookie and a JWT: those, the load's other login of the
    user, and everyone else must keep working.
    """

    #: Each kind: how it ends a session, and which of the load's logins it ends.
    KINDS = {
        "api-end-session-jwt": ("api-end-session", "jwt"),
        "logout": ("logout", "cookie"),
        "own-end-session": ("own-end-session", "cookie"),
        "api-end-session-cookie": ("api-end-session", "cookie"),
    }

    def __init__(self, name: str, site: Site, ledger: Ledger, desk: Desk, *,
                 live_login: t.Callable[[str, str], AnyLogin | None], **kwargs: t.Any) -> None:
        super().__init__(name, site, ledger, desk, tuple(self.KINDS), **kwargs)
        self.live_login = live_login

    def _eligible(self, user: str, kind: str) -> bool:
        return self.live_login(user, self.KINDS[kind][1]) is not None

    def _verify(self, user: str, kind: str) -> None:
        pass  # each end has submitted its own check, which releases the user

    def _api_end_session_jwt(self, user: str) -> bool:
        return self._end(user, *self.KINDS["api-end-session-jwt"])

    def _api_end_session_cookie(self, user: str) -> bool:
        return self._end(user, *self.KINDS["api-end-session-cookie"])

    def _own_end_session(self, user: str) -> bool:
        return self._end(user, *self.KINDS["own-end-session"])

    def _logout(self, user: str) -> bool:
        return self._end(user, *self.KINDS["logout"])

    def _end(self, user: str, how: str, target_kind: str) -> bool:
        target = self.live_login(user, target_kind)
        if target is None:
            return False  # the load is logging this user in again
        client = Client(self.site, self.ledger, "operator")
        cookie: CookieLogin | None = None
        token: TokenLogin | None = None
        try:
            # None: already ended by an earlier revocation of the user, which the load has not noticed yet.
            record_id = client.my_session_id(target)
            if record_id is not None:
                # The user's other sessions at the moment of the end.
                cookie, token = client.login_cookie(user), client.login_jwt(user)
        finally:
            client.close()
        if record_id is None or cookie is None or token is None:
            if cookie is not None:
                cookie.close()
            return False
        # The browser's cookie as it is now: the copy that logs out, and one more copy that must die.
        latest = dict(target.latest) if isinstance(target, CookieLogin) else {}
        started = time.time()
        if how == "logout":
            ended = self._log_out(latest)
        elif how == "own-end-session":
            ended = self._ended(self._api("DELETE", f"{MY_SESSIONS}/{record_id}", "REST end own session",
                                          token=token.access), record_id, "self-service")
        else:
            ended = self._ended(self._api("DELETE", f"/api/v1/session_epoch/sessions/{record_id}",
                                          "REST end session"), record_id, "admin")
        if not ended:
            cookie.close()
            return False
        ending = Ending(how, target.record, started, time.time())
        self.ledger.add(ending)
        self._check_listing(user, record_id, token)
        tag = self.desk.tag("end")
        self.desk.later(user, lambda: verify_single_end(self.site, self.ledger, ending, target, latest,
                                                        (cookie, token), tag))
        return True

    def _log_out(self, cookies: dict[str, str | None]) -> bool:
        """``GET /logout/`` with a copy of the user's browser cookie: a redirect away from the login page."""
        try:
            answer = requests.get(self.site.base_url + "/logout/", timeout=TIMEOUT, allow_redirects=False,
                                  cookies={name: value or "" for name, value in cookies.items()})
        except requests.RequestException as exc:
            self.ledger.operator_call("logout", None, 302)
            self.ledger.problem(f"logout: no answer ({exc!r})")
            return False
        self.ledger.operator_call("logout", answer.status_code, 302)
        return answer.status_code == 302 and not answer.headers.get("Location", "").startswith("/login")

    def _ended(self, answer: requests.Response | None, record_id: str, reason: str) -> bool:
        """Whether the DELETE answered 200 with the session, now ended by ``reason``."""
        if answer is None or answer.status_code != 200:
            return False
        item = answer.json().get("result") or {}
        if (item.get("id"), item.get("active"), item.get("end_reason")) != (record_id, False, reason):
            self.ledger.problem(f"DELETE of session {record_id[:8]}… answered {item}")
        return True

    def _check_listing(self, user: str, record_id: str, token: TokenLogin) -> None:
        """The admin's list of the user's active sessions: without the ended one, with the others."""
        answer = self._api("GET", "/api/v1/session_epoch/sessions", "REST list sessions",
                           params={"user_id": self.site.users[user], "state": "active", "page_size": 100})
        if answer is None or answer.status_code != 200:
            return
        body = answer.json()
        ids = {item.get("id") for item in body.get("result", [])}
        if record_id in ids:
            self.ledger.problem(f"session {record_id[:8]}… of {user} is still listed as active after its end")
        if body.get("count", 0) <= 100 and token_record_id(token.access) not in ids:
            self.ledger.problem(f"the other API login of {user} is not listed as active after one session ended")
