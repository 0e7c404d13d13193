"""The dataset export: gold labels with provenance, raw annotations, splits, a card.

``export(db, out, options)`` writes into ``out``:

* ``train/dev/test.jsonl`` (or ``dataset.jsonl`` without splits): one record per sentence
  that has a gold label under the chosen policy (``labeling.gold``), with the rule that
  produced it (``gold_source``) and every labeled annotation;
* the same as CSV, spreadsheet-safe unless ``csv_exact``;
* ``annotations.jsonl`` / ``annotations.csv``: every annotation (labeled or skipped),
  whatever the policy;
* ``README.md``: the dataset card (``labeling.export_card``);
* ``parley-manifest.json``: every file above with its size and SHA-256.

This module runs the export; each of its parts is a module of its own:

* ``labeling.export_options``: the options, the equivalent shell command, file names;
* ``labeling.export_records``: gold, split and counts per sentence (the one pass);
* ``labeling.export_sinks``: the JSONL / CSV / raw file writers;
* ``labeling.export_worker``: the worker processes of a large export;
* ``labeling.export_publish``: the manifest and the atomic move into ``out``;
* ``labeling.export_preview`` and ``labeling.export_zip``: what the Export page shows
  and downloads.

Streamed: one query walks the sentences in id order with their annotations grouped
(``db.export``), and rows go straight to the files, so memory does not grow with the
corpus (only the agreement table for the card does: a few bytes per annotation). Large
projects are written by several processes at once (see :func:`write_files`). All reads
see one snapshot of the database, and the files appear atomically (see
``labeling.export_publish``): a crash never leaves half a ``train.jsonl``, and an export
only ever replaces or removes files it wrote itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

import db.export as export_db
from db.connection import path_of
from labeling import export_card, export_publish, export_schema, export_sinks, project, splits
from labeling.config import ProjectConfig
from labeling.export_options import (CARD_FILE, LABELS_FILE, MANIFEST_FILE, ExportError,
                                     ExportOptions, export_files, raw_file)
from labeling.export_records import Progress, Stats, sentence_pass
from labeling.export_schema import dataset_columns
from labeling.export_worker import Worker


#: Projects with at least this many annotations are exported by two processes.
PARALLEL_MIN_ANNOTATIONS = 200_000


def agreement_report(db: sqlite_utils.Database, options: ExportOptions) -> dict[str, Any]:
    """The card's agreement figures: ``labeling.reliability.report`` on every labeled
    annotation (imported here: numpy and pandas cost a worker that only writes files
    ~100 MB and a second of start-up)."""
    from labeling import reliability

    return reliability.report(db, bootstrap=options.bootstrap, seed=options.seed)


def _release_freed_memory() -> None:
    """Hand memory freed by the agreement figures back to the system (glibc keeps it
    for reuse otherwise; the export's sum of RSS over its processes is a target). A
    no-op where there is no glibc."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def created_at(now: datetime | None) -> datetime:
    """The export's date: ``now`` if given, else ``SOURCE_DATE_EPOCH`` (the
    reproducible-builds convention) if set, else the current second (UTC)."""
    if now is not None:
        return now
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC).replace(microsecond=0)


def no_progress(fraction: float, message: str) -> None:
    """A progress callback that shows nothing."""


def summary_of(options: ExportOptions, stats: Stats, counts: Mapping[str, int]
               ) -> dict[str, Any]:
    """The export's summary without ``seconds`` (see :func:`export`); ``out`` is None."""
    return {
        "out": None, "files": export_files(options, stats.rows), "rows": dict(stats.rows),
        "excluded": dict(stats.excluded), "gold_policy": options.gold_policy,
        "seed": options.seed, "gold_sources": dict(stats.by_source),
        "min_annotators": options.min_annotators,
        "splits": splits.format_ratios(options.ratios), "annotations": counts["annotations"],
    }


def card_of(cfg: ProjectConfig, options: ExportOptions, summary: Mapping[str, Any],
            stats: Stats, counts: Mapping[str, int], agreement: Mapping[str, Any],
            created: datetime, command: str) -> str:
    """The dataset card (``README.md``) of an export with this summary."""
    return export_card.render(
        cfg=cfg, options=options, summary=summary, counts=counts,
        label_counts=stats.labels, agreement=agreement, created=created,
        command=command, columns=dataset_columns(not cfg.multi_label, options.include_context,
                                                 options.embed_annotations))


def write_files(db: sqlite_utils.Database, folder: str | Path, options: ExportOptions, *,
                progress: Progress | None = None, now: datetime | None = None,
                command: str | None = None, parallel: bool | None = None) -> dict[str, Any]:
    """Write every export file, the manifest last, into the existing, empty ``folder``
    (not atomic: use :func:`export`). Returns the summary (see :func:`export`).

    ``parallel`` (default: when the project has at least ``PARALLEL_MIN_ANNOTATIONS``
    annotations, a database file and raw files to write): one worker process
    (``labeling.export_worker``) per raw annotation file, while this one computes the
    agreement figures, resolves gold and writes the dataset files. All of them take their read
    snapshot inside ``db.export.write_gate``, so they read the same data, and the files
    are the same bytes either way. (Processes, not threads: Python's GIL changes hands
    around every row SQLite returns, and two threads ran slower than one.)
    """
    options = options.validated()
    folder = Path(folder)
    progress = progress or no_progress
    cfg = project.load_config(db)
    t0 = time.perf_counter()
    path = path_of(db)
    if path is None or not options.raw_formats:  # workers only write raw files
        parallel = False
    elif parallel is None:
        parallel = export_db.annotation_count(db) >= PARALLEL_MIN_ANNOTATIONS
    workers: list[Worker] = []
    with contextlib.ExitStack() as stack:
        if parallel:
            # One process per raw file; this one writes the dataset files, then computes
            # the agreement figures (each process holds its own numpy and Arrow, ~100 MB:
            # at 3M annotations a separate agreement process took the sum of RSS past
            # 500 MB, and this process's work then matches the raw writer's).
            plan = [[f] for f in options.raw_formats]
            with export_db.write_gate(path):
                for tasks in plan:
                    workers.append(Worker(path, folder, options, tasks))
                    stack.callback(workers[-1].stop)
                for w in workers:
                    w.wait_ready()
                conn = stack.enter_context(export_db.snapshot(db))
        else:
            conn = stack.enter_context(export_db.snapshot(db))
        agree = None
        if workers:
            # First, while the workers start: this process's largest memory (the label
            # matrix) is then freed before theirs peaks, keeping the sum of RSS lower.
            progress(0.0, "computing agreement")
            agree = agreement_report(db, options)
            _release_freed_memory()
        progress(0.05 if workers else 0.0, "reading sentences")
        counts = export_db.counts(conn)
        sinks = export_sinks.dataset_sinks(folder, options, cfg.label_names,
                                           not cfg.multi_label)
        stats = sentence_pass(
            export_db.iter_sentences(conn, context=options.include_context,
                                     annotations=options.embed_annotations),
            options, cfg.label_names, not cfg.multi_label, sinks, counts["content"], progress)
        raw_names = {raw_file(f) for f in options.raw_formats}
        digests = {name: export_publish.file_digest(folder / name)
                   for name in export_files(options, stats.rows)
                   if name not in raw_names and name not in (LABELS_FILE, CARD_FILE,
                                                             MANIFEST_FILE)}
        if workers:
            progress(0.8, "writing raw annotations")
            for w in workers:
                digests.update(w.result()["digests"])
        else:
            for f in options.raw_formats:
                progress(0.8, f"writing raw annotations ({f})")
                export_sinks.RAW_TASKS[f](conn, folder, cfg, options)
                digests[raw_file(f)] = export_publish.file_digest(folder / raw_file(f))
            progress(0.9, "computing agreement")
            agree = agreement_report(db, options)
    (folder / LABELS_FILE).write_text(export_schema.labels_text(cfg), encoding="utf-8",
                                      newline="\n")
    digests[LABELS_FILE] = export_publish.file_digest(folder / LABELS_FILE)
    summary = summary_of(options, stats, counts)
    card = card_of(cfg, options, summary, stats, counts, agree, created_at(now),
                   command or options.command())
    (folder / CARD_FILE).write_text(card, encoding="utf-8", newline="\n")
    digests[CARD_FILE] = export_publish.file_digest(folder / CARD_FILE)
    entries = [{"name": name, **digests[name]} for name in summary["files"]
               if name != MANIFEST_FILE]
    (folder / MANIFEST_FILE).write_text(
        export_publish.manifest_text(entries, created_at(now)), encoding="utf-8",
        newline="\n")
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    progress(1.0, "done")
    return summary


def export(db: sqlite_utils.Database, out: str | Path, options: ExportOptions | None = None, *,
           progress: Progress | None = None, now: datetime | None = None,
           command: str | None = None, parallel: bool | None = None,
           force: bool = False) -> dict[str, Any]:
    """Export the dataset into the folder ``out`` (created if missing), atomically.

    Files are written into a temporary folder beside ``out`` and then moved in: into a
    new ``out`` with one rename, into an existing one file by file (each ``os.replace``
    is atomic), the manifest (``parley-manifest.json``) last.

    Only files Parley wrote are replaced or removed: those listed in the manifest of an
    earlier export in ``out``; a listed file this export does not write again (e.g.
    ``dataset.jsonl`` after switching splits on) is removed. An ``out`` that holds
    anything and no valid manifest, or a file with one of the export's names that the
    manifest does not list, is refused with :class:`ExportError` before anything is
    written, unless ``force``: then the export's files replace same-named ones and
    every other file is left alone (nothing unlisted is ever removed).

    Returns the summary ``{"out", "files", "rows": {split: n}, "excluded": {reason: n},
    "gold_policy", "seed", "gold_sources", "min_annotators", "splits", "annotations",
    "seconds"}``. ``progress(fraction, message)`` is called as the export advances; ``now``
    fixes the card's and the manifest's date (default: now, or ``SOURCE_DATE_EPOCH``);
    ``parallel``: see :func:`write_files`.
    Raises :class:`OptionError` for bad options and :class:`ExportError` when ``out``
    cannot or may not be written.
    """
    options = (options or ExportOptions()).validated()
    out = Path(out)
    export_publish.check_folder(out, export_files(options), force)  # refuse before the work
    tmp = export_publish.temp_folder(out)
    try:
        try:
            summary = write_files(db, tmp, options, progress=progress, now=now,
                                  command=command or options.command(str(out)),
                                  parallel=parallel)
        except OSError as exc:
            raise ExportError(f"cannot write the export to {out}: {exc.strerror or exc}; "
                              "nothing was replaced") from None
        try:
            export_publish.publish(tmp, out, summary["files"], force)
        except OSError as exc:
            raise ExportError(f"cannot move the export into {out}: {exc.strerror or exc}; "
                              f"its {MANIFEST_FILE} lists every file of it there, so "
                              "exporting again cleans up") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    summary["out"] = str(out)
    return summary
