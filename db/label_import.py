"""SQL of ``import-annotations``: sentence look-ups and the batched label write.

The write is the app's (``db.annotations.record``) for many rows at once, inside the
caller's ``BEGIN IMMEDIATE`` transaction: one event per row, the current annotation per
(sentence, annotator) (last row wins), ``n_done`` recounted for the touched
sentences, the importing annotators' leases on them released. Unanimous gold is then
refreshed by the caller with :func:`gold_inputs` / :func:`apply_gold`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from db import annotations, annotators


class ImportRow(NamedTuple):
    """One label to write. ``labels``: list of label names; ``created_at``: ISO string."""

    sentence_id: int
    annotator_id: int
    labels: Sequence[str]
    note: str | None
    duration_ms: int | None
    created_at: str


def _fill_temp(conn: sqlite3.Connection, name: str, columns: str,
               rows: Iterable[tuple], ncols: int = 1) -> None:
    conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    conn.execute(f"CREATE TEMP TABLE {name} ({columns})")
    conn.executemany(f"INSERT INTO temp.{name} VALUES ({', '.join('?' * ncols)})", rows)


def find_by_public_id(conn: sqlite3.Connection, keys: Iterable[tuple[str, int]]
                      ) -> dict[tuple[str, int], tuple[int, str]]:
    """``{(external_id, idx): (sentence id, kind)}`` for the keys that exist."""
    _fill_temp(conn, "import_keys", "external_id TEXT, idx INTEGER", set(keys), 2)
    try:
        return {(ext, idx): (sid, kind) for ext, idx, sid, kind in conn.execute(
            "SELECT k.external_id, k.idx, s.id, s.kind FROM temp.import_keys k "
            "JOIN articles a ON a.external_id = k.external_id "
            "JOIN sentences s ON s.article_id = a.id AND s.idx = k.idx")}
    finally:
        conn.execute("DROP TABLE temp.import_keys")


def find_content_by_text(conn: sqlite3.Connection, texts: Iterable[str]
                         ) -> dict[str, list[tuple[int, str]]]:
    """``{text: [(sentence id, public id) of each content sentence with exactly that
    text]}``, ascending by id; texts with no match are absent. Public ids are
    ``<external_id>:<idx>``."""
    _fill_temp(conn, "import_texts", "text TEXT PRIMARY KEY", ((t,) for t in set(texts)))
    try:
        out: dict[str, list[tuple[int, str]]] = {}
        for sid, text, ext, idx in conn.execute(
                "SELECT s.id, s.text, a.external_id, s.idx FROM sentences s "
                "JOIN articles a ON a.id = s.article_id "
                "WHERE s.kind = 'content' AND s.text IN (SELECT text FROM temp.import_texts) "
                "ORDER BY s.id"):
            out.setdefault(text, []).append((sid, f"{ext}:{idx}"))
        return out
    finally:
        conn.execute("DROP TABLE temp.import_texts")


def annotator_ids(conn: sqlite3.Connection, names: Iterable[str]) -> dict[str, int]:
    """``{name: id}`` for the names that match an existing person up to case: a file's
    ``ALICE`` is the project's ``alice``, not a new annotator."""
    return annotators.ids_by_name(conn, names)


def insert_labels(conn: sqlite3.Connection, rows: Sequence[ImportRow], *, source: str,
                  guidelines_version: str | None) -> dict[str, int]:
    """Write ``rows`` in order (events, annotations, n_done, leases); returns
    ``{"imported", "sentences", "over_target"}``.

    ``over_target``: rows that landed on a sentence beyond its target, i.e. the sum over
    touched sentences of ``n_done_after - max(target, n_done_before)`` when positive.
    Imports are historical data and are accepted past the target; routing simply never
    offers such a sentence again.
    """
    if not rows:
        return {"imported": 0, "sentences": 0, "over_target": 0}
    sids = sorted({r.sentence_id for r in rows})
    _fill_temp(conn, "import_sentences", "id INTEGER PRIMARY KEY", ((s,) for s in sids))
    before = dict(conn.execute(
        "SELECT s.id, s.n_done FROM sentences s JOIN temp.import_sentences t ON t.id = s.id"))
    encoded: dict[tuple, str] = {}  # a file repeats a few label lists: encode each once
    annotations.record(conn, (  # a generator: no list of Records beside the rows
        annotations.Record(r.sentence_id, r.annotator_id, "label",
                           encoded.get(key) or encoded.setdefault(
                               key, annotations.labels_json(key)),
                           None, r.note, r.duration_ms, guidelines_version, source,
                           r.created_at)
        for r, key in ((r, tuple(r.labels)) for r in rows)))  # flag: as it was
    conn.execute(
        "UPDATE sentences SET n_done = (SELECT count(*) FROM annotations a "
        "WHERE a.sentence_id = sentences.id AND a.status = 'labeled') "
        "WHERE id IN (SELECT id FROM temp.import_sentences)")
    # Leases of the importing annotators on these sentences: assignments holds only the
    # few live leases, so probe it from that side.
    _fill_temp(conn, "import_pairs", "sentence_id INTEGER, annotator_id INTEGER, "
               "PRIMARY KEY (sentence_id, annotator_id)",
               {(r.sentence_id, r.annotator_id) for r in rows}, 2)
    conn.execute("DELETE FROM assignments WHERE EXISTS (SELECT 1 FROM temp.import_pairs p "
                 "WHERE p.sentence_id = assignments.sentence_id "
                 "AND p.annotator_id = assignments.annotator_id)")
    conn.execute("DROP TABLE temp.import_pairs")
    over = 0
    for sid, target, n_after in conn.execute(
            "SELECT s.id, s.target, s.n_done FROM sentences s "
            "JOIN temp.import_sentences t ON t.id = s.id"):
        over += max(0, n_after - max(target, before.get(sid, 0)))
    conn.execute("DROP TABLE temp.import_sentences")
    return {"imported": len(rows), "sentences": len(sids), "over_target": over}


def gold_inputs(conn: sqlite3.Connection, sentence_ids: Iterable[int]
                ) -> list[tuple[int, int, str | None, list[list[str]]]]:
    """``(sentence id, target, gold source or None, [labels of each labeled annotation])``
    for the given sentences: what the unanimous-gold rule needs."""
    _fill_temp(conn, "gold_sentences", "id INTEGER PRIMARY KEY",
               ((s,) for s in set(sentence_ids)))
    try:
        out: dict[int, tuple[int, str | None, list[list[str]]]] = {
            sid: (target, source, []) for sid, target, source in conn.execute(
                "SELECT s.id, s.target, g.source FROM temp.gold_sentences t "
                "JOIN sentences s ON s.id = t.id LEFT JOIN gold g ON g.sentence_id = s.id")}
        decoded: dict[str, list[str]] = {}
        for sid, labels in conn.execute(  # CROSS JOIN: see LABELS_OF_TOUCHED_SQL
                "SELECT a.sentence_id, a.labels FROM temp.gold_sentences t CROSS JOIN "
                "annotations a ON a.sentence_id = t.id WHERE a.status = 'labeled'"):
            if labels not in decoded:
                decoded[labels] = json.loads(labels) if labels else []
            out[sid][2].append(decoded[labels])
        return [(sid, t, src, sets) for sid, (t, src, sets) in sorted(out.items())]
    finally:
        conn.execute("DROP TABLE temp.gold_sentences")


def apply_gold(conn: sqlite3.Connection, *, set_unanimous: Sequence[tuple[int, Sequence[str]]],
               withdraw_unanimous: Sequence[int], now: str) -> None:
    """Set unanimous gold on the first sentences, delete the unanimous gold of the
    second ones (adjudicated gold is never passed in: the caller keeps it)."""
    conn.executemany(
        "INSERT INTO gold (sentence_id, labels, source, reviewer_id, rationale, event_id, "
        "updated_at) VALUES (?, ?, 'unanimous', NULL, NULL, NULL, ?) "
        "ON CONFLICT (sentence_id) DO UPDATE SET labels = excluded.labels, "
        "source = excluded.source, reviewer_id = NULL, rationale = NULL, event_id = NULL, "
        "updated_at = excluded.updated_at",
        [(sid, json.dumps(sorted(labels), ensure_ascii=False), now)
         for sid, labels in set_unanimous])
    conn.executemany("DELETE FROM gold WHERE sentence_id = ? AND source = 'unanimous'",
                     [(sid,) for sid in withdraw_unanimous])


# ----------------------------------------------------------------------------- staged write
#
# ``import-annotations`` writes a file chunk by chunk inside one transaction: each chunk
# is copied into ``temp.import_rows``, resolved there with one join (public id ->
# sentence), then moved into events and annotations with INSERT ... SELECT. Set-based
# statements cost about half of ``executemany`` of the per-row statements (measured on
# 600k rows: 6.7 s against 11.8 s), and the staging table keeps rows out of Python
# objects. The columns and the conflict rule are those of ``db.annotations``
# (INSERT_EVENT_SQL, UPSERT_ANNOTATION_SQL with flagged NULL: a flag is kept);
# tests/test_import_annotations.py checks both paths store the same rows.

_STAGE_COLUMNS = ("seq", "line", "external_id", "idx", "sentence_id", "annotator_id",
                  "labels", "note", "duration_ms", "created_at")


#: Page cache of the importing connection while it imports, in KiB. Rows go into the
#: events and annotations tables in sentence order, but their annotator-and-time indexes
#: take them at random places: with SQLite's default 2 MB cache those index pages are
#: read again and again (at 3M rows, writing took 54 s; with 256 MB, 36 s). Memory is
#: only used as pages are touched, and the setting is put back afterwards.
IMPORT_CACHE_KIB = 256 * 1024
_CACHE_BEFORE: dict[int, int] = {}


def begin_staged(conn: sqlite3.Connection) -> int:
    """Create the staging tables of one import and enlarge the page cache; returns the
    first event id it will use (call inside ``BEGIN IMMEDIATE``)."""
    _CACHE_BEFORE[id(conn)] = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{int(IMPORT_CACHE_KIB)}")
    for name in ("import_rows", "import_sentences", "import_pairs"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    conn.execute("CREATE TEMP TABLE import_rows (seq INTEGER PRIMARY KEY, line INTEGER, "
                 "external_id TEXT, idx INTEGER, sentence_id INTEGER, kind TEXT, "
                 "annotator_id INTEGER, labels TEXT, note TEXT, duration_ms INTEGER, "
                 "created_at TEXT)")
    # n_before: n_done when the import first touched the sentence (n_done is recounted
    # only at the end, so this is the value before the import)
    conn.execute("CREATE TEMP TABLE import_sentences (id INTEGER PRIMARY KEY, "
                 "n_before INTEGER)")
    conn.execute("CREATE TEMP TABLE import_pairs (sentence_id INTEGER, annotator_id INTEGER, "
                 "PRIMARY KEY (sentence_id, annotator_id)) WITHOUT ROWID")
    return annotations.next_event_id(conn)


def stage_chunk(conn: sqlite3.Connection, rows: Iterable[tuple]
                ) -> list[tuple[int, str, int, str | None]]:
    """Replace the staged chunk with ``rows`` (tuples in ``_STAGE_COLUMNS`` order:
    ``seq`` numbers rows across the whole file, ``sentence_id`` is set for rows matched by
    text, else NULL and ``external_id``/``idx`` name the sentence) and resolve public ids
    with one join. Returns ``(line, external_id, idx, kind or None)`` of each row whose
    sentence is unknown (kind None) or not a content sentence, in file order."""
    conn.execute("DELETE FROM temp.import_rows")
    conn.executemany("INSERT INTO temp.import_rows (seq, line, external_id, idx, sentence_id, "
                     "annotator_id, labels, note, duration_ms, created_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute(
        "UPDATE temp.import_rows SET (sentence_id, kind) = (SELECT s.id, s.kind "
        "FROM articles a JOIN sentences s ON s.article_id = a.id AND s.idx = import_rows.idx "
        "WHERE a.external_id = import_rows.external_id) WHERE external_id IS NOT NULL")
    return conn.execute(
        "SELECT line, external_id, idx, kind FROM temp.import_rows "
        "WHERE external_id IS NOT NULL AND (sentence_id IS NULL OR kind != 'content') "
        "ORDER BY seq").fetchall()


def write_staged(conn: sqlite3.Connection, *, first_event_id: int, source: str,
                 guidelines_version: str | None) -> None:
    """Write the staged chunk (all resolved): one ``label`` event per row, event id
    ``first_event_id + seq``; the current annotation of each pair (a later row wins);
    the touched sentences and pairs remembered for :func:`finish_staged`."""
    conn.execute(
        "INSERT OR IGNORE INTO temp.import_sentences (id, n_before) "
        "SELECT s.id, s.n_done FROM sentences s "
        "WHERE s.id IN (SELECT sentence_id FROM temp.import_rows)")
    conn.execute("INSERT OR IGNORE INTO temp.import_pairs (sentence_id, annotator_id) "
                 "SELECT sentence_id, annotator_id FROM temp.import_rows")
    conn.execute(
        "INSERT INTO events (id, action, sentence_id, annotator_id, labels, note, "
        "duration_ms, guidelines_version, source, created_at) "
        "SELECT ?1 + seq, 'label', sentence_id, annotator_id, labels, note, duration_ms, "
        "?2, ?3, created_at FROM temp.import_rows ORDER BY seq",
        (first_event_id, guidelines_version, source))
    # (sentence, annotator) order keeps the B-tree inserts sequential; seq last, so of two
    # rows of one pair the later one is written last and wins.
    conn.execute(
        "INSERT INTO annotations (sentence_id, annotator_id, status, labels, flagged, note, "
        "duration_ms, guidelines_version, source, event_id, created_at, updated_at) "
        "SELECT sentence_id, annotator_id, 'labeled', labels, 0, note, duration_ms, ?2, ?3, "
        "?1 + seq, created_at, created_at FROM temp.import_rows WHERE true "
        "ORDER BY sentence_id, annotator_id, seq "
        "ON CONFLICT (sentence_id, annotator_id) DO UPDATE SET status = excluded.status, "
        "labels = excluded.labels, note = excluded.note, duration_ms = excluded.duration_ms, "
        "guidelines_version = excluded.guidelines_version, source = excluded.source, "
        "event_id = excluded.event_id, updated_at = excluded.updated_at",
        (first_event_id, guidelines_version, source))


def finish_staged(conn: sqlite3.Connection) -> dict[str, int]:
    """After the last chunk: recount ``n_done`` of the touched sentences, release the
    importing annotators' leases on them; returns ``{"sentences", "over_target"}`` (see
    :func:`insert_labels` for ``over_target``). The staging tables stay for the gold
    refresh (:func:`labels_of_touched`, :func:`apply_unanimous`) and go with
    :func:`end_staged`."""
    conn.execute(
        "UPDATE sentences SET n_done = (SELECT count(*) FROM annotations a "
        "WHERE a.sentence_id = sentences.id AND a.status = 'labeled') "
        "WHERE id IN (SELECT id FROM temp.import_sentences)")
    conn.execute("DELETE FROM assignments WHERE EXISTS (SELECT 1 FROM temp.import_pairs p "
                 "WHERE p.sentence_id = assignments.sentence_id "
                 "AND p.annotator_id = assignments.annotator_id)")
    n, over = conn.execute(
        "SELECT count(*), coalesce(sum(max(0, s.n_done - max(s.target, t.n_before))), 0) "
        "FROM temp.import_sentences t JOIN sentences s ON s.id = t.id").fetchone()
    return {"sentences": n, "over_target": over}


# CROSS JOIN pins the loop: touched sentences, each with one primary-key range of
# annotations (left to itself, SQLite walked an annotator index: 22 s at 3M rows).
LABELS_OF_TOUCHED_SQL = (
    "SELECT DISTINCT a.labels FROM temp.import_sentences t "
    "CROSS JOIN annotations a ON a.sentence_id = t.id WHERE a.status = 'labeled'")


def labels_of_touched(conn: sqlite3.Connection) -> list[str | None]:
    """The distinct ``labels`` values of the labeled annotations of the touched
    sentences (a handful: the gold rule is applied to each once)."""
    return [r[0] for r in conn.execute(LABELS_OF_TOUCHED_SQL)]


def apply_unanimous(conn: sqlite3.Connection, keys: dict[str | None, str | None], *,
                    now: str) -> None:
    """Unanimous gold for the touched sentences, in SQL. ``keys`` maps each stored
    ``labels`` value to its label set as stored in gold (a JSON list, sorted), or None
    for "no label". A sentence whose labeled annotations carry >= max(target, 2) label
    sets, all equal, gets (or keeps, re-stamped) unanimous gold; a unanimous gold whose
    sentence no longer agrees is deleted; adjudicated gold is never touched."""
    conn.execute("DROP TABLE IF EXISTS temp.import_label_keys")
    conn.execute("CREATE TEMP TABLE import_label_keys (labels TEXT PRIMARY KEY, key TEXT)")
    conn.executemany("INSERT INTO temp.import_label_keys VALUES (?, ?)",
                     [(k, v) for k, v in keys.items() if k is not None])
    conn.execute("DROP TABLE IF EXISTS temp.import_verdicts")
    conn.execute(
        "CREATE TEMP TABLE import_verdicts AS "
        "SELECT t.id AS id, (count(k.key) >= max(s.target, 2) AND count(DISTINCT k.key) = 1) "
        "AS agreed, min(k.key) AS key, g.source AS source "
        "FROM temp.import_sentences t JOIN sentences s ON s.id = t.id "
        "LEFT JOIN gold g ON g.sentence_id = t.id "
        "LEFT JOIN annotations a ON a.sentence_id = t.id AND a.status = 'labeled' "
        "LEFT JOIN temp.import_label_keys k ON k.labels = a.labels "
        "GROUP BY t.id")
    conn.execute(
        "INSERT INTO gold (sentence_id, labels, source, reviewer_id, rationale, event_id, "
        "updated_at) SELECT id, key, 'unanimous', NULL, NULL, NULL, ? "
        "FROM temp.import_verdicts WHERE agreed AND source IS NOT 'adjudicated' "
        "ORDER BY id "
        "ON CONFLICT (sentence_id) DO UPDATE SET labels = excluded.labels, "
        "source = excluded.source, reviewer_id = NULL, rationale = NULL, event_id = NULL, "
        "updated_at = excluded.updated_at", (now,))
    conn.execute("DELETE FROM gold WHERE source = 'unanimous' AND sentence_id IN "
                 "(SELECT id FROM temp.import_verdicts WHERE NOT agreed "
                 "AND source = 'unanimous')")
    conn.execute("DROP TABLE temp.import_verdicts")
    conn.execute("DROP TABLE temp.import_label_keys")


def end_staged(conn: sqlite3.Connection) -> None:
    """Drop the staging tables and put the page cache back (also when the import
    failed)."""
    for name in ("import_rows", "import_sentences", "import_pairs"):
        conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
    before = _CACHE_BEFORE.pop(id(conn), None)
    if before is not None:
        conn.execute(f"PRAGMA cache_size = {int(before)}")
