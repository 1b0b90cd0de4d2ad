"""The check adds no SQL statement to any request (counted against plain FAB)."""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa
from flask import Flask
from helpers import api_login, bearer, login, statements, user_id

import flask_session_epoch as fse

pytestmark = pytest.mark.all_databases

PLAIN = "flask_appbuilder.security.sqla.manager.SecurityManager"


def count_statements(app: Flask, request: t.Callable[[], t.Any]) -> tuple[int, int]:
    """``(statements, status)`` of one request, after a warm-up run of the same request."""
    request().close()
    return statements(app, request)


def measure(app: Flask) -> dict[str, tuple[int, int]]:
    cookie, jwt_client = app.test_client(), app.test_client()
    login(cookie)
    token = api_login(jwt_client)["access_token"]
    return {
        "cookie HTML view": count_statements(app, lambda: cookie.get("/protected/")),
        "JWT API call": count_statements(app, lambda: jwt_client.get("/api/v1/ping/", headers=bearer(token))),
        "static file": count_statements(app, lambda: cookie.get("/static/appbuilder/css/flags/flags16.css")),
        "health check": count_statements(app, lambda: cookie.get("/health")),
    }


def test_check_adds_no_statement(make_app, capsys: pytest.CaptureFixture[str]) -> None:
    with_extension = make_app()
    # Real work for the check: the user and everyone have an epoch.
    with with_extension.app_context():
        fse.invalidate_sessions(user_id(with_extension), reason="test")
        fse.invalidate_all_sessions(reason="test")
    ours = measure(with_extension)
    plain = measure(make_app(FAB_SECURITY_MANAGER_CLASS=PLAIN))
    dialect = sa.engine.make_url(with_extension.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    with capsys.disabled():
        for name in ours:
            print(f"\n[zero-cost] SQLAlchemy {sa.__version__} {dialect}: {name}: "
                  f"plain FAB {plain[name][0]}, with extension {ours[name][0]}", end="")
    assert {name: status for name, (_, status) in ours.items()} == {
        "cookie HTML view": 200,
        "JWT API call": 200,
        "static file": 200,
        "health check": 200,
    }
    assert ours == plain


def test_stale_session_costs_no_extra_statement(make_app) -> None:
    """Refusing costs what accepting costs: the decision uses the row already loaded."""
    app = make_app()
    client = app.test_client()
    login(client)
    accepted, _ = count_statements(app, lambda: client.get("/api/v1/ping/"))
    with app.app_context():
        fse.invalidate_sessions(user_id(app), reason="test")
    refused = []

    def one() -> t.Any:
        response = client.get("/api/v1/ping/")
        refused.append(response.status_code)
        return response

    statements, status = count_statements(app, one)
    assert status == 401 and statements <= accepted


def test_the_inbound_receivers_add_no_statement(make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shared Signals and Global Token Revocation, configured, cost an ordinary request nothing."""
    monkeypatch.setenv("FSE_TEST_INBOUND_SECRET", "a-secret-that-is-long-enough-0123456789")
    receivers = make_app(
        SESSION_EPOCH_SSF_TRANSMITTERS={"tx": {"issuer": "https://tx.example.org", "audience": "https://app.example",
                                               "jwks_uri": "https://tx.example.org/jwks",
                                               "push_authorization_env": "FSE_TEST_INBOUND_SECRET"}},
        SESSION_EPOCH_GLOBAL_TOKEN_REVOCATION={"bearer_token_env": "FSE_TEST_INBOUND_SECRET"})
    assert measure(receivers) == measure(make_app())
