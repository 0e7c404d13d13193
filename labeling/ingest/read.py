"""Files -> articles: text/markdown, CSV and JSONL files, and folders of them.

Files are read through ``labeling.records`` (shared with ``import-annotations``): regular
files only, CSV and JSONL streamed line by line, a line or CSV record of at most
``PARLEY_MAX_FIELD_BYTES`` (10 MiB), and a text file (one article) of at most as much.
In a folder, symbolic links, FIFOs and other special files are skipped with a warning;
a link named on the command line is followed (the user chose it).

A bad file raises :class:`~labeling.records.IngestError`; a bad row of a CSV or JSONL
file is yielded as one, in its place, so the caller decides (``skip_bad``).
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable, Iterator

from labeling import records
from labeling.ingest.clean import (check_field, check_meta, check_text, decode, first_char,
                                   headline, normalise)
from labeling.records import IngestError

# The formats ``import --format`` accepts ("auto": by extension, else by first character).
ARTICLE_FORMATS = ("auto", "text", "csv", "jsonl")
TEXT_EXTENSIONS = {".txt", ".md", ".markdown", ".text"}
CSV_EXTENSIONS = {".csv", ".tsv"}
JSONL_EXTENSIONS = {".jsonl", ".ndjson", ".json"}
_READ_STEP = 1 << 16  # bytes read at a time while looking for a file's first character

# Common column names, first match wins (case-insensitive).
TEXT_FIELDS = ("text", "body", "content", "article", "story", "full_text", "fulltext")
TITLE_FIELDS = ("title", "headline", "head", "heading")
ID_FIELDS = ("id", "external_id", "article_id", "doc_id", "docid", "uid", "guid")
URL_FIELDS = ("url", "link", "href")
DATE_FIELDS = ("published_at", "date", "published", "pubdate", "publish_date", "datetime")
SOURCE_FIELDS = ("source", "outlet", "publisher", "site")


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


def check_format(path: str | Path, fmt: str) -> None:
    """IngestError naming ``path`` unless ``fmt`` is one of ``ARTICLE_FORMATS``."""
    if fmt not in ARTICLE_FORMATS:
        raise IngestError(path, None, f"unknown format {fmt!r} "
                          f"(choose from {', '.join(ARTICLE_FORMATS)})")


def detect_format(path: Path, text: str | None = None) -> str:
    """The format of ``path`` from its extension (or a sniff of its first character)."""
    ext = path.suffix.lower()
    if ext in TEXT_EXTENSIONS:
        return "text"
    if ext in CSV_EXTENSIONS:
        return "csv"
    if ext in JSONL_EXTENSIONS:
        return "jsonl"
    if text is not None and first_char(text) in ("{", "["):
        return "jsonl"
    return "text"


def read_text_file(path: Path, text: str) -> Iterator[Article]:
    """One article per text/markdown file; id = file name without extension."""
    utf8 = check_text(str(path), None, text)
    if not text or text.isspace():
        raise IngestError(path, None, "the file is empty")
    check_field(path, None, "id (the file name)", path.stem)
    yield _with_hash(Article(path=str(path), line=None, external_id=path.stem, text=text,
                             title=headline(text)), utf8)


def _with_hash(art: Article, utf8: bytes) -> Article:
    """Fill ``art.sha256`` (a cached property) from the UTF-8 bytes `check_text` made."""
    art.__dict__["sha256"] = hashlib.sha256(utf8).hexdigest()
    return art


def pick(names: Iterable[str], wanted: str | None, candidates: tuple[str, ...],
         path: Path, what: str, flag: str, required: bool) -> str | None:
    """The field of ``names`` holding ``what``: ``wanted`` (given with ``flag``; an
    IngestError if absent), else the first of ``candidates`` present (any case); None
    when there is none and it is not ``required``."""
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
        check_field(path, line, col, v)
        return v or None

    raw_text = row.get(cols["text"]) if cols["text"] else None
    if raw_text is None:
        raise IngestError(path, line, f"the text field {cols['text']!r} is missing")
    if not isinstance(raw_text, str):
        raise IngestError(path, line, f"field {cols['text']!r} must be text, "
                          f"not {type(raw_text).__name__}")
    text = normalise(raw_text)
    utf8 = check_text(str(path), line, text)
    if not text or text.isspace():
        raise IngestError(path, line, f"the text field {cols['text']!r} is empty")
    ext_id = get(cols["id"])
    if ext_id is None:
        ext_id = f"{path.stem}-{rowno}"
        check_field(path, line, "id (from the file name)", ext_id)
    title = get(cols["title"])
    if title is not None:
        title = normalise(title)
        check_text(str(path), line, title)
    used = {c for c in cols.values() if c}
    meta = {k: v for k, v in row.items() if k not in used and k is not None}
    if meta:
        check_meta(path, line, meta)
    return _with_hash(Article(path=str(path), line=line, external_id=ext_id, text=text,
                              title=title, url=get(cols["url"]), published_at=get(cols["date"]),
                              source=get(cols["source"]), meta=meta), utf8)


def columns_of(path: Path, names: Iterable[str], fields: FieldMap,
               check_flags: bool = True) -> dict[str, str | None]:
    """Which field holds what. ``check_flags=False`` takes flag-given fields on trust
    (JSONL rows after the first need not repeat an optional field)."""
    names = list(names)
    if not check_flags:
        names += [f for f in (fields.text, fields.title, fields.id)
                  if f and f != NO_FIELD and f not in names]
    return {
        "text": pick(names, fields.text, TEXT_FIELDS, path, "text", "--text-field", True),
        "title": pick(names, fields.title, TITLE_FIELDS, path, "title", "--title-field", False),
        "id": pick(names, fields.id, ID_FIELDS, path, "id", "--id-field", False),
        "url": pick(names, None, URL_FIELDS, path, "url", "", False),
        "date": pick(names, None, DATE_FIELDS, path, "date", "", False),
        "source": pick(names, None, SOURCE_FIELDS, path, "source", "", False),
    }


def csv_header(path: Path, lines: records.LineReader
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
    reader, header = csv_header(path, lines)
    cols = columns_of(path, header, fields)
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
            refuse_json_array(path, lineno, raw)
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
                cols = cols_by_keys[keys] = columns_of(path, keys, fields, check_flags=not checked)
            checked = True
            yield _row_article(path, lineno, rowno, obj, fields, cols)
        except IngestError as exc:
            if exc.line == 1 and lineno != 1:
                exc = IngestError(path, lineno, exc.message)
            yield exc
    if rowno == 0:
        raise IngestError(path, None, "the file is empty")


def refuse_json_array(path: Path, lineno: int, first_line: str) -> None:
    """IngestError when the first line of a JSONL file opens a JSON array (a ``.json``
    export of a list), with the command that turns it into JSON Lines."""
    if first_char(first_line) == "[":
        raise IngestError(path, lineno, "a JSON array, not JSON Lines: write one JSON "
                          "object per line (e.g. jq -c '.[]' file.json > file.jsonl)")


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
    check_format(path, fmt)
    records.check_file_name(path)
    limit = records.max_field_bytes()
    with records.open_input(path) as f:
        kind = kind_of(path, fmt, f)
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


def kind_of(path: Path, fmt: str, f) -> str:
    """The format to read ``f`` as: ``fmt``, or for ``auto`` :func:`format_of`; a read
    error is an IngestError naming the file."""
    try:
        return fmt if fmt != "auto" else format_of(path, f)
    except OSError as exc:
        raise IngestError(path, None, f"cannot read: {exc.strerror or exc}") from None


def format_of(path: Path, f) -> str:
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
        first = first_char(step.decode(encoding, "ignore").lstrip("\ufeff"))
        step = f.read(_READ_STEP)
    f.seek(0)
    return "jsonl" if first in ("{", "[") else "text"

