"""Connections and the one write path.

Streamlit runs every rerun on a new thread and serves all sessions from one process
(see notes/streamlit.md), so connections are opened with ``check_same_thread=False``
and every multi-statement write goes through :func:`write_transaction`, which takes
SQLite's write lock up front with ``BEGIN IMMEDIATE``. A deferred ``BEGIN`` (what
``sqlite_utils.Database.atomic`` does) upgrades its lock mid-transaction and fails
with "database is locked" under concurrent writers instead of waiting.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Iterator

import sqlite_utils

BUSY_TIMEOUT_MS = 30_000


class DatabaseError(Exception):
    """A storage problem worth showing to a user (disk full, read-only file, ...)."""


class ReadOnlyDatabase(DatabaseError):
    """The database file (or its folder) cannot be written."""


class DiskFull(DatabaseError):
    """SQLite ran out of space; the transaction was rolled back."""


def connect(path: str | Path, *, migrate: bool = False) -> sqlite_utils.Database:
    """Open ``path`` (``":memory:"`` allowed) with WAL, foreign keys and a busy timeout.

    The returned ``sqlite_utils.Database`` may be used from several threads, but a
    connection has a single transaction state: give each browser session (or worker
    thread) its own connection. With ``migrate=True`` pending migrations are applied.
    """
    conn = sqlite3.connect(
        str(path),
        check_same_thread=False,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,  # autocommit; transactions are explicit (BEGIN IMMEDIATE)
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if str(path) != ":memory:":
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            raise _translate(exc, path) from exc
    # NORMAL is durable in WAL mode against process crashes (not power loss),
    # and avoids an fsync per label.
    conn.execute("PRAGMA synchronous = NORMAL")
    db = sqlite_utils.Database(conn)
    # the lock serialises the rare cross-thread use of one connection
    db._parley_lock = threading.RLock()  # type: ignore[attr-defined]
    db._parley_path = str(path)  # type: ignore[attr-defined]
    if migrate:
        from db.migrations import migrate as _migrate

        _migrate(db)
    return db


@contextlib.contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """Run the block as one ``BEGIN IMMEDIATE`` transaction; roll back on any error.

    Yields the raw ``sqlite3.Connection``. Storage errors (disk full, read-only) are
    re-raised as :class:`DatabaseError` subclasses with a message fit for users.
    """
    conn = db.conn
    lock = getattr(db, "_parley_lock", None) or threading.RLock()
    with lock:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _translate(exc, getattr(db, "_parley_path", "?")) from exc
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            _rollback(conn)
            raise _translate(exc, getattr(db, "_parley_path", "?")) from exc
        except BaseException:
            _rollback(conn)
            raise
        else:
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                _rollback(conn)
                raise _translate(exc, getattr(db, "_parley_path", "?")) from exc


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _translate(exc: sqlite3.OperationalError, path: object) -> Exception:
    msg = str(exc).lower()
    if "full" in msg:
        return DiskFull(f"{path}: the disk (or database size limit) is full; nothing was saved")
    if "readonly" in msg or "read-only" in msg or "unable to open" in msg:
        return ReadOnlyDatabase(f"{path}: the database cannot be written ({exc}); nothing was saved")
    return exc
