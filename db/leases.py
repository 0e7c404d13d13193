"""Routing and leases: which sentence an annotator gets next, and the short
reservation that holds it for them while they read it.

A *lease* is one row of the ``assignments`` table: ``(sentence_id, annotator_id,
expires_at)``. The table keeps its name because it is a contract (the schema in
``db/migrations.py``, the ``leases`` / ``expired_leases`` figures of ``check``); in code
the concept is called a lease everywhere, and this module owns every statement on the
table. The next-sentence query (:func:`find_open`) reads ``sentences`` and
``annotations`` as much as ``assignments``; it lives here, with the annotator's routing
cursor (:func:`cursor_ord`), because this is where a reader looks for routing
(``labeling.routing`` is its one caller).

Every function that writes takes the raw connection of an open ``BEGIN IMMEDIATE``
transaction (``db.write_transaction``), so the read that picks a sentence and the
lease that reserves it cannot interleave with another annotator's.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from db.connection import raw

# Candidate scan: walks the partial index of sentences that still need labels, in
# routing order, from the annotator's cursor, and skips those this annotator already
# did or that are full once other people's live leases are counted. Each check is a
# primary-key probe, so the cost is one step per skipped sentence, not per sentence
# in the corpus.
_NEXT_SQL = """
SELECT s.id FROM sentences AS s INDEXED BY sentences_open
WHERE s.kind = 'content' AND s.n_done < s.target AND s.ord BETWEEN :lo AND :hi
  AND NOT EXISTS (SELECT 1 FROM annotations AS a
                  WHERE a.sentence_id = s.id AND a.annotator_id = :me)
  AND s.n_done + (SELECT count(*) FROM assignments AS l
                  WHERE l.sentence_id = s.id AND l.annotator_id != :me
                    AND l.expires_at > :now) < s.target
ORDER BY s.ord, s.id
LIMIT 1
"""
_HELD_SQL = (
    "SELECT l.sentence_id FROM assignments l WHERE l.annotator_id = :me AND l.expires_at > :now "
    "AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.sentence_id = l.sentence_id "
    "AND a.annotator_id = l.annotator_id) LIMIT 1")
_CURSOR_SQL = ("SELECT s.ord FROM annotators n JOIN sentences s ON s.id = n.cursor_sentence "
               "WHERE n.id = :me")
_SEATS_SQL = (
    "SELECT s.target, s.n_done, (SELECT count(*) FROM assignments l WHERE "
    "l.sentence_id = s.id AND l.annotator_id != :me AND l.expires_at > :now), s.kind "
    "FROM sentences s WHERE s.id = :sid")
_DROP_OTHER_LEASES_SQL = "DELETE FROM assignments WHERE annotator_id = :me AND sentence_id != :sid"
_TAKE_LEASE_SQL = (
    "INSERT INTO assignments (sentence_id, annotator_id, expires_at) VALUES (:sid, :me, :exp) "
    "ON CONFLICT (sentence_id, annotator_id) DO UPDATE SET expires_at = excluded.expires_at")
_SET_CURSOR_SQL = "UPDATE annotators SET cursor_sentence = :sid WHERE id = :me"
_RELEASE_SQL = "DELETE FROM assignments WHERE annotator_id = :me AND sentence_id = :sid"

# This module's statements on the label page's next_item + save path (``db.hot_path``).
HOT_PATH: dict[str, str] = {
    "next_open": _NEXT_SQL, "held_lease": _HELD_SQL, "cursor": _CURSOR_SQL,
    "seats": _SEATS_SQL, "drop_other_leases": _DROP_OTHER_LEASES_SQL,
    "take_lease": _TAKE_LEASE_SQL, "set_cursor": _SET_CURSOR_SQL,
    "release_lease": _RELEASE_SQL,
}
# The whole routing order (``ord`` is a signed 64-bit integer).
MIN_ORD, MAX_ORD = -(2**63), 2**63 - 1


def held_lease(conn: sqlite3.Connection, annotator_id: int, now: float) -> int | None:
    """The sentence this annotator holds a live lease on and has not finished, if any."""
    row = conn.execute(_HELD_SQL, {"me": annotator_id, "now": now}).fetchone()
    return row[0] if row else None


def cursor_ord(conn: sqlite3.Connection, annotator_id: int) -> int | None:
    """Routing position of the sentence last routed to the annotator (where to resume)."""
    row = conn.execute(_CURSOR_SQL, {"me": annotator_id}).fetchone()
    return row[0] if row else None


def find_open(conn: sqlite3.Connection, annotator_id: int, now: float, *,
              from_ord: int | None = None, before_ord: int | None = None) -> int | None:
    """First sentence in routing order, with ``from_ord <= ord < before_ord``, that this
    annotator may take: content, not done or skipped by them, and with a free seat
    (``n_done`` + other people's live leases < ``target``)."""
    lo = MIN_ORD if from_ord is None else from_ord
    hi = MAX_ORD if before_ord is None else before_ord - 1
    row = conn.execute(_NEXT_SQL, {"me": annotator_id, "now": now, "lo": lo, "hi": hi}
                       ).fetchone()
    return row[0] if row else None


def take_lease(conn: sqlite3.Connection, annotator_id: int, sentence_id: int,
               expires_at: float) -> None:
    """Reserve ``sentence_id`` for the annotator (one live lease per annotator) and move
    their routing cursor to it."""
    p = {"me": annotator_id, "sid": sentence_id, "exp": expires_at}
    conn.execute(_DROP_OTHER_LEASES_SQL, p)
    conn.execute(_TAKE_LEASE_SQL, p)
    conn.execute(_SET_CURSOR_SQL, p)


def release_lease(conn: sqlite3.Connection, annotator_id: int, sentence_id: int) -> None:
    """Drop the annotator's lease on a sentence (after they acted on it)."""
    conn.execute(_RELEASE_SQL, {"me": annotator_id, "sid": sentence_id})


def seats(conn: sqlite3.Connection, sentence_id: int, annotator_id: int,
          now: float) -> tuple[int, int, int, str]:
    """``(target, n_done, live leases by others, kind)`` for one sentence; KeyError if
    there is no such sentence."""
    row = conn.execute(_SEATS_SQL, {"me": annotator_id, "now": now, "sid": sentence_id}
                       ).fetchone()
    if row is None:
        raise KeyError(sentence_id)
    return row[0], row[1], row[2], row[3]


def lease_counts(db: sqlite3.Connection | sqlite_utils.Database, now: float) -> dict[str, int]:
    """Leases in total and how many have expired at ``now`` (unix seconds); ``check``
    reports them as ``leases`` and ``expired_leases``."""
    total, expired = raw(db).execute(
        "SELECT count(*), coalesce(sum(expires_at <= ?), 0) FROM assignments", [now]).fetchone()
    return {"leases": total, "expired_leases": expired}
