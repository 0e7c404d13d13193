"""`python -m labeling annotator …` and `config …`: people, passwords, roles, help texts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from labeling import annotate, project
from labeling.cli import cli
from tests.cli_helpers import run, walk_commands
from tests.conftest import ROOT


def listed(db_path) -> list[dict]:
    if not db_path.exists():  # `annotator list` reads only: it never creates a project
        return []
    r = run("annotator", "list", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_add_and_list_annotators(db_path):
    assert run("init").exit_code == 0
    assert listed(db_path) == []
    r = run("annotator", "add", "alice")
    assert r.exit_code == 0, r.output
    assert "added alice (annotator)" in r.stderr
    env = {"PARLEY_PASSWORD": "pw"}
    assert run("annotator", "add", "Bob Jones", "--role", "reviewer", "--password",
               env=env).exit_code == 0
    assert run("annotator", "add", "carol.x", "--role", "admin", "--password",
               env=env).exit_code == 0
    people = listed(db_path)
    assert [(p["name"], p["role"], p["has_password"], p["labels"]) for p in people] == [
        ("Bob Jones", "reviewer", True, 0), ("alice", "annotator", False, 0),
        ("carol.x", "admin", True, 0)]
    assert set(people[0]) == {"id", "name", "role", "assigned_role", "has_password",
                              "created_at", "labels"}
    text = run("annotator", "list")
    assert text.exit_code == 0
    assert "Bob Jones\treviewer" in text.stdout


def test_list_counts_labels(db_path):
    db = project.init(db_path, seed=True)
    cfg = project.load_config(db)
    run("annotator", "add", "alice")
    who = annotate.list_annotators(db)[0]["id"]
    for _ in range(3):
        item = annotate.next_item(db, who, cfg)
        annotate.save(db, who, item.sentence_id, cfg, labels=["none"])
    assert listed(db_path)[0]["labels"] == 3


def test_password_is_asked_twice_hidden_and_only_a_hash_is_stored(db_path):
    r = run("annotator", "add", "dora", "--password", input="s3cret pass\ns3cret pass\n")
    assert r.exit_code == 0, r.output
    assert "with a password" in r.stderr
    assert "s3cret" not in r.output  # hidden input is not echoed
    assert r.output.count("Password") >= 1 and "Repeat for confirmation" in r.output
    db = project.init(db_path)
    assert annotate.authenticate(db, "dora", "s3cret pass")
    assert not annotate.authenticate(db, "dora", "s3cret")
    stored = db.execute("SELECT password_hash FROM annotators WHERE name = 'dora'").fetchone()[0]
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    people = run("annotator", "list", "--json").stdout
    assert json.loads(people)[0]["has_password"] is True
    assert "scrypt" not in people and stored not in people
    assert "scrypt" not in run("annotator", "list").stdout


def test_password_confirmation_must_match(db_path):
    r = run("annotator", "add", "dora", "--password", input="one\ntwo\nthree\nthree\n")
    assert r.exit_code == 0, r.output
    assert "do not match" in r.output
    assert annotate.authenticate(project.init(db_path), "dora", "three")


def test_password_from_environment_for_scripts(db_path):
    r = run("annotator", "add", "eve", "--password", env={"PARLEY_PASSWORD": "from-env"})
    assert r.exit_code == 0, r.output
    assert "Password" not in r.output  # no prompt
    assert annotate.authenticate(project.init(db_path), "eve", "from-env")


def test_empty_password_is_refused(db_path):
    r = run("annotator", "add", "eve", "--password", env={"PARLEY_PASSWORD": ""})
    assert r.exit_code == 1
    assert "must not be empty" in r.stderr
    assert listed(db_path) == []


def test_without_password_flag_the_environment_is_ignored(db_path):
    run("annotator", "add", "finn", env={"PARLEY_PASSWORD": "x"})
    assert listed(db_path)[0]["has_password"] is False


@pytest.mark.parametrize("args,message", [
    (["annotator", "add", "b@d"], "invalid annotator name"),
    (["annotator", "add", "x" * 41], "invalid annotator name"),
    (["annotator", "add", " lead"], "invalid annotator name"),
    (["annotator", "add", "gus", "--role", "boss"], "invalid role 'boss'"),
])
def test_bad_input_exits_1_with_a_message(db_path, args, message):
    r = run(*args)
    assert r.exit_code == 1
    assert message in r.stderr
    assert "Traceback" not in r.output
    assert listed(db_path) == []


def test_duplicate_name_exits_1_and_update_changes_the_role(db_path):
    run("annotator", "add", "gus")
    r = run("annotator", "add", "gus", "--role", "admin")
    assert r.exit_code == 1
    assert "already exists" in r.stderr
    assert listed(db_path)[0]["role"] == "annotator"
    r = run("annotator", "add", "gus", "--role", "admin", "--update", "--password",
            env={"PARLEY_PASSWORD": "pw"})
    assert r.exit_code == 0, r.output
    assert listed(db_path)[0]["role"] == "admin"


def test_the_module_entry_point_runs_the_commands(db_path):
    env = {"PARLEY_DB": str(db_path), "PARLEY_PASSWORD": "pw", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "labeling", "annotator", "add", "hana",
                        "--password"], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "labeling", "annotator", "add", "hana"], check=False, cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "already exists" in r.stderr and "Traceback" not in r.stderr


MINE = [path for path, _ in walk_commands(cli) if path[0] in ("config", "annotator")]


def test_my_commands_are_all_listed():
    assert set(MINE) >= {("config",), ("config", "show"), ("config", "check"),
                         ("config", "load"), ("annotator",), ("annotator", "add"),
                         ("annotator", "list")}


@pytest.mark.parametrize("path", MINE, ids=[" ".join(p) for p in MINE])
def test_every_command_help_has_an_example(path):
    r = run(*path, "--help")
    assert r.exit_code == 0
    assert "Example" in r.stdout
    assert "python -m labeling " + " ".join(path) in r.stdout
