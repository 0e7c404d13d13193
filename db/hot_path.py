"""The label page's hot path as named statements, and their query plans: a diagnostic
(owns no table) that ``tests/test_routing.py`` and ``benchmarks/labeling_db.py`` use to
check that no statement scans a table.

Each entity module lists its own statements (``HOT_PATH``: every statement of
``next_item`` + save; ``PAGE_READS``: what the label page reads on every rerun
besides, progress and history); this module gathers them.
"""

from __future__ import annotations

import re
import sqlite3

import sqlite_utils

import db.annotations as annotations_db
import db.annotators as annotators_db
import db.gold as gold_db
import db.leases as leases_db
import db.sentences as sentences_db
from db.connection import raw

# Every statement of next_item + save, for ``query_plans`` (tests and the benchmark
# check that none of them scans a table).
HOT_PATH: dict[str, str] = {
    **leases_db.HOT_PATH, **annotations_db.HOT_PATH, **sentences_db.HOT_PATH,
    **gold_db.HOT_PATH,
}
# What the label page reads on every rerun besides (progress, history).
PAGE_READS: dict[str, str] = {
    **annotations_db.PAGE_READS, **annotators_db.PAGE_READS, **sentences_db.PAGE_READS,
}


def query_plans(db: sqlite3.Connection | sqlite_utils.Database) -> dict[str, list[str]]:
    """``EXPLAIN QUERY PLAN`` detail lines of every statement on the next_item + save
    path and of the label page's per-rerun reads, by name (``HOT_PATH``,
    ``PAGE_READS``). A line ``SCAN x`` without ``USING ... INDEX`` or ``PRIMARY KEY``
    would mean a full table scan."""
    conn = raw(db)
    params = {"me": 1, "now": 0.0, "lo": leases_db.MIN_ORD, "hi": leases_db.MAX_ORD,
              "sid": 1, "exp": 0.0,
              "delta": 1, "action": "label", "labels": None, "note": None,
              "duration_ms": None, "gv": None, "source": "app", "event_id": 1,
              "status": "labeled", "flagged": 0, "reviewer": None, "rationale": None,
              "limit": 50, "day": "2024-01-01"}
    out = {}
    for name, sql in {**HOT_PATH, **PAGE_READS}.items():
        # db.annotations' statements take numbered parameters, the others names
        numbers = [int(n) for n in re.findall(r"\?(\d+)", sql)]
        args = (1,) * max(numbers) if numbers else params
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
        out[name] = [r[3] for r in rows]
    return out
