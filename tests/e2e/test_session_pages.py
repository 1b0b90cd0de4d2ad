"""The session pages as a user sees them in a real Chromium, on a desktop and on a 390-px phone.

*Your profile* (FAB's user info), the admin's *Sessions* list, one user's page, the users
list with *Sessions ended*, the login page after a session ended, and the idle warning
banner: labels instead of stored values, relative times with the exact UTC time on hover,
this session first and marked, nothing cut off on a phone, and German through FAB's
language menu. Screenshots go to ``artifacts/screenshots/<test name>/``.
"""

from __future__ import annotations

import os
import re
import typing as t

import pytest

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise
    pytest.skip("playwright is not installed: pip install -e '.[test]'", allow_module_level=True)

from .test_browser import ADMIN, DEMO, ENDED, LOGIN_URL, revoke_through_api, sign_in

if t.TYPE_CHECKING:
    from playwright.sync_api import Locator, Playwright

    from .conftest import LiveServer, Screenshots

pytestmark = pytest.mark.e2e

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# The title of a <time>: Babel's medium date and time in English, then UTC.
EXACT_UTC = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d\s[AP]M UTC$")
RECENTLY = re.compile(r"^(just now|\d+ seconds? ago|1 minute ago)$")
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
CHECK = "/api/v1/session_epoch/check"


def opened(open_page: t.Callable[[str], Page], who: str, viewport: str) -> Page:
    page = open_page(who)
    page.set_viewport_size(VIEWPORTS[viewport])
    return page


def expect_times(cells: Locator) -> None:
    """Each cell holds one <time>: relative text, ISO value, the exact UTC time as its title."""
    for index in range(cells.count()):
        stamp = cells.nth(index).locator("time")
        expect(stamp).to_have_count(1)
        expect(stamp).to_have_text(RECENTLY)
        expect(stamp).to_have_attribute("datetime", ISO_UTC)
        expect(stamp).to_have_attribute("title", EXACT_UTC)


def fits_the_phone(page: Page, width: int = 390) -> dict[str, t.Any]:
    """What would be cut off on a phone: page wider than the screen, buttons past its edge,
    timestamps of more than two lines. Returns the measurements, asserted by the caller."""
    return t.cast("dict[str, t.Any]", page.evaluate("""(width) => {
      const outside = [...document.querySelectorAll("button, .btn")]
        .filter((el) => el.offsetParent !== null)
        .map((el) => el.getBoundingClientRect())
        .filter((box) => box.left < 0 || box.right > width)
        .map((box) => [box.left, box.right]);
      const tall = [...document.querySelectorAll(".session-epoch-sessions time")].map((el) => {
        const line = parseFloat(getComputedStyle(el).lineHeight) || 20;
        return Math.round(el.getBoundingClientRect().height / line);
      }).filter((lines) => lines > 2);
      return {scrollWidth: document.documentElement.scrollWidth, outside, tall};
    }""", width))


def expect_fits_the_phone(page: Page) -> None:
    measured = fits_the_phone(page)
    assert measured["scrollWidth"] <= 390, measured
    assert measured["outside"] == [], measured
    assert measured["tall"] == [], measured


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_profile_lists_this_session_first_in_words_and_fits_a_phone(
        open_page: t.Callable[[str], Page], screenshot: Screenshots, viewport: str) -> None:
    other = opened(open_page, "other", viewport)
    sign_in(other, *DEMO)
    user = opened(open_page, "user", viewport)
    sign_in(user, *DEMO)
    other.goto("/users/userinfo/")  # the older session looks: newest first would put it second
    rows = other.locator(".session-epoch-sessions table tbody tr")
    expect(rows).to_have_count(2)
    first = rows.first
    expect(first).to_contain_text("this session")  # the older one, first: it is the one asking
    expect(rows.nth(1)).not_to_contain_text("this session")
    expect(first.locator("td").nth(2)).to_have_text("Password")
    expect(rows.nth(1).get_by_role("button", name=re.compile(r"Sign out$"))).to_be_visible()
    expect(first.get_by_role("button")).to_have_count(0)
    expect_times(other.locator(".session-epoch-sessions time").locator(".."))
    assert not any(re.search(r"\bdb\b", text) for text in rows.all_inner_texts())
    screenshot(other, f"profile-{viewport}")
    if viewport == "phone":
        expect_fits_the_phone(other)
        other.goto("/sessionepoch/my-sessions/")
        expect(other.locator(".session-epoch-sessions table tbody tr")).to_have_count(2)
        expect_fits_the_phone(other)
        screenshot(other, "where-you-are-signed-in-phone")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_admin_sessions_list_marks_the_admins_own_session_and_says_why_one_ended(
        open_page: t.Callable[[str], Page], screenshot: Screenshots, viewport: str) -> None:
    user = opened(open_page, "user", viewport)
    sign_in(user, *DEMO)
    admin = opened(open_page, "admin", viewport)
    sign_in(admin, *ADMIN)
    admin.goto("/sessionrecords/list/")
    rows = admin.locator("table tbody tr").filter(has=admin.locator("a[href*='/sessionrecords/show/']"))
    expect(rows).to_have_count(2)
    own = rows.filter(has_text="this session")
    expect(own).to_have_count(1)
    expect(own.locator(".session-epoch-current")).to_be_visible()
    expect(own).to_contain_text("Active")
    for row in (rows.nth(0), rows.nth(1)):
        expect(row.get_by_role("cell", name="Password", exact=True)).to_have_count(1)
        expect(row.get_by_role("cell", name="Browser", exact=True)).to_have_count(1)
    expect_times(admin.locator("table tbody time").locator(".."))
    screenshot(admin, f"sessions-list-{viewport}")

    demo_row = rows.filter(has_not_text="this session")
    demo_row.locator("a[href*='/sessionrecords/show/']").click()
    expect(admin).to_have_url(re.compile(r"/sessionrecords/show/"))
    admin.get_by_role("link", name="End session").first.click()
    confirm = admin.locator("#modal-confirm:visible")
    expect(confirm).to_contain_text("End this session?")
    screenshot(admin, f"session-show-confirm-{viewport}")
    confirm.get_by_role("link", name="OK").click()
    expect(admin.get_by_text("1 session(s) ended.")).to_be_visible()
    admin.goto("/sessionrecords/list/")
    ended = rows.filter(has_not_text="this session")
    expect(ended).to_contain_text("Ended by an admin, ")
    screenshot(admin, f"sessions-list-one-ended-{viewport}")
    if viewport == "phone":
        measured = fits_the_phone(admin)
        print(f"admin sessions list at 390 px: {measured}")  # FAB's own list table; reported, not asserted


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_users_page_lists_their_sessions_and_asks_about_this_user(
        open_page: t.Callable[[str], Page], screenshot: Screenshots, viewport: str) -> None:
    user = opened(open_page, "user", viewport)
    sign_in(user, *DEMO)
    admin = opened(open_page, "admin", viewport)
    sign_in(admin, *ADMIN)
    admin.goto("/users/list/")
    row = admin.locator("table tbody tr").filter(has=admin.get_by_role("cell", name="demo", exact=True))
    expect(row.locator("td").last).to_have_text("never")
    screenshot(admin, f"users-list-never-{viewport}")
    row.locator("a[href*='/users/show/']").click()
    sessions = admin.locator(".session-epoch-sessions table tbody tr")
    expect(sessions).to_have_count(1)
    expect(sessions.first).to_contain_text("Password")
    expect(sessions.first.get_by_role("button", name=re.compile(r"End session$"))).to_be_visible()
    expect(sessions.first).not_to_contain_text("this session")  # the admin's, not the user's
    expect_times(admin.locator(".session-epoch-sessions time").locator(".."))
    admin.get_by_role("link", name="Sign out everywhere").click()
    confirm = admin.locator("#modal-confirm:visible")
    expect(confirm).to_contain_text("End every session and API token of this user?")
    expect(confirm).not_to_contain_text("selected users")
    screenshot(admin, f"user-show-confirm-{viewport}")
    confirm.get_by_role("link", name="OK").click()
    expect(admin.get_by_text("Every session and token of demo has ended.")).to_be_visible()
    expect(sessions.first).to_contain_text("Signed out everywhere by an admin")
    screenshot(admin, f"user-show-signed-out-{viewport}")
    if viewport == "phone":
        expect_fits_the_phone(admin)

    admin.goto("/users/list/")
    ended = row.locator("td").last.locator("time")
    expect(ended).to_have_text(RECENTLY)
    expect(ended).to_have_attribute("title", EXACT_UTC)
    screenshot(admin, f"users-list-sessions-ended-{viewport}")


# Runs first in every document: gives the login page fetch.js, checking every 5 s, as a host
# whose base template carries it on every page does; KEEP_TEXTS false also drops our texts,
# as a host with its own navbar (without _banner_texts.html) would.
HELPER_ON_THE_LOGIN_PAGE = """
(() => {
  if (!location.pathname.startsWith("/login/")) return;
  document.addEventListener("DOMContentLoaded", () => {
    const texts = document.getElementById("session-epoch-texts");
    if (!KEEP_TEXTS && texts) texts.remove();
    const helper = document.createElement("script");
    helper.src = "/session_epoch/static/fetch.js";
    helper.setAttribute("data-check-every", "5");
    document.body.appendChild(helper);
  });
})();
"""


@pytest.mark.parametrize("texts", ["with-texts", "without-texts"])
def test_the_login_page_stops_checking_once_the_session_has_ended(
        open_page: t.Callable[[str], Page], screenshot: Screenshots, playwright_driver: Playwright,
        live_server: LiveServer, texts: str) -> None:
    user = open_page("user")
    sign_in(user, *DEMO)
    user.add_init_script(HELPER_ON_THE_LOGIN_PAGE.replace("KEEP_TEXTS", str(texts == "with-texts").lower()))
    checks: list[tuple[str, int]] = []
    user.on("response", lambda r: checks.append((user.url, r.status)) if CHECK in r.url else None)
    user.goto("/spa/?check=5")
    revoke_through_api(playwright_driver, live_server, "demo")
    expect(user).to_have_url(LOGIN_URL, timeout=20_000)
    expect(user.get_by_text(ENDED)).to_be_visible()
    expect(user.locator("script[src$='/session_epoch/static/fetch.js']")).to_have_count(1)
    screenshot(user, "login-page-after-the-session-ended")
    on_login = len(checks)
    user.wait_for_timeout(12_000)  # more than two check intervals
    later = checks[on_login:]
    # With our texts the page knows it is signed out and never asks; without, the first 401 stops it.
    assert len(later) <= (0 if texts == "with-texts" else 1), later


@pytest.mark.demo_env(DEMO_IDLE_TIMEOUT="60")  # the banner comes once less than 30 s are left
def test_the_warning_banner_and_the_profile_speak_german(
        open_page: t.Callable[[str], Page], screenshot: Screenshots) -> None:
    user = opened(open_page, "user", "phone")
    sign_in(user, *DEMO)
    user.goto("/lang/de")  # FAB's language menu
    user.goto("/users/userinfo/")
    sessions = user.locator(".session-epoch-sessions")
    expect(sessions.get_by_role("heading", name="Wo Sie angemeldet sind")).to_be_visible()
    expect(sessions).to_contain_text("diese Sitzung")
    expect(sessions).to_contain_text("Passwort")
    expect(sessions.locator("time").first).to_have_text(re.compile(r"^(gerade eben|vor \d+ Sekunden?)$"))
    expect(user.get_by_role("button", name="Alle anderen Sitzungen abmelden")).to_be_visible()
    expect_fits_the_phone(user)
    screenshot(user, "profile-german-phone")

    banner = user.locator(".session-epoch-warning")
    expect(banner).to_contain_text("Ihre Sitzung endet in 1 Minute.", timeout=60_000)
    expect(banner.get_by_role("button", name="Angemeldet bleiben")).to_be_visible()
    expect(banner.get_by_role("button", name="Schließen")).to_be_visible()
    expect_fits_the_phone(user)
    screenshot(user, "banner-german-phone")
    user.set_viewport_size(VIEWPORTS["desktop"])
    screenshot(user, "banner-german-desktop")
    banner.get_by_role("button", name="Angemeldet bleiben").click()
    expect(banner).to_have_count(0)
