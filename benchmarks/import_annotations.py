"""Benchmark: ``import-annotations`` throughput (labels made elsewhere, brought in).

    python -m benchmarks.import_annotations [--sentences 1000000] [--per-sentence 3]
        [--seed 0] [--cli-sentences 2000] [--profile FILE] [--keep]

Prints one JSON object. Target (docs/architecture.md): >= 100,000 rows/s at 1M sentences
(3M rows: 3 annotators per sentence).

How the project is built: ``benchmarks.synth`` articles of ``--sentences`` sentences,
written as JSONL and imported with ``ingest.import_paths`` (segmented, as ``import``
does), config overlap ``--per-sentence``. The content sentences' public ids
(``<article external id>:<index>``) are read back, and two files are written with
``--per-sentence`` labels per content sentence from ``--per-sentence`` of 12 annotators
(fixed seed; ``created_at``, ``duration_ms``, a note on 1% of rows): ``labels.csv`` and
``labels.jsonl`` (half of the JSONL rows use a ``labels`` list, half ``label``).

Measured: ``annotations_io.import_annotations`` (the function the command line calls) of
each file into its own copy of the project, each in a fresh child process so that its
``peak_rss_mb`` (``ru_maxrss``) is the import's own; ``rows_per_s`` is the CSV's (the
headline, also the summary figure) and the JSONL's is under ``jsonl``. At
``--cli-sentences`` (small), the same CSV import once through ``python -m labeling
import-annotations --json`` in a subprocess, to show the command takes the same path
(same report). The 1-minute load average before and after is printed: other work on a
shared machine inflates every wall time.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import synth

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("demand", "warning", "concession", "outcome", "none")
POOL = 12
TARGET_ROWS_PER_S = 100_000


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def build_project(folder: Path, n_sentences: int, per_sentence: int, seed: int
                  ) -> tuple[Path, list[str]]:
    """A project database of ``n_sentences`` synthetic sentences; returns its path and
    the public ids of its content sentences (in id order)."""
    from labeling import config, ingest, project, routing

    articles = folder / "articles.jsonl"
    with open(articles, "w", encoding="utf-8") as f:
        for art in synth.articles(n_sentences, seed):
            f.write(json.dumps({"id": art["id"], "title": art["title"], "text": art["text"]},
                               ensure_ascii=False) + "\n")
    path = folder / "base.db"
    db = project.init(str(path), seed=False)
    routing.apply_config(db, dataclasses.replace(config.default(), overlap=per_sentence))
    ingest.import_paths(db, [articles])
    articles.unlink()
    public = [f"{ext}:{idx}" for ext, idx in db.execute(
        "SELECT a.external_id, s.idx FROM sentences s JOIN articles a ON a.id = s.article_id "
        "WHERE s.kind = 'content' ORDER BY s.id")]
    db.close()
    return path, public


def write_files(folder: Path, public: list[str], per_sentence: int, seed: int
                ) -> tuple[Path, Path, int]:
    """``labels.csv`` and ``labels.jsonl`` with the same rows; returns (csv, jsonl, rows)."""
    rng = random.Random(seed)
    names = [f"coder-{i:02d}" for i in range(POOL)]
    csv_path, jsonl_path = folder / "labels.csv", folder / "labels.jsonl"
    rows = 0
    with open(csv_path, "w", newline="", encoding="utf-8") as fc, \
            open(jsonl_path, "w", encoding="utf-8") as fj:
        w = csv.writer(fc, lineterminator="\n")
        w.writerow(["sentence_id", "annotator", "label", "note", "created_at", "duration_ms"])
        for i, sid in enumerate(public):
            truth = rng.randrange(len(LABELS))
            for who in rng.sample(names, per_sentence):
                label = LABELS[truth] if rng.random() < 0.75 else rng.choice(LABELS)
                note = "checked twice" if rng.random() < 0.01 else ""
                stamp = (f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T"
                         f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z")
                dur = int(rng.lognormvariate(8.3, 0.6))
                w.writerow([sid, who, label, note, stamp, dur])
                obj = {"sentence_id": sid, "annotator": who, "created_at": stamp,
                       "duration_ms": dur}
                if rows % 2:
                    obj["labels"] = [label]
                else:
                    obj["label"] = label
                if note:
                    obj["note"] = note
                fj.write(json.dumps(obj) + "\n")
                rows += 1
    return csv_path, jsonl_path, rows


def measure(db_path: str, file: str, profile: str | None) -> dict:
    """One timed import of ``file`` into ``db_path`` (run in a fresh child process)."""
    from labeling import annotations_io, project

    db = project.init(db_path, seed=False)
    rss0 = _rss_mb()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if profile:
        import cProfile

        prof = cProfile.Profile()
        report = prof.runcall(annotations_io.import_annotations, db, file)
        prof.dump_stats(profile)
    else:
        report = annotations_io.import_annotations(db, file)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    facts = {"events": db.execute("SELECT count(*) FROM events").fetchone()[0],
             "annotations": db.execute("SELECT count(*) FROM annotations").fetchone()[0],
             "gold": db.execute("SELECT count(*) FROM gold").fetchone()[0]}
    db.close()
    return {"report": report.as_dict(), "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "rows_per_s": round(report.rows / seconds) if seconds else None,
            "rss_before_mb": rss0, "peak_rss_mb": _rss_mb(), **facts}


def _child(db_path: Path, file: Path, profile: str | None = None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.import_annotations", "--measure-only",
           "--db", str(db_path), "--file", str(file)]
    if profile:
        cmd += ["--profile", profile]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    return json.loads(proc.stdout)


def _cli(db_path: Path, file: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "labeling", "--db", str(db_path),
                           "import-annotations", str(file), "--json"],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    return {"report": json.loads(proc.stdout), "seconds_with_startup": round(seconds, 3)}


def run(n_sentences: int, per_sentence: int, seed: int, cli_sentences: int,
        profile: str | None, keep: bool) -> dict:
    """Build, write, import (CSV, JSONL, and the CLI at small size); the figures."""
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="parley-import-ann-"))
    try:
        t0 = time.perf_counter()
        base, public = build_project(tmp, n_sentences, per_sentence, seed)
        build_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        csv_path, jsonl_path, rows = write_files(tmp, public, per_sentence, seed)
        write_seconds = time.perf_counter() - t1
        results = {}
        for fmt, file in (("csv", csv_path), ("jsonl", jsonl_path)):
            target = tmp / f"{fmt}.db"
            shutil.copyfile(base, target)
            results[fmt] = _child(target, file, profile and f"{profile}.{fmt}")
            results[fmt]["file_mb"] = round(file.stat().st_size / 2**20, 1)
            target.unlink()
        if results["csv"]["report"] != results["jsonl"]["report"]:
            raise SystemExit("the CSV and JSONL imports reported different results")
        cli: dict = {"sentences": cli_sentences}
        if cli_sentences:
            small = tmp / "small"
            small.mkdir()
            sbase, spublic = build_project(small, cli_sentences, per_sentence, seed)
            scsv, _sj, _n = write_files(small, spublic, per_sentence, seed)
            in_process = small / "in_process.db"
            shutil.copyfile(sbase, in_process)
            cli["in_process"] = _child(in_process, scsv)["report"]
            cli.update(_cli(sbase, scsv))
            cli["same_report"] = cli["report"] == cli["in_process"]
        main = results["csv"]
        return {
            "benchmark": "import_annotations",
            "n_sentences": n_sentences, "content_sentences": len(public),
            "rows": rows, "seconds": main["seconds"], "rows_per_s": main["rows_per_s"],
            "peak_rss_mb": max(main["peak_rss_mb"], results["jsonl"]["peak_rss_mb"]),
            "csv": main, "jsonl": results["jsonl"], "cli": cli,
            "build_seconds": round(build_seconds, 1),
            "write_files_seconds": round(write_seconds, 1),
            "target_rows_per_s": TARGET_ROWS_PER_S,
            "meets_target": main["rows_per_s"] >= TARGET_ROWS_PER_S,
            "loadavg_1min_before_after": [round(load_before, 2),
                                          round(os.getloadavg()[0], 2)],
            "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(), "processor": platform.machine()},
        }
    finally:
        if keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: the benchmark (or, with --measure-only, one timed import)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=1_000_000)
    ap.add_argument("--per-sentence", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cli-sentences", type=int, default=2000,
                    help="size of the project imported once through the CLI (0: skip)")
    ap.add_argument("--profile", metavar="FILE",
                    help="write cProfiles of the imports to FILE.csv / FILE.jsonl")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure_only:
        print(json.dumps(measure(args.db, args.file, args.profile)))
        return 0
    print(json.dumps(run(args.sentences, args.per_sentence, args.seed, args.cli_sentences,
                         args.profile, args.keep)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
