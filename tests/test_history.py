"""An ended session's history is stable: its end time and reason never change once it has ended."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
import sqlalchemy as sa
from fabapp import ADMIN, ALICE
from flask import Flask
from flask.testing import FlaskClient
from helpers import is_logged_in, login, user_id

import flask_session_epoch as fse
from flask_session_epoch import check, registry, sessions, store
from flask_session_epoch.models import SessionRecord


def listed(app: Flask, username: str = ALICE[0]) -> list[sessions.SessionInfo]:
    with app.test_request_context():
        return sessions.list_sessions(user_id=user_id(app, username), page_size=100)[0]


def stored(app: Flask, record_id: str) -> t.Any:
    with app.app_context():
        db = app.appbuilder.sm.session
        row = db.get(SessionRecord, record_id)
        db.expunge_all()
        return row


def ends(items: t.Iterable[sessions.SessionInfo]) -> list[tuple[t.Any, t.Any, t.Any]]:
    return [(item.ended_at, item.end_reason, item.ended_by) for item in items]


@pytest.mark.all_databases
def test_a_later_user_stamp_does_not_rewrite_how_a_session_ended(app: Flask, client: FlaskClient) -> None:
    login(client)
    uid = user_id(app)
    with app.app_context():
        fse.invalidate_sessions(uid, reason="sign-out-everywhere", actor="first")
    [first] = listed(app)
    assert (first.active, first.end_reason, first.ended_by) == (False, "sign-out-everywhere", "first")
    with app.app_context():
        fse.invalidate_sessions(uid, reason="disable", actor="second")
        fse.invalidate_sessions(uid, reason="self-service", actor="third")
    assert ends(listed(app)) == ends([first])
    row = stored(app, first.id)  # written when the stamp ended it: the lists can filter on it
    assert (row.end_reason, row.ended_by) == ("sign-out-everywhere", "first")


@pytest.mark.all_databases
def test_a_later_stamp_for_everyone_does_not_rewrite_it_either(app: Flask) -> None:
    alice, admin = app.test_client(), app.test_client()
    login(alice)
    with app.app_context():
        fse.invalidate_all_sessions(reason="incident-1", actor="ops")
    login(admin, ADMIN)
    [first] = listed(app)
    assert first.end_reason == "incident-1"
    with app.app_context():
        fse.invalidate_sessions(user_id(app), reason="disable", actor="hr")
        fse.invalidate_all_sessions(reason="incident-2", actor="ops")
    assert ends(listed(app)) == ends([first])
    [admins] = listed(app, ADMIN[0])
    assert (admins.end_reason, stored(app, admins.id).end_reason) == ("incident-2", "incident-2")


def test_a_stamp_marks_only_what_it_ended(app: Flask) -> None:
    """A session that had already ended (logged out, or past its expiry) keeps its own end."""
    out, old, live = app.test_client(), app.test_client(), app.test_client()
    for client in (out, old, live):
        login(client)
    out.get("/logout/")
    with app.app_context():
        db = app.appbuilder.sm.session
        expiry = store.utcnow() - dt.timedelta(minutes=5)
        old_id = listed(app)[1].id  # newest first: live, old, out
        db.execute(sa.update(SessionRecord).where(SessionRecord.id == old_id).values(expires_at=expiry))
        db.commit()
        fse.invalidate_sessions(user_id(app), reason="disable")
    by_reason = sorted((item.end_reason or "") for item in listed(app))
    assert by_reason == ["disable", check.EXPIRED, "logout"]
    assert stored(app, old_id).end_reason is None  # not the stamp's: left for the expiry round


@pytest.mark.config(SESSION_EPOCH_IDLE_TIMEOUT=120, SESSION_EPOCH_ACTIVITY_INTERVAL=60)
def test_a_session_past_its_idle_limit_stays_ended_by_it(app: Flask, client: FlaskClient) -> None:
    login(client)
    [record] = listed(app)
    with app.app_context():
        db = app.appbuilder.sm.session
        idle_since = store.utcnow() - dt.timedelta(minutes=10)
        db.execute(sa.update(SessionRecord).values(last_active_at=idle_since))
        db.commit()
    [before] = listed(app)
    assert before.end_reason == check.IDLE_TIMEOUT
    with app.app_context():
        fse.invalidate_sessions(user_id(app), reason="disable")  # too late: idleness ended it
        db = app.appbuilder.sm.session
        db.execute(sa.update(SessionRecord).values(expires_at=store.utcnow() - dt.timedelta(seconds=1)))
        db.commit()
        assert registry.expire(db.connection(), store.utcnow(), 10, fse_limits(app)) == 1
        db.commit()
    assert ends(listed(app)) == ends([before])
    assert stored(app, record.id).end_reason == check.IDLE_TIMEOUT


def fse_limits(app: Flask) -> t.Any:
    from flask_session_epoch import config

    return config.limits(app)


def test_signing_out_the_others_ends_them_and_keeps_this_one_open(app: Flask) -> None:
    here, there = app.test_client(), app.test_client()
    login(here)
    login(there)
    assert here.post("/sessionepoch/sign-out-others/").status_code == 302
    assert is_logged_in(here) and not is_logged_in(there)
    theirs, mine = listed(app)  # newest first
    assert (mine.active, mine.end_reason, stored(app, mine.id).ended_at) == (True, None, None)
    assert (theirs.active, theirs.end_reason) == (False, "self-service")


def test_changing_ones_own_password_keeps_this_session_open(app: Flask) -> None:
    here, there = app.test_client(), app.test_client()
    login(here, ADMIN)
    login(there, ADMIN)
    response = here.post("/resetmypassword/form", data={"password": "new-pass-123", "conf_password": "new-pass-123"})
    assert response.status_code == 302
    theirs, mine = listed(app, ADMIN[0])  # newest first
    assert (mine.active, stored(app, mine.id).ended_at) == (True, None)
    assert (theirs.active, stored(app, theirs.id).end_reason) == (False, "password-change")
