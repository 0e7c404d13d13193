"""Connections and the one write path.

Streamlit runs every rerun on a new thread and serves all sessions from one process
(see docs/architecture.md), so connections are opened with ``check_same_thread=False``
and every multi-statement write goes through :func:`write_transaction`, which takes
SQLite's write lock up front with ``BEGIN IMMEDIATE``. A deferred ``BEGIN`` (what
``sqlite_utils.Database.atomic`` does) upgrades its lock mid-transaction and fails
with "database is locked" under concurrent writers instead of waiting.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Iterator

import sqlite_utils

BUSY_TIMEOUT_MS = 30_000


class DatabaseError(Exception):
    """A storage problem worth showing to a user (disk full, read-only file, ...)."""


class ReadOnlyDatabase(DatabaseError):
    """The database file (or its folder) cannot be written."""


class DiskFull(DatabaseError):
    """SQLite ran out of space; the transaction was rolled back."""


class DatabaseBusy(DatabaseError):
    """Another connection held the write lock for longer than the busy timeout."""


Conn = sqlite3.Connection | sqlite_utils.Database


class Database(sqlite_utils.Database):
    """A project database: a sqlite-utils ``Database`` that knows the file it was
    opened from (``path``, for messages and for the caches keyed by file) and owns the
    lock that serialises the rare use of one connection from several threads
    (``lock``: held by :func:`write_transaction` and by snapshot reads)."""

    def __init__(self, conn: sqlite3.Connection, path: str | Path):
        super().__init__(conn)
        self.path = str(path)
        self.lock = threading.RLock()


def path_of(db: Conn) -> str | None:
    """The file ``db`` was opened from, or None (a plain connection, or ``:memory:``)."""
    path = getattr(db, "path", None) if isinstance(db, Database) else None
    return None if path in (None, ":memory:") else path


def connect(path: str | Path, *, migrate: bool = False, readonly: bool = False,
            factory: type[Database] = Database) -> Database:
    """Open ``path`` (``":memory:"`` allowed) with WAL, foreign keys and a busy timeout.

    The returned :class:`Database` (or ``factory``, a subclass: ``labeling.project``
    opens a ``Project``) may be used from several threads, but a connection has a
    single transaction state: give each browser session (or worker thread) its own
    connection. With ``migrate=True`` pending migrations are applied.
    ``readonly=True`` opens an existing file with SQLite's ``mode=ro``: every write
    raises :class:`ReadOnlyDatabase` (as on a read-only file, even for root).
    """
    try:
        conn = _open(path, readonly=readonly, immutable=False)
    except sqlite3.Error as exc:
        if not (readonly and _needs_immutable(exc, path)):
            raise _translate(exc, path) from None
        # A WAL database is read through its -shm index, which SQLite must create when
        # it is missing (the last connection to close removes it); in a folder we may
        # not write it cannot. ``immutable=1`` reads the file without index or locks.
        # Safe here: with no -wal file holding changes the file is the whole database,
        # and nobody writes it meanwhile, as a writer would first have to create the
        # -wal and -shm files in that folder (and its changes would reach the file
        # itself only at a checkpoint).
        try:
            conn = _open(path, readonly=True, immutable=True)
        except sqlite3.Error as exc2:
            raise _translate(exc2, path) from None
    db = factory(conn, path)
    from db.migrations import check_known, migrate as _migrate

    try:
        check_known(db)  # every open: older code must not write a newer schema
        if migrate:
            _migrate(db)
    except BaseException:
        db.close()
        raise
    return db


def _open(path: str | Path, *, readonly: bool, immutable: bool) -> sqlite3.Connection:
    """A configured connection; raises ``sqlite3.Error`` (the caller translates it)."""
    target = str(path)
    if readonly:
        target = f"{Path(path).resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    conn = sqlite3.connect(
        target,
        uri=readonly,
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,  # autocommit; transactions are explicit (BEGIN IMMEDIATE)
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if str(path) != ":memory:" and not readonly:
            # the first statement that reads the file: "file is not a database" shows here
            conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable in WAL mode against process crashes (not power loss),
        # and avoids an fsync per label.
        conn.execute("PRAGMA synchronous = NORMAL")
        if readonly:  # read now, so that a file that cannot be read fails here
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _needs_immutable(exc: sqlite3.Error, path: str | Path) -> bool:
    """Whether a read-only open failed only because SQLite could not create the -shm
    file of a WAL database (a folder that cannot be written), with no -wal changes
    that reading the file alone would miss."""
    if getattr(exc, "sqlite_errorname", "") not in ("SQLITE_READONLY_DIRECTORY",
                                                    "SQLITE_CANTOPEN"):
        return False
    try:
        return os.path.getsize(f"{Path(path).resolve()}-wal") == 0
    except FileNotFoundError:
        return True
    except OSError:
        return False


# Tables whose rowids the code compares or hands out (data versions, next ids).
_ID_TABLES = ("articles", "sentences", "events", "project_log")


def raw(db: Conn) -> sqlite3.Connection:
    """The ``sqlite3`` connection under a sqlite-utils ``Database`` (or the connection
    itself): the query modules accept either."""
    return db.conn if isinstance(db, sqlite_utils.Database) else db


def max_id(db: Conn, table: str) -> int:
    """The largest id in ``table`` (0 when empty): one step down the rowid B-tree."""
    if table not in _ID_TABLES:
        raise ValueError(f"max_id: unexpected table {table!r}")
    return raw(db).execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]


IN_CHUNK = 500  # ids per ``IN`` list: stays far below SQLite's bound-parameter limit


def in_chunks(db: Conn, sql: str, ids: Iterable[int]) -> list[tuple]:
    """Run ``sql`` (with ``{marks}`` for an ``IN`` list) over ``ids`` in chunks of
    :data:`IN_CHUNK`; the rows of every chunk, in chunk order."""
    conn, ids, out = raw(db), list(ids), []
    for i in range(0, len(ids), IN_CHUNK):
        chunk = ids[i:i + IN_CHUNK]
        out += conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk).fetchall()
    return out


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """Run the block as one ``BEGIN IMMEDIATE`` transaction; roll back on any error.

    Yields the raw ``sqlite3.Connection``. Storage errors (disk full, read-only) are
    re-raised as :class:`DatabaseError` subclasses with a message fit for users.
    """
    conn = db.conn
    with db.lock if isinstance(db, Database) else contextlib.nullcontext():
        path = db.path if isinstance(db, Database) else "?"
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            _reraise(exc, path)
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            _rollback(conn)
            _reraise(exc, path)
        except BaseException:
            _rollback(conn)
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                _rollback(conn)
                _reraise(exc, path)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _reraise(exc: sqlite3.Error, path: object) -> None:
    """Raise the user-facing translation of ``exc`` (chained), or ``exc`` itself."""
    translated = _translate(exc, path)
    if translated is exc:
        raise exc  # not ``from exc``: an exception must not be its own cause
    raise translated from exc


def _translate(exc: sqlite3.Error, path: object) -> Exception:
    """A :class:`DatabaseError` with a message for users, or ``exc`` unchanged."""
    msg = str(exc).lower()
    if "full" in msg:
        return DiskFull(f"{path}: the disk (or database size limit) is full; nothing was saved")
    if "unable to open" in msg:
        return ReadOnlyDatabase(f"{path}: cannot open the database file ({exc}); "
                                "does its folder exist, and may it be written?")
    if "readonly" in msg or "read-only" in msg:
        return ReadOnlyDatabase(f"{path}: the database cannot be written ({exc}); nothing was saved")
    if "locked" in msg or "busy" in msg:
        return DatabaseBusy(f"{path}: the database is busy (another process kept it locked "
                            "past the timeout); nothing was saved, try again")
    if "not a database" in msg or "malformed" in msg:
        return DatabaseError(f"{path}: not a usable SQLite database ({exc}); "
                             "choose another file with --db or PARLEY_DB")
    return exc
