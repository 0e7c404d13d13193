"""Labeling services: annotators, the next sentence, saving an action.

What the label page and the CLI call. Each action is one ``BEGIN IMMEDIATE``
transaction that appends an event, sets the current annotation, keeps the sentence's
``n_done`` count, maintains unanimous gold, and releases the lease.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import hmac
import math
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import db.annotations as annotations_db
import db.annotators as annotators_db
import db.articles as articles_db
import db.gold as gold_db
import db.leases as leases_db
import db.people as people_db
import db.sentences as sentences_db
import db.settings as settings_db
from db import write_transaction
from labeling import routing
from labeling.config import ProjectConfig
from labeling.project import DEMO_ID
from labeling.records import find_control
from labeling.vocabulary import REVIEW_ROLES, ROLES, now_iso, valid_name

if TYPE_CHECKING:
    from labeling.project import Project

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


# ----------------------------------------------------------------------------- identity

# How long a name waits after MAX_FAILED_LOGINS wrong passwords in a row. Stored in the
# annotators table, so every process serving the project (and the CLI) sees it.
MAX_FAILED_LOGINS = 5
LOCK_SECONDS = 30.0
# scrypt cost: 2**17 (128 MiB, about 0.3 s here); hashes made with a lower cost are
# re-made at the person's next successful sign-in.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
_MAX_SCRYPT_MEMORY = 2**30  # a stored hash asking for more is treated as damaged

# The clock of sign-in throttling (tests replace it instead of sleeping).
clock = time.time


class NameTaken(LabelingError):
    """A person with the same name up to case exists; ``existing`` is their name."""

    def __init__(self, name: str, existing: str):
        self.name, self.existing = name, existing
        super().__init__(f"annotator {existing!r} already exists (names that differ only "
                         "by case are one person)")


class PasswordRequired(LabelingError):
    """A reviewer or admin account (``role``) without a password was asked for."""

    def __init__(self, role: str):
        self.role = role
        article = "an" if role[0] in "aeiou" else "a"
        super().__init__(f"{article} {role} needs a password (without one, anyone could "
                         "sign in as them)")


class LastAdmin(LabelingError):
    """Changing the role of the only admin with a password would leave the project
    without an admin; ``name`` is theirs."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"{name!r} is the only admin with a password: make someone else "
                         "an admin first (the project would have no admin left)")


class SignInLocked(AuthError):
    """Too many wrong passwords for this name: ``seconds`` to wait (rounded up)."""

    def __init__(self, seconds: float):
        self.seconds = max(1, math.ceil(seconds))
        super().__init__(f"too many wrong passwords: wait {self.seconds} s and try again")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL refuses more than 32 MiB unless maxmem allows it; scrypt needs
    # 128 * r * (n + p + 2) bytes, plus some room.
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen,
                          maxmem=128 * r * (n + p + 2) + 2**20)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash (hashlib), as ``scrypt$n$r$p$salt$hash`` with n = 2**17."""
    salt = salt or secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, 32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        n, r, p = int(n), int(r), int(p)
        salt_b, digest_b = bytes.fromhex(salt), bytes.fromhex(digest)
    except (AttributeError, ValueError):
        return None
    if (algo != "scrypt" or n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16
            or 128 * r * (n + p + 2) > _MAX_SCRYPT_MEMORY or not digest_b):
        return None
    return n, r, p, salt_b, digest_b


def check_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a ``hash_password`` string (of any
    scrypt cost, so hashes made by older versions keep working)."""
    parsed = _parse_hash(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(digest)), digest)


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash is weaker than what :func:`hash_password` makes now."""
    parsed = _parse_hash(stored)
    return parsed is None or parsed[0] < SCRYPT_N or parsed[1] < SCRYPT_R


def effective_role(row: dict) -> str:
    """What a person may do now: their role, except that a reviewer or admin without a
    password (possible in databases from older versions) has annotator rights, since
    anyone could type their name."""
    role = row["role"]
    return role if role not in REVIEW_ROLES or row.get("password_hash") else "annotator"


def _log(conn, action: str, actor: str, detail: dict) -> None:
    articles_db.log_action(conn, action, actor, detail, now_iso())


def add_annotator(db: Project, name: str, role: str | None = None,
                  password: str | None = None, *, update: bool = False,
                  require_password: bool = True, actor: str = "python") -> dict:
    """Create an annotator, or with ``update`` change an existing one's role and/or
    password. Returns :func:`public_annotator` of the result.

    Names are unique up to case: a new name whose key (``db.annotators.name_key``)
    exists raises :class:`NameTaken`; ``update`` finds the person up to case and
    raises :class:`LabelingError` for an unknown name. ``role`` None keeps the role on
    update (``annotator`` for a new person). A reviewer or admin that would end up
    without a password raises :class:`PasswordRequired` (anyone could type their
    name); ``require_password=False`` exists only to build the databases older
    versions wrote, where such an account has annotator rights only
    (:func:`effective_role`). Demoting the only admin with a password raises
    :class:`LastAdmin` (nobody could manage the project any more). The password is
    stored only as a salted scrypt hash; an empty one means none. Role and password
    changes are written to the project log with ``actor``.
    """
    if not valid_name(name):
        raise LabelingError(f"invalid annotator name {name!r}: use 1–40 letters, digits, "
                            "spaces or - _ .")
    if role is not None and role not in ROLES:
        raise LabelingError(f"invalid role {role!r}: choose from {', '.join(ROLES)}")
    pw = hash_password(password) if password else None  # slow: outside the write lock
    taken = None
    with write_transaction(db) as conn:
        annotators_db.fill_missing_keys(conn)  # kept even when the name turns out to be taken
        existing = annotators_db.get(conn, name)
        if existing is not None and not update:
            taken = existing["name"]
        else:
            person_id = _write_annotator(conn, name, existing, role, pw, update=update,
                                         require_password=require_password, actor=actor)
    if taken is not None:
        raise NameTaken(name, taken)
    return public_annotator(annotators_db.get_by_id(db, person_id))


def _write_annotator(conn, name: str, existing: dict | None, role: str | None,
                     pw: str | None, *, update: bool, require_password: bool,
                     actor: str) -> int:
    """The writes of :func:`add_annotator` (inside its transaction); returns the id."""
    if update:
        if existing is None:
            raise LabelingError(f"no annotator {name!r} to update: add them first")
        new_role = role or existing["role"]
        _require_password(require_password, new_role,
                          pw is not None or existing["password_hash"] is not None)
        if (effective_role(existing) == "admin" and new_role != "admin"
                and people_db.other_admins(conn, existing["id"]) == 0):
            raise LastAdmin(existing["name"])
        annotators_db.update(conn, existing["id"], role=role, password_hash=pw)
        person_id, shown = existing["id"], existing["name"]
        old_role, had_pw = existing["role"], existing["password_hash"] is not None
    else:
        new_role = role or "annotator"
        _require_password(require_password, new_role, pw is not None)
        person_id, shown = annotators_db.insert(conn, name, new_role, pw, now_iso()), name
        old_role, had_pw = None, False
    if new_role != (old_role or "annotator"):
        _log(conn, "annotator_role", actor, {"name": shown, "from": old_role, "to": new_role})
    if pw is not None:
        _log(conn, "annotator_password", actor, {"name": shown, "had_password": had_pw})
    return person_id


MIN_ADMIN_PASSWORD = 8


class SetupClosed(LabelingError):
    """The project cannot be claimed from the browser (it has an admin, was made from
    the command line, or holds real articles): an admin is added with the CLI."""


def setup_open(db: Project | sqlite3.Connection) -> bool:
    """Whether a visitor may make themselves the first admin in the browser.

    Only in a project the app created itself (the README's run command on a fresh
    folder), that has no admin with a password and holds no articles but the demo:
    whoever started it is the one at the keyboard. A project made with ``init`` gets
    its admin from the command line, and once real articles are in (only an admin or
    the command line can bring them), nobody may claim it."""
    origin = settings_db.get(db, "origin") or {}
    if origin.get("created_by") != "app" or people_db.other_admins(db, -1) > 0:
        return False
    return articles_db.external_ids(db, limit=2) in ([], [DEMO_ID])


def claim_first_admin(db: Project, name: str, password: str, *,
                      actor: str) -> dict:
    """Make ``name`` (new, or an existing person up to case) the project's first admin,
    with ``password``; raises :class:`SetupClosed` unless :func:`setup_open` holds,
    checked again inside the write transaction, so two visitors cannot both claim it.
    Logged like every role change."""
    if not valid_name(name):
        raise LabelingError(f"invalid annotator name {name!r}: use 1–40 letters, digits, "
                            "spaces or - _ .")
    if len(password or "") < MIN_ADMIN_PASSWORD:
        raise LabelingError(f"an admin password needs at least {MIN_ADMIN_PASSWORD} "
                            "characters")
    pw = hash_password(password)  # slow: outside the write lock
    with write_transaction(db) as conn:
        if not setup_open(conn):
            raise SetupClosed("this project has an admin already (or was set up from the "
                              "command line): ask them to add you")
        existing = annotators_db.get(conn, name)
        person_id = _write_annotator(conn, name, existing, "admin", pw,
                                     update=existing is not None, require_password=True,
                                     actor=actor)
    return public_annotator(annotators_db.get_by_id(db, person_id))


def _require_password(required: bool, role: str, has_password: bool) -> None:
    if required and role in REVIEW_ROLES and not has_password:
        raise PasswordRequired(role)


def public_annotator(row: dict | None) -> dict | None:
    """An annotator row without its password hash (never shown, logged or exported).

    ``role`` is what the person may do now (:func:`effective_role`); ``assigned_role``
    is the role an admin gave them (they differ only for a reviewer or admin without a
    password)."""
    if row is None:
        return None
    return {"id": row["id"], "name": row["name"], "role": effective_role(row),
            "assigned_role": row["role"], "has_password": row.get("password_hash") is not None,
            "created_at": row["created_at"]}


def find_annotator(db: Project, name: str) -> dict | None:
    """The person called ``name`` up to case (``ALICE`` is ``alice``), or None."""
    return public_annotator(annotators_db.get(db, name))


def current_role(db: Project, annotator_id: int) -> str | None:
    """The person's role as the database says now (:func:`effective_role`), or None
    when they no longer exist: privileged actions check it when they run."""
    row = annotators_db.get_by_id(db, annotator_id)
    return None if row is None else effective_role(row)


def list_annotators(db: Project) -> list[dict]:
    """Every annotator: id, name, role (effective), assigned_role, has_password,
    created_at, labels (count of labeled sentences). Never a password hash."""
    out = []
    for r in annotators_db.list_all(db):
        has_password = bool(r["has_password"])
        role = effective_role({"role": r["role"], "password_hash": has_password or None})
        out.append({**r, "role": role, "assigned_role": r["role"], "has_password": has_password})
    return out


def ensure_annotator(db: Project, name: str, cfg: ProjectConfig) -> dict:
    """The annotator called ``name`` (up to case), created on first use in an open
    project. Raises :class:`AuthError` when sign-in is required and there is no such
    person, or when passwords are required and the person has none. This does not
    check a password: the caller signs the person in first when they have one."""
    row = annotators_db.get(db, name)
    if row is not None:
        if cfg.require_passwords and not row["password_hash"]:
            raise AuthError(f"{row['name']!r} has no password yet and this project "
                            "requires one: ask an admin to set it")
        return public_annotator(row)
    if cfg.require_signin or cfg.require_passwords:
        raise AuthError(f"{name!r} is not an annotator of this project; ask an admin to add you")
    if not valid_name(name):
        raise LabelingError(f"invalid annotator name {name!r}")
    try:
        return add_annotator(db, name)
    except NameTaken:
        # created by a concurrent request in the meantime
        return public_annotator(annotators_db.get(db, name))


def needs_password(db: Project, name: str) -> bool:
    """Whether ``name`` (up to case) has a password (the app must ask for it)."""
    row = annotators_db.get(db, name)
    return bool(row and row["password_hash"])


def sign_in_wait(db: Project, name: str, *,
                 now: float | None = None) -> int | None:
    """Seconds (rounded up) until ``name`` may try a password again, or None."""
    now = clock() if now is None else now
    row = annotators_db.get(db, name)
    until = row["locked_until"] if row else None
    return math.ceil(until - now) if until is not None and until > now else None


def authenticate(db: Project, name: str, password: str, *,
                 now: float | None = None) -> bool:
    """True when ``name`` (up to case) exists with that password.

    After :data:`MAX_FAILED_LOGINS` wrong passwords in a row the name waits
    :data:`LOCK_SECONDS`: meanwhile every attempt, a correct one too, raises
    :class:`SignInLocked` (so does the attempt that starts the wait). The count and
    the wait are stored with the person, so they hold across processes. A correct
    password stored with an older, weaker hash is hashed again.
    """
    now = clock() if now is None else now
    row = annotators_db.get(db, name)
    if row is None or not row["password_hash"]:
        return False
    if row["locked_until"] is not None and row["locked_until"] > now:
        raise SignInLocked(row["locked_until"] - now)
    ok = check_password(password, row["password_hash"])  # slow: outside the write lock
    new_hash = hash_password(password) if ok and needs_rehash(row["password_hash"]) else None
    if ok and not (new_hash or row["failed_logins"] or row["locked_until"]):
        # nothing to record, unless another attempt locked the name meanwhile
        until = annotators_db.locked_until(db, row["id"])
        if until is not None and until > now:
            raise SignInLocked(until - now)
        return True
    with write_transaction(db) as conn:
        until = annotators_db.locked_until(conn, row["id"])
        if until is not None and until > now:
            pass  # locked by another attempt in the meantime: refused below
        elif ok:
            annotators_db.record_success(conn, row["id"], new_hash=new_hash)
            return True
        else:
            until = annotators_db.record_failure(conn, row["id"], now, limit=MAX_FAILED_LOGINS,
                                      wait=LOCK_SECONDS)
    # raised after the transaction, so that the counted failure is committed
    if until is not None and until > now:
        raise SignInLocked(until - now)
    return False


# ----------------------------------------------------------------------------- routing


def next_item(db: Project, annotator_id: int, cfg: ProjectConfig, *,
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
        leases_db.take_lease(conn, annotator_id, sid, now + cfg.lease_minutes * 60)
    return load_item(db, sid, annotator_id)


def load_item(db: Project, sentence_id: int, annotator_id: int) -> Item:
    """A sentence with its context and this annotator's stored annotation, if any."""
    s = sentences_db.sentence_with_context(db, sentence_id)
    if s is None:
        raise LabelingError(f"no sentence with id {sentence_id}")
    ann = annotations_db.get_annotation(db, sentence_id, annotator_id)
    return Item(sentence_id=s["id"], public_id=f"{s['external_id']}:{s['idx']}", text=s["text"],
                title=s["title"], before=s["before"], after=s["after"],
                labels=tuple(ann["labels"]) if ann else (),
                status=ann["status"] if ann else None,
                flagged=bool(ann["flagged"]) if ann else False,
                note=ann["note"] if ann else None)


# ----------------------------------------------------------------------------- saving


def save(db: Project, annotator_id: int, sentence_id: int, cfg: ProjectConfig,
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
    if note is not None and (bad := find_control(note, multiline=True)):
        # a NUL or ESC in a note would reach the export files (CSV readers cut at NUL)
        raise LabelingError(f"the note holds a control character ({bad!r}); remove it")
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


def _save(db: Project, annotator_id: int, sentence_id: int, cfg: ProjectConfig,
          *, action: str, labels: Sequence[str], flagged: bool, note: str | None,
          duration_ms: int | None, source: str, stamp: str, now: float) -> int | None:
    """The transaction of :func:`save`; None when the sentence is full (nothing saved)."""
    with write_transaction(db) as conn:
        try:
            target, n_done, others, kind = leases_db.seats(conn, sentence_id, annotator_id, now)
        except KeyError:
            raise LabelingError(f"no sentence with id {sentence_id}") from None
        if kind != "content":
            raise LabelingError(f"sentence {sentence_id} is not a content sentence "
                                "(bylines, credits and the like are not labeled)")
        prev = annotations_db.get_annotation(conn, sentence_id, annotator_id)
        was_labeled = bool(prev and prev["status"] == "labeled")
        # A live lease holder always has a seat (leases are only granted while
        # n_done + leases < target); this catches expired leases and unrouted writes.
        if action == "label" and not was_labeled and n_done + others >= target:
            # Nothing is recorded; only the (stale) lease goes, so that next_item does
            # not hand this sentence back.
            leases_db.release_lease(conn, annotator_id, sentence_id)
            return None
        event_id = _record(conn, annotator_id, sentence_id, cfg, prev, action=action,
                           labels=labels, flagged=flagged, note=note,
                           duration_ms=duration_ms, source=source, stamp=stamp)
        sentences_db.bump_done(conn, sentence_id, int(action == "label") - int(was_labeled))
        _refresh_unanimous(conn, sentence_id, target, stamp)
        leases_db.release_lease(conn, annotator_id, sentence_id)
    return event_id


def _record(conn: sqlite3.Connection, annotator_id: int, sentence_id: int,
            cfg: ProjectConfig, prev: dict | None, *, action: str, labels: Sequence[str],
            flagged: bool, note: str | None, duration_ms: int | None, source: str,
            stamp: str) -> int:
    """Append the action's event (and a flag/unflag event when the flag changed) and
    set the current annotation; returns the action's event id."""
    labeled = action == "label"
    event_id = annotations_db.record(conn, [annotations_db.Record(
        sentence_id, annotator_id, action,
        annotations_db.labels_json(labels) if labeled else None, flagged, note, duration_ms,
        cfg.guidelines_version, source, stamp)])
    if flagged != bool(prev and prev["flagged"]):
        # logged after the action's event; the annotation points at the action's
        annotations_db.insert_event(conn, action="flag" if flagged else "unflag", sentence_id=sentence_id,
                       annotator_id=annotator_id, labels=None, note=note, duration_ms=None,
                       guidelines_version=cfg.guidelines_version, source=source,
                       created_at=stamp)
    return event_id


def _check_labels(labels: Sequence[str], cfg: ProjectConfig) -> tuple[str, ...]:
    try:
        return cfg.check_labels(labels)
    except ValueError as exc:
        raise LabelingError(str(exc)) from None


def _refresh_unanimous(conn, sentence_id: int, target: int, stamp: str) -> None:
    """Unanimous gold: every one of the sentence's (>= target) annotators agrees.
    Adjudicated gold is never touched; a unanimity that breaks is withdrawn."""
    source = gold_db.gold_source(conn, sentence_id)
    if source == "adjudicated":
        return
    sets = gold_db.labeled_sets(conn, sentence_id)
    agreed = (len(sets) >= max(target, 2)
              and all(sorted(s) == sorted(sets[0]) for s in sets[1:]))
    if agreed:
        gold_db.set_gold(conn, sentence_id=sentence_id, labels=sets[0], source="unanimous",
                   reviewer_id=None, rationale=None, event_id=None, now=stamp)
    elif source == "unanimous":
        gold_db.delete_gold(conn, sentence_id, "unanimous")


# ----------------------------------------------------------------------------- progress


def progress(db: Project, annotator_id: int) -> dict:
    """``{"mine_today", "mine_total", "complete", "content_sentences"}``."""
    today = datetime.now(UTC).date().isoformat()
    mine = annotators_db.progress(db, annotator_id, today)
    proj = sentences_db.project_progress(db)
    return {"mine_today": mine["today"], "mine_total": mine["total"], **proj}


def history(db: Project, annotator_id: int, limit: int = 50) -> list[int]:
    """Sentence ids the annotator acted on most recently, oldest first (for Back)."""
    return annotations_db.recent_history(db, annotator_id, limit)
