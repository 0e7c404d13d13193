"""`python -m labeling check` and `backup`: every invariant is broken once with raw SQL
and must be reported (and only it, where the breakage allows); a backup taken while
someone labels opens, passes `check` and is one consistent snapshot."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import db as store
import db.ops as ops_db
from db.migrations import migrations
from labeling import annotate, annotations_io, ops, project
from tests.cli_helpers import run_db as run

SEED_ID = "000_0a083b07f5e0d51c"




def raw(path: Path) -> sqlite3.Connection:
    """A plain connection for breaking things: autocommit, foreign keys off."""
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA foreign_keys = OFF")
    return conn


def problem_names(path: Path) -> set[str]:
    db = ops.open_existing(path)
    try:
        return {p.check for p in ops.check(db).problems}
    finally:
        db.close()


@pytest.fixture
def labeled(project_db, db_path, tmp_path):
    """The seed project with real work in it: labels, a relabel, a skip, a flag, a note,
    unanimous gold, an expired lease, and imported labels beyond a sentence's target.
    Returns the database path; the fixture's connection stays open (as the app's would)."""
    db = project_db
    cfg = project.load_config(db)
    people = {n: annotate.add_annotator(db, n)["id"] for n in ("alice", "bob", "carol")}
    for _ in range(8):
        for name in ("alice", "bob"):
            item = annotate.next_item(db, people[name], cfg)
            annotate.save(db, people[name], item.sentence_id, cfg, labels=["demand"],
                          note="n'; --", duration_ms=900)
    item = annotate.next_item(db, people["carol"], cfg)
    annotate.save(db, people["carol"], item.sentence_id, cfg, action="skip", flagged=True)
    first = annotate.history(db, people["alice"])[0]
    annotate.save(db, people["alice"], first, cfg, labels=["warning"])  # relabel
    annotate.next_item(db, people["carol"], cfg, now=time.time() - 3600)  # expired lease
    # two imported labels on a sentence alice and bob finished: beyond its target of 2
    full = db.execute("SELECT id, idx FROM sentences WHERE n_done = 2 ORDER BY id").fetchone()
    csv_path = tmp_path / "old.csv"
    csv_path.write_text("sentence_id,annotator,label\n"
                        f"{SEED_ID}:{full[1]},dora,none\n{SEED_ID}:{full[1]},erin,none\n")
    assert annotations_io.import_annotations(db, csv_path).over_target == 2
    return db_path


def test_check_passes_on_a_real_project(labeled):
    result = run(labeled, "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ")
    result = run(labeled, "check", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["problems"] == []
    assert {"integrity", "foreign_keys", "schema", "leases"} <= set(report["checks"])
    assert {inv.name for inv in ops_db.INVARIANTS} <= set(report["checks"])
    assert report["info"]["expired_leases"] == 1  # information, not a problem
    assert report["info"]["counts"]["annotations"] > 0


def test_check_quick(labeled):
    result = run(labeled, "check", "--quick", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True


def test_check_changes_nothing(labeled):
    before = list(raw(labeled).iterdump())
    assert run(labeled, "check").exit_code == 0
    assert list(raw(labeled).iterdump()) == before


def test_check_missing_database_is_an_error(tmp_path):
    missing = tmp_path / "nope.db"
    result = run(missing, "check")
    assert result.exit_code == 1
    assert "no such database file" in result.stderr and "Traceback" not in result.output
    assert not missing.exists()  # check never creates a database


def test_check_reports_an_old_schema(tmp_path):
    path = tmp_path / "old.db"
    db = store.connect(path)
    names = [m.name for m in migrations._migrations]
    migrations.apply(db, stop_before=names[-1])
    db.close()
    result = run(path, "check", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    schema = [p for p in report["problems"] if p["check"] == "schema"]
    assert schema and schema[0]["examples"] == [{"migration": names[-1]}]
    assert report["info"]["schema_version"] == len(names) - 1


# --------------------------------------------------------------------------- breakers
# Each breaks one rule with raw SQL; the value is the exact set of problems expected
# (a breakage that cannot avoid breaking a second rule lists both).


def _pair(conn, status="labeled"):
    return conn.execute("SELECT sentence_id, annotator_id, event_id FROM annotations "
                        "WHERE status = ? AND source = 'app' ORDER BY sentence_id LIMIT 1",
                        [status]).fetchone()


def _open_sentence(conn):
    return conn.execute("SELECT id FROM sentences WHERE kind = 'content' AND n_done = 0 "
                        "ORDER BY id DESC LIMIT 1").fetchone()[0]


def break_integrity(conn):
    # Rewrite an index's definition behind SQLite's back: its entries no longer match.
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = 'CREATE INDEX events_sentence ON events "
                 "(annotator_id)' WHERE name = 'events_sentence'")
    conn.execute("PRAGMA writable_schema = OFF")


def break_foreign_keys(conn):
    conn.execute("INSERT INTO events (action, sentence_id, annotator_id, source, created_at) "
                 "VALUES ('flag', 1, 999, 'app', '2024-01-01')")


def break_duplicate_annotations(conn):
    # Only a table without its primary key can hold two rows for one pair.
    conn.execute("CREATE TABLE annotations_copy AS SELECT * FROM annotations")
    conn.execute("DROP TABLE annotations")
    conn.execute("ALTER TABLE annotations_copy RENAME TO annotations")
    sid, aid, _eid = _pair(conn, "skipped")
    conn.execute("INSERT INTO annotations SELECT * FROM annotations "
                 "WHERE sentence_id = ? AND annotator_id = ?", [sid, aid])


def _extra_label(conn, source):
    sid = conn.execute("SELECT id FROM sentences WHERE n_done = target AND id NOT IN "
                       "(SELECT sentence_id FROM events WHERE source LIKE 'import:%') "
                       "ORDER BY id LIMIT 1").fetchone()[0]
    aid = conn.execute("SELECT id FROM annotators WHERE name = 'carol'").fetchone()[0]
    eid = conn.execute("INSERT INTO events (action, sentence_id, annotator_id, labels, source, "
                       "created_at) VALUES ('label', ?, ?, '[\"none\"]', ?, '2024-01-01')",
                       [sid, aid, source]).lastrowid
    conn.execute("INSERT INTO annotations (sentence_id, annotator_id, status, labels, source, "
                 "event_id, created_at, updated_at) VALUES (?, ?, 'labeled', '[\"none\"]', ?, "
                 "?, '2024-01-01', '2024-01-01')", [sid, aid, source, eid])
    conn.execute("UPDATE sentences SET n_done = n_done + 1 WHERE id = ?", [sid])


def break_over_quota(conn):
    _extra_label(conn, "app")


def break_n_done(conn):
    conn.execute("UPDATE sentences SET n_done = 1 WHERE id = ?", [_open_sentence(conn)])


def break_annotation_event_missing(conn):
    sid, aid, _ = _pair(conn)
    conn.execute("UPDATE annotations SET event_id = 999999 WHERE sentence_id = ? "
                 "AND annotator_id = ?", [sid, aid])


def break_annotation_event_other_pair(conn):
    sid, aid, _ = _pair(conn)
    other = conn.execute("SELECT id FROM events WHERE sentence_id != ? ORDER BY id LIMIT 1",
                         [sid]).fetchone()[0]
    conn.execute("UPDATE annotations SET event_id = ? WHERE sentence_id = ? "
                 "AND annotator_id = ?", [other, sid, aid])


def break_annotation_labels(conn):
    sid, aid, _ = _pair(conn)
    conn.execute("UPDATE annotations SET labels = '[\"outcome\"]' WHERE sentence_id = ? "
                 "AND annotator_id = ?", [sid, aid])


def break_annotation_without_events(conn):
    sid, aid, _ = _pair(conn)
    conn.execute("DELETE FROM events WHERE sentence_id = ? AND annotator_id = ?", [sid, aid])


def break_gold_orphans(conn):
    conn.execute("INSERT INTO gold (sentence_id, labels, source, updated_at) "
                 "VALUES (999999, '[\"none\"]', 'majority', '2024-01-01')")


def break_article_sentences(conn):
    # a sentence from the middle of the article, one nobody labeled
    conn.execute("DELETE FROM sentences WHERE id = (SELECT min(s.id) FROM sentences s "
                 "WHERE s.idx > 0 AND NOT EXISTS (SELECT 1 FROM annotations a "
                 "WHERE a.sentence_id = s.id) AND NOT EXISTS (SELECT 1 FROM assignments l "
                 "WHERE l.sentence_id = s.id))")


def break_article_without_sentences(conn):
    conn.execute("INSERT INTO articles (external_id, text, sha256, imported_at) "
                 "VALUES ('empty', 'Some text.', 'x', '2024-01-01')")


def break_annotator_counts(conn):
    conn.execute("UPDATE annotators SET n_labeled = n_labeled + 5 WHERE name = 'bob'")


def break_project_counts(conn):
    conn.execute("UPDATE project_counts SET complete = complete + 1")


def break_annotator_name_clash(conn):
    # what an older Parley let happen: three spellings became three people
    for name in ("Zoe", "zoe", "ZOE"):
        conn.execute("INSERT INTO annotators (name, name_key, role, created_at) "
                     "VALUES (?, 'zoe', 'annotator', '2024-01-01')", [name])


def break_privileged_without_password(conn):
    conn.execute("UPDATE annotators SET role = 'admin', password_hash = NULL WHERE name = 'bob'")


def break_schema(conn):
    conn.execute("DROP TRIGGER annotations_count_update")


BREAKERS = {
    "integrity": (break_integrity, {"integrity", "schema"}),
    "foreign_keys": (break_foreign_keys, {"foreign_keys"}),
    "duplicate_annotations": (break_duplicate_annotations,
                              {"duplicate_annotations", "schema"}),  # PK and triggers gone
    "over_quota": (break_over_quota, {"over_quota"}),
    "n_done": (break_n_done, {"n_done"}),
    "annotation_event_missing": (break_annotation_event_missing,
                                 {"annotation_event_missing", "foreign_keys"}),
    "annotation_event_other_pair": (break_annotation_event_other_pair,
                                    {"annotation_event_mismatch"}),
    "annotation_labels": (break_annotation_labels, {"annotation_event_mismatch"}),
    "annotation_without_events": (break_annotation_without_events,
                                  {"annotation_without_events", "annotation_event_missing",
                                   "foreign_keys"}),
    "gold_orphans": (break_gold_orphans, {"gold_orphans", "foreign_keys"}),
    "article_sentences": (break_article_sentences, {"article_sentences"}),
    "article_without_sentences": (break_article_without_sentences, {"article_sentences"}),
    "annotator_counts": (break_annotator_counts, {"annotator_counts"}),
    "project_counts": (break_project_counts, {"project_counts"}),
    "annotator_name_clash": (break_annotator_name_clash, {"annotator_name_clash"}),
    "privileged_without_password": (break_privileged_without_password,
                                    {"privileged_without_password"}),
    "schema": (break_schema, {"schema"}),
}


@pytest.mark.parametrize("case", list(BREAKERS))
def test_check_reports_each_broken_invariant(labeled, case):
    breaker, expected = BREAKERS[case]
    conn = raw(labeled)
    breaker(conn)
    conn.close()
    names = problem_names(labeled)
    if case == "integrity":  # queries that read a damaged index may report anything else
        assert expected <= names
    else:
        assert names == expected
    result = run(labeled, "check", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    for p in report["problems"]:
        assert p["count"] >= 1 and p["message"] and p["examples"], p
    text = run(labeled, "check")
    assert text.exit_code == 1 and "Traceback" not in text.output
    for name in expected:
        assert f"  {name}: " in text.stdout


def test_every_invariant_has_a_breaker():
    covered = set().union(*(names for _fn, names in BREAKERS.values()))
    assert {inv.name for inv in ops_db.INVARIANTS} <= covered


def test_imported_labels_beyond_target_are_not_over_quota(labeled):
    conn = raw(labeled)
    _extra_label(conn, "import:more.csv")
    conn.close()
    assert problem_names(labeled) == set()


def test_lowering_the_overlap_below_given_labels_is_not_over_quota(project_db, db_path):
    cfg = dataclasses.replace(project.load_config(project_db), overlap=3)
    project.save_config(project_db, cfg)
    for name in ("ann", "bob"):  # two of three labels on the first sentence
        me = annotate.add_annotator(project_db, name)["id"]
        item = annotate.next_item(project_db, me, cfg)
        annotate.save(project_db, me, item.sentence_id, cfg, labels=["none"])
    project.save_config(project_db, dataclasses.replace(cfg, overlap=1))
    assert problem_names(db_path) == set()


def _scribble(path: Path, pages: list[int]) -> None:
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[16:18], "big")
    for p in pages:  # the cell area at the end of the page: keys and pointers
        end = p * size
        data[end - 300:end - 100] = b"\xff" * 200
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["index_page", "every_page", "not_a_database"])
def test_check_reports_a_damaged_file(labeled, tmp_path, damage):
    copy = tmp_path / "damaged.db"
    assert run(labeled, "backup", copy).exit_code == 0
    if damage == "index_page":
        conn = sqlite3.connect(str(copy))
        root = conn.execute("SELECT rootpage FROM sqlite_master "
                            "WHERE name = 'sentences_open'").fetchone()[0]
        conn.close()
        _scribble(copy, [root])
    elif damage == "every_page":
        _scribble(copy, list(range(2, copy.stat().st_size // 4096 + 1)))
    else:
        copy.write_text("id,text\n1,hello\n")
    result = run(copy, "check", "--json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert "integrity" in {p["check"] for p in report["problems"]}
    text = run(copy, "check")
    assert text.exit_code == 1 and "integrity" in text.stdout


# --------------------------------------------------------------------------- backup


def test_backup_json_summary_and_copy_passes_check(labeled, tmp_path):
    dest = tmp_path / "copy.db"
    result = run(labeled, "backup", dest, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["destination"] == str(dest) and summary["integrity_check"] == "ok"
    assert summary["bytes"] == dest.stat().st_size and summary["pages"] > 0
    src = raw(labeled)
    for table, n in summary["counts"].items():
        assert n == src.execute(f"SELECT count(*) FROM {table}").fetchone()[0], table
    assert run(dest, "check").exit_code == 0
    assert list(raw(dest).iterdump()) == list(src.iterdump())
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_backup_refuses_to_overwrite_without_force(labeled, tmp_path):
    dest = tmp_path / "copy.db"
    dest.write_bytes(b"precious")
    result = run(labeled, "backup", dest)
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert dest.read_bytes() == b"precious"
    result = run(labeled, "backup", dest, "--force")
    assert result.exit_code == 0, result.output
    assert run(dest, "check").exit_code == 0


def test_backup_force_drops_a_stale_wal_of_the_old_file(labeled, tmp_path):
    # Another database with committed pages still in its -wal, copied under DEST's name:
    # replaying that -wal into the new copy would corrupt it.
    other = tmp_path / "other.db"
    conn = sqlite3.connect(str(other), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE articles (x)")
    conn.executemany("INSERT INTO articles VALUES (?)", [("junk" * 100,)] * 200)
    dest = tmp_path / "copy.db"
    shutil.copy(other, dest)
    shutil.copy(f"{other}-wal", f"{dest}-wal")
    conn.close()
    assert run(labeled, "backup", dest, "--force").exit_code == 0
    assert not Path(f"{dest}-wal").exists()
    assert list(raw(dest).iterdump()) == list(raw(labeled).iterdump())


def test_backup_into_a_folder(labeled, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    first = json.loads(run(labeled, "backup", folder, "--json").stdout)["destination"]
    assert Path(first).parent == folder and Path(first).name.startswith("labels-")
    assert run(first, "check").exit_code == 0


@pytest.mark.parametrize("case", ["missing_source", "missing_folder", "itself"])
def test_backup_errors(labeled, tmp_path, case):
    db_path, dest = labeled, tmp_path / "copy.db"
    if case == "missing_source":
        db_path = tmp_path / "nope.db"
    elif case == "missing_folder":
        dest = tmp_path / "no" / "such" / "copy.db"
    else:
        dest = labeled
    before = list(raw(labeled).iterdump())
    result = run(db_path, "backup", dest, "--force")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "nope.db").exists()
    assert list(raw(labeled).iterdump()) == before


def test_backup_while_someone_labels(labeled, tmp_path):
    """A thread labels without pause while the backup copies a few pages at a time:
    labels go on being saved during the copy, and the copy is one consistent snapshot
    (events 1..n without gaps, every acknowledged label from before the copy in it)."""
    db = store.connect(labeled)
    cfg = project.load_config(db)
    me = annotate.add_annotator(db, "busy")["id"]
    acked: list[tuple[float, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def label() -> None:
        try:
            while not stop.is_set():
                item = annotate.next_item(db, me, cfg)
                if item is None:  # ran out: relabel what is there (still a write)
                    sid = annotate.history(db, me)[0]
                else:
                    sid = item.sentence_id
                eid = annotate.save(db, me, sid, cfg, labels=["outcome"])
                acked.append((time.monotonic(), eid))  # acknowledged at this time
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=label)
    worker.start()
    try:
        while len(acked) < 5:
            time.sleep(0.01)
        started = time.monotonic()
        report = ops.backup(labeled, tmp_path / "copy.db", pages=2, pause=0.02)
        finished = time.monotonic()
    finally:
        stop.set()
        worker.join()
        db.close()
    assert not errors, errors
    assert report.pages > 10  # so the copy took several steps
    during = [eid for t, eid in acked if started < t < finished]
    assert during, "no label was saved while the backup ran"
    assert run(report.destination, "check").exit_code == 0
    copy = raw(Path(report.destination))
    events = [r[0] for r in copy.execute("SELECT id FROM events ORDER BY id")]
    assert events == list(range(1, len(events) + 1))  # a snapshot: no holes
    before = [eid for t, eid in acked if t < started]
    assert set(before) <= set(events)
