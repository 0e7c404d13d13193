"""Files -> articles and sentences: ``python -m labeling import`` and the Import page.

A file is imported whole or not at all (one ``BEGIN IMMEDIATE`` transaction per file).
Without ``skip_bad`` every file is read and validated before anything is written, so a
bad file anywhere leaves the database exactly as it was. With ``skip_bad`` good rows
are imported and bad ones listed.

The package, in the order an import runs:

* ``read``: files and folders -> :class:`Article` objects (text, CSV, JSONL; formats,
  field detection), through ``clean`` (decoding, normalising, checking text);
* ``identity``: new articles, duplicates (same normalised text) and id clashes;
* ``parallel``: segmenting on two cores for big files;
* ``write``: one transaction per file (articles, sentences with their routing);
* ``progress``: the steps reported to a progress display;
* ``peek``: what the Import page shows before importing (columns, first article).

:func:`import_paths` (here) runs them; the names below are what callers use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from labeling.ingest.clean import MAX_LINE_CHARS, MAX_TITLE_CHARS, decode, normalise
from labeling.ingest.identity import Seen
from labeling.ingest.parallel import PARALLEL_MIN_CHARS, Segmenter
from labeling.ingest.peek import JSONL_SAMPLE_ROWS, Columns, Preview, detect_columns, preview
from labeling.ingest.progress import STEP_ARTICLES, STEP_ROWS, ImportStep, Steps, counted, stepper
from labeling.ingest.read import (ARTICLE_FORMATS, CSV_EXTENSIONS, DATE_FIELDS, ID_FIELDS,
                                  JSONL_EXTENSIONS, NO_FIELD, SOURCE_FIELDS, TEXT_EXTENSIONS,
                                  TEXT_FIELDS, TITLE_FIELDS, URL_FIELDS, Article, FieldMap,
                                  check_format, detect_format, iter_files, read_csv, read_file,
                                  read_jsonl, read_text_file)
from labeling.ingest.write import ArticleImportReport, Routing
from labeling.ingest.write import import_file as _import_file
from labeling.records import IngestError

if TYPE_CHECKING:
    from labeling.project import Project

__all__ = [
    "ARTICLE_FORMATS", "CSV_EXTENSIONS", "DATE_FIELDS", "ID_FIELDS",
    "JSONL_EXTENSIONS", "JSONL_SAMPLE_ROWS", "MAX_LINE_CHARS", "MAX_TITLE_CHARS", "NO_FIELD",
    "PARALLEL_MIN_CHARS", "SOURCE_FIELDS", "STEP_ARTICLES", "STEP_ROWS", "TEXT_EXTENSIONS",
    "TEXT_FIELDS", "TITLE_FIELDS", "URL_FIELDS", "Article", "ArticleImportReport",
    "Columns", "FieldMap", "ImportStep", "IngestError", "Preview",
    "decode", "detect_columns", "detect_format", "import_paths", "iter_files", "normalise",
    "preview", "read_csv", "read_file", "read_jsonl", "read_text_file",
]


def import_paths(
    db: Project,
    paths: Iterable[str | Path],
    *,
    fmt: str = "auto",
    fields: FieldMap = FieldMap(),
    skip_bad: bool = False,
    progress: Callable[[int, int, ArticleImportReport], None] | None = None,
    on_step: Callable[[ImportStep], None] | None = None,
) -> ArticleImportReport:
    """Import files and folders into ``db``.

    Without ``skip_bad`` the first bad file or row raises :class:`IngestError` and
    nothing at all is written. With it, bad rows and files are listed in
    ``report.errors`` and everything else is imported. Re-importing a text that is
    already stored (same normalised sha256) is counted as a duplicate, not an error.
    ``report.warnings`` lists what folders held that was skipped (links, special files).
    ``progress(done, total, report)`` is called after each file; ``on_step`` (an
    :class:`ImportStep`) also within files, every ``STEP_ROWS`` rows read and
    ``STEP_ARTICLES`` articles stored, for large files (both read from this package
    when the import starts, so they can be changed here).
    """
    check_format("--format", fmt)
    report = ArticleImportReport()
    files = iter_files(paths, report.warnings)
    if not files:
        raise IngestError(", ".join(map(str, paths)) or "(no path)", None,
                          "no importable files (.txt .md .csv .tsv .jsonl .json)")
    if not skip_bad and len(files) > 1:
        # Validate everything first so a bad last file cannot leave the first ones imported.
        checked = Seen()
        for number, path in enumerate(files, 1):
            batch = checked.sort(db, counted(read_file(path, fmt, fields),
                                             stepper(on_step, "check", path, number,
                                                     len(files)), STEP_ROWS),
                                 skip_bad=False)
            checked.add(batch.fresh)
    routing = Routing.of(db)
    seen = Seen()
    segmenter = Segmenter()
    try:
        for done, path in enumerate(files, 1):
            try:
                # _import_file: looked up here at call time (tests replace it)
                _import_file(db, path, fmt, fields, skip_bad, report, seen, routing, segmenter,
                             step=Steps(on_step, path, done, len(files), STEP_ROWS,
                                        STEP_ARTICLES) if on_step else None)
            except IngestError as exc:
                if not skip_bad:
                    raise
                report.errors.append(str(exc))
            if progress is not None:
                progress(done, len(files), report)
    finally:
        segmenter.close()
    return report
