"""Logins start records: what a record stores of the client, and what a login does when it cannot be written."""

from __future__ import annotations

import datetime as dt
import typing as t

import jwt as pyjwt
import pytest
import sqlalchemy as sa
import time_machine
from fabapp import ALICE
from flask import Flask
from helpers import bearer, is_logged_in, login, user_id
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_session_epoch.models import SessionRecord

API_LOGIN = {"username": ALICE[0], "password": ALICE[1], "provider": "db"}
NOT_RECORDED = "could not be recorded"
ACCESS = dt.timedelta(minutes=15)  # flask-jwt-extended's defaults, which FAB keeps
REFRESH = dt.timedelta(days=30)


@pytest.fixture
def clock() -> t.Iterator[time_machine.Coordinates]:
    """Time that moves only when a test says so."""
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, 0, 0, 500000, tzinfo=dt.timezone.utc),
                             tick=False) as traveller:
        yield traveller


def behind_a_proxy(app: Flask) -> None:
    """A ProxyFix that believes whatever X-Forwarded-For the client sends (a common mistake)."""
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]


def records(app: Flask) -> list[t.Any]:
    with app.app_context():
        db = app.appbuilder.sm.session
        rows = db.execute(sa.select(SessionRecord).filter_by(user_id=user_id(app))
                          .order_by(SessionRecord.started_at)).scalars().all()
        db.expunge_all()
    return list(rows)


def browser_login(app: Flask, headers: dict[str, str]) -> t.Any:
    client = app.test_client()
    response = client.post("/login/", data={"username": ALICE[0], "password": ALICE[1]}, headers=headers)
    assert response.status_code == 302
    return client


def api_login(app: Flask, headers: dict[str, str]) -> t.Any:
    response = app.test_client().post("/api/v1/security/login", json=API_LOGIN, headers=headers)
    assert response.status_code == 200, response.data
    return response


# -- what a record stores of the client --------------------------------------------------------


@pytest.mark.all_databases
@pytest.mark.parametrize(("forwarded", "stored"), [
    ("x" * 100, None),  # longer than the column: PostgreSQL refused the whole record
    ("not an address", None),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("::ffff:10.1.2.3", "10.1.2.3"),
    ("fe80::1%" + "eth" * 30, "fe80::1"),  # a scope id names the proxy's interface, not the client
    ("203.0.113.9:4711", "203.0.113.9"),
    ("[2001:db8::2]:443", "2001:db8::2"),
    (" 198.51.100.7 ", "198.51.100.7"),
])
def test_a_client_chosen_address_is_stored_normalised_or_not_at_all(make_app: t.Callable[..., Flask],
                                                                   forwarded: str, stored: str | None) -> None:
    app = make_app(setup=behind_a_proxy)
    client = browser_login(app, {"X-Forwarded-For": forwarded})
    api_login(app, {"X-Forwarded-For": forwarded})
    assert is_logged_in(client)
    assert [(row.kind, row.ip) for row in records(app)] == [("browser", stored), ("api", stored)]


@pytest.mark.all_databases
def test_every_client_value_is_clipped_to_its_column_and_cleaned(app: Flask) -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0 \x00" + "z" * 2000
    client = browser_login(app, {"User-Agent": agent})
    api_login(app, {"User-Agent": agent})
    assert is_logged_in(client)
    found = records(app)
    assert len(found) == 2
    for row in found:
        assert "\x00" not in row.user_agent and row.user_agent.startswith("Mozilla/5.0 (X11; Linux x86_64)")
        assert len(row.user_agent) == SessionRecord.__table__.c.user_agent.type.length


# -- a record that cannot be written ------------------------------------------------------------


def reject_record_writes(app: Flask) -> None:
    """Make the database itself refuse new session records, as a full disk or a broken replica would."""
    with app.app_context():
        engine = app.appbuilder.sm.session.get_bind()
    with engine.begin() as conn:
        name = conn.dialect.name
        if name == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER fse_reject BEFORE INSERT ON ab_session_epoch_session"
                                 " BEGIN SELECT RAISE(ABORT, 'no room'); END")
        elif name == "postgresql":
            conn.exec_driver_sql("CREATE OR REPLACE FUNCTION fse_reject() RETURNS trigger AS"
                                 " $$ BEGIN RAISE EXCEPTION 'no room'; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER fse_reject BEFORE INSERT ON ab_session_epoch_session"
                                 " FOR EACH ROW EXECUTE FUNCTION fse_reject()")
        else:
            conn.exec_driver_sql("CREATE TRIGGER fse_reject BEFORE INSERT ON ab_session_epoch_session"
                                 " FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'no room'")


POLICIES = [
    {"SESSION_EPOCH_FAIL_CLOSED": True},
    {"SESSION_EPOCH_IDLE_TIMEOUT": 600},
    {"SESSION_EPOCH_ABSOLUTE_TIMEOUT": 3600},
    {"SESSION_EPOCH_MAX_SESSIONS": 3},
]


@pytest.mark.all_databases
@pytest.mark.parametrize("policy", POLICIES, ids=lambda policy: next(iter(policy)).removeprefix("SESSION_EPOCH_"))
def test_a_login_whose_record_cannot_be_written_is_refused_when_a_policy_needs_it(
        make_app: t.Callable[..., Flask], policy: dict[str, t.Any], caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(**policy)
    reject_record_writes(app)
    client = app.test_client()
    response = client.post("/login/", data={"username": ALICE[0], "password": ALICE[1]}, follow_redirects=True)
    assert NOT_RECORDED in response.get_data(as_text=True)
    assert not is_logged_in(client)
    refused = client.post("/api/v1/security/login", json={**API_LOGIN, "refresh": True})
    assert refused.status_code == 400 and NOT_RECORDED in refused.get_json()["message"]
    assert "access_token" not in refused.get_json()
    assert "Refused the login of user" in caplog.text
    # The session's transaction was rolled back: the next login, once the database writes again, works.
    with app.app_context(), app.appbuilder.sm.session.get_bind().begin() as conn:
        on_table = " ON ab_session_epoch_session" if conn.dialect.name == "postgresql" else ""
        conn.exec_driver_sql("DROP TRIGGER fse_reject" + on_table)
    assert is_logged_in(browser_login(app, {}))
    assert len(records(app)) == 1


@pytest.mark.all_databases
def test_without_a_policy_a_login_whose_record_cannot_be_written_goes_on(app: Flask) -> None:
    reject_record_writes(app)
    assert is_logged_in(browser_login(app, {}))
    assert api_login(app, {}).get_json()["access_token"]
    assert records(app) == []


# -- a record lasts as long as the longest credential minted for it ---------------------------


def claims(token: str) -> dict[str, t.Any]:
    return pyjwt.decode(token, options={"verify_signature": False})


def expiry(token: str) -> dt.datetime:
    """A token's exp, as our tables store times (naive UTC)."""
    return dt.datetime.fromtimestamp(claims(token)["exp"], dt.timezone.utc).replace(tzinfo=None)


def test_an_access_only_api_login_lasts_as_long_as_its_access_token(app: Flask,
                                                                    clock: time_machine.Coordinates) -> None:
    tokens = api_login(app, {}).get_json()
    assert "refresh_token" not in tokens
    [record] = records(app)
    assert record.expires_at == expiry(tokens["access_token"])
    assert record.expires_at - record.started_at <= ACCESS


@pytest.mark.config(SESSION_EPOCH_MAX_SESSIONS=1, SESSION_EPOCH_MAX_SESSIONS_POLICY="refuse",
                    SESSION_EPOCH_IDLE_TIMEOUT=3600)
def test_an_access_only_api_login_holds_a_place_under_the_cap_only_while_its_token_lives(
        app: Flask, clock: time_machine.Coordinates) -> None:
    token = api_login(app, {}).get_json()["access_token"]
    browser = app.test_client()
    response = browser.post("/login/", data={"username": ALICE[0], "password": ALICE[1]}, follow_redirects=True)
    assert b"too many devices" in response.data  # the token still works: it holds the place
    clock.shift(ACCESS + dt.timedelta(seconds=1))
    assert app.test_client().get("/api/v1/ping/", headers=bearer(token)).status_code == 401
    login(browser)  # the token is dead, and so is its session
    listed = browser.get("/api/v1/session_epoch/me/sessions").get_json()["result"]
    assert [(row["kind"], row["active"]) for row in listed] == [("browser", True), ("api", False)]


def test_a_login_with_a_refresh_token_lasts_as_long_as_the_refresh_token(app: Flask,
                                                                        clock: time_machine.Coordinates) -> None:
    response = app.test_client().post("/api/v1/security/login", json={**API_LOGIN, "refresh": True})
    tokens = response.get_json()
    [record] = records(app)
    assert record.expires_at == expiry(tokens["refresh_token"]) > expiry(tokens["access_token"])
    assert record.expires_at - record.started_at <= REFRESH


def test_a_refresh_mints_under_the_same_record_and_never_past_the_refresh_token(
        app: Flask, clock: time_machine.Coordinates) -> None:
    client = app.test_client()
    tokens = client.post("/api/v1/security/login", json={**API_LOGIN, "refresh": True}).get_json()
    refresh = tokens["refresh_token"]
    clock.shift(dt.timedelta(days=1))
    midway = client.post("/api/v1/security/refresh", headers=bearer(refresh)).get_json()["access_token"]
    assert claims(midway)["sep"][3] == claims(refresh)["sep"][3]
    assert claims(midway)["exp"] == claims(midway)["iat"] + ACCESS.total_seconds()
    clock.shift(REFRESH - dt.timedelta(days=1, minutes=5))  # five minutes before the refresh token dies
    late = client.post("/api/v1/security/refresh", headers=bearer(refresh)).get_json()["access_token"]
    assert claims(late)["sep"][3] == claims(refresh)["sep"][3]
    assert claims(late)["exp"] == claims(refresh)["exp"]  # not ten minutes past it
    [record] = records(app)
    assert record.expires_at == expiry(refresh)
    clock.shift(dt.timedelta(minutes=5, seconds=1))
    assert client.get("/api/v1/ping/", headers=bearer(late)).status_code == 401
