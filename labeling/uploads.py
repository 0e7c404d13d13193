"""Files uploaded in the app -> the import's own reader (no Streamlit here).

The Import page takes files as ``(name, bytes)``. They are written into a temporary
folder that this module creates (``tempfile.mkdtemp``) and removes afterwards (that
folder only), each in its own numbered subfolder under a sanitised name, so that
``ingest.import_paths`` / ``ingest.read_file`` read them exactly as they read files
named on the command line: the same validation, the same all-or-nothing import and the
same messages. Keeping the file's name (only path parts, control characters and
leading dots are taken out) keeps the article ids the command line would give (a text
file's id is its name without the extension), and two uploads of the same name land in
different subfolders instead of overwriting each other.

Messages shown to the user name the upload as the user knows it, never the temporary
path: :meth:`Staged.message` puts the uploaded name back (with ``(upload 2)`` after a
name uploaded twice) and turns the command-line flag names into the page's choices.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Sequence

from labeling import ingest, records
from labeling.ingest import Columns, FieldMap, IngestError

EXTENSIONS = tuple(sorted(ingest.TEXT_EXTENSIONS | ingest.CSV_EXTENSIONS
                          | ingest.JSONL_EXTENSIONS))
# Uploads are held in the server's memory while the page holds them (Streamlit keeps
# them there), and the import holds one file's articles while it checks them (about
# 2.5 times the file's size), so the page takes far less than Streamlit's own 200 MB
# default: measured, a 45 MB JSONL upload took the server from 147 MB to a 368 MB
# peak; 90 MB to 578 MB. Bigger corpora go through the command line.
MAX_FILE_MB = 50
MAX_TOTAL_MB = 100
_MB = 1024 * 1024
MAX_NAME_BYTES = 200  # below the usual 255-byte limit of a file name
NONE_CHOICE = "(none)"  # the page's choice for "no title/id column"
AUTO_CHOICE = "(detect in each file)"  # offered when the files' own guesses differ
FOLDER_PREFIX = "parley-upload-"

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The command line's words for the field choices, and the page's.
_FLAGS = (("choose one with --text-field", "choose it under “Text column”"),
          ("choose one with --title-field", "choose it under “Title column”"),
          ("choose one with --id-field", "choose it under “Id column”"),
          ("(--text-field)", "(the “Text column” choice)"),
          ("(--title-field)", "(the “Title column” choice)"),
          ("(--id-field)", "(the “Id column” choice)"),
          ("add --force to confirm", "tick “Also delete…” to confirm"))


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as the browser sent it, and its content: bytes, or
    a seekable binary file (Streamlit's ``UploadedFile``), copied to disk in chunks
    rather than duplicated in memory."""

    name: str
    data: bytes | bytearray | memoryview | BinaryIO

    @property
    def size(self) -> int:
        """Bytes."""
        if isinstance(self.data, (bytes, bytearray, memoryview)):
            return memoryview(self.data).nbytes
        return self.data.seek(0, os.SEEK_END)

    def write_to(self, out: BinaryIO) -> None:
        """Copy the content into ``out``."""
        if isinstance(self.data, (bytes, bytearray, memoryview)):
            out.write(self.data)
        else:
            self.data.seek(0)
            shutil.copyfileobj(self.data, out, 1 << 20)


def safe_name(name: str) -> str:
    """A file name for an upload that stays inside the folder it is written to: the
    last part of ``name`` (after any ``/`` or ``\\``), without control characters or
    leading dots and spaces, at most ``MAX_NAME_BYTES`` bytes of UTF-8 (the extension
    kept); ``upload`` plus the extension when nothing is left."""
    name = name.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    base = re.split(r"[/\\]", name)[-1]
    base = _CONTROL.sub("", base).strip().lstrip(". ")
    stem, ext = os.path.splitext(base)
    ext = ext if len(ext.encode("utf-8")) <= 16 else ""
    room = MAX_NAME_BYTES - len(ext.encode("utf-8"))
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(" .")
    return (stem or "upload") + ext


def display_names(names: Sequence[str]) -> list[str]:
    """How each upload is named in messages: the name as uploaded (control characters
    and undecodable bytes escaped), with ``(upload N)`` after the second and later
    uploads of a name already shown."""
    shown: list[str] = []
    seen: dict[str, int] = {}
    for n, name in enumerate(names, 1):
        text = records.display(name)
        seen[text] = seen.get(text, 0) + 1
        shown.append(text if seen[text] == 1 else f"{text} (upload {n})")
    return shown


def check(uploads: Sequence[Upload]) -> None:
    """IngestError naming the upload when one is not a file the import reads (by its
    extension) or is bigger than ``MAX_FILE_MB``, or when all together pass
    ``MAX_TOTAL_MB``."""
    total = 0
    for up, shown in zip(uploads, display_names([u.name for u in uploads]), strict=True):
        ext = os.path.splitext(safe_name(up.name))[1].lower()
        if ext not in EXTENSIONS:
            raise IngestError(shown, None, f"not a file Parley imports (the name must end in "
                              f"{', '.join(EXTENSIONS)})")
        if up.size > MAX_FILE_MB * _MB:
            raise IngestError(shown, None, f"{up.size / _MB:,.0f} MB, more than the "
                              f"{MAX_FILE_MB} MB the Import page takes; import it with "
                              "python -m labeling import")
        total += up.size
    if total > MAX_TOTAL_MB * _MB:
        raise IngestError("the uploads", None, f"{total / _MB:,.0f} MB together, more than "
                          f"the {MAX_TOTAL_MB} MB the Import page takes at once; import "
                          "fewer files at a time")


@dataclass
class Staged:
    """Uploads written to disk for the import's reader. ``paths[i]`` holds upload
    ``i``; ``names[i]`` is how messages name it. Use as a context manager (or call
    :meth:`remove`): the temporary folder goes when it ends."""

    folder: Path
    paths: list[Path] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def message(self, text: str) -> str:
        """``text`` (an IngestError, a duplicate's place, a warning) with each temporary
        path replaced by the upload's name and the command-line flags by the page's
        choices."""
        pairs = [(records.display(p), n) for p, n in zip(self.paths, self.names, strict=True)]
        pairs.append((records.display(self.folder), "the uploads"))
        for path, name in sorted(pairs, key=lambda pn: -len(pn[0])):
            text = text.replace(path, name)
        return page_words(text)

    def remove(self) -> None:
        """Delete the temporary folder (only it, which this module created)."""
        if self.folder.name.startswith(FOLDER_PREFIX) and self.folder.is_dir():
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def stage(uploads: Sequence[Upload]) -> Staged:
    """Write ``uploads`` (checked by :func:`check`) into a new temporary folder, each
    as ``<folder>/<n>/<safe name>``; the caller removes it (``with stage(...) as s``)."""
    check(uploads)
    staged = Staged(Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX)))
    try:
        staged.names = display_names([u.name for u in uploads])
        for n, up in enumerate(uploads, 1):
            sub = staged.folder / str(n)
            sub.mkdir()
            path = sub / safe_name(up.name)
            with open(path, "xb") as f:  # "x": never an existing file
                up.write_to(f)
            staged.paths.append(path)
    except BaseException:
        staged.remove()
        raise
    return staged


# ------------------------------------------------------------------ column choices


def column_options(detected: Sequence[Columns]) -> list[str]:
    """The fields of every CSV/JSONL file, each once, in the order first seen."""
    names: dict[str, None] = {}
    for cols in detected:
        names.update(dict.fromkeys(cols.names))
    return list(names)


def choices(detected: Sequence[Columns], what: str) -> tuple[list[str], str | None]:
    """The options of the ``what`` (text, title, id) choice and the one to preselect.

    Options: every field of the CSV/JSONL files, after ``NONE_CHOICE`` for the optional
    title and id, and first of all ``AUTO_CHOICE`` when the files' own guesses differ
    (then preselected: each file imports as the command line would import it). Else
    the preselection is the guess all files share (None: nothing matched the text)."""
    tabular = [c for c in detected if c.kind != "text"]
    options = column_options(tabular)
    if what != "text":
        options.insert(0, NONE_CHOICE)
    guesses = {getattr(c, what) for c in tabular}
    if len(guesses) > 1:
        return [AUTO_CHOICE, *options], AUTO_CHOICE
    guess = guesses.pop() if guesses else None
    if guess is None:
        return options, None if what == "text" else NONE_CHOICE
    return options, guess


def field_map(detected: Sequence[Columns], text: str | None, title: str | None,
              id_: str | None) -> FieldMap:
    """The ``FieldMap`` for the page's choices (``NONE_CHOICE`` or None: no column;
    ``AUTO_CHOICE``: each file's own).

    A choice that equals what the import picks by itself in every CSV/JSONL file is
    passed as None (detect), as the command line without flags does, so files whose
    rows lack an optional field still import alike; another choice is passed as
    given; "no title/id" where one would be detected is ``ingest.NO_FIELD``."""
    tabular = [c for c in detected if c.kind != "text"]

    def one(what: str, choice: str | None) -> str | None:
        if choice == AUTO_CHOICE:
            return None
        choice = None if choice in (None, NONE_CHOICE) else choice
        if all(getattr(c, what) == choice for c in tabular):
            return None
        return ingest.NO_FIELD if choice is None else choice

    return FieldMap(text=one("text", text), title=one("title", title), id=one("id", id_))


def page_words(text: str) -> str:
    """A library message with the command line's flags (``--text-field``, ``--force``)
    named as the Import page's choices instead."""
    for flag, choice in _FLAGS:
        text = text.replace(flag, choice)
    return text

