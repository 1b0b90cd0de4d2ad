"""RP-initiated and front-channel logout, both ends: the app and a real OpenID provider.

The provider (idpyoidc, ``oidc/provider.py``) keeps a browser session in its own cookie
and asks for a login form when there is none. The app is driven through Flask's test
client; the browser's requests to the provider go over HTTP with a ``requests.Session``,
which keeps the provider's cookies, so each test sees what the provider accepts, what it
ends and where it sends the browser.
"""

from __future__ import annotations

import re
import typing as t
from html import unescape
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from helpers import CLIENT_ID, CLIENT_SECRET, is_logged_in, oauth_config
from oidc.provider import OpenIDProvider
from test_backchannel_provider import CALLBACK
from test_idp_logout import RP_LOGOUT, cookie_copy, records

from flask_session_epoch.idp_logout import rp_initiated

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

LOGIN_PAGE = "http://localhost/login/"
_TOKEN = re.compile(r"name='token' value='([^']*)'")
_IFRAME = re.compile(r'<iframe src="([^"]*)"')


@pytest.fixture
def op() -> t.Iterator[OpenIDProvider]:
    with OpenIDProvider(CLIENT_ID, CLIENT_SECRET, [CALLBACK], post_logout_redirect_uris=[LOGIN_PAGE],
                        require_login=True) as provider:
        provider.add_user("alice", email="alice@example.org", given_name="Alice", family_name="Reader")
        yield provider


@pytest.fixture
def rp_app(make_app: t.Callable[..., Flask], op: OpenIDProvider) -> Flask:
    return make_app(**oauth_config(op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager",
                                   **RP_LOGOUT))


@pytest.fixture
def at_op() -> t.Iterator[requests.Session]:
    """The browser's side of the provider: its cookies."""
    with requests.Session() as browser:
        yield browser


def sign_in(client: FlaskClient, op: OpenIDProvider, at_op: requests.Session, username: str = "alice") -> bool:
    """Log in to the app through the provider; whether the provider asked for its login form."""
    to_provider = client.get("/login/idp")
    answer = at_op.get(to_provider.headers["Location"], allow_redirects=False, timeout=10)
    asked = answer.status_code == 200 and "login-form" in answer.text
    if asked:
        token = unescape(_TOKEN.search(answer.text).group(1))
        answer = at_op.post(f"{op.issuer}/verify/login", data={"username": username, "token": token},
                            allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    callback = urlsplit(answer.headers["Location"])
    done = client.get(f"{callback.path}?{callback.query}")
    assert done.status_code == 302 and "/login" not in done.headers["Location"], done.data
    return asked


def follow_to_app(client: FlaskClient, at_op: requests.Session, location: str) -> str:
    """Follow the provider's redirects until they come back to the app; the app's page."""
    for _ in range(5):
        answer = at_op.get(location, allow_redirects=False, timeout=10)
        assert answer.status_code in (302, 303), (answer.status_code, answer.text)
        location = answer.headers["Location"]
        if location.startswith("http://localhost/"):
            back = urlsplit(location)
            page = client.get(f"{back.path}?{back.query}", follow_redirects=True)
            assert page.status_code == 200
            return page.get_data(as_text=True)
    raise AssertionError("the provider never sent the browser back to the app")


def test_logout_signs_out_of_the_provider_and_the_next_login_asks_again(
        rp_app: Flask, op: OpenIDProvider, at_op: requests.Session) -> None:
    client = rp_app.test_client()
    assert sign_in(client, op, at_op)
    copy = cookie_copy(client, rp_app)
    assert not sign_in(rp_app.test_client(), op, at_op)  # the provider's session is single sign-on
    hint = records(rp_app)[0].id_token  # the first login's
    assert op.session_cookie_name in at_op.cookies

    logout = client.get("/logout/")
    page = follow_to_app(client, at_op, logout.headers["Location"])

    [asked] = op.end_session_requests
    assert asked.hint_accepted and asked.args["id_token_hint"] == hint
    assert asked.redirect_uri.startswith(LOGIN_PAGE + "?state=")
    assert all(session.revoked for session in op.sessions("alice"))
    assert op.session_cookie_name not in at_op.cookies
    assert "You are signed out of this app and of idp." in page
    assert client.get_cookie(rp_initiated.COOKIE) is None
    assert not is_logged_in(client) and not is_logged_in(copy)
    # Signed out at the provider: the next login shows its form again.
    assert sign_in(client, op, at_op)
    assert op.logins_prompted == 2


def test_a_hint_from_an_ended_record_is_never_sent_again(
        rp_app: Flask, op: OpenIDProvider, at_op: requests.Session) -> None:
    client = rp_app.test_client()
    sign_in(client, op, at_op)
    copy = cookie_copy(client, rp_app)
    client.get("/logout/")
    # The copied cookie's logout finds its record ended: no hint, no trip to the provider.
    response = copy.get("/logout/")
    assert urlsplit(response.headers["Location"]).netloc in ("", "localhost")
    assert op.end_session_requests == []


def test_the_providers_logout_page_ends_the_apps_session_through_its_iframe(
        rp_app: Flask, op: OpenIDProvider, at_op: requests.Session) -> None:
    op.frontchannel_logout_uri = "http://localhost/session_epoch/frontchannel-logout/idp"
    laptop, other = rp_app.test_client(), rp_app.test_client()
    sign_in(laptop, op, at_op)
    with requests.Session() as other_browser:
        sign_in(other, op, other_browser)

    signed_out = at_op.post(op.logout_page_url, timeout=10)

    [src] = [unescape(src) for src in _IFRAME.findall(signed_out.text)]
    frame = urlsplit(src)
    answer = laptop.get(f"{frame.path}?{frame.query}")
    assert answer.status_code == 200 and "no-store" in answer.headers["Cache-Control"]
    assert not is_logged_in(laptop)
    assert is_logged_in(other)  # another browser's provider session: another sid
    ended = [record for record in records(rp_app) if record.ended_at is not None]
    assert [(record.end_reason, record.id_token) for record in ended] == [("frontchannel-logout", None)]
