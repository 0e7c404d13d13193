"""Import throughput: segmentation alone, and the whole import (read + segment + insert).

    python -m benchmarks.ingest [--sentences 1000000] [--seed 0] [--profile]

Writes ``--sentences`` synthetic sentences (``benchmarks.synth``) as one JSONL file in a
temporary folder, then measures

* ``segment``: ``labeling.segment.segment`` over every article text, in this process;
* ``import``: ``ingest.import_paths`` of that file into a fresh database (read, decode,
  validate, dedupe, segment, insert), what ``python -m labeling import`` does;
* the peak resident memory of the import: a fresh child process that does only the
  import, sampled (with its segment helper) from the parent.

Prints one JSON object. Target (docs/architecture.md): >= 50,000 sentences/s end to end at 1M.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import synth


def _write_jsonl(path: Path, n_sentences: int, seed: int) -> tuple[int, int]:
    """The synthetic corpus as JSONL; returns (articles, sentences as generated)."""
    n_articles = n_true = 0
    with open(path, "w", encoding="utf-8") as f:
        for art in synth.articles(n_sentences, seed):
            f.write(json.dumps({"id": art["id"], "title": art["title"], "text": art["text"]},
                               ensure_ascii=False) + "\n")
            n_articles += 1
            n_true += art["n_sentences"]
    return n_articles, n_true


def _segment_pass(path: Path) -> dict:
    from labeling import segment

    with open(path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    t0 = time.perf_counter()
    units = sum(len(segment.segment(t)) for t in texts)
    seconds = time.perf_counter() - t0
    return {"units": units, "seconds": round(seconds, 3),
            "sentences_per_s": round(units / seconds)}


def _import_pass(path: str, db_file: str, profile: str | None, out: mp.Queue) -> None:
    """Child process: a fresh project database, then one timed import of ``path``."""
    from labeling import ingest, project

    db = project.init(db_file, seed=False)
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    if profile:
        import cProfile

        prof = cProfile.Profile()
        report = prof.runcall(ingest.import_paths, db, [path])
        prof.dump_stats(profile)
    else:
        report = ingest.import_paths(db, [path])
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    t = os.times()
    helper_cpu = t.children_user + t.children_system  # the segment helper (after close)
    stored = db.execute("SELECT count(*) FROM sentences").fetchone()[0]
    db.close()
    out.put({"articles_added": report.articles_added, "sentences_added": report.sentences_added,
             "sentences_stored": stored, "errors": len(report.errors),
             "seconds": round(seconds, 3),
             "sentences_per_s": round(report.sentences_added / seconds),
             # with the machine otherwise idle, wall time is about the larger of the two
             "cpu_seconds": round(cpu, 3),
             "cpu_seconds_main": round(cpu - helper_cpu, 3),
             "cpu_seconds_helper": round(helper_cpu, 3),
             "db_mb": round(os.path.getsize(db_file) / 2**20, 1)})


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the segment helper)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _watch_rss(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """Sample the resident memory of ``pid`` and its descendants (the import and its
    segment helper) until ``stop``; the largest sum goes in ``peak[0]`` (MB)."""
    import psutil

    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return
    while not stop.is_set():
        try:
            total = proc.memory_info().rss
            for kid in proc.children(recursive=True):
                try:
                    total += kid.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            return
        peak[0] = max(peak[0], total / 2**20)
        stop.wait(0.05)


def run(n_sentences: int, seed: int = 0, profile: str | None = None) -> dict:
    """Generate, import (in a fresh child process), segment; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
        data = Path(tmp) / "articles.jsonl"
        t0 = time.perf_counter()
        n_articles, n_true = _write_jsonl(data, n_sentences, seed)
        gen_seconds = time.perf_counter() - t0
        # The import runs first, in a clean spawned child, while this process is still
        # small: its memory is sampled from here (ru_maxrss would count this parent's
        # memory at fork time).
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_import_pass,
                            args=(str(data), str(Path(tmp) / "bench.db"), profile, queue))
        child.start()
        stop, peak = threading.Event(), [0.0]
        watcher = threading.Thread(target=_watch_rss, args=(child.pid, stop, peak), daemon=True)
        watcher.start()
        imp = queue.get()
        stop.set()
        watcher.join()
        child.join()
        imp["peak_rss_mb"] = round(peak[0], 1)
        seg = _segment_pass(data)
        file_mb = round(data.stat().st_size / 2**20, 1)
    return {
        "benchmark": "ingest",
        "n_sentences": n_sentences,
        "n_articles": n_articles,
        "synth_sentences": n_true,  # what the generator wrote; units found may differ a bit
        "jsonl_mb": file_mb,
        "generate_seconds": round(gen_seconds, 3),
        "segment": seg,
        "import": imp,
        "segment_sentences_per_s": seg["sentences_per_s"],
        "import_sentences_per_s": imp["sentences_per_s"],
        "seconds": imp["seconds"],
        "peak_rss_mb": imp["peak_rss_mb"],
        "target_sentences_per_s": 50_000,
        "meets_target": imp["sentences_per_s"] >= 50_000,
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "processor": platform.machine(),
                    # other work on the machine slows every figure: judge them with this
                    "load_average_1m": round(os.getloadavg()[0], 2)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", metavar="FILE",
                        help="write a cProfile of the import to FILE (slows it down)")
    args = parser.parse_args(argv)
    json.dump(run(args.sentences, args.seed, args.profile), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
