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

Streamed: one query walks the sentences in id order with their annotations grouped
(``db.export``), and rows go straight to the files, so memory does not grow with the
corpus (only the agreement table for the card does: a few bytes per annotation). Large
projects are written by several processes at once (see :func:`write_files`). All reads
see one snapshot of the database, and the files appear atomically: they are written in
a temporary folder next to ``out`` and renamed into place, so a crash never leaves half
a ``train.jsonl``.

An export only ever replaces or removes files it wrote itself: those listed in the
manifest of an earlier export in ``out``. A folder that holds anything else and no
manifest is refused (unless ``force``), and even then only files with the export's own
names are replaced; nothing else in it is touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

import sqlite_utils

import db as store
import db.export as q
from labeling import __version__, export_card, gold, project, splits
from labeling.config import ProjectConfig

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("jsonl", "csv", "raw")
#: Projects with at least this many annotations are exported by two processes.
PARALLEL_MIN_ANNOTATIONS = 200_000
_ROOT = Path(__file__).resolve().parents[1]
_READY_TIMEOUT = 60.0  # seconds a worker process may take to start and take its snapshot
DEFAULT_BOOTSTRAP = 1000
RAW_FILES = ("annotations.jsonl", "annotations.csv")
CARD_FILE = "README.md"
#: The list of the files an export wrote (name, bytes, sha256), written last. A new
#: export into the same folder replaces or removes only the files listed there.
MANIFEST_FILE = "parley-manifest.json"
MANIFEST_FORMAT = 1
_MANIFEST_MAX_BYTES = 1 << 20  # a real one is under 2 KB; never read a huge file whole

Progress = Callable[[float, str], None]

_FORMULA = frozenset(q.FORMULA_PREFIXES)
_encode = json.encoder.encode_basestring  # what json.dumps(s, ensure_ascii=False) does
_BUFFER = 1 << 20


class ExportError(Exception):
    """An export that cannot be made; the message says why and what to do."""


class OptionError(ExportError, ValueError):
    """Bad export options (format, policy, splits, min annotators)."""


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how. ``validated()`` checks every field (raises OptionError)."""

    formats: tuple[str, ...] = FORMATS
    gold_policy: str = gold.DEFAULT_POLICY
    ratios: tuple[float, float, float] | None = splits.DEFAULT_RATIOS
    seed: int = 0
    min_annotators: int = 2
    include_context: bool = False
    csv_exact: bool = False
    bootstrap: int = DEFAULT_BOOTSTRAP

    def validated(self) -> ExportOptions:
        """The same options, checked and normalised (formats in canonical order)."""
        if self.gold_policy not in gold.POLICIES:
            raise OptionError(f"unknown gold policy {self.gold_policy!r}; choose one of: "
                              + ", ".join(gold.POLICIES))
        try:
            ratios = splits.parse(self.ratios)
        except splits.SplitSpecError as exc:
            raise OptionError(str(exc)) from None
        if isinstance(self.min_annotators, bool) or int(self.min_annotators) < 1:
            raise OptionError(f"min annotators must be at least 1, got {self.min_annotators}")
        if self.bootstrap < 0:
            raise OptionError("bootstrap must be >= 0")
        return replace(self, formats=parse_formats(self.formats), ratios=ratios,
                       seed=int(self.seed), min_annotators=int(self.min_annotators))

    def command(self, out: str = "export") -> str:
        """The ``python -m labeling export`` command that makes this export."""
        parts = ["python -m labeling export", "--out", _shell_word(out),
                 "--format", ",".join(self.formats), "--gold", self.gold_policy,
                 "--splits", splits.format_ratios(self.ratios), "--seed", str(self.seed),
                 "--min-annotators", str(self.min_annotators)]
        if self.include_context:
            parts.append("--include-context")
        if self.csv_exact:
            parts.append("--csv-exact")
        return " ".join(parts)


def _shell_word(word: str) -> str:
    import shlex

    return shlex.quote(word)


def parse_formats(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"jsonl,csv"`` (or a sequence) -> ``("jsonl", "csv")`` in canonical order."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen = {str(x).strip().lower() for x in items if str(x).strip()}
    unknown = sorted(chosen - set(FORMATS))
    if unknown:
        raise OptionError(f"unknown format(s): {', '.join(unknown)}; "
                          f"choose from {', '.join(FORMATS)}")
    if not chosen:
        raise OptionError(f"choose at least one format from {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in chosen)


# ----------------------------------------------------------------------------- gold


class _Gold(NamedTuple):
    """A resolved sentence, pre-encoded for both file formats."""

    labels: tuple[str, ...] | None
    source: str | None
    reason: str | None
    labels_json: str = "[]"
    label_part: str = ""     # ',"label":"x"' for single-label projects, else ""
    label: str | None = None  # the CSV ``label`` cell
    pipe: str = ""            # labels joined with "|"


class _GoldCache:
    """``gold.resolve`` memoised on the sentence's stored labels.

    A million sentences share a few hundred distinct label combinations, so each
    combination is resolved (and its JSON encoded) once.
    """

    _MAX = 200_000

    def __init__(self, policy: str, min_annotators: int, single_label: bool):
        self.policy, self.min_annotators, self.single_label = policy, min_annotators, single_label
        self._cache: dict[tuple[str | None, str | None], _Gold] = {}

    def __call__(self, adjudicated: str | None, labels: str | None) -> _Gold:
        key = (adjudicated, labels)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._resolve(adjudicated, labels)
            if len(self._cache) > self._MAX:  # bound memory on pathological data
                self._cache.clear()
        return hit

    def _resolve(self, adjudicated: str | None, labels: str | None) -> _Gold:
        annotations = [json.loads(x) for x in labels.split("\x1f")] if labels else []
        adj = json.loads(adjudicated) if adjudicated else None
        res = gold.resolve(annotations, adj, self.policy, self.min_annotators)
        if res.labels is None:
            return _Gold(None, None, res.reason)
        label = None
        part = ""
        if self.single_label:
            # One label per sentence; an adjudicated set from a former multi-label
            # setup would keep its "|"-joined form rather than lose labels.
            label = res.labels[0] if len(res.labels) == 1 else "|".join(res.labels)
            part = ',"label":' + _encode(label)
        return _Gold(res.labels, res.source, None,
                     json.dumps(list(res.labels), ensure_ascii=False, separators=(",", ":")),
                     part, label, "|".join(res.labels))


# ----------------------------------------------------------------------------- sinks


def neutralise(value: str | None) -> str | None:
    """A cell a spreadsheet would run as a formula (it starts with = + - @ tab or CR)
    gets a leading ``'`` (OWASP CSV-injection guidance); anything else is unchanged."""
    if value and value[0] in _FORMULA:
        return "'" + value
    return value


def csv_field(value: str | int | None) -> str:
    """One CSV field, RFC 4180: quoted when it holds a quote, comma or line break."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _same(value: str | None) -> str | None:
    return value


class _Files:
    """Output files of one kind, one per split, opened in the temporary folder."""

    def __init__(self, folder: Path, names: Sequence[str], ext: str):
        self.paths = {n: folder / f"{n}.{ext}" for n in names}
        self.handles: dict[str, TextIO] = {
            # closed by close(): the files stay open for the whole sentence pass
            n: open(p, "w", encoding="utf-8", newline="", buffering=_BUFFER)  # noqa: SIM115
            for n, p in self.paths.items()}

    def close(self) -> None:
        for h in self.handles.values():
            h.close()


class _JsonlSink(_Files):
    """``<split>.jsonl``: one JSON object per line, keys in schema order."""

    def __init__(self, folder: Path, names: Sequence[str], options: ExportOptions,
                 single_label: bool):
        super().__init__(folder, names, "jsonl")
        self.context = options.include_context
        self.split_json = {n: ("null" if n == splits.NO_SPLIT else _encode(n)) for n in names}

    def write(self, split: str, pid: str, text: str, g: _Gold, ext: str, title: str | None,
              idx: int, n: int, ann: str, before: str | None, after: str | None) -> None:
        ctx = ""
        if self.context:
            ctx = (',"context_before":' + ("null" if before is None else _encode(before))
                   + ',"context_after":' + ("null" if after is None else _encode(after)))
        self.handles[split].write(
            '{"id":' + _encode(pid) + ',"text":' + _encode(text) + g.label_part
            + ',"labels":' + g.labels_json + ',"gold_source":"' + g.source
            + '","split":' + self.split_json[split] + ',"article_id":' + _encode(ext)
            + ',"article_title":' + ("null" if title is None else _encode(title))
            + ',"sentence_index":' + str(idx) + ',"n_annotators":' + str(n)
            + ',"annotations":' + ann + ctx + "}\n")


class _CsvSink(_Files):
    """``<split>.csv``: the same columns; labels joined with ``|``; annotations as JSON.

    Lines are built by hand (RFC 4180, CRLF): ``csv.writer`` spends most of its time
    doubling the quotes of the annotations JSON one character at a time; ``str.replace``
    does that several times faster.
    """

    def __init__(self, folder: Path, names: Sequence[str], options: ExportOptions,
                 single_label: bool):
        super().__init__(folder, names, "csv")
        self.context = options.include_context
        self.single = single_label
        self.cell = _same if options.csv_exact else neutralise
        header = ",".join(dataset_columns(single_label, options.include_context)) + "\r\n"
        for h in self.handles.values():
            h.write(header)
        self.split_cell = {n: ("" if n == splits.NO_SPLIT else n) for n in names}

    def write(self, split: str, pid: str, text: str, g: _Gold, ext: str, title: str | None,
              idx: int, n: int, ann: str, before: str | None, after: str | None) -> None:
        cell = self.cell
        parts = [csv_field(cell(pid)), csv_field(cell(text))]
        if self.single:
            parts.append(csv_field(g.label))
        parts += [g.pipe, g.source, self.split_cell[split], csv_field(cell(ext)),
                  csv_field(cell(title)), str(idx), str(n),
                  '"' + ann.replace('"', '""') + '"']  # a JSON array: never a formula
        if self.context:
            parts += [csv_field(cell(before)), csv_field(cell(after))]
        self.handles[split].write(",".join(parts) + "\r\n")


#: Dataset file writers by format name (``raw`` is written alongside, see _Raw).
SINKS: dict[str, type] = {"jsonl": _JsonlSink, "csv": _CsvSink}


def dataset_columns(single_label: bool, include_context: bool) -> list[str]:
    """Field names of a dataset record, in file order."""
    cols = ["id", "text"] + (["label"] if single_label else [])
    cols += ["labels", "gold_source", "split", "article_id", "article_title",
             "sentence_index", "n_annotators", "annotations"]
    if include_context:
        cols += ["context_before", "context_after"]
    return cols


# ----------------------------------------------------------------------------- passes


@dataclass
class _Stats:
    rows: dict[str, int]
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(gold.REASONS, 0))
    by_source: dict[str, int] = field(default_factory=lambda: dict.fromkeys(gold.SOURCES, 0))
    labels: Counter = field(default_factory=Counter)  # (split, label) -> sentences


def _sentence_pass(conn, folder: Path, options: ExportOptions, cfg: ProjectConfig,
                   total: int, progress: Progress) -> _Stats:
    """Resolve gold for every content sentence and write the dataset files."""
    single = not cfg.multi_label
    names = splits.names(options.ratios)
    sinks = [SINKS[f](folder, names, options, single) for f in options.formats if f in SINKS]
    stats = _Stats(rows=dict.fromkeys(names, 0))
    resolve = _GoldCache(options.gold_policy, options.min_annotators, single)
    assign = splits.Assigner(options.ratios, options.seed)
    excluded, by_source, rows, labels = stats.excluded, stats.by_source, stats.rows, stats.labels
    context = options.include_context
    done = 0
    try:
        for row in q.iter_sentences(conn, context=context):
            done += 1
            if not done % 50_000:
                progress(0.8 * done / max(total, 1), f"sentences: {done:,} of {total:,}")
            g = resolve(row[5], row[7])
            if g.source is None:
                excluded[g.reason] += 1
                continue
            ext = row[1]
            split = assign(ext)
            rows[split] += 1
            by_source[g.source] += 1
            for lab in g.labels:
                labels[split, lab] += 1
            pid = f"{ext}:{row[3]}"
            before, after = (row[9], row[10]) if context else (None, None)
            for sink in sinks:
                sink.write(split, pid, row[4], g, ext, row[2], row[3], row[6], row[8],
                           before, after)
    finally:
        for sink in sinks:
            sink.close()
    return stats


def write_raw_jsonl(conn, folder: Path, cfg: ProjectConfig, options: ExportOptions) -> None:
    """``annotations.jsonl``: every annotation, any status (JSON rendered by SQLite)."""
    with open(folder / RAW_FILES[0], "w", encoding="utf-8", newline="",
              buffering=_BUFFER) as fh:
        for chunk in q.iter_raw_jsonl(conn):
            fh.writelines(chunk)


def write_raw_csv(conn, folder: Path, cfg: ProjectConfig, options: ExportOptions) -> None:
    """``annotations.csv``: every annotation, any status (lines rendered by SQLite)."""
    with open(folder / RAW_FILES[1], "w", encoding="utf-8", newline="",
              buffering=_BUFFER) as fh:
        fh.write(",".join(q.RAW_COLUMNS) + "\r\n")
        for chunk in q.iter_raw_csv(conn, label_names=cfg.label_names,
                                    exact=options.csv_exact):
            fh.writelines(chunk)


def agreement_report(db: sqlite_utils.Database, options: ExportOptions) -> dict[str, Any]:
    """The card's agreement figures: ``labeling.reliability.report`` on every labeled
    annotation (imported here: numpy and pandas cost a worker that only writes files
    ~100 MB and a second of start-up)."""
    from labeling import reliability

    return reliability.report(db, bootstrap=options.bootstrap, seed=options.seed)


#: The raw files by name of the task that writes them (tasks run in this process or in
#: ``labeling.export_worker``).
RAW_TASKS: dict[str, Callable[..., None]] = {"jsonl": write_raw_jsonl, "csv": write_raw_csv}
RAW_TASK_FILES = {"jsonl": RAW_FILES[0], "csv": RAW_FILES[1]}


def file_digest(path: str | Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex digest}`` of the file at ``path`` (a manifest
    entry without its name)."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        size = os.fstat(fh.fileno()).st_size
    return {"bytes": size, "sha256": digest}


def options_to_json(options: ExportOptions) -> str:
    """The options as JSON (what a worker process receives)."""
    d = asdict(options)
    d["formats"] = list(d["formats"])
    d["ratios"] = None if d["ratios"] is None else list(d["ratios"])
    return json.dumps(d)


def options_from_json(text: str) -> ExportOptions:
    """The inverse of :func:`options_to_json`."""
    d = json.loads(text)
    d["formats"] = tuple(d["formats"])
    d["ratios"] = None if d["ratios"] is None else tuple(d["ratios"])
    return ExportOptions(**d).validated()


class _Worker:
    """``python -m labeling.export_worker`` running some tasks ("jsonl", "csv": raw files;
    "agreement": the report) as a child process, stopped by its own PID."""

    def __init__(self, path: str, folder: Path, options: ExportOptions, tasks: list[str]):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        # stderr goes to a file: a chatty child can never block on a full pipe
        self.err = tempfile.TemporaryFile()  # noqa: SIM115  (closed by stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "labeling.export_worker", str(Path(path).resolve()),
             str(folder), options_to_json(options), ",".join(tasks)],
            cwd=_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.err, text=True, encoding="utf-8")

    def wait_ready(self) -> None:
        """Return once the child holds its read snapshot ("ready" on its stdout). The
        caller holds the write gate meanwhile, so a child that never answers is stopped
        after ``_READY_TIMEOUT`` seconds rather than keep labelers waiting."""
        ready, _, _ = select.select([self.proc.stdout], [], [], _READY_TIMEOUT)
        if not ready or self.proc.stdout.readline().strip() != "ready":
            try:
                if self.proc.poll() is None:
                    self.proc.kill()
                self.proc.wait()
                self._raise()  # reads the child's stderr, which stop() closes
            finally:
                self.stop()

    def _raise(self) -> None:
        self.err.seek(0)
        lines = self.err.read().decode("utf-8", "replace").strip().splitlines()
        raise ExportError("the export worker failed: "
                          + (lines[-1] if lines else f"exit {self.proc.returncode}"))

    def result(self) -> dict[str, Any]:
        """Wait for the child; ``{"agreement": report or None, "digests": {file name:
        file_digest}}`` (the report only if it computed one; digests of the files it
        wrote, hashed there while this process goes on with its own files)."""
        out = self.proc.stdout.read()  # the child writes only "ready" and this line
        self.proc.wait()
        lines = out.strip().splitlines()
        if self.proc.returncode != 0 or not lines:
            self._raise()
        return json.loads(lines[-1])

    def stop(self) -> None:
        """Stop the child if it still runs; release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


# ----------------------------------------------------------------------------- export


def _now(now: datetime | None) -> datetime:
    if now is not None:
        return now
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible-builds convention
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC).replace(microsecond=0)


def _no_progress(fraction: float, message: str) -> None:
    pass


def export_files(options: ExportOptions) -> list[str]:
    """Names of the files an export with ``options`` writes, in the summary's order:
    dataset files, raw annotations, the card, the manifest (always last)."""
    names = splits.names(options.ratios)
    files = [f"{n}.{ext}" for ext in ("jsonl", "csv") if ext in options.formats for n in names]
    if "raw" in options.formats:
        files += list(RAW_FILES)
    return [*files, CARD_FILE, MANIFEST_FILE]


def manifest_text(entries: Sequence[dict[str, Any]], created: datetime) -> str:
    """The manifest: ``entries`` (``{"name", "bytes", "sha256"}`` per file written), the
    Parley version and the time, as indented JSON."""
    doc = {
        "parley_manifest": MANIFEST_FORMAT,
        "about": "The files a Parley export wrote into this folder. Exporting into the "
                 "folder again replaces or removes only these files.",
        "parley_version": __version__,
        "created_at": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "files": list(entries),
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def write_files(db: sqlite_utils.Database, folder: str | Path, options: ExportOptions, *,
                progress: Progress | None = None, now: datetime | None = None,
                command: str | None = None, parallel: bool | None = None) -> dict[str, Any]:
    """Write every export file, the manifest last, into the existing, empty ``folder``
    (not atomic: use :func:`export`). Returns the summary (see :func:`export`).

    ``parallel`` (default: when the project has at least ``PARALLEL_MIN_ANNOTATIONS``
    annotations and a database file): worker processes (``labeling.export_worker``) write
    ``annotations.jsonl`` and ``annotations.csv`` and compute the agreement figures, while
    this one resolves gold and writes the dataset files. All of them take their read
    snapshot inside ``db.export.write_gate``, so they read the same data, and the files
    are the same bytes either way. (Processes, not threads: Python's GIL changes hands
    around every row SQLite returns, and two threads ran slower than one.)
    """
    options = options.validated()
    folder = Path(folder)
    progress = progress or _no_progress
    cfg = project.load_config(db)
    t0 = time.perf_counter()
    path = getattr(db, "_parley_path", None)
    if not path or path == ":memory:":
        parallel = False
    elif parallel is None:
        parallel = q.annotation_count(db) >= PARALLEL_MIN_ANNOTATIONS
    raw = "raw" in options.formats
    workers: list[_Worker] = []
    with contextlib.ExitStack() as stack:
        if parallel:
            # Agreement alone: it needs numpy (~200 MB at 3M annotations) and the file
            # writers can then run without it; four processes share the two cores.
            plan = [["jsonl"], ["csv"], ["agreement"]] if raw else [["agreement"]]
            with q.write_gate(path):
                for tasks in plan:
                    workers.append(_Worker(path, folder, options, tasks))
                    stack.callback(workers[-1].stop)
                for w in workers:
                    w.wait_ready()
                conn = stack.enter_context(q.snapshot(db))
        else:
            conn = stack.enter_context(q.snapshot(db))
        progress(0.0, "reading sentences")
        counts = q.counts(conn)
        stats = _sentence_pass(conn, folder, options, cfg, counts["content"], progress)
        digests = {name: file_digest(folder / name) for name in export_files(options)
                   if name not in RAW_FILES and name not in (CARD_FILE, MANIFEST_FILE)}
        if workers:
            progress(0.8, "writing raw annotations, computing agreement")
            results = [w.result() for w in workers]
            agree = next(r["agreement"] for r in results if r["agreement"] is not None)
            for r in results:
                digests.update(r["digests"])
        else:
            if raw:
                progress(0.8, "writing raw annotations")
                for task, name in RAW_TASK_FILES.items():
                    RAW_TASKS[task](conn, folder, cfg, options)
                    digests[name] = file_digest(folder / name)
            progress(0.9, "computing agreement")
            agree = agreement_report(db, options)
    files = export_files(options)
    summary = {
        "out": None, "files": files, "rows": dict(stats.rows), "excluded": dict(stats.excluded),
        "gold_policy": options.gold_policy, "seed": options.seed,
        "gold_sources": dict(stats.by_source), "min_annotators": options.min_annotators,
        "splits": splits.format_ratios(options.ratios), "annotations": counts["annotations"],
    }
    card = export_card.render(
        cfg=cfg, options=options, summary=summary, counts=counts,
        label_counts=stats.labels, agreement=agree, created=_now(now),
        command=command or options.command(), columns=dataset_columns(
            not cfg.multi_label, options.include_context))
    (folder / CARD_FILE).write_text(card, encoding="utf-8", newline="\n")
    digests[CARD_FILE] = file_digest(folder / CARD_FILE)
    entries = [{"name": name, **digests[name]} for name in files if name != MANIFEST_FILE]
    (folder / MANIFEST_FILE).write_text(manifest_text(entries, _now(now)), encoding="utf-8",
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
    fd = _open_folder(out)  # refuse at once, before the work
    if fd is not None:
        try:
            _previous_files(fd, out, export_files(options), force)
        finally:
            os.close(fd)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        # mkdtemp makes the folder private (0700); a new ``out`` gets normal permissions.
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as exc:
        raise ExportError(f"cannot create the export folder {out}: {exc.strerror or exc}") from None
    try:
        try:
            summary = write_files(db, tmp, options, progress=progress, now=now,
                                  command=command or options.command(str(out)),
                                  parallel=parallel)
        except OSError as exc:
            raise ExportError(f"cannot write the export to {out}: {exc.strerror or exc}; "
                              "nothing was replaced") from None
        try:
            _publish(tmp, out, summary["files"], force)
        except OSError as exc:
            raise ExportError(f"cannot move the export into {out}: {exc.strerror or exc}; "
                              f"its {MANIFEST_FILE} lists every file of it there, so "
                              "exporting again cleans up") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    summary["out"] = str(out)
    return summary


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, briefly, for every
    thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _open_folder(out: Path) -> int | None:
    """A descriptor of the existing folder ``out``, or None when there is none yet.

    Later steps work through the descriptor, so they act on this very folder even if
    the path is changed meanwhile. A symbolic link or a file is an :class:`ExportError`.
    """
    try:
        mode = os.lstat(out).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ExportError(f"--out {out}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise ExportError(f"--out {out} is a symbolic link; give the folder itself, or a new "
                          "one, to write the export into")
    if not stat.S_ISDIR(mode):
        raise ExportError(f"--out {out} is a file; give a folder to write the export into")
    try:
        return os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ExportError(f"cannot open the export folder {out}: {exc.strerror or exc}"
                          ) from None


def _previous_files(fd: int, out: Path, files: Sequence[str],
                    force: bool) -> dict[str, dict]:
    """The manifest entries of the earlier export in the folder ``fd`` (``out``), by
    name: the files this export may replace or remove. Raises :class:`ExportError` when
    writing ``files`` there could destroy something Parley did not write (see
    :func:`export`); with ``force``, returns {} when there is no valid manifest."""
    try:
        entries = set(os.listdir(fd))
    except OSError as exc:
        raise ExportError(f"cannot read the export folder {out}: {exc.strerror or exc}"
                          ) from None
    for name in files:
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode):
            raise ExportError(f"{out / name} is a folder, but the export writes a file of "
                              "that name; move it away or export into another folder")
    if not entries:
        return {}
    listed, problem = _read_manifest(fd)
    if listed is None:
        if force:
            return {}
        why = problem or f"no {MANIFEST_FILE} of an earlier Parley export"
        raise ExportError(
            f"{out} is not empty and holds {why}, so its files may not be Parley's; nothing "
            "was changed. Export into a new or empty folder, or add --force to write there "
            "anyway (files with the export's names are replaced, all others are kept)")
    foreign = sorted((entries & set(files)) - set(listed) - {MANIFEST_FILE})
    if foreign and not force:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ExportError(
            f"{out} holds {shown}, which the earlier Parley export there did not write (its "
            f"{MANIFEST_FILE} does not list {'it' if len(foreign) == 1 else 'them'}); "
            "nothing was changed. Export into a new or empty folder, or add --force to "
            "replace them")
    return listed


def _read_manifest(fd: int) -> tuple[dict[str, dict] | None, str | None]:
    """``(entries by name, None)`` from the manifest in the folder ``fd``; ``(None,
    None)`` without one; ``(None, why)`` for one that is not a valid manifest.

    Valid entries name plain files directly in the folder: a manifest edited to list
    ``../x``, ``/etc/x`` or ``sub/x`` is not valid as a whole, so it can never make an
    export touch anything outside the folder.
    """
    def bad(why: str) -> tuple[None, str]:
        return None, f"a {MANIFEST_FILE} that is not a valid Parley manifest ({why})"

    try:
        # O_NOFOLLOW: a link is not our manifest; O_NONBLOCK: a FIFO must not hang us
        mfd = os.open(MANIFEST_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return bad(f"cannot be read: {exc.strerror or exc}")
    with os.fdopen(mfd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return bad("not a regular file")
        raw = fh.read(_MANIFEST_MAX_BYTES + 1)
    if len(raw) > _MANIFEST_MAX_BYTES:
        return bad("too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return bad("not JSON")
    if (not isinstance(doc, dict) or type(doc.get("parley_manifest")) is not int
            or doc["parley_manifest"] != MANIFEST_FORMAT or not isinstance(doc.get("files"), list)):
        return bad("no list of files in Parley's format")
    listed: dict[str, dict] = {}
    for entry in doc["files"]:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not _plain_name(name):
            return bad(f"it lists {str(name)[:60]!r}, not a file name in the folder")
        listed[name] = entry
    return listed, None


def _plain_name(name: object) -> bool:
    """Whether ``name`` names a file directly in a folder (no path, no ``..``)."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and name != MANIFEST_FILE and not any(c in name for c in "/\\")
            and all(ord(c) >= 32 for c in name))


def _publish(tmp: Path, out: Path, files: Sequence[str], force: bool) -> None:
    """Move the finished files from ``tmp`` into ``out``: the card after the data, the
    manifest last, and remove the files of the earlier export that this one did not
    write again (only those its manifest lists)."""
    for name in files:
        with open(tmp / name, "rb") as fh:
            os.fsync(fh.fileno())  # data on disk before the name points at it
    fd = _open_folder(out)
    if fd is None:
        os.rename(tmp, out)
        return
    try:
        # Checked again: the folder may have changed during a long export.
        listed = _previous_files(fd, out, files, force)
        src = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            new = json.loads((tmp / MANIFEST_FILE).read_text(encoding="utf-8"))
            stale = [entry for name, entry in sorted(listed.items()) if name not in files]
            # First a manifest of the old and the new files together: should the export
            # stop half way, it still names every Parley file in the folder, and the
            # next export replaces or removes them without asking for --force.
            interim = dict(new, files=new["files"] + stale)
            (tmp / ".interim").write_text(json.dumps(interim, indent=2) + "\n",
                                          encoding="utf-8")
            os.replace(".interim", MANIFEST_FILE, src_dir_fd=src, dst_dir_fd=fd)
            data = [n for n in files if n != MANIFEST_FILE]
            for name in sorted(data, key=lambda n: n == CARD_FILE):
                os.replace(name, name, src_dir_fd=src, dst_dir_fd=fd)
            for entry in stale:
                try:
                    mode = os.stat(entry["name"], dir_fd=fd, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(mode):  # a link goes, never what it points to
                    os.unlink(entry["name"], dir_fd=fd)
            os.replace(MANIFEST_FILE, MANIFEST_FILE, src_dir_fd=src, dst_dir_fd=fd)
        finally:
            os.close(src)
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- app helpers


def export_zip(db_path: str | os.PathLike, options: ExportOptions | None = None, *,
               progress: Progress | None = None, now: datetime | None = None) -> bytes:
    """The whole export as the bytes of a zip file (the app's download).

    Opens its own connection to ``db_path``: Streamlit runs a download callable on
    another thread, and a connection must not be shared across threads mid-transaction.
    """
    options = (options or ExportOptions()).validated()
    db = store.connect(db_path)
    try:
        with tempfile.TemporaryDirectory(prefix="parley-zip-") as tmp:
            summary = write_files(db, tmp, options, progress=progress, now=now,
                                  command=options.command("export"))
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED,
                                 compresslevel=6) as zf:
                for name in summary["files"]:
                    # A fixed timestamp: the same data gives the same zip bytes.
                    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o644 << 16
                    with open(Path(tmp) / name, "rb") as src, zf.open(info, "w") as dst:
                        shutil.copyfileobj(src, dst, _BUFFER)
            return buf.getvalue()
    finally:
        db.close()


@dataclass
class Preview:
    """What the Export page shows before download: first records, the card, the summary."""

    rows: list[dict]
    card: str
    summary: dict[str, Any]


def preview_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Preview records as a table: the annotations list as JSON text (one cell)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows))
    if "annotations" in frame:
        frame["annotations"] = [json.dumps(a, ensure_ascii=False) for a in frame["annotations"]]
    for col in ("labels",):
        if col in frame:
            frame[col] = ["|".join(v) for v in frame[col]]
    return frame


def preview(db_path: str | os.PathLike, options: ExportOptions | None = None, *,
            limit: int = 20, progress: Progress | None = None,
            now: datetime | None = None) -> Preview:
    """Run the export into a temporary folder (own connection) and return the first
    ``limit`` records of the first non-empty split, the card and the summary."""
    options = (options or ExportOptions()).validated()
    if "jsonl" not in options.formats:  # the preview reads the JSONL records
        options = replace(options, formats=("jsonl", *options.formats)).validated()
    db = store.connect(db_path)
    try:
        with tempfile.TemporaryDirectory(prefix="parley-preview-") as tmp:
            summary = write_files(db, tmp, options, progress=progress, now=now,
                                  command=options.command("export"))
            rows: list[dict] = []
            for name in splits.names(options.ratios):
                with open(Path(tmp) / f"{name}.jsonl", encoding="utf-8") as fh:
                    for line in fh:
                        rows.append(json.loads(line))
                        if len(rows) >= limit:
                            break
                if len(rows) >= limit:
                    break
            card = (Path(tmp) / CARD_FILE).read_text(encoding="utf-8")
    finally:
        db.close()
    return Preview(rows=rows, card=card, summary=summary)
