"""What a user does in the tests: log in, call the API, look at a page."""

from __future__ import annotations

import typing as t

from fabapp import ALICE
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder.const import AUTH_OAUTH

CLIENT_ID = "fab-app"
CLIENT_SECRET = "client-secret-long-enough-for-hs256-0123456789"


def login(client: FlaskClient, credentials: tuple[str, str] = ALICE) -> None:
    response = client.post("/login/", data={"username": credentials[0], "password": credentials[1]})
    assert response.status_code == 302, response.data
    assert "/login" not in response.headers["Location"]
    with client.session_transaction() as session:
        assert "_user_id" in session


def api_login(client: FlaskClient, credentials: tuple[str, str] = ALICE) -> dict[str, str]:
    response = client.post(
        "/api/v1/security/login",
        json={"username": credentials[0], "password": credentials[1], "provider": "db", "refresh": True},
    )
    assert response.status_code == 200, response.data
    return response.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_id(app: Flask, username: str = ALICE[0]) -> int:
    with app.app_context():
        return app.appbuilder.sm.find_user(username).id


def statements(app: Flask, request: t.Callable[[], t.Any]) -> tuple[int, int]:
    """``(SQL statements, status)`` of one request, counted on the app's engine."""
    import sqlalchemy as sa

    seen: list[str] = []

    def listener(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = app.extensions["test_db"].engine
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        response = request()
        response.close()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    return len(seen), response.status_code


def is_logged_in(client: FlaskClient) -> bool:
    """What the user sees: the protected page, or a bounce to the login page."""
    response = client.get("/protected/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and "/login/" in response.headers["Location"], response
    return False


def remember_app(app: Flask) -> Flask:
    """The app with ``/remember-login``: alice logs in with "remember me", as FAB's login form does."""
    from flask_login import login_user

    @app.route("/remember-login")
    def remember_login() -> str:
        login_user(app.appbuilder.sm.find_user(ALICE[0]), remember=True)
        return "ok"

    return app


def api_key(app: Flask, name: str = "ci") -> str:
    """A new FAB API key of alice's (Flask-AppBuilder 5.3; the test skips on older ones)."""
    import pytest

    sm = app.appbuilder.sm
    if not hasattr(sm, "create_api_key"):
        pytest.skip("API keys need Flask-AppBuilder 5.3")
    with app.app_context():
        return t.cast(str, sm.create_api_key(sm.find_user(ALICE[0]), name)["key"])


def oauth_config(metadata_url: str, **extra: t.Any) -> dict[str, t.Any]:
    """An app that logs in through one OpenID provider, named ``idp``, which may send logouts."""
    remote_app = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "server_metadata_url": metadata_url,
        "client_kwargs": {"scope": "openid email profile"},
    }
    config = {
        "AUTH_TYPE": AUTH_OAUTH,
        "OAUTH_PROVIDERS": [{"name": "idp", "icon": "fa-key", "token_key": "access_token", "remote_app": remote_app}],
        "SESSION_EPOCH_BACKCHANNEL_PROVIDERS": ["idp"],
    }
    return {**config, **extra}
