"""Opening a project: the database, its migrations, its config and the seed article."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import db as store
import db.articles as articles_db
import db.migrations as migrations_db
import db.people as people_db
import db.sentences as sentences_db
import db.settings as settings_db
from labeling import config as config_mod
from labeling.config import ProjectConfig
from labeling.vocabulary import now_iso

DEFAULT_DB = "labels.db"
SEED_DIR = config_mod.SEEDS

class Project(store.Database):
    """One open project: its database (``path``, ``lock`` and the connection, from
    ``db.Database``; writes through :meth:`write`) and its config, parsed and validated
    once per change instead of on every use (:attr:`config`).

    Open one with :func:`init`, :func:`open_for_app` or :func:`open_existing`. A
    browser session and a command each hold their own (a connection has one
    transaction state). The caches of derived figures (review queue, agreement, team)
    stay process-wide, keyed by ``path`` and the data version, because every browser
    session has its own ``Project`` and they must share those figures."""

    def __init__(self, conn, path) -> None:
        super().__init__(conn, path)
        self._config: tuple[str | None, ProjectConfig] | None = None

    @property
    def config(self) -> ProjectConfig:
        """The stored config; re-parsed only when its stored text changed (one
        primary-key read per use), so a key press validates it at most once."""
        text = settings_db.get_text(self, "config")
        if self._config is None or self._config[0] != text:
            self._config = (text, _parse_config(text))
        return self._config[1]

    def write(self):
        """A ``BEGIN IMMEDIATE`` transaction on this project (``db.write_transaction``)."""
        return store.write_transaction(self)

    def data_version(self) -> tuple[int, int, int]:
        """Changes whenever labels, gold or the corpus change (``db.sentences.data_version``)."""
        return sentences_db.data_version(self)


def db_path(explicit: str | os.PathLike | None = None) -> str:
    """``explicit``, else env ``PARLEY_DB``, else ``labels.db`` in the working folder."""
    return str(explicit or os.environ.get("PARLEY_DB") or DEFAULT_DB)


class NoProject(store.DatabaseError):
    """A command that only reads was pointed at a database file that does not exist."""


def init(path: str | os.PathLike | None = None, *, config_path: str | Path | None = None,
         seed: bool = False, created_by: str = "cli") -> Project:
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
    db = store.connect(path, migrate=True, factory=Project)
    stored = settings_db.get(db, "config")
    if stored is None and settings_db.get(db, "origin") is None:
        # a new project (databases from before this record have a stored config)
        with store.write_transaction(db) as conn:
            settings_db.put(conn, "origin", {"created_by": created_by,
                                             "created_at": now_iso("seconds")})
    if config_path is not None or stored is None:
        cfg = config_mod.load(config_path) if config_path else config_mod.default()
        save_config(db, cfg)
    if seed:
        _import_seed(db)
    return db


def _import_seed(db: Project) -> None:
    """Import the demo article once per project."""
    if settings_db.get(db, "seeded", False):
        return
    from labeling import ingest

    # Import first, then record it: a crash in between only repeats an import that
    # is a no-op anyway (same text, same hash), while the other order could lose the seed.
    ingest.import_paths(db, sorted(SEED_DIR.glob("*.txt")))
    with store.write_transaction(db) as conn:
        settings_db.put(conn, "seeded", True)


def open_for_app(path: str | os.PathLike | None = None) -> Project:
    """What the app does at start: a database it creates itself gets the demo article
    (the README's run command on a fresh folder opens ready to label); an existing one,
    made by ``init`` or any other command, is opened as it is."""
    path = db_path(path)
    created_here = path == ":memory:" or not Path(path).exists()
    db = init(path, created_by="app")
    origin = settings_db.get(db, "origin") or {}
    if created_here or origin.get("created_by") == "app":
        _import_seed(db)
    return db


def open_existing(path: str | os.PathLike | None = None) -> Project:
    """Open a project that must exist, for commands that only read it: never creates a
    file. Migrates when it can write; where it cannot (a read-only file or folder) it
    opens read-only, and refuses only if the schema would need an upgrade first."""
    path = db_path(path)
    if path == ":memory:":
        return store.connect(path, migrate=True, factory=Project)
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
        return store.connect(p, migrate=True, factory=Project)
    db = store.connect(p, readonly=True, factory=Project)
    if migrations_db.migrations.pending(db):
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


def corpus_state(db: Project) -> str:
    """``"empty"``, ``"demo"`` (only the seed article) or ``"real"``: what the app tells
    a visitor about the project's articles. Two rowid lookups."""
    ids = articles_db.external_ids(db, limit=2)
    if not ids:
        return "empty"
    return "demo" if ids == [DEMO_ID] else "real"


def save_config(db: Project, cfg: ProjectConfig) -> None:
    """Store a validated config; sentence targets and order follow it (see
    ``routing.apply_config``)."""
    from labeling.routing import apply_config

    apply_config(db, cfg)


def load_config(db: Project) -> ProjectConfig:
    """The project's stored config (validated again: the database may be old); from a
    :class:`Project`, its cached :attr:`Project.config`."""
    if isinstance(db, Project):
        return db.config
    return _parse_config(settings_db.get_text(db, "config"))


def _parse_config(text: str | None) -> ProjectConfig:
    if text is None:
        return config_mod.default()
    return config_mod.from_dict(json.loads(text), source="stored config")


# ----------------------------------------------------------------------------- config changes

CONFIG_FIELDS = ("name", "labels", "multi_label", "overlap", "sample_fraction", "order",
                 "seed", "lease_minutes", "require_signin", "require_passwords",
                 "guidelines", "guidelines_version")


def next_guidelines_version(version: str) -> str:
    """The version after ``version``: a whole number counts up (``"3"`` -> ``"4"``); a
    version ending in ``.<number>`` counts that number up (``"1.2"`` -> ``"1.3"``,
    ``"draft.1"`` -> ``"draft.2"``); anything else gets ``".1"`` (``"draft"`` ->
    ``"draft.1"``, ``"v3"`` -> ``"v3.1"``)."""
    version = str(version)
    if version.isdigit() and version.isascii():
        return str(int(version) + 1)
    head, dot, tail = version.rpartition(".")
    if dot and tail.isdigit() and tail.isascii():
        return f"{head}.{int(tail) + 1}"
    return f"{version}.1"


def _versioned(conn, old: dict, cfg: ProjectConfig) -> ProjectConfig:
    """``cfg`` with the guidelines version it should be stored with, so that one version
    always means one text (labels record the version, not the text).

    A version is *fresh* when no label records it and no earlier config change set it.
    The caller's version is kept when it is fresh (the caller chose a new one) or when
    it is the stored one and the text is unchanged. Otherwise: a changed text gets the
    version after the stored one (:func:`next_guidelines_version`, skipping any that
    were used), and an unchanged text keeps the stored version (a config file written
    before the last change still says the older version: loading it again must not
    give the current text an old version's name).
    """
    if not old:
        return cfg
    stored = str(old.get("guidelines_version", "1"))
    text_changed = cfg.guidelines != old.get("guidelines", "")
    if cfg.guidelines_version == stored and not text_changed:
        return cfg
    if cfg.guidelines_version != stored and not people_db.version_used(conn, cfg.guidelines_version):
        return cfg
    if not text_changed:
        return replace(cfg, guidelines_version=stored)
    version = next_guidelines_version(stored)
    while people_db.version_used(conn, version):
        version = next_guidelines_version(version)
    return replace(cfg, guidelines_version=version)


def _digest(text: str) -> dict:
    """How the log and the preview describe guidelines: length and hash, not the text."""
    return {"chars": len(text), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _changes(old: dict, new: dict) -> dict[str, list]:
    """``{field: [old, new]}`` of the fields that differ (guidelines as :func:`_digest`)."""
    out = {}
    for name in CONFIG_FIELDS:
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if name == "guidelines":
            before = None if before is None else _digest(before)
            after = _digest(after)
        out[name] = [before, after]
    return out


def preview_config(db: Project, cfg: ProjectConfig) -> dict:
    """What :func:`update_config` would do with ``cfg`` now, without writing anything.

    Returns ``{"config"`` (``cfg`` as it would be stored, guidelines version counted up
    if due), ``"changed"`` (``{field: [old, new]}``, guidelines as length and sha256),
    ``"targets_changed"`` (open sentences that would get a new target),
    ``"reordered"`` (whether the routing order is recomputed), ``"sentences"`` (all
    sentences, each of which gets a new position when reordered), ``"shut_out"``
    (names of people without a password, who could no longer sign in: only when
    ``cfg`` requires passwords and the stored config does not)}``.
    """
    from labeling import routing

    old = settings_db.get(db, "config") or {}
    cfg = _versioned(db, old, cfg)
    new = cfg.to_dict()
    effect = routing.effects(old, new)
    targets = (people_db.count_new_targets(db, lambda sid: routing.target_for(sid, new))
               if effect["targets"] else 0)
    shut_out = (people_db.without_password(db)
                if cfg.require_passwords and not old.get("require_passwords") else [])
    return {"config": cfg, "changed": _changes(old, new), "targets_changed": targets,
            "reordered": effect["order"], "sentences": people_db.count_sentences(db),
            "shut_out": shut_out}


def update_config(db: Project, cfg: ProjectConfig, *, actor: str) -> dict:
    """Make ``cfg`` (validated, e.g. by ``config.from_dict`` or ``config.load``) the
    project's config, in one write transaction, and record it in the project log.

    What the app's project settings and ``config load`` both call. When the guidelines
    text differs from the stored one and the caller kept the stored
    ``guidelines_version`` (or gave one already used), the version is counted up
    (:func:`next_guidelines_version`), so labels given under the new text carry a new
    version; see :func:`_versioned` for the whole rule. Sentences follow the new
    config as ``routing.apply_config`` describes. One ``project_log`` row, action
    ``config``, with ``actor`` and ``{"changed": {field: [old, new]}, "targets_changed",
    "reordered"}`` (guidelines as length and sha256, never the text).

    Returns ``{"targets_changed", "reordered"`` (sentences updated), ``"changed"`` (as
    logged), ``"guidelines_version"`` (stored now), ``"config"`` (as stored)``}``.
    """
    from labeling import routing

    with store.write_transaction(db) as conn:
        old = settings_db.get(conn, "config") or {}  # type: ignore[arg-type]
        cfg = _versioned(conn, old, cfg)
        counts = routing.apply_config_in(conn, cfg)
        changed = _changes(old, cfg.to_dict())
        articles_db.log_action(conn, "config", actor, {"changed": changed, **counts},
                              now_iso())
    return {**counts, "changed": changed, "guidelines_version": cfg.guidelines_version,
            "config": cfg}


def guidelines_from_upload(name: str, data: bytes) -> str:
    """The markdown text of an uploaded guidelines file: UTF-8 (a BOM is dropped),
    line ends made ``\\n``. Raises :class:`config_mod.ConfigError` naming the file
    (and the line) for a file that is too large, not UTF-8, or holds control
    characters other than tab."""
    from labeling.records import display, find_control, max_field_bytes

    shown = display(name)
    limit = max_field_bytes()
    if len(data) > limit:
        raise config_mod.ConfigError(shown, [f"larger than {limit} bytes; guidelines are "
                                             "a markdown file of a few pages"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise config_mod.ConfigError(shown, [f"line {line}: not UTF-8 text (byte "
                                             f"{exc.start})"]) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for lineno, line in enumerate(text.split("\n"), 1):
        if bad := find_control(line, multiline=True):
            raise config_mod.ConfigError(shown, [f"line {lineno}: control character "
                                                 f"{bad!r}; remove it"])
    return text
