"""Files -> articles: text/markdown, CSV and JSONL files, folders; encodings; dedupe.

A file is imported whole or not at all (one ``BEGIN IMMEDIATE`` transaction per file).
Without ``skip_bad`` every file is read and validated before anything is written, so a
bad file anywhere leaves the database exactly as it was. With ``skip_bad`` good rows
are imported and bad ones listed.

Files are read through ``labeling.records`` (shared with ``import-annotations``): regular
files only, CSV and JSONL streamed line by line, a line or CSV record of at most
``PARLEY_MAX_FIELD_BYTES`` (10 MiB), and a text file (one article) of at most as much.
In a folder, symbolic links, FIFOs and other special files are skipped with a warning;
a link named on the command line is followed (the user chose it).

Speed (``python -m benchmarks.ingest``): existing texts and ids are looked up a file at
a time, rows go in with ``executemany``, and a big file is segmented by a helper
process while this one inserts (``_Segmenter``), so both cores work.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import re
import stat
import subprocess
import sys
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable, Iterator

import sqlite_utils

import db.articles as q
from db import settings as db_settings
from db import write_transaction
from labeling import records, segment
from labeling.records import IngestError
from labeling.routing import order_key, target_for

FORMATS = ("auto", "text", "csv", "jsonl")
TEXT_EXTENSIONS = {".txt", ".md", ".markdown", ".text"}
CSV_EXTENSIONS = {".csv", ".tsv"}
JSONL_EXTENSIONS = {".jsonl", ".ndjson", ".json"}
MAX_LINE_CHARS = 1_000_000  # one line of a million characters is not news text
MAX_TITLE_CHARS = 300
_READ_STEP = 1 << 16  # bytes read at a time while looking for a file's first character

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
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0b, 0x20), 0x7f])
_LEADING_SPACE = re.compile(r"\s*")
_ATX_HEADING = re.compile(r"#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*")
_SETEXT_UNDERLINE = re.compile(r"[ \t]*(?:=+|-{2,})[ \t]*(?:\n|$)")


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

    @cached_property
    def sha256(self) -> str:
        """Hash of the (normalised) text: the identity used for dedupe."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass
class ImportReport:
    """What an import did. ``as_dict`` gives the CLI's ``--json`` object."""

    articles_added: int = 0
    articles_skipped_duplicate: int = 0
    sentences_added: int = 0
    errors: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # files skipped in folders (links)

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


# A FieldMap value meaning "this file has no such field" (title, id): no detection. It
# holds a NUL, which no real field name can (files with NUL bytes are refused) and no
# command-line argument can either.
NO_FIELD = "\x00none"


# --------------------------------------------------------------------------- reading


def normalise(text: str) -> str:
    """Newlines to ``\\n``, non-breaking spaces to spaces, NFC; what is hashed and stored."""
    # The substring tests are much faster than a regex scan and usually false.
    if "\r" in text:
        text = _NEWLINES.sub("\n", text)
    if "\u00a0" in text or "\u202f" in text or "\u2007" in text:
        text = _SPACES.sub(" ", text)
    return unicodedata.normalize("NFC", text)


def decode(path: str | Path, data: bytes) -> str:
    """Bytes -> text: UTF-8 (with or without BOM) or UTF-16 with BOM; else IngestError."""
    if not data or data.isspace():  # (not data.strip(): no copy of a big file)
        raise IngestError(path, None, "the file is empty")
    problem = records.magic_problem(data[:16])
    if problem:
        raise IngestError(path, None, problem)
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
    if not text or text.isspace():
        raise IngestError(path, None, "the file is empty")
    return text


def _check_text(path: str, line: int | None, text: str, *, first_line: int = 1) -> bytes:
    """Reject control characters, lone surrogates and absurdly long lines, naming the line.

    Returns the UTF-8 encoding of ``text`` (reused for its hash)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:  # e.g. a JSON "\ud800" escape: not storable text
        ln = line if line is not None else first_line + text.count("\n", 0, exc.start)
        raise IngestError(path, ln, f"invalid character U+{ord(text[exc.start]):04X} "
                          "(a lone surrogate) in the text") from None
    # bytes.translate is a fast first pass; the regex then finds the offender
    m = _CONTROL.search(text) if len(data.translate(None, _CONTROL_BYTES)) != len(data) else None
    if m:
        ln = line if line is not None else first_line + text.count("\n", 0, m.start())
        raise IngestError(path, ln, f"control character U+{ord(m.group()):04X} in the text")
    if len(text) <= MAX_LINE_CHARS:
        return data  # no line can be too long
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
            return data
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
    if text is not None and _first_char(text) in ("{", "["):
        return "jsonl"
    return "text"


def _first_char(text: str) -> str:
    """The first non-whitespace character ('' if none), without copying ``text``."""
    i = _LEADING_SPACE.match(text).end()
    return text[i:i + 1]


def _headline(text: str) -> str | None:
    """The first line, when it is a headline: a markdown heading, or a short line that
    stands alone (a blank line follows) and is not a sentence ending in a full stop."""
    first, sep, rest = text.lstrip("\n").partition("\n")
    first = first.strip()
    if not sep or not rest.strip() or not first or len(first) > MAX_TITLE_CHARS:
        return None
    heading = _ATX_HEADING.fullmatch(first)
    if heading:  # "# Title" / "## Title ##": the marks are markup, not part of the title
        return heading.group(1).strip() or None
    if _SETEXT_UNDERLINE.match(rest):  # "Title" over "=====" or "-----"
        return first
    if not rest.lstrip(" \t").startswith("\n"):
        return None  # the first line runs on into a paragraph: not a headline
    if first.endswith(".") and not first.endswith(".."):
        return None  # a first paragraph of one sentence, not a headline
    return first


def read_text_file(path: Path, text: str) -> Iterator[Article]:
    """One article per text/markdown file; id = file name without extension."""
    utf8 = _check_text(str(path), None, text)
    if not text or text.isspace():
        raise IngestError(path, None, "the file is empty")
    _check_field(path, None, "id (the file name)", path.stem)
    yield _with_hash(Article(path=str(path), line=None, external_id=path.stem, text=text,
                             title=_headline(text)), utf8)


def _check_field(path: Path, line: int | None, name: str, value: str) -> None:
    """IngestError for a control character in a one-line field (id, title, url...)."""
    bad = records.find_control(value)
    if bad is not None:
        raise IngestError(path, line, f"control character U+{ord(bad):04X} in field {name!r}")


def _check_meta(path: Path, line: int, meta: dict) -> None:
    """Control characters in the other fields of a row (kept as the article's meta), at
    any depth: none in names, tab and newline only in values. (A loop, not recursion:
    JSON may nest as deep as the decoder's own limit.)"""
    todo: list = [meta]
    while todo:
        value = todo.pop()
        if isinstance(value, str):
            bad = records.find_control(value, multiline=True)
            if bad is not None:
                raise IngestError(path, line, f"control character U+{ord(bad):04X} in a field")
        elif isinstance(value, dict):
            for key in value:
                if (bad := records.find_control(str(key))) is not None:
                    raise IngestError(path, line, f"control character U+{ord(bad):04X} in "
                                      "a field name")
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)


def _with_hash(art: Article, utf8: bytes) -> Article:
    """Fill ``art.sha256`` (a cached property) from the UTF-8 bytes `_check_text` made."""
    art.__dict__["sha256"] = hashlib.sha256(utf8).hexdigest()
    return art


def _pick(names: Iterable[str], wanted: str | None, candidates: tuple[str, ...],
          path: Path, what: str, flag: str, required: bool) -> str | None:
    names = list(names)
    if wanted == NO_FIELD and not required:
        return None
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
        if isinstance(v, float) and not math.isfinite(v):  # 1e999 in JSON reads as inf
            raise IngestError(path, line, f"field {col!r} is not a finite number")
        v = str(v).strip()
        _check_field(path, line, col, v)
        return v or None

    raw_text = row.get(cols["text"]) if cols["text"] else None
    if raw_text is None:
        raise IngestError(path, line, f"the text field {cols['text']!r} is missing")
    if not isinstance(raw_text, str):
        raise IngestError(path, line, f"field {cols['text']!r} must be text, "
                          f"not {type(raw_text).__name__}")
    text = normalise(raw_text)
    utf8 = _check_text(str(path), line, text)
    if not text or text.isspace():
        raise IngestError(path, line, f"the text field {cols['text']!r} is empty")
    ext_id = get(cols["id"])
    if ext_id is None:
        ext_id = f"{path.stem}-{rowno}"
        _check_field(path, line, "id (from the file name)", ext_id)
    title = get(cols["title"])
    if title is not None:
        title = normalise(title)
        _check_text(str(path), line, title)
    used = {c for c in cols.values() if c}
    meta = {k: v for k, v in row.items() if k not in used and k is not None}
    if meta:
        _check_meta(path, line, meta)
    return _with_hash(Article(path=str(path), line=line, external_id=ext_id, text=text,
                              title=title, url=get(cols["url"]), published_at=get(cols["date"]),
                              source=get(cols["source"]), meta=meta), utf8)


def _columns(path: Path, names: Iterable[str], fields: FieldMap,
             check_flags: bool = True) -> dict[str, str | None]:
    """Which field holds what. ``check_flags=False`` takes flag-given fields on trust
    (JSONL rows after the first need not repeat an optional field)."""
    names = list(names)
    if not check_flags:
        names += [f for f in (fields.text, fields.title, fields.id)
                  if f and f != NO_FIELD and f not in names]
    return {
        "text": _pick(names, fields.text, TEXT_FIELDS, path, "text", "--text-field", True),
        "title": _pick(names, fields.title, TITLE_FIELDS, path, "title", "--title-field", False),
        "id": _pick(names, fields.id, ID_FIELDS, path, "id", "--id-field", False),
        "url": _pick(names, None, URL_FIELDS, path, "url", "", False),
        "date": _pick(names, None, DATE_FIELDS, path, "date", "", False),
        "source": _pick(names, None, SOURCE_FIELDS, path, "source", "", False),
    }


def _csv_header(path: Path, lines: records.LineReader
                ) -> tuple[Iterator[tuple[int, list[str]]], list[str]]:
    """The record reader of a CSV/TSV file, positioned after its header, and the header
    (names stripped); IngestError for an unreadable, empty or repeated header."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = iter(records.CsvRecords(lines, delimiter))
    try:
        head_line, header = next(reader)
    except records.BadCsvRecord as exc:
        raise IngestError(path, exc.line or 1, f"unreadable CSV header: {exc.message}") from None
    except StopIteration:
        raise IngestError(path, None, "the file is empty") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    twice = records.duplicate_name(header)
    if twice is not None:
        raise IngestError(path, head_line, f"the column {records.clip(twice)} appears twice "
                          "in the header")
    return reader, header


def read_csv(path: Path, lines: records.LineReader,
             fields: FieldMap) -> Iterator[Article | IngestError]:
    """One article per CSV row; a bad row yields an IngestError (the caller decides)."""
    reader, header = _csv_header(path, lines)
    cols = _columns(path, header, fields)
    rowno = 0
    while True:
        try:
            line, values = next(reader)
        except StopIteration:
            break
        except records.BadCsvRecord as exc:
            yield exc
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


def read_jsonl(path: Path, lines: records.LineReader,
               fields: FieldMap) -> Iterator[Article | IngestError]:
    """One article per JSON Lines object; a bad line yields an IngestError."""
    first = True
    # JSONL rows need not share keys: fields are detected per key set (cached, since
    # nearly all rows of a file share one). Flag-given fields are checked on the first row.
    cols_by_keys: dict[tuple, dict[str, str | None]] = {}
    checked = False
    rowno = 0
    stream = records.json_lines(lines)
    while True:
        try:
            lineno, raw = next(stream)
        except StopIteration:
            break
        if first:
            first = False
            if _first_char(raw) == "[":
                raise IngestError(path, lineno, "a JSON array, not JSON Lines: write one JSON "
                                  "object per line (e.g. jq -c '.[]' file.json > file.jsonl)")
        rowno += 1
        try:
            obj = records.json_value(path, lineno, raw)
        except IngestError as exc:
            yield exc
            continue
        if not isinstance(obj, dict):
            yield IngestError(path, lineno, f"expected a JSON object, found {type(obj).__name__}")
            continue
        try:
            keys = tuple(obj)
            cols = cols_by_keys.get(keys)
            if cols is None:
                cols = cols_by_keys[keys] = _columns(path, keys, fields, check_flags=not checked)
            checked = True
            yield _row_article(path, lineno, rowno, obj, fields, cols)
        except IngestError as exc:
            if exc.line == 1 and lineno != 1:
                exc = IngestError(path, lineno, exc.message)
            yield exc
    if rowno == 0:
        raise IngestError(path, None, "the file is empty")


def iter_files(paths: Iterable[str | Path], warnings: list[str] | None = None) -> list[Path]:
    """Files to import: given files, and folders walked recursively (sorted, no hidden
    files). In folders, symbolic links and special files (FIFOs, devices, sockets) are
    skipped, each with a line in ``warnings``: a link could bring in any file of the
    machine. A path named here is taken as given (a link to a file is followed; what is
    not a regular file is refused when read)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(_walk(p, warnings if warnings is not None else []))
        elif p.exists():
            out.append(p)
        else:
            raise IngestError(p, None, "no such file or folder")
    return out


def _walk(root: Path, warnings: list[str]) -> list[Path]:
    known = TEXT_EXTENSIONS | CSV_EXTENSIONS | JSONL_EXTENSIONS
    found: list[Path] = []
    # os.walk (unlike Path.rglob) says what it saw without following links.
    for folder, dirs, files in os.walk(root):
        for name in list(dirs):
            if name.startswith(".") or os.path.islink(os.path.join(folder, name)):
                dirs.remove(name)
                if not name.startswith("."):
                    warnings.append(f"{records.display(Path(folder, name))}: skipped: a "
                                    "symbolic link to a folder (links in folders are not "
                                    "followed)")
        for name in files:
            path = Path(folder, name)
            if name.startswith(".") or path.suffix.lower() not in known:
                continue
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue  # gone meanwhile
            if stat.S_ISLNK(mode):
                warnings.append(f"{records.display(path)}: skipped: a symbolic link (links in "
                                "folders are not followed; name the file itself to import it)")
            elif not stat.S_ISREG(mode):
                warnings.append(f"{records.display(path)}: skipped: not a regular file")
            else:
                found.append(path)
    return sorted(found)


def read_file(path: Path, fmt: str = "auto",
              fields: FieldMap = FieldMap()) -> Iterator[Article | IngestError]:
    """Articles (or per-row errors) of one file; raises IngestError for a bad file.

    CSV and JSON Lines are read line by line (memory stays flat in the file's size); a
    text file is one article, read whole, of at most ``records.max_field_bytes()``."""
    if fmt not in FORMATS:
        raise IngestError(path, None, f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    records.check_file_name(path)
    limit = records.max_field_bytes()
    with records.open_input(path) as f:
        try:
            kind = fmt if fmt != "auto" else _format_of(path, f)
        except OSError as exc:
            raise IngestError(path, None, f"cannot read: {exc.strerror or exc}") from None
        if kind == "text":
            # the size first: a 10 GB file is refused without being read
            try:
                data = f.read(limit + 1) if os.fstat(f.fileno()).st_size <= limit else None
            except OSError as exc:
                raise IngestError(path, None, f"cannot read: {exc.strerror or exc}") from None
            if data is None or len(data) > limit:
                raise IngestError(path, None, f"larger than {limit:,} bytes, the limit for one "
                                  f"article ({records.MAX_FIELD_ENV} sets it)")
            text = decode(path, data)
            del data  # the generator lives until the article is taken: not both copies
            yield from read_text_file(path, normalise(text))
            return
        lines = records.LineReader(path, f, limit)
        if kind == "csv":
            yield from read_csv(path, lines, fields)
        else:
            yield from read_jsonl(path, lines, fields)


def _format_of(path: Path, f) -> str:
    """The format by extension; for another extension, JSON Lines when the first
    character is ``{`` or ``[``, else text. Leaves ``f`` at its start."""
    if path.suffix.lower() in TEXT_EXTENSIONS | CSV_EXTENSIONS | JSONL_EXTENSIONS:
        return detect_format(path)
    # Read a step at a time until a character that is not whitespace (a file of blank
    # lines is read through without being held). A step cut inside a character only
    # loses that character, and whitespace is ASCII.
    step = f.read(_READ_STEP)
    encoding = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}.get(step[:2], "utf-8")
    first = ""
    while step and not first:
        first = _first_char(step.decode(encoding, "ignore").lstrip("\ufeff"))
        step = f.read(_READ_STEP)
    f.seek(0)
    return "jsonl" if first in ("{", "[") else "text"


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
    if fmt not in FORMATS:
        raise IngestError(path, None, f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    records.check_file_name(path)
    with records.open_input(path) as f:
        try:
            kind = fmt if fmt != "auto" else _format_of(path, f)
        except OSError as exc:
            raise IngestError(path, None, f"cannot read: {exc.strerror or exc}") from None
        if kind == "text":
            return Columns("text")
        lines = records.LineReader(path, f)
        if kind == "csv":
            names = _csv_header(path, lines)[1]
        else:
            names = _jsonl_keys(path, lines)
    guess = {what: _pick(names, None, cands, path, what, "", False)
             for what, cands in (("text", TEXT_FIELDS), ("title", TITLE_FIELDS),
                                 ("id", ID_FIELDS))}
    return Columns(kind, tuple(names), **guess)


def _jsonl_keys(path: Path, lines: records.LineReader) -> list[str]:
    keys: dict[str, None] = {}
    rows = 0
    for lineno, raw in records.json_lines(lines):
        if rows == 0 and _first_char(raw) == "[":
            raise IngestError(path, lineno, "a JSON array, not JSON Lines: write one JSON "
                              "object per line (e.g. jq -c '.[]' file.json > file.jsonl)")
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


def preview(db: sqlite_utils.Database, path: Path, fmt: str = "auto",
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
    return Preview(first, segment.split(first.text), q.find_by_sha(db, first.sha256))


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class ImportStep:
    """Where an import is, for a progress display (``import_paths(on_step=...)``).

    ``phase``: ``check`` (reading file ``file`` of ``files`` to validate it before
    anything is written; only without ``skip_bad`` and with several files), ``read``
    (reading it to import it) or ``write`` (segmenting and storing it). ``done``: rows
    read so far (check, read) or articles stored so far (write), of ``total`` when
    known (write)."""

    phase: str
    path: str
    file: int
    files: int
    done: int
    total: int | None = None


STEP_ROWS = 1000  # rows read between two ``on_step`` calls
STEP_ARTICLES = 200  # articles stored between two ``on_step`` calls


def _counted(items: Iterable[Article | IngestError], step: Callable[[int], None] | None
             ) -> Iterable[Article | IngestError]:
    """``items``, calling ``step(n)`` every ``STEP_ROWS`` items and once at the end
    (``items`` itself when there is no ``step``)."""
    return items if step is None else _counting(items, step)


def _counting(items: Iterable[Article | IngestError], step: Callable[[int], None]
              ) -> Iterator[Article | IngestError]:
    n = 0
    for n, item in enumerate(items, 1):
        yield item
        if n % STEP_ROWS == 0:
            step(n)
    step(n)


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
    on_step: Callable[[ImportStep], None] | None = None,
) -> ImportReport:
    """Import files and folders into ``db``.

    Without ``skip_bad`` the first bad file or row raises :class:`IngestError` and
    nothing at all is written. With it, bad rows and files are listed in
    ``report.errors`` and everything else is imported. Re-importing a text that is
    already stored (same normalised sha256) is counted as a duplicate, not an error.
    ``report.warnings`` lists what folders held that was skipped (links, special files).
    ``progress(done, total, report)`` is called after each file; ``on_step`` (an
    :class:`ImportStep`) also within files, every ``STEP_ROWS`` rows read and
    ``STEP_ARTICLES`` articles stored, for large files.
    """
    if fmt not in FORMATS:
        raise IngestError("--format", None, f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    report = ImportReport()
    files = iter_files(paths, report.warnings)
    if not files:
        raise IngestError(", ".join(map(str, paths)) or "(no path)", None,
                          "no importable files (.txt .md .csv .tsv .jsonl .json)")
    if not skip_bad and len(files) > 1:
        # Validate everything first so a bad last file cannot leave the first ones imported.
        seen_sha: dict[str, str] = {}
        seen_ids: dict[str, str] = {}
        for number, path in enumerate(files, 1):
            fresh, _, _ = _accept(db, _counted(read_file(path, fmt, fields),
                                               _stepper(on_step, "check", path, number,
                                                        len(files))),
                                  seen_sha, seen_ids, skip_bad=False)
            for art in fresh:
                seen_sha[art.sha256] = seen_ids[art.external_id] = _where(art)
    routing = _Routing.of(db)
    seen_sha, seen_ids = {}, {}
    segmenter = _Segmenter()
    try:
        for done, path in enumerate(files, 1):
            try:
                _import_file(db, path, fmt, fields, skip_bad, report, seen_sha, seen_ids,
                             routing, segmenter,
                             step=_Steps(on_step, path, done, len(files)) if on_step else None)
            except IngestError as exc:
                if not skip_bad:
                    raise
                report.errors.append(str(exc))
            if progress is not None:
                progress(done, len(files), report)
    finally:
        segmenter.close()
    return report


def _stepper(on_step: Callable[[ImportStep], None] | None, phase: str, path: Path,
             number: int, files: int, total: int | None = None) -> Callable[[int], None] | None:
    """``step(done)`` reporting ``phase`` of file ``number`` to ``on_step`` (None: none)."""
    if on_step is None:
        return None
    shown = records.display(path)
    return lambda done: on_step(ImportStep(phase, shown, number, files, done, total))


@dataclass(frozen=True)
class _Steps:
    """The ``on_step`` reporting of one file being imported (read, then write)."""

    on_step: Callable[[ImportStep], None]
    path: Path
    number: int
    files: int

    def read(self) -> Callable[[int], None] | None:
        return _stepper(self.on_step, "read", self.path, self.number, self.files)

    def write(self, total: int) -> Callable[[int], None] | None:
        return _stepper(self.on_step, "write", self.path, self.number, self.files, total)


@dataclass(frozen=True)
class _Routing:
    """How new sentences get their ``target`` and ``ord`` (from the stored config)."""

    cfg: dict
    order: str
    seed: int
    fixed_target: int | None  # every sentence's target, when there is no sample to draw

    @classmethod
    def of(cls, db: sqlite_utils.Database) -> _Routing:
        cfg = db_settings.get(db, "config") or {}
        # Without a reliability sample (fraction >= 1) every sentence is "in the sample",
        # so target_for is the same for all: computed once, not per sentence.
        fixed = (target_for(1, cfg) if float(cfg.get("sample_fraction", 1.0)) >= 1.0
                 else None)
        return cls(cfg, cfg.get("order", "sequential"), int(cfg.get("seed", 0)), fixed)

    def target(self, sentence_id: int) -> int:
        if self.fixed_target is not None:
            return self.fixed_target
        return target_for(sentence_id, self.cfg)


def _accept(db: sqlite_utils.Database, items: Iterable[Article | IngestError],
            seen_sha: dict[str, str], seen_ids: dict[str, str], *, skip_bad: bool,
            ) -> tuple[list[Article], list[Article], list[str]]:
    """Split one file's items into (new articles, duplicates, error messages).

    Without ``skip_bad`` the first bad row or id clash (in file order) is raised.
    ``seen_*``: hashes and ids accepted from earlier files of this import. The database
    is asked once per file (a few queries per 500 articles), not twice per article."""
    items = list(items)
    arts = [it for it in items if not isinstance(it, IngestError)]
    db_sha, db_ids = q.existing_keys(db, ((a.sha256, a.external_id) for a in arts))
    file_sha: dict[str, str] = {}
    file_ids: dict[str, str] = {}
    fresh: list[Article] = []
    dupes: list[Article] = []
    errors: list[str] = []
    for item in items:
        try:
            if isinstance(item, IngestError):
                raise item
            if not _check_identity(item, (seen_sha, file_sha, db_sha), (seen_ids, file_ids),
                                   db_ids):
                dupes.append(item)
                continue
        except IngestError as exc:
            if not skip_bad:
                raise
            errors.append(str(exc))
            continue
        file_sha[item.sha256] = file_ids[item.external_id] = _where(item)
        fresh.append(item)
    return fresh, dupes, errors


def _check_identity(art: Article, known_sha: tuple, seen_ids: tuple[dict, ...],
                    db_ids: set[str]) -> bool:
    """False for a duplicate text (skip it); IngestError for an id clash; True to insert.

    ``known_sha``: containers of hashes already stored or accepted in this import;
    ``seen_ids``: dicts id -> where, accepted in this import; ``db_ids``: stored ids."""
    sha = art.sha256
    if any(sha in d for d in known_sha):
        return False
    for d in seen_ids:
        if art.external_id in d:
            raise IngestError(art.path, art.line, f"id {art.external_id!r} is used twice "
                              f"(also at {d[art.external_id]}) with different text")
    if art.external_id in db_ids:
        raise IngestError(art.path, art.line, f"id {art.external_id!r} already exists in the "
                          "database with a different text")
    return True


def _where(art: Article) -> str:
    return f"{art.path}:{art.line}" if art.line else art.path


def _import_file(db: sqlite_utils.Database, path: Path, fmt: str, fields: FieldMap,
                 skip_bad: bool, report: ImportReport, seen_sha: dict[str, str],
                 seen_ids: dict[str, str], routing: _Routing, segmenter: _Segmenter,
                 step: _Steps | None = None) -> None:
    """Read, segment and write one file in one transaction (all or nothing)."""
    try:
        if path.stat().st_size >= PARALLEL_MIN_CHARS:
            segmenter.warm_up()  # the helper process starts while this file is read
    except OSError:
        pass  # read_file reports it
    fresh, dupes, errors = _accept(db, _counted(read_file(path, fmt, fields),
                                                step.read() if step else None),
                                   seen_sha, seen_ids, skip_bad=skip_bad)
    # A small file is segmented here, before the write lock is taken, so annotators'
    # saves wait only for the inserts. A big one streams: the helper process segments
    # ahead while this one inserts, which costs little extra lock time (the inserts are
    # the longer part) and saves most of the segmenting time.
    spans = segmenter.spans([art.text for art in fresh])
    now = _now()
    counted = [0]
    with write_transaction(db) as conn:
        keep = _recheck(conn, fresh, dupes, errors, skip_bad)
        first_article = q.max_article_id(conn) + 1
        first_sentence = q.max_sentence_id(conn) + 1
        q.insert_articles(conn, (
            (aid, art.external_id, art.title, art.source, art.url, art.published_at, art.text,
             art.sha256, json.dumps(art.meta, ensure_ascii=False), now)
            for aid, art in enumerate(_kept(fresh, keep), first_article)))
        q.insert_sentences(conn, _sentence_rows(
            fresh, spans, keep, first_article, first_sentence, routing, counted,
            step.write(sum(keep)) if step else None))
    added = list(_kept(fresh, keep))
    for art in added:
        seen_sha[art.sha256] = seen_ids[art.external_id] = _where(art)
    report.duplicates.extend(_where(art) for art in dupes)
    report.articles_added += len(added)
    report.sentences_added += counted[0]
    report.articles_skipped_duplicate += len(dupes)
    report.errors.extend(errors)


def _recheck(conn, fresh: list[Article], dupes: list[Article], errors: list[str],
             skip_bad: bool) -> list[bool]:
    """Which of ``fresh`` to insert, asked again under the write lock.

    ``_accept`` looked before the lock: another import (the same file uploaded twice at
    once, two processes seeding a new project) may have stored some of these texts or
    ids since. Such texts become duplicates; such ids with another text are errors.
    Without that, the UNIQUE constraints would fail the whole transaction."""
    now_sha, now_ids = q.existing_keys(conn, ((a.sha256, a.external_id) for a in fresh))
    keep = [True] * len(fresh)
    if not now_sha and not now_ids:
        return keep
    for n, art in enumerate(fresh):
        if art.sha256 in now_sha:
            keep[n] = False
            dupes.append(art)
        elif art.external_id in now_ids:
            exc = IngestError(art.path, art.line, f"id {art.external_id!r} already exists in "
                              "the database with a different text")
            if not skip_bad:
                raise exc
            keep[n] = False
            errors.append(str(exc))
    return keep


def _kept(arts: list[Article], keep: list[bool]) -> Iterator[Article]:
    return (art for art, k in zip(arts, keep, strict=True) if k)


def _sentence_rows(arts: list[Article], spans: Iterable[list[tuple[int, int, str]]],
                   keep: list[bool], first_article: int, first_sentence: int,
                   routing: _Routing, counted: list[int],
                   step: Callable[[int], None] | None = None) -> Iterator[tuple]:
    """Rows for ``q.insert_sentences``, streamed (no list of a million tuples);
    ``counted[0]`` ends as the number of rows. Articles not kept are passed over (their
    spans are still consumed, to stay in step). ``step(articles done)`` is called every
    ``STEP_ARTICLES`` articles and at the end."""
    sid = first_sentence
    aid = first_article
    target, order, seed = routing.target, routing.order, routing.seed
    fixed = routing.fixed_target
    for art, art_spans, k in zip(arts, spans, keep, strict=True):
        if not k:
            continue
        text = art.text
        if fixed is not None and order == "sequential":
            # the common case, without two calls per row: ord = id (see order_key)
            for idx, (start, end, kind) in enumerate(art_spans):
                yield (sid, aid, idx, start, end, text[start:end], kind, fixed, sid)
                sid += 1
        else:
            for idx, (start, end, kind) in enumerate(art_spans):
                yield (sid, aid, idx, start, end, text[start:end], kind,
                       target(sid), order_key(sid, order, seed))
                sid += 1
        aid += 1
        if step is not None and (aid - first_article) % STEP_ARTICLES == 0:
            step(aid - first_article)
    counted[0] = sid - first_sentence
    if step is not None:
        step(aid - first_article)


# --------------------------------------------------------------------------- segmenting

# Below this many characters (about 12,000 sentences) one process segments everything:
# starting a helper process costs more than it saves.
PARALLEL_MIN_CHARS = 2_000_000
_CHUNK_CHARS = 200_000  # work unit handed out to either process (~1,200 sentences)
_HELPER_TIMEOUT_S = 60.0  # a chunk takes a fraction of a second; past this the helper hung
_ROOT = str(Path(__file__).resolve().parent.parent)

# The helper process: reads pickled lists of texts on stdin, answers with their spans
# packed into arrays (unpickling a million small tuples or Span objects would cost the
# parent more than the segmenting it saves). It imports only labeling.segment.
_HELPER = r"""
import pickle, sys
from array import array
sys.path.insert(0, sys.argv[1])
from labeling.segment import segment
inp, out = sys.stdin.buffer, sys.stdout.buffer
kinds = {}
while True:
    try:
        texts = pickle.load(inp)
    except EOFError:
        break
    counts, starts, ends, codes = array("q"), array("q"), array("q"), bytearray()
    for text in texts:
        spans = segment(text)
        counts.append(len(spans))
        for sp in spans:
            starts.append(sp.start)
            ends.append(sp.end)
            codes.append(kinds.setdefault(sp.kind, len(kinds)))
    pickle.dump((counts, starts, ends, bytes(codes), list(kinds)), out, protocol=5)
    out.flush()
"""


class _Segmenter:
    """``segment.segment`` over many texts, on two cores when the work is large.

    The import is CPU-bound and segmenting is a third of it. For big inputs a helper
    process (``_HELPER``, fed by a thread here) segments chunks of texts ahead of the
    consumer, which takes the next chunk itself whenever the helper has not started
    it, so neither side waits for long. Results are identical to segmenting
    in-process (the same function, in order); if the helper cannot start, dies or
    hangs, this process does its chunks. Spans are ``(start, end, kind)`` tuples.
    """

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._failed = (os.cpu_count() or 1) < 2

    def warm_up(self) -> None:
        """Start the helper now (it takes a moment to import sentencex)."""
        if self._proc is None and not self._failed:
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", _HELPER, _ROOT], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError:
                self._failed = True

    def spans(self, texts: list[str]) -> Iterator[list[tuple[int, int, str]]]:
        """Spans of every text, in order: computed now for a small input, else streamed."""
        if sum(map(len, texts)) >= PARALLEL_MIN_CHARS:
            self.warm_up()
            if self._proc is not None and not self._failed:
                return self._stream(texts)
        return iter([_local_spans(t) for t in texts])

    def _stream(self, texts: list[str]) -> Iterator[list[tuple[int, int, str]]]:
        chunks = _chunks(texts, _CHUNK_CHARS)
        state = ["todo"] * len(chunks)  # todo -> helper | here -> done (helper: back to todo
        #                                 if it fails)
        results: list[list | None] = [None] * len(chunks)
        cond = threading.Condition()

        def feed_helper() -> None:
            k = 0
            while True:
                with cond:
                    while k < len(chunks) and state[k] != "todo":
                        k += 1
                    if k == len(chunks) or self._failed:
                        return
                    state[k] = "helper"
                i, j = chunks[k]
                try:
                    spans = self._ask(texts[i:j])
                except Exception:  # noqa: BLE001 - any failure: the consumer redoes it
                    with cond:
                        self._failed = True
                        state[k] = "todo"
                        cond.notify_all()
                    return
                with cond:
                    results[k], state[k] = spans, "done"
                    cond.notify_all()

        feeder = threading.Thread(target=feed_helper, name="parley-segment-feeder",
                                  daemon=True)
        feeder.start()
        try:
            for k in range(len(chunks)):
                waited = 0.0
                while True:
                    with cond:
                        if state[k] == "done":
                            break
                        if state[k] == "todo":
                            job: int | None = k
                        else:  # the helper is on it: do a later chunk meanwhile, or wait
                            job = next((m for m in range(k + 1, len(chunks))
                                        if state[m] == "todo"), None)
                            if job is None:
                                if not cond.wait(timeout=1.0):
                                    waited += 1.0
                                    if waited >= _HELPER_TIMEOUT_S:
                                        self._kill()  # its read fails: the chunk is "todo"
                                continue
                        state[job] = "here"
                    i, j = chunks[job]
                    spans = [_local_spans(t) for t in texts[i:j]]
                    with cond:
                        results[job], state[job] = spans, "done"
                chunk, results[k] = results[k], None
                yield from chunk  # type: ignore[union-attr]
        finally:
            with cond:  # stop the feeder claiming more (e.g. the insert failed)
                for k, st in enumerate(state):
                    if st == "todo":
                        state[k] = "here"
            feeder.join(timeout=_HELPER_TIMEOUT_S)
            if feeder.is_alive():
                self._kill()
                feeder.join()

    def _ask(self, texts: list[str]) -> list[list[tuple[int, int, str]]]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        pickle.dump(texts, proc.stdin, protocol=5)
        proc.stdin.flush()
        counts, starts, ends, codes, kinds = pickle.load(proc.stdout)
        if len(counts) != len(texts):
            raise RuntimeError("segment helper answered for the wrong texts")
        rows = list(zip(starts.tolist(), ends.tolist(), [kinds[c] for c in codes],
                        strict=True))
        result, at = [], 0
        for n in counts:
            result.append(rows[at:at + n])
            at += n
        return result

    def _kill(self) -> None:
        self._failed = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def close(self) -> None:
        """Stop the helper (end of input, then a kill if it does not exit)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()  # type: ignore[union-attr]


def _local_spans(text: str) -> list[tuple[int, int, str]]:
    return [(sp.start, sp.end, sp.kind) for sp in segment.segment(text)]


def _chunks(texts: list[str], size: int) -> list[tuple[int, int]]:
    """``(start, end)`` index ranges of about ``size`` characters each."""
    ranges, start, chars = [], 0, 0
    for i, text in enumerate(texts):
        chars += len(text)
        if chars >= size:
            ranges.append((start, i + 1))
            start, chars = i + 1, 0
    if start < len(texts):
        ranges.append((start, len(texts)))
    return ranges
