"""Benchmark: ``python -m labeling export`` on a large project, twice: Parquet + JSONL +
raw annotations (target <= 10 s, peak RSS <= 500 MB), and the same with CSV (<= 20 s).

    python -m benchmarks.export [--sentences 1000000] [--annotators-per-sentence 3]
        [--db PATH] [--keep] [--gold unanimous]

Prints one JSON object: ``seconds`` / ``peak_rss_mb`` of the first export, ``with_csv``
the figures of the second. Both also write labels.json, the card and the manifest.

How the database is built (fast synthetic insert, through db/ functions only):
- ``project.init(seed=False)``, the default config with ``overlap = 3``;
- ``benchmarks.labeling_db.build_corpus``: articles of 30 one-line sentences inserted with
  ``db.articles.insert_article`` / ``insert_sentences`` (no segmentation);
- 20 annotators; every sentence gets 3 labels from 3 distinct annotators
  (``db.annotations.insert_labeled_bulk``: one event + one annotation each, then
  ``recount_done``). Labels are realistic rather than uniform: each sentence has a
  seeded "true" label that each annotator gives with probability 0.8 (so most sentences
  are unanimous or have a majority, and the export writes most of the corpus);
- 2% of sentences get an adjudicated gold label (``db.gold.set_gold``), and one
  annotation in 50 gets a note with commas, quotes and a leading "=" (CSV neutralising).
At 1M sentences that is 3M annotations (and 3M events).

Also measured: ``preview_seconds``, the Export page's Preview (default options) in a
child process: it counts the whole project and renders the card without writing files.

Measured: the export runs as a child process (``python -m labeling --db PATH export
--out DIR --json``), so that its wall time includes start-up and its memory is not
inflated by building the database. ``peak_rss_mb`` is the peak over time of the summed
RSS of the export process and its worker processes (psutil, sampled every 20 ms);
``peak_rss_largest_process_mb`` the largest single process (``ru_maxrss`` via
``os.wait4``); ``cpu_seconds`` the user + system CPU time of all of them (with two
cores the wall time cannot drop below half of it). ``load_average_1min_before``: other work on this 2-core machine skews
timings, so it is reported with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

import db.annotations as annotations_db
import db.gold as gold_db
import db.sentences as sentences_db
from benchmarks.labeling_db import build_corpus
from db import write_transaction
from labeling import annotate, config, project, routing

LABELS = ("demand", "warning", "concession", "outcome", "none")
ROOT = Path(__file__).resolve().parents[1]
LOAD = [0.0]


def build(path: str, *, n_sentences: int, per_sentence: int, pool: int, seed: int) -> dict:
    """Create the benchmark database at ``path``; returns build facts."""
    t0 = time.perf_counter()
    db = project.init(path, seed=False)
    routing.apply_config(db, dataclasses.replace(config.default(), overlap=per_sentence))
    build_corpus(db, n_sentences, per_article=30)
    people = [annotate.add_annotator(db, f"pool-{i:02d}")["id"] for i in range(pool)]
    rng = random.Random(seed)
    ids = sentences_db.all_sentence_ids(db)
    stamp = "2024-01-01T00:00:00.000+00:00"
    n_ann = 0
    for i in range(0, len(ids), 200_000):
        rows = []
        for sid in ids[i:i + 200_000]:
            truth = rng.choice(LABELS)
            for who in rng.sample(people, per_sentence):
                lab = truth if rng.random() < 0.8 else rng.choice(LABELS)
                rows.append((sid, who, [lab], stamp))
        with write_transaction(db) as conn:
            n_ann += annotations_db.insert_labeled_bulk(conn, rows)
            # Notes on some annotations (insert_labeled_bulk writes none).
            conn.executemany(
                "UPDATE annotations SET note = ?, duration_ms = ? WHERE sentence_id = ? "
                "AND annotator_id = ?",
                [('=SUM(A1), "quoted", see p. 2', 1500, r[0], r[1]) for r in rows[::50]])
    adjudicated = ids[::50]
    with write_transaction(db) as conn:
        sentences_db.recount_done(conn)
        for sid in adjudicated:
            gold_db.set_gold(conn, sentence_id=sid, labels=[rng.choice(LABELS)], source="adjudicated",
                       reviewer_id=people[0], rationale=None, event_id=None, now=stamp)
    db.execute("ANALYZE")
    db.close()
    return {"build_s": round(time.perf_counter() - t0, 1), "annotations": n_ann,
            "adjudicated": len(adjudicated)}


def _tree_rss(proc: psutil.Process) -> int:
    """RSS of a process and all its descendants (the export's workers), in bytes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass  # exited between listing and reading
    return total


def measure(path: str, out: str, gold: str, formats: str) -> dict:
    """Run the export CLI as a child: wall time, its JSON summary, and memory: the peak
    over time of the summed RSS of the export process and its worker processes (sampled
    every 20 ms with psutil), plus the largest single process (``ru_maxrss`` from
    ``os.wait4``, which covers the workers it waited for)."""
    cmd = [sys.executable, "-m", "labeling", "--db", path, "export", "--out", out,
           "--format", formats, "--gold", gold, "--json"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = {"rss": 0}
    watcher = psutil.Process(proc.pid)

    def sample() -> None:
        while proc.poll() is None:
            try:
                peak["rss"] = max(peak["rss"], _tree_rss(watcher))
            except psutil.Error:
                return
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"export failed ({proc.returncode}): {stderr.decode()[-2000:]}")
    summary = json.loads(stdout)
    sizes = {f: round(os.path.getsize(Path(out) / f) / 2**20, 1) for f in summary["files"]}
    return {"formats": formats, "seconds": round(seconds, 2),
            "export_seconds_inside": summary["seconds"],
            "peak_rss_mb": round(peak["rss"] / 2**20, 1),
            "peak_rss_largest_process_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
            # CPU of the export and its workers: on 2 cores, wall >= cpu_seconds / 2
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "rows": summary["rows"], "excluded": summary["excluded"],
            "gold_sources": summary["gold_sources"], "file_mb": sizes,
            "total_mb": round(sum(sizes.values()), 1), "load_average_1min_before": LOAD[0]}


_PREVIEW = """
import json, sys, time
t0 = time.perf_counter()
from labeling import export_options, export_preview
shown = export_preview.preview(sys.argv[1], export_options.ExportOptions())
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": len(shown.rows)}))
"""


def measure_preview(path: str) -> dict:
    """The Export page's Preview with its default options, in a child process (its
    imports included, as on a first preview): wall seconds. It counts every sentence and
    computes the agreement figures, but writes no file."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PREVIEW, path], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"preview failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"preview_seconds": round(time.perf_counter() - t0, 2),
            "preview_seconds_inside": round(json.loads(proc.stdout)["seconds"], 2)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=1_000_000)
    ap.add_argument("--annotators-per-sentence", type=int, default=3)
    ap.add_argument("--pool", type=int, default=20, help="annotators in the project")
    ap.add_argument("--gold", default="unanimous", help="gold policy of the measured export")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--db", help="reuse (or create) this database instead of a temp file")
    ap.add_argument("--keep", action="store_true", help="keep the temp database and export")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="parley-bench-export-")
    path = args.db or os.path.join(tmp, "bench.db")
    facts: dict = {"reused_db": Path(path).exists()}
    try:
        if not facts["reused_db"]:
            facts.update(build(path, n_sentences=args.sentences,
                               per_sentence=args.annotators_per_sentence, pool=args.pool,
                               seed=args.seed))
        LOAD[0] = round(os.getloadavg()[0], 2)  # other work on the machine skews timings
        result = measure(path, os.path.join(tmp, "out"), args.gold, "parquet,jsonl,raw")
        LOAD[0] = round(os.getloadavg()[0], 2)
        result["with_csv"] = measure(path, os.path.join(tmp, "out-csv"), args.gold,
                                     "parquet,jsonl,csv,raw")
        result.update(measure_preview(path))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)
    out = {"benchmark": "export", "sentences": args.sentences, **facts, **result,
           "target_seconds": 10, "target_peak_rss_mb": 500, "target_with_csv_seconds": 20,
           "meets_target": (result["seconds"] <= 10 and result["peak_rss_mb"] <= 500
                            and result["with_csv"]["seconds"] <= 20)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
