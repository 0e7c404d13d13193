"""Rows of an annotation file (``import-annotations``), read and checked against the
project config without touching the database.

The file formats and columns are described in ``labeling.annotations_io``. Problems are
gathered as ``<file>:<line>: <problem>`` lines (at most ``MAX_ERRORS`` listed); a file
that cannot be read at all raises :class:`AnnotationImportError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labeling import annotate, records
from labeling.config import ProjectConfig
from labeling.records import IngestError, clip

# The annotation file formats, by extension (``import-annotations`` has no --format).
ANNOTATION_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MAX_ERRORS = 50  # listed; the count of the rest is added
MAX_SQLITE_INT = 2**63 - 1
_MAX_INDEX_DIGITS = 18  # every such number fits SQLite's 64-bit integers


class AnnotationImportError(ValueError):
    """The file cannot be imported; ``errors`` holds ``<file>:<line>: <problem>`` lines."""

    def __init__(self, errors: list[str], rows: int = 0):
        self.errors = list(errors)
        self.rows = rows
        super().__init__("\n".join(self.errors))


@dataclass
class Row:
    """One label of the file: the sentence as (external_id, idx) or as its text."""

    line: int
    sentence: tuple[str, int] | None  # (external_id, idx)
    text: str | None
    annotator: str
    labels: tuple[str, ...]
    note: str | None
    created_at: str | None
    duration_ms: int | None


class Errors:
    """The problems of one file, each ``<file>:<line>: <problem>``; ``count`` of all of
    them, ``file_level`` of those about the whole file, the first ``MAX_ERRORS`` kept."""

    def __init__(self, name: str):
        self.name = name
        self.items: list[str] = []
        self.count = 0
        self.file_level = 0  # problems of the whole file (empty, unreadable): not rows

    def add(self, line: int | None, message: str) -> None:
        """Record a problem at ``line`` (None: of the whole file)."""
        self.count += 1
        if line is None:
            self.file_level += 1
        if len(message) > 600:  # messages quote values, which may be megabytes long
            message = message[:599] + "…"
        if len(self.items) < MAX_ERRORS:
            self.items.append(f"{self.name}:{line}: {message}" if line
                              else f"{self.name}: {message}")

    def listed(self) -> list[str]:
        """The kept lines, and one saying how many more there were."""
        more = self.count - len(self.items)
        return self.items + ([f"{self.name}: ... and {more} more problems"] if more else [])


def _csv_records(lines: records.LineReader,
                 errors: Errors) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = iter(records.CsvRecords(lines))
    try:
        first = next(reader, None)
    except records.BadCsvRecord as exc:
        errors.add(exc.line or 1, f"unreadable CSV header ({exc.message})")
        return
    except IngestError as exc:  # not UTF-8, a NUL byte, too long
        errors.add(exc.line, exc.message)
        return
    if first is None:
        errors.add(None, "the file is empty")
        return
    head_line, header = first
    header = [h.strip().lower() for h in header]
    twice = records.duplicate_name(header)
    if twice is not None:
        errors.add(head_line, f"the column {clip(twice)} appears twice in the header")
        return
    missing = _missing_columns(header)
    if missing:
        errors.add(head_line, missing)
        return
    rows = 0
    while True:
        try:
            item = next(reader)
        except StopIteration:
            break
        except IngestError as exc:  # the reader cannot resynchronise: stop here
            errors.add(exc.line, exc.message)
            return
        line, values = item
        if any(v.strip() for v in values):
            rows += 1
            if len(values) > len(header):
                errors.add(line, f"{len(values)} fields but the header has {len(header)}")
            else:
                yield line, dict(zip(header, values))
    if rows == 0:
        errors.add(None, "the CSV file has a header but no rows")


def _missing_columns(columns: list[str]) -> str | None:
    """A message naming the missing required columns, or None."""
    need = []
    if not {"sentence_id", "text"} & set(columns):
        need.append("sentence_id (or text)")
    if "annotator" not in columns:
        need.append("annotator")
    if not {"label", "labels"} & set(columns):
        need.append("label (or labels)")
    if need:
        return f"missing column{'s' if len(need) > 1 else ''}: {', '.join(need)}"
    return None


def _jsonl_records(lines: records.LineReader,
                   errors: Errors) -> Iterator[tuple[int, dict[str, Any]]]:
    rows = 0
    stream = records.json_lines(lines)
    while True:
        try:
            line, raw = next(stream)
        except StopIteration:
            break
        except IngestError as exc:  # unreadable from here on (not UTF-8, too long)
            errors.add(exc.line, exc.message)
            return
        rows += 1
        try:
            obj = records.json_value(lines.path, line, raw)
        except IngestError as exc:
            errors.add(line, exc.message)
            continue
        if not isinstance(obj, dict):
            errors.add(line, "each line must be a JSON object")
            continue
        missing = _missing_columns(list(obj))
        if missing:
            errors.add(line, missing.replace("column", "field"))
            continue
        yield line, obj
    if rows == 0:
        errors.add(None, "the file is empty")


def _text_field(record: dict[str, Any], key: str, *, multiline: bool = False) -> str | None:
    """A string field of a row, or None; a number or list, or a control character, is a
    user error (ValueError). ``multiline`` fields allow tab and newline (CR LF and CR
    are read as newlines, as spreadsheets write them)."""
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {type(value).__name__}")
    if multiline and "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    bad = records.find_control(value, multiline=multiline)
    if bad is not None:
        raise ValueError(f"control character U+{ord(bad):04X} in {key}")
    return value


def _parse_labels(record: dict[str, Any]) -> list[str]:
    raw = record.get("labels")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raw = record.get("label")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise ValueError("no label")
        if not isinstance(raw, str):
            raise ValueError("label must be a string (use labels for a list)")
        if (bad := records.find_control(raw)) is not None:
            raise ValueError(f"control character U+{ord(bad):04X} in label")
        return [raw.strip()]
    if isinstance(raw, list):
        items = raw
    elif isinstance(raw, str):
        s = raw.strip()
        if s.startswith("["):
            try:
                items = json.loads(s)
            except json.JSONDecodeError as exc:
                raise ValueError(f"labels is not a valid JSON list ({exc.msg})") from None
            if not isinstance(items, list):
                raise ValueError("labels must be a JSON list")
        else:
            items = s.split("|")
    else:
        raise ValueError("labels must be a list or a string")  # noqa: TRY004
    if not all(isinstance(x, str) for x in items):
        raise ValueError("labels must be strings")
    for x in items:
        if (bad := records.find_control(x)) is not None:
            raise ValueError(f"control character U+{ord(bad):04X} in labels")
    items = [x.strip() for x in items if x.strip()]
    if not items:
        raise ValueError("no label")
    return items


def _parse_time(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"created_at {clip(value)} is not an ISO 8601 date-time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    try:
        return stamp.astimezone(UTC).isoformat(timespec="milliseconds")
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
        raise ValueError(f"created_at {clip(value)} is out of range in UTC "
                         "(years 1 to 9999)") from None


def _parse_public_id(value: str) -> tuple[str, int]:
    ext, sep, idx = value.strip().rpartition(":")
    idx = idx.strip()
    if not sep or not ext or not (idx.isascii() and idx.isdigit()):
        raise ValueError(f"sentence_id {clip(value)} is not of the form <article id>:<index>")
    if len(idx.lstrip("0")) > _MAX_INDEX_DIGITS:
        raise ValueError(f"sentence_id {clip(value)}: the index is too large")
    return ext, int(idx)


def _parse_duration(value: Any) -> int | None:
    """``duration_ms``: a whole number of milliseconds (a JSON integer or digits), or
    None; ValueError when it is anything else, negative or beyond a 64-bit integer."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(f"duration_ms {clip(value)} is not a whole number")
        if len(digits.lstrip("0")) > len(str(MAX_SQLITE_INT)):
            raise ValueError(f"duration_ms {clip(value)} is too large")
        number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"duration_ms {clip(value)} is not a whole number")
    if number < 0:
        raise ValueError("duration_ms must not be negative")
    if number > MAX_SQLITE_INT:
        raise ValueError(f"duration_ms {clip(number)} is too large (at most {MAX_SQLITE_INT})")
    return number


class _Memo(dict):
    """Results of a one-argument parser by input (files repeat labels, dates, articles)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __missing__(self, key):
        try:
            value = self.fn(key)
        except ValueError as exc:
            value = exc
        self[key] = value
        return value

    def get_ok(self, key):
        value = self[key]
        if isinstance(value, ValueError):
            raise value
        return value


class _Parser:
    """Row checks against one config, with memoised sub-parsers (100k rows in ~1 s)."""

    def __init__(self, cfg: ProjectConfig):
        self.cfg = cfg
        self.label_set = frozenset(cfg.label_names)
        self.times = _Memo(_parse_time)
        self.names = _Memo(_check_name)

    def labels(self, rec: dict[str, Any]) -> tuple[str, ...]:
        labels = tuple(dict.fromkeys(_parse_labels(rec)))
        unknown = [x for x in labels if x not in self.label_set]
        if unknown:
            raise ValueError(f"unknown label{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(clip, unknown))}; the project's labels are "
                             f"{', '.join(self.cfg.label_names)}")
        if len(labels) > 1 and not self.cfg.multi_label:
            raise ValueError(f"{len(labels)} labels, but this project allows one per sentence")
        return labels


def _check_name(name: str) -> str:
    name = name.strip()
    if not annotate.valid_name(name):
        raise ValueError(f"invalid annotator name {name!r}: use 1–40 letters, digits, "
                         "spaces or - _ .")
    return name


def _parse(line: int, rec: dict[str, Any], p: _Parser, errors: Errors) -> Row | None:
    try:
        if (_text_field(rec, "status") or "").strip() == "skipped":
            raise ValueError("status 'skipped': only labels can be imported (leave out "
                             "skipped rows)")
        sid = _text_field(rec, "sentence_id")
        text = _text_field(rec, "text", multiline=True)
        sentence = _parse_public_id(sid) if sid and sid.strip() else None
        if sentence is None and not text:
            raise ValueError("no sentence_id or text")
        name = p.names.get_ok(_text_field(rec, "annotator") or "")
        labels = p.labels(rec)
        note = (_text_field(rec, "note", multiline=True) or "").strip() or None
        created = p.times.get_ok(_text_field(rec, "created_at"))
        duration = _parse_duration(rec.get("duration_ms"))
    except ValueError as exc:
        errors.add(line, str(exc))
        return None
    return Row(line, sentence, None if sentence else text, name, labels, note, created,
                duration)


def read_rows(path: str | Path, cfg: ProjectConfig) -> tuple[list[Row], Errors]:
    """Parse and check one file against the config (no database access). A file that
    cannot be read at all raises AnnotationImportError; bad rows are in the errors."""
    path = Path(path)
    errors = Errors(records.display(path.name))
    fmt = ANNOTATION_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AnnotationImportError([f"{errors.name}: unknown file type "
                                     f"{records.display(path.suffix)!r}; use .csv or .jsonl"])
    try:
        records.check_file_name(path)  # the name becomes the labels' source
        with records.open_input(path) as f:
            lines = records.LineReader(path, f)
            found = (_csv_records(lines, errors) if fmt == "csv"
                     else _jsonl_records(lines, errors))
            parser = _Parser(cfg)
            rows = [r for line, rec in found
                    if (r := _parse(line, rec, parser, errors)) is not None]
    except IngestError as exc:
        errors.add(exc.line, exc.message)
        raise AnnotationImportError(errors.listed(), rows=errors.count - errors.file_level
                                    ) from None
    return rows, errors
