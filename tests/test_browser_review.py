"""The Review page in a real Chromium: a label's key adjudicates the sentence on screen
and the next disagreement follows; article text and notes are shown literally."""

from __future__ import annotations

import json
import time

import pytest

import db as store
from labeling import annotate, ingest, project
from tests.conftest import StreamlitServer, screenshot_path, sign_in, wait_idle

RITA_PASSWORD = "rita reviews carefully"

pytestmark = pytest.mark.browser

SENTENCE = ".st-key-rv_sentence"
TRICKY = ("Officials offered $5 and $10 for **x** and [a](b) with :smile: while "
          "<script>alert(1)</script> made it clear[to Russia]that talks continue.")
NOTE = "<b>bold?</b> $x$ and :material/home: and [link](http://example.com)"


def _label(db, cfg, who: dict, sid: int, **by_name) -> None:
    for name, lab in by_name.items():
        annotate.save(db, who[name], sid, cfg, labels=[lab], duration_ms=4200)


@pytest.fixture
def disagreements(db_path):
    """Before the server starts: two annotators label the seed article's first ten
    content sentences, disagreeing on three; one flags a sentence; rita reviews."""
    db = project.init(db_path, seed=True)
    cfg = project.load_config(db)
    who = {n: annotate.add_annotator(db, n)["id"] for n in ("ann", "bob")}
    annotate.add_annotator(db, "rita", "reviewer", RITA_PASSWORD)
    sids = [r[0] for r in db.execute(
        "SELECT id FROM sentences WHERE kind = 'content' ORDER BY id LIMIT 10")]
    plan = ["none", ("demand", "warning"), "outcome", "none", ("concession", "demand"),
            "warning", "none", ("outcome", "none"), "demand", "none"]
    for sid, labs in zip(sids, plan):
        a, b = labs if isinstance(labs, tuple) else (labs, labs)
        _label(db, cfg, who, sid, ann=a, bob=b)
    annotate.save(db, who["ann"], sids[3], cfg, labels=["none"], flagged=True,
                  note="background or outcome?")
    texts = {sid: db.execute("SELECT text FROM sentences WHERE id = ?", [sid]).fetchone()[0]
             for sid in sids}
    db.close()
    return [(sids[i], texts[sids[i]]) for i in (1, 4, 7)]


def _open(browser, url: str):
    """The Review page, signed in as rita (reviewers must have a password)."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, url, "rita", RITA_PASSWORD, then="review")
    page.wait_for_selector(SENTENCE, timeout=60_000)
    wait_idle(page, 60_000)
    page.wait_for_timeout(500)  # shortcuts bind ~100 ms after render
    return page, dialogs


def _gold(db_path, sid: int, timeout: float = 15.0):
    """The sentence's gold row once it exists (polls the database)."""
    db = store.connect(db_path)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            row = db.execute("SELECT labels, source, reviewer_id FROM gold "
                             "WHERE sentence_id = ?", [sid]).fetchone()
            if row is not None:
                return json.loads(row[0]), row[1], row[2]
            time.sleep(0.05)
        return None
    finally:
        db.close()


def _wait_for_other_sentence(page, old: str) -> str:
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel);"
        " return e !== null && e.innerText.trim() !== old; }",
        arg=[SENTENCE, old], timeout=15_000)
    wait_idle(page)
    return page.inner_text(SENTENCE).strip()


def test_key_press_adjudicates_the_shown_sentence(disagreements, db_path, server, browser):
    page, dialogs = _open(browser, server.url)
    (first, first_text), (second, second_text), (third, _) = disagreements
    assert page.inner_text(SENTENCE).strip() == first_text
    judgements = page.inner_text(".st-key-rv_judgements")
    assert "ann" in judgements and "bob" in judgements and "warning" in judgements
    page.set_viewport_size({"width": 1280, "height": 1400})  # the app scrolls inside
    wait_idle(page)
    page.screenshot(path=str(screenshot_path("review.png")), full_page=True)

    page.keyboard.press("2")  # warning
    gold = _gold(db_path, first)
    assert gold is not None and gold[:2] == (["warning"], "adjudicated")
    assert _wait_for_other_sentence(page, first_text) == second_text
    page.wait_for_timeout(300)
    page.keyboard.press("3")  # concession
    assert _gold(db_path, second)[:2] == (["concession"], "adjudicated")
    assert _gold(db_path, third, timeout=0.5) is None  # one press, one decision
    db = store.connect(db_path)
    events = db.execute("SELECT sentence_id, labels FROM events WHERE action = 'adjudicate' "
                        "ORDER BY id").fetchall()
    db.close()
    assert events == [(first, '["warning"]'), (second, '["concession"]')]
    assert not dialogs
    page.close()


def test_review_shows_text_and_notes_literally(db_path, browser, tmp_path):
    db = project.init(db_path, seed=False)
    src = tmp_path / "tricky.txt"
    src.write_text(f"{TRICKY} Then the envoys left Geneva.\n", encoding="utf-8")
    ingest.import_paths(db, [src])
    cfg = project.load_config(db)
    who = {n: annotate.add_annotator(db, n)["id"] for n in ("ann", "bob")}
    annotate.add_annotator(db, "rita", "reviewer", RITA_PASSWORD)
    sid = db.execute("SELECT id FROM sentences WHERE text = ?", [TRICKY]).fetchone()[0]
    annotate.save(db, who["ann"], sid, cfg, labels=["demand"], flagged=True, note=NOTE)
    annotate.save(db, who["bob"], sid, cfg, labels=["warning"])
    db.close()
    srv = StreamlitServer(db_path)
    try:
        page, dialogs = _open(browser, srv.url)
        page.evaluate("window.__parley_probe = 1")
        assert page.inner_text(SENTENCE).strip() == TRICKY
        assert NOTE in page.inner_text(".st-key-rv_judgements")
        for sel in (SENTENCE, ".st-key-rv_judgements"):
            assert page.locator(f"{sel} script, {sel} a, {sel} strong, {sel} b, "
                                f"{sel} .katex").count() == 0
        page.wait_for_timeout(300)
        assert dialogs == [] and page.evaluate("window.__parley_probe") == 1
        page.close()
    finally:
        srv.stop()
