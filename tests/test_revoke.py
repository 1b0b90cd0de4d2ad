"""The Python API: ``invalidate_sessions`` and ``invalidate_all_sessions``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fabapp import ADMIN, ALICE
from flask import Flask
from flask.testing import FlaskClient
from helpers import is_logged_in, login, user_id

import flask_session_epoch as fse
from flask_session_epoch.models import UserSessionEpoch


def test_invalidate_accepts_user_object_or_id(app: Flask) -> None:
    with app.app_context():
        user = app.appbuilder.sm.find_user(ALICE[0])
        fse.invalidate_sessions(user, reason="by-object")
        fse.invalidate_sessions(user.id, reason="by-id")
        row = app.appbuilder.sm.session.execute(sa.select(UserSessionEpoch)).scalar_one()
        assert (row.generation, row.reason, row.actor) == (2, "by-id", "system")


@pytest.mark.parametrize(
    ("user", "reason", "error"),
    [
        (10**6, "x", LookupError),
        (2**63, "x", ValueError),
        (-1, "x", ValueError),
        (True, "x", TypeError),
        ("2", "x", TypeError),
        (None, "x", TypeError),
        (2, "", ValueError),
        (2, "x" * 65, ValueError),
        (2, 7, ValueError),
    ],
)
def test_invalidate_rejects_bad_input_clearly(app: Flask, user: object, reason: object, error: type) -> None:
    with app.app_context(), pytest.raises(error):
        fse.invalidate_sessions(user, reason=reason)


def test_invalidate_outside_extension_says_what_to_do(make_app) -> None:
    plain = make_app(FAB_SECURITY_MANAGER_CLASS="flask_appbuilder.security.sqla.manager.SecurityManager")
    with plain.app_context(), pytest.raises(RuntimeError, match="SessionEpochSecurityManager"):
        fse.invalidate_sessions(1)


def test_signal_carries_actor_and_reason_after_commit(app: Flask) -> None:
    sent: list[dict] = []
    with fse.sessions_invalidated.connected_to(lambda sender, **kw: sent.append(kw), app), app.app_context():
        fse.invalidate_sessions(user_id(app), reason="admin-revoke", actor="cli", commit=False)
        assert sent == []
        app.appbuilder.sm.session.commit()
        fse.invalidate_all_sessions(reason="revoke-all")
    assert [(s["user_id"], s["reason"], s["actor"]) for s in sent] == [
        (user_id(app), "admin-revoke", "cli"),
        (None, "revoke-all", "system"),
    ]


def test_uncommitted_stamp_rolls_back_with_its_transaction(app: Flask, client: FlaskClient) -> None:
    login(client)
    with app.app_context():
        fse.invalidate_sessions(user_id(app), reason="x", commit=False)
        app.appbuilder.sm.session.rollback()
    assert is_logged_in(client)


def test_revoke_all_is_two_statements_whatever_the_number_of_sessions(app: Flask) -> None:
    """One UPDATE marks the open records (their history), one upsert stamps the global epoch."""
    for credentials in (ALICE, ALICE, ADMIN):
        login(app.test_client(), credentials)
    statements: list[str] = []
    with app.app_context():
        engine = app.extensions["test_db"].engine
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            fse.invalidate_all_sessions()
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 2
    assert "ab_session_epoch_global" in statements[0] and statements[1].startswith("UPDATE ab_session_epoch_session")


def test_logged_in_actor_is_recorded(app: Flask) -> None:
    from flask_login import login_user

    with app.test_request_context():
        admin = app.appbuilder.sm.find_user("admin")
        admin_id = admin.id
        login_user(admin)
        fse.invalidate_sessions(user_id(app), reason="admin-revoke")
        actor = app.appbuilder.sm.session.execute(sa.select(UserSessionEpoch.actor)).scalar_one()
    assert actor == str(admin_id)
