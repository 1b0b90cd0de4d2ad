"""Remember-me cookies: a restore is judged by the login it came from, never by another's leftovers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fabapp import ADMIN, ALICE
from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user
from helpers import is_logged_in, login, user_id

import flask_session_epoch as fse

OWNED_KEYS = ("_login_at", "_session_epoch", "_session_epoch_sid", "_session_epoch_proxy")


@pytest.fixture
def remember_app(app: Flask) -> Flask:
    @app.route("/remember-login/<username>")
    def remember_login(username: str) -> str:
        login_user(app.appbuilder.sm.find_user(username), remember=True)
        return "ok"

    return app


def session_of(client: FlaskClient) -> dict:
    with client.session_transaction() as sess:
        return dict(sess)


def whoami(client: FlaskClient) -> str | None:
    response = client.get("/api/v1/ping/")
    return response.get_json()["user"] if response.status_code == 200 else None


def stolen_remember_token(app: Flask, username: str) -> str:
    """The victim's Flask-Login remember cookie, as an attacker would copy it (and nothing else)."""
    victim = app.test_client()
    victim.get(f"/remember-login/{username}")
    return victim.get_cookie("remember_token").value


def log_in_and_out(client: FlaskClient, credentials: tuple[str, str] = ALICE) -> None:
    login(client, credentials)
    assert client.get("/logout/").status_code == 302


def test_logout_forgets_every_key_the_package_owns(client: FlaskClient) -> None:
    login(client)
    assert session_of(client)["_session_epoch"]
    client.get("/logout/")
    left = session_of(client)
    assert [key for key in OWNED_KEYS if key in left] == []
    assert "_user_id" not in left


def test_leftovers_cannot_vouch_for_a_stolen_remember_cookie_after_revoke_all(remember_app: Flask) -> None:
    with remember_app.app_context():
        fse.invalidate_all_sessions(reason="test")
    token = stolen_remember_token(remember_app, ADMIN[0])
    attacker = remember_app.test_client()
    log_in_and_out(attacker)
    attacker.set_cookie("remember_token", token)
    assert whoami(attacker) is None
    assert not is_logged_in(attacker)


def test_leftovers_cannot_vouch_after_the_attacker_matches_the_victims_generation(remember_app: Flask) -> None:
    with remember_app.app_context():
        fse.invalidate_sessions(user_id(remember_app, ADMIN[0]), reason="test")
    token = stolen_remember_token(remember_app, ADMIN[0])
    attacker = remember_app.test_client()
    login(attacker)
    # Self-service sign-out raises the attacker's own generation to the victim's.
    assert attacker.post("/api/v1/session_epoch/signout_others").status_code == 200
    attacker.get("/logout/")
    attacker.set_cookie("remember_token", token)
    assert whoami(attacker) is None


def test_another_users_companion_cookie_cannot_vouch(remember_app: Flask) -> None:
    with remember_app.app_context():
        fse.invalidate_all_sessions(reason="test")
    token = stolen_remember_token(remember_app, ADMIN[0])
    attacker = remember_app.test_client()
    attacker.get(f"/remember-login/{ALICE[0]}")  # the attacker's own, genuine companion cookie
    attacker.delete_cookie("session")
    attacker.set_cookie("remember_token", token)
    assert whoami(attacker) is None


def test_a_restore_is_judged_even_with_a_live_session_of_the_same_user(remember_app: Flask) -> None:
    """A session that belongs to nobody (logged out) plus the cookie: the cookie alone decides."""
    client = remember_app.test_client()
    client.get(f"/remember-login/{ALICE[0]}")
    with client.session_transaction() as sess:
        del sess["_user_id"]  # as after a logout that kept the remember cookie
    assert whoami(client) == ALICE[0]
    assert session_of(client)["_session_epoch"][0] == user_id(remember_app)


def test_genuine_remember_cookie_restores_after_revoke_all(remember_app: Flask) -> None:
    with remember_app.app_context():
        fse.invalidate_all_sessions(reason="test")
    client = remember_app.test_client()
    client.get(f"/remember-login/{ALICE[0]}")
    client.delete_cookie("session")
    assert whoami(client) == ALICE[0]
    client.delete_cookie("session")
    with remember_app.app_context():
        fse.invalidate_sessions(user_id(remember_app), reason="test")
    assert whoami(client) is None
    assert client.get_cookie("remember_token") is None


def test_forged_remember_cookie_ids_are_anonymous_never_500(remember_app: Flask) -> None:
    from flask_login.utils import encode_cookie

    client = remember_app.test_client()
    for forged in ("9223372036854775808", "-1", "\u0663", "abc", "1" * 40):
        with remember_app.test_request_context():
            client.set_cookie("remember_token", encode_cookie(forged))
        response = client.get("/api/v1/ping/")
        assert response.status_code == 401


def _drop_epoch_row(app: Flask, username: str) -> None:
    """Make ``username`` an account from before the install: no epoch row at all."""
    with app.app_context():
        db = app.extensions["test_db"]
        db.session.execute(sa.delete(fse.UserSessionEpoch.__table__).where(
            fse.UserSessionEpoch.__table__.c.user_id == user_id(app, username)))
        db.session.commit()


@pytest.mark.parametrize("pre_install", [True, False], ids=["pre-install-account", "post-install-account"])
def test_a_bare_remember_cookie_without_its_companion_is_refused(remember_app: Flask, pre_install: bool) -> None:
    """Flask-Login's cookie alone names a user and no session record: nothing could ever end it."""
    username = ALICE[0]
    if pre_install:
        _drop_epoch_row(remember_app, username)
    else:  # created through FAB after the install: stamped "created"
        username = "carol"
        with remember_app.app_context():
            sm = remember_app.appbuilder.sm
            assert sm.add_user(username, "Carol", "C", "carol@example.org", sm.find_role("Admin"), "carol-pass-1")
    token = stolen_remember_token(remember_app, username)
    attacker = remember_app.test_client()
    attacker.set_cookie("remember_token", token)
    assert whoami(attacker) is None
    assert not is_logged_in(attacker)
