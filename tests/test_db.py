"""db/: connections, migrations, the write path, the seed, concurrent writers."""

from __future__ import annotations

import sqlite3
import threading

import pytest

import db as store
import db.migrations as migrations_db
from db.connection import BUSY_TIMEOUT_MS
from labeling import project
from tests.conftest import dump

SEED_SENTENCES, SEED_CONTENT = 33, 27


# --------------------------------------------------------------------------- connect


def test_connect_sets_wal_foreign_keys_and_busy_timeout(tmp_path):
    db = store.connect(tmp_path / "x.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    assert BUSY_TIMEOUT_MS >= 5_000  # long enough to wait out another writer's transaction
    db.close()


def test_foreign_keys_are_enforced(tmp_path):
    db = store.connect(tmp_path / "x.db", migrate=True)
    with pytest.raises(sqlite3.IntegrityError), store.write_transaction(db) as conn:
        conn.execute('INSERT INTO sentences (article_id, idx, start, "end", text, kind) '
                     "VALUES (999, 0, 0, 1, 'x', 'content')")
    assert db.execute("SELECT count(*) FROM sentences").fetchone()[0] == 0


def test_connect_to_a_file_that_is_not_a_database_is_a_database_error(tmp_path):
    # regression: this was a raw sqlite3.DatabaseError, shown by the CLI as a traceback
    path = tmp_path / "notes.db"
    path.write_text("not a database, just notes\n" * 100)
    with pytest.raises(store.DatabaseError, match="notes.db"):
        store.connect(path, migrate=True)


def test_connect_in_a_missing_folder_is_a_database_error(tmp_path):
    # regression: "unable to open database file" escaped as sqlite3.OperationalError
    with pytest.raises(store.DatabaseError, match="no-such-folder"):
        store.connect(tmp_path / "no-such-folder" / "x.db")


# --------------------------------------------------------------------------- migrations


def test_migrations_create_every_table_and_record_themselves(tmp_path):
    db = store.connect(tmp_path / "x.db", migrate=True)
    tables = set(db.table_names())
    assert {"articles", "sentences", "annotators", "events", "annotations", "assignments",
            "gold", "settings", "_sqlite_migrations"} <= tables
    rows = db.execute("SELECT migration_set, name FROM _sqlite_migrations").fetchall()
    assert [r[1] for r in rows] == migrations_db.applied(db)
    assert len(rows) == store.SCHEMA_VERSION == len(migrations_db.migrations._migrations)
    assert {r[0] for r in rows} == {"parley"}


def test_migrations_are_idempotent(tmp_path):
    path = tmp_path / "x.db"
    db = store.connect(path, migrate=True)
    before = dump(path)
    store.migrate(db)
    store.migrate(db)
    db.close()
    store.connect(path, migrate=True).close()
    assert dump(path) == before
    assert not migrations_db.migrations.pending(store.connect(path))


def test_a_database_at_an_earlier_version_is_upgraded(tmp_path):
    """Every migration can be applied on top of the one before it."""
    names = [m.name for m in migrations_db.migrations._migrations]
    for i, name in enumerate(names):
        path = tmp_path / f"v{i}.db"
        db = store.connect(path)
        migrations_db.migrations.apply(db, stop_before=name)
        assert migrations_db.applied(db) == names[:i]
        store.migrate(db)
        assert migrations_db.applied(db) == names


def test_concurrent_first_open_migrates_once(tmp_path):
    """Eight sessions opening a new database at once: all succeed, schema applied once.

    Regression: sqlite-utils' deferred BEGIN made all but one fail with "database is
    locked" or "table articles already exists"."""
    path = tmp_path / "new.db"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_it():
        try:
            start.wait()
            store.connect(path, migrate=True).close()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = store.connect(path)
    assert db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] \
        == store.SCHEMA_VERSION


# --------------------------------------------------------------------------- write path


def test_write_transaction_commits(tmp_path):
    db = store.connect(tmp_path / "x.db", migrate=True)
    with store.write_transaction(db) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")
        conn.execute("INSERT INTO settings (key, value) VALUES ('b', '2')")
    other = store.connect(tmp_path / "x.db")
    assert other.execute("SELECT count(*) FROM settings").fetchone()[0] == 2


def test_write_transaction_rolls_back_on_error(tmp_path):
    path = tmp_path / "x.db"
    db = store.connect(path, migrate=True)
    before = dump(path)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write_transaction(db) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")
        raise Boom
    assert not db.conn.in_transaction
    with pytest.raises(sqlite3.IntegrityError), store.write_transaction(db) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('b', '1')")
        conn.execute("INSERT INTO settings (key, value) VALUES ('b', '2')")
    assert not db.conn.in_transaction
    assert dump(path) == before
    # the connection is still usable
    with store.write_transaction(db) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('c', '1')")
    assert db.execute("SELECT key FROM settings").fetchall() == [("c",)]


def test_write_transaction_takes_the_write_lock_up_front(tmp_path):
    """BEGIN IMMEDIATE: while one writer holds its transaction, another cannot start one."""
    path = tmp_path / "x.db"
    db = store.connect(path, migrate=True)
    other = sqlite3.connect(str(path), timeout=0.05, isolation_level=None)
    with store.write_transaction(db), pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


def test_a_write_lock_held_past_the_timeout_is_a_database_error(tmp_path):
    from db.connection import DatabaseBusy

    path = tmp_path / "x.db"
    db = store.connect(path, migrate=True)
    db.execute("PRAGMA busy_timeout = 50")
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseBusy, match="busy"), store.write_transaction(db):
            pass
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert isinstance(DatabaseBusy("x"), store.DatabaseError)


def test_write_transaction_error_is_not_its_own_cause(tmp_path):
    # regression: `raise _translate(exc) from exc` made an untranslated error its own cause
    db = store.connect(tmp_path / "x.db", migrate=True)
    with pytest.raises(sqlite3.OperationalError) as info, store.write_transaction(db) as conn:
        conn.execute("SELECT * FROM no_such_table")
    assert info.value.__cause__ is not info.value


def test_disk_full_rolls_back_and_says_so(tmp_path):
    path = tmp_path / "x.db"
    db = store.connect(path, migrate=True)
    before = dump(path)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(store.DiskFull, match="nothing was saved"), \
            store.write_transaction(db) as conn:
        conn.executemany("INSERT INTO settings (key, value) VALUES (?, ?)",
                         [(str(i), "x" * 2000) for i in range(200)])
    assert not db.conn.in_transaction
    db.close()
    assert dump(path) == before


def test_read_only_database_is_reported(tmp_path):
    db = store.connect(tmp_path / "x.db", migrate=True)
    db.execute("PRAGMA query_only = 1")
    with pytest.raises(store.ReadOnlyDatabase), store.write_transaction(db) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")


def test_eight_threads_with_their_own_connections_all_write(tmp_path):
    """Concurrent writers wait for each other instead of failing with 'database is locked'."""
    path = tmp_path / "x.db"
    store.connect(path, migrate=True).close()
    writes_each = 60
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int):
        db = store.connect(path)
        try:
            start.wait()
            for i in range(writes_each):
                # read-then-write inside one transaction: the pattern that deadlocks
                # under a deferred BEGIN
                with store.write_transaction(db) as conn:
                    count = conn.execute("SELECT count(*) FROM settings").fetchone()[0]
                    conn.execute("INSERT INTO settings (key, value) VALUES (?, ?)",
                                 [f"t{n}-{i}", str(count)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = store.connect(path)
    assert db.execute("SELECT count(*) FROM settings").fetchone()[0] == 8 * writes_each
    # each transaction saw all earlier ones: the counts are exactly 0..N-1
    seen = sorted(int(v) for (v,) in db.execute("SELECT value FROM settings"))
    assert seen == list(range(8 * writes_each))


# --------------------------------------------------------------------------- project + seed


def _counts(db) -> tuple[int, int, int]:
    return (db.execute("SELECT count(*) FROM articles").fetchone()[0],
            db.execute("SELECT count(*) FROM sentences").fetchone()[0],
            db.execute("SELECT count(*) FROM sentences WHERE kind = 'content'").fetchone()[0])


def test_first_init_with_seed_imports_the_seed(tmp_path):
    db = project.init(tmp_path / "p.db", seed=True)
    assert _counts(db) == (1, SEED_SENTENCES, SEED_CONTENT)
    ext = db.execute("SELECT external_id FROM articles").fetchone()[0]
    assert ext == "000_0a083b07f5e0d51c"


def test_second_init_does_not_import_the_seed_again(tmp_path):
    path = tmp_path / "p.db"
    project.init(path, seed=True).close()
    before = dump(path)
    project.init(path, seed=True).close()
    assert dump(path) == before
    # not even when the seed article was removed by hand: the project was seeded once
    conn = sqlite3.connect(str(path))
    with conn:
        conn.execute("DELETE FROM sentences")
        conn.execute("DELETE FROM articles")
    conn.close()
    assert _counts(project.init(path, seed=True)) == (0, 0, 0)


def test_init_without_seed_leaves_the_project_empty(tmp_path):
    db = project.init(tmp_path / "p.db", seed=False)
    assert _counts(db) == (0, 0, 0)
    assert db.execute("SELECT count(*) FROM settings WHERE key = 'config'").fetchone()[0] == 1
