"""Files -> articles: text/markdown, CSV and JSONL files, folders; encodings; dedupe.

A file is imported whole or not at all (one ``BEGIN IMMEDIATE`` transaction per file).
Without ``skip_bad`` every file is read and validated before anything is written, so a
bad file anywhere leaves the database exactly as it was. With ``skip_bad`` good rows
are imported and bad ones listed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import sqlite_utils

import db.articles as q
from db import write_transaction
from db import settings as db_settings
from labeling import segment
from labeling.routing import order_key

FORMATS = ("auto", "text", "csv", "jsonl")
TEXT_EXTENSIONS = {".txt", ".md", ".markdown", ".text"}
CSV_EXTENSIONS = {".csv", ".tsv"}
JSONL_EXTENSIONS = {".jsonl", ".ndjson", ".json"}
MAX_LINE_CHARS = 1_000_000  # one line of a million characters is not news text
MAX_TITLE_CHARS = 300

# Common column names, first match wins (case-insensitive).
TEXT_FIELDS = ("text", "body", "content", "article", "story", "full_text", "fulltext")
TITLE_FIELDS = ("title", "headline", "head", "heading")
ID_FIELDS = ("id", "external_id", "article_id", "doc_id", "docid", "uid", "guid")
URL_FIELDS = ("url", "link", "href")
DATE_FIELDS = ("published_at", "date", "published", "pubdate", "publish_date", "datetime")
SOURCE_FIELDS = ("source", "outlet", "publisher", "site")

_NEWLINES = re.compile(r"\r\n?")
# NBSP, narrow NBSP, figure space: look like spaces, break tokenisers and hashing.
_SPACES = re.compile("[\u00a0\u202f\u2007]")
# C0 controls other than tab/newline, and DEL: never part of news text; a sign of a
# binary or corrupted file.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_MAGIC = {b"\x1f\x8b": "a gzip-compressed file; decompress it first",
          b"PK\x03\x04": "a zip archive; extract it first",
          b"%PDF": "a PDF; convert it to text first",
          b"\x89PNG": "an image, not text",
          b"\xff\xd8\xff": "an image, not text",
          b"SQLite format 3\x00": "an SQLite database, not text"}


class IngestError(ValueError):
    """Bad input: names the file and, when known, the line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


@dataclass
class Article:
    """One article read from a file, before segmentation."""

    path: str
    line: int | None
    external_id: str
    text: str
    title: str | None = None
    url: str | None = None
    published_at: str | None = None
    source: str | None = None
    meta: dict = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass
class ImportReport:
    """What an import did. ``as_dict`` gives the CLI's ``--json`` object."""

    articles_added: int = 0
    articles_skipped_duplicate: int = 0
    sentences_added: int = 0
    errors: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"articles_added": self.articles_added,
                "articles_skipped_duplicate": self.articles_skipped_duplicate,
                "sentences_added": self.sentences_added,
                "errors": list(self.errors)}


@dataclass(frozen=True)
class FieldMap:
    """Which CSV/JSONL fields to read; ``None`` means detect from common names."""

    text: str | None = None
    title: str | None = None
    id: str | None = None


# --------------------------------------------------------------------------- reading


def normalise(text: str) -> str:
    """Newlines to ``\\n``, non-breaking spaces to spaces, NFC; what is hashed and stored."""
    text = _NEWLINES.sub("\n", text)
    text = _SPACES.sub(" ", text)
    return unicodedata.normalize("NFC", text)


def decode(path: str | Path, data: bytes) -> str:
    """Bytes -> text: UTF-8 (with or without BOM) or UTF-16 with BOM; else IngestError."""
    if not data.strip():
        raise IngestError(path, None, "the file is empty")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise IngestError(path, None, f"this is {what}")
    if data.startswith(b"\xef\xbb\xbf"):
        data, encoding = data[3:], "utf-8"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
        nul = data.find(b"\x00")
        if nul != -1:
            raise IngestError(path, data.count(b"\n", 0, nul) + 1,
                              "binary data (a NUL byte): not a text file, or UTF-16 "
                              "without a byte-order mark; save it as UTF-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1 if encoding == "utf-8" else None
        raise IngestError(path, line, f"not valid {encoding.upper()} (byte offset {exc.start}); "
                          "Parley reads UTF-8, or UTF-16 with a byte-order mark") from None
    if not text.strip():
        raise IngestError(path, None, "the file is empty")
    return text


def _check_text(path: str, line: int | None, text: str, *, first_line: int = 1) -> None:
    """Reject control characters and absurdly long lines, naming the line."""
    m = _CONTROL.search(text)
    if m:
        ln = line if line is not None else first_line + text.count("\n", 0, m.start())
        raise IngestError(path, ln, f"control character U+{ord(m.group()):04X} in the text")
    start = 0
    n = 0
    while True:
        end = text.find("\n", start)
        seg_len = (len(text) if end == -1 else end) - start
        if seg_len > MAX_LINE_CHARS:
            ln = line if line is not None else first_line + n
            raise IngestError(path, ln, f"a line of {seg_len:,} characters "
                              f"(the limit is {MAX_LINE_CHARS:,}); is this really article text?")
        if end == -1:
            return
        start, n = end + 1, n + 1


def detect_format(path: Path, text: str | None = None) -> str:
    """The format of ``path`` from its extension (or a sniff of its first character)."""
    ext = path.suffix.lower()
    if ext in TEXT_EXTENSIONS:
        return "text"
    if ext in CSV_EXTENSIONS:
        return "csv"
    if ext in JSONL_EXTENSIONS:
        return "jsonl"
    if text is not None and text.lstrip().startswith(("{", "[")):
        return "jsonl"
    return "text"


def _headline(text: str) -> str | None:
    """The first line, when it stands alone as a headline (short, then a blank line)."""
    first, sep, rest = text.lstrip("\n").partition("\n")
    first = first.strip()
    if not sep or not rest.strip() or not first or len(first) > MAX_TITLE_CHARS:
        return None
    if not rest.startswith("\n") and not rest.lstrip(" \t").startswith("\n"):
        return None  # the first line runs on into a paragraph: not a headline
    return first


def read_text_file(path: Path, text: str) -> Iterator[Article]:
    """One article per text/markdown file; id = file name without extension."""
    _check_text(str(path), None, text)
    if not text.strip():
        raise IngestError(path, None, "the file is empty")
    yield Article(path=str(path), line=None, external_id=path.stem, text=text,
                  title=_headline(text))


def _pick(names: Iterable[str], wanted: str | None, candidates: tuple[str, ...],
          path: Path, what: str, flag: str, required: bool) -> str | None:
    names = list(names)
    if wanted is not None:
        if wanted not in names:
            raise IngestError(path, 1, f"no {what} field {wanted!r} ({flag}); "
                              f"fields are: {', '.join(map(str, names)) or '(none)'}")
        return wanted
    lower = {str(n).lower().strip(): n for n in names}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    if required:
        raise IngestError(path, 1, f"no {what} field found (looked for {', '.join(candidates)}); "
                          f"fields are: {', '.join(map(str, names)) or '(none)'}; "
                          f"choose one with {flag}")
    return None


def _row_article(path: Path, line: int, rowno: int, row: dict, fields: FieldMap,
                 cols: dict[str, str | None]) -> Article:
    def get(col: str | None) -> str | None:
        if col is None:
            return None
        v = row.get(col)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise IngestError(path, line, f"field {col!r} must be text, not {type(v).__name__}")
        v = str(v).strip()
        return v or None

    raw_text = row.get(cols["text"]) if cols["text"] else None
    if raw_text is None:
        raise IngestError(path, line, f"the text field {cols['text']!r} is missing")
    if not isinstance(raw_text, str):
        raise IngestError(path, line, f"field {cols['text']!r} must be text, "
                          f"not {type(raw_text).__name__}")
    text = normalise(raw_text)
    _check_text(str(path), line, text)
    if not text.strip():
        raise IngestError(path, line, f"the text field {cols['text']!r} is empty")
    ext_id = get(cols["id"]) or f"{path.stem}-{rowno}"
    title = get(cols["title"])
    if title is not None:
        title = normalise(title)
        _check_text(str(path), line, title)
    used = {c for c in cols.values() if c}
    meta = {k: v for k, v in row.items() if k not in used and k is not None}
    return Article(path=str(path), line=line, external_id=ext_id, text=text, title=title,
                   url=get(cols["url"]), published_at=get(cols["date"]),
                   source=get(cols["source"]), meta=meta)


def _columns(path: Path, names: Iterable[str], fields: FieldMap) -> dict[str, str | None]:
    names = list(names)
    return {
        "text": _pick(names, fields.text, TEXT_FIELDS, path, "text", "--text-field", True),
        "title": _pick(names, fields.title, TITLE_FIELDS, path, "title", "--title-field", False),
        "id": _pick(names, fields.id, ID_FIELDS, path, "id", "--id-field", False),
        "url": _pick(names, None, URL_FIELDS, path, "url", "", False),
        "date": _pick(names, None, DATE_FIELDS, path, "date", "", False),
        "source": _pick(names, None, SOURCE_FIELDS, path, "source", "", False),
    }


def read_csv(path: Path, text: str, fields: FieldMap) -> Iterator[Article | IngestError]:
    """One article per CSV row; a bad row yields an IngestError (the caller decides)."""
    csv.field_size_limit(MAX_LINE_CHARS)
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise IngestError(path, 1, f"unreadable CSV header: {exc}") from None
    except StopIteration:
        raise IngestError(path, None, "the file is empty") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    cols = _columns(path, header, fields)
    rowno = 0
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            msg = str(exc)
            if "field larger" in msg:
                msg = f"a field longer than {MAX_LINE_CHARS:,} characters"
            elif "EOF" in msg or "end of data" in msg:
                msg = "unbalanced quotes: a quoted field runs to the end of the file"
            yield IngestError(path, line, f"bad CSV: {msg}")
            return  # the reader cannot resynchronise after a quoting error
        if not values or all(not v.strip() for v in values):
            continue
        rowno += 1
        if len(values) != len(header):
            yield IngestError(path, line, f"expected {len(header)} fields "
                              f"({', '.join(header)}), found {len(values)}")
            continue
        try:
            yield _row_article(path, line, rowno, dict(zip(header, values)), fields, cols)
        except IngestError as exc:
            yield exc
    if rowno == 0:
        raise IngestError(path, None, "the CSV file has a header but no rows")


def read_jsonl(path: Path, text: str, fields: FieldMap) -> Iterator[Article | IngestError]:
    """One article per JSON Lines object; a bad line yields an IngestError."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        raise IngestError(path, 1, "a JSON array, not JSON Lines: write one JSON object "
                          "per line (e.g. jq -c '.[]' file.json > file.jsonl)")
    cols: dict[str, str | None] | None = None
    rowno = 0
    for lineno, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        rowno += 1
        if len(raw) > MAX_LINE_CHARS:
            yield IngestError(path, lineno, f"a line of {len(raw):,} characters "
                              f"(the limit is {MAX_LINE_CHARS:,})")
            continue
        try:
            obj = json.loads(raw)
        except RecursionError:
            yield IngestError(path, lineno, "JSON nested too deeply")
            continue
        except json.JSONDecodeError as exc:
            yield IngestError(path, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            yield IngestError(path, lineno, f"expected a JSON object, found {type(obj).__name__}")
            continue
        try:
            if cols is None:
                cols = _columns(path, obj.keys(), fields)
                if cols["text"] is None:  # pragma: no cover - _pick raises
                    raise IngestError(path, lineno, "no text field")
            elif fields.text is None and cols["text"] not in obj:
                # detect per object: JSONL rows need not share keys
                cols = {**cols, "text": _pick(obj.keys(), None, TEXT_FIELDS, path, "text",
                                              "--text-field", True)}
            yield _row_article(path, lineno, rowno, obj, fields, cols)
        except IngestError as exc:
            if exc.line == 1 and lineno != 1:
                exc = IngestError(path, lineno, exc.message)
            yield exc
    if rowno == 0:
        raise IngestError(path, None, "the file is empty")


def iter_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files to import: given files, and folders walked recursively (sorted, no hidden files)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            known = TEXT_EXTENSIONS | CSV_EXTENSIONS | JSONL_EXTENSIONS
            out.extend(sorted(f for f in p.rglob("*") if f.is_file()
                              and f.suffix.lower() in known
                              and not any(part.startswith(".") for part in f.relative_to(p).parts)))
        elif p.exists():
            out.append(p)
        else:
            raise IngestError(p, None, "no such file or folder")
    return out


def read_file(path: Path, fmt: str = "auto",
              fields: FieldMap = FieldMap()) -> Iterator[Article | IngestError]:
    """Articles (or per-row errors) of one file; raises IngestError for a bad file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(path, None, f"cannot read: {exc.strerror or exc}") from None
    text = decode(path, data)
    kind = detect_format(path, text) if fmt == "auto" else fmt
    if kind == "text":
        yield from read_text_file(path, normalise(text))
    elif kind == "csv":
        yield from read_csv(path, text, fields)
    elif kind == "jsonl":
        yield from read_jsonl(path, text, fields)
    else:
        raise IngestError(path, None, f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


# --------------------------------------------------------------------------- writing


def _project_routing(db: sqlite_utils.Database) -> tuple[int, str, int]:
    cfg = db_settings.get(db, "config") or {}
    return int(cfg.get("overlap", 2)), cfg.get("order", "sequential"), int(cfg.get("seed", 0))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def import_paths(
    db: sqlite_utils.Database,
    paths: Iterable[str | Path],
    *,
    fmt: str = "auto",
    fields: FieldMap = FieldMap(),
    skip_bad: bool = False,
    progress: Callable[[int, int, ImportReport], None] | None = None,
) -> ImportReport:
    """Import files and folders into ``db``.

    Without ``skip_bad`` the first bad file or row raises :class:`IngestError` and
    nothing at all is written. With it, bad rows and files are listed in
    ``report.errors`` and everything else is imported. Re-importing a text that is
    already stored (same normalised sha256) is counted as a duplicate, not an error.
    """
    if fmt not in FORMATS:
        raise IngestError("--format", None, f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    files = iter_files(paths)
    if not files:
        raise IngestError(", ".join(map(str, paths)) or "(no path)", None,
                          "no importable files (.txt .md .csv .tsv .jsonl .json)")
    report = ImportReport()
    if not skip_bad and len(files) > 1:
        # Validate everything first so a bad last file cannot leave the first ones imported.
        seen_sha: dict[str, str] = {}
        seen_ids: dict[str, str] = {}
        for path in files:
            for item in read_file(path, fmt, fields):
                if isinstance(item, IngestError):
                    raise item
                if _check_identity(db, item, (seen_sha,), (seen_ids,)):
                    seen_sha[item.sha256] = seen_ids[item.external_id] = _where(item)
    overlap, order, seed = _project_routing(db)
    seen_sha, seen_ids = {}, {}
    for done, path in enumerate(files, 1):
        try:
            _import_file(db, path, fmt, fields, skip_bad, report, seen_sha, seen_ids,
                         overlap, order, seed)
        except IngestError as exc:
            if not skip_bad:
                raise
            report.errors.append(str(exc))
        if progress is not None:
            progress(done, len(files), report)
    return report


def _check_identity(db: sqlite_utils.Database, art: Article,
                    seen_sha: tuple[dict, ...], seen_ids: tuple[dict, ...]) -> bool:
    """False for a duplicate text (skip it); IngestError for an id clash; True to insert.

    ``seen_*`` are the hashes and ids accepted earlier in this import (several dicts, so
    callers need not merge them)."""
    sha = art.sha256
    if any(sha in d for d in seen_sha) or q.find_by_sha(db, sha) is not None:
        return False
    for d in seen_ids:
        if art.external_id in d:
            raise IngestError(art.path, art.line, f"id {art.external_id!r} is used twice "
                              f"(also at {d[art.external_id]}) with different text")
    if q.external_id_exists(db, art.external_id):
        raise IngestError(art.path, art.line, f"id {art.external_id!r} already exists in the "
                          "database with a different text")
    return True


def _where(art: Article) -> str:
    return f"{art.path}:{art.line}" if art.line else art.path


def _import_file(db, path, fmt, fields, skip_bad, report, seen_sha, seen_ids,
                 overlap, order, seed) -> None:
    """Read, segment and write one file in one transaction (all or nothing)."""
    articles: list[tuple[Article, list[segment.Span]]] = []
    file_sha: dict[str, str] = {}
    file_ids: dict[str, str] = {}
    errors: list[str] = []
    dupes = 0
    for item in read_file(path, fmt, fields):
        if isinstance(item, IngestError):
            if not skip_bad:
                raise item
            errors.append(str(item))
            continue
        try:
            fresh = _check_identity(db, item, (seen_sha, file_sha), (seen_ids, file_ids))
        except IngestError as exc:
            if not skip_bad:
                raise
            errors.append(str(exc))
            continue
        if not fresh:
            dupes += 1
            report.duplicates.append(_where(item))
            continue
        file_sha[item.sha256] = _where(item)
        file_ids[item.external_id] = _where(item)
        articles.append((item, segment.segment(item.text)))
    now = _now()
    added_sentences = 0
    with write_transaction(db) as conn:
        next_id = q.max_sentence_id(conn) + 1
        batch: list[tuple] = []
        for art, spans in articles:
            aid = q.insert_article(conn, {
                "external_id": art.external_id, "title": art.title, "source": art.source,
                "url": art.url, "published_at": art.published_at, "text": art.text,
                "sha256": art.sha256, "meta": json.dumps(art.meta, ensure_ascii=False),
                "imported_at": now,
            })
            text = art.text
            for idx, sp in enumerate(spans):
                batch.append((next_id, aid, idx, sp.start, sp.end, text[sp.start:sp.end],
                              sp.kind, overlap, order_key(next_id, order, seed)))
                next_id += 1
            if len(batch) >= 20_000:
                q.insert_sentences(conn, batch)
                added_sentences += len(batch)
                batch = []
        q.insert_sentences(conn, batch)
        added_sentences += len(batch)
    seen_sha.update(file_sha)
    seen_ids.update(file_ids)
    report.articles_added += len(articles)
    report.sentences_added += added_sentences
    report.articles_skipped_duplicate += dupes
    report.errors.extend(errors)
