"""Opening a project: the database, its migrations, its config and the seed article."""

from __future__ import annotations

import os
from pathlib import Path

import sqlite_utils

import db as store
from db import settings as db_settings
import db.articles as articles_q
from db import migrations
from labeling import config as config_mod
from labeling.config import ProjectConfig

DEFAULT_DB = "labels.db"
SEED_DIR = config_mod.SEEDS


def db_path(explicit: str | os.PathLike | None = None) -> str:
    """``explicit``, else env ``PARLEY_DB``, else ``labels.db`` in the working folder."""
    return str(explicit or os.environ.get("PARLEY_DB") or DEFAULT_DB)


class NoProject(store.DatabaseError):
    """A command that only reads was pointed at a database file that does not exist."""


def init(path: str | os.PathLike | None = None, *, config_path: str | Path | None = None,
         seed: bool = False, created_by: str = "cli") -> sqlite_utils.Database:
    """Create or open the database, apply migrations and store the config if none is
    stored (or the given ``config_path``). Idempotent: safe to call on every start.

    A project holds only what its owner put in: the seed (demo) article is imported
    only with ``seed=True`` (``init --demo``, or the app creating a database itself).
    ``created_by`` ("app" or "cli") is recorded when the file is created, so that the
    app seeds only a database it made, never one that ``init`` left empty.
    """
    path = db_path(path)
    if path != ":memory:" and Path(path).is_dir():
        raise NoProject(f"{path}: is a folder; give the database file's path, "
                        f"e.g. {Path(path) / DEFAULT_DB}")
    db = store.connect(path, migrate=True)
    stored = db_settings.get(db, "config")
    if stored is None and db_settings.get(db, "origin") is None:
        # a new project (databases from before this record have a stored config)
        with store.write_transaction(db) as conn:
            db_settings.put(conn, "origin", {"created_by": created_by,
                                             "created_at": _now()})
    if config_path is not None or stored is None:
        cfg = config_mod.load(config_path) if config_path else config_mod.default()
        save_config(db, cfg)
    if seed:
        _import_seed(db)
    return db


def _import_seed(db: sqlite_utils.Database) -> None:
    """Import the demo article once per project."""
    if db_settings.get(db, "seeded", False):
        return
    from labeling import ingest

    # Import first, then record it: a crash in between only repeats an import that
    # is a no-op anyway (same text, same hash), while the other order could lose the seed.
    ingest.import_paths(db, sorted(SEED_DIR.glob("*.txt")))
    with store.write_transaction(db) as conn:
        db_settings.put(conn, "seeded", True)


def open_for_app(path: str | os.PathLike | None = None) -> sqlite_utils.Database:
    """What the app does at start: a database it creates itself gets the demo article
    (the README's run command on a fresh folder opens ready to label); an existing one,
    made by ``init`` or any other command, is opened as it is."""
    path = db_path(path)
    created_here = path == ":memory:" or not Path(path).exists()
    db = init(path, created_by="app")
    origin = db_settings.get(db, "origin") or {}
    if created_here or origin.get("created_by") == "app":
        _import_seed(db)
    return db


def open_existing(path: str | os.PathLike | None = None) -> sqlite_utils.Database:
    """Open a project that must exist, for commands that only read it: never creates a
    file. Migrates when it can write; where it cannot (a read-only file or folder) it
    opens read-only, and refuses only if the schema would need an upgrade first."""
    path = db_path(path)
    if path == ":memory:":
        return store.connect(path, migrate=True)
    p = Path(path)
    if not p.exists():
        raise NoProject(f"{path}: no such database (create one with "
                        f"`python -m labeling --db {path} init`, or check the path)")
    if p.is_dir():
        raise NoProject(f"{path}: is a folder; give the database file's path, "
                        f"e.g. {p / DEFAULT_DB}")
    if not p.is_file():
        raise NoProject(f"{path}: not a database file")
    if writable(p):
        return store.connect(p, migrate=True)
    db = store.connect(p, readonly=True)
    if migrations.migrations.pending(db):
        db.close()
        raise store.ReadOnlyDatabase(
            f"{path}: this database needs a schema upgrade but cannot be written "
            "(read-only file or folder); open it once where it can be written")
    return db


def writable(p: Path) -> bool:
    """Whether SQLite can write ``p`` in WAL mode: the file and its folder (for the
    -wal and -shm files) must both be writable."""
    return os.access(p, os.W_OK) and os.access(p.parent, os.W_OK | os.X_OK)


DEMO_ID = "000_0a083b07f5e0d51c"  # the seed article's external id (its file name)


def corpus_state(db: sqlite_utils.Database) -> str:
    """``"empty"``, ``"demo"`` (only the seed article) or ``"real"``: what the app tells
    a visitor about the project's articles. Two rowid lookups."""
    ids = articles_q.external_ids(db, limit=2)
    if not ids:
        return "empty"
    return "demo" if ids == [DEMO_ID] else "real"


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def save_config(db: sqlite_utils.Database, cfg: ProjectConfig) -> None:
    """Store a validated config; sentence targets and order follow it (see
    ``routing.apply_config``)."""
    from labeling.routing import apply_config

    apply_config(db, cfg)


def load_config(db: sqlite_utils.Database) -> ProjectConfig:
    """The project's stored config (validated again: the database may be old)."""
    stored = db_settings.get(db, "config")
    if stored is None:
        return config_mod.default()
    return config_mod.from_dict(stored, source="stored config")
