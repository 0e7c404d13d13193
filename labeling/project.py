"""Opening a project: the database, its migrations, its config and the seed article."""

from __future__ import annotations

import os
from pathlib import Path

import sqlite_utils

import db as store
from db import settings as db_settings
import db.articles as articles_q
from labeling import config as config_mod
from labeling.config import ProjectConfig

DEFAULT_DB = "labels.db"
SEED_DIR = config_mod.SEEDS


def db_path(explicit: str | os.PathLike | None = None) -> str:
    """``explicit``, else env ``PARLEY_DB``, else ``labels.db`` in the working folder."""
    return str(explicit or os.environ.get("PARLEY_DB") or DEFAULT_DB)


def init(path: str | os.PathLike | None = None, *, config_path: str | Path | None = None,
         seed: bool = True) -> sqlite_utils.Database:
    """Create or open the database, apply migrations, store the config if none is stored
    (or the given ``config_path``), and import the seed article into an empty project.
    Idempotent: safe to call on every start."""
    db = store.connect(db_path(path), migrate=True)
    stored = db_settings.get(db, "config")
    if config_path is not None or stored is None:
        cfg = config_mod.load(config_path) if config_path else config_mod.default()
        save_config(db, cfg)
    if seed and not db_settings.get(db, "seeded", False):
        from labeling import ingest

        # Import first, then record it: a crash in between only repeats an import that
        # is a no-op anyway (same text, same hash), while the other order could lose the seed.
        if articles_q.count_articles(db) == 0:
            ingest.import_paths(db, sorted(SEED_DIR.glob("*.txt")))
        with store.write_transaction(db) as conn:
            db_settings.put(conn, "seeded", True)
    return db


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
