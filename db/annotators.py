"""The ``annotators`` table: identity (name keys, look-ups, accounts), sign-in
throttling, and each person's progress counter.

Names are compared after Unicode normalisation and case folding, so ``Alice``,
``alice``, ``ALICE`` and ``ａｌｉｃｅ`` (full-width) are one person. The folded form is
stored in ``annotators.name_key`` (migration 0003) and every lookup goes through it.
The key is not a UNIQUE index (a database from an older version may hold clashes, which
``check`` reports); :func:`insert` refuses a new clash inside the caller's
``BEGIN IMMEDIATE`` transaction, so two writers cannot both add one.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterable

import sqlite_utils

from db.connection import raw

Conn = sqlite3.Connection | sqlite_utils.Database


def name_key(name: str) -> str:
    """The comparison key of an annotator name: NFKC, case-folded, NFKC again (case
    folding can leave a string that is not NFKC-normal, e.g. for some ligatures)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


class NameTaken(sqlite3.IntegrityError):
    """A person with the same name key exists; ``existing`` is their stored name."""

    def __init__(self, name: str, existing: str):
        self.name, self.existing = name, existing
        super().__init__(f"annotator {existing!r} already exists")



def _row(cur: sqlite3.Cursor) -> dict | None:
    row = cur.fetchone()
    return None if row is None else dict(zip([c[0] for c in cur.description], row))


# Both columns are indexed (name UNIQUE, name_key by migration 0003), so the OR is a
# two-index lookup. ``name`` also finds a row written without a key by other code; of
# clashing rows in an older database the exact spelling wins, then the oldest.
_GET_SQL = ("SELECT * FROM annotators WHERE name_key = :key OR name = :name "
            "ORDER BY name = :name DESC, id LIMIT 1")


_MINE_TOTAL_SQL = "SELECT n_labeled FROM annotators WHERE id = :me"
_MINE_TODAY_SQL = ("SELECT count(*) FROM annotations WHERE annotator_id = :me "
                   "AND updated_at >= :day AND status = 'labeled'")
# What the label page reads on every rerun (``db.hot_path``): the person's progress.
PAGE_READS: dict[str, str] = {"mine_total": _MINE_TOTAL_SQL, "mine_today": _MINE_TODAY_SQL}


def get(db: Conn, name: str) -> dict | None:
    """The annotator whose name equals ``name`` up to case (every column), or None."""
    return _row(raw(db).execute(_GET_SQL, {"key": name_key(name), "name": name}))


def get_by_id(db: Conn, annotator_id: int) -> dict | None:
    """The annotator with this id (every column), or None."""
    return _row(raw(db).execute("SELECT * FROM annotators WHERE id = ?", [annotator_id]))


def insert(conn: sqlite3.Connection, name: str, role: str, password_hash: str | None,
           now: str) -> int:
    """Create an annotator and return its id; raises :class:`NameTaken` when a name
    with the same key exists (call inside ``BEGIN IMMEDIATE``)."""
    fill_missing_keys(conn)
    existing = get(conn, name)
    if existing is not None:
        raise NameTaken(name, existing["name"])
    cur = conn.execute(
        "INSERT INTO annotators (name, name_key, role, password_hash, created_at) "
        "VALUES (?, ?, ?, ?, ?)", [name, name_key(name), role, password_hash, now])
    return int(cur.lastrowid)


def fill_missing_keys(conn: sqlite3.Connection) -> int:
    """Give rows written without a name key (by versions between migration 0003 and
    the code that sets it) their key, so that the clash check of :func:`insert` and
    the look-ups up to case see them. Returns how many rows changed (normally none:
    an index probe of NULL keys)."""
    rows = conn.execute("SELECT id, name FROM annotators WHERE name_key IS NULL").fetchall()
    conn.executemany("UPDATE annotators SET name_key = ? WHERE id = ?",
                     [(name_key(n), i) for i, n in rows])
    return len(rows)


def ids_by_name(conn: Conn, names: Iterable[str]) -> dict[str, int]:
    """``{name: id}`` for each of ``names`` that matches an existing person up to case
    (``ALICE`` maps to the id of ``alice``)."""
    wanted: dict[str, list[str]] = {}
    for n in set(names):
        wanted.setdefault(name_key(n), []).append(n)
    keys = list(wanted)
    found: dict[str, tuple[int, str]] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        for key, aid, stored in raw(conn).execute(
                f"SELECT name_key, id, name FROM annotators WHERE name_key IN "
                f"({', '.join('?' * len(chunk))}) ORDER BY id", chunk):
            found.setdefault(key, (aid, stored))  # the oldest of clashing rows
    out: dict[str, int] = {}
    for key, spelled in wanted.items():
        if key in found:
            for n in spelled:
                out[n] = found[key][0]
    return out


def update(conn: sqlite3.Connection, annotator_id: int, *, role: str | None = None,
           password_hash: str | None = None) -> None:
    """Change an existing annotator's role and/or password hash (None: unchanged)."""
    if role is not None:
        conn.execute("UPDATE annotators SET role = ? WHERE id = ?", [role, annotator_id])
    if password_hash is not None:
        conn.execute("UPDATE annotators SET password_hash = ? WHERE id = ?",
                     [password_hash, annotator_id])


def get_or_insert(conn: sqlite3.Connection, name: str, role: str,
                  password_hash: str | None, now: str) -> int:
    """Create an annotator and return its id. When a person with the same name up to
    case exists already, return their id and change nothing: importers map ``ALICE``
    to ``alice`` this way. Callers that must refuse a clash (adding a person by hand)
    use :func:`insert`, which raises :class:`NameTaken`."""
    try:
        return insert(conn, name, role, password_hash, now)
    except NameTaken:
        return get(conn, name)["id"]


def names_by_id(db: Conn) -> dict[int, str]:
    """Every annotator's name by id."""
    return dict(raw(db).execute("SELECT id, name FROM annotators"))


def role_row(db: Conn, annotator_id: int) -> dict | None:
    """``{"role", "password_hash"}`` of an annotator, or None when there is none."""
    row = raw(db).execute("SELECT role, password_hash FROM annotators WHERE id = ?",
                           [annotator_id]).fetchone()
    return {"role": row[0], "password_hash": row[1]} if row else None


def progress(db: sqlite_utils.Database, annotator_id: int, today_prefix: str) -> dict:
    """The annotator's labeled items: total (the ``n_labeled`` counter kept by
    triggers), and today (``updated_at`` from the day on: a covering-index range over
    today's annotations only)."""
    row = db.execute(_MINE_TOTAL_SQL, {"me": annotator_id}).fetchone()
    today = db.execute(_MINE_TODAY_SQL, {"me": annotator_id, "day": today_prefix}).fetchone()[0]
    return {"total": row[0] if row else 0, "today": today}


def list_all(db: sqlite_utils.Database) -> list[dict]:
    """All annotators with their label counts (no password hashes), by name."""
    return list(db.query(
        "SELECT n.id, n.name, n.role, n.password_hash IS NOT NULL AS has_password, "
        "n.created_at, n.n_labeled AS labels FROM annotators n ORDER BY n.name"))


# ----------------------------------------------------------------------------- sign-in


def locked_until(conn: Conn, annotator_id: int) -> float | None:
    """Until when (unix seconds) sign-ins of this annotator are refused, if set."""
    row = raw(conn).execute("SELECT locked_until FROM annotators WHERE id = ?",
                             [annotator_id]).fetchone()
    return row[0] if row else None


def record_failure(conn: sqlite3.Connection, annotator_id: int, now: float, *,
                   limit: int, wait: float) -> float | None:
    """Count a wrong password; the ``limit``-th in a row locks the name until
    ``now + wait`` and starts the count again. Returns the lock's end, if locked."""
    conn.execute(
        "UPDATE annotators SET "
        "locked_until = CASE WHEN failed_logins + 1 >= :limit THEN :until "
        "ELSE locked_until END, "
        "failed_logins = CASE WHEN failed_logins + 1 >= :limit THEN 0 "
        "ELSE failed_logins + 1 END WHERE id = :id",
        {"limit": limit, "until": now + wait, "id": annotator_id})
    until = locked_until(conn, annotator_id)
    return until if until is not None and until > now else None


def record_success(conn: sqlite3.Connection, annotator_id: int, *,
                   new_hash: str | None = None) -> None:
    """Clear the failure count and lock after a good password; store ``new_hash`` (a
    stronger hash of the same password) when given."""
    conn.execute("UPDATE annotators SET failed_logins = 0, locked_until = NULL, "
                 "password_hash = coalesce(?, password_hash) WHERE id = ?",
                 [new_hash, annotator_id])
