"""The admin UI and the password-change paths, driven as a browser would."""

from __future__ import annotations

import json
import typing as t

import pytest
import sqlalchemy as sa
from fabapp import ADMIN, ALICE
from flask import Flask
from flask.testing import FlaskClient
from helpers import api_login, bearer, is_logged_in, login, user_id

from flask_session_epoch.models import UserSessionEpoch


def admin_client(app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, ADMIN)
    return client


def stamps(app: Flask) -> list[tuple[int, str]]:
    with app.app_context():
        session = app.appbuilder.sm.session
        rows = session.execute(sa.select(UserSessionEpoch.user_id, UserSessionEpoch.reason)).all()
        session.rollback()
    return sorted(tuple(row) for row in rows)


# -- "Sign out everywhere" on the users pages -------------------------------------------


def test_list_action_signs_out_selected_users(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    admin = admin_client(app)
    response = admin.post(
        "/users/action_post", data={"action": "signouteverywhere", "rowid": [str(user_id(app))]}
    )
    assert response.status_code == 302
    assert not is_logged_in(alice)
    assert stamps(app) == [(user_id(app), "admin-revoke")]
    page = admin.get(response.headers["Location"], follow_redirects=True)
    assert b"Every session and token of alice has ended." in page.data


def test_show_page_action_signs_out_one_user(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    admin = admin_client(app)
    show = admin.get(f"/users/show/{user_id(app)}")
    assert b"Sign out everywhere" in show.data
    response = admin.post(f"/users/action/signouteverywhere/{user_id(app)}")
    assert response.status_code == 302
    assert not is_logged_in(alice)


def test_action_without_permission_changes_nothing(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    alice.post("/users/action_post", data={"action": "signouteverywhere", "rowid": [str(user_id(app, "admin"))]})
    assert stamps(app) == []


def test_action_without_csrf_token_changes_nothing(app: Flask) -> None:
    admin = admin_client(app)
    app.config["WTF_CSRF_ENABLED"] = True
    response = admin.post("/users/action_post", data={"action": "signouteverywhere", "rowid": [str(user_id(app))]})
    assert response.status_code in (302, 400)
    assert stamps(app) == []


def test_users_list_shows_when_sessions_ended(app: Flask) -> None:
    admin = admin_client(app)
    admin.post("/users/action_post", data={"action": "signouteverywhere", "rowid": [str(user_id(app))]})
    page = admin.get("/users/list/").get_data(as_text=True)
    assert "Sessions ended" in page
    with app.app_context():
        at = app.appbuilder.sm.session.execute(sa.select(UserSessionEpoch.sessions_invalidated_at)).scalar_one()
    assert f'<time datetime="{at.replace(microsecond=0).isoformat()}Z"' in page
    assert any(f"{when}</time>" in page for when in ("just now", "second ago", "seconds ago"))


def test_users_list_says_never_for_a_user_whose_sessions_never_ended(app: Flask) -> None:
    page = admin_client(app).get("/users/list/").get_data(as_text=True)
    row = page[page.index(">alice<"):]
    row = row[:row.index("</tr>")]
    assert row.rstrip().endswith("never</td>") or "<td>never</td>" in row


def test_a_users_page_asks_about_this_user_and_the_list_about_the_selected_users(app: Flask) -> None:
    admin = admin_client(app)
    show = admin.get(f"/users/show/{user_id(app)}").get_data(as_text=True)
    assert "End every session and API token of this user?" in show
    assert "the selected users" not in show
    assert "End every session and API token of the selected users?" in admin.get("/users/list/").get_data(as_text=True)


# -- "Sign out everyone" ------------------------------------------------------------------


def test_sign_out_everyone_keeps_only_the_admin(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    admin = admin_client(app)
    assert admin.get("/sessionepoch/revoke-all/").status_code == 200
    response = admin.post("/sessionepoch/revoke-all/")
    assert response.status_code == 302
    assert not is_logged_in(alice)
    assert admin.get("/users/list/").status_code == 200


def test_sign_out_everyone_needs_permission_and_post(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    assert alice.get("/sessionepoch/revoke-all/").status_code in (302, 403)  # access denied
    alice.post("/sessionepoch/revoke-all/")
    assert is_logged_in(alice)
    admin = admin_client(app)
    app.config["WTF_CSRF_ENABLED"] = True
    admin.post("/sessionepoch/revoke-all/")
    assert is_logged_in(alice)


# -- self-service --------------------------------------------------------------------------


def test_sign_out_other_sessions_keeps_this_one(app: Flask) -> None:
    here, there = app.test_client(), app.test_client()
    login(here)
    login(there)
    token = api_login(app.test_client())["access_token"]
    response = here.post("/sessionepoch/sign-out-others/")
    assert response.status_code == 302
    assert is_logged_in(here)
    assert not is_logged_in(there)
    assert app.test_client().get("/api/v1/ping/", headers=bearer(token)).status_code == 401
    assert stamps(app) == [(user_id(app), "self-service")]


def test_sign_out_other_sessions_link_on_userinfo(app: Flask) -> None:
    admin = admin_client(app)
    page = admin.get("/users/userinfo/")
    assert b"Sign out all other sessions" in page.data
    assert b"/sessionepoch/sign-out-others/" in page.data


def test_sign_out_other_sessions_needs_login(app: Flask) -> None:
    response = app.test_client().post("/sessionepoch/sign-out-others/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]
    assert stamps(app) == []


# -- password changes end the other sessions ------------------------------------------------


def test_reset_my_password_keeps_this_session_only(app: Flask) -> None:
    here, there = admin_client(app), admin_client(app)
    response = here.post("/resetmypassword/form", data={"password": "new-pass-123", "conf_password": "new-pass-123"})
    assert response.status_code == 302
    assert here.get("/users/list/").status_code == 200
    assert there.get("/users/list/").status_code == 302
    assert stamps(app) == [(user_id(app, ADMIN[0]), "password-change")]


def test_admin_reset_password_form_ends_the_users_sessions(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    admin = admin_client(app)
    response = admin.post(
        f"/resetpassword/form?pk={user_id(app)}", data={"password": "new-pass-123", "conf_password": "new-pass-123"}
    )
    assert response.status_code == 302
    assert not is_logged_in(alice)
    assert admin.get("/users/list/").status_code == 200
    login(alice, (ALICE[0], "new-pass-123"))
    assert is_logged_in(alice)


def test_rest_user_api_password_change_ends_sessions(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    admin = app.test_client()
    token = api_login(admin, ADMIN)["access_token"]
    response = admin.put(
        f"/api/v1/security/users/{user_id(app)}", json={"password": "new-pass-123"}, headers=bearer(token)
    )
    assert response.status_code == 200, response.data
    assert not is_logged_in(alice)
    assert stamps(app) == [(user_id(app), "password-change")]


def test_edit_without_password_change_does_not_stamp(app: Flask) -> None:
    admin = app.test_client()
    token = api_login(admin, ADMIN)["access_token"]
    admin.put(f"/api/v1/security/users/{user_id(app)}", json={"first_name": "Alicia"}, headers=bearer(token))
    assert stamps(app) == []


# -- roles ----------------------------------------------------------------------------------


def remove_roles(app: Flask) -> None:
    with app.app_context():
        sm = app.appbuilder.sm
        sm.find_user(ALICE[0]).roles = []
        sm.session.commit()


def test_role_removal_does_not_stamp_by_default(app: Flask) -> None:
    remove_roles(app)
    assert stamps(app) == []


@pytest.mark.config(SESSION_EPOCH_ON_ROLE_CHANGE=True)
def test_role_removal_stamps_when_asked(app: Flask) -> None:
    alice = app.test_client()
    login(alice)
    remove_roles(app)
    assert stamps(app) == [(user_id(app), "role-change")]


# -- hostile input and cost ------------------------------------------------------------


@pytest.mark.parametrize("referrer", ["https://evil.example/phish", "//evil.example/x", "javascript:alert(1)"])
def test_forms_never_redirect_to_another_site(app: Flask, referrer: str) -> None:
    admin = admin_client(app)
    for response in (
        admin.post("/users/action_post", data={"action": "signouteverywhere", "rowid": [str(user_id(app))]},
                   headers={"Referer": referrer}),
        admin.post("/sessionepoch/sign-out-others/", headers={"Referer": referrer}),
    ):
        assert response.status_code == 302
        assert "evil.example" not in response.headers["Location"]
        assert not response.headers["Location"].startswith("javascript")


def test_forms_go_back_to_a_page_of_this_site(app: Flask) -> None:
    admin = admin_client(app)
    response = admin.post("/sessionepoch/sign-out-others/", headers={"Referer": "http://localhost/users/userinfo/"})
    assert response.headers["Location"].endswith("/users/userinfo/")


@pytest.mark.all_databases
@pytest.mark.parametrize(
    "rowid", ["999999", "abc", "9223372036854775808", "-1", "\u0663", "1 OR 1=1", ""]
)
def test_action_on_rows_that_are_no_users_is_a_message_never_500(app: Flask, rowid: str) -> None:
    admin = admin_client(app)
    listed = admin.post("/users/action_post", data={"action": "signouteverywhere", "rowid": [rowid]})
    assert listed.status_code in (302, 400)
    from urllib.parse import quote

    single = admin.post(f"/users/action/signouteverywhere/{quote(rowid) or '%20'}")
    assert single.status_code in (302, 400, 404)
    assert stamps(app) == []


def test_unknown_action_name_is_never_500(app: Flask) -> None:
    admin = admin_client(app)
    assert admin.post("/users/action_post", data={"action": "nosuchaction", "rowid": ["1"]}).status_code in (302, 400)
    assert admin.post("/users/action/nosuchaction/1").status_code in (302, 400, 404)


def count_statements(app: Flask, path: str, client: FlaskClient) -> int:
    with app.app_context():
        engine = app.extensions["test_db"].engine
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def add_users_with_epochs(app: Flask, count: int) -> None:
    from flask_session_epoch.store import stamp_user, utcnow

    with app.app_context():
        sm = app.appbuilder.sm
        for n in range(count):
            user = sm.add_user(f"user{n}", "U", str(n), f"user{n}@example.org", sm.find_role("Admin"), "pw-123456")
            stamp_user(sm.session.connection(), user.id, utcnow(), "test", "test")
            sm.session.commit()


def test_users_list_sessions_ended_column_costs_a_constant_number_of_statements(make_app) -> None:
    """FAB itself loads roles and groups row by row; our column adds the same few statements per page."""
    with_us, plain = make_app(), make_app(extension=False)
    ours = []
    for more in (0, 20):
        add_users_with_epochs(with_us, more)
        ours.append(count_statements(with_us, "/users/list/", admin_client(with_us))
                    - count_statements(plain, "/users/list/", admin_client(plain)))
    assert ours[0] == ours[1]


def test_users_list_shows_the_time_in_utc_without_microseconds(app: Flask) -> None:
    admin = admin_client(app)
    admin.post("/users/action_post", data={"action": "signouteverywhere", "rowid": [str(user_id(app))]})
    with app.app_context():
        at = app.appbuilder.sm.session.execute(sa.select(UserSessionEpoch.sessions_invalidated_at)).scalar_one()
    exact = at.replace(microsecond=0)
    for page in (admin.get("/users/list/"), admin.get(f"/users/show/{user_id(app)}")):
        text = page.get_data(as_text=True)
        assert f'datetime="{exact.isoformat()}Z"' in text
        assert f":{exact:%M:%S}\u202f{exact:%p} UTC\"" in text  # the title: Babel's medium English format
        assert str(at) not in text and at.isoformat() not in text

# -- what the pages say: the last "Sign out everyone", the banner's texts ---------------------


def test_sign_out_everyone_says_when_it_last_happened_in_words(app: Flask) -> None:
    admin = admin_client(app)
    admin.post("/sessionepoch/revoke-all/")
    page = admin.get("/sessionepoch/revoke-all/").get_data(as_text=True)
    assert "Last time:" in page and "Everyone was signed out" in page
    assert "(revoke-all" not in page


def banner_texts(page: str) -> dict[str, t.Any]:
    start = page.index('<script type="application/json" id="session-epoch-texts">') + 57
    return t.cast("dict[str, t.Any]", json.loads(page[start:page.index("</script>", start)]))


def test_every_page_carries_the_banners_texts_and_whether_it_is_signed_in(app: Flask) -> None:
    texts = banner_texts(admin_client(app).get("/users/list/").get_data(as_text=True))
    assert texts == {"signed_in": True, "warn": "Your session ends in {minutes}.", "minute": "{n} minute",
                     "minutes": "{n} minutes", "stay": "Stay signed in", "dismiss": "Dismiss"}
    assert banner_texts(app.test_client().get("/login/").get_data(as_text=True))["signed_in"] is False


@pytest.mark.config(LANGUAGES={"en": {"flag": "gb", "name": "English"}, "de": {"flag": "de", "name": "Deutsch"}})
def test_the_banners_texts_are_in_the_users_language(app: Flask) -> None:
    admin = admin_client(app)
    admin.get("/lang/de")
    texts = banner_texts(admin.get("/users/list/").get_data(as_text=True))
    assert texts["warn"] == "Ihre Sitzung endet in {minutes}." and texts["minutes"] == "{n} Minuten"
    assert texts["stay"] == "Angemeldet bleiben"
