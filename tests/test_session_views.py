"""The admin's *Sessions* list, self-service, and the permissions they declare."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import dispose
from fabapp import ADMIN, create_app
from flask import Flask
from flask.testing import FlaskClient
from helpers import login

import flask_session_epoch as fse
from flask_session_epoch import sessions, store
from flask_session_epoch.models import SessionRecord

REFUSED = "Refused to delete permission view"


def _flask_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A CLI call as an operator makes it: a new process that builds the app."""
    tests = Path(__file__).parent
    env = {**os.environ, "FLASK_APP": f'fabapp:create_app("{db_url}")', "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    flask = Path(sys.executable).with_name("flask")
    return subprocess.run([str(flask), *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_fresh_start_and_a_cli_call_log_no_permission_warning(sqlite_url: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        app = create_app(sqlite_url)  # a fresh database: FAB creates every table and permission
        dispose(app)
        dispose(create_app(sqlite_url))  # and starts again on it
    assert not [record for record in caplog.records if REFUSED in str(record.msg)]
    done = _flask_cli(sqlite_url, "session-epoch", "db", "current")
    assert done.returncode == 0, done.stderr
    assert REFUSED not in done.stderr


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if REFUSED in str(record.msg)]


def test_security_converge_moves_the_old_action_permission_of_an_existing_install(
        make_app, caplog: pytest.LogCaptureFixture) -> None:
    """0.3.0 named the action's permission ``endsession``; FAB's own converge moves each grant."""
    app = make_app()
    with app.app_context():
        sm = app.appbuilder.sm
        old = sm.add_permission_view_menu("endsession", "SessionRecordView")
        auditor = sm.add_role("Auditor")
        for role in (sm.find_role("Admin"), auditor):
            sm.add_permission_role(role, old)
    with caplog.at_level(logging.WARNING):
        upgraded = make_app()  # the new release, before anyone converges
    assert _refusals(caplog)
    with upgraded.app_context():
        appbuilder = upgraded.appbuilder
        appbuilder.sm.security_converge(appbuilder.baseviews, appbuilder.menu)
        sm = appbuilder.sm
        assert sm.find_permission_view_menu("endsession", "SessionRecordView") is None
        for name in ("Admin", "Auditor"):
            granted = {(pv.permission.name, pv.view_menu.name) for pv in sm.find_role(name).permissions}
            assert ("can_endsession", "SessionRecordView") in granted, name
        sm.session.remove()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        make_app()
    assert not _refusals(caplog)


# -- the admin's Sessions list: filters by what the Status column says ------------------------


def record_id_of(client: FlaskClient) -> str:
    with client.session_transaction() as sess:
        return t.cast(str, sess[fse.SESSION_KEY_EPOCH][4])


def listed(admin: FlaskClient, **filters: str) -> str:
    response = admin.get("/sessionrecords/list/", query_string={**filters, "psize_SessionRecordView": "100"})
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def shown(page: str, ids: dict[str, str]) -> set[str]:
    return {name for name, record_id in ids.items() if f"/sessionrecords/show/{record_id}" in page}


@pytest.mark.all_databases
def test_the_sessions_list_filters_by_active_ended_and_reason(app: Flask) -> None:
    clients = {name: app.test_client() for name in ("active", "disabled", "expired", "logout")}
    for client in clients.values():
        login(client)
    admin = app.test_client()
    login(admin, ADMIN)
    ids = {name: record_id_of(client) for name, client in clients.items()}
    ids["admin"] = record_id_of(admin)
    clients["logout"].get("/logout/")
    with app.app_context():
        uid = app.appbuilder.sm.find_user("alice").id
        assert sessions.end_one(ids["disabled"], reason="disable", by="1", user_id=uid)
        db = app.appbuilder.sm.session
        past = store.utcnow() - dt.timedelta(seconds=5)  # past its expiry, not yet marked
        db.execute(sa.update(SessionRecord).where(SessionRecord.id == ids["expired"]).values(expires_at=past))
        db.commit()
    everything = listed(admin)
    assert shown(everything, ids) == set(ids)
    assert all(name in everything for name in ("Is active", "Has ended", "Ended because"))  # offered
    assert shown(listed(admin, _flt_0_ended_at=""), ids) == {"active", "admin"}
    assert shown(listed(admin, _flt_1_ended_at=""), ids) == {"disabled", "expired", "logout"}
    assert shown(listed(admin, _flt_0_end_reason="disable"), ids) == {"disabled"}
    assert shown(listed(admin, _flt_0_end_reason="expired"), ids) == {"expired"}
    assert shown(listed(admin, _flt_0_end_reason="logout"), ids) == {"logout"}
    assert shown(listed(admin, _flt_0_end_reason="no-such-reason"), ids) == set()


def test_the_sessions_list_marks_the_admins_own_session(app: Flask) -> None:
    other = app.test_client()
    login(other, ADMIN)
    admin = app.test_client()
    login(admin, ADMIN)
    page = listed(admin)
    assert page.count("this session") == 1
    own_row = page[page.index(f"/sessionrecords/show/{record_id_of(admin)}"):]
    own_row = own_row[:own_row.index("</tr>")]
    assert "this session" in own_row


@pytest.mark.parametrize("arg", ["_flt_9_ended_at", "_flt_9_end_reason", "_flt_7_ip", "_flt_0_nosuch"])
def test_a_filter_that_does_not_exist_is_never_500(app: Flask, arg: str) -> None:
    admin = app.test_client()
    login(admin, ADMIN)
    assert admin.get("/sessionrecords/list/", query_string={arg: "x"}).status_code in (200, 302, 400)


@pytest.mark.config(SESSION_EPOCH_IDLE_TIMEOUT=600)
def test_a_session_past_its_idle_limit_is_filtered_as_the_list_shows_it(app: Flask) -> None:
    idle, fresh = app.test_client(), app.test_client()
    login(idle)
    login(fresh)
    admin = app.test_client()
    login(admin, ADMIN)
    ids = {"idle": record_id_of(idle), "fresh": record_id_of(fresh)}
    with app.app_context():
        db = app.appbuilder.sm.session
        long_ago = store.utcnow() - dt.timedelta(seconds=601)  # not yet marked: nothing presented it since
        db.execute(sa.update(SessionRecord).where(SessionRecord.id == ids["idle"]).values(last_active_at=long_ago))
        db.commit()
    assert "Timed out after inactivity" in listed(admin)
    assert shown(listed(admin, _flt_0_ended_at=""), ids) == {"fresh"}
    assert shown(listed(admin, _flt_1_ended_at=""), ids) == {"idle"}
    assert shown(listed(admin, _flt_0_end_reason="idle-timeout"), ids) == {"idle"}
    assert shown(listed(admin, _flt_0_end_reason="absolute-timeout"), ids) == set()


# -- self-service: "Where you're signed in" for every signed-in user ----------------------

BOB = ("bob", "bob-pass-123")
MY_SESSIONS = "/sessionepoch/my-sessions/"


def add_user_without_permissions(app: Flask) -> None:
    """A user whose only role is FAB's Public role, which has no permission at all here."""
    with app.app_context():
        sm = app.appbuilder.sm
        public = sm.find_role(app.config["AUTH_ROLE_PUBLIC"])
        assert public is not None and not public.permissions
        sm.add_user(BOB[0], "Bob", "Plain", "bob@example.org", public, BOB[1])
        sm.session.remove()


def test_every_signed_in_user_sees_and_ends_their_own_sessions(app: Flask) -> None:
    add_user_without_permissions(app)
    here, there, elsewhere = app.test_client(), app.test_client(), app.test_client()
    for client in (here, there, elsewhere):
        login(client, BOB)
    page = here.get(MY_SESSIONS)
    assert page.status_code == 200, page.status_code
    text = page.get_data(as_text=True)
    assert "signed in" in text and "this session" in text
    assert record_id_of(there) in text and record_id_of(elsewhere) in text
    ended = here.post(f"/sessionepoch/sessions/{record_id_of(there)}/end/", headers={"Referer": f"http://localhost{MY_SESSIONS}"})
    assert ended.status_code == 302 and ended.headers["Location"].endswith(MY_SESSIONS)
    assert there.get(MY_SESSIONS).status_code == 302  # signed out
    assert here.post("/sessionepoch/sign-out-others/").status_code == 302
    assert elsewhere.get(MY_SESSIONS).status_code == 302
    assert here.get(MY_SESSIONS).status_code == 200


def test_the_user_menu_links_to_where_you_are_signed_in(app: Flask) -> None:
    add_user_without_permissions(app)
    client = app.test_client()
    login(client, BOB)
    for path in ("/", MY_SESSIONS):
        assert f'href="{MY_SESSIONS}"' in client.get(path).get_data(as_text=True), path


def test_where_you_are_signed_in_sends_anonymous_users_to_login(app: Flask) -> None:
    response = app.test_client().get(MY_SESSIONS)
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    assert "next=" in response.headers["Location"]
    add_user_without_permissions(app)
    client = app.test_client()
    signed_in = client.post(response.headers["Location"], data={"username": BOB[0], "password": BOB[1]})
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith(MY_SESSIONS)
    assert MY_SESSIONS not in app.test_client().get("/login/").get_data(as_text=True)


@pytest.mark.all_databases
@pytest.mark.parametrize("arg", ["_flt_0_end_reason", "_flt_2_end_reason", "_flt_0_ip", "_flt_2_ended_at",
                                 "_flt_0_user", "_flt_1_user"])
def test_a_hostile_filter_value_is_never_500(app: Flask, arg: str) -> None:
    admin = app.test_client()
    login(admin, ADMIN)
    for value in ("a\x00b", "\x00", "abc", "99999999999999999999999", "\u0663"):
        response = admin.get("/sessionrecords/list/", query_string={arg: value})
        assert response.status_code in (200, 302, 400), (value, response.status_code)


# -- what the pages call things: labels, times, the current session first -------------------

GERMAN = {"en": {"flag": "gb", "name": "English"}, "de": {"flag": "de", "name": "Deutsch"}}


def _age(app: Flask, record_id: str, **ago: float) -> None:
    """Make a record look as if it started (and was last active) that long ago."""
    with app.app_context():
        db = app.appbuilder.sm.session
        then = store.utcnow() - dt.timedelta(**ago)
        db.execute(sa.update(SessionRecord).where(SessionRecord.id == record_id)
                   .values(started_at=then, last_active_at=then))
        db.commit()


def _rows(page: str) -> list[str]:
    """The ``data-session`` ids of a sessions table, top to bottom."""
    return [part.split('"', 1)[0] for part in page.split('data-session="')[1:]]


def test_the_sessions_list_says_how_a_session_signed_in_not_the_stored_value(app: Flask) -> None:
    admin = app.test_client()
    login(admin, ADMIN)
    page = listed(admin)
    assert "<td>Password</td>" in page and "<td>Browser</td>" in page
    assert "<td>db</td>" not in page and "<td>browser</td>" not in page


def test_an_ended_session_says_why_as_a_sentence(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    admin = app.test_client()
    login(admin, ADMIN)
    admin.post(f"/sessionrecords/action/endsession/{record_id_of(alice)}")
    page = admin.get(f"/sessionrecords/show/{record_id_of(alice)}").get_data(as_text=True)
    assert "Ended by an admin" in page


def test_a_reason_of_the_operators_own_is_shown_as_stored_and_escaped(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    with app.app_context():
        sessions.end_session(record_id_of(alice), "<b>audit</b>")
    admin = app.test_client()
    login(admin, ADMIN)
    page = listed(admin)
    assert "&lt;b&gt;audit&lt;/b&gt;" in page and "<b>audit</b>" not in page


def test_times_are_relative_with_the_exact_utc_time_on_hover(app: Flask) -> None:
    admin = app.test_client()
    login(admin, ADMIN)
    _age(app, record_id_of(admin), minutes=5)
    with app.app_context():
        started = app.appbuilder.sm.session.get(SessionRecord, record_id_of(admin)).started_at
    page = listed(admin)
    exact = started.replace(microsecond=0)
    assert f'<time datetime="{exact.isoformat()}Z"' in page
    assert ">5 minutes ago</time>" in page
    assert f"{exact:%b} {exact.day}, {exact.year}" in page and f":{exact:%M:%S}" in page  # title: Babel's medium format


def test_the_own_sessions_list_puts_this_session_first(app: Flask) -> None:
    here = app.test_client()
    login(here)
    _age(app, record_id_of(here), hours=2)  # the oldest of three
    later = [app.test_client() for _ in range(2)]
    for client in later:
        login(client)
    rows = _rows(here.get(MY_SESSIONS).get_data(as_text=True))
    assert rows == [record_id_of(here), record_id_of(later[1]), record_id_of(later[0])]


def test_the_own_sessions_list_puts_this_session_first_beyond_the_newest_fifty(app: Flask) -> None:
    here = app.test_client()
    login(here)
    _age(app, record_id_of(here), days=1)
    for _ in range(50):
        login(app.test_client())
    rows = _rows(here.get(MY_SESSIONS).get_data(as_text=True))
    assert rows[0] == record_id_of(here) and len(rows) == 51


def test_the_own_sessions_list_says_this_session_once(app: Flask) -> None:
    here, there = app.test_client(), app.test_client()
    login(here)
    login(there)
    page = here.get(MY_SESSIONS).get_data(as_text=True)
    assert page.count(">this session</span>") == 1
    assert "Password" in page and ">db<" not in page


def test_one_sessions_page_asks_about_this_session_and_the_list_about_the_selected(app: Flask) -> None:
    admin = app.test_client()
    login(admin, ADMIN)
    show = admin.get(f"/sessionrecords/show/{record_id_of(admin)}").get_data(as_text=True)
    assert "End this session?" in show and "End the selected sessions?" not in show
    assert "End the selected sessions?" in listed(admin)


@pytest.mark.config(LANGUAGES=GERMAN)
def test_the_sessions_pages_speak_the_users_language(app: Flask) -> None:
    here, there = app.test_client(), app.test_client()
    login(here)
    login(there)
    _age(app, record_id_of(there), minutes=5)
    assert here.get("/lang/de").status_code == 302  # FAB's language menu
    page = here.get(MY_SESSIONS).get_data(as_text=True)
    for german in ("Wo Sie angemeldet sind", "diese Sitzung", "Passwort", "vor 5 Minuten", "Zuletzt aktiv",
                   "Alle anderen Sitzungen abmelden"):
        assert german in page, german
    assert "Where you're signed in" not in page and "this session" not in page


@pytest.mark.config(LANGUAGES=GERMAN)
def test_an_unknown_language_falls_back_to_the_default_and_never_500s(app: Flask) -> None:
    here = app.test_client()
    login(here)
    for locale in ("xx", "de\x00", "../../etc"):
        here.get(f"/lang/{locale}")
        response = here.get(MY_SESSIONS, query_string={"_l_": locale})
        assert response.status_code == 200, locale


def test_the_request_time_check_never_imports_what_the_pages_show() -> None:
    from test_layers import import_graph

    graph = import_graph()
    reached, todo = set(), ["flask_session_epoch.check", "flask_session_epoch.judge"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    pages = {f"flask_session_epoch.{name}" for name in ("labels", "timestamps", "session_views", "views")}
    assert reached & pages == set()
