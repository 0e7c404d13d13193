"""Bringing existing labels in: ``python -m labeling import-annotations PATH``.

A file (CSV with a header row, or JSONL: one object per line) holds one label per row:

``sentence_id``
    the public id ``<external_id>:<idx>`` (what ``sentences`` and exports print); or
``text``
    the sentence text, matched exactly against the project's *content* sentences (a text
    shared by two sentences is an error: use ``sentence_id``);
``annotator``
    a name; unknown names are created as annotators on first use;
``label`` or ``labels``
    one label, or several: a JSON list (``["demand", "warning"]``), or ``|``-separated in
    CSV (``demand|warning``); each must be a label of the project config, and more than one
    only in a multi-label project;
``note``, ``created_at``, ``duration_ms``
    optional; ``created_at`` is ISO 8601 (no zone = UTC), default the import time.

The whole file is validated first; any problem (unknown sentence or label, ambiguous text,
missing column, broken line) raises :class:`AnnotationImportError` listing
``<file>:<line>: <problem>`` and nothing is written. A valid file is written in one
transaction, through the same rules as the app's save: each row is a ``label`` event
(source ``import:<file name>``), the current annotation of (sentence, annotator) becomes
the row's (a later row of the same pair wins, as a relabel does in the app; a flag set in
the app is kept), ``n_done`` and unanimous gold follow, the importing annotators' leases on
those sentences are released, and the guidelines version stored is the project's current
one.

Quota: imported labels are historical data, so they are accepted even when a sentence
already has as many annotators as its target; the report counts them (``over_target``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

import db.label_import as qi
import db.labels as ql
from db import write_transaction
from labeling import annotate, gold, project
from labeling.config import ProjectConfig

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MAX_ERRORS = 50  # listed; the count of the rest is added


class AnnotationImportError(ValueError):
    """The file cannot be imported; ``errors`` holds ``<file>:<line>: <problem>`` lines."""

    def __init__(self, errors: list[str], rows: int = 0):
        self.errors = list(errors)
        self.rows = rows
        super().__init__("\n".join(self.errors))


@dataclass
class ImportReport:
    """What an import did. ``rows``: data rows read; ``imported``: labels written;
    ``annotators_created``; ``over_target``: rows beyond their sentence's target
    (accepted); ``errors``: empty on success."""

    rows: int = 0
    imported: int = 0
    annotators_created: int = 0
    over_target: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` output."""
        return asdict(self)


@dataclass
class _Row:
    line: int
    sentence: tuple[str, int] | None  # (external_id, idx)
    text: str | None
    annotator: str
    labels: tuple[str, ...]
    note: str | None
    created_at: str | None
    duration_ms: int | None


class _Errors:
    def __init__(self, name: str):
        self.name = name
        self.items: list[str] = []
        self.count = 0

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append(f"{self.name}:{line}: {message}")

    def listed(self) -> list[str]:
        more = self.count - len(self.items)
        return self.items + ([f"{self.name}: ... and {more} more problems"] if more else [])


# ----------------------------------------------------------------------------- reading


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise AnnotationImportError(
            [f"{path.name}:{line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"]
        ) from None


def _csv_records(text: str, errors: _Errors) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        errors.add(1, f"unreadable CSV header ({exc})")
        return
    if header is None:
        return
    header = [h.strip().lower() for h in header]
    missing = _missing_columns(header)
    if missing:
        errors.add(1, missing)
        return
    line = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.add(line, f"unreadable CSV row ({exc})")
            return
        if any(v.strip() for v in values):
            if len(values) > len(header):
                errors.add(line, f"{len(values)} fields but the header has {len(header)}")
            else:
                yield line, dict(zip(header, values))
        line = reader.line_num + 1


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


def _jsonl_records(text: str, errors: _Errors) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.add(line, f"invalid JSON ({exc.msg}, column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            errors.add(line, "each line must be a JSON object")
            continue
        missing = _missing_columns(list(obj))
        if missing:
            errors.add(line, missing.replace("column", "field"))
            continue
        yield line, obj


def _text_field(record: dict[str, Any], key: str) -> str | None:
    """A string field of a row, or None; a number or list is a user error (ValueError)."""
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{key} must be a string, not {type(value).__name__}")


def _parse_labels(record: dict[str, Any]) -> list[str]:
    raw = record.get("labels")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raw = record.get("label")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise ValueError("no label")
        if not isinstance(raw, str):
            raise ValueError("label must be a string (use labels for a list)")
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
        raise ValueError(f"created_at {value!r} is not an ISO 8601 date-time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse_public_id(value: str) -> tuple[str, int]:
    ext, sep, idx = value.strip().rpartition(":")
    if not sep or not ext or not idx.strip().isdigit():
        raise ValueError(f"sentence_id {value!r} is not of the form <article id>:<index>")
    return ext, int(idx)


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
                             f"{', '.join(map(repr, unknown))}; the project's labels are "
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


def _parse(line: int, rec: dict[str, Any], p: _Parser, errors: _Errors) -> _Row | None:
    try:
        sid = _text_field(rec, "sentence_id")
        text = _text_field(rec, "text")
        sentence = _parse_public_id(sid) if sid and sid.strip() else None
        if sentence is None and not text:
            raise ValueError("no sentence_id or text")
        name = p.names.get_ok(_text_field(rec, "annotator") or "")
        labels = p.labels(rec)
        note = (_text_field(rec, "note") or "").strip() or None
        created = p.times.get_ok(_text_field(rec, "created_at"))
        dur = rec.get("duration_ms")
        duration = None
        if dur is not None and str(dur).strip() != "":
            try:
                duration = int(str(dur).strip())
            except ValueError:
                raise ValueError(f"duration_ms {dur!r} is not a whole number") from None
            if duration < 0:
                raise ValueError("duration_ms must not be negative")
    except ValueError as exc:
        errors.add(line, str(exc))
        return None
    return _Row(line, sentence, None if sentence else text, name, labels, note, created,
                duration)


def read_rows(path: str | Path, cfg: ProjectConfig) -> tuple[list[_Row], _Errors]:
    """Parse and check one file against the config (no database access)."""
    path = Path(path)
    errors = _Errors(path.name)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AnnotationImportError(
            [f"{path.name}: unknown file type {path.suffix!r}; use .csv or .jsonl"])
    try:
        text = _decode(path)
    except OSError as exc:
        raise AnnotationImportError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    records = _csv_records(text, errors) if fmt == "csv" else _jsonl_records(text, errors)
    parser = _Parser(cfg)
    rows = [r for line, rec in records
            if (r := _parse(line, rec, parser, errors)) is not None]
    return rows, errors


# ----------------------------------------------------------------------------- importing


def import_annotations(db: sqlite_utils.Database, path: str | Path, *,
                       cfg: ProjectConfig | None = None) -> ImportReport:
    """Validate ``path`` completely, then write all its labels in one transaction.

    Raises :class:`AnnotationImportError` (nothing written) when any row is bad.
    """
    path = Path(path)
    cfg = cfg or project.load_config(db)
    rows, errors = read_rows(path, cfg)
    n_rows = len(rows) + errors.count
    stamp = annotate.now_iso()
    with write_transaction(db) as conn:
        by_id = qi.find_by_public_id(conn, (r.sentence for r in rows if r.sentence))
        by_text = qi.find_content_by_text(conn, (r.text for r in rows if r.text is not None))
        resolved: list[tuple[_Row, int]] = []
        for r in rows:
            sid = _resolve(r, by_id, by_text, errors)
            if sid is not None:
                resolved.append((r, sid))
        if errors.count:
            raise AnnotationImportError(errors.listed(), rows=n_rows)
        ids = qi.annotator_ids(conn, {r.annotator for r, _ in resolved})
        created = 0
        for name in dict.fromkeys(r.annotator for r, _ in resolved):
            if name not in ids:
                ids[name] = ql.insert_annotator(conn, name, "annotator", None, stamp)
                created += 1
        result = qi.insert_labels(
            conn,
            [qi.ImportRow(sid, ids[r.annotator], list(r.labels), r.note, r.duration_ms,
                          r.created_at or stamp) for r, sid in resolved],
            source=f"import:{path.name}", guidelines_version=cfg.guidelines_version)
        _refresh_unanimous(conn, {sid for _, sid in resolved}, stamp)
    return ImportReport(rows=n_rows, imported=result["imported"], annotators_created=created,
                        over_target=result["over_target"])


def _resolve(r: _Row, by_id: dict, by_text: dict, errors: _Errors) -> int | None:
    """The sentence id a row refers to, or None after recording why not."""
    if r.sentence is not None:
        hit = by_id.get(r.sentence)
        public = f"{r.sentence[0]}:{r.sentence[1]}"
        if hit is None:
            errors.add(r.line, f"unknown sentence {public!r}")
            return None
        sid, kind = hit
        if kind != "content":
            errors.add(r.line, f"sentence {public!r} is not a content sentence "
                       "(bylines, credits and the like are not labeled)")
            return None
        return sid
    matches = by_text.get(r.text or "", [])
    if not matches:
        errors.add(r.line, "no content sentence has exactly this text; use sentence_id")
        return None
    if len(matches) > 1:
        shown = ", ".join(public for _sid, public in matches[:5]) + (" …" if len(matches) > 5 else "")
        errors.add(r.line, f"text matches {len(matches)} sentences ({shown}); "
                   "use sentence_id to say which")
        return None
    return matches[0][0]


def _refresh_unanimous(conn, sentence_ids: set[int], stamp: str) -> None:
    """The app's unanimous-gold rule (``annotate._refresh_unanimous``) for many sentences:
    every one of >= max(target, 2) annotators agrees -> unanimous gold; a unanimity that
    broke is withdrawn; adjudicated gold is never touched."""
    to_set, to_withdraw = [], []
    for sid, target, source, sets in qi.gold_inputs(conn, sentence_ids):
        if source == "adjudicated":
            continue
        agreed = gold.unanimous_gold(sets, max(target, 1))
        if agreed is not None:
            to_set.append((sid, agreed))
        elif source == "unanimous":
            to_withdraw.append(sid)
    qi.apply_gold(conn, set_unanimous=to_set, withdraw_unanimous=to_withdraw, now=stamp)
