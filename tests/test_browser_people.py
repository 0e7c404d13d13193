"""The People page in a real Chromium: an admin adds a reviewer with a password by typing
and clicking, and that reviewer then signs in (in a fresh browser context) and gets the
Review page; a reviewer without a password is refused with the library's message and
nobody is added; a typed name full of markdown shows literally in the error."""

from __future__ import annotations

import pytest

from labeling import annotate, project
from tests.conftest import StreamlitServer, screenshot_path, sign_in, wait_idle

pytestmark = pytest.mark.browser

ADMIN_PW = "adam administers carefully"
VERA_PW = "vera's own secret"
REVIEW_LINK = "a[href$='/review']"
ERROR_TEXT = "[data-testid='stAlertContentError'] [data-testid='stMarkdownContainer']"


@pytest.fixture
def people_server(db_path):
    """The demo project with adam (admin) and ann (annotator), and a live app on it."""
    db = project.init(db_path, seed=True)
    annotate.add_annotator(db, "adam", "admin", ADMIN_PW)
    annotate.add_annotator(db, "ann")
    db.close()
    srv = StreamlitServer(db_path)
    yield srv
    srv.stop()


def _type(page, key: str, text: str) -> None:
    field = page.locator(f".st-key-{key} input")
    field.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(text, delay=15)


def _pick(page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} input[role='combobox']").click()
    page.get_by_role("option", name=option, exact=True).click()


def _submit(page, key: str) -> None:
    page.locator(f".st-key-{key} button").click()
    page.wait_for_timeout(300)
    wait_idle(page, 60_000)


def _names(db_path) -> list[str]:
    db = project.open_existing(db_path)
    try:
        return [p["name"] for p in annotate.list_annotators(db)]
    finally:
        db.close()


def test_admin_adds_a_reviewer_who_then_signs_in(people_server, browser, db_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    try:
        sign_in(page, people_server.url, "adam", ADMIN_PW, then="people")
        page.wait_for_selector(".st-key-people_add_submit", timeout=30_000)
        wait_idle(page)
        _type(page, "people_add_name", "Vera K")
        _pick(page, "people_add_role", "reviewer")
        _type(page, "people_add_password", VERA_PW)
        _submit(page, "people_add_submit")
        page.get_by_text("Added Vera K (reviewer) with a password.").wait_for(timeout=30_000)
        # the password field is empty again and the password is nowhere on the page
        assert page.locator(".st-key-people_add_password input").input_value() == ""
        assert VERA_PW not in page.content()
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(screenshot_path("people.png")), full_page=True)
        assert "Vera K" in _names(db_path)
        # the table (a canvas: its cells are not page text) is there, a row longer
        assert page.locator(".st-key-people_table_box [data-testid='stDataFrame']").count() == 1
    finally:
        page.close()

    # a fresh context (no cookies, a new session): Vera signs in and may review
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        vera = context.new_page()
        sign_in(vera, people_server.url, "Vera K", VERA_PW)
        vera.wait_for_selector(REVIEW_LINK, timeout=30_000)
        assert vera.locator("a[href$='/people']").count() == 0  # a reviewer, not an admin
        vera.locator(REVIEW_LINK).first.click()
        vera.wait_for_url("**/review**", timeout=30_000)
        wait_idle(vera, 60_000)
        assert vera.locator("[data-testid='stException']").count() == 0
        assert vera.get_by_text("This page is for").count() == 0
    finally:
        context.close()


def test_a_reviewer_without_password_is_refused_and_nobody_added(people_server, browser,
                                                                  db_path):
    before = _names(db_path)
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    try:
        sign_in(page, people_server.url, "adam", ADMIN_PW, then="people")
        page.wait_for_selector(".st-key-people_add_submit", timeout=30_000)
        wait_idle(page)
        _type(page, "people_add_name", "walt")
        _pick(page, "people_add_role", "reviewer")
        _submit(page, "people_add_submit")
        alert = page.locator(ERROR_TEXT)
        alert.first.wait_for(timeout=30_000)
        assert alert.first.inner_text().strip() == (
            "a reviewer needs a password (without one, anyone could sign in as them)")
        assert _names(db_path) == before

        # a name full of markdown is refused and shown exactly as typed
        typed = "**x** $5 [a](b) :smile: _y_"
        _type(page, "people_add_name", typed)
        _pick(page, "people_add_role", "annotator")
        _submit(page, "people_add_submit")
        page.wait_for_timeout(300)
        text = page.locator(ERROR_TEXT).first.inner_text().strip()
        assert text == (f"invalid annotator name {typed!r}: use 1–40 letters, digits, spaces "
                        "or - _ .")
        assert page.locator("[data-testid='stAlertContentError'] strong, "
                            "[data-testid='stAlertContentError'] a, "
                            "[data-testid='stAlertContentError'] em").count() == 0
        assert _names(db_path) == before
        page.screenshot(path="/tmp/people-refused.png", full_page=True)
    finally:
        page.close()
