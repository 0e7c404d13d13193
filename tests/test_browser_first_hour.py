"""The first hour, in a real Chromium, by keyboard and mouse only: the README's run
command on a fresh folder, the person who started it makes themselves admin, imports
their own articles, takes the demo article out, adds an annotator; the annotator signs
in and labels one of the new sentences at once."""

from __future__ import annotations

import pytest

import db as store
from tests.conftest import StreamlitServer, screenshot_path, wait_idle

pytestmark = pytest.mark.browser

ADMIN_PW = "maria's own password"
FIRST = "The EU demanded a ceasefire."  # the first sentence of n1 (its title is a field)
ARTICLES = (b"id,headline,body\n"
            b"n1,Talks resume,The EU demanded a ceasefire. Russia warned of consequences.\n"
            b"n2,Deal reached,Negotiators reached a deal on grain. Turkey offered to host.\n")


def _type(page, selector: str, text: str, enter: bool = False) -> None:
    page.locator(selector).click()
    page.keyboard.type(text, delay=15)
    if enter:
        page.keyboard.press("Enter")


def _go(page, path: str) -> None:
    """Click the top navigation link to ``path`` (a new page load would sign out)."""
    page.locator(f"a[href$='/{path}']").first.click()
    page.wait_for_url(f"**/{path}**", timeout=30_000)
    page.wait_for_timeout(300)
    wait_idle(page, 60_000)


def test_first_hour_without_a_terminal(tmp_path, browser):
    db_path = tmp_path / "labels.db"  # nothing there yet: the app creates it
    srv = StreamlitServer(db_path)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(srv.url)
        page.wait_for_selector(".st-key-setup_submit", timeout=60_000)
        wait_idle(page, 60_000)
        text = page.inner_text("[data-testid='stMain']")
        assert "Parley is where a team labels" in text and "only the demo article" in text
        assert str(db_path) not in text  # no paths for visitors
        page.screenshot(path=str(screenshot_path("first-screen.png")), full_page=True)

        # 1. make myself admin on the first screen
        _type(page, ".st-key-setup_name input", "Maria")
        _type(page, ".st-key-setup_password input", ADMIN_PW)
        page.locator(".st-key-setup_submit button").click()
        page.wait_for_selector("a[href$='/import']", timeout=30_000)
        wait_idle(page)
        assert page.input_value(".st-key-annotator input") == "Maria"
        assert page.locator(".st-key-setup_submit").count() == 0

        # 2. import my articles on the Import page
        _go(page, "import")
        page.locator(".st-key-import_files input[type=file]").set_input_files(
            [{"name": "news.csv", "mimeType": "text/csv", "buffer": ARTICLES}])
        page.wait_for_timeout(300)
        wait_idle(page, 60_000)
        page.locator(".st-key-import_button button").click()
        page.get_by_text("2 articles added").wait_for(timeout=60_000)

        # 3. take the demo article out (nobody labeled it: no confirmation needed)
        page.locator(".st-key-remove_article input").click()
        page.keyboard.type("000_0a083b07f5e0d51c", delay=5)
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        wait_idle(page)
        page.locator(".st-key-remove_button button").click()
        page.wait_for_timeout(500)
        wait_idle(page)

        # 4. add an annotator on the People page
        _go(page, "people")
        _type(page, ".st-key-people_add_name input", "ivan")
        page.locator(".st-key-people_add_submit button").click()
        page.get_by_text("Added ivan").wait_for(timeout=30_000)
    finally:
        page.close()

    db = store.connect(db_path)
    try:
        ids = [r[0] for r in db.execute("SELECT external_id FROM articles ORDER BY id")]
        people = {r[0]: r[1] for r in db.execute("SELECT name, role FROM annotators")}
        log = [r[0] for r in db.execute("SELECT action FROM project_log ORDER BY id")]
    finally:
        db.close()
    assert ids == ["n1", "n2"]
    assert people == {"Maria": "admin", "ivan": "annotator"}
    assert "remove_article" in log and "annotator_role" in log

    # 5. the annotator: name, Enter, 1 -- a label on the first new sentence
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        ivan = context.new_page()
        ivan.goto(srv.url)
        ivan.wait_for_selector(".st-key-annotator input", timeout=60_000)
        wait_idle(ivan, 60_000)
        _type(ivan, ".st-key-annotator input", "ivan", enter=True)
        ivan.wait_for_selector(".st-key-current_sentence", timeout=30_000)
        wait_idle(ivan)
        assert ivan.inner_text(".st-key-current_sentence").strip() == FIRST
        assert ivan.locator(".st-key-corpus_notice").count() == 0  # real articles now
        ivan.wait_for_timeout(500)
        ivan.keyboard.press("1")
        ivan.wait_for_function(
            "() => document.querySelector('.st-key-current_sentence').innerText.trim()"
            " !== 'The EU demanded a ceasefire.'", timeout=15_000)
        assert ivan.input_value(".st-key-annotator input") == "ivan"
    finally:
        context.close()
        srv.stop()
    db = store.connect(db_path)
    try:
        rows = db.execute("SELECT s.text, e.labels FROM events e JOIN sentences s ON "
                          "s.id = e.sentence_id").fetchall()
    finally:
        db.close()
    assert rows == [(FIRST, '["demand"]')]
