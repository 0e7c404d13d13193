"""SQL of the operations commands: online backup, integrity and invariant checks.

The invariants are named queries that return the offending rows (none when the
database is consistent); ``labeling.ops.check`` runs them and reports. Each is written
to stay a scan or an index walk at a million sentences, and is only as strict as what
the write path guarantees (see ``db/annotations.py``, ``db/leases.py`` and
``db/label_import.py``). The lease counts ``check`` prints come from ``db.leases``.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from db.connection import raw


@dataclass(frozen=True)
class Invariant:
    """A named consistency rule: ``sql`` selects the rows that break it."""

    name: str
    message: str  # what one offending row means, for people
    columns: tuple[str, ...]  # of the rows ``sql`` returns (examples in reports)
    sql: str


# Labeled annotations that came in through ``import-annotations`` (an event with source
# ``import:<file>`` for the same pair) may exceed a sentence's target: imports are
# historical data. Only routed labels must respect it. The import probe runs only for
# the (normally zero) sentences with more labels than their target.
_OVER_QUOTA_SQL = """
WITH labeled AS (
    SELECT sentence_id, count(*) AS n FROM annotations WHERE status = 'labeled'
    GROUP BY sentence_id
)
SELECT s.id, s.target, l.n, (
    SELECT count(*) FROM annotations a
    WHERE a.sentence_id = s.id AND a.status = 'labeled' AND NOT EXISTS (
        SELECT 1 FROM events e WHERE e.sentence_id = a.sentence_id
        AND e.annotator_id = a.annotator_id AND substr(e.source, 1, 7) = 'import:')
) AS routed
FROM labeled l JOIN sentences s ON s.id = l.sentence_id
WHERE l.n > s.target AND routed > s.target
ORDER BY s.id
"""

# The annotation's event must be the action that produced its current state: same
# sentence and annotator, 'label' for a labeled annotation ('skip' for a skipped one),
# with the same labels.
_EVENT_MISMATCH_SQL = """
SELECT a.sentence_id, a.annotator_id, a.event_id, e.sentence_id, e.annotator_id, e.action
FROM annotations a JOIN events e ON e.id = a.event_id
WHERE e.sentence_id != a.sentence_id OR e.annotator_id != a.annotator_id
   OR e.action != CASE a.status WHEN 'labeled' THEN 'label' ELSE 'skip' END
   OR (a.status = 'labeled' AND e.labels IS NOT a.labels)
ORDER BY a.sentence_id, a.annotator_id
"""

# Names listed in id order (the oldest first), as one text. Rows written without a
# key (by versions between migration 0003 and the code that sets it) are grouped by
# their lower-cased name: annotator names are ASCII, where that is the same key.
_NAME_CLASH_SQL = """
WITH keyed AS (SELECT id, name, coalesce(name_key, lower(name)) AS k FROM annotators)
SELECT c.k, c.n, (SELECT group_concat(name, ', ') FROM (
    SELECT name FROM keyed WHERE k = c.k ORDER BY id))
FROM (SELECT k, count(*) AS n FROM keyed GROUP BY k HAVING count(*) > 1) c
ORDER BY c.k
"""

INVARIANTS: tuple[Invariant, ...] = (
    Invariant(
        "duplicate_annotations",
        "more than one current annotation for the same (sentence, annotator)",
        ("sentence_id", "annotator_id", "rows"),
        "SELECT sentence_id, annotator_id, count(*) FROM annotations "
        "GROUP BY sentence_id, annotator_id HAVING count(*) > 1 ORDER BY 1, 2"),
    Invariant(
        "over_quota",
        "a sentence with more routed (not imported) labels than its target",
        ("sentence_id", "target", "labeled", "routed"),
        _OVER_QUOTA_SQL),
    Invariant(
        "n_done",
        "a sentence whose n_done differs from its number of labeled annotations",
        ("sentence_id", "n_done", "labeled"),
        "SELECT id, n_done, c FROM (SELECT s.id, s.n_done, (SELECT count(*) FROM annotations a "
        "WHERE a.sentence_id = s.id AND a.status = 'labeled') AS c FROM sentences s) "
        "WHERE n_done != c ORDER BY id"),
    Invariant(
        "annotation_event_missing",
        "an annotation whose event_id names no event",
        ("sentence_id", "annotator_id", "event_id"),
        "SELECT a.sentence_id, a.annotator_id, a.event_id FROM annotations a "
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = a.event_id) "
        "ORDER BY 1, 2"),
    Invariant(
        "annotation_event_mismatch",
        "an annotation whose event is for another sentence or annotator, another action, "
        "or other labels",
        ("sentence_id", "annotator_id", "event_id", "event_sentence_id",
         "event_annotator_id", "event_action"),
        _EVENT_MISMATCH_SQL),
    Invariant(
        "annotation_without_events",
        "an annotation with no event at all in the log for its (sentence, annotator)",
        ("sentence_id", "annotator_id"),
        # Only annotations whose own event is missing or foreign need the probe.
        "SELECT a.sentence_id, a.annotator_id FROM annotations a "
        "LEFT JOIN events x ON x.id = a.event_id "
        "WHERE (x.id IS NULL OR x.sentence_id != a.sentence_id "
        "       OR x.annotator_id != a.annotator_id) "
        "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.sentence_id = a.sentence_id "
        "                AND e.annotator_id = a.annotator_id) ORDER BY 1, 2"),
    Invariant(
        "gold_orphans",
        "a gold label for a sentence that does not exist",
        ("sentence_id", "source"),
        "SELECT g.sentence_id, g.source FROM gold g WHERE NOT EXISTS "
        "(SELECT 1 FROM sentences s WHERE s.id = g.sentence_id) ORDER BY 1"),
    Invariant(
        "article_sentences",
        "an article whose sentences are missing, not numbered 0..n-1, or past its text",
        ("article_id", "external_id", "sentences", "min_idx", "max_idx"),
        'SELECT a.id, a.external_id, count(s.id), min(s.idx), max(s.idx) '
        "FROM articles a LEFT JOIN sentences s ON s.article_id = a.id GROUP BY a.id "
        "HAVING count(s.id) = 0 OR min(s.idx) != 0 OR max(s.idx) != count(s.id) - 1 "
        'OR max(s."end") > length(a.text) OR min(s.start) < 0 ORDER BY a.id'),
    Invariant(
        "annotator_counts",
        "an annotator whose labeled-count counter differs from their labeled annotations",
        ("annotator_id", "name", "n_labeled", "labeled"),
        "SELECT n.id, n.name, n.n_labeled, coalesce(c.n, 0) FROM annotators n "
        "LEFT JOIN (SELECT annotator_id, count(*) AS n FROM annotations "
        "           WHERE status = 'labeled' GROUP BY annotator_id) c "
        "ON c.annotator_id = n.id WHERE n.n_labeled != coalesce(c.n, 0) ORDER BY n.id"),
    Invariant(
        "project_counts",
        "the project progress counters differ from the sentences they count",
        ("counted_to", "content", "complete", "content_counted", "complete_counted"),
        "SELECT p.counted_to, p.content, p.complete, c.content, c.complete "
        "FROM project_counts p, (SELECT coalesce(sum(kind = 'content'), 0) AS content, "
        "coalesce(sum(kind = 'content' AND n_done >= target), 0) AS complete FROM sentences "
        "WHERE id <= (SELECT counted_to FROM project_counts WHERE id = 1)) c "
        "WHERE p.id = 1 AND (p.content != c.content OR p.complete != c.complete)"),
    # Identity. Names that differ only by case are one person; databases from before
    # migration 0003 may hold several rows for one (routed the same sentences and counted
    # as independent annotators in agreement).
    Invariant(
        "annotator_name_clash",
        "annotators whose names differ only by case (one person stored as several: rename "
        "or merge them)",
        ("name_key", "annotators", "names"),
        _NAME_CLASH_SQL),
    Invariant(
        "privileged_without_password",
        "a reviewer or admin without a password: anyone could type their name, so they "
        "have annotator rights until one is set (annotator add NAME --update --password)",
        ("annotator_id", "name", "role"),
        "SELECT id, name, role FROM annotators WHERE role IN ('reviewer', 'admin') "
        "AND password_hash IS NULL ORDER BY id"),
)



def offending_rows(db: sqlite3.Connection | sqlite_utils.Database, inv: Invariant,
                   limit: int = 5) -> tuple[int, list[tuple]]:
    """``(number of rows breaking inv, the first `limit` of them)``. Raises
    ``sqlite3.OperationalError`` when the schema lacks a table or column it needs."""
    count, examples = 0, []
    for row in raw(db).execute(inv.sql):
        count += 1
        if len(examples) < limit:
            examples.append(tuple(row))
    return count, examples


def integrity_problems(db: sqlite3.Connection | sqlite_utils.Database, *,
                       quick: bool = False, limit: int = 100) -> list[str]:
    """Messages of ``PRAGMA integrity_check`` (or ``quick_check``); empty when ok."""
    pragma = "quick_check" if quick else "integrity_check"
    rows = [r[0] for r in raw(db).execute(f"PRAGMA {pragma}({int(limit)})")]
    return [] if rows == ["ok"] else rows


def foreign_key_problems(db: sqlite3.Connection | sqlite_utils.Database
                         ) -> list[tuple[str, int | None, str, int]]:
    """Rows of ``PRAGMA foreign_key_check``: ``(table, rowid, parent table, fk index)``."""
    return [tuple(r) for r in raw(db).execute("PRAGMA foreign_key_check")]


COUNTED_TABLES = ("articles", "sentences", "annotators", "events", "annotations", "gold")


def table_counts(db: sqlite3.Connection | sqlite_utils.Database) -> dict[str, int]:
    """Rows per main table (what a backup summary shows)."""
    conn = raw(db)
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED_TABLES}


_SPACE = re.compile(r"\s+")


def schema(db: sqlite3.Connection | sqlite_utils.Database) -> dict[tuple[str, str], str]:
    """``{(type, name): normalised SQL}`` of every table, index, trigger and view, without
    SQLite's own objects (``sqlite_*``: autoindexes' SQL is NULL, statistics are optional).
    Whitespace is collapsed so that formatting does not count as a difference."""
    out = {}
    for kind, name, sql in raw(db).execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' "
            "ESCAPE '\\' ORDER BY type, name"):
        text = _SPACE.sub(" ", sql or "").strip()
        out[(kind, name)] = re.sub(r"\s*([(),])\s*", r"\1", text)
    return out


def backup(source: sqlite3.Connection, target: sqlite3.Connection, *, pages: int = 1024,
           pause: float = 0.01, progress: Callable[[int, int], None] | None = None) -> int:
    """Copy ``source`` into ``target`` with SQLite's online backup API; returns the pages.

    The copy is taken from one read snapshot: ``source`` holds a read transaction for
    the whole copy. Without it, every commit by another connection restarts the backup
    (measured: >1,000 restarts and 50x the time while one annotator labels). In WAL
    mode a reader blocks no writer, so labelers go on saving; the copy is made
    ``pages`` at a time with a ``pause`` in between to leave them the disk.
    """
    if source.in_transaction:
        raise ValueError("the source connection is inside a transaction")

    def step(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)
        if remaining and pause > 0:
            time.sleep(pause)

    source.execute("BEGIN")
    try:
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # start the snapshot
        total = source.execute("PRAGMA page_count").fetchone()[0]
        source.backup(target, pages=pages, progress=step)
    finally:
        source.execute("COMMIT")
    return int(total)
