"""Following a trusted authenticating proxy (oauth2-proxy style headers, or REMOTE_USER)."""

from __future__ import annotations

import pytest
from fabapp import ADMIN, ALICE
from flask import Flask
from flask.testing import FlaskClient
from helpers import api_login, bearer, login

from flask_session_epoch.config import ConfigurationError

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
    assert who(client) is None  # alice's session is gone; admin's is not a login yet
    assert who(client, "admin@example.org") == "admin"  # the browser kept the cookie: a login
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
    with pytest.raises(ConfigurationError, match="PROXY_IDENTITY"):
        make_app(SESSION_EPOCH_PROXY_HEADER="X-User", SESSION_EPOCH_PROXY_IDENTITY="mail")


# -- hardening ------------------------------------------------------------------


@by_email
@pytest.mark.parametrize("header", ["Basic YWxpY2U6anVuaw==", "Bearer not-a-jwt", "Bearer sst_not-a-key", "junk"])
def test_a_header_that_authenticates_nothing_does_not_stop_following(client: FlaskClient, header: str) -> None:
    login(client)
    response = client.get("/api/v1/ping/", headers={"Authorization": header, EMAIL_HEADER: "admin@example.org"})
    assert response.get_json()["user"] == "admin"


@by_email
def test_the_providers_own_token_passed_on_by_the_proxy_does_not_stop_following(client: FlaskClient) -> None:
    """oauth2-proxy's --pass-authorization-header sends the provider's ID token along."""
    import jwt as pyjwt

    id_token = pyjwt.encode({"sub": "someone", "email": "admin@example.org"}, "the-provider's-key-0123456789abcdef")
    assert who(client, "admin@example.org") == "admin"  # logged in by the proxy with no cookie first
    response = client.get("/api/v1/ping/", headers={"Authorization": f"Bearer {id_token}",
                                                    EMAIL_HEADER: "alice@example.org"})
    assert response.get_json()["user"] == "alice"


@by_email
def test_a_valid_token_keeps_its_user_but_the_stale_cookie_still_goes(app: Flask) -> None:
    client = app.test_client()
    token = api_login(client)["access_token"]
    login(client, ADMIN)
    response = client.get("/users/list/", headers={**bearer(token), EMAIL_HEADER: "alice@example.org"})
    assert response.status_code == 302  # the admin's cookie no longer serves the page
    with client.session_transaction() as sess:
        assert "_user_id" not in sess  # and the token's request logged nobody in


@by_email
def test_switching_users_clears_the_previous_session(app: Flask) -> None:
    @app.route("/put-in-session")
    def put() -> str:
        from flask import session

        session["cart"] = "alice's things"
        return "ok"

    client = app.test_client()
    login(client)
    client.get("/put-in-session")
    assert who(client, "admin@example.org") == "admin"
    with client.session_transaction() as sess:
        assert "cart" not in sess


@by_email
def test_switching_users_gives_a_server_side_session_a_new_id(make_app, redis_sessions) -> None:
    app = make_app(setup=redis_sessions)
    client = app.test_client()
    login(client)
    before = client.get_cookie("session").value
    assert who(client, "admin@example.org") == "admin"
    after = client.get_cookie("session").value
    assert after != before
    stale = app.test_client()
    stale.set_cookie("session", before)
    assert who(stale) is None  # the old id names no session any more


@pytest.mark.config(SESSION_EPOCH_PROXY_HEADER="X-Auth-Request-User", AUTH_USERNAME_CI=False)
def test_usernames_are_case_sensitive_when_fab_says_so(client: FlaskClient) -> None:
    response = client.get("/api/v1/ping/", headers={"X-Auth-Request-User": "ALICE"})
    assert response.status_code == 401
    response = client.get("/api/v1/ping/", headers={"X-Auth-Request-User": "alice"})
    assert response.get_json()["user"] == "alice"


@pytest.mark.config(SESSION_EPOCH_PROXY_HEADER="X-Auth-Request-User")
def test_usernames_ignore_ascii_case_by_default(client: FlaskClient) -> None:
    response = client.get("/api/v1/ping/", headers={"X-Auth-Request-User": "ALICE"})
    assert response.get_json()["user"] == "alice"


@pytest.mark.all_databases
@pytest.mark.parametrize(
    ("identity", "header", "asserted"),
    [
        ("email", EMAIL_HEADER, "\u212aate@example.org"),  # KELVIN SIGN lower-cases to "k"
        ("email", EMAIL_HEADER, "kate@example.org\u0307"),
        ("username", "X-Auth-Request-User", "\u212aate"),
        ("username", "X-Auth-Request-User", "KATE\u0130"),
    ],
)
@pytest.mark.parametrize("as_bytes", [True, False])
def test_unicode_case_folding_never_matches_another_user(make_app, identity: str, header: str, asserted: str,
                                                         as_bytes: bool) -> None:
    app = make_app(SESSION_EPOCH_PROXY_HEADER=header, SESSION_EPOCH_PROXY_IDENTITY=identity)
    with app.app_context():
        sm = app.appbuilder.sm
        sm.add_user("kate", "Kate", "K", "kate@example.org", sm.find_role("Admin"), "kate-pass-1")
    client = app.test_client()
    # A proxy sends UTF-8 bytes, which WSGI hands over as Latin-1; a server may also pass text on as it is.
    value = asserted.encode("utf-8").decode("latin-1") if as_bytes else asserted
    response = client.get("/api/v1/ping/", headers={header: value})
    assert response.status_code == 401


@pytest.mark.config(SESSION_EPOCH_PROXY_HEADER="X-Auth-Request-User", AUTH_USERNAME_CI=False)
def test_a_session_does_not_match_another_case_when_usernames_are_case_sensitive(client: FlaskClient) -> None:
    login(client)
    response = client.get("/api/v1/ping/", headers={"X-Auth-Request-User": "ALICE"})
    assert response.status_code == 401  # "ALICE" is not alice, and nobody is called that


@pytest.mark.config(SESSION_EPOCH_PROXY_HEADER="X-Auth-Request-User", AUTH_USER_REGISTRATION=True,
                    AUTH_USER_REGISTRATION_ROLE="Reader")
def test_a_utf8_identity_is_read_as_utf8(client: FlaskClient) -> None:
    response = client.get("/api/v1/ping/", headers={"X-Auth-Request-User": "jos\u00e9".encode().decode("latin-1")})
    assert response.get_json()["user"] == "jos\u00e9"


def sessions_of(app: Flask, username: str) -> list:
    from flask_session_epoch import sessions

    with app.test_request_context():
        return sessions.list_sessions(user_id=app.appbuilder.sm.find_user(username).id, page_size=100)[0]


@by_email
@pytest.mark.all_databases
@pytest.mark.parametrize("raw", [b"\xff\xfe@example.org", b"alice\xc3@example.org"], ids=["not-utf8", "cut-utf8"])
def test_an_unreadable_identity_drops_the_previous_session(app: Flask, client: FlaskClient, raw: bytes) -> None:
    """An assertion that cannot be read is no absence: the session it arrives with goes, fail closed."""
    login(client)
    unreadable = raw.decode("latin-1")  # what a WSGI server hands over for those bytes
    assert who(client, unreadable) is None
    assert who(client) is None
    [record] = sessions_of(app, ALICE[0])
    assert (record.active, record.end_reason) == (False, "proxy-unreadable")


@by_email
def test_a_value_no_server_could_hand_over_as_latin1_drops_the_session(client: FlaskClient) -> None:
    login(client)
    assert who(client, "al\u0131ce@example.org") is None  # beyond Latin-1: not what a WSGI server sends
    assert who(client) is None


@by_email
@pytest.mark.all_databases
def test_a_proxy_switch_ends_the_previous_users_record(app: Flask) -> None:
    browser = app.test_client()
    login(browser)
    copy = app.test_client()
    copy.set_cookie("session", browser.get_cookie("session").value)
    assert who(browser, "admin@example.org") == "admin"
    [alice] = sessions_of(app, ALICE[0])
    assert (alice.active, alice.end_reason, alice.ended_by) == (False, "proxy-switch", "proxy")
    assert who(copy) is None  # a copy of alice's cookie, sent without the header


@by_email
@pytest.mark.all_databases
def test_cookieless_proxied_requests_start_no_record(app: Flask) -> None:
    """Scripts and monitors behind the proxy keep no cookie: each request is the proxy's word alone."""
    for _ in range(5):
        assert who(app.test_client(), "alice@example.org") == "alice"
    assert sessions_of(app, ALICE[0]) == []


@by_email
@pytest.mark.all_databases
def test_a_proxied_browser_that_keeps_its_cookie_gets_one_record(app: Flask) -> None:
    browser = app.test_client()
    for _ in range(4):
        assert who(browser, "alice@example.org") == "alice"
    [record] = sessions_of(app, ALICE[0])
    assert record.active and record.via == "proxy"
    from flask_session_epoch import sessions

    with app.test_request_context():
        sessions.end_session(record.id, actor="test")
    assert who(browser) is None  # its cookie is ended with its record
    assert who(browser, "alice@example.org") == "alice"  # the proxy's word starts a new login


@by_email
def test_a_cookie_from_a_cookieless_proxy_request_needs_the_proxy(app: Flask) -> None:
    """Until the client shows it keeps the cookie (and the proxy still vouches), the cookie has no record."""
    browser = app.test_client()
    assert who(browser, "alice@example.org") == "alice"
    assert who(browser) is None


@by_email
@pytest.mark.config(SESSION_EPOCH_MAX_SESSIONS=1, SESSION_EPOCH_MAX_SESSIONS_POLICY="refuse",
                    SESSION_EPOCH_IDLE_TIMEOUT=3600)
def test_cookieless_proxied_requests_never_count_against_the_cap(app: Flask) -> None:
    browser = app.test_client()
    assert who(browser, "alice@example.org") == "alice"
    assert who(browser, "alice@example.org") == "alice"  # recorded now: the one session allowed
    for _ in range(3):
        assert who(app.test_client(), "alice@example.org") == "alice"
    assert who(browser, "alice@example.org") == "alice"
    assert len(sessions_of(app, ALICE[0])) == 1
