"""Article text as Parley stores it: decoded, normalised, and checked.

``decode`` turns a file's bytes into text (UTF-8, or UTF-16 with a byte-order mark);
``normalise`` gives the form that is hashed and stored; the ``check_*`` functions refuse
control characters, lone surrogates and absurdly long lines, naming the file and line.
Every problem is an :class:`~labeling.records.IngestError`.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from labeling import records
from labeling.records import IngestError

MAX_LINE_CHARS = 1_000_000  # one line of a million characters is not news text
MAX_TITLE_CHARS = 300

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


def check_text(path: str, line: int | None, text: str, *, first_line: int = 1) -> bytes:
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


def first_char(text: str) -> str:
    """The first non-whitespace character ('' if none), without copying ``text``."""
    i = _LEADING_SPACE.match(text).end()
    return text[i:i + 1]


def headline(text: str) -> str | None:
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


def check_field(path: Path, line: int | None, name: str, value: str) -> None:
    """IngestError for a control character in a one-line field (id, title, url...)."""
    bad = records.find_control(value)
    if bad is not None:
        raise IngestError(path, line, f"control character U+{ord(bad):04X} in field {name!r}")


def check_meta(path: Path, line: int, meta: dict) -> None:
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

