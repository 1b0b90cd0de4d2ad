"""HTTP clients of the demo app: logins, the credentials they give, requests made with them."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import random
import re
import threading
import time
import traceback
import typing as t
import zlib
from collections import deque
from urllib.parse import urlsplit

import requests
from soak_ledger import (
    ERROR,
    OK,
    REFUSED,
    UNEXPECTED,
    WRONG_USER,
    Attempt,
    Credential,
    EndCheck,
    Ending,
    Ledger,
    Login,
    Verification,
)
from soak_servers import PASSWORD, TAG_HEADER, Site

TIMEOUT = (5, 30)  # connect, read: a stuck request fails instead of hanging the test
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
_SIGNED_IN_AS = re.compile(r"signed in as <strong>([^<]*)</strong>")
#: Flask's session cookie (Flask-Session's too), the session key and the JWT claim that name the record.
SESSION_COOKIE = "session"
STAMP_KEY = "_session_epoch"
TOKEN_CLAIM = "sep"
MY_SESSIONS = "/api/v1/session_epoch/me/sessions"


def _unbase64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_record_id(token: str) -> str | None:
    """The session record a JWT names: the 4th element of its ``sep`` claim (read, not verified)."""
    try:
        claims = json.loads(_unbase64(token.split(".")[1]))
        value = claims[TOKEN_CLAIM][3]
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None
    return value if isinstance(value, str) else None


def cookie_record_id(cookies: t.Mapping[str, str | None]) -> str | None:
    """The session record a signed Flask session cookie names: the 5th element of its stamp.

    Flask's cookie is ``[.]base64(json)[.timestamp.signature]``, zlib-compressed when it
    starts with a dot. A server-side (Redis) session's cookie holds only its id: None.
    """
    value = cookies.get(SESSION_COOKIE) or ""
    try:
        payload = _unbase64(value.lstrip(".").split(".")[0])
        stamp = json.loads(zlib.decompress(payload) if value.startswith(".") else payload)[STAMP_KEY]
        record_id = stamp[4]
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error, zlib.error):
        return None
    return record_id if isinstance(record_id, str) else None


class CookieLogin:
    """A cookie session: the browser's jar, and a copy of its cookie taken right after login.

    The copy is what a stolen cookie would be: it never learns that the server ended
    the session, so only the server's check can refuse it.
    """

    def __init__(self, record: Credential, http: requests.Session) -> None:
        self.record = record
        self.http = http
        self.copied = dict(http.cookies)
        #: The jar's cookies after its latest request: a copy other threads may take (replaced, never changed).
        self.latest = dict(self.copied)

    def close(self) -> None:
        self.http.close()


class TokenLogin:
    """A JWT login: its refresh token and the latest access token (refreshed ones included)."""

    def __init__(self, record: Credential, access: str, refresh: str) -> None:
        self.record = record
        self.access = access
        self.refresh = refresh

    def close(self) -> None:
        pass


AnyLogin = CookieLogin | TokenLogin


def _ping(user: str) -> t.Callable[[requests.Response], str]:
    def judge(answer: requests.Response) -> str:
        if answer.status_code == 401:
            return REFUSED
        if answer.status_code != 200:
            return UNEXPECTED
        try:
            name = answer.json().get("user")
        except ValueError:
            return UNEXPECTED
        return OK if name == user else WRONG_USER

    return judge


def _page(user: str) -> t.Callable[[requests.Response], str]:
    def judge(answer: requests.Response) -> str:
        if answer.status_code in (301, 302, 303):
            return REFUSED if urlsplit(answer.headers.get("Location", "")).path.startswith("/login") else UNEXPECTED
        if answer.status_code != 200:
            return UNEXPECTED
        found = _SIGNED_IN_AS.search(answer.text)
        if found is None:
            return UNEXPECTED
        return OK if found.group(1) == user else WRONG_USER

    return judge


def _refreshed(answer: requests.Response) -> str:
    if answer.status_code == 401:
        return REFUSED
    try:
        refreshed = answer.status_code == 200 and "access_token" in answer.json()
    except ValueError:
        refreshed = False
    return OK if refreshed else UNEXPECTED


def _my_sessions(user_id: int, found: list[str]) -> t.Callable[[requests.Response], str]:
    """The caller's own sessions: exactly one of them is the one asking; its id goes to ``found``."""
    def judge(answer: requests.Response) -> str:
        if answer.status_code == 401:
            return REFUSED
        if answer.status_code != 200:
            return UNEXPECTED
        body = answer.json()
        items = body.get("result") if isinstance(body, dict) else None
        if not isinstance(items, list) or not isinstance(body.get("count"), int):
            return UNEXPECTED
        current = [item for item in items if isinstance(item, dict) and item.get("current") is True]
        if any(item.get("user_id") != user_id for item in items if isinstance(item, dict)):
            return WRONG_USER
        if len(current) != 1 or not isinstance(current[0].get("id"), str) or not current[0].get("started_at"):
            return UNEXPECTED
        found.append(current[0]["id"])
        return OK

    return judge


class Client:
    """Makes one thread's requests and writes each of them into the ledger."""

    def __init__(self, site: Site, ledger: Ledger, source: str, tag: str | None = None) -> None:
        self.base = site.base_url
        self.mode = site.mode
        self.user_ids = site.users
        self.ledger = ledger
        self.source = source
        self.headers = {TAG_HEADER: tag} if tag else {}
        self._raw = requests.Session()  # copied cookies and bearer tokens: its jar is emptied each time

    def close(self) -> None:
        self._raw.close()

    def _raw_request(self, method: str, path: str, **kwargs: t.Any) -> requests.Response:
        self._raw.cookies.clear()
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self._raw.request(method, self.base + path, headers=headers, timeout=TIMEOUT,
                                 allow_redirects=False, **kwargs)

    # -- logging in --------------------------------------------------------------

    def login_cookie(self, user: str, password: str = PASSWORD) -> CookieLogin | None:
        """The login form, as a browser fills it in (CSRF token included)."""
        http = requests.Session()
        started = time.time()
        status: int | None = None
        ok = False
        try:
            form = http.get(self.base + "/login/", timeout=TIMEOUT)
            status = form.status_code
            token = _CSRF.search(form.text) if status == 200 else None
            if token is not None:
                started = time.time()
                answer = http.post(self.base + "/login/", timeout=TIMEOUT, allow_redirects=False,
                                   data={"csrf_token": token.group(1), "username": user, "password": password})
                status = answer.status_code
                target = urlsplit(answer.headers.get("Location", "")).path
                ok = status == 302 and not target.startswith("/login")
        except requests.RequestException:
            status, ok = None, False
        ended = time.time()
        self.ledger.add(Login(user, "cookie", started, ended, status, ok, self.source))
        if not ok:
            http.close()
            return None
        login = CookieLogin(Credential(user, "cookie", started, ended), http)
        if self.mode == "cookie":
            login.record.record_id = cookie_record_id(login.copied)
            if login.record.record_id is None:
                self.ledger.problem(f"the session cookie of {user}'s login #{login.record.number} names no record")
        return login

    def login_jwt(self, user: str, password: str = PASSWORD) -> TokenLogin | None:
        """FAB's API login, with a refresh token."""
        started = time.time()
        body: dict[str, t.Any] = {}
        try:
            answer = self._raw_request("POST", "/api/v1/security/login", json={
                "username": user, "password": password, "provider": "db", "refresh": True})
            status: int | None = answer.status_code
            if status == 200:
                body = answer.json()
        except (requests.RequestException, ValueError):
            status = None
        ended = time.time()
        ok = "access_token" in body and "refresh_token" in body
        self.ledger.add(Login(user, "jwt", started, ended, status, ok, self.source))
        if not ok:
            return None
        login = TokenLogin(Credential(user, "jwt", started, ended), body["access_token"], body["refresh_token"])
        # One record for the login's access and refresh tokens.
        access_id, refresh_id = token_record_id(login.access), token_record_id(login.refresh)
        login.record.record_id = access_id if access_id == refresh_id else None
        if login.record.record_id is None:
            self.ledger.problem(f"the tokens of {user}'s JWT login #{login.record.number} name the records "
                                f"{access_id} and {refresh_id}, not one")
        return login

    # -- using a credential ------------------------------------------------------

    def _attempt(self, credential: Credential, what: str, send: t.Callable[[], requests.Response],
                 judge: t.Callable[[requests.Response], str]) -> tuple[Attempt, requests.Response | None]:
        started = time.time()
        answer: requests.Response | None
        try:
            answer = send()
            ended = time.time()
            status: int | None = answer.status_code
            outcome = judge(answer)
        except (requests.RequestException, ValueError):
            ended = time.time()
            answer, status, outcome = None, None, ERROR
        attempt = Attempt(credential, what, started, ended, status, outcome, self.source)
        self.ledger.add(attempt)
        return attempt, answer

    def _jar(self, login: CookieLogin, path: str) -> requests.Response:
        try:
            return login.http.get(self.base + path, headers=self.headers, timeout=TIMEOUT, allow_redirects=False)
        finally:
            login.latest = dict(login.http.cookies)

    def ping_cookie(self, login: CookieLogin) -> Attempt:
        return self._attempt(login.record, "ping-cookie", lambda: self._jar(login, "/api/v1/ping/"),
                             _ping(login.record.user))[0]

    def page_cookie(self, login: CookieLogin) -> Attempt:
        return self._attempt(login.record, "page-cookie", lambda: self._jar(login, "/demo/"),
                             _page(login.record.user))[0]

    def ping_copied_cookie(self, login: CookieLogin) -> Attempt:
        return self._attempt(login.record, "ping-copied-cookie", lambda: self._raw_request(
            "GET", "/api/v1/ping/", cookies=login.copied), _ping(login.record.user))[0]

    def page_copied_cookie(self, login: CookieLogin) -> Attempt:
        return self._attempt(login.record, "page-copied-cookie", lambda: self._raw_request(
            "GET", "/demo/", cookies=login.copied), _page(login.record.user))[0]

    def ping_latest_copy(self, login: CookieLogin, copy: dict[str, str | None]) -> Attempt:
        """A copy of the browser's cookie taken later than the login's (just before its session ended)."""
        return self._attempt(login.record, "ping-latest-copy", lambda: self._raw_request(
            "GET", "/api/v1/ping/", cookies=copy), _ping(login.record.user))[0]

    def page_latest_copy(self, login: CookieLogin, copy: dict[str, str | None]) -> Attempt:
        return self._attempt(login.record, "page-latest-copy", lambda: self._raw_request(
            "GET", "/demo/", cookies=copy), _page(login.record.user))[0]

    def my_session_id(self, login: AnyLogin) -> str | None:
        """The id of the login's session record, as ``GET .../me/sessions`` shows it (None if refused).

        Asked with the copy of the cookie taken at login, or the latest access token. A
        record id known from the credential itself (JWT claim, signed cookie) must match.
        """
        found: list[str] = []
        judge = _my_sessions(self.user_ids[login.record.user], found)
        if isinstance(login, CookieLogin):
            what, send = "my-sessions-cookie", lambda: self._raw_request("GET", MY_SESSIONS, cookies=login.copied)
        else:
            what, send = "my-sessions-jwt", lambda: self._raw_request(
                "GET", MY_SESSIONS, headers={"Authorization": f"Bearer {login.access}"})
        attempt = self._attempt(login.record, what, send, judge)[0]
        if attempt.outcome != OK:
            return None
        known = login.record.record_id
        if known is not None and known != found[0]:
            self.ledger.problem(f"{what} of {login.record.user}'s login #{login.record.number} names record "
                                f"{found[0][:8]}…, its credential {known[:8]}…")
        login.record.record_id = found[0]
        return found[0]

    def ping_jwt(self, login: TokenLogin) -> Attempt:
        return self._attempt(login.record, "ping-jwt", lambda: self._raw_request(
            "GET", "/api/v1/ping/", headers={"Authorization": f"Bearer {login.access}"},
        ), _ping(login.record.user))[0]

    def refresh_jwt(self, login: TokenLogin) -> Attempt:
        attempt, answer = self._attempt(login.record, "refresh-jwt", lambda: self._raw_request(
            "POST", "/api/v1/security/refresh", headers={"Authorization": f"Bearer {login.refresh}"},
        ), _refreshed)
        if attempt.outcome == OK and answer is not None:
            login.access = answer.json()["access_token"]  # as old as the login it came from
            if token_record_id(login.access) != login.record.record_id:
                self.ledger.problem(f"a refresh of {login.record.user}'s JWT login #{login.record.number} "
                                    "gave an access token of another record")
        return attempt


class Schedule:
    """When the load stops: after ``seconds``, or later if the revoke-all came late.

    The load goes on ``after_revoke_all`` seconds past the revoke-all, so that the
    credentials it ended are tried, but never past ``at_most`` seconds. Until the
    revoke-all has returned (or its operator gave up), the load does not stop: a load
    that stopped first would leave it untried, and the fresh logins checked after it
    alone on an idle server, where few workers get to answer.
    """

    def __init__(self, seconds: float, at_most: float, after_revoke_all: float) -> None:
        self.began = time.time()
        self.load_until = self.began + seconds
        self.latest = self.began + at_most
        self.after_revoke_all = after_revoke_all
        self.revoke_all_due = True
        self.revoke_all_at: float | None = None  # when it returned

    def running(self) -> bool:
        now = time.time()
        return now < self.load_until or (self.revoke_all_due and now < self.latest)

    def revoked_all(self) -> None:
        self.revoke_all_at = time.time()
        self.load_until = min(self.latest, max(self.load_until, self.revoke_all_at + self.after_revoke_all))
        self.revoke_all_due = False

    def no_revoke_all(self) -> None:
        """The revoke-all will not come (it failed): stop at the planned time."""
        self.revoke_all_due = False


class LoadWorker(threading.Thread):
    """Keeps a few users busy while the ``schedule`` runs.

    Logs them in (cookie and JWT), uses the credentials (API and pages, the jar and a
    copied cookie, refreshes), logs in again when one is refused, and keeps retrying the
    refused ones: they must stay dead, also after their user is enabled again.
    """

    RETIRED_KEPT = 8

    def __init__(self, site: Site, ledger: Ledger, users: list[str], schedule: Schedule, seed: int,
                 max_steps: int = 50_000) -> None:
        super().__init__(name=f"soak-load-{seed}", daemon=True)
        self.site, self.ledger, self.users, self.max_steps = site, ledger, users, max_steps
        self.schedule = schedule
        self.rng = random.Random(seed)
        self.live: dict[tuple[str, str], AnyLogin] = {}
        self.retired: deque[AnyLogin] = deque(maxlen=self.RETIRED_KEPT)
        self.blocked: dict[str, float] = {}  # a disabled user's next login try
        self.ready = threading.Event()  # every user logged in both ways once: revocations may begin

    def run(self) -> None:
        client = Client(self.site, self.ledger, "load")
        try:
            self._log_everyone_in(client)
            for _ in range(self.max_steps):
                if not self.schedule.running():
                    break
                self._step(client)
        except Exception:  # noqa: BLE001 - recorded: a crash in a thread must fail the test, not vanish
            self.ledger.problem(f"{self.name} crashed:\n{traceback.format_exc()}")
        finally:
            self.ready.set()  # also after a crash: nobody waits for this thread in vain
            for login in self.live.values():
                login.close()
            client.close()

    def _log_everyone_in(self, client: Client) -> None:
        for user in self.users:
            for kind in ("cookie", "jwt"):
                if not self.schedule.running():
                    return
                login = client.login_cookie(user) if kind == "cookie" else client.login_jwt(user)
                if login is not None:
                    self.live[(user, kind)] = login
        self.ready.set()

    def _step(self, client: Client) -> None:
        rng = self.rng
        if self.retired and rng.random() < 0.3:
            old = rng.choice(self.retired)
            if isinstance(old, CookieLogin):
                rng.choice((client.ping_copied_cookie, client.page_copied_cookie))(old)
            else:
                rng.choice((client.ping_jwt, client.refresh_jwt))(old)
            return
        user = rng.choice(self.users)
        kind = rng.choice(("cookie", "jwt"))
        login = self.live.get((user, kind))
        if login is None:
            if self.blocked.get(user, 0.0) > time.time():
                time.sleep(0.02)
                return
            login = client.login_cookie(user) if kind == "cookie" else client.login_jwt(user)
            if login is None:
                self.blocked[user] = time.time() + 0.25
                return
            self.live[(user, kind)] = login
        if isinstance(login, CookieLogin):
            action = rng.choices((client.ping_cookie, client.page_cookie, client.ping_copied_cookie),
                                 weights=(5, 3, 2))[0]
            attempt = action(login)
        else:
            attempt = (client.ping_jwt if rng.random() < 0.8 else client.refresh_jwt)(login)
        if attempt.outcome == REFUSED:
            del self.live[(user, kind)]
            login.close()
            self.retired.append(login)


def verify_fresh_login(site: Site, ledger: Ledger, user: str, after: str, tag: str, *,
                       password: str = PASSWORD, least: int = 8, most: int = 48) -> Verification:
    """Log ``user`` in afresh (cookie and JWT) and use both until every worker has answered.

    At least ``least`` requests, at most ``most``; every one of them must succeed.
    """
    check = Verification(after, user, tag)
    client = Client(site, ledger, "verify", tag)
    cookie = token = None
    try:
        cookie = client.login_cookie(user, password)
        token = client.login_jwt(user, password)
        check.login_ok = cookie is not None and token is not None
        if cookie is not None and token is not None:
            uses: itertools.cycle[t.Callable[[], Attempt]] = itertools.cycle((
                lambda: client.ping_cookie(cookie), lambda: client.page_cookie(cookie),
                lambda: client.ping_jwt(token), lambda: client.ping_copied_cookie(cookie),
            ))
            for done in range(1, most + 1):
                check.statuses.append(next(uses)().status)
                if done >= least and done % 4 == 0 and len(site.workers_for(tag)) >= site.workers:
                    break
        time.sleep(0.2)  # gunicorn writes the access log line after the response
        check.workers = site.workers_for(tag)
    finally:
        if cookie is not None:
            cookie.close()
        client.close()
    ledger.add(check)
    return check


def verify_single_end(site: Site, ledger: Ledger, ending: Ending, target: AnyLogin, latest_copy: dict[str, str | None],
                      others: tuple[CookieLogin, TokenLogin], tag: str, *, least: int = 8,
                      most: int = 40) -> EndCheck:
    """After ``target``'s session was ended alone: its copies must be refused and the same
    user's ``others`` (a cookie and a JWT login from before the end) served, on every worker.

    The ended cookie is tried with the copy taken at login and ``latest_copy`` (taken just
    before the end); an ended JWT login with its access and its refresh token. Both sides
    go on, in turns, until every worker has answered each (at least ``least`` requests
    each, at most ``most``).
    """
    check = EndCheck(ending, tag)
    dead = Client(site, ledger, "end-check", f"{tag}-ended")
    alive = Client(site, ledger, "end-check", f"{tag}-others")
    cookie, token = others
    try:
        ended_uses: itertools.cycle[t.Callable[[], Attempt]]
        if isinstance(target, CookieLogin):
            ended_uses = itertools.cycle((
                lambda: dead.ping_copied_cookie(target), lambda: dead.page_latest_copy(target, latest_copy),
                lambda: dead.ping_latest_copy(target, latest_copy), lambda: dead.page_copied_cookie(target),
            ))
        else:
            ended_uses = itertools.cycle((lambda: dead.ping_jwt(target), lambda: dead.refresh_jwt(target)))
        other_uses: itertools.cycle[t.Callable[[], Attempt]] = itertools.cycle((
            lambda: alive.ping_cookie(cookie), lambda: alive.ping_jwt(token), lambda: alive.page_cookie(cookie),
            lambda: alive.ping_copied_cookie(cookie), lambda: alive.refresh_jwt(token),
        ))
        for done in range(1, most + 1):
            check.ended.append(next(ended_uses)().outcome)
            check.others.append(next(other_uses)().outcome)
            if (done >= least and len(site.workers_for(f"{tag}-ended")) >= site.workers
                    and len(site.workers_for(f"{tag}-others")) >= site.workers):
                break
        time.sleep(0.2)  # gunicorn writes the access log line after the response
        check.ended_workers = site.workers_for(f"{tag}-ended")
        check.other_workers = site.workers_for(f"{tag}-others")
    finally:
        cookie.close()
        dead.close()
        alive.close()
    ledger.add(check)
    return check
