"""The documentation site as a reader sees it: the quick start at a desktop's width and a phone's.

The pages are the docs stage's build in ``artifacts/docs`` (``tests/run.sh`` runs that stage
before the browser tests), opened from disk. Without a build the test skips, and fails when
``CI=true``.
"""

from __future__ import annotations

import typing as t

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

from .conftest import ROOT, WAIT, _unavailable

if t.TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser

    from .conftest import Screenshots

pytestmark = pytest.mark.e2e

SITE = ROOT / "artifacts" / "docs"


@pytest.fixture
def quick_start() -> Path:
    page = SITE / "quickstart.html"
    if not page.is_file():
        _unavailable(f"{page} is not built: run SESSION_EPOCH_STAGES=\"venv-sqlalchemy2 docs\" bash tests/run.sh")
    return page


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_quick_start_shows_every_step_without_sideways_scrolling(
    browser: Browser, screenshot: Screenshots, quick_start: Path, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT * 1000)
        page.goto(quick_start.as_uri())
        expect(page.get_by_role("heading", name="Getting started", level=1)).to_be_visible()
        for step in ("flask fab create-db", "flask session-epoch db upgrade", "flask run",
                     "superset session-epoch db upgrade", "airflow session-epoch db upgrade"):
            expect(page.locator("pre", has_text=step).first).to_be_visible()
        screenshot(page, f"quick-start-{width}px")
        # Long commands scroll inside their own box; the page itself never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()
