"""Queries of the People & project page: per-person activity, admins, and what a new
project config would change (read only, for the preview).

Durations for the median come from ``db.label_cells.labeled_durations`` (the Review
page's annotator table reads the same rows, so both pages show the same median).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

from db.connection import raw

Conn = sqlite3.Connection | sqlite_utils.Database



# Counts per person from the current annotations (one row per sentence and person):
# what they acted on, labeled, skipped, and labeled since ``day`` (an ISO date;
# ``updated_at`` is an ISO timestamp, so comparing strings compares times, as the label
# page does). Read from the index on (annotator_id, updated_at, status) alone.
_ACTIVITY_SQL = (
    "SELECT annotator_id, count(*) AS acted, "
    "sum(status = 'labeled') AS labeled, "
    "sum(status = 'skipped') AS skipped, "
    "sum(status = 'labeled' AND updated_at >= :day) AS labeled_today "
    "FROM annotations GROUP BY annotator_id")
# Flags are not in that index. ``+annotator_id`` keeps SQLite from walking the index
# (one table probe per row: 0.57 s for 600k annotations) and makes it scan the table
# once and group the few flagged rows (0.04 s).
_FLAGGED_SQL = ("SELECT annotator_id, count(*) FROM annotations WHERE flagged != 0 "
                "GROUP BY +annotator_id")


def activity(db: Conn, day: str) -> dict[int, dict[str, int]]:
    """``{annotator id: {"acted", "labeled", "skipped", "labeled_today", "flagged"}}``
    from the current annotations, for every person who acted at least once.
    ``labeled_today`` counts labeled annotations last changed on or after ``day``
    (``YYYY-MM-DD``, UTC); ``flagged`` those flagged now."""
    conn = raw(db)
    cur = conn.execute(_ACTIVITY_SQL, {"day": day})
    cols = [c[0] for c in cur.description][1:]
    out = {row[0]: {**dict(zip(cols, (int(v or 0) for v in row[1:]))), "flagged": 0}
           for row in cur}
    for aid, n in conn.execute(_FLAGGED_SQL):
        out.setdefault(aid, {c: 0 for c in (*cols, "flagged")})["flagged"] = int(n)
    return out


def other_admins(conn: Conn, annotator_id: int) -> int:
    """How many admins with a password there are besides ``annotator_id`` (an admin
    without a password acts as an annotator: ``labeling.annotate.effective_role``)."""
    return raw(conn).execute(
        "SELECT count(*) FROM annotators WHERE role = 'admin' AND password_hash IS NOT NULL "
        "AND id != ?", [annotator_id]).fetchone()[0]


def without_password(db: Conn) -> list[str]:
    """Names of the people who have no password, by name."""
    return [r[0] for r in raw(db).execute(
        "SELECT name FROM annotators WHERE password_hash IS NULL ORDER BY name")]


def count_new_targets(db: Conn, target: Callable[[int], int]) -> int:
    """How many content sentences not yet complete would get another target from
    ``target(sentence id)``: the count ``db.sentences.set_targets(..., only_open=True)``
    would change, without writing."""
    conn = raw(db)
    conn.create_function("parley_preview_target", 1, target, deterministic=True)
    return conn.execute(
        "SELECT count(*) FROM sentences WHERE kind = 'content' AND n_done < target "
        "AND target != max(parley_preview_target(id), n_done)").fetchone()[0]


def count_sentences(db: Conn) -> int:
    """All sentences (a change of order gives each of them a new position)."""
    return raw(db).execute("SELECT count(*) FROM sentences").fetchone()[0]


def version_used(db: Conn, version: str) -> bool:
    """Whether a label (event) records guidelines ``version``, or an earlier config
    change (``project_log``) set or replaced it. The events have no index on the
    version: this is a scan, run only when a config is saved."""
    conn = raw(db)
    if conn.execute("SELECT 1 FROM project_log WHERE action = 'config' AND "
                    "(json_extract(detail, '$.changed.guidelines_version[0]') = :v OR "
                    "json_extract(detail, '$.changed.guidelines_version[1]') = :v) LIMIT 1",
                    {"v": version}).fetchone():
        return True
    return conn.execute("SELECT 1 FROM events WHERE guidelines_version = ? LIMIT 1",
                        [version]).fetchone() is not None
