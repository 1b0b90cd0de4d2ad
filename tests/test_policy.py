"""Session policy: idle and absolute timeouts, a cap on sessions per user, a new session at login."""

from __future__ import annotations

import datetime as dt
import threading
import typing as t

import pytest
import sqlalchemy as sa
import time_machine
from fabapp import ADMIN, ALICE
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder.const import AUTH_REMOTE_USER
from helpers import api_login, bearer, is_logged_in, login, user_id

import flask_session_epoch as fse
from flask_session_epoch.config import ConfigurationError
from flask_session_epoch.models import SessionRecord

BASE = "/api/v1/session_epoch"
IDLE = pytest.mark.config(SESSION_EPOCH_IDLE_TIMEOUT=120, SESSION_EPOCH_ACTIVITY_INTERVAL=60)
ABSOLUTE = pytest.mark.config(SESSION_EPOCH_ABSOLUTE_TIMEOUT=300, SESSION_EPOCH_ACTIVITY_INTERVAL=60)


@pytest.fixture
def clock() -> t.Iterator[time_machine.Coordinates]:
    """Time that moves only when a test says so."""
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc), tick=False) as traveller:
        yield traveller


def visit(client: FlaskClient, path: str = "/protected/", **kwargs: t.Any) -> t.Any:
    """A request, closed as a WSGI server closes it once sent (activity is written then)."""
    response = client.get(path, **kwargs)
    response.close()
    return response


def open_records(app: Flask, username: str = ALICE[0]) -> list[t.Any]:
    with app.app_context():
        db = app.appbuilder.sm.session
        rows = db.execute(sa.select(SessionRecord).filter_by(user_id=user_id(app, username))).scalars().all()
        db.expunge_all()
    return [row for row in rows if row.ended_at is None]


def ended_reasons(app: Flask, username: str = ALICE[0]) -> list[str]:
    with app.app_context():
        db = app.appbuilder.sm.session
        rows = db.execute(sa.select(SessionRecord.end_reason).filter_by(user_id=user_id(app, username))
                          .where(SessionRecord.ended_at.is_not(None))).scalars().all()
    return sorted(rows)


def landed_with(client: FlaskClient, message: bytes) -> bool:
    response = visit(client)
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    return message in visit(client, response.headers["Location"]).data


# -- idle timeout ----------------------------------------------------------------------------


@IDLE
@pytest.mark.all_databases
def test_an_idle_session_ends_with_a_message_that_says_why(app: Flask, client: FlaskClient,
                                                           clock: time_machine.Coordinates) -> None:
    login(client)
    clock.shift(110)
    assert visit(client).status_code == 200  # activity at 110 s is recorded (one interval passed)
    clock.shift(110)
    assert visit(client).status_code == 200  # 110 s after the last recorded activity
    clock.shift(121)
    assert landed_with(client, b"Your session has ended after a period of inactivity.")
    assert ended_reasons(app) == ["idle-timeout"]


@IDLE
def test_a_timed_out_session_is_ended_once_however_many_copies_come_back(app: Flask, client: FlaskClient,
                                                                        clock: time_machine.Coordinates) -> None:
    login(client)
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    clock.shift(121)
    ended: list[str] = []
    with fse.signals.session_ended.connected_to(lambda sender, **kw: ended.append(kw["reason"]), app):
        for browser in (client, copy, copy):
            assert visit(browser).status_code == 302
    assert ended == ["idle-timeout"]
    assert ended_reasons(app) == ["idle-timeout"]


@IDLE
def test_the_idle_limit_counts_from_the_recorded_activity_so_it_may_end_one_interval_early(
        app: Flask, client: FlaskClient, clock: time_machine.Coordinates) -> None:
    login(client)
    clock.shift(50)
    assert visit(client).status_code == 200  # within the interval: not recorded
    clock.shift(75)  # 75 s after that request, 125 s after the recorded login
    assert not is_logged_in(client)


@IDLE
def test_an_idle_jwt_session_is_refused_with_the_reason(app: Flask, client: FlaskClient,
                                                       clock: time_machine.Coordinates) -> None:
    tokens = api_login(client)
    clock.shift(121)
    response = client.get("/api/v1/ping/", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert response.get_json()["reason"] == "idle-timeout" and response.get_json()["session_ended"] is True


@IDLE
def test_checking_is_not_activity_and_staying_signed_in_is(app: Flask, client: FlaskClient,
                                                          clock: time_machine.Coordinates) -> None:
    login(client)
    clock.shift(100)
    body = visit(client, f"{BASE}/check").get_json()
    assert body["idle_seconds_left"] == 20 and body["absolute_seconds_left"] is None
    clock.shift(10)
    assert visit(client, f"{BASE}/check").get_json()["idle_seconds_left"] == 10  # asking reset nothing
    assert visit(client, f"{BASE}/keep_alive").get_json()["idle_seconds_left"] == 120
    clock.shift(110)
    assert is_logged_in(client)


# -- absolute timeout -------------------------------------------------------------------------


@ABSOLUTE
@pytest.mark.all_databases
def test_a_session_ends_at_its_absolute_limit_however_active(app: Flask, client: FlaskClient,
                                                             clock: time_machine.Coordinates) -> None:
    login(client)
    for _ in range(4):
        clock.shift(70)
        assert visit(client).status_code == 200
    clock.shift(21)  # 301 s after the login
    assert landed_with(client, b"Your session has reached its maximum length.")
    assert ended_reasons(app) == ["absolute-timeout"]


@ABSOLUTE
def test_a_refresh_never_extends_a_session_past_its_absolute_limit(app: Flask, client: FlaskClient,
                                                                  clock: time_machine.Coordinates) -> None:
    tokens = api_login(client)
    clock.shift(250)
    refreshed = client.post("/api/v1/security/refresh", headers=bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200
    clock.shift(51)
    response = client.get("/api/v1/ping/", headers=bearer(refreshed.get_json()["access_token"]))
    assert response.status_code == 401 and response.get_json()["reason"] == "absolute-timeout"


@pytest.mark.config(SESSION_EPOCH_ABSOLUTE_TIMEOUT=900, PERMANENT_SESSION_LIFETIME=dt.timedelta(seconds=120))
def test_the_stricter_of_the_cookie_lifetime_and_ours_wins(client: FlaskClient,
                                                           clock: time_machine.Coordinates) -> None:
    login(client)
    clock.shift(100)
    assert is_logged_in(client)
    clock.shift(130)  # past PERMANENT_SESSION_LIFETIME since the cookie was last signed
    assert not is_logged_in(client)


@pytest.mark.config(SESSION_EPOCH_IDLE_TIMEOUT=600, SESSION_EPOCH_ABSOLUTE_TIMEOUT=900)
def test_check_reports_both_limits(client: FlaskClient, clock: time_machine.Coordinates) -> None:
    login(client)
    clock.shift(30)
    body = visit(client, f"{BASE}/check").get_json()
    assert (body["idle_seconds_left"], body["absolute_seconds_left"]) == (570, 870)


@pytest.mark.parametrize(("name", "value"), [("IDLE_TIMEOUT", 90), ("IDLE_TIMEOUT", "1h"), ("ABSOLUTE_TIMEOUT", 0),
                                            ("MAX_SESSIONS", 0), ("MAX_SESSIONS_POLICY", "newest")])
def test_unusable_limits_stop_start_up(sqlite_url: str, name: str, value: object) -> None:
    from fabapp import create_app

    with pytest.raises(ConfigurationError, match=f"SESSION_EPOCH_{name}"):
        create_app(sqlite_url, **{f"SESSION_EPOCH_{name}": value})


@IDLE
@ABSOLUTE
@pytest.mark.all_databases
def test_lists_show_sessions_past_a_limit_as_ended_with_the_reason(app: Flask, clock: time_machine.Coordinates) -> None:
    idle, old, fresh = app.test_client(), app.test_client(), app.test_client()
    login(old)
    clock.shift(100)
    assert visit(old).status_code == 200
    login(idle)
    clock.shift(100)
    assert visit(old).status_code == 200  # active, but started 200 s ago
    clock.shift(101)  # idle: 201 s without activity; old: 301 s after its login
    login(fresh)
    listed = fresh.get(f"{BASE}/me/sessions").get_json()["result"]
    by_id = {row["id"]: row for row in listed}
    assert [row["active"] for row in listed] == [True, False, False]
    ended = [by_id[record_id] for record_id in by_id if not by_id[record_id]["active"]]
    assert sorted(row["end_reason"] for row in ended) == ["absolute-timeout", "idle-timeout"]
    active_only = fresh.get(f"{BASE}/me/sessions?state=active").get_json()
    assert active_only["count"] == 1 and active_only["result"][0]["current"] is True


# -- a cap on sessions per user ----------------------------------------------------------------


@pytest.mark.config(SESSION_EPOCH_MAX_SESSIONS=2)
@pytest.mark.all_databases
def test_a_login_beyond_the_cap_ends_the_oldest_session(app: Flask) -> None:
    oldest, middle, newest = app.test_client(), app.test_client(), app.test_client()
    for client in (oldest, middle, newest):
        login(client)
    assert landed_with(oldest, b"This session was ended because you signed in on another device.")
    assert is_logged_in(middle) and is_logged_in(newest)
    assert ended_reasons(app) == ["session-limit"]


REFUSED = ("You are signed in on too many devices. Sign out on one of them, then sign in again."
           " A session you no longer use ends by itself after 30 minutes without activity.")


@pytest.mark.config(SESSION_EPOCH_MAX_SESSIONS=1, SESSION_EPOCH_MAX_SESSIONS_POLICY="refuse",
                    SESSION_EPOCH_IDLE_TIMEOUT=1800)
def test_a_login_beyond_the_cap_is_refused_with_a_message_that_says_what_to_do(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    login(first)
    response = second.post("/login/", data={"username": ALICE[0], "password": ALICE[1]}, follow_redirects=True)
    assert response.request.path == "/login/" and REFUSED in response.get_data(as_text=True)
    assert not is_logged_in(second)
    assert is_logged_in(first)
    refused = second.post("/api/v1/security/login",
                          json={"username": ALICE[0], "password": ALICE[1], "provider": "db"})
    assert refused.status_code == 400 and REFUSED in refused.get_json()["message"]
    onward = second.post("/login/?next=/protected/", data={"username": ALICE[0], "password": ALICE[1]})
    assert onward.status_code == 302 and onward.headers["Location"].endswith("/login/?next=/protected/")
    first.get("/logout/")
    login(second)  # room again
    assert is_logged_in(second)


@pytest.mark.config(AUTH_TYPE=AUTH_REMOTE_USER, SESSION_EPOCH_MAX_SESSIONS=1,
                    SESSION_EPOCH_MAX_SESSIONS_POLICY="refuse", SESSION_EPOCH_IDLE_TIMEOUT=1800)
def test_a_refused_remote_user_login_is_not_sent_back_to_log_in_again(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    assert first.get("/login/", environ_base={"REMOTE_USER": ALICE[0]}).status_code == 302
    assert is_logged_in(first)
    refused = second.get("/login/", environ_base={"REMOTE_USER": ALICE[0]})
    assert refused.status_code == 302 and "/login/" not in refused.headers["Location"]  # no loop
    assert REFUSED in visit(second, refused.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(("idle", "says"), [(120, "2 minutes"), (90 * 60, "90 minutes"), (7200, "2 hours"),
                                           (86400, "1 day"), (14 * 86400, "14 days"), (3601, "61 minutes")])
def test_the_refusal_names_the_idle_timeout(make_app, idle: int, says: str) -> None:
    app = make_app(SESSION_EPOCH_MAX_SESSIONS=1, SESSION_EPOCH_MAX_SESSIONS_POLICY="refuse",
                   SESSION_EPOCH_IDLE_TIMEOUT=idle)
    login(app.test_client())
    refused = app.test_client().post("/api/v1/security/login",
                                     json={"username": ALICE[0], "password": ALICE[1], "provider": "db"})
    assert f"ends by itself after {says} without activity." in refused.get_json()["message"]


def test_refusing_logins_beyond_the_cap_needs_an_idle_timeout(sqlite_url: str) -> None:
    """Or abandoned sessions would lock the user out until they expire (31 days, a year with remember-me)."""
    from fabapp import create_app

    needs = 'SESSION_EPOCH_MAX_SESSIONS_POLICY = "refuse": needs SESSION_EPOCH_IDLE_TIMEOUT'
    with pytest.raises(ConfigurationError, match=needs):
        create_app(sqlite_url, SESSION_EPOCH_MAX_SESSIONS=3, SESSION_EPOCH_MAX_SESSIONS_POLICY="refuse")


@pytest.mark.config(SESSION_EPOCH_MAX_SESSIONS=1)
def test_the_cap_is_per_user(app: Flask) -> None:
    alice, admin = app.test_client(), app.test_client()
    login(alice)
    login(admin, ADMIN)
    assert is_logged_in(alice)


@pytest.mark.config(SESSION_EPOCH_MAX_SESSIONS=1, SESSION_EPOCH_MAX_SESSIONS_POLICY="refuse",
                    SESSION_EPOCH_IDLE_TIMEOUT=120, SESSION_EPOCH_ACTIVITY_INTERVAL=60)
def test_sessions_past_a_limit_leave_room_under_the_cap(app: Flask, clock: time_machine.Coordinates) -> None:
    idle, fresh = app.test_client(), app.test_client()
    login(idle)
    clock.shift(121)  # the first session is over, though nothing has told its record yet
    login(fresh)
    assert is_logged_in(fresh)
    assert not is_logged_in(idle)


@pytest.mark.parametrize("db_kind", ["sqlite", "postgresql", "mariadb"])
@pytest.mark.parametrize("policy", ["evict-oldest", "refuse"])
def test_logins_racing_on_two_workers_never_exceed_the_cap(make_app, policy: str) -> None:
    workers = [make_app(SESSION_EPOCH_MAX_SESSIONS=1, SESSION_EPOCH_MAX_SESSIONS_POLICY=policy,
                        SESSION_EPOCH_IDLE_TIMEOUT=3600) for _ in range(2)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    signed_in: list[bool] = []

    def log_in(n: int) -> None:
        client = workers[n % 2].test_client()
        barrier.wait()
        try:
            client.post("/login/", data={"username": ALICE[0], "password": ALICE[1]})
            with client.session_transaction() as sess:
                signed_in.append("_user_id" in sess)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=log_in, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(open_records(workers[0])) == 1
    # Taking turns refused nobody for waiting: each login evicted the one before, or one got in.
    assert signed_in.count(True) == (8 if policy == "evict-oldest" else 1)


# -- a new session at every login ----------------------------------------------------------------


def test_nothing_from_before_the_login_survives_but_next_and_flashes(app: Flask, client: FlaskClient) -> None:
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
        sess["next"] = "/protected/"
        sess["_flashes"] = [("info", "kept")]
    login(client)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["next"] == "/protected/" and ("info", "kept") in [tuple(f) for f in sess["_flashes"]]


def test_a_server_side_session_gets_a_new_id_at_login_so_a_planted_one_is_useless(make_app,
                                                                                redis_sessions) -> None:
    app = make_app(setup=redis_sessions)
    attacker = app.test_client()
    attacker.get("/login/")  # the attacker gets a session id from the app
    planted = attacker.get_cookie("session").value
    victim = app.test_client()
    victim.set_cookie("session", planted)  # and fixes it in the victim's browser
    login(victim)
    assert victim.get_cookie("session").value != planted
    assert is_logged_in(victim)
    assert not is_logged_in(attacker)  # the planted id is not signed in


def test_a_planted_cookie_session_gains_nothing(app: Flask) -> None:
    attacker = app.test_client()
    with attacker.session_transaction() as sess:
        sess["csrf_token"] = "known-to-the-attacker"
    victim = app.test_client()
    victim.set_cookie("session", attacker.get_cookie("session").value)
    login(victim)
    with victim.session_transaction() as sess:
        assert sess.get("csrf_token") != "known-to-the-attacker"
    assert not is_logged_in(attacker)


def test_revoke_all_still_ends_everything_with_limits_on(app: Flask, client: FlaskClient) -> None:
    login(client)
    with app.app_context():
        fse.invalidate_all_sessions(reason="test")
    assert not is_logged_in(client)
