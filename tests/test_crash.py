"""Crashes and full disks: a process killed with SIGKILL in the middle of a big import
or of a labeling storm, a full disk and a read-only database.

Afterwards the file is intact (``check`` passes), every article is all there or not at
all, every acknowledged label is stored, and the interrupted work can simply be redone.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import db as store
from benchmarks import synth
from labeling import annotate, ingest, ops, project, segment
from labeling.cli import cli
from tests.conftest import dump

ROOT = Path(__file__).resolve().parents[1]
N_FILES = 40
SENTENCES_PER_FILE = 2_000



def assert_check_ok(path: Path) -> None:
    report = ops.check_file(path)
    assert report.ok, [str(p) for p in report.problems]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


# --------------------------------------------------------------------------- import


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, list[dict]]]:
    """40 JSONL files of ~2,000 synthetic sentences each: (folder, {file name: articles})."""
    folder = tmp_path_factory.mktemp("corpus")
    stream = synth.articles(N_FILES * SENTENCES_PER_FILE, seed=11)
    files: dict[str, list[dict]] = {}
    for n in range(N_FILES):
        arts, count = [], 0
        for art in stream:
            arts.append(art)
            count += art["n_sentences"]
            if count >= SENTENCES_PER_FILE:
                break
        name = f"part-{n:03d}.jsonl"
        with open(folder / name, "w", encoding="utf-8") as out:
            for art in arts:
                out.write(json.dumps(art, ensure_ascii=False) + "\n")
        files[name] = arts
    return folder, files


def _import_state(path: Path, files: dict[str, list[dict]]) -> dict[str, int]:
    """How many articles of each file are stored."""
    conn = sqlite3.connect(str(path))
    try:
        stored = {r[0] for r in conn.execute("SELECT external_id FROM articles")}
    finally:
        conn.close()
    return {name: sum(a["id"] in stored for a in arts) for name, arts in files.items()}


_SEGMENTS: dict[str, int] = {}  # sha256 -> number of segments (computed once per text)


def _assert_articles_whole(path: Path) -> None:
    """Each stored article has exactly the sentences its text segments into."""
    conn = sqlite3.connect(str(path))
    try:
        counts = dict(conn.execute("SELECT article_id, count(*) FROM sentences GROUP BY 1"))
        for aid, sha, text in conn.execute("SELECT id, sha256, text FROM articles"):
            if sha not in _SEGMENTS:
                _SEGMENTS[sha] = len(segment.segment(text))
            assert counts.get(aid, 0) == _SEGMENTS[sha], aid
    finally:
        conn.close()


@pytest.mark.slow
def test_import_killed_midway_is_all_or_nothing_and_resumable(corpus, db_path):
    folder, files = corpus
    assert CliRunner().invoke(cli, ["--db", str(db_path), "init", "--no-seed"]).exit_code == 0
    total = sum(len(a) for a in files.values())
    proc = subprocess.Popen([sys.executable, "-m", "labeling", "--db", str(db_path),
                             "import", str(folder)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    watcher = sqlite3.connect(str(db_path))
    try:
        wait_until(lambda: proc.poll() is not None or watcher.execute(
            "SELECT count(*) FROM articles").fetchone()[0] >= total // 3, 120,
            "a third of the import")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        watcher.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the import ended before it could be killed"

    state = _import_state(db_path, files)
    for name, n in state.items():
        assert n in (0, len(files[name])), f"{name}: {n} of {len(files[name])} articles"
    done = sum(1 for name, n in state.items() if n)
    assert 0 < done < N_FILES
    assert_check_ok(db_path)
    _assert_articles_whole(db_path)

    # Running the same import again finishes the job, without duplicates.
    result = CliRunner().invoke(cli, ["--db", str(db_path), "import", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    imported_before = sum(len(files[n]) for n, k in state.items() if k)
    assert report["articles_skipped_duplicate"] == imported_before
    assert report["articles_added"] == total - imported_before
    assert all(n == len(files[name]) for name, n in _import_state(db_path, files).items())
    conn = sqlite3.connect(str(db_path))
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == total
    conn.close()
    assert_check_ok(db_path)
    _assert_articles_whole(db_path)


# --------------------------------------------------------------------------- labeling

# Labels as several people in turn, as fast as it can; prints each acknowledged save
# (after annotate.save returned) and flushes, so the parent knows what was promised.
STORM = r"""
import sys
sys.path.insert(0, sys.argv[1])
import db as store
from labeling import annotate, project
db = store.connect(sys.argv[2])
cfg = project.load_config(db)
people = [annotate.ensure_annotator(db, f"storm{i}", cfg)["id"] for i in range(3)]
labels = cfg.label_names
n = 0
while True:
    me = people[n % len(people)]
    item = annotate.next_item(db, me, cfg)
    if item is None:
        print("done", flush=True)
        break
    label = labels[n % len(labels)]
    eid = annotate.save(db, me, item.sentence_id, cfg, labels=[label], note=f"n{n}",
                        duration_ms=n)
    print(eid, item.sentence_id, me, label, flush=True)
    n += 1
"""


def _storm_until_killed(db_path: Path, acks: int) -> list[tuple[int, int, int, str]]:
    """Run the storm, SIGKILL it after ``acks`` acknowledged saves; the saves it printed."""
    proc = subprocess.Popen([sys.executable, "-c", STORM, str(ROOT), str(db_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got: list[tuple[int, int, int, str]] = []
    try:
        for line in proc.stdout:
            if line.strip() == "done":
                break
            eid, sid, aid, label = line.split()
            got.append((int(eid), int(sid), int(aid), label))
            if len(got) >= acks:
                os.kill(proc.pid, signal.SIGKILL)
                break
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"the storm ended on its own: {err[-2000:]}"
    return got


def test_labeling_storm_killed_loses_no_acknowledged_label(tmp_path):
    path = tmp_path / "storm.db"
    db = project.init(path, seed=False)
    jsonl = tmp_path / "news.jsonl"
    jsonl.write_text("".join(json.dumps(a) + "\n" for a in synth.articles(3_000, seed=5)))
    ingest.import_paths(db, [jsonl])
    db.close()

    acked = []
    for _round in range(2):  # killed, restarted (resuming the dead one's leases), killed
        acked += _storm_until_killed(path, acks=150)
        assert_check_ok(path)
        conn = sqlite3.connect(str(path))
        for eid, sid, aid, label in acked:
            row = conn.execute("SELECT action, sentence_id, annotator_id, labels FROM events "
                               "WHERE id = ?", [eid]).fetchone()
            assert row == ("label", sid, aid, json.dumps([label])), eid
            ann = conn.execute("SELECT event_id, status FROM annotations WHERE sentence_id = ? "
                               "AND annotator_id = ?", [sid, aid]).fetchone()
            assert ann == (eid, "labeled"), (eid, ann)
        conn.close()
    assert len({(sid, aid) for _e, sid, aid, _l in acked}) == len(acked)  # nobody twice

    # labeling goes on normally on the recovered file
    db = store.connect(path)
    cfg = project.load_config(db)
    me = annotate.ensure_annotator(db, "after", cfg)["id"]
    for _ in range(5):
        item = annotate.next_item(db, me, cfg)
        annotate.save(db, me, item.sentence_id, cfg, labels=["none"])
    db.close()
    assert_check_ok(path)


# --------------------------------------------------------------------------- full disk


def _limit_pages(db, extra: int = 1) -> int:
    """Let the connection grow the file by only ``extra`` pages (a nearly full disk)."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + extra}")
    return pages


def test_save_on_a_full_disk_fails_clearly_then_resumes(project_db, db_path):
    db = project_db
    cfg = project.load_config(db)
    me = annotate.add_annotator(db, "alice")["id"]
    item = annotate.next_item(db, me, cfg)
    note = "a long note that needs new pages " * 2_000
    pages = _limit_pages(db)
    before = dump(db_path)
    with pytest.raises(store.DiskFull, match="nothing was saved"):
        annotate.save(db, me, item.sentence_id, cfg, labels=["demand"], note=note)
    assert dump(db_path) == before
    assert not db.conn.in_transaction
    db.execute(f"PRAGMA max_page_count = {pages * 100}")  # space is freed
    eid = annotate.save(db, me, item.sentence_id, cfg, labels=["demand"], note=note)
    assert db.execute("SELECT note FROM events WHERE id = ?", [eid]).fetchone()[0] == note.strip()
    assert_check_ok(db_path)


def _corpus_file(tmp_path: Path, n_sentences: int = 3_000) -> Path:
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in synth.articles(n_sentences, seed=9)))
    return path


def test_cli_import_on_a_full_disk_fails_clearly_then_resumes(project_db, db_path, tmp_path,
                                                              monkeypatch):
    news = _corpus_file(tmp_path)
    project_db.close()
    connect = store.connect

    def nearly_full(*args, **kwargs):
        db = connect(*args, **kwargs)
        _limit_pages(db, extra=5)
        return db

    before = dump(db_path)
    monkeypatch.setattr(store, "connect", nearly_full)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "import", str(news)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {db_path}: ") and "full" in result.stderr
    assert "nothing was saved" in result.stderr
    assert dump(db_path) == before

    monkeypatch.setattr(store, "connect", connect)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "import", str(news), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sentences_added"] >= 3_000
    assert_check_ok(db_path)


# --------------------------------------------------------------------------- read-only


def test_save_on_a_read_only_database_fails_clearly_then_resumes(project_db, db_path):
    cfg = project.load_config(project_db)
    me = annotate.add_annotator(project_db, "alice")["id"]
    item = annotate.next_item(project_db, me, cfg)
    before = dump(db_path)
    ro = store.connect(db_path, readonly=True)
    try:
        with pytest.raises(store.ReadOnlyDatabase, match="nothing was saved"):
            annotate.save(ro, me, item.sentence_id, cfg, labels=["demand"])
        with pytest.raises(store.ReadOnlyDatabase):
            annotate.next_item(ro, me, cfg)
        assert not ro.conn.in_transaction
    finally:
        ro.close()
    assert dump(db_path) == before
    annotate.save(project_db, me, item.sentence_id, cfg, labels=["demand"])  # writable again
    assert_check_ok(db_path)


def test_cli_import_into_a_read_only_database(project_db, db_path, tmp_path, monkeypatch):
    news = _corpus_file(tmp_path, 200)
    project_db.close()
    connect = store.connect
    monkeypatch.setattr(store, "connect", lambda *a, **k: connect(*a, **{**k, "readonly": True}))
    before = dump(db_path)
    result = CliRunner().invoke(cli, ["--db", str(db_path), "import", str(news)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: {db_path}: the database cannot be written")
    assert "nothing was saved" in result.stderr
    assert dump(db_path) == before
    monkeypatch.setattr(store, "connect", connect)
    assert CliRunner().invoke(cli, ["--db", str(db_path), "import", str(news)]).exit_code == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files anyway; the "
                    "mode=ro tests above cover this")
def test_cli_import_into_a_chmod_read_only_file(project_db, db_path, tmp_path):
    news = _corpus_file(tmp_path, 200)
    project_db.close()
    before = dump(db_path)
    os.chmod(db_path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        proc = subprocess.run([sys.executable, "-m", "labeling", "--db", str(db_path),
                               "import", str(news)], check=False, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(db_path, 0o644)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"Error: {db_path}: ") and "written" in proc.stderr
    assert dump(db_path) == before
