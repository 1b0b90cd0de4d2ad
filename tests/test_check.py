"""The request-time check, as a user of the app observes it."""

from __future__ import annotations

import math
import os
import time

import pytest
from fabapp import ALICE
from flask import Flask, session
from flask.testing import FlaskClient
from flask_appbuilder.const import AUTH_REMOTE_USER
from flask_login import login_user
from helpers import is_logged_in, login, user_id

import flask_session_epoch as fse
from flask_session_epoch import check, responses


def revoke(app: Flask, username: str = ALICE[0]) -> None:
    with app.app_context():
        fse.invalidate_sessions(user_id(app, username), reason="test")


def session_of(client: FlaskClient) -> dict:
    with client.session_transaction() as sess:
        return dict(sess)


def stamp_of(app: Flask, client: FlaskClient) -> tuple[int, list[int]]:
    """Whose login the session's stamp is (a user id), and the generations it saw."""
    stamp = session_of(client)[fse.SESSION_KEY_EPOCH]
    return stamp[0], stamp[2:4]


# -- login stamp -------------------------------------------------------------


def test_login_stamps_time_and_generations(client: FlaskClient) -> None:
    before = time.time()
    login(client)
    sess = session_of(client)
    assert before <= sess[fse.SESSION_KEY_LOGIN_AT] <= time.time()
    # The test database's users predate the epoch tables: no epoch yet.
    assert stamp_of(client.application, client) == (user_id(client.application), [0, 0])


def test_login_after_revoke_sees_new_generation(app: Flask, client: FlaskClient) -> None:
    revoke(app)
    login(client)
    assert stamp_of(app, client) == (user_id(app), [1, 0])
    assert is_logged_in(client)


def test_api_login_sets_no_session_cookie(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/security/login", json={"username": ALICE[0], "password": ALICE[1], "provider": "db"}
    )
    assert response.status_code == 200
    assert not any(h.startswith("session=") for h in response.headers.getlist("Set-Cookie"))


def test_custom_view_login_user_is_stamped(app: Flask) -> None:
    @app.route("/custom-login")
    def custom_login() -> str:
        login_user(app.appbuilder.sm.find_user(ALICE[0]))
        return "ok"

    client = app.test_client()
    client.get("/custom-login")
    assert stamp_of(app, client) == (user_id(app), [0, 0])
    revoke(app)
    assert not is_logged_in(client)


def test_anonymous_login_user_is_ignored(app: Flask) -> None:
    from flask_login import AnonymousUserMixin

    @app.route("/embedded")
    def embedded() -> str:
        login_user(AnonymousUserMixin(), force=True)
        return "ok"

    client = app.test_client()
    assert client.get("/embedded").status_code == 200
    assert fse.SESSION_KEY_LOGIN_AT not in session_of(client)


@pytest.mark.config(AUTH_TYPE=AUTH_REMOTE_USER)
def test_remote_user_login_is_stamped(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/login/", environ_base={"REMOTE_USER": ALICE[0]})
    assert response.status_code == 302
    assert stamp_of(app, client) == (user_id(app), [0, 0])


# -- enforcement -------------------------------------------------------------


@pytest.mark.all_databases
def test_revoked_session_redirects_to_login_with_flash(app: Flask, client: FlaskClient) -> None:
    login(client)
    assert is_logged_in(client)
    revoke(app)
    response = client.get("/protected/?tab=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login/?next=")
    assert response.headers[responses.ENDED_HEADER] == "1"
    page = client.get(response.headers["Location"])
    assert b"Your session has ended. Please sign in again." in page.data
    assert b"Access is Denied" not in page.data
    assert "_user_id" not in session_of(client)


def test_revoked_session_gets_401_from_api(app: Flask, client: FlaskClient) -> None:
    login(client)
    assert client.get("/api/v1/ping/").status_code == 200
    revoke(app)
    response = client.get("/api/v1/ping/")
    assert response.status_code == 401
    assert response.headers[responses.ENDED_HEADER] == "1"


def test_public_page_of_revoked_session_redirects_to_login(app: Flask, client: FlaskClient) -> None:
    login(client)
    revoke(app)
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


def test_other_users_sessions_survive_a_revoke(app: Flask) -> None:
    from fabapp import ADMIN

    alice, admin = app.test_client(), app.test_client()
    login(alice)
    login(admin, ADMIN)
    revoke(app, ALICE[0])
    assert not is_logged_in(alice)
    assert admin.get("/users/list/").status_code == 200


@pytest.mark.all_databases
def test_revoke_all_ends_everyone(app: Flask) -> None:
    from fabapp import ADMIN

    alice, admin = app.test_client(), app.test_client()
    login(alice)
    login(admin, ADMIN)
    with app.app_context():
        fse.invalidate_all_sessions(reason="test")
    assert not is_logged_in(alice)
    assert admin.get("/users/list/").status_code == 302
    login(alice)
    assert is_logged_in(alice)


def test_static_and_health_are_untouched(app: Flask, client: FlaskClient) -> None:
    login(client)
    revoke(app)
    assert client.get("/health").status_code == 200
    static = client.get("/static/appbuilder/css/flags/flags16.css")
    static.close()
    assert static.status_code == 200
    # Still logged in as far as the cookie goes; the next page view ends it.
    assert "_user_id" in session_of(client)
    assert not is_logged_in(client)


def forget_epoch(app: Flask, username: str = ALICE[0]) -> None:
    """Make a user look as if they existed before the package was installed: no epoch."""
    from flask_session_epoch.models import UserSessionEpoch

    with app.app_context():
        sm = app.appbuilder.sm
        sm.session.query(UserSessionEpoch).filter_by(user_id=user_id(app, username)).delete()
        sm.session.commit()


def test_session_without_stamp_survives_until_an_epoch_exists(app: Flask, client: FlaskClient) -> None:
    forget_epoch(app)
    login(client)
    with client.session_transaction() as sess:
        del sess[fse.SESSION_KEY_EPOCH]
        del sess[fse.SESSION_KEY_LOGIN_AT]
    assert is_logged_in(client)
    revoke(app, "admin")  # someone else's epoch changes nothing
    assert is_logged_in(client)
    revoke(app)
    assert not is_logged_in(client)


# -- edge cases ----------------------------------------------------------------


@pytest.mark.all_databases
def test_same_second_login_then_stamp_ends_session(app: Flask, client: FlaskClient) -> None:
    """(a) a stamp in the very second of the login still ends it."""
    login(client)
    login_at = session_of(client)[fse.SESSION_KEY_LOGIN_AT]
    revoke(app)
    assert math.floor(time.time()) - math.floor(login_at) <= 1
    assert not is_logged_in(client)


@pytest.mark.parametrize("db_kind", ["mariadb"])
def test_same_second_stamp_ends_session_on_whole_second_datetime(app: Flask, client: FlaskClient) -> None:
    """(a) on MariaDB whose DATETIME keeps no fractions (a column made by hand, say)."""
    import sqlalchemy as sa

    with app.app_context():
        engine = app.extensions["test_db"].engine
    with engine.begin() as conn:
        for table in ("ab_user_session_epoch", "ab_session_epoch_global"):
            conn.execute(sa.text(f"ALTER TABLE {table} MODIFY sessions_invalidated_at DATETIME NOT NULL"))
    try:
        login(client)
        revoke(app)
        assert not is_logged_in(client)
        login(client)
        assert is_logged_in(client)
    finally:
        with engine.begin() as conn:
            for table in ("ab_user_session_epoch", "ab_session_epoch_global"):
                conn.execute(sa.text(f"ALTER TABLE {table} MODIFY sessions_invalidated_at DATETIME(6) NOT NULL"))


@pytest.mark.all_databases
def test_login_right_after_revoke_stays_logged_in(app: Flask, client: FlaskClient) -> None:
    """(b) no spurious kill of the fresh session."""
    login(client)
    revoke(app)
    login(client)
    for _ in range(3):
        assert is_logged_in(client)


@pytest.mark.all_databases
@pytest.mark.parametrize("shift", [-300, 300])
@pytest.mark.parametrize("around", ["login", "stamp"])
def test_clock_skew_between_hosts_gives_same_outcome(
    make_app, monkeypatch: pytest.MonkeyPatch, shift: int, around: str
) -> None:
    """(c) host A logs in, host B stamps; one of them runs ``shift`` seconds off."""
    host_a, host_b = make_app(), make_app()
    real_time = time.time
    import datetime as dt

    from flask_session_epoch import store

    real_utcnow = store.utcnow
    client = host_a.test_client()

    def skewed() -> None:
        monkeypatch.setattr(time, "time", lambda: real_time() + shift)
        monkeypatch.setattr(store, "utcnow", lambda: real_utcnow() + dt.timedelta(seconds=shift))

    if around == "login":
        skewed()
    login(client)
    monkeypatch.undo()
    if around == "stamp":
        skewed()
    revoke(host_b)
    monkeypatch.undo()
    # The old session is dead on both hosts; a new login lives on both.
    assert not is_logged_in(client)
    login(client)
    assert is_logged_in(client)
    cookie = client.get_cookie("session")
    other = host_b.test_client()
    other.set_cookie("session", cookie.value)
    assert is_logged_in(other)


def test_host_rewriting_login_at_cannot_revive(app: Flask, client: FlaskClient) -> None:
    """(d) Airflow's FAB provider fills a missing ``_login_at`` with "now"."""

    @app.before_request
    def refresh_login_at() -> None:
        session[fse.SESSION_KEY_LOGIN_AT] = time.time()

    login(client)
    with client.session_transaction() as sess:
        del sess[fse.SESSION_KEY_LOGIN_AT]
    revoke(app)
    assert not is_logged_in(client)


@pytest.mark.all_databases
@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Kolkata"])
def test_process_time_zone_does_not_matter(app: Flask, client: FlaskClient, zone: str) -> None:
    """(e) the stamp and the login compare the same way in any zone."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        login(client)
        assert is_logged_in(client)
        revoke(app)
        assert not is_logged_in(client)
        login(client)
        assert is_logged_in(client)
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (fse.SESSION_KEY_EPOCH, "1,0"),
        (fse.SESSION_KEY_EPOCH, [1.0, 0]),
        (fse.SESSION_KEY_EPOCH, [True, 0]),
        (fse.SESSION_KEY_EPOCH, [-1, 0]),
        (fse.SESSION_KEY_EPOCH, [2**80, 0]),
        (fse.SESSION_KEY_EPOCH, [1, 0, 0]),
        (fse.SESSION_KEY_EPOCH, None),
        (fse.SESSION_KEY_LOGIN_AT, float("nan")),
        (fse.SESSION_KEY_LOGIN_AT, float("inf")),
        (fse.SESSION_KEY_LOGIN_AT, -5.0),
        (fse.SESSION_KEY_LOGIN_AT, 10.0**12),
        (fse.SESSION_KEY_LOGIN_AT, 10**400),
        (fse.SESSION_KEY_LOGIN_AT, "yesterday"),
        (fse.SESSION_KEY_LOGIN_AT, [1]),
        ("_user_id", "abc"),
        ("_user_id", "9" * 40),
        ("_user_id", ["2"]),
    ],
)
def test_tampered_session_values_are_stale_never_500(app: Flask, client: FlaskClient, key: str, value: object) -> None:
    """(g) after a stamp, a forged or legacy value is an anonymous request."""
    revoke(app)
    login(client)
    with client.session_transaction() as sess:
        sess[key] = value
    assert not is_logged_in(client)
    assert client.get("/api/v1/ping/").status_code == 401


def test_deleted_users_session_is_anonymous(app: Flask) -> None:
    """(h) the account is gone: the cookie is worth nothing."""
    from fabapp import ADMIN

    client = app.test_client()
    login(client, ADMIN)
    with app.app_context():
        sm = app.appbuilder.sm
        sm.del_register_user  # noqa: B018 - FAB API exists
        user = sm.find_user(ADMIN[0])
        sm.session.delete(user)
        sm.session.commit()
    assert client.get("/users/list/").status_code == 302
    assert client.get("/api/v1/ping/").status_code == 401


@pytest.mark.all_databases
@pytest.mark.parametrize("legacy", [False, True])
def test_deleted_users_credentials_never_serve_a_new_user_with_the_same_id(app: Flask, legacy: bool) -> None:
    """SQLite hands the highest id out again; other databases can be given an id explicitly."""
    from helpers import api_login, bearer

    with app.app_context():
        sm = app.appbuilder.sm
        bob = sm.add_user("bob", "Bob", "B", "bob@example.org", sm.find_role("Admin"), "bob-pass-1")
        bob_id = bob.id
    client = app.test_client()
    login(client, ("bob", "bob-pass-1"))
    token = api_login(client, ("bob", "bob-pass-1"))["access_token"]
    if legacy:  # a session from before the stamp existed
        with client.session_transaction() as sess:
            del sess[fse.SESSION_KEY_EPOCH]
    with app.app_context():
        sm = app.appbuilder.sm
        sm.session.delete(sm.session.get(sm.user_model, bob_id))
        sm.session.commit()
        carol = sm.user_model(id=bob_id, username="carol", first_name="Carol", last_name="C",
                              email="carol@example.org", active=True, roles=[sm.find_role("Admin")])
        sm.session.add(carol)
        sm.session.commit()
    assert client.get("/users/list/").status_code == 302
    assert client.get("/api/v1/ping/").status_code == 401
    assert client.get("/api/v1/ping/", headers=bearer(token)).status_code == 401


def test_fail_open_lets_request_through_when_check_errors(app: Flask, client: FlaskClient, monkeypatch, caplog) -> None:
    login(client)
    revoke(app)
    login(client)

    def broken(*args: object) -> str | None:
        raise ValueError("boom")

    monkeypatch.setattr(check, "session_refusal", broken)
    with caplog.at_level("ERROR", logger="flask_session_epoch"):
        assert is_logged_in(client)
    assert f"user {user_id(app)}" in caplog.text


@pytest.mark.config(SESSION_EPOCH_FAIL_CLOSED=True)
def test_fail_closed_ends_session_when_check_errors(app: Flask, client: FlaskClient, monkeypatch) -> None:
    login(client)

    def broken(*args: object) -> str | None:
        raise ValueError("boom")

    monkeypatch.setattr(check, "session_refusal", broken)
    revoke(app, "admin")
    revoke(app)
    login(client)
    assert not is_logged_in(client)
    assert client.get("/api/v1/ping/").status_code == 401


def test_database_error_while_loading_never_500(app: Flask, client: FlaskClient, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    from flask_session_epoch import store

    login(client)

    def down(*args: object) -> None:
        raise OperationalError("SELECT", {}, Exception("database is down"))

    monkeypatch.setattr(store, "load_user_with_state", down)
    monkeypatch.setattr(store, "load_state", down)
    assert is_logged_in(client)  # fail open: FAB's own loader still finds the user


def test_missing_tables_log_errors_and_let_requests_through(app: Flask, client: FlaskClient, caplog) -> None:
    """Installed but the tables not created yet: the app keeps working, loudly."""
    import sqlalchemy as sa
    from fabapp import ALICE as alice
    from helpers import api_login, bearer

    with app.app_context():
        engine = app.extensions["test_db"].engine
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE ab_user_session_epoch"))
            conn.execute(sa.text("DROP TABLE ab_session_epoch_global"))
    with caplog.at_level("ERROR", logger="flask_session_epoch"):
        login(client, alice)
        assert is_logged_in(client)
        token = api_login(client)["access_token"]
        assert client.get("/api/v1/ping/", headers=bearer(token)).status_code == 200
    assert "Could not read the session epoch" in caplog.text


def test_page_after_api_401_says_the_session_ended(app: Flask, client: FlaskClient) -> None:
    """A single-page app reloads after the marked 401: that page names the reason."""
    login(client)
    revoke(app)
    assert client.get("/api/v1/ping/").status_code == 401
    response = client.get("/protected/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert b"Your session has ended. Please sign in again." in page.data
    assert b"Access is Denied" not in page.data
    login(client)
    assert is_logged_in(client)
    assert b"Your session has ended" not in client.get("/protected/").data


def test_renaming_a_user_ends_their_sessions(app: Flask, client: FlaskClient) -> None:
    """The stamp is bound to the account as it was at login: a new name is a new identity."""
    login(client)
    with app.app_context():
        sm = app.appbuilder.sm
        sm.find_user(ALICE[0]).username = "alice2"
        sm.session.commit()
    assert not is_logged_in(client)
    login(client, ("alice2", ALICE[1]))
    assert is_logged_in(client)
