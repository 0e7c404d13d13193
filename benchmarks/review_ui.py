"""Review page speed at scale, in Chromium: page load (first in a fresh server process,
then again with warm caches), key press -> next disagreement shown, server memory.
Prints JSON.

    python -m benchmarks.review_ui --db /path/to/1M.db [--presses 20]

``--db`` is copied first (the benchmark writes adjudications); build one with
``python -m benchmarks.labeling_db --sentences 1000000 --db PATH --iterations 1``.
Target (issue 4): review page load <= 1 s at 1M sentences / 3M annotations with the
caches keyed by the data version. ``data_page_load_s`` (a light page of the same server)
is the baseline a browser page load costs on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SENTENCE = ".st-key-rv_sentence"


def _idle(page, timeout: float = 300_000) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=timeout)


def _open_page(page, name: str, ready: str) -> float:
    """Seconds from clicking the top navigation link to page ``name`` until ``ready``
    is shown and the script is idle (one signed-in session: a new page load would be
    a new, signed-out session)."""
    t0 = time.perf_counter()
    page.locator(f"a[href$='/{name}']").first.click()
    page.wait_for_selector(ready, timeout=300_000)
    _idle(page)
    return time.perf_counter() - t0


def measure(path: str, presses: int) -> dict:
    import psutil
    from playwright.sync_api import sync_playwright

    from labeling import annotate, project
    from tests.conftest import StreamlitServer, sign_in

    db = project.init(path, seed=False)
    annotate.add_annotator(db, "bench-rita", "reviewer", "bench-pw")
    db.close()
    srv = StreamlitServer(Path(path))
    out: dict = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            sign_in(page, srv.url, "bench-rita", "bench-pw")  # not timed: one scrypt
            cold = _open_page(page, "review", SENTENCE)
            warm, baseline = [], []
            for _ in range(3):
                # Baseline: the Data page (no agreement, no queue), to tell the review
                # page's own cost from the browser's and the machine's.
                baseline.append(_open_page(page, "data", "[data-testid='stHeading']"))
                warm.append(_open_page(page, "review", SENTENCE))
            page.wait_for_timeout(500)
            times = []
            for _ in range(presses):
                old = page.inner_text(SENTENCE).strip()
                t0 = time.perf_counter()
                page.keyboard.press("5")
                page.wait_for_function(
                    "([sel, old]) => { const e = document.querySelector(sel);"
                    " return e !== null && e.innerText.trim() !== old; }",
                    arg=[SENTENCE, old], timeout=60_000)
                times.append((time.perf_counter() - t0) * 1000)
                _idle(page)
                page.wait_for_timeout(150)
            page.close()
            browser.close()
        rss = psutil.Process(srv.proc.pid).memory_info().rss / 2**20
        out = {"first_load_s": round(cold, 2), "warm_load_s": [round(t, 2) for t in warm],
               "data_page_load_s": [round(t, 2) for t in baseline],
               "press_to_next_ms": {"p50": round(statistics.median(times), 1),
                                    "max": round(max(times), 1), "n": len(times)},
               "server_rss_mb": round(rss)}
    finally:
        srv.stop()
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="database to copy (e.g. 1M sentences)")
    ap.add_argument("--presses", type=int, default=20)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="parley-review-ui-")
    path = os.path.join(tmp, "bench.db")
    try:
        shutil.copyfile(args.db, path)
        result = measure(path, args.presses)
        print(json.dumps({"benchmark": "review_ui", **result, "target_load_s": 1.0,
                          "meets_target": max(result["warm_load_s"]) <= 1.0}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
