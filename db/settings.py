"""The ``settings`` table: the project config (JSON) and other key/value state."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import sqlite_utils


def get(db: sqlite_utils.Database, key: str, default: Any = None) -> Any:
    """The JSON value stored under ``key``, or ``default``."""
    row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return default if row is None else json.loads(row[0])


def get_text(db: sqlite_utils.Database | sqlite3.Connection, key: str) -> str | None:
    """The stored JSON text under ``key`` (not parsed), or None: what a cache compares."""
    row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


def put(conn: sqlite3.Connection, key: str, value: Any) -> None:
    """Store ``value`` (JSON-serialisable) under ``key``; call inside a write transaction."""
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, json.dumps(value, ensure_ascii=False)],
    )
