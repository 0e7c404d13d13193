"""Rows of an annotation file (``import-annotations``), read and checked against the
project config without touching the database.

The file formats and columns are described in ``labeling.annotations_io``. Problems are
gathered as ``<file>:<line>: <problem>`` lines (at most ``MAX_ERRORS`` listed); a file
that cannot be read at all raises :class:`AnnotationImportError`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

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
    header = _checked_header(head_line, header, errors)
    if header is None:
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


def _json_object(path, line: int, text: str, errors) -> dict | None:
    """The JSON object on one line, or None with the line's problem noted in ``errors``
    (not JSON, not an object, a required field missing): the reference checks every
    JSONL reader applies."""
    try:
        obj = records.json_value(path, line, text)
    except IngestError as exc:
        errors.add(line, exc.message)
        return None
    if not isinstance(obj, dict):
        errors.add(line, "each line must be a JSON object")
        return None
    missing = _missing_columns(list(obj))
    if missing:
        errors.add(line, missing.replace("column", "field"))
        return None
    return obj


def _checked_header(line: int, header: list[str], errors) -> list[str] | None:
    """A CSV header normalised (trimmed, lower case), or None with its problem noted in
    ``errors`` (a column named twice, a required column missing): both CSV readers'
    check."""
    header = [h.strip().lower() for h in header]
    twice = records.duplicate_name(header)
    if twice is not None:
        errors.add(line, f"the column {clip(twice)} appears twice in the header")
        return None
    missing = _missing_columns(header)
    if missing:
        errors.add(line, missing)
        return None
    return header


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
        obj = _json_object(lines.path, line, raw, errors)
        if obj is not None:
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


# ----------------------------------------------------------------------------- in chunks
#
# ``import-annotations`` reads a file as chunks of compact tuples (``Fast`` rows) rather
# than ``Row`` objects: 3M rows as dataclasses and dicts cost gigabytes and most of the
# time. The fast reader vouches only for what it can check in bulk: UTF-8 text without
# NUL, control characters (tab included) or lone CR, no line over the limit, CSV records
# the csv module parses. Anything else raises :class:`Unusual` and the caller reads the
# file again through ``records`` (the reference path, :func:`iter_chunks` with
# ``fast=False``), so messages and results never depend on which reader ran. Within the
# fast reader, a row whose values are not of the plain form (a padded or odd sentence
# id, a bad label, a note over several lines...) is checked by :func:`_parse`, the same
# function the reference path uses.

# (line, external_id, idx, text, annotator name, labels, note, created_at, duration_ms)
Fast = tuple[int, str | None, int | None, str | None, str, tuple[str, ...], str | None,
             str | None, int | None]
BLOCK_BYTES = 1 << 20  # read size of the fast reader (cut at the last newline); a
# block lives as bytes, text and a StringIO at once: larger blocks show in peak memory
_MEMO_LIMIT = 100_000  # distinct values remembered per field (dates, durations...)
_FAST_ID = re.compile(r"(?!\s)(.+):([0-9]{1,18})\Z", re.DOTALL)
_UNUSUAL_BYTES = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


class Unusual(Exception):  # noqa: N818 (a signal, not an error)
    """The fast reader cannot vouch for this file: read it through ``records``."""


def _as_fast(r: Row) -> Fast:
    ext, idx = r.sentence if r.sentence is not None else (None, None)
    return (r.line, ext, idx, r.text, r.annotator, r.labels, r.note, r.created_at,
            r.duration_ms)


def iter_chunks(path: str | Path, cfg: ProjectConfig, errors: Errors, size: int, *,
                fast: bool = True) -> Iterator[list[Fast]]:
    """The valid rows of ``path`` in lists of at most ``size``, in file order; problems
    go to ``errors`` (as :func:`read_rows` records them). A file that cannot be read at
    all raises AnnotationImportError; with ``fast``, a file the fast reader cannot
    vouch for raises :class:`Unusual` (possibly after some chunks)."""
    path = Path(path)
    fmt = ANNOTATION_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AnnotationImportError([f"{errors.name}: unknown file type "
                                     f"{records.display(path.suffix)!r}; use .csv or .jsonl"])
    parser = _Parser(cfg)
    try:
        records.check_file_name(path)  # the name becomes the labels' source
        with records.open_input(path) as f:
            if fast:
                found = (_fast_csv(path, f, parser, errors) if fmt == "csv"
                         else _fast_jsonl(path, f, parser, errors))
            else:
                lines = records.LineReader(path, f)
                found = (_as_fast(r) for line, rec in (
                    _csv_records(lines, errors) if fmt == "csv" else _jsonl_records(lines, errors))
                    if (r := _parse(line, rec, parser, errors)) is not None)
            chunk: list[Fast] = []
            for row in found:
                chunk.append(row)
                if len(chunk) >= size:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
    except IngestError as exc:
        errors.add(exc.line, exc.message)
        raise AnnotationImportError(errors.listed(), rows=errors.count - errors.file_level
                                    ) from None


def _blocks(f, limit: int, csv_file: bool) -> Iterator[str]:
    """The file's text in blocks of whole lines; Unusual when a block holds anything
    the fast reader does not check row by row."""
    head = f.peek(16)[:16]
    if records.magic_problem(head) or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unusual
    if head.startswith(b"\xef\xbb\xbf"):
        f.read(3)
    tail = b""
    while True:
        data = f.read(BLOCK_BYTES)
        if not data:
            break
        data = tail + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > limit:
                raise Unusual
            tail = data
            continue
        tail = data[cut:]
        yield _check_block(data[:cut], limit, csv_file)
    if tail:
        yield _check_block(tail, limit, csv_file)


def _check_block(block: bytes, limit: int, csv_file: bool) -> str:
    if _UNUSUAL_BYTES.search(block):
        raise Unusual
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        raise Unusual  # a lone CR ends a CSV line: records counts those lines itself
    if len(block) > limit:
        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        starts = np.concatenate(([0], ends[:-1] + 1))
        if ends.size and int((ends - starts).max()) + 1 > limit:
            raise Unusual
        if ends.size and len(block) - int(ends[-1]) - 1 > limit:
            raise Unusual
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        raise Unusual from None


class _Memos:
    """Checked values by raw input for one file (ValueError: the row goes to _parse)."""

    def __init__(self, parser: _Parser):
        self.p = parser
        self.names: dict = {}
        self.labels: dict = {}
        self.times: dict = {}
        self.durations: dict = {}

    @staticmethod
    def _get(memo: dict, key, fn):
        try:
            return memo[key]
        except KeyError:
            pass
        try:
            value = fn()
        except ValueError as exc:
            value = exc
        if len(memo) < _MEMO_LIMIT:
            memo[key] = value
        return value

    def name(self, raw: str):
        return self._get(self.names, raw, lambda: _check_name(raw))

    def label_set(self, key, labels, label):
        return self._get(self.labels, key, lambda: self.p.labels(
            {"labels": labels, "label": label}))

    def time(self, raw):
        return self._get(self.times, raw, lambda: _parse_time(raw))

    def duration(self, raw):
        return self._get(self.durations, raw, lambda: _parse_duration(raw))


def _fast_csv(path: Path, f, parser: _Parser, errors: Errors) -> Iterator[Fast]:
    limit = records.max_field_bytes()
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)
    reader = csv.reader(itertools.chain.from_iterable(
        io.StringIO(b, newline="") for b in _blocks(f, limit, True)), strict=True)
    prev = 0

    def records_() -> Iterator[tuple[int, list[str]]]:
        nonlocal prev
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error:
                raise Unusual from None
            start, prev = prev + 1, reader.line_num
            if prev != start and (4 * sum(map(len, values)) + 3 * len(values) + 2 > limit):
                raise Unusual  # a record over several lines may pass the record limit
            yield start, values, prev != start

    stream = records_()
    for head_line, header, _multi in stream:
        if not header or (len(header) == 1 and header[0] and not header[0].strip(" \t")):
            continue  # a blank line (records skips those before the header)
        break
    else:
        errors.add(None, "the file is empty")
        return
    header = _checked_header(head_line, header, errors)
    if header is None:
        return
    col = {name: i for i, name in reversed(list(enumerate(header)))}  # first one wins
    # (a duplicate name was refused above; unnamed columns are never looked up)
    i_sid, i_text, i_name = col.get("sentence_id"), col.get("text"), col["annotator"]
    i_labels, i_label, i_note = col.get("labels"), col.get("label"), col.get("note")
    i_time, i_dur, i_status = col.get("created_at"), col.get("duration_ms"), col.get("status")
    ncols = len(header)
    memo = _Memos(parser)
    match_id = _FAST_ID.match
    rows = 0
    for line, values, multi in stream:
        if len(values) == ncols and not multi:
            rows += 1
            sid = values[i_sid] if i_sid is not None else ""
            ok = True
            if i_status is not None and values[i_status].strip() == "skipped":
                ok = False
            elif sid:
                m = match_id(sid)
                if m is None:
                    ok = False
                else:
                    ext, idx, text = m.group(1), int(m.group(2)), None
            else:
                ext = idx = None
                text = values[i_text] if i_text is not None else ""
                ok = bool(text)
            if ok:
                name = memo.name(values[i_name])
                lab_raw = values[i_labels] if i_labels is not None else None
                one = values[i_label] if i_label is not None else None
                labels = memo.label_set((lab_raw, one), lab_raw, one)
                created = memo.time(values[i_time]) if i_time is not None else None
                dur = memo.duration(values[i_dur]) if i_dur is not None else None
                if not (isinstance(name, ValueError) or isinstance(labels, ValueError)
                        or isinstance(created, ValueError) or isinstance(dur, ValueError)):
                    note = values[i_note].strip() or None if i_note is not None else None
                    yield (line, ext, idx, text, name, labels, note, created, dur)
                    continue
            r = _parse(line, dict(zip(header, values)), parser, errors)
            if r is not None:
                yield _as_fast(r)
            continue
        if not any(v.strip() for v in values):
            continue
        rows += 1
        if len(values) > ncols:
            errors.add(line, f"{len(values)} fields but the header has {ncols}")
            continue
        r = _parse(line, dict(zip(header, values)), parser, errors)
        if r is not None:
            yield _as_fast(r)
    if rows == 0:
        errors.add(None, "the CSV file has a header but no rows")


_PAIRS = json.JSONDecoder(object_pairs_hook=list)
_STR_OR_NONE = (str, type(None))


def _fast_jsonl(path: Path, f, parser: _Parser, errors: Errors) -> Iterator[Fast]:
    limit = records.max_field_bytes()
    memo = _Memos(parser)
    missing_by_keys: dict[tuple, str | None] = {}
    match_id = _FAST_ID.match
    decode = _PAIRS.decode
    lineno = 0
    rows = 0
    for block in _blocks(f, limit, False):
        lines = block.split("\n")
        last = len(lines) - 1  # "" after a final newline; else the file's unended line
        if lines[-1] == "":
            lines.pop()
        for k, s in enumerate(lines):
            lineno += 1
            if not s or s.isspace():
                continue
            rows += 1
            r = None
            if "\\" not in s:
                r = _fast_json_row(lineno, s, decode, memo, missing_by_keys, match_id)
            if r is not None:
                yield r
                continue
            # the reference checks of _jsonl_records, then _parse
            # with its newline, as records reads it (error columns count it)
            obj = _json_object(path, lineno, s if k == last else s + "\n", errors)
            if obj is None:
                continue
            row = _parse(lineno, obj, parser, errors)
            if row is not None:
                yield _as_fast(row)
    if rows == 0:
        errors.add(None, "the file is empty")


def _fast_json_row(line: int, s: str, decode, memo: _Memos, missing_by_keys: dict,
                   match_id) -> Fast | None:
    """The row of one plain JSON line, or None when it needs the reference checks."""
    try:
        pairs = decode(s)
    except Exception:  # noqa: BLE001 (any doubt: the reference path says what is wrong)
        return None
    if type(pairs) is not list or not pairs or type(pairs[0]) is not tuple:
        return None
    rec = dict(pairs)
    if len(rec) != len(pairs):
        return None  # a duplicate key
    keys = tuple(rec)
    if keys not in missing_by_keys:
        missing_by_keys[keys] = _missing_columns(list(keys))
    if missing_by_keys[keys]:
        return None
    get = rec.get
    sid, text, status = get("sentence_id"), get("text"), get("status")
    name_raw, note = get("annotator"), get("note")
    lab_raw, one, t_raw, d_raw = get("labels"), get("label"), get("created_at"), get("duration_ms")
    if not (type(sid) in _STR_OR_NONE and type(text) in _STR_OR_NONE
            and type(status) in _STR_OR_NONE and type(name_raw) is str
            and type(note) in _STR_OR_NONE and type(one) in _STR_OR_NONE
            and type(t_raw) in _STR_OR_NONE and type(d_raw) in (int, str, type(None))):
        return None
    if status is not None and status.strip() == "skipped":
        return None
    if type(lab_raw) is list:
        if not all(type(x) is str for x in lab_raw):
            return None
        key = ("list", tuple(lab_raw), one)
    elif type(lab_raw) in _STR_OR_NONE:
        key = ("str", lab_raw, one)
    else:
        return None
    if sid:
        m = match_id(sid)
        if m is None:
            return None
        ext, idx, text = m.group(1), int(m.group(2)), None
    elif sid is None or sid == "":
        if not text:
            return None
        ext = idx = None
    else:
        return None
    name = memo.name(name_raw)
    labels = memo.label_set(key, lab_raw, one)
    created = memo.time(t_raw)
    dur = memo.duration(d_raw) if type(d_raw) is str else d_raw
    if type(dur) is int and not 0 <= dur <= MAX_SQLITE_INT:
        return None
    if (isinstance(name, ValueError) or isinstance(labels, ValueError)
            or isinstance(created, ValueError) or isinstance(dur, ValueError)):
        return None
    note = (note or "").strip() or None
    return (line, ext, idx, text, name, labels, note, created, dur)
