"""A logout ends every credential presented with it: the session, and the JWTs sent along.

The refresh token of an API login shares its access token's record, so presenting either
ends both. An API key is not a session: a logout leaves it working.
"""

from __future__ import annotations

import typing as t

import jwt
import pytest
from fabapp import ADMIN
from flask import Flask
from flask.testing import FlaskClient
from helpers import api_key, api_login, bearer, is_logged_in, login, remember_app

from flask_session_epoch import signals

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def ping(client: FlaskClient, token: str) -> int:
    return client.get("/api/v1/ping/", headers=bearer(token)).status_code


def refresh(client: FlaskClient, token: str) -> int:
    return client.post("/api/v1/security/refresh", headers=bearer(token)).status_code


def ended_signals(app: Flask) -> list[dict[str, t.Any]]:
    seen: list[dict[str, t.Any]] = []
    signals.session_ended.connect(lambda sender, **kw: seen.append(kw), app, weak=False)
    return seen


@pytest.mark.all_databases
def test_logout_ends_the_session_and_the_jwts_sent_with_it(app: Flask, client: FlaskClient) -> None:
    login(client)
    tokens = api_login(app.test_client())
    other = api_login(app.test_client())  # another API login of the same user, not presented
    seen = ended_signals(app)

    response = client.get("/logout/", headers=bearer(tokens["access_token"]))

    assert response.status_code == 302
    assert not is_logged_in(client)
    assert ping(app.test_client(), tokens["access_token"]) == 401
    assert refresh(app.test_client(), tokens["refresh_token"]) == 401  # same record as the access token
    assert ping(app.test_client(), other["access_token"]) == 200
    assert sorted(s["credentials"] for s in seen) == [("jwt-access",), ("session",)]
    assert {s["reason"] for s in seen} == {"logout"}


def test_a_refresh_token_presented_at_logout_ends_its_access_token(app: Flask, client: FlaskClient) -> None:
    login(client)
    tokens = api_login(app.test_client())
    client.get("/logout/", headers=bearer(tokens["refresh_token"]))
    assert ping(app.test_client(), tokens["access_token"]) == 401


def test_another_users_valid_jwt_sent_at_logout_ends_only_that_token(app: Flask, client: FlaskClient) -> None:
    login(client)
    admins = api_login(app.test_client(), ADMIN)
    admins_other = api_login(app.test_client(), ADMIN)
    seen = ended_signals(app)
    client.get("/logout/", headers=bearer(admins["access_token"]))
    assert ping(app.test_client(), admins["access_token"]) == 401
    assert ping(app.test_client(), admins_other["access_token"]) == 200
    assert sorted(s["credentials"] for s in seen) == [("jwt-access",), ("session",)]
    assert len({s["user_id"] for s in seen}) == 2


@pytest.mark.parametrize("header", [
    "Bearer not-a-jwt",
    "Bearer " + jwt.encode({"sub": "1", "type": "access", "sep": [0, 0, "k", "x" * 43]}, "not-the-key-" * 4),
    "Bearer " + "a" * 20_000,
    "Basic YWxpY2U6cGFzc3dvcmQ=",
    "Bearer",
])
def test_hostile_tokens_at_logout_end_nothing_else(app: Flask, client: FlaskClient, header: str) -> None:
    login(client)
    tokens = api_login(app.test_client())
    response = client.get("/logout/", headers={"Authorization": header})
    assert response.status_code == 302
    assert not is_logged_in(client)
    assert ping(app.test_client(), tokens["access_token"]) == 200


def test_the_remember_me_cookie_is_named_among_what_a_logout_ended(app: Flask) -> None:
    client = remember_app(app).test_client()
    client.get("/remember-login")
    stolen = client.get_cookie("remember_token").value
    seen = ended_signals(app)
    client.get("/logout/")
    assert [s["credentials"] for s in seen] == [("session", "remember-me")]
    thief = app.test_client()
    thief.set_cookie("remember_token", stolen)
    assert not is_logged_in(thief)


@pytest.mark.config(FAB_API_KEY_ENABLED=True)
def test_logout_leaves_api_keys_alone(app: Flask, client: FlaskClient) -> None:
    key = api_key(app)
    assert ping(app.test_client(), key) == 200
    login(client)
    client.get("/logout/", headers=bearer(key))
    assert app.test_client().get("/api/v1/ping/", headers=bearer(key)).status_code == 200
