"""Label page speed at scale: AppTest click -> next sentence, Chromium key press -> next
sentence (and presses applied to the wrong sentence), server memory. Prints JSON.

    python -m benchmarks.labeling_ui --sentences 100000 [--db /tmp/bench.db] [--clicks 200]
        [--presses 60] [--rapid 40] [--no-browser]

The database is built once per size from ``benchmarks.synth`` articles through the
real importer (``ingest.import_paths``) and reused when ``--db`` already holds it.
Targets (docs/architecture.md): AppTest p50 <= 25 ms, Chromium p50 <= 150 ms with no press on
the wrong sentence, server RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEYS = ["1", "2", "3", "4", "5"]
LABELS = {"1": "demand", "2": "warning", "3": "concession", "4": "outcome", "5": "none"}
CURRENT = ".st-key-current_sentence"

# In the page: remember the text shown at each keydown and when the shown sentence changes.
_PROBE_JS = """
() => {
  window.__presses = []; window.__changes = [];
  const text = () => { const e = document.querySelector('.st-key-current_sentence');
                       return e ? e.innerText.trim() : null; };
  document.addEventListener('keydown', ev => {
    window.__presses.push({key: ev.key, t: performance.now(), text: text()});
  }, true);
  let last = text();
  new MutationObserver(() => {
    const now = text();
    if (now !== last) { last = now; window.__changes.push({t: performance.now(), text: now}); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p * len(xs)))], 2) if xs else float("nan")


def build_db(path: Path, n: int) -> dict:
    """A project with ``n`` synthetic sentences (reused if already built for ``n``)."""
    from benchmarks import synth
    from labeling import ingest, project

    db = project.init(path, seed=False)
    have = db.execute("SELECT count(*) FROM sentences").fetchone()[0]
    info = {"sentences": have, "built": False}
    if have == 0:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "articles.jsonl"
            with src.open("w", encoding="utf-8") as f:
                for art in synth.articles(n, seed=7):
                    f.write(json.dumps({"id": art["id"], "title": art["title"],
                                        "text": art["text"]}) + "\n")
            t0 = time.perf_counter()
            ingest.import_paths(db, [src])
            info["import_s"] = round(time.perf_counter() - t0, 1)
        info["sentences"] = db.execute("SELECT count(*) FROM sentences").fetchone()[0]
        info["built"] = True
    db.close()
    return info


def _click_times(at, keys: list[str], clicks: int, start: int = 0) -> list[float]:
    times = []
    for i in range(start, start + clicks):
        button = at.button(key=keys[i % len(keys)])
        t0 = time.perf_counter()
        button.click().run()
        times.append((time.perf_counter() - t0) * 1000)
        if at.exception:
            raise RuntimeError(str(at.exception))
    return times


def bench_apptest(db_path: Path, clicks: int) -> dict:
    """Click a label button ``clicks`` times; each run shows the next sentence. The same
    clicks on an (almost) empty app are interleaved in batches of 20, so that both see
    the same machine load."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["PARLEY_DB"] = str(db_path)
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["annotator"] = f"bench{int(time.time())}"
    at.run()
    before = at.session_state["lp_nav"].current
    keys = [f"label_{v}" for v in LABELS.values()]
    times: list[float] = []
    base: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "empty.py"
        script.write_text("import streamlit as st\nst.button('x', key='b')\n")
        empty = AppTest.from_file(str(script), default_timeout=60)
        empty.run()
        for start in range(0, clicks, 20):
            n = min(20, clicks - start)
            times += _click_times(at, keys, n, start)
            base += _click_times(empty, ["b"], n)
    moved = at.session_state["lp_nav"].current != before
    st.cache_resource.clear()
    return {"clicks": clicks, "p50_ms": _pct(times, .5), "p95_ms": _pct(times, .95),
            "empty_app_p50_ms": _pct(base, .5), "advanced": moved}


def _wait_change(page, old: str) -> None:
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel);"
        " return e !== null && e.innerText.trim() !== old; }", arg=[CURRENT, old],
        timeout=30_000)


def bench_browser(db_path: Path, presses: int, rapid: int, gap_ms: int) -> dict:
    """Label by keyboard in Chromium; time press -> new sentence; audit the DB."""
    import psutil
    from playwright.sync_api import sync_playwright

    import db as store
    from tests.conftest import StreamlitServer, require_browser, wait_idle

    name = f"kb{int(time.time())}"
    srv = StreamlitServer(db_path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=require_browser(), args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            page.goto(f"{srv.url}/?annotator={name}")
            page.wait_for_selector(CURRENT, timeout=60_000)
            wait_idle(page, 60_000)
            page.wait_for_timeout(800)
            page.evaluate(_PROBE_JS)
            # paced: press, wait for the next sentence, press again
            for i in range(presses):
                old = page.inner_text(CURRENT).strip()
                page.keyboard.press(KEYS[i % 5])
                _wait_change(page, old)
                wait_idle(page, 60_000)
            paced = page.evaluate("[window.__presses, window.__changes]")
            # rapid: presses every gap_ms without waiting (merged presses must be dropped,
            # never applied to a sentence the user did not see)
            for i in range(rapid):
                page.keyboard.press(KEYS[(presses + i) % 5])
                page.wait_for_timeout(gap_ms)
            page.wait_for_timeout(1500)
            wait_idle(page, 60_000)
            log = page.evaluate("window.__presses")
            browser.close()
        rss = psutil.Process(srv.proc.pid).memory_info().rss
    finally:
        srv.stop()

    press_log, changes = paced
    latencies = []
    for pr in press_log:
        after = [c["t"] for c in changes if c["t"] > pr["t"]]
        if after:
            latencies.append(after[0] - pr["t"])
    db = store.connect(db_path)
    applied = [(r["text"], json.loads(r["labels"])[0]) for r in db.query(
        "SELECT s.text, e.labels FROM events e JOIN sentences s ON s.id = e.sentence_id "
        "JOIN annotators n ON n.id = e.annotator_id WHERE n.name = ? AND e.action = 'label' "
        "ORDER BY e.id", [name])]
    db.close()
    pressed = {(pr["text"], LABELS[pr["key"]]) for pr in log if pr["key"] in LABELS}
    wrong = [a for a in applied if a not in pressed]
    if wrong and os.environ.get("BENCH_DEBUG"):
        print(json.dumps({"wrong": wrong, "log": log}, indent=1), file=sys.stderr)
    return {"presses": presses, "p50_ms": _pct(latencies, .5), "p95_ms": _pct(latencies, .95),
            "rapid_presses": rapid, "rapid_gap_ms": gap_ms,
            "saved": len(applied), "dropped": len(log) - len(applied),
            "wrong_sentence": len(wrong), "server_rss_mb": round(rss / 2**20, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=100_000)
    ap.add_argument("--db", type=Path, default=None, help="reuse/build this database")
    ap.add_argument("--clicks", type=int, default=200)
    ap.add_argument("--presses", type=int, default=60)
    ap.add_argument("--rapid", type=int, default=40)
    ap.add_argument("--rapid-gap-ms", type=int, default=60)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args(argv)
    db_path = args.db or Path(tempfile.gettempdir()) / f"parley-ui-{args.sentences}.db"
    out = {"db": str(db_path), **build_db(db_path, args.sentences),
           # a busy 2-core machine slows every figure; the empty app shows by how much
           "load_avg_1m_start": round(os.getloadavg()[0], 2)}
    out["apptest"] = bench_apptest(db_path, args.clicks)
    if not args.no_browser:
        out["chromium"] = bench_browser(db_path, args.presses, args.rapid, args.rapid_gap_ms)
    out["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    out["targets_met"] = {
        "apptest_p50_le_25ms": out["apptest"]["p50_ms"] <= 25,
        **({"chromium_p50_le_150ms": out["chromium"]["p50_ms"] <= 150,
            "no_wrong_sentence": out["chromium"]["wrong_sentence"] == 0,
            "rss_le_300mb": out["chromium"]["server_rss_mb"] <= 300}
           if "chromium" in out else {})}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
