"""The test provider alone in a real Chromium: its login form, RP-initiated logout and logout page.

The browser comes from ``e2e/conftest.py``: it skips without Playwright or Chromium, except
in CI, where that fails.
"""

from __future__ import annotations

import os
import typing as t
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from oidc.provider import OpenIDProvider
from oidc.test_provider import CLIENT_ID, SECRET, verified
from oidc.test_provider_logout import FrontChannelRP

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

WAIT_MS = 15_000
pytestmark = pytest.mark.e2e


@pytest.fixture
def rp() -> Iterator[FrontChannelRP]:
    receiver = FrontChannelRP()
    yield receiver
    receiver.close()


def sign_in(page: Page, op: OpenIDProvider, rp: FrontChannelRP, username: str) -> str:
    """Through the login form; the ID token the RP would get for the code."""
    query = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": f"{rp.base}/cb",
             "scope": "openid", "state": "st4te", "nonce": os.urandom(4).hex()}
    page.goto(f"{op.issuer}/authorization?{urlencode(query)}")
    page.fill("#username", username)
    with page.expect_navigation(url=f"{rp.base}/cb?**"):
        page.click("#login")
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    tokens = requests.post(f"{op.issuer}/token", auth=(CLIENT_ID, SECRET), timeout=5,
                           data={"grant_type": "authorization_code", "code": code, "redirect_uri": f"{rp.base}/cb"})
    return tokens.json()["id_token"]


def test_login_form_rp_logout_and_op_logout_page_in_chromium(browser: Browser, rp: FrontChannelRP) -> None:
    after = f"{rp.base}/after"
    with OpenIDProvider(CLIENT_ID, SECRET, [f"{rp.base}/cb"], post_logout_redirect_uris=[after],
                        require_login=True) as op:
        op.add_user("alice")
        op.frontchannel_logout_uri = rp.uri
        context = browser.new_context()
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()

        hint = sign_in(page, op, rp, "alice")
        assert op.session_cookie_name in {cookie["name"] for cookie in context.cookies()}
        # RP-initiated logout: the signed-out page loads the iframe, then goes back with the state.
        query = {"id_token_hint": hint, "post_logout_redirect_uri": after, "state": "x1"}
        page.goto(f"{op.end_session_url}?{urlencode(query)}")
        page.wait_for_url(f"{after}?state=x1")
        assert rp.hits == [{"iss": [op.issuer], "sid": [verified(op, hint)["sid"]]}]
        assert op.session_cookie_name not in {cookie["name"] for cookie in context.cookies()}

        # Signed out at the OP: the next login needs the form again; then the OP's own logout page.
        second = sign_in(page, op, rp, "alice")
        assert op.logins_prompted == 2
        page.goto(op.logout_page_url)
        page.click("#sign-out")
        page.wait_for_selector("#signed-out")
        page.wait_for_load_state("load")
        assert rp.hits[-1] == {"iss": [op.issuer], "sid": [verified(op, second)["sid"]]}
        assert urlsplit(page.url).path == "/logout"
        assert [session.revoked for session in op.sessions("alice")] == [True, True]
        context.close()
