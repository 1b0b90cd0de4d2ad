"""A real app on a database whose session-epoch migrations are missing or behind."""

from __future__ import annotations

import logging
import typing as t

import pytest
import sqlalchemy as sa
from databases import drop_epoch_tables
from fabapp import ADMIN
from flask import Flask
from helpers import api_login, bearer, is_logged_in, login, user_id

from flask_session_epoch import migrate

OURS = "flask_session_epoch"
COMMAND = "session-epoch db upgrade"
#: FAB's own pages, and ours, that read our tables.
PAGES = ("/users/list/", "/users/userinfo/", "/users/show/{admin}", "/sessionrecords/list/",
         "/sessionepoch/revoke-all/", "/sessionepoch/my-sessions/", "/protected/")


def ours(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name.startswith(OURS) and record.levelno >= level]


def start(make_app: t.Callable[..., Flask], caplog: pytest.LogCaptureFixture, **config: t.Any) -> Flask:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        app = make_app(**config)
    return app


def at_revision(make_app: t.Callable[..., Flask], db_url: str, revision: str | None) -> None:
    drop_epoch_tables(db_url)
    if revision is not None:
        with make_app().app_context():
            migrate.upgrade(revision)


@pytest.mark.all_databases
@pytest.mark.parametrize("revision", [None, "0003_repair_epochs"])
def test_missing_or_old_schema_is_one_line_at_start_and_fabs_pages_work(
        make_app, db_url: str, caplog: pytest.LogCaptureFixture, revision: str | None) -> None:
    at_revision(make_app, db_url, revision)
    app = start(make_app, caplog)
    [line] = ours(caplog)
    message = line.getMessage()
    assert COMMAND in message and migrate.head() in message, message
    assert "\n" not in message and line.exc_info is None
    admin = app.test_client()
    login(admin, ADMIN)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for path in PAGES:
            response = admin.get(path.format(admin=user_id(app, ADMIN[0])))
            assert response.status_code in (200, 302), (path, response.status_code)
        assert admin.get("/users/list/").status_code == 200
        assert admin.get("/users/userinfo/").status_code == 200
        assert admin.get("/sessionrecords/list/", follow_redirects=True).status_code == 200
        api = admin.get("/api/v1/session_epoch/me/sessions")
        assert api.status_code == 503 and COMMAND in api.get_json()["message"]
        token = bearer(api_login(app.test_client(), ADMIN)["access_token"])
        assert app.test_client().get("/api/v1/ping/", headers=token).status_code == 200
        assert is_logged_in(admin)
        alice = user_id(app)
        reset = admin.post(f"/resetpassword/form?pk={alice}", data={"password": "new-pass-123",
                                                                     "conf_password": "new-pass-123"})
        assert reset.status_code == 302  # a password change, which would stamp, goes on
    assert ours(caplog, logging.ERROR) == []  # no traceback per request


def test_an_app_at_head_logs_no_schema_line(make_app, caplog: pytest.LogCaptureFixture) -> None:
    start(make_app, caplog)
    assert not [record for record in ours(caplog) if COMMAND in record.getMessage()]


@pytest.mark.all_databases
def test_a_missing_schema_fails_closed_when_asked(make_app, db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    at_revision(make_app, db_url, None)
    app = start(make_app, caplog, SESSION_EPOCH_FAIL_CLOSED=True)
    [line] = ours(caplog)
    assert COMMAND in line.getMessage()
    # No login gets in: without the tables it cannot be recorded, and FAIL_CLOSED needs the record.
    client = app.test_client()
    page = client.post("/login/", data={"username": ADMIN[0], "password": ADMIN[1]}, follow_redirects=True)
    assert "could not be recorded" in page.get_data(as_text=True)
    assert not is_logged_in(client)
    refused = app.test_client().post("/api/v1/security/login",
                                     json={"username": ADMIN[0], "password": ADMIN[1], "provider": "db"})
    assert refused.status_code == 400 and "could not be recorded" in refused.get_json()["message"]


def test_a_schema_behind_only_by_an_index_keeps_checking(make_app, db_url: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """A database that lacks only an index (0005's), and says it is at 0004: every table and
    column the check reads is there. (0007 adds a column, so a real 0004 database no longer
    is such a database: this one is made from the head, without the index.)"""
    from fabapp import ALICE

    import flask_session_epoch as fse
    from flask_session_epoch.migrations import VERSION_TABLE

    at_revision(make_app, db_url, migrate.head())
    engine = sa.create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_ab_session_epoch_session_started_at"
                                   + (" ON ab_session_epoch_session" if engine.dialect.name == "mysql" else "")))
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0004_session_registry'"))
    engine.dispose()
    app = start(make_app, caplog)
    [line] = ours(caplog)
    assert COMMAND in line.getMessage() and "0004_session_registry" in line.getMessage()
    alice = app.test_client()
    login(alice, ALICE)
    assert is_logged_in(alice)
    with app.app_context():
        fse.invalidate_sessions(app.appbuilder.sm.find_user(ALICE[0]).id, reason="test")
    assert not is_logged_in(alice)


def test_the_cli_says_what_to_run_instead_of_a_traceback(make_app, db_url: str) -> None:
    from flask_session_epoch.cli import cli

    at_revision(make_app, db_url, None)
    app = make_app()
    result = app.test_cli_runner().invoke(cli, ["revoke", ADMIN[0]])
    assert result.exit_code == 1 and COMMAND in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
