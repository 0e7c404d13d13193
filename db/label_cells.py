"""The annotations table read whole as packed cells (behind ``labeling.label_matrix``,
the label read model that feeds the disagreement queue and the agreement report):
labeled annotations as numpy code arrays, and their durations read the same way.

The read model needs every labeled (sentence, annotator, labels) cell. At 3M annotations a
Python tuple per row costs seconds, so each row becomes *one integer* in SQL
(sentence id | annotator id | label code, the label mapped by a ``CASE`` over the label
strings the caller expects, e.g. ``'["demand"]'``); SQLite joins a range of sentence ids
into one ``group_concat`` string and numpy parses it in C. Ranges are read by one thread
per core on their own connections, checked to share one snapshot. Rows whose label string
is not expected (label sets, labels no longer in the config) are fetched again as text by
a second, usually empty, query. Units are sentences by database id, never by text.
Measured by ``benchmarks/agreement.py``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlite_utils

from db.connection import Database, max_id, raw

# Bits of the packed cell: sentence id | annotator slot | label code. The slot is the
# annotator's rank in the id order (< 2**_ANN_BITS), so the pack fits in 63 bits for
# sentence ids up to 2**44.
_CODE_BITS = 8
_ANN_BITS = 11
_MAX_PACKED_SID = 2 ** (63 - _CODE_BITS - _ANN_BITS) - 1
_CHUNK = 50_000  # sentence ids per group_concat chunk: bounds the string (memory)
_WORKERS = max(1, min(4, os.cpu_count() or 1))  # reader threads for large tables
_RESCAN_AFTER = 20_000  # more rows with unexpected label strings: code them in SQL too


@dataclass(frozen=True)
class LabeledCells:
    """Every labeled annotation as parallel arrays (one entry per cell).

    ``sentence_ids``: int32 (int64 past 2**31), ascending (cells of a sentence are adjacent, annotators
    ascending within it); ``annotator_ids``: signed integers (int32 or int64);
    ``codes``: signed integers, indexes into ``label_json`` (-1: no label), the distinct
    stored JSON label strings (the ``known`` ones first, in the order given).
    """

    sentence_ids: np.ndarray
    annotator_ids: np.ndarray
    codes: np.ndarray
    label_json: list[str]

    def __len__(self) -> int:
        return int(self.sentence_ids.size)



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
    # The connection's lock (db.Database): a read transaction must not interleave with a
    # write_transaction of another thread on the same connection.
    with db.lock if isinstance(db, Database) else contextlib.nullcontext():
        return _labeled_cells(raw(db), known)


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
        max_sid = max_id(conn, "sentences")
        packable = len(ann_ids) < 2**_ANN_BITS and max_sid <= _MAX_PACKED_SID

        def scan(codes_for: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if packable:
                sids, aids, codes = _packed(conn, _case(codes_for), max_sid, ann_ids)
            else:  # huge ids or teams: plain rows, slower, same result
                sids, aids, codes = _plain(conn, _case(codes_for))
            if not _in_order(sids, aids):
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


def _in_order(sids: np.ndarray, aids: np.ndarray) -> bool:
    """Whether cells are strictly ascending by (sentence id, annotator id); builds only
    boolean temporaries (memory: a 3M-cell table is read on a server)."""
    if sids.size < 2:
        return True
    if not bool(np.all(sids[1:] >= sids[:-1])):
        return False
    same = np.flatnonzero(sids[1:] == sids[:-1])
    return bool(np.all(aids[same + 1] > aids[same]))


def _packed(conn: sqlite3.Connection, case: str, max_sid: int,
            ann_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One integer per cell, concatenated by SQLite and parsed by numpy in C (no Python
    object per row): the fast path. Returns (sentence ids, annotator ids, codes)."""
    direct = not ann_ids.size or int(ann_ids.max()) < 2**_ANN_BITS
    if direct:  # ids fit in the annotator bits as they are (a CASE per row costs ~10%)
        ann = "annotator_id"
    else:  # annotator id -> rank, in SQL
        ann = "CASE annotator_id " + " ".join(
            f"WHEN {int(a)} THEN {i}" for i, a in enumerate(ann_ids.tolist())) + " END"

    sid_type = np.int32 if max_sid < 2**31 else np.int64

    def unpack(packed: np.ndarray) -> tuple[np.ndarray, ...]:
        codes = (packed & (2**_CODE_BITS - 1)).astype(np.int32)
        np.right_shift(packed, _CODE_BITS, out=packed)
        slots = (packed & (2**_ANN_BITS - 1)).astype(np.int32)
        np.right_shift(packed, _ANN_BITS, out=packed)
        return packed.astype(sid_type), (slots if direct else ann_ids[slots]), codes

    sids, aids, codes = _scan(conn, f"(sentence_id << {_ANN_BITS + _CODE_BITS}) | (({ann}) "
                                    f"<< {_CODE_BITS}) | ({case})", "status = 'labeled'",
                              max_sid, unpack)
    return sids, aids, codes


Unpack = Callable[[np.ndarray], tuple[np.ndarray, ...]]


def _scan(conn: sqlite3.Connection, expr: str, where: str, max_sid: int,
          unpack: Unpack) -> tuple[np.ndarray, ...]:
    """``unpack`` of ``expr`` (a non-negative integer expression) over every annotation
    row matching ``where``, in (sentence_id, annotator_id) order.

    SQLite concatenates the values of a sentence-id range into one string and numpy parses
    it in C: ~10x cheaper than building a Python tuple per row. Ranges walk the primary key
    and are unpacked one at a time into the (smaller) final arrays, which bounds memory.
    On a file database with several cores, the ranges are shared among worker threads
    with their own connections (sqlite3 releases the GIL while SQLite works); when a
    worker's snapshot differs from ``conn``'s (a write landed in between), the result is
    discarded and read again on ``conn`` alone.
    """
    sql = (f"SELECT group_concat({expr}) FROM annotations "
           f"WHERE {where} AND sentence_id >= ? AND sentence_id < ?")
    ranges = [(lo, lo + _CHUNK) for lo in range(0, max_sid + 1, _CHUNK)]
    path = _file_path(conn)
    workers = min(_WORKERS, len(ranges))
    parts: list[tuple[np.ndarray, ...]] | None = None
    if path and workers > 1:
        version = _version(conn)
        spans = [ranges[i::workers] for i in range(workers)]  # interleaved: even load
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(
                lambda span: _scan_on_new_connection(path, sql, span, unpack), spans))
        if all(v == version for v, _ in results):
            by_range = {r: part for _, done in results for r, part in done}
            parts = [by_range[r] for r in ranges if by_range[r] is not None]
            del by_range
        del results
    if parts is None:
        parts = [p for p in (_scan_range(conn, sql, r, unpack) for r in ranges)
                 if p is not None]
    if not parts:
        return unpack(np.zeros(0, dtype=np.int64))
    out = []
    for k in range(len(parts[0])):
        out.append(np.concatenate([p[k] for p in parts]))
        parts = [p[:k] + (None,) + p[k + 1:] for p in parts]  # free each column once copied
    return tuple(out)


def _scan_range(conn: sqlite3.Connection, sql: str, rng: tuple[int, int],
                unpack: Unpack) -> tuple[np.ndarray, ...] | None:
    text = conn.execute(sql, rng).fetchone()[0]
    return unpack(np.fromstring(text, dtype=np.int64, sep=",")) if text else None


def _scan_on_new_connection(path: str, sql: str, span: list[tuple[int, int]], unpack: Unpack
                            ) -> tuple[int, list[tuple[tuple[int, int], Any]]]:
    """Read ``span`` in one read transaction of a fresh connection; returns the snapshot's
    version (see :func:`_version`) with the unpacked parts."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA query_only = 1")
        conn.execute("BEGIN")
        version = _version(conn)  # the first read fixes the WAL snapshot
        done = [(r, _scan_range(conn, sql, r, unpack)) for r in span]
        conn.execute("COMMIT")
        return version, done
    finally:
        conn.close()


def _version(conn: sqlite3.Connection) -> int:
    """Last event id: every write to annotations appends an event in the same
    transaction, so two snapshots with the same last event hold the same annotations."""
    return max_id(conn, "events")


def _file_path(conn: sqlite3.Connection) -> str | None:
    """The main database's file, or None (in-memory / temporary databases)."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return file or None
    return None


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


def labeled_durations(db: sqlite3.Connection | sqlite_utils.Database
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``(annotator_ids int32, duration_ms uint32)`` of every labeled annotation with a
    duration between 0 and 2**32 - 1 ms (~49 days; longer ones are left out). Read like
    :func:`labeled_cells`: one table scan, one integer per row, no Python object per row."""
    conn = raw(db)
    max_sid = max_id(conn, "sentences")
    def unpack(packed: np.ndarray) -> tuple[np.ndarray, ...]:
        return (packed >> 32).astype(np.int32), (packed & 0xFFFFFFFF).astype(np.uint32)

    aids, durations = _scan(conn, "(annotator_id << 32) | duration_ms",
                            "status = 'labeled' AND duration_ms BETWEEN 0 AND 4294967295",
                            max_sid, unpack)
    return aids, durations

