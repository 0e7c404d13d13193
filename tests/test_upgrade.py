"""Databases created by every earlier schema version upgrade to the current one with
nothing lost.

For each migration in ``db.migrations.migrations`` a database is built at that version
(``migrations.apply(db, stop_before=<the next one>)``), filled with representative rows
written with raw SQL (only the columns that exist at that version), then opened the way
Parley opens it. Every row must survive with the same values, the schema must equal a
new database's, ``check`` must pass, and labeling must work on the upgraded file. New
migrations are covered without touching this file, unless they drop or rename a column
the rows below use.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

import db as store
import db.ops as ops_db
from db.migrations import migrations
from labeling import annotate, config, ops, project

NAMES = [m.name for m in migrations._migrations]
T0 = "2024-03-01T10:00:00.000+00:00"
T1 = "2024-03-01T10:05:00.000+00:00"

PARTS_A = [("Russia demanded guarantees.", "content"),
           ("The U.S. warned of sanctions.", "content"), ("Photo: AP", "boilerplate")]
PARTS_B = [("The talks ended without agreement.", "content"),
           ("Both sides could negotiate later.", "content")]


def _spans(parts: list[tuple[str, str]]) -> tuple[str, list[tuple[int, int, str, str]]]:
    """The article text (parts joined by a space) and each part's offsets."""
    text = " ".join(p for p, _kind in parts)
    out, start = [], 0
    for part, kind in parts:
        out.append((start, start + len(part), part, kind))
        start += len(part) + 1
    return text, out


def _rows() -> dict[str, list[dict]]:
    """Representative rows of every table of the first schema, consistent with one
    another (n_done = labeled annotations; each annotation's event is its action)."""
    cfg = config.default().to_dict()
    rows: dict[str, list[dict]] = {
        "settings": [{"key": "config", "value": json.dumps(cfg)},
                     {"key": "seeded", "value": "true"}],
        "articles": [
            {"id": 1, "external_id": "a-1", "title": "Talks ‘stall’", "source": "Wire",
             "url": "https://example.org/a?x=1&y='2'", "published_at": "2024-02-29",
             "text": _spans(PARTS_A)[0], "sha256": "a" * 64, "meta": json.dumps({"k": "v; --"}),
             "imported_at": T0},
            {"id": 2, "external_id": "b-2", "title": None, "source": None, "url": None,
             "published_at": None, "text": _spans(PARTS_B)[0], "sha256": "b" * 64, "meta": "{}",
             "imported_at": T0},
        ],
        "annotators": [
            {"id": 1, "name": "alice", "role": "annotator", "password_hash": None,
             "created_at": T0},
            {"id": 2, "name": "bob", "role": "reviewer",
             "password_hash": annotate.hash_password("pw", salt=b"0" * 16), "created_at": T0},
            {"id": 3, "name": "carol", "role": "admin",
             "password_hash": annotate.hash_password("pw", salt=b"1" * 16), "created_at": T0},
        ],
        "sentences": [], "events": [], "annotations": [], "assignments": [], "gold": [],
    }
    sid = 0
    for aid, parts in enumerate([PARTS_A, PARTS_B], 1):
        for idx, (start, end, part, kind) in enumerate(_spans(parts)[1]):
            sid += 1
            rows["sentences"].append({"id": sid, "article_id": aid, "idx": idx, "start": start,
                                      "end": end, "text": part, "kind": kind, "target": 2,
                                      "n_done": 0, "ord": sid})
    done = {s["id"]: 0 for s in rows["sentences"]}

    def act(eid, action, s, who, labels=None, note=None, status=None):
        rows["events"].append({"id": eid, "action": action, "sentence_id": s,
                               "annotator_id": who, "labels": labels, "note": note,
                               "duration_ms": 1200, "guidelines_version": "1",
                               "source": "app", "created_at": T1})
        if status:
            rows["annotations"].append({
                "sentence_id": s, "annotator_id": who, "status": status, "labels": labels,
                "flagged": int(action == "skip"), "note": note, "duration_ms": 1200,
                "guidelines_version": "1", "source": "app", "event_id": eid,
                "created_at": T0, "updated_at": T1})
            done[s] += status == "labeled"

    act(1, "label", 1, 1, '["demand"]', "quote ' and ; --", "labeled")
    act(2, "label", 1, 2, '["demand"]', None, "labeled")
    act(3, "label", 2, 1, '["warning"]', None, None)  # relabeled below: history stays
    act(4, "label", 2, 1, '["concession"]', None, "labeled")
    act(5, "label", 2, 2, '["warning"]', None, "labeled")
    act(6, "skip", 4, 1, None, "unsure", "skipped")
    act(7, "flag", 4, 1, None, "unsure")
    act(8, "adjudicate", 2, 3, '["warning"]', "see guidelines §2")
    for s in rows["sentences"]:
        s["n_done"] = done[s["id"]]
    rows["gold"] = [
        {"sentence_id": 1, "labels": '["demand"]', "source": "unanimous", "reviewer_id": None,
         "rationale": None, "event_id": None, "updated_at": T1},
        {"sentence_id": 2, "labels": '["warning"]', "source": "adjudicated", "reviewer_id": 3,
         "rationale": "see guidelines §2", "event_id": 8, "updated_at": T1},
    ]
    rows["assignments"] = [{"sentence_id": 4, "annotator_id": 2, "expires_at": 4e9},
                           {"sentence_id": 5, "annotator_id": 3, "expires_at": 1.0}]
    return rows


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _build(path, version: str) -> dict[str, tuple[list[str], list[tuple]]]:
    """A database at ``version`` with the representative rows; returns, per table, the
    columns written and the rows as read back (what must survive the upgrade)."""
    db = store.connect(path)
    at = NAMES.index(version)
    stop = NAMES[at + 1] if at + 1 < len(NAMES) else None
    migrations.apply(db, stop_before=stop)
    assert [m.name for m in migrations.applied(db)] == NAMES[:at + 1]
    conn = db.conn
    kept = {}
    conn.execute("BEGIN")
    for table, rows in _rows().items():
        cols = [c for c in _columns(conn, table) if c in rows[0]] if rows else []
        for row in rows:
            conn.execute(f"INSERT INTO {table} ({', '.join(map(_q, cols))}) "
                         f"VALUES ({', '.join('?' * len(cols))})", [row[c] for c in cols])
    conn.execute("COMMIT")
    for table, rows in _rows().items():
        cols = [c for c in _columns(conn, table) if not rows or c in rows[0]]
        kept[table] = (cols, _read(conn, table, cols))
    db.close()
    return kept


def _q(name: str) -> str:
    return f'"{name}"'


def _read(conn, table: str, cols: list[str]) -> list[tuple]:
    return sorted(conn.execute(f"SELECT {', '.join(map(_q, cols))} FROM {table}").fetchall(),
                  key=repr)


def _open_migrate(path):
    return store.connect(path, migrate=True)


def _open_init(path):
    return project.init(path)


@pytest.mark.parametrize("opener", [_open_migrate, _open_init], ids=["migrate", "init"])
@pytest.mark.parametrize("version", NAMES)
def test_upgrade_from_every_version_keeps_everything(tmp_path, version, opener):
    path = tmp_path / "old.db"
    kept = _build(path, version)
    assert sum(len(rows) for _cols, rows in kept.values()) > 20

    db = opener(path)
    try:
        assert [m.name for m in migrations.applied(db)] == NAMES
        for table, (cols, rows) in kept.items():
            assert _read(db.conn, table, cols) == rows, table
        fresh = store.connect(":memory:", migrate=True)
        assert ops_db.schema(db) == ops_db.schema(fresh)
        fresh.close()
        report = ops.check(db)
        assert report.ok, [str(p) for p in report.problems]

        # the upgraded project works: a new person labels; counters and gold follow
        cfg = project.load_config(db)
        me = annotate.ensure_annotator(db, "dora", cfg)["id"]
        item = annotate.next_item(db, me, cfg)
        # 1 and 2 are done, 3 is a credit line; 4 has one live lease (bob) and one seat
        assert item is not None and item.sentence_id == 4
        annotate.save(db, me, item.sentence_id, cfg, labels=["outcome"])
        alice = db.execute("SELECT id FROM annotators WHERE name = 'alice'").fetchone()[0]
        assert annotate.progress(db, alice)["mine_total"] == 2
        assert ops.check(db).ok
    finally:
        db.close()


def test_versions_are_all_covered():
    # the parametrization above is built from the registry itself
    assert NAMES and NAMES == [m.name for m in migrations._migrations]
    assert len(NAMES) == store.SCHEMA_VERSION


def test_upgrade_is_idempotent(tmp_path):
    path = tmp_path / "old.db"
    _build(path, NAMES[0])
    first = project.init(path)
    dump = list(first.conn.iterdump())
    first.close()
    again = project.init(path)
    try:
        assert list(again.conn.iterdump()) == dump
    finally:
        again.close()
