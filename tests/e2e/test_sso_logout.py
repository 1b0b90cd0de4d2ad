"""Signing out of the identity provider, in a real Chromium following every redirect.

A FAB app that logs in through the test OpenID provider (``oidc/provider.py``, which
asks for its login form when it has no session of its own) is served over HTTP on
loopback, and Chromium goes through both: the app's logout to the provider's
``end_session_endpoint`` and back, the provider's own logout page with the app's
front-channel iframe, a tampered ``state``, and an attempted open redirect.
"""

from __future__ import annotations

import re
import typing as t

import pytest
import sqlalchemy as sa
from helpers import CLIENT_ID, CLIENT_SECRET, oauth_config
from loopback import Loopback
from oidc.provider import OpenIDProvider

from e2e.conftest import WAIT
from flask_session_epoch.models import SessionRecord
from flask_session_epoch.revoke import db_session

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

SIGNED_OUT_BOTH = "You are signed out of this app and of idp."
NOT_CONFIRMED = "Signing out of the identity provider could not be confirmed"


class Site(Loopback):
    """The FAB app on an HTTP port of its own, and the provider it logs in with."""

    def __init__(self, make_app: t.Callable[..., Flask]) -> None:
        super().__init__()
        self.url = self.base
        self.op = OpenIDProvider(CLIENT_ID, CLIENT_SECRET, [f"{self.url}/oauth-authorized/idp"],
                                 post_logout_redirect_uris=[f"{self.url}/login/"], require_login=True)
        self.op.add_user("alice", email="alice@example.org", given_name="Alice", family_name="Reader")
        self.op.frontchannel_logout_uri = f"{self.url}/session_epoch/frontchannel-logout/idp"
        self.app = make_app(**oauth_config(
            self.op.metadata_url, FAB_SECURITY_MANAGER_CLASS="fabapp.OAuthSecurityManager",
            SESSION_EPOCH_BACKCHANNEL_PROVIDERS=[], SESSION_EPOCH_RP_LOGOUT={"idp": {}},
            SESSION_EPOCH_FRONTCHANNEL_PROVIDERS=["idp"]))
        self.op.start()

    def _app(self, environ: dict[str, t.Any], start_response: t.Any) -> t.Iterable[bytes]:
        return self.app(environ, start_response)

    def close(self) -> None:
        super().close()
        self.op.stop()

    def ended(self) -> list[str | None]:
        """The end reason of every ended record."""
        with self.app.app_context():
            db = db_session(self.app.appbuilder.sm)
            query = sa.select(SessionRecord.end_reason).where(SessionRecord.ended_at.is_not(None))
            return list(db.execute(query.order_by(SessionRecord.started_at)).scalars())


@pytest.fixture
def site(make_app: t.Callable[..., Flask]) -> Iterator[Site]:
    with Site(make_app) as running:
        yield running


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT * 1000)
    context = browser.new_context(base_url=site.url)
    context.set_default_timeout(WAIT * 1000)
    yield context.new_page()
    context.close()


def sign_in_at_provider(page: Page, site: Site) -> None:
    """From the app's login page, through the provider's form, back to the app signed in."""
    page.goto("/login/idp")
    page.wait_for_url(f"{site.op.issuer}/authorization?**")
    page.fill("#username", "alice")
    page.click("#login")
    page.wait_for_url(re.compile(re.escape(site.url) + r"/(?!login)"))


def signed_in(page: Page) -> bool:
    response = page.goto("/protected/")
    assert response is not None
    return "/login/" not in page.url


def test_logout_goes_through_the_provider_and_back_and_the_next_login_asks_again(page: Page, site: Site) -> None:
    from playwright.sync_api import expect

    sign_in_at_provider(page, site)
    assert signed_in(page)

    # Nothing in the logout request says where the browser goes afterwards.
    page.goto("/logout/?next=https://evil.example/&post_logout_redirect_uri=https://evil.example/")

    page.wait_for_url(f"{site.url}/login/**")
    expect(page.get_by_text(SIGNED_OUT_BOTH)).to_be_visible()
    [asked] = site.op.end_session_requests
    assert asked.hint_accepted and asked.args["post_logout_redirect_uri"] == f"{site.url}/login/"
    assert all(session.revoked for session in site.op.sessions("alice"))
    assert site.op.session_cookie_name not in {cookie["name"] for cookie in page.context.cookies(site.op.issuer)}
    assert site.ended() == ["rp-logout"]
    assert not signed_in(page)
    # The provider asks again: its session ended too.
    sign_in_at_provider(page, site)
    assert site.op.logins_prompted == 2


def test_a_tampered_state_on_the_way_back_says_so_and_redirects_nowhere(page: Page, site: Site) -> None:
    from playwright.sync_api import expect

    sign_in_at_provider(page, site)
    page.route(f"{site.url}/login/?state=*", lambda route: route.continue_(
        url=re.sub(r"state=[^&]*", "state=tampered", route.request.url)))
    page.goto("/logout/")

    # Chromium shows the URL it asked for; the app was given the rewritten one.
    page.wait_for_url(re.compile(re.escape(f"{site.url}/login/?state=")))
    expect(page.get_by_text(NOT_CONFIRMED)).to_be_visible()
    expect(page.get_by_text(SIGNED_OUT_BOTH)).to_have_count(0)
    assert not signed_in(page)


def test_the_providers_logout_page_ends_the_app_session_through_the_iframe(page: Page, site: Site) -> None:
    sign_in_at_provider(page, site)
    page.goto(site.op.logout_page_url)
    page.click("#sign-out")
    page.wait_for_selector("#signed-out")
    page.wait_for_load_state("load")  # every iframe loaded

    assert site.ended() == ["frontchannel-logout"]
    assert not signed_in(page)
