"""The Import page in a real Chromium: files go through the page's own file input, the
admin chooses a column as a person does, and what the page shows is read from the
screen (messages literal, naming the uploaded file and line)."""

from __future__ import annotations

import json
import time

import pytest

import db.articles as articles_db
from labeling import annotate, corpus, project
from tests.conftest import StreamlitServer, dump, screenshot_path, sign_in, wait_idle

pytestmark = pytest.mark.browser

PASSWORD = "adam administers"
CSV = (b"headline,story_body,ref\n"
       b"Talks stall,The United States and Russia met on Monday. No deal was reached.,n-1\n"
       b"Envoys meet,Iran demanded the lifting of sanctions. The E.U. warned of costs.,n-2\n")


def _jsonl(prefix: str, broken_line3: bool = False) -> bytes:
    lines = [json.dumps({"id": f"{prefix}-{i}", "text": f"Story {prefix} {i}. It is fine."})
             for i in (1, 2, 4)]
    if broken_line3:
        lines.insert(2, '{"id": "x-3", "text": "never closed')
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def import_server(db_path):
    """An empty project with an admin (password) and an annotator, and a live app."""
    db = project.init(db_path, seed=False)
    annotate.add_annotator(db, "adam", "admin", PASSWORD)
    annotate.add_annotator(db, "alice")
    db.close()
    srv = StreamlitServer(db_path)
    yield srv
    srv.stop()


def _open_import(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    sign_in(page, url, "adam", PASSWORD, then="import")
    page.wait_for_selector(".st-key-import_files input[type=file]", state="attached",
                           timeout=30_000)
    return page


def _upload(page, *files: tuple[str, bytes]) -> None:
    page.locator(".st-key-import_files input[type=file]").set_input_files(
        [{"name": n, "mimeType": "application/octet-stream", "buffer": b} for n, b in files])
    page.wait_for_timeout(300)
    wait_idle(page, 60_000)


def _choose(page, key: str, option: str) -> None:
    """Open a selectbox and pick an option by typing it and pressing Enter."""
    page.locator(f".st-key-{key} input").click()
    page.keyboard.type(option, delay=20)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    wait_idle(page)


def _error_text(page) -> str:
    """The text of the import's error, as the screen shows it (without the icon)."""
    return page.locator(".st-key-import_result [data-testid='stAlertContentError'] "
                        "[data-testid='stMarkdownContainer']").inner_text()


def _alerts(page) -> list[str]:
    return [t.strip() for t in page.locator("[data-testid='stAlertContentError']").all_inner_texts()]


def test_a_good_csv_choose_the_column_preview_and_import(import_server, browser, db_path):
    page = _open_import(browser, import_server.url)
    try:
        _upload(page, ("news.csv", CSV))
        page.wait_for_selector("text=No text column found", timeout=30_000)
        assert page.locator(".st-key-import_button button").is_disabled()
        _choose(page, "import_text_field", "story_body")
        page.wait_for_selector("[data-testid='stDataFrame']", timeout=30_000)
        assert "id: news-1\ntitle: Talks stall" in page.locator("[data-testid='stText']").first.inner_text()
        _choose(page, "import_id_field", "ref")
        page.wait_for_selector("text=id: n-1", timeout=30_000)
        page.click(".st-key-import_button button")
        page.wait_for_selector("text=2 articles added (4 sentences)", timeout=60_000)
        wait_idle(page)
        assert not _alerts(page)
        page.screenshot(path=str(screenshot_path("import.png")), full_page=True)
        db = project.open_existing(db_path)
        try:
            assert {a["external_id"]: a["title"] for a in corpus.articles(db)} == {
                "n-1": "Talks stall", "n-2": "Envoys meet"}
        finally:
            db.close()
    finally:
        page.close()


def test_a_bad_jsonl_among_good_files_writes_nothing(import_server, browser, db_path):
    page = _open_import(browser, import_server.url)
    try:
        before = dump(db_path)
        _upload(page, ("first.jsonl", _jsonl("a")), ("news.csv", CSV.replace(b"story_body", b"body")),
                ("broken.jsonl", _jsonl("b", broken_line3=True)))
        page.wait_for_selector("[data-testid='stDataFrame']", timeout=30_000)
        page.click(".st-key-import_button button")
        page.wait_for_selector(".st-key-import_result [data-testid='stAlertContentError']",
                               timeout=60_000)
        wait_idle(page)
        shown = _error_text(page)
        assert shown.strip() == ("broken.jsonl:3: invalid JSON: Invalid control character at "
                                 "(column 36)")
        assert "parley-upload" not in page.content()
        page.screenshot(path="/tmp/parley-import-bad.png", full_page=True)
        assert dump(db_path) == before
        db = project.open_existing(db_path)
        try:
            assert articles_db.stats(db)["articles"] == 0
        finally:
            db.close()
    finally:
        page.close()


def test_a_file_name_with_markdown_is_shown_literally(import_server, browser):
    name = "**x** <b>bold</b> $5 [a](b) :material/home:.csv"
    page = _open_import(browser, import_server.url)
    try:
        _upload(page, (name, b"text\nA fine row. Yes.\n\"never closed\n"))
        page.click(".st-key-import_button button")
        page.wait_for_selector(".st-key-import_result [data-testid='stAlertContentError']",
                               timeout=60_000)
        wait_idle(page)
        shown = _error_text(page)
        assert shown.strip() == (f"{name}:3: bad CSV: unbalanced quotes: a quoted field runs "
                                 "to the end of the file")
        page.screenshot(path="/tmp/parley-import-name.png", full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("who", ["alice", None])
def test_import_by_url_shows_no_uploader_to_others(import_server, browser, who):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        query = f"?annotator={who}" if who else ""
        page.goto(f"{import_server.url}/import{query}")
        page.wait_for_selector("[data-testid='stApp']", timeout=60_000)
        page.wait_for_timeout(500)
        wait_idle(page, 60_000)
        assert page.locator("input[type=file]").count() == 0
        assert page.locator(".st-key-remove_button").count() == 0
        assert page.locator("a[href$='/import']").count() == 0
    finally:
        page.close()


TITLE = "**Bold** $5 [a](b) <b>x</b> :material/home:"


@pytest.fixture
def removal_server(db_path):
    """A project with one unlabeled article whose title is markdown, an admin, a live app."""
    from tests.test_export import add_article

    db = project.init(db_path, seed=False)
    annotate.add_annotator(db, "adam", "admin", PASSWORD)
    add_article(db, "mark-1", ["One sentence.", "Another one."], title=TITLE)
    db.close()
    srv = StreamlitServer(db_path)
    yield srv
    srv.stop()


def test_remove_an_article_titles_shown_literally(removal_server, browser, db_path):
    page = _open_import(browser, removal_server.url)
    try:
        page.locator(".st-key-remove_article input").click()
        option = page.locator("[role='option']").first
        option.wait_for(timeout=10_000)
        assert option.inner_text().strip() == f"mark-1 — {TITLE}"
        option.click()
        page.wait_for_timeout(300)
        wait_idle(page)
        assert f"title: {TITLE}" in page.locator("[data-testid='stText']").last.inner_text()
        page.screenshot(path="/tmp/parley-import-remove.png", full_page=True)
        page.click(".st-key-remove_button button")
        page.wait_for_selector("text=Removed mark-1: 2 sentences, 0 labels, 0 gold labels.",
                               timeout=30_000)
        db = project.open_existing(db_path)
        try:
            assert corpus.articles(db) == []
            assert articles_db.project_log(db, "remove_article")[0]["actor"] == "app:adam"
        finally:
            db.close()
    finally:
        page.close()


def test_using_the_page_during_an_import_interrupts_it_cleanly(db_path, browser, tmp_path):
    """Streamlit stops a run when the page is used meanwhile: the file being written is
    rolled back (all or nothing), the staged uploads are removed, and the next run says
    the import was interrupted."""
    db = project.init(db_path, seed=False)
    annotate.add_annotator(db, "adam", "admin", PASSWORD)
    db.close()
    para = "The delegations met in Geneva. Officials said no agreement was reached. " * 8
    files = []
    for k in (1, 2):
        path = tmp_path / f"big{k}.jsonl"
        path.write_text("".join(json.dumps({"id": f"{k}-{i}", "text": f"Story {k} {i}. {para}"})
                                + "\n" for i in range(30_000)))
        files.append(str(path))
    staging = tmp_path / "server-tmp"
    staging.mkdir()
    srv = StreamlitServer(db_path, env={"TMPDIR": str(staging)})
    page = _open_import(browser, srv.url)
    try:
        page.locator(".st-key-import_files input[type=file]").set_input_files(files)
        page.wait_for_selector("[data-testid='stDataFrame']", timeout=120_000)
        wait_idle(page, 120_000)
        page.click(".st-key-import_button button")
        page.wait_for_selector("text=Storing big1.jsonl", timeout=60_000)
        page.click(".st-key-import_skip_bad label")  # the page used meanwhile
        page.wait_for_selector("text=The last import was interrupted", timeout=60_000)
        wait_idle(page, 60_000)
        db = project.open_existing(db_path)
        try:
            assert articles_db.stats(db)["articles"] == 0  # big1 was being written: rolled back
        finally:
            db.close()
        # the interrupted run removes its folder while it unwinds, which may end a moment
        # after the next run has drawn the page
        deadline = time.monotonic() + 20
        while list(staging.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert list(staging.iterdir()) == []
    finally:
        page.close()
        srv.stop()
