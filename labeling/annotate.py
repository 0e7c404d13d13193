"""Labeling services: annotators, the next sentence, saving an action.

What the label page and the CLI call. Each action is one ``BEGIN IMMEDIATE``
transaction that appends an event, sets the current annotation, keeps the sentence's
``n_done`` count, maintains unanimous gold, and releases the lease.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlite_utils

import db.labels as q
from db import write_transaction
from labeling import routing
from labeling.config import ProjectConfig

ROLES = ("annotator", "reviewer", "admin")
NAME_RE = re.compile(r"^[A-Za-z0-9 _.\-]{1,40}$")
ACTIONS = ("label", "skip")


class LabelingError(ValueError):
    """An action that cannot be applied (bad label, unknown sentence, quota reached...)."""


class QuotaReached(LabelingError):
    """The sentence already has as many annotators as it needs."""


class AuthError(LabelingError):
    """Unknown annotator (sign-in required) or a wrong password."""


@dataclass(frozen=True)
class Item:
    """A sentence as the label page shows it."""

    sentence_id: int
    public_id: str
    text: str
    title: str | None
    before: str | None
    after: str | None
    labels: tuple[str, ...] = ()  # this annotator's stored labels (when revisiting)
    status: str | None = None     # 'labeled' / 'skipped' / None (new)
    flagged: bool = False
    note: str | None = None


def now_iso() -> str:
    """UTC timestamp with milliseconds (orders actions within a second)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# ----------------------------------------------------------------------------- identity


def valid_name(name: str) -> bool:
    """1–40 characters: letters, digits, space, ``-_.``; no surrounding spaces."""
    return bool(NAME_RE.match(name or "")) and name.strip() == name


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash (hashlib's standard KDF), as ``scrypt$n$r$p$salt$hash``."""
    salt = salt or secrets.token_bytes(16)
    n, r, p = 2**14, 8, 1
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a ``hash_password`` string."""
    try:
        algo, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n),
                         r=int(r), p=int(p), dklen=len(bytes.fromhex(digest)))
    return hmac.compare_digest(got.hex(), digest)


def add_annotator(db: sqlite_utils.Database, name: str, role: str = "annotator",
                  password: str | None = None, *, update: bool = False) -> dict:
    """Create an annotator (or, with ``update``, change role/password of an existing one).

    The password is stored only as a salted scrypt hash; an empty one means none.
    """
    if not valid_name(name):
        raise LabelingError(f"invalid annotator name {name!r}: use 1–40 letters, digits, "
                            "spaces or - _ .")
    if role not in ROLES:
        raise LabelingError(f"invalid role {role!r}: choose from {', '.join(ROLES)}")
    pw = hash_password(password) if password else None
    try:
        with write_transaction(db) as conn:
            existing = q.get_annotator(conn, name)
            if existing is None:
                q.insert_annotator(conn, name, role, pw, now_iso())
            elif update:
                q.update_annotator(conn, name, role=role, password_hash=pw)
            else:
                raise LabelingError(f"annotator {name!r} already exists")
    except sqlite3.IntegrityError:  # same name, different case rules, or a race
        raise LabelingError(f"annotator {name!r} already exists") from None
    return public_annotator(q.get_annotator(db, name))


def public_annotator(row: dict | None) -> dict | None:
    """An annotator row without its password hash (never shown, logged or exported)."""
    if row is None:
        return None
    return {"id": row["id"], "name": row["name"], "role": row["role"],
            "has_password": row.get("password_hash") is not None,
            "created_at": row["created_at"]}


def list_annotators(db: sqlite_utils.Database) -> list[dict]:
    """Every annotator: id, name, role, has_password, created_at, labels (count of
    labeled sentences). Never a password hash."""
    return [{**r, "has_password": bool(r["has_password"])} for r in q.list_annotators(db)]


def ensure_annotator(db: sqlite_utils.Database, name: str, cfg: ProjectConfig) -> dict:
    """The annotator called ``name``, created on first use unless sign-in is required."""
    row = q.get_annotator(db, name)
    if row is not None:
        return public_annotator(row)
    if cfg.require_signin:
        raise AuthError(f"{name!r} is not an annotator of this project; ask an admin to add you")
    if not valid_name(name):
        raise LabelingError(f"invalid annotator name {name!r}")
    try:
        return add_annotator(db, name)
    except LabelingError:
        # created by a concurrent request in the meantime
        return public_annotator(q.get_annotator(db, name))


def needs_password(db: sqlite_utils.Database, name: str) -> bool:
    """Whether ``name`` has a password (the app must ask for it)."""
    row = q.get_annotator(db, name)
    return bool(row and row["password_hash"])


def authenticate(db: sqlite_utils.Database, name: str, password: str) -> bool:
    """True when ``name`` exists with that password."""
    row = q.get_annotator(db, name)
    return bool(row and row["password_hash"] and check_password(password, row["password_hash"]))


# ----------------------------------------------------------------------------- routing


def next_item(db: sqlite_utils.Database, annotator_id: int, cfg: ProjectConfig, *,
              now: float | None = None) -> Item | None:
    """The sentence this annotator should label now, reserved for them by a lease.

    Returns the sentence they already hold if the lease is live (a reload shows the
    same sentence); else the first open sentence in routing order from where they
    last got one, wrapping around to the start; None when nothing is left for them.
    A sentence is open to them when it is content, they have neither labeled nor
    skipped it, and its finished labels plus other people's live leases are fewer
    than its target. The lease lasts ``cfg.lease_minutes``.
    """
    now = time.time() if now is None else now
    with write_transaction(db) as conn:
        sid = routing.choose(conn, annotator_id, now)
        if sid is None:
            return None
        q.take_lease(conn, annotator_id, sid, now + cfg.lease_minutes * 60)
    return load_item(db, sid, annotator_id)


def load_item(db: sqlite_utils.Database, sentence_id: int, annotator_id: int) -> Item:
    """A sentence with its context and this annotator's stored annotation, if any."""
    s = q.sentence_with_context(db, sentence_id)
    if s is None:
        raise LabelingError(f"no sentence with id {sentence_id}")
    ann = q.get_annotation(db, sentence_id, annotator_id)
    return Item(sentence_id=s["id"], public_id=f"{s['external_id']}:{s['idx']}", text=s["text"],
                title=s["title"], before=s["before"], after=s["after"],
                labels=tuple(ann["labels"]) if ann else (),
                status=ann["status"] if ann else None,
                flagged=bool(ann["flagged"]) if ann else False,
                note=ann["note"] if ann else None)


# ----------------------------------------------------------------------------- saving


def save(db: sqlite_utils.Database, annotator_id: int, sentence_id: int, cfg: ProjectConfig,
         *, action: str = "label", labels: Sequence[str] = (), flagged: bool = False,
         note: str | None = None, duration_ms: int | None = None, source: str = "app",
         created_at: str | None = None, now: float | None = None) -> int:
    """Record one action (``label`` or ``skip``) in one transaction; returns the event id.

    Relabeling appends an event and replaces the current annotation; nothing is lost.
    A skip never counts toward ``n_done`` (a label turned into a skip gives its seat
    back), and routing never offers a skipped sentence to the same person again.
    A first label on a sentence that is already full (its lease expired and others
    finished it) raises :class:`QuotaReached`, records nothing and drops the stale lease.
    """
    if action not in ACTIONS:
        raise LabelingError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    if duration_ms is not None:
        duration_ms = max(0, int(duration_ms))
    labels = _check_labels(labels, cfg) if action == "label" else ()
    note = (note or "").strip() or None
    stamp = created_at or now_iso()
    now = time.time() if now is None else now
    try:
        event_id = _save(db, annotator_id, sentence_id, cfg, action=action, labels=labels,
                         flagged=flagged, note=note, duration_ms=duration_ms, source=source,
                         stamp=stamp, now=now)
    except sqlite3.IntegrityError as exc:  # foreign keys: the annotator does not exist
        raise LabelingError(f"cannot save for annotator {annotator_id}: {exc}") from None
    if event_id is None:
        raise QuotaReached("this sentence already has enough annotators; "
                           "your label was not saved — moving on")
    return event_id


def _save(db: sqlite_utils.Database, annotator_id: int, sentence_id: int, cfg: ProjectConfig,
          *, action: str, labels: Sequence[str], flagged: bool, note: str | None,
          duration_ms: int | None, source: str, stamp: str, now: float) -> int | None:
    """The transaction of :func:`save`; None when the sentence is full (nothing saved)."""
    with write_transaction(db) as conn:
        try:
            target, n_done, others, kind = q.seats(conn, sentence_id, annotator_id, now)
        except KeyError:
            raise LabelingError(f"no sentence with id {sentence_id}") from None
        if kind != "content":
            raise LabelingError(f"sentence {sentence_id} is not a content sentence "
                                "(bylines, credits and the like are not labeled)")
        prev = q.get_annotation(conn, sentence_id, annotator_id)
        was_labeled = bool(prev and prev["status"] == "labeled")
        # A live lease holder always has a seat (leases are only granted while
        # n_done + leases < target); this catches expired leases and unrouted writes.
        if action == "label" and not was_labeled and n_done + others >= target:
            # Nothing is recorded; only the (stale) lease goes, so that next_item does
            # not hand this sentence back.
            q.release_lease(conn, annotator_id, sentence_id)
            return None
        event_id = _record(conn, annotator_id, sentence_id, cfg, prev, action=action,
                           labels=labels, flagged=flagged, note=note,
                           duration_ms=duration_ms, source=source, stamp=stamp)
        q.bump_done(conn, sentence_id, int(action == "label") - int(was_labeled))
        _refresh_unanimous(conn, sentence_id, target, stamp)
        q.release_lease(conn, annotator_id, sentence_id)
    return event_id


def _record(conn: sqlite3.Connection, annotator_id: int, sentence_id: int,
            cfg: ProjectConfig, prev: dict | None, *, action: str, labels: Sequence[str],
            flagged: bool, note: str | None, duration_ms: int | None, source: str,
            stamp: str) -> int:
    """Append the action's event (and a flag/unflag event when the flag changed) and
    set the current annotation; returns the action's event id."""
    labeled = action == "label"
    event_id = q.insert_event(conn, action=action, sentence_id=sentence_id,
                              annotator_id=annotator_id, labels=list(labels) if labeled else None,
                              note=note, duration_ms=duration_ms,
                              guidelines_version=cfg.guidelines_version, source=source,
                              created_at=stamp)
    if flagged != bool(prev and prev["flagged"]):
        q.insert_event(conn, action="flag" if flagged else "unflag", sentence_id=sentence_id,
                       annotator_id=annotator_id, labels=None, note=note, duration_ms=None,
                       guidelines_version=cfg.guidelines_version, source=source,
                       created_at=stamp)
    q.upsert_annotation(conn, sentence_id=sentence_id, annotator_id=annotator_id,
                        status="labeled" if labeled else "skipped",
                        labels=list(labels) if labeled else None,
                        flagged=flagged, note=note, duration_ms=duration_ms,
                        guidelines_version=cfg.guidelines_version, source=source,
                        event_id=event_id, now=stamp)
    return event_id


def _check_labels(labels: Sequence[str], cfg: ProjectConfig) -> tuple[str, ...]:
    try:
        return cfg.check_labels(labels)
    except ValueError as exc:
        raise LabelingError(str(exc)) from None


def _refresh_unanimous(conn, sentence_id: int, target: int, stamp: str) -> None:
    """Unanimous gold: every one of the sentence's (>= target) annotators agrees.
    Adjudicated gold is never touched; a unanimity that breaks is withdrawn."""
    source = q.gold_source(conn, sentence_id)
    if source == "adjudicated":
        return
    sets = q.labeled_sets(conn, sentence_id)
    agreed = (len(sets) >= max(target, 2)
              and all(sorted(s) == sorted(sets[0]) for s in sets[1:]))
    if agreed:
        q.set_gold(conn, sentence_id=sentence_id, labels=sets[0], source="unanimous",
                   reviewer_id=None, rationale=None, event_id=None, now=stamp)
    elif source == "unanimous":
        q.delete_gold(conn, sentence_id, "unanimous")


# ----------------------------------------------------------------------------- progress


def progress(db: sqlite_utils.Database, annotator_id: int) -> dict:
    """``{"mine_today", "mine_total", "complete", "content_sentences"}``."""
    today = datetime.now(UTC).date().isoformat()
    mine = q.annotator_progress(db, annotator_id, today)
    proj = q.project_progress(db)
    return {"mine_today": mine["today"], "mine_total": mine["total"], **proj}


def history(db: sqlite_utils.Database, annotator_id: int, limit: int = 50) -> list[int]:
    """Sentence ids the annotator acted on most recently, oldest first (for Back)."""
    return q.recent_history(db, annotator_id, limit)
