"""Airflow's API server in this process, for what needs its insides: statement counts and time travel.

Run by ``test_airflow.py`` (and ``benchmarks/airflow_statements.py``) with the
environment of ``conftest.airflow_env``; prints one JSON line.

``count``     statements of ``GET /api/v2/dags`` with a JWT, and of pages under /auth/ with
              the session cookie, once warm (Airflow's user cache filled): the password
              form, and the profile page (which also shows when sessions last ended).
``lifetime``  ``[fab] session_max_lifetime_minutes`` (set to 1) beside the epoch.
``legacy``    a token minted before the install (no claim of ours), and one it mints, before and
              after a revoke.
``idle``      ``SESSION_EPOCH_IDLE_TIMEOUT`` (120 s, activity every 30 s) for the UI's ``_token``:
              the UI's own API calls keep the session going; one left idle ends.
``busy``      ``[fab] session_lifetime_minutes`` (2) below ``[api_auth] jwt_expiration_time`` (600 s):
              the UI's API calls keep the session going up to its token's expiry, never past
              it; a session left idle for the cookie's lifetime ends.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import typing as t

from airflow import settings
from airflow.api_fastapi.app import create_app, get_auth_manager
from fastapi.testclient import TestClient
from sqlalchemy import event

USERNAME, PASSWORD = "inprocess-user", "inprocess-pass-1"


def _login(client: TestClient, username: str, password: str) -> None:
    page = client.get("/auth/login/")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token is not None, page.text[:500]
    response = client.post("/auth/login/", data={"username": username, "password": password,
                                                 "csrf_token": token.group(1)}, follow_redirects=False)
    assert response.status_code == 302 and "/login" not in response.headers["location"], response.text[:500]


def _ensure_user() -> int:
    auth_manager = get_auth_manager()
    with auth_manager.flask_app.app_context():
        sm = auth_manager.security_manager
        user = sm.find_user(username=USERNAME)
        if user is None:
            user = sm.add_user(USERNAME, "In", "Process", f"{USERNAME}@example.org", sm.find_role("Viewer"),
                               PASSWORD)
        return int(user.id)


def _statements(send: t.Callable[[], t.Any]) -> int:
    seen: list[str] = []

    def count(*args: t.Any) -> None:
        seen.append(args[2])

    event.listen(settings.engine, "before_cursor_execute", count)
    try:
        response = send()
    finally:
        event.remove(settings.engine, "before_cursor_execute", count)
    assert response.status_code == 200, response.text[:300]
    return len(seen)


def count() -> dict[str, int]:
    app = create_app()
    _ensure_user()
    api_client, browser = TestClient(app), TestClient(app)
    token = api_client.post("/auth/token", json={"username": USERNAME, "password": PASSWORD}).json()["access_token"]
    _login(browser, USERNAME, PASSWORD)

    def api_call() -> t.Any:
        return api_client.get("/api/v2/dags", headers={"Authorization": f"Bearer {token}"})

    def password_page() -> t.Any:
        return browser.get("/auth/resetmypassword/form")

    def profile_page() -> t.Any:
        return browser.get("/auth/users/userinfo/")

    api_call(), password_page(), profile_page()  # warm: Airflow caches users for [fab] cache_ttl
    return {"api_jwt": _statements(api_call), "auth_page_cookie": _statements(password_page),
            "profile_page_cookie": _statements(profile_page)}


def lifetime() -> dict[str, t.Any]:
    import time_machine

    from flask_session_epoch import invalidate_sessions

    app = create_app()
    user_id = _ensure_user()
    browser = TestClient(app)

    def page() -> str:
        response = browser.get("/auth/users/userinfo/", follow_redirects=False)
        return "served" if response.status_code == 200 else "login" if "/login" in response.headers.get(
            "location", "") else str(response.status_code)

    _login(browser, USERNAME, PASSWORD)
    assert page() == "served"
    with get_auth_manager().flask_app.app_context():
        invalidate_sessions(user_id, reason="test")
    revoked = page() == "login"
    start = dt.datetime.now(dt.timezone.utc)
    with time_machine.travel(start, tick=True) as traveller:
        _login(browser, USERNAME, PASSWORD)
        fresh = page() == "served"
        traveller.shift(dt.timedelta(seconds=30))
        within = page()
        traveller.shift(dt.timedelta(seconds=31))
        past = page()
        # The login's own stamp survives the new session the login starts: with no request
        # in between, the deadline still counts from the login.
        _login(browser, USERNAME, PASSWORD)
        traveller.shift(dt.timedelta(seconds=61))
        past_untouched = page()
    return {"revoked_then_fresh_login": revoked and fresh, "past_max_lifetime": past, "within": within,
            "past_without_a_request_between": past_untouched}


def legacy() -> dict[str, t.Any]:
    import time

    import jwt

    from flask_session_epoch import invalidate_sessions

    app = create_app()
    user_id = _ensure_user()
    time.sleep(1.1)  # iat counts whole seconds: the token must come after any earlier stamp
    auth_manager = get_auth_manager()
    # What the plain FAB auth manager minted: only the subject.
    token = auth_manager._get_token_signer().generate({"sub": str(user_id)})
    client = TestClient(app)

    def status(jwt_value: str) -> int:
        return client.get("/api/v2/dags", headers={"Authorization": f"Bearer {jwt_value}"}).status_code

    before = status(token)
    # A token it mints (POST /ui/auth/token) starts a session of its own: it has nothing else to join.
    minted = client.post("/ui/auth/token", json={}, headers={"Authorization": f"Bearer {token}"})
    successor = minted.json()["access_token"]
    successor_record = jwt.decode(successor, options={"verify_signature": False})["sep"][3]
    with auth_manager.flask_app.app_context():
        invalidate_sessions(user_id, reason="test")
    return {"before": before, "after": status(token), "successor_has_a_record": successor_record is not None,
            "successor_after": status(successor)}


def idle() -> dict[str, t.Any]:
    import time_machine
    from sqlalchemy import text

    app = create_app()
    user_id = _ensure_user()
    browser = TestClient(app)

    def records() -> dict[str, str | None]:
        with settings.engine.connect() as connection:
            return dict(connection.execute(text("SELECT id, end_reason FROM ab_session_epoch_session"
                                                " WHERE user_id = :user_id"), {"user_id": user_id}).all())

    def api() -> int:
        return browser.get("/api/v2/dags").status_code  # the UI's way: the _token cookie

    from flask_session_epoch import signals

    heard: list[str] = []
    signals.session_ended.connect(lambda sender, **kw: heard.append(kw["reason"]), weak=False)
    before = records()
    with time_machine.travel(dt.datetime.now(dt.timezone.utc), tick=True) as traveller:
        _login(browser, USERNAME, PASSWORD)
        steps: dict[str, t.Any] = {"login": api()}
        for step in ("active_100s", "active_200s"):
            traveller.shift(dt.timedelta(seconds=100))
            steps[step] = api()
        traveller.shift(dt.timedelta(seconds=121))
        steps["idle_121s"] = api()
    new = [reason for record_id, reason in records().items() if record_id not in before]
    return {**steps, "end_reasons": new, "signalled": heard}


def busy() -> dict[str, t.Any]:
    import jwt
    import time_machine
    from sqlalchemy import text

    app = create_app()
    _ensure_user()
    browser = TestClient(app)

    def api() -> int:
        return browser.get("/api/v2/dags").status_code  # the UI's way: the _token cookie

    def expiry(record_id: str) -> float:
        with settings.engine.connect() as connection:
            value = connection.execute(text("SELECT expires_at FROM ab_session_epoch_session WHERE id = :id"),
                                       {"id": record_id}).scalar_one()
        stored = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
        return stored.replace(tzinfo=dt.timezone.utc).timestamp()

    def login() -> dict[str, t.Any]:
        _login(browser, USERNAME, PASSWORD)
        return jwt.decode(browser.cookies["_token"], options={"verify_signature": False})

    with time_machine.travel(dt.datetime.now(dt.timezone.utc), tick=True) as traveller:
        claims = login()
        busy_steps = []
        for _ in range(9):  # a call a minute, up to a minute before the token's expiry
            traveller.shift(dt.timedelta(seconds=60))
            busy_steps.append(api())
        past_token = expiry(claims["sep"][3]) - claims["exp"]
        claims = login()
        traveller.shift(dt.timedelta(seconds=60))
        busy_once = api()
        traveller.shift(dt.timedelta(seconds=181))  # idle past the cookie's lifetime and the interval
        idle = api()
    return {"busy": busy_steps, "record_past_token_s": past_token, "then_busy": busy_once, "then_idle": idle}


if __name__ == "__main__":
    what = sys.argv[1]
    print(json.dumps({"count": count, "lifetime": lifetime, "legacy": legacy, "idle": idle, "busy": busy}[what]()))
