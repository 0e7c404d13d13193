"""Nothing destroys files it did not write (issue 9, section 3).

* ``export --out DIR`` replaces or removes only the files listed in the manifest of an
  earlier Parley export in DIR; a folder of someone else's files is refused (or, with
  ``--force``, only same-named files are replaced); a tampered manifest cannot reach
  outside DIR; a symlinked DIR is refused.
* ``backup DEST`` refuses the live database, its -wal/-shm/-journal files and links to
  them, and the database keeps every committed row.
* A project whose file and folder cannot be written still answers every read-only
  command and ``backup``, opened read-only (the export's worker processes too).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import db as store
from labeling import __version__, annotate, export, ops, project
from tests.cli_helpers import one_line_error, run_db as run

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "parley-manifest.json"  # the name users see (and tools may look for)
# What a default export of `labeled` writes besides the card and the manifest: its one
# article hashes into dev (seed 0), so train and test are empty and get no files.
SPLIT_FILES = ["dev.parquet", "dev.jsonl", "dev.csv", "annotations.parquet", "labels.json"]




def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (recursively) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}




def label_some(db, n: int = 8) -> None:
    """Two annotators label the first ``n`` sentences they are routed alike."""
    cfg = project.load_config(db)
    for name in ("alice", "bob"):
        who = annotate.add_annotator(db, name)["id"]
        for _ in range(n):
            item = annotate.next_item(db, who, cfg)
            annotate.save(db, who, item.sentence_id, cfg, labels=["demand"])


@pytest.fixture
def labeled(db_path) -> Path:
    """The demo project with some labels; closed (its path is returned)."""
    db = project.init(db_path, seed=True)
    label_some(db)
    db.close()
    return db_path


def events(path: Path) -> int:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        conn.close()


# --------------------------------------------------------------------------- export


def test_export_writes_a_manifest_of_every_file(labeled, tmp_path):
    out = tmp_path / "ds"
    result = run(labeled, "export", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["files"][-1] == MANIFEST
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["parley_manifest"] == 1
    assert manifest["parley_version"] == __version__
    assert manifest["created_at"].endswith("Z")
    assert [e["name"] for e in manifest["files"]] == summary["files"][:-1]
    for entry in manifest["files"]:
        body = (out / entry["name"]).read_bytes()
        assert entry["bytes"] == len(body)
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
    assert MANIFEST in (out / "README.md").read_text()  # the card explains it


def test_reexport_removes_stale_parley_files_and_keeps_the_users(labeled, tmp_path):
    out = tmp_path / "ds"
    assert run(labeled, "export", "--out", out).exit_code == 0
    (out / "notes.txt").write_text("my notes about this dataset\n")
    (out / "sub").mkdir()
    (out / "sub" / "train.jsonl").write_text("mine too\n")
    mine = {k: v for k, v in snapshot(out).items() if k in ("notes.txt", "sub/train.jsonl")}
    result = run(labeled, "export", "--out", out, "--splits", "none", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "dataset.jsonl", "labels.json", "notes.txt", MANIFEST, "sub"]
    assert {k: v for k, v in snapshot(out).items() if k in mine} == mine
    listed = [e["name"] for e in json.loads((out / MANIFEST).read_text())["files"]]
    assert listed == ["dataset.jsonl", "labels.json", "README.md"]


def test_export_refuses_a_folder_of_the_users_files(labeled, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "README.md").write_text("# my project\n")
    (out / "train.csv").write_text("a,b\n1,2\n")
    (out / "test.jsonl").write_text('{"mine": true}\n')
    before = snapshot(out)
    line = one_line_error(run(labeled, "export", "--out", out))
    assert str(out) in line and MANIFEST in line
    assert "--force" in line and "new or empty folder" in line
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.db", "mine"]  # no temp left


def test_force_replaces_only_same_named_files_and_removes_nothing(labeled, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    for name in ("README.md", "train.csv", "notes.txt", "dataset.jsonl"):
        (out / name).write_text(f"the user's {name}\n")
    result = run(labeled, "export", "--out", out, "--force")
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text() == "the user's notes.txt\n"
    assert (out / "dataset.jsonl").read_text() == "the user's dataset.jsonl\n"  # not ours
    assert "\n# Dataset card" in (out / "README.md").read_text()
    listed = {e["name"] for e in json.loads((out / MANIFEST).read_text())["files"]}
    assert "notes.txt" not in listed and "dataset.jsonl" not in listed
    # From now on the folder holds a manifest: a new export needs no --force, and
    # switching splits off removes the listed split files, never the user's.
    result = run(labeled, "export", "--out", out, "--splits", "none")
    assert result.exit_code == 1  # dataset.jsonl is the user's, not in the manifest
    assert "dataset.jsonl" in result.stderr and "--force" in result.stderr
    assert (out / "dataset.jsonl").read_text() == "the user's dataset.jsonl\n"
    (out / "dataset.jsonl").unlink()
    assert run(labeled, "export", "--out", out, "--splits", "none").exit_code == 0
    # train.csv stays: the first export wrote no train file (train is empty), so the
    # user's train.csv was never replaced, is not listed, and is never removed
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "annotations.parquet", "dataset.csv", "dataset.jsonl", "dataset.parquet",
        "labels.json", "notes.txt", MANIFEST, "train.csv"]
    assert (out / "train.csv").read_text() == "the user's train.csv\n"


def test_a_file_the_manifest_does_not_list_is_refused(labeled, tmp_path):
    out = tmp_path / "ds"
    assert run(labeled, "export", "--out", out, "--splits", "none").exit_code == 0
    (out / "train.csv").write_text("the user's own train.csv\n")
    before = snapshot(out)
    line = one_line_error(run(labeled, "export", "--out", out))
    assert "train.csv" in line and "--force" in line
    assert snapshot(out) == before


@pytest.mark.parametrize("entry", ["../victim.txt", "ABSOLUTE", "sub/victim.txt", "..", ".",
                                   "", "a\x00b"])
def test_a_tampered_manifest_cannot_reach_outside_the_folder(labeled, tmp_path, entry):
    out = tmp_path / "ds"
    assert run(labeled, "export", "--out", out).exit_code == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("outside\n")
    (out / "sub").mkdir()
    (out / "sub" / "victim.txt").write_text("inside a subfolder\n")
    name = str(victim) if entry == "ABSOLUTE" else entry
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append({"name": name, "bytes": 1, "sha256": "0" * 64})
    (out / MANIFEST).write_text(json.dumps(manifest))
    before = snapshot(tmp_path)
    line = one_line_error(run(labeled, "export", "--out", out, "--splits", "none"))
    assert "not a valid Parley manifest" in line and "--force" in line
    assert snapshot(tmp_path) == before
    # --force writes the export but, with no trustworthy list, removes nothing at all
    result = run(labeled, "export", "--out", out, "--splits", "none", "--force")
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "outside\n"
    assert (out / "sub" / "victim.txt").read_text() == "inside a subfolder\n"
    assert all((out / n).is_file() for n in SPLIT_FILES)  # unlisted now: left alone


def test_a_manifest_listing_a_subfolder_never_removes_it(labeled, tmp_path):
    out = tmp_path / "ds"
    assert run(labeled, "export", "--out", out).exit_code == 0
    (out / "sub").mkdir()
    (out / "sub" / "keep.txt").write_text("inside a subfolder\n")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"].append({"name": "sub", "bytes": 1, "sha256": "0" * 64})
    (out / MANIFEST).write_text(json.dumps(manifest))
    assert run(labeled, "export", "--out", out, "--splits", "none").exit_code == 0
    assert (out / "sub" / "keep.txt").read_text() == "inside a subfolder\n"


@pytest.mark.parametrize("kind", ["symlink", "not_json", "fifo", "other_format"])
def test_a_manifest_that_is_not_ours_lists_nothing(labeled, tmp_path, kind):
    """A manifest that is a link (here to one listing the user's notes.txt), not JSON,
    a FIFO or another format is not trusted: refused, and --force removes nothing."""
    out = tmp_path / "ds"
    assert run(labeled, "export", "--out", out).exit_code == 0
    (out / "notes.txt").write_text("mine\n")
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"parley_manifest": 1, "files": [{"name": "notes.txt"}]}))
    (out / MANIFEST).unlink()
    if kind == "symlink":
        (out / MANIFEST).symlink_to(elsewhere)
    elif kind == "fifo":
        os.mkfifo(out / MANIFEST)
    else:
        (out / MANIFEST).write_text("{" if kind == "not_json" else json.dumps(
            {"parley_manifest": 2, "files": [{"name": "notes.txt"}]}))
    assert one_line_error(run(labeled, "export", "--out", out)).startswith("Error: ")
    assert run(labeled, "export", "--out", out, "--force").exit_code == 0
    assert (out / "notes.txt").read_text() == "mine\n"
    assert elsewhere.exists()


def test_out_that_is_a_symlink_is_refused(labeled, tmp_path):
    real = tmp_path / "real"
    assert run(labeled, "export", "--out", real).exit_code == 0  # even an export folder
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    before = snapshot(real)
    for extra in ([], ["--force"]):
        line = one_line_error(run(labeled, "export", "--out", link, *extra))
        assert "symbolic link" in line and str(link) in line
    assert snapshot(real) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.db", "link", "real"]


def test_a_folder_in_the_way_of_an_export_file_is_refused(labeled, tmp_path):
    out = tmp_path / "ds"
    (out / "train.csv").mkdir(parents=True)
    (out / "train.csv" / "keep").write_text("x")
    line = one_line_error(run(labeled, "export", "--out", out, "--force"))
    assert "train.csv" in line and "folder" in line
    assert sorted(p.name for p in out.iterdir()) == ["train.csv"]


def test_an_interrupted_publish_leaves_every_parley_file_listed(labeled, tmp_path,
                                                                monkeypatch):
    """The export stops after moving some files in: the folder's manifest still names
    the old and the new files, so the next export cleans up without --force."""
    out = tmp_path / "ds"
    db = store.connect(labeled)
    try:
        export.export(db, out, export.ExportOptions(ratios=None))
        real_replace, moved = os.replace, []

        def flaky(src, dst, **kw):
            moved.append(dst)
            if len(moved) == 4:  # the interim manifest, then 2 files, then a disk error
                raise OSError(5, "Input/output error")
            return real_replace(src, dst, **kw)

        monkeypatch.setattr(os, "replace", flaky)
        with pytest.raises(export.ExportError, match="exporting again cleans up"):
            export.export(db, out, export.ExportOptions())
        monkeypatch.setattr(os, "replace", real_replace)
        listed = {e["name"] for e in json.loads((out / MANIFEST).read_text())["files"]}
        assert {p.name for p in out.iterdir()} - {MANIFEST} <= listed
        export.export(db, out, export.ExportOptions())
    finally:
        db.close()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*SPLIT_FILES, "README.md", MANIFEST])


# --------------------------------------------------------------------------- backup


@pytest.fixture
def live(labeled):
    """The project open in another connection with committed rows still only in its
    -wal (no checkpoint), as while people label. Yields (path, committed events)."""
    db = store.connect(labeled)
    db.conn.execute("PRAGMA wal_autocheckpoint = 0")
    cfg = project.load_config(db)
    who = annotate.add_annotator(db, "carol")["id"]
    for _ in range(3):
        item = annotate.next_item(db, who, cfg)
        annotate.save(db, who, item.sentence_id, cfg, labels=["warning"])
    assert os.path.getsize(f"{labeled}-wal") > 0
    n = events(labeled)
    yield labeled, n
    db.close()
    assert events(labeled) == n  # every committed row survived the close's checkpoint


def refused(db_path, dest, *extra) -> str:
    line = one_line_error(run(db_path, "backup", dest, "--force", *extra))
    assert "choose another destination" in line
    return line


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_backup_refuses_the_database_and_its_files(live, suffix):
    path, n = live
    line = refused(path, f"{path}{suffix}")
    assert str(path) in line
    assert events(path) == n
    assert not Path(f"{path}-journal").exists()


@pytest.mark.parametrize("how", ["symlink_db", "symlink_wal", "symlink_missing_journal",
                                 "hardlink_db", "hardlink_wal", "dotdot", "symlinked_folder"])
def test_backup_refuses_links_to_the_database_files(live, tmp_path, how):
    path, n = live
    dest = tmp_path / "copy.db"
    if how == "symlink_db":
        dest.symlink_to(path)
    elif how == "symlink_wal":
        dest.symlink_to(f"{path}-wal")
    elif how == "symlink_missing_journal":
        dest.symlink_to(f"{path}-journal")
    elif how == "hardlink_db":
        os.link(path, dest)
    elif how == "hardlink_wal":
        os.link(f"{path}-wal", dest)
    elif how == "dotdot":
        (tmp_path / "sub").mkdir()
        dest = tmp_path / "sub" / ".." / f"{path.name}-wal"
    else:
        (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
        dest = tmp_path / "alias" / f"{path.name}-wal"
    wal = Path(f"{path}-wal").read_bytes()
    refused(path, dest)
    assert events(path) == n
    assert Path(f"{path}-wal").read_bytes() == wal


def test_backup_companion_files_of_dest_are_checked_too(live, tmp_path):
    """--force clears DEST's own -wal/-shm/-journal: never when one is a link to the
    live database's."""
    path, n = live
    dest = tmp_path / "copy.db"
    Path(f"{dest}-wal").symlink_to(f"{path}-wal")
    line = refused(path, dest)
    assert "-wal" in line
    assert events(path) == n and Path(f"{path}-wal").exists()


def test_backup_into_the_database_folder_writes_a_new_file_inside(live):
    """An existing folder as DEST: the copy goes inside it under a new name (as the
    help says), even the database's own folder."""
    path, n = live
    result = run(path, "backup", path.parent, "--json")
    assert result.exit_code == 0, result.output
    copy = Path(json.loads(result.stdout)["destination"])
    assert copy.parent == path.parent and copy.name.startswith("labels-") and copy != path
    assert events(copy) == n == events(path)
    help_text = run(path, "backup", "--help").stdout
    assert "existing folder" in help_text and "-wal" in help_text


def test_backup_leaves_files_it_did_not_create(labeled, tmp_path):
    """The copy is made under a fresh temporary name: a file that happens to have the
    name an older version used for it is not removed."""
    dest = tmp_path / "copy.db"
    other = tmp_path / f".copy.db.partial-{os.getpid()}"
    other.write_bytes(b"someone else's")
    Path(f"{other}-journal").write_bytes(b"theirs too")
    assert run(labeled, "backup", dest).exit_code == 0
    assert other.read_bytes() == b"someone else's"
    assert Path(f"{other}-journal").read_bytes() == b"theirs too"
    leftovers = [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert sorted(leftovers) == sorted([other.name, f"{other.name}-journal"])


# --------------------------------------------------------------------------- read-only

READ_COMMANDS = [["stats"], ["sentences"], ["agreement", "--bootstrap", "20"], ["check"],
                 ["config", "show"], ["annotator", "list"], ["export", "--out", "{tmp}/ds"],
                 ["backup", "{tmp}/copy.db"]]


def _args(cmd: list[str], tmp: Path) -> list[str]:
    return [a.format(tmp=tmp) for a in cmd]


@pytest.mark.parametrize("cmd", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_only_project_opens_read_only(labeled, tmp_path, monkeypatch, cmd):
    """Where the file and its folder cannot be written (os.access says so: root writes
    anyway, so this is simulated here; the next test does it for real), every read-only
    command and backup opens the database read-only and succeeds."""
    folder = labeled.parent.resolve()
    real_access, real_connect = os.access, store.connect
    opened: list[bool] = []

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve() in (folder, folder / labeled.name):
            return False
        return real_access(path, mode, *args, **kwargs)

    def connect(path, *args, **kwargs):
        if str(path) != ":memory:" and Path(path).resolve() == folder / labeled.name:
            opened.append(kwargs.get("readonly", False))
        return real_connect(path, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(store, "connect", connect)
    monkeypatch.setattr(export, "PARALLEL_MIN_ANNOTATIONS", 1)  # workers too
    out = tmp_path / "out"
    out.mkdir()
    before = labeled.read_bytes()
    result = run(labeled, *_args(cmd, out))
    assert result.exit_code == 0, result.output
    assert opened and all(opened), opened
    assert labeled.read_bytes() == before


def _without_write_access() -> list[str] | None:
    """A command prefix under which the permission bits bind this process: nothing for
    a normal user; for root, ``setpriv`` dropping the capabilities that override them.
    None when neither is available."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


# Runs the CLI with the parallel export forced, so the worker processes are tested too.
_CLI = ("import sys; import labeling.export as e; e.PARALLEL_MIN_ANNOTATIONS = 1; "
        "from labeling.cli import main; main()")


@pytest.mark.slow
def test_really_read_only_project_answers_every_read_command(labeled, tmp_path):
    prefix = _without_write_access()
    if prefix is None:
        pytest.skip("running as root without setpriv: permission bits cannot bind here")
    folder = tmp_path / "ro"
    folder.mkdir()
    db_path = folder / "labels.db"
    shutil.move(labeled, db_path)  # closed cleanly: no -wal, no -shm beside it
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(db_path, 0o444)
    os.chmod(folder, 0o555)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PARLEY_DB": str(db_path)}
    try:
        probe = subprocess.run(
            [*prefix, sys.executable, "-c",
             f"import os, sys; sys.exit(os.access({str(folder)!r}, os.W_OK))"],
            env=env, capture_output=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot drop write access here: {probe.stderr.decode()[-200:]}")
        before = snapshot(folder)
        for cmd in READ_COMMANDS:
            started = time.monotonic()
            res = subprocess.run([*prefix, sys.executable, "-c", _CLI, "--db", str(db_path),
                                  *_args(cmd, out)],
                                 cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=120, check=False)
            assert res.returncode == 0, (cmd, res.stderr[-2000:])
            assert time.monotonic() - started < 60
            assert snapshot(folder) == before, cmd
            assert sorted(p.name for p in folder.iterdir()) == ["labels.db"], cmd
    finally:
        os.chmod(folder, 0o755)
        os.chmod(db_path, 0o644)
    assert json.loads((out / "ds" / MANIFEST).read_text())["files"]
    assert ops.check_file(out / "copy.db").ok
    assert events(out / "copy.db") == events(db_path)
