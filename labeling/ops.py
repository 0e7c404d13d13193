"""Operations: back up a live project, and check that a database is consistent.

``backup`` copies the database while people label (SQLite's online backup API from one
read snapshot; see ``db.ops.backup``), into a temporary file next to the destination
that is verified with ``PRAGMA integrity_check`` and only then renamed into place, so
a failed or interrupted backup never leaves a half-written file under the name asked for.
It never writes over the database or its -wal/-shm/-journal files (nor links to them),
and reads a project it cannot write (read-only file or folder) read-only.

``check`` runs ``PRAGMA integrity_check`` and ``foreign_key_check``, compares the schema
with the one this version of Parley creates, and tests the invariants the write path
keeps (``db.ops.INVARIANTS``): one current annotation per (sentence, annotator), no
sentence over its target, ``n_done`` and the progress counters exact, every annotation
backed by its event, gold only for existing sentences, articles stored whole.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import db as store
import db.leases as leases_db
import db.migrations as migrations_db
import db.ops as ops_db
from labeling import project


class OpsError(Exception):
    """An operation that cannot be done as asked (the message says why)."""


# ----------------------------------------------------------------------------- opening


def open_existing(path: str | os.PathLike) -> store.Database:
    """Open a project database that must already exist (never create one, never migrate:
    a backup or a check must not change what it looks at). Where the file or its folder
    cannot be written (``project.writable``) it is opened read-only, so that a
    project on a read-only disk can still be backed up and checked."""
    p = Path(path)
    if str(path) != ":memory:" and not p.is_file():
        raise OpsError(f"{path}: no such database file")
    try:
        if str(path) != ":memory:" and not project.writable(p):
            return store.connect(p, readonly=True)
        return store.connect(p)
    except store.DatabaseError as exc:
        raise OpsError(str(exc)) from None


# ----------------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupReport:
    """What ``backup`` wrote; ``as_dict`` is the CLI's ``--json`` object."""

    source: str
    destination: str
    pages: int
    bytes: int
    seconds: float
    integrity_check: str
    counts: dict[str, int]

    def as_dict(self) -> dict:
        return asdict(self)


def backup(source: str | os.PathLike, dest: str | os.PathLike, *, force: bool = False,
           pages: int = 1024, pause: float = 0.01) -> BackupReport:
    """Copy the database at ``source`` to ``dest`` while it is in use.

    ``dest`` may be an existing folder: the copy is then named
    ``<source name>-<UTC time>.db`` inside it. An existing file is replaced only with
    ``force``. The database itself, its ``-wal``, ``-shm`` and ``-journal`` files and
    any link to them are refused as destinations, ``force`` or not. The copy must pass
    ``PRAGMA integrity_check`` before it takes the name.
    """
    started = time.monotonic()
    src_path = Path(source)
    dest_path = Path(dest)
    if dest_path.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        dest_path = dest_path / f"{src_path.stem}-{stamp}.db"
    if not dest_path.parent.is_dir():
        raise OpsError(f"{dest_path}: the folder {dest_path.parent} does not exist")
    if src_path.is_file():
        _refuse_own_files(src_path, dest_path)
    if os.path.lexists(dest_path) and not force:
        raise OpsError(f"{dest_path} already exists; choose another name or use --force "
                       "to replace it")
    db = open_existing(src_path)
    tmp: Path | None = None
    try:
        try:
            tmp = _new_file(dest_path.parent, f".{dest_path.name}.partial-")
            target = sqlite3.connect(tmp, isolation_level=None)
            try:
                n_pages = ops_db.backup(db.conn, target, pages=pages, pause=pause)
            finally:
                target.close()
            problems, counts = _verify(tmp)
        except sqlite3.Error as exc:
            raise OpsError(_storage_message(exc, dest_path)) from None
        except OSError as exc:
            raise OpsError(f"{dest_path}: cannot write the copy ({exc.strerror or exc})"
                           ) from None
        if problems:
            raise OpsError(f"{dest_path}: the copy failed its integrity check "
                           f"({'; '.join(problems[:3])}); nothing was written")
        _fsync(tmp)
        if force:
            # A stale -wal next to the old file would be replayed into the new copy.
            _remove_db_files(dest_path, main=False)
        os.replace(tmp, dest_path)
        _fsync(dest_path.parent)
    finally:
        db.close()
        if tmp is not None:
            _remove_db_files(tmp)
    return BackupReport(source=str(src_path), destination=str(dest_path), pages=n_pages,
                        bytes=dest_path.stat().st_size,
                        seconds=round(time.monotonic() - started, 3),
                        integrity_check="ok", counts=counts)


#: The files SQLite keeps for a database, by suffix, as named in error messages.
DB_FILES = {"": "the database {src} itself",
            "-wal": "the write-ahead log (-wal) of the database {src}",
            "-shm": "the shared-memory index (-shm) of the database {src}",
            "-journal": "the rollback journal (-journal) of the database {src}"}


def _refuse_own_files(src: Path, dest: Path) -> None:
    """Raise :class:`OpsError` when writing ``dest`` (or clearing its -wal/-shm/-journal
    with ``--force``) would touch the database being copied or one of its files: the
    same path however spelt, a symbolic link to it (even to a -wal that does not exist
    yet), or a hard link (the same inode). Writing over the live -wal loses every
    change not yet checkpointed into the database file."""
    own: dict[str, str] = {}
    inodes: dict[tuple[int, int], str] = {}
    for base in {os.path.abspath(src), os.path.realpath(src)}:
        for suffix, what in DB_FILES.items():
            own[os.path.realpath(base + suffix)] = what
            own[base + suffix] = what
            try:
                st = os.stat(base + suffix)
            except OSError:
                continue
            inodes[(st.st_dev, st.st_ino)] = what
    for suffix in DB_FILES:
        candidate = f"{dest}{suffix}"
        what = own.get(os.path.abspath(candidate)) or own.get(os.path.realpath(candidate))
        if what is None:
            for follow in (True, False):
                try:
                    st = os.stat(candidate, follow_symlinks=follow)
                except OSError:
                    continue
                what = what or inodes.get((st.st_dev, st.st_ino))
        if what is not None:
            shown = dest if not suffix else f"{dest} (its {suffix} file)"
            raise OpsError(f"{shown} is {what.format(src=src)} (or a link to it); a backup "
                           "there would destroy what it copies: choose another destination")


def _new_file(folder: Path, prefix: str) -> Path:
    """Create an empty file with a fresh random name in ``folder`` and return its path.

    Created exclusively (``O_EXCL``), so the backup only ever writes over and removes a
    file it made itself; with the mode a new database would get (``mkstemp`` would make
    the copy private to its owner).
    """
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name in {folder}")


def _verify(path: Path) -> tuple[list[str], dict[str, int]]:
    """Integrity problems and table counts of a finished copy (opened read-only, so
    that checking it creates no -wal/-shm files beside it)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        problems = ops_db.integrity_problems(conn)
        counts = ops_db.table_counts(conn) if not problems else {}
    finally:
        conn.close()
    return problems, counts


def _storage_message(exc: sqlite3.Error, dest: Path) -> str:
    msg = str(exc)
    if "full" in msg.lower():
        return f"{dest}: the disk is full; no backup was written"
    return f"{dest}: the backup failed ({msg}); no backup was written"


def _remove_db_files(path: Path, *, main: bool = True) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        if suffix == "" and not main:
            continue
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk; best effort where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- check


@dataclass(frozen=True)
class Problem:
    """One broken rule: how many rows break it, and a few of them."""

    check: str
    count: int
    message: str
    examples: list[dict] = field(default_factory=list)

    def __str__(self) -> str:
        shown = "; ".join(", ".join(f"{k}={v!r}" for k, v in ex.items())
                          for ex in self.examples[:3])
        return f"{self.check}: {self.count} × {self.message}" + (f" (e.g. {shown})" if shown else "")


@dataclass
class CheckReport:
    """The result of :func:`check`; ``as_dict`` is the CLI's ``--json`` object."""

    problems: list[Problem]
    checks: list[str]
    info: dict

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"ok": self.ok, "problems": [asdict(p) for p in self.problems],
                "checks": list(self.checks), "info": dict(self.info)}


def check(db: store.Database, *, quick: bool = False,
          now: float | None = None) -> CheckReport:
    """Check ``db`` for storage damage and broken invariants; changes nothing.

    Every query reads one snapshot (a read transaction; in WAL mode it blocks no
    writer), so a check of a project in use gives no false alarms. ``quick`` uses
    ``PRAGMA quick_check`` (no index cross-check) instead of ``integrity_check``.
    Expired leases are not a problem (routing ignores them): their number is in ``info``.
    """
    now = time.time() if now is None else now
    problems: list[Problem] = []
    info: dict = {}

    def integrity() -> None:
        msgs = ops_db.integrity_problems(db, quick=quick)
        if msgs:
            problems.append(Problem("integrity", len(msgs), "PRAGMA integrity_check: damage "
                                    "in the database file", [{"message": m} for m in msgs[:5]]))

    def foreign_keys() -> None:
        rows = ops_db.foreign_key_problems(db)
        if rows:
            problems.append(Problem(
                "foreign_keys", len(rows), "a row that refers to a missing row",
                [dict(zip(("table", "rowid", "parent", "fk"), r)) for r in rows[:5]]))

    def invariant(inv: ops_db.Invariant) -> None:
        try:
            count, rows = ops_db.offending_rows(db, inv)
        except sqlite3.OperationalError as exc:
            if "no such" not in str(exc):
                raise
            info.setdefault("skipped", []).append(inv.name)  # an old schema (reported)
            return
        if count:
            problems.append(Problem(inv.name, count, inv.message,
                                    [dict(zip(inv.columns, r)) for r in rows]))

    steps: list[tuple[str, Callable[[], None]]] = [
        ("integrity", integrity), ("foreign_keys", foreign_keys),
        ("schema", lambda: info.update(_schema_info(db, problems))),
        *((inv.name, lambda inv=inv: invariant(inv)) for inv in ops_db.INVARIANTS),
        ("leases", lambda: info.update(leases_db.lease_counts(db, now))),
        ("counts", lambda: info.update(counts=ops_db.table_counts(db))),
    ]
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        for name, step in steps:
            try:
                step()
            except sqlite3.DatabaseError as exc:  # a damaged file fails the query itself
                problems.append(Problem(name, 1, f"the check itself failed: {exc}"))
    finally:
        if own and conn.in_transaction:
            _end_read(conn)
    return CheckReport(problems=problems, checks=[name for name, _ in steps[:-1]], info=info)


def _end_read(conn: sqlite3.Connection) -> None:
    """Close the read snapshot; on a damaged file even that can fail."""
    try:
        conn.execute("COMMIT")
    except sqlite3.DatabaseError:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            pass


def check_file(path: str | os.PathLike, *, quick: bool = False) -> CheckReport:
    """:func:`check` on the database file at ``path`` (which must exist). A file too
    damaged to open at all is reported as an integrity problem, not raised."""
    p = Path(path)
    if not p.is_file():
        raise OpsError(f"{path}: no such database file")
    try:
        # read-only where it cannot be written (a check must work on a read-only disk)
        db = store.connect(p, readonly=not project.writable(p))
    except store.DatabaseError as exc:
        return CheckReport(problems=[Problem("integrity", 1, f"the database cannot be "
                                             f"opened: {exc}")], checks=["integrity"], info={})
    try:
        return check(db, quick=quick)
    finally:
        db.close()


def _schema_info(db: store.Database, problems: list[Problem]) -> dict:
    """Compare with the schema a new database gets; pending migrations are a problem
    (any project command applies them)."""
    pending = [m.name for m in migrations_db.migrations.pending(db)]
    out = {"schema_version": migrations_db.SCHEMA_VERSION - len(pending),
           "current_schema_version": migrations_db.SCHEMA_VERSION}
    if pending:
        problems.append(Problem(
            "schema", len(pending), "a schema migration not yet applied (any command that "
            "opens the project, e.g. `python -m labeling init`, applies it)",
            [{"migration": name} for name in pending]))
        return out
    fresh = store.connect(":memory:", migrate=True)
    try:
        want = ops_db.schema(fresh)
    finally:
        fresh.close()
    have = ops_db.schema(db)
    diffs = ([{"object": f"{k[0]} {k[1]}", "difference": "missing"}
              for k in sorted(want.keys() - have.keys())]
             + [{"object": f"{k[0]} {k[1]}", "difference": "unexpected"}
                for k in sorted(have.keys() - want.keys())]
             + [{"object": f"{k[0]} {k[1]}", "difference": "changed"}
                for k in sorted(want.keys() & have.keys()) if want[k] != have[k]])
    if diffs:
        problems.append(Problem("schema", len(diffs), "a table, index or trigger that differs "
                                "from the schema this version of Parley creates", diffs[:5]))
    return out
