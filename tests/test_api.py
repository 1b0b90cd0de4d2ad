"""``/api/v1/session_epoch/``: session or JWT auth, permissions, and the OpenAPI spec."""

from __future__ import annotations

import pytest
from fabapp import ADMIN
from flask import Flask
from flask.testing import FlaskClient
from helpers import api_login, bearer, is_logged_in, login, user_id

from flask_session_epoch.responses import ENDED_HEADER

BASE = "/api/v1/session_epoch"


def admin_token(app: Flask) -> dict[str, str]:
    return bearer(api_login(app.test_client(), ADMIN)["access_token"])


def test_revoke_with_jwt_ends_the_users_sessions(app: Flask, client: FlaskClient) -> None:
    login(client)
    response = app.test_client().post(f"{BASE}/revoke/{user_id(app)}", headers=admin_token(app))
    assert response.status_code == 200
    assert response.get_json()["user_id"] == user_id(app)
    assert not is_logged_in(client)


def test_revoke_with_admin_cookie_session(app: Flask, client: FlaskClient) -> None:
    login(client)
    admin = app.test_client()
    login(admin, ADMIN)
    assert admin.post(f"{BASE}/revoke/{user_id(app)}").status_code == 200
    assert not is_logged_in(client)


def test_revoke_unknown_user_is_404(app: Flask) -> None:
    assert app.test_client().post(f"{BASE}/revoke/999999", headers=admin_token(app)).status_code == 404


def test_revoke_without_permission_is_403(app: Flask) -> None:
    token = bearer(api_login(app.test_client())["access_token"])
    response = app.test_client().post(f"{BASE}/revoke/{user_id(app, ADMIN[0])}", headers=token)
    assert response.status_code == 403


def test_revoke_without_credentials_is_401(app: Flask) -> None:
    assert app.test_client().post(f"{BASE}/revoke/{user_id(app)}").status_code == 401
    assert app.test_client().post(f"{BASE}/revoke_all").status_code == 401


def test_revoke_all_ends_everyone(app: Flask, client: FlaskClient) -> None:
    login(client)
    token = admin_token(app)
    assert app.test_client().post(f"{BASE}/revoke_all", headers=token).status_code == 200
    assert not is_logged_in(client)
    # The admin's token was issued before the global epoch too.
    response = app.test_client().get(f"{BASE}/status/{user_id(app)}", headers=token)
    assert response.status_code == 401 and response.headers[ENDED_HEADER] == "1"


def test_status_reports_the_last_revocation(app: Flask) -> None:
    token = admin_token(app)
    app.test_client().post(f"{BASE}/revoke/{user_id(app)}", headers=token)
    response = app.test_client().get(f"{BASE}/status/{user_id(app)}", headers=token)
    result = response.get_json()["result"]
    assert result["username"] == "alice" and result["active"] is True
    assert result["last_reason"] == "api" and result["last_actor"] == str(user_id(app, ADMIN[0]))
    assert app.test_client().get(f"{BASE}/status/999999", headers=token).status_code == 404


def test_signout_others_keeps_the_calling_session(app: Flask) -> None:
    here, there = app.test_client(), app.test_client()
    login(here)
    login(there)
    assert here.post(f"{BASE}/signout_others").status_code == 200
    assert is_logged_in(here)
    assert not is_logged_in(there)


def test_signout_others_with_jwt_ends_cookie_sessions(app: Flask, client: FlaskClient) -> None:
    login(client)
    token = bearer(api_login(app.test_client())["access_token"])
    assert app.test_client().post(f"{BASE}/signout_others", headers=token).status_code == 200
    assert not is_logged_in(client)


def test_signout_others_needs_a_caller(app: Flask) -> None:
    assert app.test_client().post(f"{BASE}/signout_others").status_code == 401


def test_check_answers_200_while_signed_in(app: Flask, client: FlaskClient) -> None:
    login(client)
    response = client.get(f"{BASE}/check")
    assert response.status_code == 200 and response.get_json()["signed_in"] is True
    assert response.headers["Cache-Control"] == "no-store"
    token = bearer(api_login(app.test_client())["access_token"])
    assert app.test_client().get(f"{BASE}/check", headers=token).status_code == 200


def test_check_tells_an_open_tab_its_session_ended(app: Flask, client: FlaskClient) -> None:
    login(client)
    app.test_client().post(f"{BASE}/revoke/{user_id(app)}", headers=admin_token(app))

    response = client.get(f"{BASE}/check")

    assert response.status_code == 401 and response.headers[ENDED_HEADER] == "1"
    assert response.get_json()["session_ended"] is True


def test_check_without_a_session_is_a_plain_401(app: Flask) -> None:
    response = app.test_client().get(f"{BASE}/check")
    assert response.status_code == 401 and ENDED_HEADER not in response.headers


@pytest.mark.config(FAB_API_SWAGGER_UI=True)
@pytest.mark.filterwarnings("ignore::UserWarning")  # apispec warns about FAB's own security schemas
def test_endpoints_are_in_the_openapi_spec(app: Flask) -> None:
    spec = app.test_client().get("/api/v1/_openapi", headers=admin_token(app)).get_json()
    paths = spec["paths"]
    assert f"{BASE}/revoke/{{user_id}}" in paths
    assert f"{BASE}/revoke_all" in paths and f"{BASE}/status/{{user_id}}" in paths
    assert {"get"} <= set(paths[f"{BASE}/me/sessions"]) and {"get"} <= set(paths[f"{BASE}/sessions"])
    assert "delete" in paths[f"{BASE}/me/sessions/{{record_id}}"]
    assert "delete" in paths[f"{BASE}/sessions/{{record_id}}"]


def test_fetch_helper_is_served(app: Flask) -> None:
    response = app.test_client().get("/session_epoch/static/fetch.js")
    assert response.status_code == 200
    assert b"X-Session-Ended" in response.data
    response.close()


# -- cross-site requests ------------------------------------------------------------

csrf_on = pytest.mark.config(WTF_CSRF_ENABLED=True)


def csrf_token(app: Flask, client: FlaskClient) -> str:
    """The CSRF token a page of this app would give the browser."""
    if "csrf_for_test" not in app.view_functions:
        from flask_wtf.csrf import generate_csrf

        app.add_url_rule("/csrf-for-test", "csrf_for_test", generate_csrf)
    return client.get("/csrf-for-test").get_data(as_text=True)


def login_with_csrf(app: Flask, client: FlaskClient, credentials: tuple[str, str]) -> None:
    token = csrf_token(app, client)
    response = client.post("/login/", data={"username": credentials[0], "password": credentials[1],
                                            "csrf_token": token})
    assert response.status_code == 302 and "/login" not in response.headers["Location"]


@csrf_on
@pytest.mark.parametrize("path", ["revoke_all", "revoke/{alice}", "signout_others"])
def test_cookie_post_without_csrf_token_is_refused(app: Flask, path: str) -> None:
    victim_of_the_forgery, alice = app.test_client(), app.test_client()
    login_with_csrf(app, alice, ("alice", "alice-pass-1"))
    login_with_csrf(app, victim_of_the_forgery, ADMIN)
    response = victim_of_the_forgery.post(f"{BASE}/{path.format(alice=user_id(app))}",
                                          headers={"Origin": "https://evil.example"})
    assert response.status_code == 400
    assert "CSRF" in response.get_json()["message"]
    assert is_logged_in(alice)


@csrf_on
def test_cookie_post_with_csrf_token_is_served(app: Flask, client: FlaskClient) -> None:
    alice = app.test_client()
    login_with_csrf(app, alice, ("alice", "alice-pass-1"))
    login_with_csrf(app, client, ADMIN)
    response = client.post(f"{BASE}/revoke/{user_id(app)}", headers={"X-CSRFToken": csrf_token(app, client)})
    assert response.status_code == 200
    assert not is_logged_in(alice)


@csrf_on
def test_jwt_post_needs_no_csrf_token(app: Flask) -> None:
    alice = app.test_client()
    login_with_csrf(app, alice, ("alice", "alice-pass-1"))
    assert app.test_client().post(f"{BASE}/revoke/{user_id(app)}", headers=admin_token(app)).status_code == 200
    assert not is_logged_in(alice)


@csrf_on
def test_a_junk_authorization_header_does_not_excuse_a_cookie_post(app: Flask, client: FlaskClient) -> None:
    login_with_csrf(app, client, ADMIN)
    response = client.post(f"{BASE}/revoke_all", headers={"Authorization": "Bearer junk"})
    assert response.status_code == 400


# -- hostile ids --------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["9223372036854775808", "99999999999999999999999", "\u0663", "\uff12", "-1", "1.0", " 1", "0x1", "%00"]
)
def test_ids_that_are_not_plain_64_bit_numbers_are_404(app: Flask, raw: str) -> None:
    from urllib.parse import quote

    token = admin_token(app)
    client = app.test_client()
    before = client.get(f"{BASE}/status/{user_id(app)}", headers=token).get_json()["result"]
    for method, path in (("post", "revoke"), ("get", "status")):
        response = getattr(client, method)(f"{BASE}/{path}/{quote(raw)}", headers=token)
        assert response.status_code == 404, (path, raw)
    after = client.get(f"{BASE}/status/{user_id(app)}", headers=token).get_json()["result"]
    assert after == before  # nobody was stamped
