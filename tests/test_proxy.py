"""Following a trusted authenticating proxy (oauth2-proxy style headers, or REMOTE_USER)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from fabapp import ADMIN, ALICE
from helpers import api_login, bearer, login

EMAIL_HEADER = "X-Auth-Request-Email"
by_email = pytest.mark.config(SESSION_EPOCH_PROXY_HEADER=EMAIL_HEADER, SESSION_EPOCH_PROXY_IDENTITY="email")


def who(client: FlaskClient, email: str | None = None, address: str = "127.0.0.1") -> str | None:
    """The user the app serves this request as (None: anonymous)."""
    headers = {EMAIL_HEADER: email} if email is not None else {}
    response = client.get("/api/v1/ping/", headers=headers, environ_base={"REMOTE_ADDR": address})
    return response.get_json()["user"] if response.status_code == 200 else None


@by_email
def test_matching_header_changes_nothing(client: FlaskClient) -> None:
    login(client)
    assert who(client, "  ALICE@example.org ") == "alice"
    assert who(client, "alice@example.org") == "alice"


@by_email
def test_absent_header_changes_nothing(client: FlaskClient) -> None:
    login(client)
    assert who(client) == "alice"


@by_email
@pytest.mark.all_databases
def test_other_identity_replaces_the_session_at_once(client: FlaskClient) -> None:
    login(client)
    assert who(client, "admin@example.org") == "admin"  # this very request is admin's
    assert who(client) == "admin"  # and the cookie follows


@by_email
def test_proxy_login_without_a_session(client: FlaskClient) -> None:
    assert who(client, "alice@example.org") == "alice"


@by_email
@pytest.mark.all_databases
@pytest.mark.parametrize("asserted", ["%@%.%", "_lice@example.org", "alice@example.%", "*@example.org", "nobody@x.org"])
def test_unknown_or_wildcard_identity_stays_anonymous(client: FlaskClient, asserted: str) -> None:
    login(client)
    assert who(client, asserted) is None
    assert who(client) is None  # the previous user's session is gone too


@by_email
def test_inactive_user_stays_anonymous(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        sm = app.appbuilder.sm
        sm.find_user(ADMIN[0]).active = False
        sm.session.commit()
    login(client)
    assert who(client, "admin@example.org") is None


@by_email
def test_untrusted_address_is_ignored(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    login(client)
    with caplog.at_level("WARNING", "flask_session_epoch"):
        assert who(client, "admin@example.org", address="203.0.113.9") == "alice"
    assert "untrusted address 203.0.113.9" in caplog.text


@by_email
@pytest.mark.config(AUTH_USER_REGISTRATION=True, AUTH_USER_REGISTRATION_ROLE="Reader")
def test_unknown_user_is_created_when_registration_allows(client: FlaskClient) -> None:
    assert who(client, "Newcomer@Example.org") == "Newcomer@Example.org"


@by_email
def test_tokens_ignore_the_header(app: Flask) -> None:
    client = app.test_client()
    token = api_login(client)["access_token"]
    response = client.get("/api/v1/ping/", headers={**bearer(token), EMAIL_HEADER: "admin@example.org"})
    assert response.get_json()["user"] == "alice"


@by_email
def test_health_check_is_not_touched(client: FlaskClient) -> None:
    login(client)
    assert client.get("/health", headers={EMAIL_HEADER: "admin@example.org"}).status_code == 200
    assert who(client) == "alice"


@pytest.mark.config(SESSION_EPOCH_PROXY_HEADER="X-Auth-Request-User")
def test_username_is_never_taken_for_an_email(client: FlaskClient) -> None:
    login(client, ADMIN)
    response = client.get("/api/v1/ping/", headers={"X-Auth-Request-User": "alice@example.org"})
    assert response.status_code == 401  # no user is *named* alice@example.org
    response = client.get("/api/v1/ping/", headers={"X-Auth-Request-User": ALICE[0]})
    assert response.get_json()["user"] == "alice"


@pytest.mark.config(SESSION_EPOCH_PROXY_HEADER="REMOTE_USER")
def test_remote_user_variable(client: FlaskClient) -> None:
    login(client, ADMIN)
    response = client.get("/api/v1/ping/", environ_base={"REMOTE_USER": "alice"})
    assert response.get_json()["user"] == "alice"


def test_bad_identity_kind_fails_at_startup(make_app) -> None:
    with pytest.raises(RuntimeError, match="PROXY_IDENTITY"):
        make_app(SESSION_EPOCH_PROXY_HEADER="X-User", SESSION_EPOCH_PROXY_IDENTITY="mail")
