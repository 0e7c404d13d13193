"""The label page in a real Chromium: keyboard labeling lands on the sentences that were
on screen, and article text is shown literally (no markdown, LaTeX, icons or HTML)."""

from __future__ import annotations

import itertools
import json

import pytest

import db as store
from labeling import ingest, project
from tests.conftest import StreamlitServer, screenshot_path, wait_idle

pytestmark = pytest.mark.browser

CURRENT = ".st-key-current_sentence"
KEY_LABELS = {"1": "demand", "2": "warning", "3": "concession", "4": "outcome", "5": "none"}
TRICKY = ("Officials offered $5 and $10 for **x** and [a](b) with :smile: while "
          "<script>alert(1)</script> made it clear[to Russia]that talks continue.")
TRICKY_AFTER = "Then :material/home: and $x$ and `code` and # not a heading and _y_ followed."


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_selector(CURRENT, timeout=30_000)
    wait_idle(page)
    page.wait_for_timeout(500)  # shortcuts bind ~100 ms after render
    return page, dialogs


def _current(page) -> str | None:
    """The sentence on screen; None once the all-done state replaced it."""
    if page.locator(CURRENT).count() == 0:
        return None
    return page.inner_text(CURRENT).strip()


def _press_and_wait(page, key: str) -> str | None:
    """Press ``key`` and wait until another sentence (or the all-done state) is shown."""
    before = _current(page)
    page.keyboard.press(key)
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel);"
        " return e === null ? document.querySelector('.st-key-queue_done') !== null"
        " : e.innerText.trim() !== old; }",
        arg=[CURRENT, before], timeout=15_000)
    wait_idle(page)
    return _current(page)


def test_keyboard_labeling_lands_on_the_shown_sentences(db_path, server, browser):
    """Label the whole seed by keyboard, with Back, relabels, skips and forwards on the
    way; the database must hold exactly what was pressed on the sentences on screen."""
    page, dialogs = _open(browser, f"{server.url}/?annotator=kb")
    # Expected state, built only from what was on screen at each press.
    expected: dict[str, tuple[str, str | None]] = {}  # text -> (status, label)
    acted: list[str] = []  # sentences answered, in order (what Back walks through)
    saves = 0  # presses that must each write one label/skip event
    script = ["1", "2", "ArrowRight", "3", "4", "ArrowLeft", "5", "5", "ArrowLeft", "ArrowLeft",
              "ArrowRight", "1", "2", "3", "ArrowLeft", "ArrowRight", "4", "ArrowRight", "1"]
    keys = itertools.chain(script, itertools.cycle("12345"))  # then label the rest
    for i, key in enumerate(itertools.islice(keys, 100)):
        text = _current(page)
        if text is None:
            break
        if i == 4:
            page.screenshot(path=str(screenshot_path("label.png")),
                            full_page=True)
        revisit = text in expected
        shown = _press_and_wait(page, key)
        if key in KEY_LABELS:
            expected[text] = ("labeled", KEY_LABELS[key])
            saves += 1
        elif key == "ArrowRight" and not revisit:
            expected[text] = ("skipped", None)
            saves += 1
        elif key == "ArrowLeft":
            # Back shows the answer before the one on screen (or the last one from fresh)
            prev = acted[acted.index(text) - 1] if revisit else acted[-1]
            assert shown == prev
        if not revisit and key != "ArrowLeft":
            acted.append(text)
    assert text is None and page.locator(".st-key-queue_done").count() == 1
    assert len(acted) == 27  # every content sentence of the seed, each answered once
    assert not dialogs

    db = store.connect(db_path)
    rows = db.query(
        "SELECT s.text, a.status, a.labels FROM annotations a JOIN sentences s "
        "ON s.id = a.sentence_id JOIN annotators n ON n.id = a.annotator_id "
        "WHERE n.name = 'kb'")
    got = {r["text"]: (r["status"], json.loads(r["labels"])[0] if r["labels"] else None)
           for r in rows}
    assert got == expected
    assert db.execute("SELECT count(*) FROM events WHERE action IN ('label', 'skip')"
                      ).fetchone()[0] == saves
    db.close()
    page.close()


# Records every key press with the sentence on screen at that moment (none while the
# page swaps it: such a press may not be applied to any sentence).
_PROBE_JS = """() => { window.__presses = [];
  document.addEventListener('keydown', ev => {
    const shown = document.querySelector('.st-key-current_sentence');
    window.__presses.push({key: ev.key, text: shown ? shown.innerText.trim() : null});
  }, true); }"""


def test_rapid_presses_never_land_on_an_unseen_sentence(db_path, server, browser):
    """Presses 50 ms apart arrive while the next sentence is on its way: each one is
    applied to the sentence that was on screen when it was pressed, or dropped."""
    page, _ = _open(browser, f"{server.url}/?annotator=fast")
    page.evaluate(_PROBE_JS)
    keys = [str(1 + i % 5) for i in range(20)]
    for key in keys:
        page.keyboard.press(key)
        page.wait_for_timeout(50)
    page.wait_for_timeout(1500)
    wait_idle(page)
    seen = {(p["text"], KEY_LABELS[p["key"]]) for p in page.evaluate("window.__presses")}
    assert len(page.evaluate("window.__presses")) == len(keys)
    db = store.connect(db_path)
    applied = [(r["text"], json.loads(r["labels"])[0]) for r in db.query(
        "SELECT s.text, e.labels FROM events e JOIN sentences s ON s.id = e.sentence_id "
        "WHERE e.action = 'label' ORDER BY e.id")]
    db.close()
    assert applied, "no press was applied at all"
    assert [a for a in applied if a not in seen] == []
    assert len({text for text, _ in applied}) == len(applied)  # never twice on one sentence
    page.close()


def test_article_text_is_shown_literally(db_path, browser, tmp_path):
    db = project.init(db_path, seed=False)
    src = tmp_path / "tricky.txt"
    src.write_text(f"{TRICKY} {TRICKY_AFTER}\n", encoding="utf-8")
    ingest.import_paths(db, [src])
    db.close()
    srv = StreamlitServer(db_path)
    try:
        page, dialogs = _open(browser, f"{srv.url}/?annotator=lit")
        page.evaluate("window.__parley_probe = 1")
        assert _current(page) == TRICKY
        assert page.inner_text(".st-key-context_after").strip() == TRICKY_AFTER
        assert page.locator(f"{CURRENT} script, {CURRENT} a, {CURRENT} strong, "
                            f"{CURRENT} .katex").count() == 0
        page.wait_for_timeout(300)
        assert dialogs == []  # alert(1) never ran
        assert page.evaluate("window.__parley_probe") == 1  # same document, not reloaded
        _press_and_wait(page, "5")
        assert _current(page) == TRICKY_AFTER
        assert page.inner_text(".st-key-context_before").strip() == TRICKY
        assert "home" in _current(page)  # :material/home: not turned into an icon
        assert dialogs == []
        page.close()
    finally:
        srv.stop()


def test_guidelines_dialog_blocks_label_keys(db_path, server, browser):
    """G opens the guidelines; label keys do nothing while they are open; Esc closes."""
    page, _ = _open(browser, f"{server.url}/?annotator=gl")
    first = _current(page)
    page.keyboard.press("g")
    page.wait_for_selector("[role='dialog']", timeout=15_000)
    wait_idle(page)
    page.wait_for_timeout(300)
    assert "Labeling guidelines" in page.inner_text("[role='dialog']")
    page.keyboard.press("1")
    page.wait_for_timeout(700)
    wait_idle(page)
    db = store.connect(db_path)
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    page.keyboard.press("Escape")
    page.wait_for_selector("[role='dialog']", state="detached", timeout=15_000)
    wait_idle(page)
    page.wait_for_timeout(500)
    assert _press_and_wait(page, "1") != first
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    db.close()
    page.close()


def _type_name_and_enter(page, base_url: str, name: str) -> None:
    """Open the app signed out and type a name as a person does, then Enter."""
    page.goto(base_url)
    page.wait_for_selector(".st-key-annotator input", timeout=60_000)
    wait_idle(page, 60_000)
    page.locator(".st-key-annotator input").click()
    page.keyboard.type(name, delay=30)
    page.keyboard.press("Enter")
    page.wait_for_selector(CURRENT, timeout=30_000)
    wait_idle(page)
    page.wait_for_timeout(500)  # a person reads the sentence; shortcuts bind meanwhile


def _events_of(db_path, name: str) -> list[tuple[str, str | None]]:
    db = store.connect(db_path)
    try:
        return [(r["action"], r["labels"]) for r in db.query(
            "SELECT e.action, e.labels FROM events e JOIN annotators a "
            "ON a.id = e.annotator_id WHERE a.name = ? ORDER BY e.id", [name])]
    finally:
        db.close()


def test_sign_in_by_typing_then_keys_label_at_once(db_path, server, browser):
    """Type a name, Enter, press 1: one label is stored and the name stays as typed
    (the focus left the name box; before, "1" went into the name)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    _type_name_and_enter(page, server.url, "dana")
    first = _current(page)
    assert page.evaluate("document.activeElement.closest('.st-key-annotator') === null")
    assert _press_and_wait(page, "1") != first
    assert page.input_value(".st-key-annotator input") == "dana"
    assert "annotator=dana" in page.url
    assert _events_of(db_path, "dana") == [("label", '["demand"]')]
    # a second press labels the next sentence, still not the name
    _press_and_wait(page, "5")
    assert page.input_value(".st-key-annotator input") == "dana"
    assert [e for e, _ in _events_of(db_path, "dana")] == ["label", "label"]
    page.close()


def test_headline_is_shown_once_and_buttons_carry_definitions(db_path, server, browser):
    """The first sentence of the seed is its headline: shown once, as the sentence to
    label. Hovering a label button shows that label's one-line definition."""
    page, _ = _open(browser, f"{server.url}/?annotator=hd")
    headline = _current(page)
    assert headline.startswith("U.S.-Russia negotiated")
    main = page.inner_text("[data-testid='stMain']")
    assert main.count(headline) == 1, main
    page.locator(".st-key-label_demand button").first.hover()
    tip = page.wait_for_selector("[data-testid='stTooltipContent']", timeout=10_000)
    assert "insists that another do or stop something" in tip.inner_text()
    # next sentence: the headline is the grey line before it, still shown once
    _press_and_wait(page, "5")
    assert page.inner_text(".st-key-context_before").strip() == headline
    assert page.inner_text("[data-testid='stMain']").count(headline) == 1
    # two sentences on, the title is back above the text
    _press_and_wait(page, "5")
    assert page.inner_text("[data-testid='stMain']").count(headline) == 1
    assert headline not in page.inner_text(".st-key-context_before")
    page.close()


_DOUBLE_PRESS = """() => { for (const key of ['1', '2']) {
  for (const type of ['keydown', 'keyup']) {
    document.dispatchEvent(new KeyboardEvent(type, {key, code: 'Digit' + key,
                                                     bubbles: true}));
  } } }"""


def test_a_dropped_press_says_press_again(db_path, server, browser):
    """Two presses with no pause: the second arrives for the sentence the first one
    already answered, so it is dropped, and the page says so instead of letting it
    vanish."""
    page, _ = _open(browser, f"{server.url}/?annotator=quick")
    first = _current(page)
    # Both presses in one event-loop turn of the page, so the second surely comes
    # before the browser can show the next sentence (two keyboard.press calls are
    # sometimes far enough apart for the page to update in between).
    page.evaluate(_DOUBLE_PRESS)
    page.wait_for_selector(".st-key-dropped_notice", timeout=15_000)
    wait_idle(page)
    assert "press again" in page.inner_text(".st-key-dropped_notice")
    assert _events_of(db_path, "quick") == [("label", '["demand"]')]
    assert _current(page) != first
    # the next press is applied, and the notice goes
    _press_and_wait(page, "2")
    assert page.locator(".st-key-dropped_notice").count() == 0
    assert [lab for _, lab in _events_of(db_path, "quick")] == ['["demand"]', '["warning"]']
    page.close()
