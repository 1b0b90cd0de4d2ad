"""What a signed-in user sees in a real browser when an admin, or they, end their sessions.

Two browser contexts (two users, or one user twice, with their own cookies) against the
example app under gunicorn with two workers: the admin works through FAB's own pages, with
the CSRF tokens they carry; the user watches ``/demo/`` or the single-page-app stand-in
``/spa/``, or ends one of their sessions from *Your profile* (FAB's user info page).
"""

from __future__ import annotations

import json
import os
import re
import time
import typing as t

import pytest

try:
    from playwright.sync_api import Locator, Page, expect
except ImportError:
    # As a missing browser (conftest.py): a skip locally, a failure in CI.
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise
    pytest.skip("playwright is not installed: pip install -e '.[test]'", allow_module_level=True)

from .conftest import WAIT

if t.TYPE_CHECKING:
    from playwright.sync_api import Frame, Playwright, Response

    from .conftest import LiveServer, Screenshots

pytestmark = pytest.mark.e2e

# The demo app's users (examples/demo_app.py).
ADMIN = ("admin", "admin-demo")
DEMO = ("demo", "demo-demo")
ENDED = "Your session has ended. Please sign in again."
IDLE_ENDED = "Your session has ended after a period of inactivity. Please sign in again."
LOGIN_URL = re.compile(r"/login/")
# A row's button on *Your profile*; its name starts with the icon's glyph.
SIGN_OUT_ONE = re.compile(r"Sign out$")
# A time on the pages: how long ago, with the exact UTC time (Babel's medium format) on hover.
RECENTLY = re.compile(r"^(just now|\d+ seconds? ago|\d+ minutes? ago)$")
UTC_TITLE = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d:\d\d\s[AP]M UTC$")

# Runs before any script of every document in the page: keeps each text the SPA's
# #status element shows in sessionStorage, which survives the reload to the login page.
RECORD_STATUS = """
(() => {
  let last = null;
  new MutationObserver(() => {
    const status = document.getElementById("status");
    const text = status && status.textContent.trim();
    if (!status || text === last) return;
    last = text;
    const seen = JSON.parse(sessionStorage.getItem("e2eStatuses") || "[]");
    seen.push(text);
    sessionStorage.setItem("e2eStatuses", JSON.stringify(seen));
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();
"""


def sign_in(page: Page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign In").click()
    expect(page).not_to_have_url(LOGIN_URL)


def expect_signed_in_as(page: Page, username: str) -> None:
    page.goto("/demo/")
    expect(page).to_have_url(re.compile(r"/demo/$"))
    expect(page.locator(".well")).to_contain_text(f"You are signed in as {username}")


def expect_session_ended(page: Page) -> None:
    page.goto("/demo/")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_text(ENDED)).to_be_visible()


def open_users_list(admin: Page) -> None:
    """Security > List Users, through the menu as an admin would."""
    admin.get_by_role("link", name="Security").click()
    admin.get_by_role("link", name="List Users").click()
    expect(admin).to_have_url(re.compile(r"/users/list/"))


def user_row(admin: Page, username: str) -> Locator:
    row = admin.locator("table tbody tr").filter(has=admin.get_by_role("cell", name=username, exact=True))
    expect(row).to_have_count(1)
    return row


def set_active(admin: Page, username: str, active: bool) -> None:
    """Tick or untick "Is Active?" on the user's edit page and save the form."""
    open_users_list(admin)
    user_row(admin, username).locator("a[href*='/users/edit/']").click()
    expect(admin).to_have_url(re.compile(r"/users/edit/\d+"))
    admin.locator("#active").set_checked(active)
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_text("Changed Row")).to_be_visible()
    expect(user_row(admin, username).get_by_role("cell", name=str(active), exact=True)).to_have_count(1)


def open_profile(page: Page, full_name: str) -> Locator:
    """*Your profile* (FAB's user info) through the user menu; returns its sessions table's rows."""
    page.get_by_role("link", name=full_name).click()
    page.get_by_role("link", name="Profile").click()
    expect(page).to_have_url(re.compile(r"/users/userinfo/$"))
    sessions = page.locator(".session-epoch-sessions")
    expect(sessions.get_by_role("heading", name="Where you're signed in")).to_be_visible()
    return sessions.locator("table tbody tr")


def test_disabled_user_session_ends_and_stays_ended(open_page: t.Callable[[str], Page],
                                                   screenshot: Screenshots) -> None:
    user, admin = open_page("user"), open_page("admin")
    sign_in(user, *DEMO)
    expect_signed_in_as(user, "demo")
    screenshot(user, "user-signed-in")
    session_before = user.context.cookies()  # the cookie an old tab would still send

    sign_in(admin, *ADMIN)
    set_active(admin, "demo", False)
    screenshot(admin, "admin-unchecked-active")

    expect_session_ended(user)
    screenshot(user, "user-sent-to-login")

    set_active(admin, "demo", True)
    screenshot(admin, "admin-rechecked-active")

    # Re-enabling does not bring the old session back, even if its cookie is replayed.
    user.context.clear_cookies()
    user.context.add_cookies(session_before)  # type: ignore[arg-type]
    expect_session_ended(user)
    screenshot(user, "old-session-still-ended")

    sign_in(user, *DEMO)
    expect_signed_in_as(user, "demo")
    screenshot(user, "user-signed-in-again")


@pytest.mark.parametrize("page_name", ["list", "show"])
def test_sign_out_everywhere_action_ends_user_session(
    open_page: t.Callable[[str], Page], screenshot: Screenshots, page_name: str
) -> None:
    user, admin = open_page("user"), open_page("admin")
    sign_in(user, *DEMO)
    expect_signed_in_as(user, "demo")
    screenshot(user, "user-signed-in")

    sign_in(admin, *ADMIN)
    open_users_list(admin)
    row = user_row(admin, "demo")
    expect(row.locator("td").last).to_have_text("never")  # Sessions ended
    if page_name == "list":
        row.locator("input.action_check").check()
        admin.get_by_role("button", name="Actions").click()
        admin.get_by_role("link", name="Sign out everywhere").click()
    else:
        row.locator("a[href*='/users/show/']").click()
        expect(admin).to_have_url(re.compile(r"/users/show/\d+"))
        admin.get_by_role("link", name="Sign out everywhere").click()
    # FAB's show page renders its confirmation dialog twice; the shown one is the first.
    confirm = admin.locator("#modal-confirm:visible")
    expect(confirm).to_be_visible()
    asked = "the selected users" if page_name == "list" else "this user"
    expect(confirm).to_contain_text(f"End every session and API token of {asked}?")
    screenshot(admin, "admin-confirms-sign-out")
    confirm.get_by_role("link", name="OK").click()
    expect(admin.get_by_text("Every session and token of demo has ended.")).to_be_visible()
    screenshot(admin, "admin-signed-out-demo")

    expect_session_ended(user)
    screenshot(user, "user-sent-to-login")

    # The admin's own session and the user's account are untouched.
    open_users_list(admin)
    row = user_row(admin, "demo")
    expect(row.get_by_role("cell", name="True", exact=True)).to_have_count(1)
    expect(row.locator("td").last).to_have_text(RECENTLY)
    expect(row.locator("td").last.locator("time")).to_have_attribute("title", UTC_TITLE)
    screenshot(admin, "admin-still-signed-in")

    sign_in(user, *DEMO)
    expect_signed_in_as(user, "demo")
    screenshot(user, "user-signed-in-again")


def revoke_through_api(playwright_driver: Playwright, live_server: LiveServer, username: str) -> None:
    """End a user's sessions as a script would: admin JWT, then the REST endpoint."""
    api = playwright_driver.request.new_context(base_url=live_server.url, timeout=WAIT * 1000)
    try:
        login = api.post(
            "/api/v1/security/login",
            data={"username": ADMIN[0], "password": ADMIN[1], "provider": "db"},
        )
        assert login.status == 200, login.text()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        query = f"(filters:!((col:username,opr:eq,value:{username})),columns:!(id))"
        found = api.get("/api/v1/security/users/", params={"q": query}, headers=headers)
        assert found.status == 200, found.text()
        [user_id] = found.json()["ids"]
        revoked = api.post(f"/api/v1/session_epoch/revoke/{user_id}", headers=headers)
        assert revoked.status == 200, revoked.text()
    finally:
        api.dispose()


def test_spa_helper_reloads_once_to_login_without_error(
    open_page: t.Callable[[str], Page],
    screenshot: Screenshots,
    playwright_driver: Playwright,
    live_server: LiveServer,
) -> None:
    user = open_page("user")
    user.add_init_script(RECORD_STATUS)
    sign_in(user, *DEMO)
    user.goto("/spa/")
    expect(user.locator("script[src$='/session_epoch/static/fetch.js']")).to_have_count(1)
    assert user.evaluate("window.fetch.sessionEpochWrapped") is True
    status = user.locator("#status")
    fire = user.get_by_role("button", name="Fire 5 parallel API calls")

    fire.click()
    expect(status).to_have_text("ok")
    expect(user.locator("#results li")).to_have_count(5)
    screenshot(user, "spa-calls-ok")

    revoke_through_api(playwright_driver, live_server, "demo")

    navigations: list[str] = []
    loads: list[str] = []
    pings: list[tuple[int, str | None]] = []

    def navigated(frame: Frame) -> None:
        if frame == user.main_frame:
            navigations.append(frame.url)

    def answered(response: Response) -> None:
        if "/api/v1/ping/" in response.url:
            pings.append((response.status, response.headers.get("x-session-ended")))

    user.on("framenavigated", navigated)
    user.on("load", lambda page: loads.append(page.url))
    user.on("response", answered)
    fire.click()
    expect(user).to_have_url(LOGIN_URL)
    expect(user.get_by_role("button", name="Sign In")).to_be_visible()
    user.wait_for_timeout(1_000)  # room for a second reload, which must not come
    screenshot(user, "spa-reloaded-to-login")

    assert (401, "1") in pings
    assert len(navigations) == 1, navigations
    assert len(loads) == 1, loads
    statuses = json.loads(user.evaluate("sessionStorage.getItem('e2eStatuses')") or "[]")
    errors = [text for text in statuses if text.startswith("error")]
    assert not errors, f"the page showed {errors} before it went away; every status: {statuses}"
    assert statuses == ["idle", "calling", "ok", "calling"]


def test_idle_tab_that_checks_learns_its_session_ended(
    open_page: t.Callable[[str], Page],
    screenshot: Screenshots,
    playwright_driver: Playwright,
    live_server: LiveServer,
) -> None:
    # /spa/?check=5 sets data-check-every="5" on the helper's script tag.
    user = open_page("user")
    sign_in(user, *DEMO)
    checks: list[int] = []
    user.on("response", lambda r: checks.append(r.status) if "/session_epoch/check" in r.url else None)
    user.goto("/spa/?check=5")
    screenshot(user, "idle-tab-open")

    revoke_through_api(playwright_driver, live_server, "demo")

    # Nobody touches the tab: its own check finds out and sends it to the login page.
    expect(user).to_have_url(LOGIN_URL, timeout=20_000)
    expect(user.get_by_text(ENDED)).to_be_visible()
    screenshot(user, "idle-tab-sent-to-login")
    assert checks and checks[-1] == 401


def test_sign_out_one_other_session_from_profile(open_page: t.Callable[[str], Page],
                                                  screenshot: Screenshots) -> None:
    """One user in two browsers: the first ends the second's session from *Your profile*."""
    first, second = open_page("first"), open_page("second")
    sign_in(first, *DEMO)
    sign_in(second, *DEMO)
    expect_signed_in_as(first, "demo")
    expect_signed_in_as(second, "demo")

    # The second browser's own record: the row its profile marks as this session.
    rows = open_profile(second, "Dee Demo")
    expect(rows).to_have_count(2)
    second_row = rows.filter(has_text="this session")
    expect(second_row).to_have_count(1)
    second_id = second_row.get_attribute("data-session")
    assert second_id

    rows = open_profile(first, "Dee Demo")
    expect(rows).to_have_count(2)
    this_row = rows.filter(has_text="this session")
    expect(this_row).to_have_count(1)
    expect(this_row.get_by_role("button", name=SIGN_OUT_ONE)).to_have_count(0)
    this_id = this_row.get_attribute("data-session")
    assert this_id and this_id != second_id
    other_row = rows.filter(has_not_text="this session")
    expect(other_row).to_have_count(1)
    expect(other_row).to_have_attribute("data-session", second_id)
    cells = other_row.locator("td")  # device, IP address, via, started, last active, the button
    expect(cells.nth(0)).to_contain_text("Chrome")
    expect(cells.nth(1)).to_have_text("127.0.0.1")
    for started_or_last_active in (cells.nth(3), cells.nth(4)):
        expect(started_or_last_active).to_have_text(RECENTLY)
        expect(started_or_last_active.locator("time")).to_have_attribute("title", UTC_TITLE)
    expect(other_row.locator("form")).to_have_attribute("action", f"/sessionepoch/sessions/{second_id}/end/")
    expect(first.get_by_role("button", name="Sign out all other sessions")).to_be_visible()
    screenshot(first, "profile-two-sessions")

    other_row.get_by_role("button", name=SIGN_OUT_ONE).click()
    expect(first).to_have_url(re.compile(r"/users/userinfo/$"))
    expect(first.get_by_text("That session has ended.")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-session", this_id)
    expect(rows.first).to_contain_text("this session")
    screenshot(first, "profile-one-session-left")

    expect_session_ended(second)
    screenshot(second, "second-sent-to-login")

    # The browser that asked is still signed in, and its list still shows only itself.
    expect_signed_in_as(first, "demo")
    rows = open_profile(first, "Dee Demo")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-session", this_id)
    screenshot(first, "first-still-signed-in")


@pytest.mark.demo_env(DEMO_IDLE_TIMEOUT="60")  # activity every 15 s; pages warn 30 s before
def test_idle_timeout_warns_first_stay_signed_in_keeps_the_session_then_it_ends(
    open_page: t.Callable[[str], Page], screenshot: Screenshots
) -> None:
    user = open_page("user")
    sign_in(user, *DEMO)
    signed_in_at = time.monotonic()
    expect_signed_in_as(user, "demo")
    banner = user.locator(".session-epoch-warning")
    expect(banner).to_have_count(0)

    # Nothing happens on the page: the banner comes once less than 30 s are left.
    expect(banner).to_contain_text("Your session ends in 1 minute.", timeout=60_000)
    screenshot(user, "warned")
    user.get_by_role("button", name="Stay signed in").click()
    expect(banner).to_have_count(0)
    left = user.evaluate("fetch('/api/v1/session_epoch/check').then((r) => r.json())")
    assert left["idle_seconds_left"] > 50, left

    # Past the first deadline the session goes on, until the banner comes back.
    expect(banner).to_be_visible(timeout=60_000)
    assert time.monotonic() - signed_in_at > 60
    expect(user).to_have_url(re.compile(r"/demo/$"))
    screenshot(user, "warned-again-after-the-first-deadline")

    # Left alone this time, the tab lands on the login page, which says why.
    expect(user).to_have_url(LOGIN_URL, timeout=60_000)
    expect(user.get_by_text(IDLE_ENDED)).to_be_visible()
    screenshot(user, "ended-after-inactivity")
    user.goto("/demo/")  # and stays ended
    expect(user).to_have_url(LOGIN_URL)
