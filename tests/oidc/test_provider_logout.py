"""The provider's browser session (SSO), RP-initiated logout and front-channel logout, over real HTTP."""

from __future__ import annotations

import re
import secrets
import typing as t
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from loopback import Loopback
from werkzeug.wrappers import Request, Response

from oidc.provider import OpenIDProvider
from oidc.test_provider import CALLBACK, CLIENT_ID, SECRET, Receiver, verified

AFTER = "http://localhost/login/"
STATE = "l0gout-st4te"


class FrontChannelRP(Loopback):
    """A relying party's front-channel logout URI on loopback that records the queries it gets."""

    def __init__(self) -> None:
        self.hits: list[dict[str, list[str]]] = []
        self.paths: list[str] = []
        super().__init__()
        self.uri = f"{self.base}/session_epoch/frontchannel-logout/idp"

    def _app(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Iterable[bytes]:
        request = Request(environ)
        self.paths.append(request.path)
        if request.path == urlsplit(self.uri).path:
            self.hits.append(parse_qs(request.query_string.decode()))
        return Response("logged out", headers={"Cache-Control": "no-store"})(environ, start_response)


@pytest.fixture
def op() -> t.Iterator[OpenIDProvider]:
    with OpenIDProvider(CLIENT_ID, SECRET, [CALLBACK], post_logout_redirect_uris=[AFTER]) as provider:
        provider.add_user("alice", email="alice@example.org")
        provider.add_user("bob", email="bob@example.org")
        yield provider


@pytest.fixture
def rp() -> t.Iterator[FrontChannelRP]:
    receiver = FrontChannelRP()
    yield receiver
    receiver.close()


def authorize(op: OpenIDProvider, browser: requests.Session) -> requests.Response:
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": CALLBACK,
             "scope": "openid email", "state": "st4te", "nonce": secrets.token_urlsafe(8)}
    return browser.get(f"{op.issuer}/authorization?{urlencode(query)}", allow_redirects=False, timeout=5)


def submit_login(browser: requests.Session, form_page: requests.Response, username: str) -> requests.Response:
    action = unescape(re.search(r"id='login-form' method='post' action='([^']*)'", form_page.text).group(1))
    token = unescape(re.search(r"name='token' value='([^']*)'", form_page.text).group(1))
    return browser.post(action, data={"username": username, "token": token}, allow_redirects=False, timeout=5)


def code_of(redirect: requests.Response) -> str:
    assert redirect.status_code == 303, redirect.text
    assert redirect.headers["Location"].startswith(CALLBACK + "?")
    answer = parse_qs(urlsplit(redirect.headers["Location"]).query)
    assert answer["state"] == ["st4te"]
    return answer["code"][0]


def id_token(op: OpenIDProvider, code: str) -> str:
    response = requests.post(f"{op.issuer}/token", auth=(CLIENT_ID, SECRET), timeout=5,
                             data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK})
    assert response.status_code == 200, response.text
    return response.json()["id_token"]


def login(op: OpenIDProvider, browser: requests.Session, username: str = "alice") -> str:
    """Sign in through the login form if one is shown; the ID token."""
    answer = authorize(op, browser)
    if answer.status_code == 200:
        answer = submit_login(browser, answer, username)
    return id_token(op, code_of(answer))


def end_session(op: OpenIDProvider, browser: requests.Session | None, hint: str, **params: str) -> requests.Response:
    query = {"id_token_hint": hint, "client_id": CLIENT_ID, "post_logout_redirect_uri": AFTER, "state": STATE,
             **params}
    return (browser or requests).get(f"{op.end_session_url}?{urlencode(query)}", allow_redirects=False, timeout=5)


def iframe_srcs(page: str) -> list[str]:
    return [unescape(src) for src in re.findall(r'<iframe src="([^"]*)"></iframe>', page)]


def test_discovery_advertises_the_served_end_session_endpoint(op: OpenIDProvider) -> None:
    info = requests.get(op.metadata_url, timeout=5).json()
    assert info["end_session_endpoint"] == op.end_session_url
    assert info["frontchannel_logout_supported"] is True


def test_login_form_sets_the_op_cookie_and_the_next_authorization_is_silent(op: OpenIDProvider) -> None:
    op.require_login = True
    op.login_as("bob")  # ignored with require_login
    browser = requests.Session()

    form = authorize(op, browser)
    assert form.status_code == 200 and "id='username'" in form.text and "id='login'" in form.text
    assert op.logins_prompted == 1
    first = verified(op, id_token(op, code_of(submit_login(browser, form, "alice"))))
    assert op.session_cookie_name in browser.cookies

    second = verified(op, id_token(op, code_of(authorize(op, browser))))

    assert op.logins_prompted == 1
    assert [(login.user, login.how) for login in op.logins] == [("alice", "form"), ("alice", "sso")]
    assert second["sub"] == first["sub"] == op.subject_of("alice")
    assert second["sid"] != first["sid"]  # idpyoidc: a new grant per login
    assert [login.sid for login in op.logins] == [first["sid"], second["sid"]]
    # Another browser has no OP session.
    assert authorize(op, requests.Session()).status_code == 200
    assert op.logins_prompted == 2


def test_an_unknown_user_at_the_form_is_refused(op: OpenIDProvider) -> None:
    op.require_login = True
    browser = requests.Session()
    answer = submit_login(browser, authorize(op, browser), "mallory")
    assert answer.status_code == 401 and "login-error" in answer.text
    assert "Location" not in answer.headers and op.session_cookie_name not in browser.cookies
    assert op.logins == []


def test_a_live_op_cookie_wins_over_login_as(op: OpenIDProvider) -> None:
    op.login_as("alice")
    browser = requests.Session()
    login(op, browser)
    op.login_as("bob")

    assert verified(op, login(op, browser))["sub"] == op.subject_of("alice")
    assert verified(op, login(op, requests.Session()))["sub"] == op.subject_of("bob")
    assert [(login.user, login.how) for login in op.logins] == [
        ("alice", "login_as"), ("alice", "sso"), ("bob", "login_as")]


def test_a_cookie_of_a_revoked_session_is_no_session(op: OpenIDProvider) -> None:
    op.login_as("alice")
    browser = requests.Session()
    op.end_session(verified(op, login(op, browser))["sid"])

    login(op, browser)  # as before the cookie: the login_as user
    assert [login.how for login in op.logins] == ["login_as", "login_as"]
    op.end_session(op.logins[-1].sid)
    op.require_login = True
    assert authorize(op, browser).status_code == 200


def test_rp_initiated_logout_ends_the_op_session_and_goes_back_with_the_state(op: OpenIDProvider) -> None:
    op.require_login = True
    browser = requests.Session()
    hint = login(op, browser)

    answer = end_session(op, browser, hint)

    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{AFTER}?{urlencode({'state': STATE})}"
    assert op.session_cookie_name not in browser.cookies
    assert [session.revoked for session in op.sessions("alice")] == [True]
    [record] = op.end_session_requests
    assert record.hint_accepted and record.error is None
    assert record.args["id_token_hint"] == hint and record.args["state"] == STATE
    assert record.sid == verified(op, hint)["sid"]
    assert op.logouts == [record]
    # The next authorization needs a login again.
    assert authorize(op, browser).status_code == 200
    assert op.logins_prompted == 2


def test_rp_initiated_logout_without_the_op_cookie_ends_the_hints_session(op: OpenIDProvider) -> None:
    op.login_as("alice")
    hint = login(op, requests.Session())

    answer = end_session(op, None, hint)

    assert answer.status_code == 303 and answer.headers["Location"].startswith(AFTER + "?")
    assert [session.revoked for session in op.sessions("alice")] == [True]


def test_without_a_post_logout_redirect_uri_the_op_keeps_the_browser(op: OpenIDProvider) -> None:
    op.login_as("alice")
    browser = requests.Session()
    hint = login(op, browser)

    answer = browser.get(f"{op.end_session_url}?{urlencode({'id_token_hint': hint})}", allow_redirects=False,
                         timeout=5)

    assert answer.status_code == 303 and answer.headers["Location"] == f"{op.issuer}/post_logout"
    assert "id='signed-out'" in browser.get(answer.headers["Location"], timeout=5).text
    assert [session.revoked for session in op.sessions("alice")] == [True]


def test_a_tampered_hint_is_refused_without_a_redirect(op: OpenIDProvider) -> None:
    op.login_as("alice")
    browser = requests.Session()
    header, payload, signature = login(op, browser).split(".")
    tampered = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])

    answer = end_session(op, browser, tampered)

    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "Logout refused" in answer.text
    [record] = op.end_session_requests
    assert not record.hint_verified and not record.hint_accepted
    assert record.error.startswith("BadSignature")
    assert [session.revoked for session in op.sessions("alice")] == [False]
    assert op.session_cookie_name in browser.cookies


def test_a_hint_for_another_users_session_is_refused(op: OpenIDProvider) -> None:
    op.login_as("alice")
    browser = requests.Session()
    login(op, browser)
    op.login_as("bob")
    bobs_hint = login(op, requests.Session())

    answer = end_session(op, browser, bobs_hint)  # alice's OP cookie, bob's hint

    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "Sub doesn" in op.end_session_requests[-1].error
    assert [session.revoked for session in op.sessions("alice") + op.sessions("bob")] == [False, False]


def test_an_unregistered_post_logout_redirect_uri_is_never_redirected_to(op: OpenIDProvider) -> None:
    op.login_as("alice")
    browser = requests.Session()
    hint = login(op, browser)

    answer = end_session(op, browser, hint, post_logout_redirect_uri="https://evil.example/")

    assert answer.status_code == 400 and "Location" not in answer.headers
    assert "evil.example" not in answer.text
    assert op.end_session_requests[-1].hint_verified and not op.end_session_requests[-1].hint_accepted
    assert op.end_session_requests[-1].error.startswith("RedirectURIError")
    unknown_client = end_session(op, browser, hint, client_id="another-app")
    assert unknown_client.status_code == 400 and "Location" not in unknown_client.headers
    assert [session.revoked for session in op.sessions("alice")] == [False]
    assert op.logouts == []


def test_rp_initiated_logout_loads_the_frontchannel_iframe_then_goes_back(op: OpenIDProvider,
                                                                          rp: FrontChannelRP) -> None:
    op.login_as("alice")
    op.frontchannel_logout_uri = rp.uri
    browser = requests.Session()
    hint = login(op, browser)
    sid = verified(op, hint)["sid"]

    page = end_session(op, browser, hint)

    assert page.status_code == 200 and "Location" not in page.headers
    [src] = iframe_srcs(page.text)
    assert src.startswith(rp.uri + "?")
    assert parse_qs(urlsplit(src).query) == {"iss": [op.issuer], "sid": [sid]}
    assert src in op.frontchannel_urls(sid)
    way_back = f"{AFTER}?{urlencode({'state': STATE})}"
    assert unescape(re.search(r"id='continue' href='([^']*)'", page.text).group(1)) == way_back
    assert f"window.location.replace({way_back!r}".replace("'", '"') in page.text
    assert op.end_session_requests[-1].frontchannel == [src]
    assert op.session_cookie_name not in browser.cookies
    assert rp.hits == []  # the browser loads the iframe, not the OP


def test_backchannel_is_preferred_over_frontchannel_as_idpyoidc_does(op: OpenIDProvider, rp: FrontChannelRP) -> None:
    receiver = Receiver()
    try:
        op.login_as("alice")
        op.frontchannel_logout_uri = rp.uri
        op.backchannel_logout_uri = receiver.uri
        hint = login(op, requests.Session())

        answer = end_session(op, None, hint)

        assert answer.status_code == 303
        [(_, form)] = receiver.posts
        assert verified(op, form["logout_token"])["sid"] == verified(op, hint)["sid"]
        assert op.end_session_requests[-1].backchannel == [(receiver.uri, 200)]
        assert op.end_session_requests[-1].frontchannel == []
    finally:
        receiver.close()


def test_the_confirmation_step_waits_for_the_button(op: OpenIDProvider) -> None:
    op.login_as("alice")
    op.confirm_logout = True
    browser = requests.Session()
    hint = login(op, browser)

    to_confirm = end_session(op, browser, hint)
    assert to_confirm.status_code == 303 and to_confirm.headers["Location"].startswith(f"{op.issuer}/verify_logout?")
    page = browser.get(to_confirm.headers["Location"], timeout=5)
    assert "id='confirm-logout'" in page.text
    assert [session.revoked for session in op.sessions("alice")] == [False]
    sjwt = unescape(re.search(r"name='sjwt' value='([^']*)'", page.text).group(1))

    done = browser.post(f"{op.issuer}/rp_logout", data={"sjwt": sjwt}, allow_redirects=False, timeout=5)

    assert done.status_code == 303 and done.headers["Location"] == f"{AFTER}?{urlencode({'state': STATE})}"
    assert [session.revoked for session in op.sessions("alice")] == [True]
    again = browser.post(f"{op.issuer}/rp_logout", data={"sjwt": sjwt}, allow_redirects=False, timeout=5)
    assert again.status_code == 400 and "Location" not in again.headers


def test_the_op_logout_page_ends_the_browsers_session_with_frontchannel_iframes(op: OpenIDProvider,
                                                                                rp: FrontChannelRP) -> None:
    op.require_login = True
    op.frontchannel_logout_uri = rp.uri
    browser = requests.Session()
    sid = verified(op, login(op, browser))["sid"]

    page = browser.get(op.logout_page_url, timeout=5)
    assert "id='sign-out'" in page.text and "Signed in as alice" in page.text
    done = browser.post(op.logout_page_url, allow_redirects=False, timeout=5)

    assert done.status_code == 200 and "Location" not in done.headers
    expected = f"{rp.uri}?{urlencode({'iss': op.issuer, 'sid': sid})}"
    assert iframe_srcs(done.text) == op.frontchannel_urls(sid) == [expected]
    assert "id='continue'" not in done.text
    assert [session.revoked for session in op.sessions("alice")] == [True]
    assert op.session_cookie_name not in browser.cookies
    assert [(record.via, record.sid) for record in op.logouts] == [("logout_page", sid)]
    assert authorize(op, browser).status_code == 200 and op.logins_prompted == 2
    assert "Not signed in" in browser.get(op.logout_page_url, timeout=5).text


def test_the_op_logout_page_without_a_session_ends_nothing(op: OpenIDProvider) -> None:
    op.login_as("alice")
    login(op, requests.Session())
    done = requests.post(op.logout_page_url, timeout=5)
    assert done.status_code == 200 and "<iframe" not in done.text
    assert op.logouts == [] and [session.revoked for session in op.sessions("alice")] == [False]


def test_frontchannel_urls_need_the_uri(op: OpenIDProvider) -> None:
    assert op.frontchannel_urls("some-sid") == []
    op.frontchannel_logout_uri = "http://127.0.0.1:9/fc?tenant=a"
    [url] = op.frontchannel_urls("some-sid")
    assert urlsplit(url).path == "/fc"
    assert parse_qs(urlsplit(url).query) == {"tenant": ["a"], "iss": [op.issuer], "sid": ["some-sid"]}
