"""Tokens, API keys, remember-me cookies and disabled users through the security manager."""

from __future__ import annotations

import datetime as dt
import time

import jwt as pyjwt
import pytest
from fabapp import ALICE
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token
from helpers import api_key, api_login, bearer, is_logged_in, login, remember_app, user_id
from test_check import revoke

import flask_session_epoch as fse
from flask_session_epoch import responses, store
from flask_session_epoch.config import ConfigurationError


def ping(client: FlaskClient, token: str) -> int:
    return client.get("/api/v1/ping/", headers=bearer(token)).status_code


def refresh(client: FlaskClient, token: str) -> int:
    return client.post("/api/v1/security/refresh", headers=bearer(token)).status_code


# -- JWT -----------------------------------------------------------------------


@pytest.mark.all_databases
def test_revoked_access_and_refresh_tokens_get_401(app: Flask, client: FlaskClient) -> None:
    tokens = api_login(client)
    assert ping(client, tokens["access_token"]) == 200
    assert refresh(client, tokens["refresh_token"]) == 200
    revoke(app)
    response = client.get("/api/v1/ping/", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401
    assert response.get_json()["session_ended"] is True
    assert response.headers[responses.ENDED_HEADER] == "1"
    assert refresh(client, tokens["refresh_token"]) == 401
    fresh = api_login(client)
    assert ping(client, fresh["access_token"]) == 200
    assert refresh(client, fresh["refresh_token"]) == 200


def test_refreshed_access_token_carries_the_epoch(app: Flask, client: FlaskClient) -> None:
    tokens = api_login(client)
    response = client.post("/api/v1/security/refresh", headers=bearer(tokens["refresh_token"]))
    new_access = response.get_json()["access_token"]
    assert ping(client, new_access) == 200
    revoke(app)
    assert ping(client, new_access) == 401


def test_token_claim_holds_generations(app: Flask, client: FlaskClient) -> None:
    revoke(app)
    tokens = api_login(client)
    claims = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sep"][:2] == [1, 0] and len(claims["sep"]) == 4


def test_legacy_token_without_claim_is_judged_by_iat(app: Flask, client: FlaskClient) -> None:
    with app.test_request_context():
        app.extensions["flask-jwt-extended"]._user_claims_callback = lambda identity: {}
        old = create_access_token(identity=str(user_id(app)))
    time.sleep(1.1)  # iat counts whole seconds
    assert ping(client, old) == 200
    revoke(app)
    assert ping(client, old) == 401
    time.sleep(1.1)
    with app.test_request_context():
        newer = create_access_token(identity=str(user_id(app)))
        app.extensions["flask-jwt-extended"]._user_claims_callback = lambda identity: {}
        newer_legacy = create_access_token(identity=str(user_id(app)))
    assert ping(client, newer) == 200
    assert ping(client, newer_legacy) == 200


@pytest.mark.parametrize("claim", ["1,0", [1], [1.5, 0], None, {"a": 1}])
def test_tampered_token_claim_is_refused(app: Flask, client: FlaskClient, claim: object) -> None:
    revoke(app)
    with app.test_request_context():
        token = create_access_token(identity=str(user_id(app)), additional_claims={"sep": claim})
    assert ping(client, token) == 401


def test_legacy_two_item_claim_with_generations_that_do_not_exist_is_refused(app: Flask, client: FlaskClient) -> None:
    """0.2's claim ``[user generation, global generation]``: only the generations in force vouch,
    whatever ``iat`` says."""
    revoke(app)
    time.sleep(1.1)  # iat counts whole seconds: these are all minted after the epoch
    with app.app_context():
        current = list(store.load_state(app.extensions["test_db"].session, app.appbuilder.sm.user_model,
                                        user_id(app)).generations)
    with app.test_request_context():
        tokens = {
            tuple(claim): create_access_token(identity=str(user_id(app)), additional_claims={"sep": claim})
            for claim in ([current[0] + 5, current[1]], [current[0], current[1] + 1], [current[0] - 1, current[1]],
                          current)
        }
    assert {claim: ping(client, token) for claim, token in tokens.items()} == {
        (current[0] + 5, current[1]): 401, (current[0], current[1] + 1): 401, (current[0] - 1, current[1]): 401,
        tuple(current): 200,
    }


def test_revoke_all_ends_tokens(app: Flask, client: FlaskClient) -> None:
    tokens = api_login(client)
    with app.app_context():
        fse.invalidate_all_sessions()
    assert ping(client, tokens["access_token"]) == 401
    assert ping(client, api_login(client)["access_token"]) == 200


def test_jwt_request_ignores_the_session_check(app: Flask, client: FlaskClient) -> None:
    """A token issued after the epoch works even from a client whose cookie is stale."""
    login(client)
    revoke(app)
    tokens = api_login(client)
    assert ping(client, tokens["access_token"]) == 200


# -- API keys (FAB 5.3) ----------------------------------------------------------


@pytest.mark.config(FAB_API_KEY_ENABLED=True)
def test_api_key_created_before_epoch_stops_working(app: Flask, client: FlaskClient) -> None:
    key = api_key(app)
    assert ping(client, key) == 200
    time.sleep(0.01)
    revoke(app)
    assert ping(client, key) == 401
    assert ping(client, api_key(app, "ci-2")) == 200


# -- remember-me -----------------------------------------------------------------


def without_session(client: FlaskClient) -> None:
    client.delete_cookie("session")


def test_remember_cookie_issued_after_epoch_restores(app: Flask) -> None:
    revoke(app)
    client = remember_app(app).test_client()
    client.get("/remember-login")
    without_session(client)
    assert is_logged_in(client)


def test_remember_cookie_issued_before_epoch_cannot_restore(app: Flask) -> None:
    client = remember_app(app).test_client()
    client.get("/remember-login")
    revoke(app)
    without_session(client)
    assert not is_logged_in(client)
    assert client.get_cookie("remember_token") is None


def test_remember_cookie_without_companion_cannot_restore_before_or_after_epoch(app: Flask) -> None:
    client = remember_app(app).test_client()
    client.get("/remember-login")
    client.delete_cookie("session_epoch_remember")
    without_session(client)
    assert not is_logged_in(client)  # no epoch yet, but no record either: nothing could end it
    revoke(app)
    without_session(client)
    assert not is_logged_in(client)


# -- disabled users ----------------------------------------------------------------


def set_active(app: Flask, active: bool) -> None:
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.find_user(ALICE[0])
        user.active = active
        sm.session.commit()


@pytest.mark.all_databases
def test_disabled_user_sees_session_ended_and_reenable_revives_nothing(app: Flask, client: FlaskClient) -> None:
    login(client)
    tokens = api_login(client)
    set_active(app, False)
    response = client.get("/protected/")
    assert response.status_code == 302 and response.headers[responses.ENDED_HEADER] == "1"
    page = client.get(response.headers["Location"])
    assert b"Your session has ended" in page.data
    set_active(app, True)
    assert not is_logged_in(client)
    assert ping(client, tokens["access_token"]) == 401
    assert refresh(client, tokens["refresh_token"]) == 401
    login(client)
    assert is_logged_in(client)


def test_copied_cookie_stays_dead_after_reenable(app: Flask) -> None:
    original = app.test_client()
    login(original)
    copy = app.test_client()
    copy.set_cookie("session", original.get_cookie("session").value)
    set_active(app, False)
    set_active(app, True)
    assert not is_logged_in(copy)
    assert not is_logged_in(original)


def test_signal_and_log_when_session_refused(app: Flask, client: FlaskClient, caplog) -> None:
    seen: list[dict] = []

    def receiver(sender: Flask, **payload: object) -> None:
        seen.append(payload)

    login(client)
    revoke(app)
    with fse.session_rejected.connected_to(receiver, app), caplog.at_level("INFO", "flask_session_epoch"):
        assert not is_logged_in(client)
    assert seen == [{"user_id": user_id(app), "via": "session", "reason": "stale"}]
    assert f"user {user_id(app)}" in caplog.text and "/protected/" in caplog.text


def test_second_init_registers_nothing_twice(make_app) -> None:
    from sqlalchemy import event

    from flask_session_epoch import listeners, manager
    from flask_session_epoch.models import UserSessionEpoch  # noqa: F401

    first = make_app()
    make_app()
    user_model = first.appbuilder.sm.user_model
    assert event.contains(user_model, "after_update", listeners._after_user_update)
    assert len([f for f in first.after_request_funcs[None] if f is manager._after_request]) == 1


def test_unknown_setting_fails_at_startup(make_app) -> None:
    with pytest.raises(ConfigurationError, match="SESSION_EPOCH_FAIL_CLOSD"):
        make_app(SESSION_EPOCH_FAIL_CLOSD=True)


def test_epoch_state_effective_is_the_later_one() -> None:
    from flask_session_epoch.store import EpochState

    early, late = dt.datetime(2026, 1, 1), dt.datetime(2026, 6, 1)
    assert EpochState(1, early, 1, late).effective_at == late.replace(tzinfo=dt.timezone.utc)
    assert EpochState(1, late, 0, None).effective_at == late.replace(tzinfo=dt.timezone.utc)
    assert EpochState().effective_at is None and not EpochState().has_epoch


@pytest.mark.all_databases
@pytest.mark.parametrize("sub", ["9223372036854775808", "1" * 40, "\u0662", "-2", " 2"])
def test_token_subjects_that_are_no_user_ids_get_401_never_500(app: Flask, client: FlaskClient, sub: str) -> None:
    with app.test_request_context():
        token = create_access_token(identity=sub)
    assert ping(client, token) == 401
