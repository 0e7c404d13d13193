"""A look at a file before importing it (the Import page): its fields, the fields the
import would pick by itself, and its first article split into sentences."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass
from pathlib import Path

import db.articles as articles_db
from labeling import records, segment
from labeling.ingest.read import (ID_FIELDS, TEXT_FIELDS, TITLE_FIELDS, Article, FieldMap,
                                  check_format, csv_header, kind_of, pick, read_file,
                                  refuse_json_array)
from labeling.records import IngestError

if TYPE_CHECKING:
    from labeling.project import Project


@dataclass(frozen=True)
class Columns:
    """The fields of one file as an import would see them: ``kind`` (text, csv or
    jsonl), the field names (empty for a text file), and the text/title/id fields the
    import picks by itself when none is chosen (None: nothing matched)."""

    kind: str
    names: tuple[str, ...] = ()
    text: str | None = None
    title: str | None = None
    id: str | None = None


JSONL_SAMPLE_ROWS = 200  # rows whose keys detect_columns gathers (JSONL rows may differ)


def detect_columns(path: Path, fmt: str = "auto") -> Columns:
    """The fields of a CSV/TSV file (its header) or a JSONL file (the keys of its first
    ``JSONL_SAMPLE_ROWS`` objects, in order of appearance), with the guesses the import
    would make from ``TEXT_FIELDS``, ``TITLE_FIELDS`` and ``ID_FIELDS``.

    Reads only the head of the file. A bad header or first line raises IngestError (the
    message the import would give); bad later JSONL lines are passed over here (the
    import reports them)."""
    check_format(path, fmt)
    records.check_file_name(path)
    with records.open_input(path) as f:
        kind = kind_of(path, fmt, f)
        if kind == "text":
            return Columns("text")
        lines = records.LineReader(path, f)
        if kind == "csv":
            names = csv_header(path, lines)[1]
        else:
            names = _jsonl_keys(path, lines)
    guess = {what: pick(names, None, cands, path, what, "", False)
             for what, cands in (("text", TEXT_FIELDS), ("title", TITLE_FIELDS),
                                 ("id", ID_FIELDS))}
    return Columns(kind, tuple(names), **guess)


def _jsonl_keys(path: Path, lines: records.LineReader) -> list[str]:
    keys: dict[str, None] = {}
    rows = 0
    for lineno, raw in records.json_lines(lines):
        if rows == 0:
            refuse_json_array(path, lineno, raw)
        rows += 1
        try:
            obj = records.json_value(path, lineno, raw)
        except IngestError:
            if rows == 1:
                raise
            continue
        if isinstance(obj, dict):
            keys.update(dict.fromkeys(map(str, obj)))
        if rows >= JSONL_SAMPLE_ROWS:
            break
    if rows == 0:
        raise IngestError(path, None, "the file is empty")
    return list(keys)


@dataclass
class Preview:
    """The first article of a file as the import would store it: the article, its
    sentences as ``(text, kind)`` (kind ``content`` or ``boilerplate``) and, when the
    project already holds the same text, that article's id (the import would skip it)."""

    article: Article
    sentences: list[tuple[str, str]]
    stored_as: str | None = None


def preview(db: Project, path: Path, fmt: str = "auto",
            fields: FieldMap = FieldMap()) -> Preview:
    """The first article of ``path`` (read by ``read_file``, the import's own reader,
    which stops there) and its sentence split. IngestError when the file, or its first
    row, is bad: the message the import would give."""
    items = read_file(path, fmt, fields)
    try:
        first = next(items, None)
    finally:
        items.close()
    if first is None:
        raise IngestError(path, None, "no articles in the file")
    if isinstance(first, IngestError):
        raise first
    return Preview(first, segment.split(first.text), articles_db.find_by_sha(db, first.sha256))

