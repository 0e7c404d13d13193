"""Putting a finished export in place: the manifest, and the atomic move into ``out``.

An export is written into a temporary folder beside ``out`` (:func:`temp_folder`) and
then moved in (:func:`publish`): into a new ``out`` with one rename, into an existing one
file by file (each ``os.replace`` is atomic), the manifest (``parley-manifest.json``)
last. So a crash never leaves half a ``train.jsonl``.

An export only ever replaces or removes files it wrote itself: those listed in the
manifest of an earlier export in ``out`` (:func:`previous_files`). A folder that holds
anything else and no manifest is refused (unless ``force``), and even then only files
with the export's own names are replaced; nothing else in it is touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labeling import __version__
from labeling.export_options import CARD_FILE, MANIFEST_FILE, ExportError

MANIFEST_FORMAT = 1
_MANIFEST_MAX_BYTES = 1 << 20  # a real one is under 2 KB; never read a huge file whole


def file_digest(path: str | Path) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex digest}`` of the file at ``path`` (a manifest
    entry without its name)."""
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        size = os.fstat(fh.fileno()).st_size
    return {"bytes": size, "sha256": digest}


def manifest_text(entries: Sequence[dict[str, Any]], created: datetime) -> str:
    """The manifest: ``entries`` (``{"name", "bytes", "sha256"}`` per file written), the
    Parley version and the time, as indented JSON."""
    doc = {
        "parley_manifest": MANIFEST_FORMAT,
        "about": "The files a Parley export wrote into this folder. Exporting into the "
                 "folder again replaces or removes only these files.",
        "parley_version": __version__,
        "created_at": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "files": list(entries),
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def check_folder(out: Path, files: Sequence[str], force: bool) -> None:
    """Refuse at once, before any work, an ``out`` the export may not write ``files``
    into (see :func:`previous_files`)."""
    fd = open_folder(out)
    if fd is not None:
        try:
            previous_files(fd, out, files, force)
        finally:
            os.close(fd)


def temp_folder(out: Path) -> Path:
    """A new, empty folder beside ``out`` to write the export into (so that moving it in
    is a rename on the same file system)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        # mkdtemp makes the folder private (0700); a new ``out`` gets normal permissions.
        os.chmod(tmp, 0o777 & ~_umask())
    except OSError as exc:
        raise ExportError(f"cannot create the export folder {out}: {exc.strerror or exc}") from None
    return tmp


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, briefly, for every
    thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def open_folder(out: Path) -> int | None:
    """A descriptor of the existing folder ``out``, or None when there is none yet.

    Later steps work through the descriptor, so they act on this very folder even if
    the path is changed meanwhile. A symbolic link or a file is an :class:`ExportError`.
    """
    try:
        mode = os.lstat(out).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ExportError(f"--out {out}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise ExportError(f"--out {out} is a symbolic link; give the folder itself, or a new "
                          "one, to write the export into")
    if not stat.S_ISDIR(mode):
        raise ExportError(f"--out {out} is a file; give a folder to write the export into")
    try:
        return os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ExportError(f"cannot open the export folder {out}: {exc.strerror or exc}"
                          ) from None


def previous_files(fd: int, out: Path, files: Sequence[str],
                   force: bool) -> dict[str, dict]:
    """The manifest entries of the earlier export in the folder ``fd`` (``out``), by
    name: the files this export may replace or remove. Raises :class:`ExportError` when
    writing ``files`` there could destroy something Parley did not write (see
    ``labeling.export.export``); with ``force``, returns {} when there is no valid
    manifest."""
    try:
        entries = set(os.listdir(fd))
    except OSError as exc:
        raise ExportError(f"cannot read the export folder {out}: {exc.strerror or exc}"
                          ) from None
    for name in files:
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode):
            raise ExportError(f"{out / name} is a folder, but the export writes a file of "
                              "that name; move it away or export into another folder")
    if not entries:
        return {}
    listed, problem = read_manifest(fd)
    if listed is None:
        if force:
            return {}
        why = problem or f"no {MANIFEST_FILE} of an earlier Parley export"
        raise ExportError(
            f"{out} is not empty and holds {why}, so its files may not be Parley's; nothing "
            "was changed. Export into a new or empty folder, or add --force to write there "
            "anyway (files with the export's names are replaced, all others are kept)")
    foreign = sorted((entries & set(files)) - set(listed) - {MANIFEST_FILE})
    if foreign and not force:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ExportError(
            f"{out} holds {shown}, which the earlier Parley export there did not write (its "
            f"{MANIFEST_FILE} does not list {'it' if len(foreign) == 1 else 'them'}); "
            "nothing was changed. Export into a new or empty folder, or add --force to "
            "replace them")
    return listed


def read_manifest(fd: int) -> tuple[dict[str, dict] | None, str | None]:
    """``(entries by name, None)`` from the manifest in the folder ``fd``; ``(None,
    None)`` without one; ``(None, why)`` for one that is not a valid manifest.

    Valid entries name plain files directly in the folder: a manifest edited to list
    ``../x``, ``/etc/x`` or ``sub/x`` is not valid as a whole, so it can never make an
    export touch anything outside the folder.
    """
    def bad(why: str) -> tuple[None, str]:
        return None, f"a {MANIFEST_FILE} that is not a valid Parley manifest ({why})"

    try:
        # O_NOFOLLOW: a link is not our manifest; O_NONBLOCK: a FIFO must not hang us
        mfd = os.open(MANIFEST_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return bad(f"cannot be read: {exc.strerror or exc}")
    with os.fdopen(mfd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return bad("not a regular file")
        raw = fh.read(_MANIFEST_MAX_BYTES + 1)
    if len(raw) > _MANIFEST_MAX_BYTES:
        return bad("too large")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return bad("not JSON")
    if (not isinstance(doc, dict) or type(doc.get("parley_manifest")) is not int
            or doc["parley_manifest"] != MANIFEST_FORMAT or not isinstance(doc.get("files"), list)):
        return bad("no list of files in Parley's format")
    listed: dict[str, dict] = {}
    for entry in doc["files"]:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not _plain_name(name):
            return bad(f"it lists {str(name)[:60]!r}, not a file name in the folder")
        listed[name] = entry
    return listed, None


def _plain_name(name: object) -> bool:
    """Whether ``name`` names a file directly in a folder (no path, no ``..``)."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and name != MANIFEST_FILE and not any(c in name for c in "/\\")
            and all(ord(c) >= 32 for c in name))


def publish(tmp: Path, out: Path, files: Sequence[str], force: bool) -> None:
    """Move the finished files from ``tmp`` into ``out``: the card after the data, the
    manifest last, and remove the files of the earlier export that this one did not
    write again (only those its manifest lists)."""
    for name in files:
        with open(tmp / name, "rb") as fh:
            os.fsync(fh.fileno())  # data on disk before the name points at it
    fd = open_folder(out)
    if fd is None:
        os.rename(tmp, out)
        return
    try:
        # Checked again: the folder may have changed during a long export.
        listed = previous_files(fd, out, files, force)
        src = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            new = json.loads((tmp / MANIFEST_FILE).read_text(encoding="utf-8"))
            stale = [entry for name, entry in sorted(listed.items()) if name not in files]
            # First a manifest of the old and the new files together: should the export
            # stop half way, it still names every Parley file in the folder, and the
            # next export replaces or removes them without asking for --force.
            interim = dict(new, files=new["files"] + stale)
            (tmp / ".interim").write_text(json.dumps(interim, indent=2) + "\n",
                                          encoding="utf-8")
            os.replace(".interim", MANIFEST_FILE, src_dir_fd=src, dst_dir_fd=fd)
            data = [n for n in files if n != MANIFEST_FILE]
            for name in sorted(data, key=lambda n: n == CARD_FILE):
                os.replace(name, name, src_dir_fd=src, dst_dir_fd=fd)
            for entry in stale:
                try:
                    mode = os.stat(entry["name"], dir_fd=fd, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(mode):  # a link goes, never what it points to
                    os.unlink(entry["name"], dir_fd=fd)
            os.replace(MANIFEST_FILE, MANIFEST_FILE, src_dir_fd=src, dst_dir_fd=fd)
        finally:
            os.close(src)
        os.fsync(fd)
    finally:
        os.close(fd)
