"""Reads behind the agreement report: labeled annotations as numpy code arrays.

The report needs every labeled (sentence, annotator, labels) cell. At 3M annotations,
building Python tuples per row costs seconds, so the query returns *one integer per
cell* with the label already mapped to a small code in SQL (a ``CASE`` over the label
strings the caller expects, e.g. ``'["demand"]'``); rows whose label string is not one
of them (label sets, labels no longer in the config) are fetched again as text by a
second, usually empty, query. Units are sentences by database id, never by text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlite_utils

# Bits of the packed cell: sentence id | annotator slot | label code. The slot is the
# annotator's rank in the id order (< 2**_ANN_BITS), so the pack fits in 63 bits for
# sentence ids up to 2**44.
_CODE_BITS = 8
_ANN_BITS = 11
_MAX_PACKED_SID = 2 ** (63 - _CODE_BITS - _ANN_BITS) - 1
_CHUNK = 250_000  # sentence-id range per group_concat chunk (bounds the string size)
_RESCAN_AFTER = 20_000  # more rows with unexpected label strings: code them in SQL too


@dataclass(frozen=True)
class LabeledCells:
    """Every labeled annotation as parallel arrays (one entry per cell).

    ``sentence_ids``: int64, ascending (cells of a sentence are adjacent);
    ``annotator_ids``: int64; ``codes``: int64 indexes into ``label_json``, the distinct
    stored JSON label strings (the ``known`` ones first, in the order given).
    """

    sentence_ids: np.ndarray
    annotator_ids: np.ndarray
    codes: np.ndarray
    label_json: list[str]

    def __len__(self) -> int:
        return int(self.sentence_ids.size)


def _raw(db: sqlite3.Connection | sqlite_utils.Database) -> sqlite3.Connection:
    return db.conn if isinstance(db, sqlite_utils.Database) else db


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def labeled_cells(db: sqlite3.Connection | sqlite_utils.Database,
                  known: Sequence[str] = ()) -> LabeledCells:
    """All ``status = 'labeled'`` annotations, ordered by sentence id.

    ``known``: label JSON strings expected to cover (nearly) all rows, e.g.
    ``'["demand"]'`` for each label of a single-label project; they are coded in SQL
    (fast path). Any other stored string is read as text and given the next codes.
    One read transaction, so both queries see the same snapshot.
    """
    # The connection's lock (db.connect sets one): a read transaction must not interleave
    # with a write_transaction of another thread on the same connection.
    lock = getattr(db, "_parley_lock", None)
    if lock is None:
        return _labeled_cells(_raw(db), known)
    with lock:
        return _labeled_cells(_raw(db), known)


def _case(known: Sequence[str]) -> str:
    other = 2**_CODE_BITS - 1
    if not known:
        return str(other)
    return ("CASE labels " + " ".join(f"WHEN {_sql_str(k)} THEN {i}" for i, k in enumerate(known))
            + f" ELSE {other} END")


def _labeled_cells(conn: sqlite3.Connection, known: Sequence[str]) -> LabeledCells:
    other = 2**_CODE_BITS - 1
    known = list(dict.fromkeys(known))[:other]
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # one read snapshot (WAL) across the queries below
    try:
        ann_ids = np.array([r[0] for r in conn.execute(
            "SELECT id FROM annotators ORDER BY id")], dtype=np.int64)
        max_sid = conn.execute("SELECT coalesce(max(id), 0) FROM sentences").fetchone()[0]
        packable = len(ann_ids) < 2**_ANN_BITS and max_sid <= _MAX_PACKED_SID

        def scan(codes_for: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if packable:
                sids, slots, codes = _packed(conn, _case(codes_for), max_sid, ann_ids)
                aids = ann_ids[slots] if ann_ids.size else slots
            else:  # huge ids or teams: plain rows, slower, same result
                sids, aids, codes = _plain(conn, _case(codes_for))
            ds, da = np.diff(sids), np.diff(aids)
            if not bool(np.all((ds > 0) | ((ds == 0) & (da > 0)))):
                # group_concat follows the primary-key scan; should a plan ever differ, sort
                # (callers and _other_labels rely on (sentence, annotator) order).
                order = np.lexsort((aids, sids))
                sids, aids, codes = sids[order], aids[order], codes[order]
            return sids, aids, codes

        sids, aids, codes = scan(known)
        unknown = np.flatnonzero(codes == other)
        if unknown.size > _RESCAN_AFTER:
            # Many rows with other strings (label sets of a multi-label project): learn the
            # few distinct strings with one scan, then code them in SQL too.
            extra = _distinct_other_labels(conn, known)
            if len(known) + len(extra) < other:
                known = known + extra
                sids, aids, codes = scan(known)
                unknown = np.flatnonzero(codes == other)
        label_json = list(known)
        if unknown.size:
            text = _other_labels(conn, known)
            # Both queries list cells in (sentence_id, annotator_id) order, in one snapshot.
            if len(text) != unknown.size:
                raise RuntimeError("annotations changed while reading")
            extra_codes, extra_uniques = pd.factorize(np.asarray(text, dtype=object))
            # NULL labels (should not occur on a labeled row) stay -1: not a cell.
            codes[unknown] = np.where(extra_codes >= 0, extra_codes + len(label_json), -1)
            label_json += [str(u) for u in extra_uniques]
    finally:
        if own:
            conn.execute("COMMIT")
    return LabeledCells(sids, aids, codes, label_json)


def _packed(conn: sqlite3.Connection, case: str, max_sid: int,
            ann_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One integer per cell, concatenated by SQLite and parsed by numpy in C (no Python
    object per row): the fast path."""
    # annotator id -> slot (rank), computed in SQL with a CASE as well
    if ann_ids.size:
        slot = "CASE annotator_id " + " ".join(
            f"WHEN {int(a)} THEN {i}" for i, a in enumerate(ann_ids.tolist())) + " END"
    else:
        slot = "0"
    packed = _scan(conn, f"(sentence_id << {_ANN_BITS + _CODE_BITS}) | (({slot}) << "
                         f"{_CODE_BITS}) | ({case})", "status = 'labeled'", max_sid)
    sids = packed >> (_ANN_BITS + _CODE_BITS)
    slots = (packed >> _CODE_BITS) & (2**_ANN_BITS - 1)
    codes = packed & (2**_CODE_BITS - 1)
    return sids, slots, codes


def _scan(conn: sqlite3.Connection, expr: str, where: str, max_sid: int) -> np.ndarray:
    """``expr`` (a non-negative integer expression) for every annotation row matching
    ``where``, in (sentence_id, annotator_id) order, as an int64 array.

    SQLite concatenates the values of a sentence-id range into one string and numpy parses
    it in C: ~10x cheaper than building a Python tuple per row. Ranges walk the primary key.
    """
    sql = (f"SELECT group_concat({expr}) FROM annotations "
           f"WHERE {where} AND sentence_id >= ? AND sentence_id < ?")
    parts = []
    for lo in range(0, max_sid + 1, _CHUNK):
        text = conn.execute(sql, (lo, lo + _CHUNK)).fetchone()[0]
        if text:
            parts.append(np.fromstring(text, dtype=np.int64, sep=","))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _plain(conn: sqlite3.Connection, case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = conn.execute(
        f"SELECT sentence_id, annotator_id, {case} FROM annotations "
        "WHERE status = 'labeled' ORDER BY sentence_id, annotator_id").fetchall()
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy()


def _distinct_other_labels(conn: sqlite3.Connection, known: Sequence[str]) -> list[str]:
    params = list(known)
    cond = f"AND labels NOT IN ({', '.join('?' * len(params))})" if params else ""
    return [r[0] for r in conn.execute(
        f"SELECT DISTINCT labels FROM annotations WHERE status = 'labeled' "
        f"AND labels IS NOT NULL {cond} ORDER BY labels", params)]


def _other_labels(conn: sqlite3.Connection, known: Sequence[str]) -> list[str]:
    params = list(known)
    cond = (f"AND (labels IS NULL OR labels NOT IN ({', '.join('?' * len(params))}))"
            if params else "")
    return [r[0] for r in conn.execute(
        f"SELECT labels FROM annotations WHERE status = 'labeled' {cond} "
        "ORDER BY sentence_id, annotator_id", params)]


def annotator_names(db: sqlite3.Connection | sqlite_utils.Database) -> dict[int, str]:
    """``{annotator id: name}`` for every annotator."""
    return dict(_raw(db).execute("SELECT id, name FROM annotators"))


def labeled_durations(db: sqlite3.Connection | sqlite_utils.Database
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``(annotator_ids, duration_ms)`` of every labeled annotation with a duration
    (int64 arrays; durations capped at ~49 days). Read like :func:`labeled_cells`: one
    table scan, one integer per row, no Python object per row."""
    conn = _raw(db)
    max_sid = conn.execute("SELECT coalesce(max(id), 0) FROM sentences").fetchone()[0]
    packed = _scan(conn, "(annotator_id << 32) | min(max(duration_ms, 0), 4294967295)",
                   "status = 'labeled' AND duration_ms IS NOT NULL", max_sid)
    return packed >> 32, packed & 0xFFFFFFFF


def gold_labels(db: sqlite3.Connection | sqlite_utils.Database) -> dict[int, tuple[str, str]]:
    """``{sentence id: (labels JSON, source)}`` of every gold label."""
    return {sid: (labels, source) for sid, labels, source in _raw(db).execute(
        "SELECT sentence_id, labels, source FROM gold")}
