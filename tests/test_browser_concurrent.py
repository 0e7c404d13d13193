"""Three real browser sessions label at once (issue 6).

One app server, one Chromium, three browser contexts (three separate Streamlit
sessions) for annotators a1, a2, a3. In each round the three pages get a key press in a
seeded random order without waiting in between, so the server handles the three label
actions concurrently; then each page must move on to another sentence (or to the
all-done state). Every press is recorded with the sentence on screen when it was made.

Afterwards: every acknowledged press is stored for that annotator on that sentence with
that label; no exception, error or warning reached any page at any time; no sentence has
more labels than its target (and, since everyone ran out of work, every sentence has
exactly its target); nobody was shown or labeled a sentence twice; ``python -m labeling
check`` passes.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter

import pytest

import db as store
from benchmarks import synth
from labeling import ingest, project
from tests.conftest import ROOT, StreamlitServer, wait_idle

pytestmark = pytest.mark.browser

ANNOTATORS = ("a1", "a2", "a3")
CAP_SECONDS = 120
CURRENT = ".st-key-current_sentence"
# What must never reach a user: an exception, an error or warning alert, a toast (the
# label page only toasts "not saved" messages).
ALERTS = ("[data-testid='stException'], [data-testid='stAlertContentError'], "
          "[data-testid='stAlertContentWarning'], [data-testid='stToast']")

# Installed before any page script: remembers every alert that is ever inserted, so a
# message that disappears again (a toast, a rerun) is still seen by the test.
_WATCH_ALERTS_JS = """(() => {
  window.__parley_alerts = [];
  const sel = SELECTOR;
  const scan = () => { for (const el of document.querySelectorAll(sel)) {
      if (el.__parley_seen) continue;
      el.__parley_seen = true;
      window.__parley_alerts.push((el.getAttribute('data-testid') || '') + ': '
                                  + (el.innerText || '').slice(0, 300)); } };
  new MutationObserver(scan).observe(document, {childList: true, subtree: true});
})();""".replace("SELECTOR", json.dumps(ALERTS))

_STATE_JS = """() => {
  const c = document.querySelector('.st-key-current_sentence');
  const i = document.querySelector('.st-key-shown_sentence input');
  return {text: c ? c.innerText.trim() : null, sid: i ? i.value : null,
          done: document.querySelector('.st-key-queue_done') !== null}; }"""

# The page left sentence ``old``: another one is shown, or the all-done state.
_MOVED_JS = """(old) => { const e = document.querySelector('.st-key-current_sentence');
  return e === null ? document.querySelector('.st-key-queue_done') !== null
                    : e.innerText.trim() !== old; }"""


def _state(page) -> dict:
    return page.evaluate(_STATE_JS)


def _alerts(page) -> list[str]:
    """Every alert ever inserted into the page plus any on screen now."""
    seen = list(page.evaluate("window.__parley_alerts || []"))
    for el in page.locator(ALERTS).all():
        seen.append(el.inner_text()[:300])
    return seen


def _open(browser, url: str, name: str):
    """A new browser context (its own Streamlit session) on the label page as ``name``."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_init_script(_WATCH_ALERTS_JS)
    page = ctx.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.goto(f"{url}/?annotator={name}")
    return ctx, page, problems


def test_three_browsers_label_at_once(db_path, browser, tmp_path):
    db = project.init(db_path, seed=True)  # migrations, default config (overlap 2), the seed article
    news = tmp_path / "news.jsonl"  # and two synthetic articles (quotes, $ figures, U.S.)
    news.write_text("".join(json.dumps(a) + "\n" for a in synth.articles(40, seed=1)))
    ingest.import_paths(db, [news])
    cfg = project.load_config(db)
    key_label = {lab.key: lab.name for lab in cfg.labels}
    sentences = {r["id"]: r for r in db.query(
        "SELECT id, text, target FROM sentences WHERE kind = 'content'")}
    db.close()
    assert cfg.overlap == 2 and {s["target"] for s in sentences.values()} == {2}
    # a page "moved on" when its sentence text changed: texts must tell sentences apart
    assert len({s["text"] for s in sentences.values()}) == len(sentences) > 27
    seats = sum(s["target"] for s in sentences.values())
    assert seats < len(sentences) * len(ANNOTATORS)  # fewer seats than people: they compete

    srv = StreamlitServer(db_path)
    contexts = []
    try:
        pages, problems = {}, {}
        for name in ANNOTATORS:
            ctx, pages[name], problems[name] = _open(browser, srv.url, name)
            contexts.append(ctx)
        for name, page in pages.items():
            page.wait_for_selector(f"{CURRENT}, .st-key-queue_done", timeout=30_000)
            wait_idle(page)
        pages["a1"].wait_for_timeout(500)  # shortcuts bind ~100 ms after render

        rng = random.Random(6)
        keys = sorted(key_label)
        presses: list[tuple[str, int, str, str]] = []  # annotator, sentence id, text, key
        shown: dict[str, list[int]] = {name: [] for name in ANNOTATORS}
        active = list(ANNOTATORS)
        started = time.monotonic()
        rounds = 0
        while active and time.monotonic() - started < CAP_SECONDS:
            rounds += 1
            pending = []
            for name in rng.sample(active, len(active)):  # all three before any waits
                before = _state(pages[name])
                assert before["text"] is not None and before["sid"], (name, before)
                key = rng.choice(keys)
                pages[name].keyboard.press(key)
                pending.append((name, before, key))
            for name, before, key in pending:
                page = pages[name]
                try:
                    page.wait_for_function(_MOVED_JS, arg=before["text"], timeout=15_000)
                except Exception:  # noqa: BLE001 - reported with what was on screen
                    pytest.fail(f"{name}: press {key!r} on {before['text']!r} was not "
                                f"acknowledged; alerts: {_alerts(page)}; {problems[name]}")
                wait_idle(page)
                assert _alerts(page) == [] and problems[name] == [], (name, _alerts(page),
                                                                      problems[name])
                sid = int(before["sid"])
                assert sentences[sid]["text"] == before["text"]  # token matches the text
                presses.append((name, sid, before["text"], key))
                shown[name].append(sid)
                if _state(page)["done"]:
                    active.remove(name)
        elapsed = time.monotonic() - started
        assert not active, f"{active} still labeling after {CAP_SECONDS} s ({rounds} rounds)"
        for name, page in pages.items():
            assert page.locator(".st-key-queue_done").count() == 1
            assert _alerts(page) == [] and problems[name] == [], (name, _alerts(page))
    finally:
        for ctx in contexts:
            ctx.close()
        srv.stop()
    print(f"{len(presses)} presses in {rounds} rounds, {elapsed:.1f} s")

    # Nobody was shown a sentence twice.
    for name, sids in shown.items():
        assert len(sids) == len(set(sids)), (name, [s for s, n in Counter(sids).items() if n > 1])

    db = store.connect(db_path)
    try:
        ids = {r["name"]: r["id"] for r in db.query("SELECT id, name FROM annotators")}
        stored = {(r["sentence_id"], r["annotator_id"]): r for r in db.query(
            "SELECT sentence_id, annotator_id, status, labels FROM annotations")}
        # Every acknowledged press is stored as pressed, on the sentence that was shown.
        for name, sid, text, key in presses:
            row = stored.get((sid, ids[name]))
            assert row is not None, f"{name}'s {key!r} on {text!r} was not stored"
            assert (row["status"], json.loads(row["labels"])) == ("labeled", [key_label[key]]), (
                name, text, key, row)
        # ... and nothing else was stored.
        assert len(stored) == len(presses)
        label_events = Counter((r["sentence_id"], r["annotator_id"]) for r in db.query(
            "SELECT sentence_id, annotator_id FROM events WHERE action = 'label'"))
        assert [pair for pair, n in label_events.items() if n > 1] == []  # nobody twice
        assert sum(label_events.values()) == len(presses)
        assert db.execute("SELECT count(*) FROM events WHERE action != 'label'"
                          ).fetchone()[0] == 0
        # No sentence over its target; everyone ran out of work, so every seat is taken.
        per_sentence = Counter(sid for sid, _ in stored)
        over = {sid: n for sid, n in per_sentence.items() if n > sentences[sid]["target"]}
        assert over == {}
        assert {sid: per_sentence.get(sid, 0) for sid in sentences} == {
            sid: s["target"] for sid, s in sentences.items()}
        assert len(presses) == seats
        assert all(shown.values())  # each of the three got work
    finally:
        db.close()

    check = subprocess.run([sys.executable, "-m", "labeling", "--db", str(db_path), "check",
                            "--json"], check=False, cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["ok"] is True
    log = (db_path.parent / f"streamlit-{srv.port}.log").read_text()
    assert "Traceback" not in log, log[-3000:]
