"""Run every benchmark at one scale and print one JSON object plus a markdown table.

    python -m benchmarks                      # 1M sentences / ~3M annotations (slow: builds DBs)
    python -m benchmarks --sentences 100000   # a quicker look
    python -m benchmarks --only ingest,export --json-only

Each stage runs in its own process (so its peak RSS is its own, read from ``wait4``)
and prints JSON; this runner collects them under ``stages`` and adds a ``summary`` of the
figures docs/architecture.md sets targets for. A failed stage is reported, not hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# stage -> (module, extra args). The UI stage runs at its own (smaller) default unless
# --ui-sentences is given: it drives a real browser and AppTest, whose cost does not
# depend on corpus size once routing is indexed (benchmarks/labeling_db.py shows that).
STAGES = {
    "ingest": ("benchmarks.ingest", []),
    "labeling_db": ("benchmarks.labeling_db", []),
    "labeling_ui": ("benchmarks.labeling_ui", []),
    "agreement": ("benchmarks.agreement", []),
    "export": ("benchmarks.export", []),
    "import_annotations": ("benchmarks.import_annotations", []),
}

TARGETS = {
    "import_sentences_per_s": (">=", 50_000),
    "next_save_p95_ms": ("<=", 2.0),
    "apptest_click_p50_ms": ("<=", 25.0),
    "chromium_keypress_p50_ms": ("<=", 150.0),
    "agreement_seconds": ("<=", 2.0),
    "export_seconds": ("<=", 10.0),
    "export_peak_rss_mb": ("<=", 500.0),
    "export_with_csv_seconds": ("<=", 20.0),
    "server_rss_mb": ("<=", 300.0),
    "import_annotations_rows_per_s": (">=", 100_000),
}


def _last_json(text: str) -> dict:
    """The last JSON object a stage printed (single-line or indented)."""
    decoder = json.JSONDecoder()
    found: dict = {}
    i = 0
    while True:
        i = text.find("{", i)
        if i == -1:
            return found
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        if isinstance(obj, dict):
            found = obj
        i = end


def run_stage(name: str, sentences: int, extra: list[str]) -> dict:
    module, args = STAGES[name]
    cmd = [sys.executable, "-m", module, "--sentences", str(sentences), *args, *extra]
    print(f"[benchmarks] {name}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = _last_json(out)
    result["_stage"] = {"seconds": round(time.perf_counter() - t0, 1),
                        "exit_code": proc.returncode,
                        # Linux reports ru_maxrss in KiB: the stage process's own peak
                        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
    if proc.returncode != 0 or not result:
        result["_stage"]["error"] = f"exit code {proc.returncode}; no JSON" if not result \
            else f"exit code {proc.returncode}"
    return result


def _get(d: dict, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def _wall(v):
    return v.get("wall") if isinstance(v, dict) else v


def summarise(stages: dict) -> dict:
    """The headline figures, each with its target and whether it is met."""
    s: dict = {}
    ing, db, ui, ag, ex, ia = (stages.get(k, {}) for k in STAGES)
    s["import_sentences_per_s"] = _get(ing, "import_sentences_per_s")
    s["segment_sentences_per_s"] = _get(ing, "segment_sentences_per_s")
    s["import_peak_rss_mb"] = _get(ing, "peak_rss_mb")
    s["next_save_p50_ms"] = _get(db, "next_plus_save_ms", "p50")
    s["next_save_p95_ms"] = _get(db, "next_plus_save_ms", "p95")
    s["apptest_click_p50_ms"] = _get(ui, "apptest", "p50_ms")
    s["apptest_empty_app_p50_ms"] = _get(ui, "apptest", "empty_app_p50_ms")
    s["chromium_keypress_p50_ms"] = _get(ui, "chromium", "p50_ms")
    s["chromium_wrong_sentence"] = _get(ui, "chromium", "wrong_sentence")
    s["server_rss_mb"] = _get(ui, "chromium", "server_rss_mb")
    s["agreement_seconds"] = _get(ag, "cold_report_best_wall")
    s["agreement_report_only_seconds"] = _wall(_get(ag, "report_seconds"))
    s["krippendorff_package_seconds"] = _wall(_get(ag, "krippendorff_package_seconds"))
    s["alphas_equal"] = _get(ag, "alphas_equal_1e-9")
    s["export_seconds"] = _get(ex, "seconds")
    s["export_peak_rss_mb"] = _get(ex, "peak_rss_mb")
    s["export_with_csv_seconds"] = _get(ex, "with_csv", "seconds")
    s["export_load_average"] = _get(ex, "load_average_1min_before")
    s["import_annotations_rows_per_s"] = _get(ia, "rows_per_s")
    s["import_annotations_peak_rss_mb"] = _get(ia, "peak_rss_mb")
    for name, st in stages.items():
        s[f"{name}_stage_peak_rss_mb"] = _get(st, "_stage", "peak_rss_mb")
    met = {}
    for key, (op, target) in TARGETS.items():
        v = s.get(key)
        met[key] = None if v is None else (v >= target if op == ">=" else v <= target)
    s["targets"] = {k: f"{op} {t}" for k, (op, t) in TARGETS.items()}
    s["meets_target"] = met
    return s


def markdown(summary: dict) -> str:
    rows = [("import (segment + insert)", "import_sentences_per_s", "sentences/s"),
            ("segmentation alone", "segment_sentences_per_s", "sentences/s"),
            ("next sentence + save label, p50", "next_save_p50_ms", "ms"),
            ("next sentence + save label, p95", "next_save_p95_ms", "ms"),
            ("label page rerun (AppTest click), p50", "apptest_click_p50_ms", "ms"),
            ("empty app rerun (AppTest), p50", "apptest_empty_app_p50_ms", "ms"),
            ("key press -> next sentence (Chromium), p50", "chromium_keypress_p50_ms", "ms"),
            ("presses applied to the wrong sentence", "chromium_wrong_sentence", ""),
            ("server RSS while serving", "server_rss_mb", "MB"),
            ("agreement report (load + compute)", "agreement_seconds", "s"),
            ("agreement compute only", "agreement_report_only_seconds", "s"),
            ("`krippendorff` package, same alpha", "krippendorff_package_seconds", "s"),
            ("export Parquet + JSONL + raw", "export_seconds", "s"),
            ("export peak RSS", "export_peak_rss_mb", "MB"),
            ("export Parquet + JSONL + CSV + raw", "export_with_csv_seconds", "s"),
            ("load average before the export", "export_load_average", ""),
            ("import peak RSS", "import_peak_rss_mb", "MB"),
            ("import-annotations (CSV, 3 labels per sentence)",
             "import_annotations_rows_per_s", "rows/s"),
            ("import-annotations peak RSS", "import_annotations_peak_rss_mb", "MB")]
    lines = ["| what | measured | target | met |", "|---|---|---|---|"]
    for label, key, unit in rows:
        v = summary.get(key)
        shown = "—" if v is None else (f"{v:,.0f}" if isinstance(v, (int, float)) and v >= 1000
                                      else f"{v}")
        tgt = summary["targets"].get(key, "")
        met = summary["meets_target"].get(key)
        lines.append(f"| {label} | {shown} {unit} | {tgt} | "
                     f"{'' if met is None else ('yes' if met else 'no')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=1_000_000,
                    help="corpus size for every stage (default 1,000,000; ~3 annotations each)")
    ap.add_argument("--ui-sentences", type=int, default=None,
                    help="corpus size of the UI stage (default: same as --sentences)")
    ap.add_argument("--only", default=",".join(STAGES),
                    help=f"comma-separated stages (default: all of {', '.join(STAGES)})")
    ap.add_argument("--json-only", action="store_true", help="print only the JSON object")
    args = ap.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        ap.error(f"unknown stage(s): {', '.join(unknown)}")
    stages = {}
    for name in chosen:
        n = args.ui_sentences if (name == "labeling_ui" and args.ui_sentences) else args.sentences
        stages[name] = run_stage(name, n, [])
    result = {
        "sentences": args.sentences,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "processor": platform.machine(),
                    "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "summary": summarise(stages),
        "stages": stages,
    }
    print(json.dumps(result, default=str))
    if not args.json_only:
        print()
        print(markdown(result["summary"]))
    return 0 if all(st.get("_stage", {}).get("exit_code") == 0 for st in stages.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
