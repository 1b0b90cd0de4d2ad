"""The session registry: a record per login, ended one at a time, wherever its copies are."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
import sqlalchemy as sa
from fabapp import ADMIN, ALICE
from flask import Flask
from flask.testing import FlaskClient
from helpers import api_login, bearer, is_logged_in, login, remember_app, user_id

import flask_session_epoch as fse
from flask_session_epoch import check, sessions
from flask_session_epoch.models import SessionRecord

BASE = "/api/v1/session_epoch"
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def records(app: Flask, username: str = ALICE[0]) -> list[t.Any]:
    with app.app_context():
        db = app.appbuilder.sm.session
        rows = db.execute(sa.select(SessionRecord).filter_by(user_id=user_id(app, username))
                          .order_by(SessionRecord.started_at)).scalars().all()
        db.expunge_all()
        return list(rows)


def record_id_of(client: FlaskClient) -> str:
    with client.session_transaction() as sess:
        return t.cast(str, sess[fse.SESSION_KEY_EPOCH][4])


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    twin = app.test_client()
    twin.set_cookie("session", client.get_cookie("session").value)
    return twin


def ping(client: FlaskClient, token: str) -> int:
    return client.get("/api/v1/ping/", headers=bearer(token)).status_code


# -- every way in gets a record -------------------------------------------------------------


@pytest.mark.all_databases
def test_a_form_login_starts_a_record_with_where_and_how(app: Flask) -> None:
    client = app.test_client()
    client.post("/login/", data={"username": ALICE[0], "password": ALICE[1]},
                headers={"User-Agent": FIREFOX}, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    [record] = records(app)
    assert record.id == record_id_of(client) and len(record.id) >= 40
    assert (record.kind, record.auth_method, record.ip) == ("browser", "db", "198.51.100.7")
    assert record.user_agent == FIREFOX and record.device == "Firefox 120 on Ubuntu"
    assert record.ended_at is None and record.expires_at > record.started_at


def test_each_login_is_its_own_record(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    login(first)
    login(second)
    assert len({r.id for r in records(app)}) == 2
    assert record_id_of(first) != record_id_of(second)


@pytest.mark.config(SESSION_EPOCH_PROXY_HEADER="X-Auth-Request-User")
def test_a_proxy_login_is_recorded_as_such(app: Flask, client: FlaskClient) -> None:
    for _ in range(2):  # the second brings the cookie back: a login
        assert client.get("/api/v1/ping/", headers={"X-Auth-Request-User": ALICE[0]}).status_code == 200
    assert [r.auth_method for r in records(app)] == ["proxy"]


@pytest.mark.all_databases
def test_an_api_login_puts_both_tokens_under_one_record_and_refresh_keeps_it(app: Flask,
                                                                            client: FlaskClient) -> None:
    import jwt

    tokens = api_login(client)
    [record] = records(app)
    assert (record.kind, record.auth_method) == ("api", "api")
    claims = [jwt.decode(tokens[k], options={"verify_signature": False}) for k in ("access_token", "refresh_token")]
    assert [c["sep"][3] for c in claims] == [record.id, record.id]
    refreshed = client.post("/api/v1/security/refresh", headers=bearer(tokens["refresh_token"])).get_json()
    assert jwt.decode(refreshed["access_token"], options={"verify_signature": False})["sep"][3] == record.id
    assert len(records(app)) == 1


# -- ending one session ----------------------------------------------------------------------


@pytest.mark.all_databases
def test_logout_ends_the_record_so_a_copy_of_the_cookie_is_anonymous(app: Flask, client: FlaskClient) -> None:
    login(client)
    stolen = copy_of(app, client)
    other = app.test_client()
    login(other)
    assert is_logged_in(stolen)
    client.get("/logout/")
    assert not is_logged_in(stolen)
    assert is_logged_in(other)  # the user's other session lives on
    ended = [r for r in records(app) if r.ended_at is not None]
    assert [(r.end_reason, r.ended_by) for r in ended] == [("logout", str(user_id(app)))]


def test_logout_with_redis_sessions_ends_the_session_everywhere(make_app, redis_sessions) -> None:
    app = make_app(setup=redis_sessions)
    client = app.test_client()
    login(client)
    stolen = copy_of(app, client)
    client.get("/logout/")
    assert not is_logged_in(stolen)


@pytest.mark.all_databases
def test_ending_a_jwt_login_ends_its_access_and_refresh_tokens(app: Flask, client: FlaskClient) -> None:
    ended, kept = api_login(client), api_login(client)
    listed = client.get(f"{BASE}/me/sessions", headers=bearer(ended["access_token"])).get_json()["result"]
    [record] = [item["id"] for item in listed if item["current"]]
    mine = {r["id"]: r for r in client.get(f"{BASE}/me/sessions", headers=bearer(kept["access_token"]))
            .get_json()["result"]}
    assert mine[record]["current"] is False
    response = client.delete(f"{BASE}/me/sessions/{record}", headers=bearer(kept["access_token"]))
    assert response.status_code == 200 and response.get_json()["result"]["end_reason"] == "self-service"
    assert ping(client, ended["access_token"]) == 401
    assert client.post("/api/v1/security/refresh", headers=bearer(ended["refresh_token"])).status_code == 401
    assert ping(client, kept["access_token"]) == 200


def test_ending_the_record_ends_its_remember_me_cookie(app: Flask) -> None:
    client = remember_app(app).test_client()
    client.get("/remember-login")
    record = record_id_of(client)
    client.delete_cookie("session")
    assert is_logged_in(client)
    assert record_id_of(client) == record  # the restore goes on under the same record
    with app.app_context():
        sessions.end_session(record, "test")
    client.delete_cookie("session")
    assert not is_logged_in(client)


def test_another_users_record_never_vouches(app: Flask) -> None:
    """A stamp naming alice's open record, but another user: the join is on the user."""
    alice, admin = app.test_client(), app.test_client()
    login(alice)
    login(admin, ADMIN)
    with admin.session_transaction() as sess:
        stamp = sess[fse.SESSION_KEY_EPOCH]
        sess[fse.SESSION_KEY_EPOCH] = [*stamp[:4], record_id_of(alice)]
    assert admin.get("/users/list/").status_code == 302


@pytest.mark.all_databases
def test_an_admin_ends_one_session_and_the_others_live_on(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    login(first)
    login(second)
    admin = app.test_client()
    token = bearer(api_login(admin, ADMIN)["access_token"])
    target = record_id_of(first)
    response = admin.delete(f"{BASE}/sessions/{target}", headers=token)
    assert response.status_code == 200
    assert response.get_json()["result"]["ended_by"] == str(user_id(app, ADMIN[0]))
    assert not is_logged_in(first)
    assert is_logged_in(second)
    assert admin.delete(f"{BASE}/sessions/{target}x", headers=token).status_code == 404


def test_someone_elses_session_is_a_404_to_self_service(app: Flask) -> None:
    alice, admin = app.test_client(), app.test_client()
    login(alice)
    token = bearer(api_login(admin, ADMIN)["access_token"])
    assert admin.delete(f"{BASE}/me/sessions/{record_id_of(alice)}", headers=token).status_code == 404
    assert is_logged_in(alice)


# -- lists -------------------------------------------------------------------------------


@pytest.mark.all_databases
def test_the_lists_show_the_truth(app: Flask) -> None:
    clients = [app.test_client() for _ in range(3)]
    for client in clients:
        login(client)
    clients[0].get("/logout/")
    admin = app.test_client()
    token = bearer(api_login(admin, ADMIN)["access_token"])
    uid = user_id(app)
    active = admin.get(f"{BASE}/sessions", query_string={"user_id": uid, "state": "active"}, headers=token)
    ended = admin.get(f"{BASE}/sessions", query_string={"user_id": uid, "state": "ended"}, headers=token)
    assert active.get_json()["count"] == 2 and ended.get_json()["count"] == 1
    assert ended.get_json()["result"][0]["end_reason"] == "logout"
    with app.app_context():
        fse.invalidate_sessions(uid, reason="disable")  # an epoch ends the rest without writing them
    body = admin.get(f"{BASE}/sessions", query_string={"user_id": uid, "state": "ended"}, headers=token).get_json()
    assert body["count"] == 3
    assert sorted(item["end_reason"] for item in body["result"]) == ["disable", "disable", "logout"]
    item = body["result"][0]
    assert {"id", "user_id", "current", "started_at", "last_active_at", "ip", "device", "via", "ended_at",
            "end_reason", "ended_by"} <= set(item)
    assert item["started_at"].endswith("+00:00")


def test_paging_counts_every_match(app: Flask) -> None:
    for _ in range(5):
        login(app.test_client())
    admin = app.test_client()
    token = bearer(api_login(admin, ADMIN)["access_token"])
    query = {"user_id": user_id(app), "page_size": 2, "page": 1}
    body = admin.get(f"{BASE}/sessions", query_string=query, headers=token).get_json()
    assert body["count"] == 5 and len(body["result"]) == 2
    for bad in ({"page_size": 0}, {"page_size": 101}, {"page": -1}, {"state": "gone"}, {"user_id": "x"}):
        assert admin.get(f"{BASE}/sessions", query_string=bad, headers=token).status_code == 400


def test_my_sessions_marks_this_one(app: Flask, client: FlaskClient) -> None:
    login(client)
    login(app.test_client())
    result = client.get(f"{BASE}/me/sessions").get_json()["result"]
    assert sorted(item["current"] for item in result) == [False, True]


def test_listing_everyone_needs_permission(app: Flask, client: FlaskClient) -> None:
    token = bearer(api_login(client)["access_token"])
    assert client.get(f"{BASE}/sessions", headers=token).status_code == 403
    assert client.get(f"{BASE}/me/sessions", headers=token).status_code == 200


def test_userinfo_page_lists_where_you_are_signed_in_and_signs_one_out(app: Flask) -> None:
    here, there = app.test_client(), app.test_client()
    login(here, ADMIN)
    login(there, ADMIN)
    page = here.get("/users/userinfo/").get_data(as_text=True)
    assert "Where you&#39;re signed in" in page or "Where you're signed in" in page
    assert "this session" in page and record_id_of(there) in page
    response = here.post(f"/sessionepoch/sessions/{record_id_of(there)}/end/")
    assert response.status_code == 302
    assert not is_logged_in(there)
    assert is_logged_in(here)


def test_the_sessions_list_view_ends_sessions(app: Flask) -> None:
    victim = app.test_client()
    login(victim)
    admin = app.test_client()
    login(admin, ADMIN)
    listing = admin.get("/sessionrecords/list/")
    assert listing.status_code == 200 and b"Firefox" not in listing.data
    assert record_id_of(victim).encode() in admin.get(f"/sessionrecords/show/{record_id_of(victim)}").data
    response = admin.post("/sessionrecords/action_post",
                          data={"action": "endsession", "rowid": [record_id_of(victim)]})
    assert response.status_code == 302
    assert not is_logged_in(victim)
    assert is_logged_in(admin)


def test_cli_lists_and_ends_one_session(app: Flask) -> None:
    from flask_session_epoch.cli import cli

    client = app.test_client()
    login(client)
    runner = app.test_cli_runner()
    listed = runner.invoke(cli, ["sessions", ALICE[0]])
    assert listed.exit_code == 0 and record_id_of(client) in listed.output
    done = runner.invoke(cli, ["end-session", record_id_of(client)])
    assert done.exit_code == 0, done.output
    assert not is_logged_in(client)
    ended = runner.invoke(cli, ["sessions", ALICE[0], "--ended", "--json"])
    assert '"end_reason": "admin"' in ended.output
    assert runner.invoke(cli, ["end-session", "no-such-session"]).exit_code == 1


def test_record_ids_never_look_like_command_line_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """``end-session ID`` takes the id as shown: one starting with "-" would be read as an option."""
    from flask_session_epoch import registry

    drawn = iter(["-looks-like-an-option", "_fine-as-an-argument"])
    monkeypatch.setattr(registry.secrets, "token_urlsafe", lambda size: next(drawn))
    assert registry.new_id() == "_fine-as-an-argument"


# -- activity, expiry, history ---------------------------------------------------------------


@pytest.mark.config(SESSION_EPOCH_ACTIVITY_INTERVAL=1)
def test_activity_is_written_at_most_once_per_interval(app: Flask, client: FlaskClient) -> None:
    import time

    def visit() -> None:
        response = client.get("/protected/")
        assert response.status_code == 200
        response.close()  # as a WSGI server does once it has sent the response: the write runs then

    login(client)
    [start] = records(app)
    visit()
    assert records(app)[0].last_active_at == start.last_active_at  # within the interval: no write
    time.sleep(1.1)
    visit()
    assert records(app)[0].last_active_at > start.last_active_at


def test_expired_records_are_marked_and_old_ones_pruned(app: Flask, client: FlaskClient) -> None:
    from flask_session_epoch import registry, store

    login(client)
    [record] = records(app)
    with app.app_context():
        db = app.appbuilder.sm.session
        now = store.utcnow()
        db.execute(sa.update(SessionRecord).values(expires_at=now - dt.timedelta(seconds=1)))
        db.commit()
        assert not is_logged_in(client)  # a record past its expiry no longer holds
        assert registry.expire(db.connection(), now, 10, check.NO_LIMITS) == 1
        db.commit()
        assert db.get(SessionRecord, record.id).end_reason == check.EXPIRED
        assert registry.prune(db.connection(), now + dt.timedelta(days=31), 10) == 1
        db.commit()
        assert db.get(SessionRecord, record.id) is None


def test_a_session_whose_record_is_gone_is_anonymous(app: Flask, client: FlaskClient) -> None:
    """Pruned, or deleted by hand: absence never vouches."""
    login(client)
    with app.app_context():
        db = app.appbuilder.sm.session
        db.execute(sa.delete(SessionRecord))
        db.commit()
    assert not is_logged_in(client)


def test_sessions_from_before_the_registry_are_governed_by_the_epoch(app: Flask, client: FlaskClient) -> None:
    login(client)
    with client.session_transaction() as sess:
        sess[fse.SESSION_KEY_EPOCH] = sess[fse.SESSION_KEY_EPOCH][:4]  # a stamp without a record
    assert is_logged_in(client)
    with app.app_context():
        fse.invalidate_sessions(user_id(app), reason="test")
    assert not is_logged_in(client)


def test_a_provider_session_from_before_the_registry_signs_in_again(app: Flask, client: FlaskClient) -> None:
    """Nothing could end it alone any more: it ends at its next request."""
    login(client)
    with client.session_transaction() as sess:
        sess[fse.SESSION_KEY_EPOCH] = sess[fse.SESSION_KEY_EPOCH][:4]
        sess["_session_epoch_sid"] = "0" * 64
    assert not is_logged_in(client)


def test_signals_for_sessions_that_start_and_end(app: Flask, client: FlaskClient) -> None:
    started: list[dict[str, t.Any]] = []
    ended: list[dict[str, t.Any]] = []
    with fse.signals.session_started.connected_to(lambda s, **kw: started.append(kw), app), \
            fse.signals.session_ended.connected_to(lambda s, **kw: ended.append(kw), app):
        login(client)
        client.get("/logout/")
    assert [(s["user_id"], s["kind"], s["auth_method"]) for s in started] == [(user_id(app), "browser", "db")]
    assert [(e["user_id"], e["reason"]) for e in ended] == [(user_id(app), "logout")]
    assert started[0]["record_id"] == ended[0]["record_id"]


# -- hostile session ids -----------------------------------------------------------------

#: Ids no record can have: a NUL byte (PostgreSQL refuses it in a string), control and
#: non-ASCII characters, an option-like or over-long id, SQL, and the empty string.
HOSTILE_IDS = ["\x00", "a\x00b", "A" * 42 + "\x00", "-" + "A" * 42, "A" * 44, "A" * 4096, "\u0663" * 43,
               "' OR 1=1 --", "\x7f", " "]


@pytest.mark.all_databases
def test_malformed_session_ids_are_a_404_or_a_message_never_500(app: Flask) -> None:
    from urllib.parse import quote

    from flask_session_epoch.cli import cli

    alice = app.test_client()
    login(alice)
    admin = app.test_client()
    login(admin, ADMIN)
    token = bearer(api_login(app.test_client(), ADMIN)["access_token"])
    for raw in HOSTILE_IDS:
        quoted = quote(raw, safe="")
        for path in (f"{BASE}/me/sessions/{quoted}", f"{BASE}/sessions/{quoted}"):
            assert admin.delete(path).status_code == 404, (path, raw)
            assert app.test_client().delete(path, headers=token).status_code == 404, (path, raw)
        for path in (f"/sessionepoch/sessions/{quoted}/end/", f"/sessionepoch/sessions/{quoted}/end-any/"):
            response = admin.post(path)
            assert response.status_code == 302, (path, raw, response.status_code)
        listed = admin.post("/sessionrecords/action_post", data={"action": "endsession", "rowid": [raw]})
        assert listed.status_code == 302, (raw, listed.status_code)
        assert admin.post(f"/sessionrecords/action/endsession/{quoted}").status_code in (302, 404), raw
        assert admin.get(f"/sessionrecords/show/{quoted}").status_code in (302, 404), raw
        result = app.test_cli_runner().invoke(cli, ["end-session", "--", raw])
        assert result.exit_code == 1 and "No session with id" in result.output, (raw, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert is_logged_in(alice) and is_logged_in(admin)
    assert all(record.ended_at is None for record in records(app))


def test_unknown_action_on_the_sessions_list_is_never_500(app: Flask) -> None:
    admin = app.test_client()
    login(admin, ADMIN)
    victim = app.test_client()
    login(victim)
    for response in (admin.post("/sessionrecords/action_post", data={"action": "nosuch", "rowid": ["x"]}),
                     admin.post(f"/sessionrecords/action/nosuch/{record_id_of(victim)}")):
        assert response.status_code in (302, 400, 404)
    assert is_logged_in(victim)


def test_every_new_record_id_has_the_shape_the_entry_points_accept() -> None:
    from flask_session_epoch import identity, registry

    for _ in range(200):
        value = registry.new_id()
        assert identity.parse_record_id(value) == value
    for raw in HOSTILE_IDS:
        assert identity.parse_record_id(raw) is None
