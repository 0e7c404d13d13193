"""Benchmark: the review page's disagreement queue on a large project.

    python -m benchmarks.review_queue [--db PATH] [--sentences 1000000] [--rounds 50]

Prints one JSON object. Without ``--db`` a project is built as in
``benchmarks.labeling_db`` (1M sentences, ~97% with 3 random labels from a pool of 20:
~2.9M annotations, ~930K disagreements); with ``--db`` that database is copied first
(the benchmark writes adjudications). Measured with ``time.perf_counter``:

- ``cold_s``: first ``review.queue`` in a process (one scan of the annotations);
- ``warm_ms``: ``queue`` with no change since (data version unchanged);
- ``filtered_ms``: ``queue`` filtered by label + annotator, and by article;
- ``decide_ms``: ``adjudicate`` of the queue head, then ``queue`` + ``load`` of the next
  (what one reviewer key press costs on the server), over ``--rounds`` decisions;
- ``after_label_ms``: an annotator's label elsewhere, then ``queue`` (incremental refresh);
- ``flagged_ms``, and peak RSS of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time

from labeling import annotate, project, review


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50": round(statistics.median(values), 2),
            "p95": round(values[int(0.95 * (len(values) - 1))], 2),
            "max": round(values[-1], 2), "n": len(values)}


def measure(path: str, rounds: int) -> dict:
    db = project.init(path, seed=False)
    cfg = project.load_config(db)
    reviewer = annotate.add_annotator(db, "bench-reviewer", "reviewer", "bench-pw")["id"]
    t0 = time.perf_counter()
    head = review.queue(db)
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(20):
        t0 = time.perf_counter()
        review.queue(db)
        warm.append((time.perf_counter() - t0) * 1000)
    some = annotate.list_annotators(db)[0]["name"]
    filt, art = [], []
    first = review.load(db, head.entries[0].sentence_id).public_id.rsplit(":", 1)[0]
    for _ in range(10):
        t0 = time.perf_counter()
        review.queue(db, label="demand", annotator=some)
        filt.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        review.queue(db, article=first)
        art.append((time.perf_counter() - t0) * 1000)
    decide = []
    total_before = head.total
    for _ in range(rounds):
        t0 = time.perf_counter()
        top = review.queue(db, limit=1).entries[0]
        review.adjudicate(db, reviewer, top.sentence_id, ["none"], cfg, rationale="bench")
        nxt = review.queue(db, limit=20)
        review.load(db, nxt.entries[0].sentence_id)
        decide.append((time.perf_counter() - t0) * 1000)
    total_after = review.queue(db).total
    # An annotator labels an open sentence elsewhere: the reviewer's next rerun refreshes.
    after_label = []
    for _ in range(min(rounds, 20)):
        item = annotate.next_item(db, reviewer, cfg)
        if item is None:
            break
        annotate.save(db, reviewer, item.sentence_id, cfg, labels=["demand"])
        t0 = time.perf_counter()
        review.queue(db)
        after_label.append((time.perf_counter() - t0) * 1000)
    fl = []
    for _ in range(5):
        t0 = time.perf_counter()
        review.flagged(db)
        fl.append((time.perf_counter() - t0) * 1000)
    counts = {"sentences": db.execute("SELECT count(*) FROM sentences").fetchone()[0],
              "annotations": db.execute("SELECT count(*) FROM annotations").fetchone()[0]}
    db.close()
    return {**counts, "queue_total": total_before, "queue_after_decisions": total_after,
            "cold_s": round(cold, 2), "warm_ms": _ms(warm), "filtered_ms": _ms(filt),
            "article_filter_ms": _ms(art), "decide_ms": _ms(decide),
            "after_label_ms": _ms(after_label) if after_label else None,
            "flagged_ms": _ms(fl),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="copy this database (else build one)")
    ap.add_argument("--sentences", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="parley-review-")
    path = os.path.join(tmp, "bench.db")
    facts: dict = {}
    try:
        if args.db:
            shutil.copyfile(args.db, path)
        else:
            from benchmarks.labeling_db import build

            facts = build(path, n_sentences=args.sentences, per_article=30, prefill=0.97,
                          pool=20, overlap=3, seed=0)
        out = {"benchmark": "review_queue", **facts, **measure(path, args.rounds),
               "target_page_load_s": 1.0}
        out["meets_target"] = out["decide_ms"]["p95"] <= 1000 and out["warm_ms"]["p95"] <= 1000
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
