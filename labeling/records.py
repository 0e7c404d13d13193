"""Reading import files safely: one line and record reader for ``import`` and
``import-annotations``.

* Only regular files are read: a FIFO, device or socket is refused after ``os.stat``,
  before it is opened (opening a FIFO for reading waits for a writer; ``/dev/zero``
  never ends).
* Files are read line by line, split at ``"\\n"`` only (never at U+2028, U+0085 or the
  other characters ``str.splitlines`` also breaks at: they are valid inside JSON strings
  and CSV cells). A line, or a CSV record over several lines, longer than the limit
  (:func:`max_field_bytes`: 10 MiB, or env ``PARLEY_MAX_FIELD_BYTES``) stops the read
  with an error naming the line, after reading at most that much of it; runs of blank
  lines are skipped in bulk. Memory therefore stays flat in the size of the input.
* Encodings: UTF-8 (a byte-order mark is dropped) or UTF-16 with a byte-order mark. NUL
  bytes, invalid UTF-8 and compressed or binary files are errors naming the line.
* JSON: duplicate keys, ``NaN``/``Infinity``, numbers beyond Python's digit limit and
  nesting deeper than the recursion limit are errors naming the line.

Every problem is an :class:`IngestError`: one line, ``<file>[:<line>]: <problem>``, the
file name shown with undecodable bytes and control characters escaped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

DEFAULT_MAX_FIELD_BYTES = 10 * 1024 * 1024
MAX_FIELD_ENV = "PARLEY_MAX_FIELD_BYTES"
_BUFFER = 1 << 16  # read buffer; also the step of the blank-line skip

_MAGIC = {b"\x1f\x8b": "a gzip-compressed file; decompress it first",
          b"PK\x03\x04": "a zip archive; extract it first",
          b"%PDF": "a PDF; convert it to text first",
          b"\x89PNG": "an image, not text",
          b"\xff\xd8\xff": "an image, not text",
          b"SQLite format 3\x00": "an SQLite database, not text"}
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# C0 controls and DEL. Single-line fields (ids, names, labels, dates) allow none;
# multi-line text (article text, notes) allows tab and newline.
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_BLANK_RUN = re.compile(rb"[ \t\r\n]*")
_LONE_CR = re.compile("\r(?!\n)")
_AFTER_LONE_CR = re.compile("(?<=\r)(?!\n)")
_MESSAGE_LIMIT = 600


class IngestError(ValueError):
    """Bad input: names the file and, when known, the line. Always one line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        # Messages quote file content (field names, values): no control characters
        # (a newline would break the one-line contract, ESC would reach the terminal)
        # and a bounded length.
        message = _escape_controls(message)
        if len(message) > _MESSAGE_LIMIT:
            message = message[:_MESSAGE_LIMIT - 1] + "…"
        self.path, self.line, self.message = display(path), line, message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


class BadCsvRecord(IngestError):
    """A CSV record that cannot be parsed (quoting); the records before it were fine."""


def _escape_controls(text: str) -> str:
    if _CONTROL.search(text) is None:
        return text
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return _CONTROL.sub(lambda m: named.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def display(path: str | os.PathLike) -> str:
    """``path`` as printable text: bytes that are not UTF-8 (kept by Python as lone
    surrogates) shown as ``\\xff``, control characters escaped."""
    text = os.fsdecode(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that is not an escaped byte
            raw = text.encode("utf-8", "backslashreplace")
        text = raw.decode("utf-8", "backslashreplace")
    return _escape_controls(text)


def max_field_bytes() -> int:
    """The longest line or CSV record read (bytes): env ``PARLEY_MAX_FIELD_BYTES``, else
    10 MiB. A text file is one article, so it is held to the same limit."""
    raw = os.environ.get(MAX_FIELD_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_FIELD_BYTES
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 15 or int(raw) < 1:
        raise IngestError(MAX_FIELD_ENV, None, f"must be a whole number of bytes, at least 1; "
                          f"got {raw[:40]!r}")
    return int(raw)


def check_file_name(path: str | Path) -> None:
    """IngestError when the file's name is not valid UTF-8: it would become an article
    id or an annotation source, which are text."""
    try:
        Path(path).name.encode("utf-8")
    except UnicodeEncodeError:
        raise IngestError(path, None, "the file name is not valid UTF-8; rename the "
                          "file") from None


def _file_kind(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def open_input(path: str | Path) -> IO[bytes]:
    """``path`` opened for binary reading, if it is a regular file (a symbolic link to
    one is followed); else IngestError, without opening it."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise IngestError(path, None, f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise IngestError(path, None, f"{_file_kind(st.st_mode)}, not a file: only regular "
                          "files can be imported")
    # O_NONBLOCK: had the file been swapped for a FIFO since the stat, the open would
    # wait for a writer; non-blocking, it returns and the fstat below refuses it. Reads
    # of a regular file ignore the flag.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise IngestError(path, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise IngestError(path, None, f"{_file_kind(mode)}, not a file: only regular "
                              "files can be imported")
        return os.fdopen(fd, "rb", buffering=_BUFFER)
    except BaseException:
        os.close(fd)
        raise


def magic_problem(head: bytes) -> str | None:
    """What a file starting with ``head`` is, when it is a known binary format."""
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return f"this is {what}"
    return None


def find_control(value: str, *, multiline: bool = False) -> str | None:
    """The first control character in ``value`` (tab and newline allowed when
    ``multiline``), or None."""
    m = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    return m.group() if m else None


def clip(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened: messages quote values that may be megabytes long."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        # (str() of a long int is slow, and refused past Python's digit limit)
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    return repr(value if not isinstance(value, str) or len(value) <= limit
                else value[:limit] + "…")


class LineReader:
    """``(line number, line)`` of a file opened by :func:`open_input`, each line with its
    ``"\\n"`` (if any). Raises IngestError for a binary file, a NUL byte, invalid UTF-8
    (naming the line and byte offset) or a line longer than ``limit`` bytes.

    ``skip_blank``: when true, whitespace-only lines before the next line are passed over
    (counted, not returned), a buffer at a time. ``record_bytes`` counts the bytes
    returned; a record reader resets it to bound a record of several lines.
    """

    def __init__(self, path: str | Path, f: IO[bytes], limit: int | None = None):
        self.path = path
        self.f = f
        self.limit = max_field_bytes() if limit is None else limit
        self.lineno = 0
        self.skip_blank = False
        self.record_bytes = 0
        self._offset = 0  # bytes read after any BOM, as UTF-8 errors report them
        try:
            head = f.peek(16)[:16]  # type: ignore[attr-defined]
        except OSError as exc:
            raise IngestError(path, None, f"cannot read: {exc.strerror or exc}") from None
        problem = magic_problem(head)
        if problem:
            raise IngestError(path, None, problem)
        self._text: io.TextIOWrapper | None = None
        if head.startswith(_UTF8_BOM):
            f.read(3)
        elif head.startswith(_UTF16_BOMS):
            # Only "\n" ends a line here too; the codec drops the byte-order mark.
            self._text = io.TextIOWrapper(f, encoding="utf-16",  # type: ignore[arg-type]
                                          newline="\n")

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return self

    def __next__(self) -> tuple[int, str]:
        if self._text is not None:
            return self._next_utf16()
        try:
            if self.skip_blank:
                self._skip_blank()
            raw = self.f.readline(self.limit + 1)
        except OSError as exc:  # e.g. EIO from a failing disk or network share
            raise IngestError(self.path, self.lineno + 1,
                              f"cannot read: {exc.strerror or exc}") from None
        if not raw:
            raise StopIteration
        self.lineno += 1
        size = len(raw)
        if size > self.limit and not raw.endswith(b"\n"):
            raise self._too_long()
        if b"\x00" in raw:
            raise IngestError(self.path, self.lineno, "binary data (a NUL byte): not a text "
                              "file, or UTF-16 without a byte-order mark; save it as UTF-8")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IngestError(self.path, self.lineno,
                              f"not valid UTF-8 (byte offset {self._offset + exc.start}); "
                              "Parley reads UTF-8, or UTF-16 with a byte-order mark") from None
        self._offset += size
        self.record_bytes += size
        return self.lineno, line

    def _next_utf16(self) -> tuple[int, str]:
        chars = max(1, self.limit // 2)
        try:
            line = self._text.readline(chars + 1)  # type: ignore[union-attr]
        except UnicodeDecodeError as exc:
            # The codec decodes ahead of the line being returned: no line number.
            raise IngestError(self.path, None, f"not valid UTF-16 ({exc.reason}); Parley "
                              "reads UTF-8, or UTF-16 with a byte-order mark") from None
        except OSError as exc:
            raise IngestError(self.path, self.lineno + 1,
                              f"cannot read: {exc.strerror or exc}") from None
        if not line:
            raise StopIteration
        self.lineno += 1
        if len(line) > chars and not line.endswith("\n"):
            raise self._too_long()
        self.record_bytes += 2 * len(line)
        return self.lineno, line

    def _too_long(self) -> IngestError:
        return IngestError(self.path, self.lineno, f"a line longer than {self.limit:,} bytes "
                           f"(the limit; {MAX_FIELD_ENV} sets it)")

    def _skip_blank(self) -> None:
        f = self.f
        while True:
            chunk = f.peek(1)  # type: ignore[attr-defined]  # the buffered bytes, no copy
            if not chunk:
                return
            cut = chunk.rfind(b"\n", 0, _BLANK_RUN.match(chunk).end()) + 1
            if not cut:
                return  # the next line has text (leading spaces stay with it)
            self.lineno += chunk.count(b"\n", 0, cut)
            self._offset += cut
            f.read(cut)
            if cut < len(chunk):
                return


# ----------------------------------------------------------------------------- JSON


class _JsonProblem(ValueError):
    """Raised from the decoder's hooks; the message says what is wrong."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _JsonProblem(f"the key {clip(key)} appears twice in one object")
            seen.add(key)
    return obj


def _no_constant(name: str) -> Any:
    raise _JsonProblem(f"{name} is not a JSON value (numbers must be finite)")


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def json_value(path: str | Path, lineno: int, line: str) -> Any:
    """The JSON value of one line; IngestError naming the line when it is not strict
    JSON (duplicate keys and NaN are refused) or cannot be held."""
    try:
        return _DECODER.decode(line)
    except RecursionError:
        raise IngestError(path, lineno, "JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise IngestError(path, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except _JsonProblem as exc:
        raise IngestError(path, lineno, f"invalid JSON: {exc}") from None
    except ValueError as exc:  # int(): more digits than sys.get_int_max_str_digits()
        if "digits" not in str(exc):
            raise IngestError(path, lineno, f"invalid JSON: {exc}") from None
        raise IngestError(path, lineno, "invalid JSON: a number with more than "
                          f"{sys.get_int_max_str_digits():,} digits") from None


def json_lines(lines: LineReader) -> Iterator[tuple[int, str]]:
    """The non-blank lines of a JSON Lines file (blank ones are skipped in bulk)."""
    lines.skip_blank = True
    for lineno, line in lines:
        if not line.isspace():
            yield lineno, line


# ----------------------------------------------------------------------------- CSV


class CsvRecords:
    """``(first line, values)`` of each record of a CSV file, the header included;
    blank lines between records are skipped. A quoting error raises BadCsvRecord, a
    record longer than the line limit IngestError, naming the record's first line (the
    reader cannot resynchronise after either). Line ends: ``\\n``, ``\\r\\n`` and a
    lone ``\\r``."""

    def __init__(self, lines: LineReader, delimiter: str = ","):
        self.lines = lines
        self._line: int | None = None  # first line of the record being read
        self._cr_lines = 0  # lone-CR line ends seen so far: they count as lines
        # The limit is per process; a field is never longer than a record anyway.
        if csv.field_size_limit() < lines.limit:
            csv.field_size_limit(lines.limit)
        self._reader = csv.reader(self._feed(), delimiter=delimiter, strict=True)

    def _feed(self) -> Iterator[str]:
        lines = self.lines
        for lineno, line in lines:
            lines.skip_blank = False  # blank lines inside a quoted field are data
            if lines.record_bytes > lines.limit:
                raise IngestError(lines.path, self._line or lineno + self._cr_lines,
                                  f"a CSV record longer than {lines.limit:,} bytes (the "
                                  f"limit; {MAX_FIELD_ENV} sets it)")
            pieces = ([p for p in _AFTER_LONE_CR.split(line) if p]
                      if "\r" in line and _LONE_CR.search(line) else (line,))
            for k, piece in enumerate(pieces):
                self._cr_lines += k > 0
                if self._line is None:
                    self._line = lineno + self._cr_lines
                yield piece

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        lines, reader = self.lines, self._reader
        while True:
            self._line = None
            lines.record_bytes = 0
            lines.skip_blank = True
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                msg = str(exc)
                if "EOF" in msg or "end of data" in msg:
                    msg = "unbalanced quotes: a quoted field runs to the end of the file"
                raise BadCsvRecord(lines.path, self._line or lines.lineno,
                                   f"bad CSV: {msg}") from None
            yield self._line or lines.lineno, values


def duplicate_name(names: list[str]) -> str | None:
    """The first name that appears twice in a CSV header (unnamed columns, which
    spreadsheets add at the right, do not count), or None."""
    seen: set[str] = set()
    for name in names:
        if name in seen and name:
            return name
        seen.add(name)
    return None
