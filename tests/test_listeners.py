"""The disable trigger: every way of unchecking ``active`` stamps the epoch, nothing else does."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fabapp import ADMIN, ALICE
from flask import Flask
from flask.testing import FlaskClient
from helpers import api_login, bearer, is_logged_in, login, user_id

import flask_session_epoch as fse
from flask_session_epoch.models import UserSessionEpoch


def epoch_rows(app: Flask, username: str = ALICE[0]) -> list[tuple[int, str]]:
    with app.app_context():
        session = app.appbuilder.sm.session
        rows = session.execute(
            sa.select(UserSessionEpoch.generation, UserSessionEpoch.reason).where(
                UserSessionEpoch.user_id == user_id(app, username)
            )
        ).all()
        session.rollback()
        return [tuple(row) for row in rows]


def edit_form(app: Flask, admin: FlaskClient, **changes: object) -> int:
    uid = user_id(app)
    with app.app_context():
        user = app.appbuilder.sm.get_user_by_id(uid)
        form = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            "username": user.username,
            "email": user.email,
            "roles": [str(role.id) for role in user.roles],
        }
        if user.active:
            form["active"] = "y"
    for key, value in changes.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return admin.post(f"/users/edit/{uid}", data=form).status_code


@pytest.mark.all_databases
def test_admin_ui_uncheck_active_stamps_once(app: Flask) -> None:
    alice, admin = app.test_client(), app.test_client()
    login(alice)
    login(admin, ADMIN)
    assert edit_form(app, admin, active=None) == 302
    assert epoch_rows(app) == [(1, "disable")]
    assert not is_logged_in(alice)


def test_admin_ui_edit_without_active_change_does_not_stamp(app: Flask) -> None:
    admin = app.test_client()
    login(admin, ADMIN)
    assert edit_form(app, admin, first_name="Alicia") == 302
    assert epoch_rows(app) == []


def test_rest_user_api_disable_stamps(app: Flask) -> None:
    admin = app.test_client()
    token = api_login(admin, ADMIN)["access_token"]
    alice = app.test_client()
    login(alice)
    response = admin.put(f"/api/v1/security/users/{user_id(app)}", json={"active": False}, headers=bearer(token))
    assert response.status_code == 200, response.data
    assert epoch_rows(app) == [(1, "disable")]
    assert not is_logged_in(alice)


def test_plain_orm_disable_stamps_and_reenable_does_not(app: Flask) -> None:
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.find_user(ALICE[0])
        sm.session.commit()  # expire: the old value must still be known
        user.active = False
        sm.session.commit()
        user.active = True
        sm.session.commit()
    assert epoch_rows(app) == [(1, "disable")]


@pytest.mark.all_databases
def test_rolled_back_disable_leaves_no_stamp(app: Flask) -> None:
    sent: list[dict] = []
    with fse.sessions_invalidated.connected_to(lambda sender, **kw: sent.append(kw)), app.app_context():
        sm = app.appbuilder.sm
        user = sm.find_user(ALICE[0])
        user.active = False
        sm.session.flush()
        sm.session.rollback()
    assert epoch_rows(app) == []
    assert sent == []


def test_disable_signal_is_sent_after_commit(app: Flask) -> None:
    sent: list[tuple[object, dict]] = []

    def receiver(sender: object, **payload: object) -> None:
        sent.append((sender, payload))

    with fse.sessions_invalidated.connected_to(receiver), app.app_context():
        sm = app.appbuilder.sm
        user = sm.find_user(ALICE[0])
        user.active = False
        sm.session.flush()
        assert sent == []
        sm.session.commit()
    assert len(sent) == 1
    sender, payload = sent[0]
    assert sender is app
    assert payload["user_id"] == user_id(app) and payload["reason"] == "disable"
    assert payload["actor"] == "system"


def test_login_bookkeeping_does_not_stamp(app: Flask, client: FlaskClient) -> None:
    for _ in range(2):
        login(client)
    client.post("/login/", data={"username": ALICE[0], "password": "wrong"})
    assert epoch_rows(app) == []


def test_disabling_an_inactive_user_again_does_not_stamp(app: Flask) -> None:
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.find_user(ALICE[0])
        user.active = False
        sm.session.commit()
        user.active = None
        sm.session.commit()
        user.active = False
        sm.session.commit()
    assert epoch_rows(app) == [(1, "disable")]


def test_disable_in_app_without_extension_does_not_stamp(make_app) -> None:
    plain = make_app(FAB_SECURITY_MANAGER_CLASS="flask_appbuilder.security.sqla.manager.SecurityManager")
    make_app()  # the listener is installed in this process
    with plain.app_context():
        sm = plain.appbuilder.sm
        sm.find_user(ALICE[0]).active = False
        sm.session.commit()
    assert epoch_rows(plain) == []


@pytest.mark.config(SESSION_EPOCH_STAMP_ON_DISABLE=False)
def test_stamp_on_disable_can_be_turned_off(app: Flask) -> None:
    with app.app_context():
        sm = app.appbuilder.sm
        sm.find_user(ALICE[0]).active = False
        sm.session.commit()
    assert epoch_rows(app) == []


def test_admin_actor_is_recorded(app: Flask) -> None:
    admin = app.test_client()
    login(admin, ADMIN)
    edit_form(app, admin, active=None)
    with app.app_context():
        actor = app.appbuilder.sm.session.execute(sa.select(UserSessionEpoch.actor)).scalar_one()
    assert actor == str(user_id(app, ADMIN[0]))


def test_new_users_get_an_epoch_at_creation(app: Flask) -> None:
    import sqlalchemy as sa

    from flask_session_epoch.models import UserSessionEpoch

    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.add_user("newcomer", "New", "Comer", "new@example.org", sm.find_role("Admin"), "new-pass-1")
        row = sm.session.execute(sa.select(UserSessionEpoch).filter_by(user_id=user.id)).scalar_one()
        assert (row.generation, row.reason) == (1, "created")


def test_creating_users_works_before_the_tables_exist(make_app, db_url: str) -> None:
    """The first admin is often created before our migration has run."""
    from databases import drop_epoch_tables

    drop_epoch_tables(db_url)
    app = make_app()
    with app.app_context():
        sm = app.appbuilder.sm
        assert sm.add_user("early", "E", "A", "early@example.org", sm.find_role("Admin"), "early-pass-1")
