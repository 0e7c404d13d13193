"""Identity in a real Chromium: typing a reviewer's name in the sidebar, as a person does
(capitalised or not), asks for the password and shows no Review page (nor anyone's
labels) until they sign in; a reviewer without a password (an older database) gets no
Review page at all."""

from __future__ import annotations

import pytest

from labeling import annotate, project
from tests.conftest import StreamlitServer, wait_idle

pytestmark = pytest.mark.browser

PASSWORD = "rita's long secret"
NAME_INPUT = ".st-key-annotator input"
PASSWORD_INPUT = ".st-key-password input"
REVIEW_LINK = "a[href$='/review']"


@pytest.fixture
def reviewer_project(db_path):
    """The demo article, one disagreement to decide; rita, a reviewer with a password, and
    bob, a reviewer without one (as older versions allowed)."""
    db = project.init(db_path, seed=True)
    cfg = project.load_config(db)
    ann, bob = (annotate.add_annotator(db, n)["id"] for n in ("ann", "bob"))
    annotate.add_annotator(db, "rita", "reviewer", PASSWORD)
    annotate.add_annotator(db, "bob", update=True, role="reviewer", require_password=False)
    sid = db.execute("SELECT id FROM sentences WHERE kind = 'content' ORDER BY id LIMIT 1"
                     ).fetchone()[0]
    annotate.save(db, ann, sid, cfg, labels=["demand"])
    annotate.save(db, bob, sid, cfg, labels=["warning"])
    db.close()
    srv = StreamlitServer(db_path)
    yield srv
    srv.stop()


def _type_and_enter(page, selector: str, text: str) -> None:
    field = page.locator(selector)
    field.click()
    page.keyboard.press("Control+A")  # replace what the field holds
    page.keyboard.type(text, delay=20)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    wait_idle(page, 30_000)


def test_a_reviewers_name_asks_for_the_password_before_any_review(reviewer_project, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(reviewer_project.url)
        page.wait_for_selector(NAME_INPUT, timeout=60_000)
        wait_idle(page, 60_000)
        assert page.locator(REVIEW_LINK).count() == 0
        # anyone may type bob's name, so bob (no password) has annotator rights only
        _type_and_enter(page, NAME_INPUT, "bob")
        page.wait_for_selector(".st-key-current_sentence", timeout=15_000)
        page.get_by_text("reviewer once a password is set").wait_for(timeout=15_000)
        assert page.locator(REVIEW_LINK).count() == 0
        # "Rita" is rita (names are one person whatever their case)
        _type_and_enter(page, NAME_INPUT, "Rita")
        # asked for her password; nothing of the review (nor of rita's labels) is shown
        page.wait_for_selector(PASSWORD_INPUT, timeout=15_000)
        assert page.locator(PASSWORD_INPUT).get_attribute("type") == "password"
        assert page.locator(REVIEW_LINK).count() == 0
        assert page.locator(".st-key-current_sentence").count() == 0
        assert page.locator(".st-key-rv_summary").count() == 0
        # the Review URL itself, with her name in it, shows no Review page either:
        # Streamlit says the page does not exist and runs the main page
        page.goto(f"{reviewer_project.url}/review?annotator=rita")
        page.wait_for_selector(PASSWORD_INPUT, timeout=60_000)
        wait_idle(page, 30_000)
        page.get_by_role("dialog").get_by_text("Page not found").wait_for(timeout=15_000)
        page.keyboard.press("Escape")
        page.get_by_role("dialog").wait_for(state="detached", timeout=15_000)
        assert page.locator(".st-key-rv_summary").count() == 0
        assert page.locator(".st-key-rv_sentence").count() == 0
        assert page.locator(REVIEW_LINK).count() == 0
        # a wrong password is refused
        _type_and_enter(page, PASSWORD_INPUT, "guess")
        page.get_by_text("Wrong password.").wait_for(timeout=15_000)
        assert page.locator(REVIEW_LINK).count() == 0
        # signed in, the Review page is there
        _type_and_enter(page, PASSWORD_INPUT, PASSWORD)
        page.wait_for_selector(REVIEW_LINK, timeout=15_000)
        assert page.locator(PASSWORD_INPUT).count() == 0
        page.locator(REVIEW_LINK).first.click()
        page.wait_for_selector(".st-key-rv_summary", timeout=30_000)
        page.wait_for_selector(".st-key-rv_sentence", timeout=30_000)
    finally:
        page.close()


def test_name_enter_password_enter_then_keys_label(reviewer_project, browser, db_path):
    """Without touching the mouse after the first click: name, Enter, password, Enter,
    then 1 labels a sentence. The password box takes the focus when it appears, and
    neither box keeps it afterwards."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(reviewer_project.url)
        page.wait_for_selector(NAME_INPUT, timeout=60_000)
        wait_idle(page, 60_000)
        page.locator(NAME_INPUT).click()
        page.keyboard.type("rita", delay=30)
        page.keyboard.press("Enter")
        page.wait_for_selector(PASSWORD_INPUT, timeout=15_000)
        page.wait_for_function(
            "document.activeElement && document.activeElement.closest('.st-key-password')",
            timeout=10_000)
        page.keyboard.type(PASSWORD, delay=10)
        page.keyboard.press("Enter")
        page.wait_for_selector(".st-key-current_sentence", timeout=30_000)
        wait_idle(page)
        page.wait_for_timeout(500)
        before = page.inner_text(".st-key-current_sentence")
        page.keyboard.press("1")
        page.wait_for_function(
            "old => document.querySelector('.st-key-current_sentence').innerText !== old",
            arg=before, timeout=15_000)
        assert page.input_value(NAME_INPUT) == "rita"
        db = project.open_existing(db_path)
        rows = db.execute("SELECT e.labels FROM events e JOIN annotators a ON a.id = "
                          "e.annotator_id WHERE a.name = 'rita'").fetchall()
        db.close()
        assert rows == [('["demand"]',)]
    finally:
        page.close()
