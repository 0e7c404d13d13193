"""Identity: who a name is, who may review and export, passwords and their throttling.

Each test reproduces one finding: impersonating a password-less reviewer, open and
password-only projects, ``--update`` demoting an admin, names that differ only by case
becoming several people, privileged actions trusting a role read long before, weak
password hashes and unlimited password guessing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import db as store
import db.annotators as annotators_db
import db.migrations as migrations_db
from labeling import annotate, annotations_io, ingest, ops, project, reliability, review
from labeling.safe_markdown import literal
from labeling.ui import common
from tests.cli_helpers import run, run_db
from tests.conftest import ROOT, dump, open_app

REVIEW, EXPORT, DATA = "labeling/ui/review.py", "labeling/ui/export.py", "labeling/ui/data.py"
PW = "correct horse"
ENV_PW = {"PARLEY_PASSWORD": PW}


pytestmark = pytest.mark.usefixtures("fresh_caches")



def people(db) -> list[tuple]:
    return db.execute("SELECT name, role, password_hash IS NOT NULL FROM annotators "
                      "ORDER BY id").fetchall()


def sign_in(at: AppTest, password: str) -> AppTest:
    at.text_input(key="password").input(password).run()
    assert not at.exception, at.exception
    return at


def can_open(at: AppTest, page: str) -> bool:
    """Whether ``page`` is among the pages the app registered for this person."""
    try:
        at.switch_page(page)
    except ValueError as exc:
        assert "Could not find a navigation page" in str(exc)
        return False
    return True


def labels_shown(at: AppTest) -> bool:
    """Anything of someone's work on the label page: a sentence, its buttons, progress."""
    keys = [b.key or "" for b in at.button]
    return bool(keys or at.metric or at.progress) or any(
        getattr(c, "key", None) in ("current_sentence", "queue_done")
        for c in at.main.children.values())


def sidebar_errors(at: AppTest) -> list[str]:
    return [e.value for e in at.sidebar.error]


def add_legacy(db, name: str, role: str) -> int:
    """A reviewer or admin without a password, as older versions let one be added."""
    return annotate.add_annotator(db, name, role, require_password=False)["id"]


# ----------------------------------------------------------------- reviewers need passwords


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_cli_refuses_a_reviewer_or_admin_without_password(db_path, role):
    run("init")
    r = run("annotator", "add", "bob", "--role", role)
    assert r.exit_code == 1
    assert f"{role} needs a password" in r.stderr
    assert "--password" in r.stderr and "PARLEY_PASSWORD" in r.stderr  # how to set one
    # promoting a password-less annotator is refused the same way
    assert run("annotator", "add", "ann").exit_code == 0
    r = run("annotator", "add", "ann", "--update", "--role", role)
    assert r.exit_code == 1 and "needs a password" in r.stderr
    db = project.init(db_path)
    assert people(db) == [("ann", "annotator", 0)]
    # with a password it works, and a later --update needs none
    assert run("annotator", "add", "bob", "--role", role, "--password", env=ENV_PW).exit_code == 0
    assert run("annotator", "add", "ann", "--update", "--role", role, "--password",
               env=ENV_PW).exit_code == 0
    assert run("annotator", "add", "ann", "--update", "--role", "admin").exit_code == 0


def test_passwordless_reviewer_gets_annotator_rights_only(project_db):
    """``?annotator=bob`` showed a password-less reviewer's Review and Export pages to
    anyone who typed the name."""
    bob = add_legacy(project_db, "bob", "reviewer")
    add_legacy(project_db, "ada", "admin")
    for name in ("bob", "ada"):
        at = open_app(name)
        assert not can_open(at, REVIEW) and not can_open(at, EXPORT)
        caption = " ".join(c.value for c in at.sidebar.caption)
        assert "Role: annotator" in caption and "once a password is set" in caption
    assert annotate.find_annotator(project_db, "bob")["role"] == "annotator"
    assert annotate.current_role(project_db, bob) == "annotator"
    listed = {p["name"]: p for p in annotate.list_annotators(project_db)}
    assert (listed["bob"]["role"], listed["bob"]["assigned_role"]) == ("annotator", "reviewer")
    text = run("annotator", "list").stdout
    assert "bob\tannotator (reviewer once a password is set)" in text
    # once a password is set, bob is a reviewer again, after signing in
    annotate.add_annotator(project_db, "bob", password="s3cret", update=True)
    at = open_app("bob")
    assert not can_open(at, REVIEW)
    sign_in(at, "s3cret")
    assert can_open(at, REVIEW)


def test_check_lists_passwordless_reviewers_and_admins(project_db):
    add_legacy(project_db, "bob", "reviewer")
    add_legacy(project_db, "ada", "admin")
    annotate.add_annotator(project_db, "rita", "reviewer", PW)
    report = ops.check(project_db)
    problem = next(p for p in report.problems if p.check == "privileged_without_password")
    assert problem.count == 2
    assert [(e["name"], e["role"]) for e in problem.examples] == [("bob", "reviewer"),
                                                                  ("ada", "admin")]
    assert "--password" in problem.message


def test_a_reviewer_name_alone_shows_no_review_page(project_db):
    annotate.add_annotator(project_db, "rita", "reviewer", PW)
    at = open_app("rita")
    assert at.text_input(key="password") is not None
    assert not can_open(at, REVIEW) and not can_open(at, EXPORT)
    assert not labels_shown(at)
    sign_in(at, "wrong")
    assert "Wrong password." in sidebar_errors(at) and not can_open(at, REVIEW)
    sign_in(at, PW)
    assert can_open(at, REVIEW)


# ----------------------------------------------------------------- open / password projects


def test_open_project_says_so_in_one_line(project_db):
    at = open_app()
    captions = [c.value for c in at.sidebar.caption]
    assert common.OPEN_NOTICE in captions and "\n" not in common.OPEN_NOTICE
    assert "anyone may type any annotator's name" in common.OPEN_NOTICE


@pytest.mark.parametrize("how", ["query", "typed"])
def test_require_passwords_a_name_alone_shows_nothing(project_db, cfg, how):
    dora = annotate.add_annotator(project_db, "dora", password=PW)["id"]
    item = annotate.next_item(project_db, dora, cfg)
    annotate.save(project_db, dora, item.sentence_id, cfg, labels=["demand"])
    annotate.add_annotator(project_db, "erin")  # an account without a password
    project.save_config(project_db, dataclasses.replace(cfg, require_passwords=True))

    def visit(name: str) -> AppTest:
        if how == "query":
            return open_app(name)
        at = open_app()
        at.text_input(key="annotator").input(name).run()
        assert not at.exception, at.exception
        return at

    at = visit("dora")
    assert common.PASSWORDS_NOTICE in [c.value for c in at.sidebar.caption]
    assert at.text_input(key="password") is not None and not labels_shown(at)
    at = visit("erin")
    assert not labels_shown(at)
    assert any("requires one" in e for e in sidebar_errors(at))
    at = visit("zed")
    assert not labels_shown(at)
    assert any("not an annotator" in e for e in sidebar_errors(at))
    assert [p[0] for p in people(project_db)] == ["dora", "erin"]  # zed was not created
    at = visit("dora")
    sign_in(at, PW)
    assert labels_shown(at)


def test_ensure_annotator_with_require_passwords(project_db, cfg):
    strict = dataclasses.replace(cfg, require_passwords=True)
    annotate.add_annotator(project_db, "erin")
    annotate.add_annotator(project_db, "dora", password=PW)
    with pytest.raises(annotate.AuthError, match="requires one"):
        annotate.ensure_annotator(project_db, "erin", strict)
    with pytest.raises(annotate.AuthError, match="not an annotator"):
        annotate.ensure_annotator(project_db, "zed", strict)
    assert annotate.ensure_annotator(project_db, "DORA", strict)["name"] == "dora"


# ----------------------------------------------------------------------------- --update


def test_update_keeps_the_role_unless_role_is_given(db_path):
    """``annotator add alice --update --password`` made an admin an annotator."""
    assert run("annotator", "add", "alice", "--role", "admin", "--password",
               env=ENV_PW).exit_code == 0
    r = run("annotator", "add", "alice", "--update", "--password",
            env={"PARLEY_PASSWORD": "new one"})
    assert r.exit_code == 0, r.output
    assert "updated alice (admin) with a password" in r.stderr
    db = project.init(db_path)
    assert people(db) == [("alice", "admin", 1)]
    assert annotate.authenticate(db, "alice", "new one")
    # (another admin first: the only admin with a password cannot be demoted)
    annotate.add_annotator(db, "zoe", "admin", "zoe's password")
    assert run("annotator", "add", "alice", "--update", "--role", "reviewer").exit_code == 0
    assert people(db)[0] == ("alice", "reviewer", 1)


def test_update_of_an_unknown_name_is_an_error(db_path):
    r = run("annotator", "add", "nobody", "--update", "--password", env=ENV_PW)
    assert r.exit_code == 1 and "no annotator 'nobody'" in r.stderr
    assert people(project.init(db_path)) == []


def test_role_and_password_changes_are_logged(db_path):
    run("annotator", "add", "rita", "--role", "reviewer", "--password", env=ENV_PW)
    run("annotator", "add", "rita", "--update", "--role", "admin")
    run("annotator", "add", "ann")  # a plain annotator: nothing to log
    db = project.init(db_path)
    log = db.execute("SELECT action, actor, detail FROM project_log ORDER BY id").fetchall()
    assert [(a, json.loads(d)) for a, _, d in log] == [
        ("annotator_role", {"name": "rita", "from": None, "to": "reviewer"}),
        ("annotator_password", {"name": "rita", "had_password": False}),
        ("annotator_role", {"name": "rita", "from": "reviewer", "to": "admin"})]
    assert all(actor.startswith("cli:") for _, actor, _ in log)
    assert PW not in json.dumps(log)


# ----------------------------------------------------------------------------- names up to case


def test_cli_refuses_a_name_that_differs_only_by_case(db_path):
    assert run("annotator", "add", "alice").exit_code == 0
    for name in ("ALICE", "Alice"):
        r = run("annotator", "add", name)
        assert r.exit_code == 1
        assert "'alice' already exists" in r.stderr and "--update" in r.stderr
    # --update finds alice whatever the case
    r = run("annotator", "add", "ALICE", "--update", "--role", "reviewer", "--password",
            env=ENV_PW)
    assert r.exit_code == 0 and "updated alice (reviewer)" in r.stderr
    assert people(project.init(db_path)) == [("alice", "reviewer", 1)]


def test_app_signs_a_name_in_another_case_in_as_the_existing_person(project_db, cfg):
    """``Alice``, ``alice`` and ``ALICE`` were three people, routed the same sentences
    and counted as independent annotators in agreement."""
    alice = annotate.add_annotator(project_db, "alice")["id"]
    first = annotate.next_item(project_db, alice, cfg)
    annotate.save(project_db, alice, first.sentence_id, cfg, labels=["demand"])
    for name in ("ALICE", "Alice"):
        at = open_app(name)
        assert at.session_state["person"]["id"] == alice
        at.button(key="label_warning").click().run()
        assert not at.exception, at.exception
    assert [p[0] for p in people(project_db)] == ["alice"]
    assert project_db.execute("SELECT count(DISTINCT sentence_id), count(*) FROM annotations"
                              ).fetchone() == (3, 3)  # three sentences, no sentence twice
    assert reliability.report(project_db)["annotators"] == ["alice"]
    assert annotate.ensure_annotator(project_db, "aLiCe", cfg)["id"] == alice


def test_a_password_is_asked_for_the_existing_person_in_any_case(project_db):
    rita = annotate.add_annotator(project_db, "rita", "reviewer", PW)["id"]
    at = open_app("RITA")
    assert not can_open(at, REVIEW) and not labels_shown(at)
    sign_in(at, PW)
    assert at.session_state["person"]["id"] == rita and can_open(at, REVIEW)


def test_import_maps_names_to_existing_people_up_to_case(project_db, tmp_path):
    alice = annotate.add_annotator(project_db, "alice")["id"]
    sents = project_db.execute(
        "SELECT a.external_id || ':' || s.idx FROM sentences s JOIN articles a "
        "ON a.id = s.article_id WHERE s.kind = 'content' ORDER BY s.id LIMIT 3").fetchall()
    path = tmp_path / "old.csv"
    path.write_text("sentence_id,annotator,label\n"
                    f"{sents[0][0]},ALICE,demand\n{sents[1][0]},Bob,warning\n"
                    f"{sents[2][0]},BOB,none\n", encoding="utf-8")
    annotations_io.import_annotations(project_db, path)
    assert [p[0] for p in people(project_db)] == ["alice", "Bob"]
    by = dict(project_db.execute(
        "SELECT n.name, count(*) FROM annotations a JOIN annotators n ON n.id = a.annotator_id "
        "GROUP BY n.name").fetchall())
    assert by == {"alice": 1, "Bob": 2}
    assert annotators_db.get(project_db, "bob")["name_key"] == "bob"
    assert annotate.find_annotator(project_db, "Alice")["id"] == alice


def test_check_reports_name_clashes_from_an_older_database(tmp_path):
    path = tmp_path / "old.db"
    old = store.connect(path)
    names = [m.name for m in migrations_db.migrations._migrations]
    migrations_db.migrations.apply(old, stop_before=names[2])  # before name keys existed
    for i, name in enumerate(["Alice", "bob", "alice", "ALICE"], 1):
        old.execute("INSERT INTO annotators (id, name, role, created_at) "
                    "VALUES (?, ?, 'annotator', '2024-01-01')", [i, name])
    old.conn.commit()
    old.close()
    db = project.init(path)  # migrates: name keys filled
    try:
        report = ops.check(db)
        clash = next(p for p in report.problems if p.check == "annotator_name_clash")
        assert clash.count == 1
        assert clash.examples == [{"name_key": "alice", "annotators": 3,
                                   "names": "Alice, alice, ALICE"}]
        assert "Alice" in str(clash) and "ALICE" in str(clash)
        # the exact spelling wins a look-up; another spelling gets the oldest
        assert annotate.find_annotator(db, "alice")["id"] == 3
        assert annotate.find_annotator(db, "aLICE")["id"] == 1
        # a new clash is refused, also from the library
        with pytest.raises(annotate.NameTaken):
            annotate.add_annotator(db, "BOB")
    finally:
        db.close()


def test_rows_written_without_a_name_key_are_still_one_person(project_db):
    """Versions between migration 0003 and this one wrote annotators without a key."""
    with store.write_transaction(project_db) as conn:
        for name, pw in (("alice", annotate.hash_password(PW)), ("Bob", None), ("bob", None)):
            conn.execute("INSERT INTO annotators (name, role, password_hash, created_at) "
                         "VALUES (?, 'annotator', ?, '2024-01-01')", [name, pw])
    clash = next(p for p in ops.check(project_db).problems
                 if p.check == "annotator_name_clash")
    assert clash.examples == [{"name_key": "bob", "annotators": 2, "names": "Bob, bob"}]
    at = open_app("ALICE")  # alice's password is asked; no new person
    assert at.text_input(key="password") is not None and not labels_shown(at)
    assert [p[0] for p in people(project_db)] == ["alice", "Bob", "bob"]
    assert annotators_db.get(project_db, "ALICE")["name"] == "alice"  # the key was filled in
    assert run("annotator", "add", "BOB").exit_code == 1


def test_name_lookups_use_the_name_key_index(project_db):
    for name in ("ann", "bob", "cat"):
        annotate.add_annotator(project_db, name)
    plan = " ".join(str(r[-1]) for r in project_db.execute(
        "EXPLAIN QUERY PLAN " + annotators_db._GET_SQL, {"key": "bob", "name": "BOB"}))
    assert "annotators_name_key" in plan and "SCAN annotators" not in plan


# ----------------------------------------------------------------- roles checked when acting


def test_export_download_rechecks_the_role_when_clicked(project_db, monkeypatch):
    """An Export page left open after a demotion still downloaded the zip."""
    annotate.add_annotator(project_db, "rita", "reviewer", PW)
    captured = []
    real = st.download_button

    def spy(*args, **kwargs):
        captured.append(kwargs["data"])
        return real(*args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    at = open_app("rita", PW)
    at.switch_page(EXPORT).run()
    assert not at.exception, at.exception
    build = captured[-1]
    assert callable(build) and build()[:2] == b"PK"  # a zip while rita reviews
    annotate.add_annotator(project_db, "rita", "annotator", update=True)  # demoted
    with pytest.raises(PermissionError, match="reviewers and admins only"):
        build()


def test_adjudication_rechecks_the_role_in_the_database(project_db, cfg):
    """A decision is taken with the role the database gives now, not the one the page
    was drawn with: bob, a password-less reviewer from an older database, in a session
    that still holds him as a reviewer, cannot adjudicate."""
    ids = {n: annotate.add_annotator(project_db, n)["id"] for n in ("ann", "cat")}
    rita = annotate.add_annotator(project_db, "rita", "reviewer", PW)["id"]
    bob = add_legacy(project_db, "bob", "reviewer")
    sid = project_db.execute("SELECT id FROM sentences WHERE kind = 'content' ORDER BY id "
                             "LIMIT 1").fetchone()[0]
    annotate.save(project_db, ids["ann"], sid, cfg, labels=["demand"])
    annotate.save(project_db, ids["cat"], sid, cfg, labels=["warning"])

    def gold():
        return project_db.execute("SELECT labels FROM gold WHERE sentence_id = ?",
                                  [sid]).fetchone()

    at = AppTest.from_file(str(ROOT / REVIEW), default_timeout=60)
    at.session_state["person"] = {"id": bob, "name": "bob", "role": "reviewer",
                                  "assigned_role": "reviewer"}
    at.run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if (b.key or "").startswith("gold_")]
    assert any("reviewers and admins only" in e.value for e in at.error)

    # rita's page has the keys; her rights go (here: her password) before she presses
    at = open_app("rita", PW)
    at.switch_page(REVIEW).run()
    assert at.button(key="gold_demand") is not None
    with store.write_transaction(project_db) as conn:
        conn.execute("UPDATE annotators SET password_hash = NULL WHERE id = ?", [rita])
    at.button(key="gold_demand").click().run()
    assert not at.exception, at.exception
    assert gold() is None  # the callback refused (the stored role is still reviewer)
    assert "no longer a reviewer" in at.session_state["rv_msg"]
    assert not can_open(at, REVIEW)  # and the rerun took the page away


def test_data_page_needs_a_sign_in_when_required(project_db, cfg):
    annotate.add_annotator(project_db, "alice")
    project.save_config(project_db, dataclasses.replace(cfg, require_signin=True))
    at = open_app()
    at.switch_page(DATA).run()
    assert not at.exception, at.exception
    assert not at.metric and any("Sign in" in i.value for i in at.info)
    at = open_app("alice")
    at.switch_page(DATA).run()
    assert {m.label for m in at.metric} >= {"Articles", "Sentences"}


# ----------------------------------------------------------------------------- passwords


def _old_hash(password: str) -> str:
    """The format and cost older versions stored (scrypt, n = 2**14)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${2**14}$8$1${salt.hex()}${digest.hex()}"


def test_new_hashes_use_scrypt_with_n_of_at_least_2_17():
    algo, n, r, p, salt, digest = annotate.hash_password("pw").split("$")
    assert algo == "scrypt" and int(n) >= 2**17 and int(r) >= 8 and len(salt) == 32
    assert not annotate.needs_rehash(annotate.hash_password("pw"))
    assert annotate.needs_rehash(_old_hash("pw"))


def test_old_hashes_work_and_are_upgraded_at_the_next_sign_in(project_db):
    dora = annotate.add_annotator(project_db, "dora")["id"]
    old = _old_hash("s3cret")
    with store.write_transaction(project_db) as conn:
        conn.execute("UPDATE annotators SET password_hash = ? WHERE id = ?", [old, dora])

    def stored():
        return annotators_db.get_by_id(project_db, dora)["password_hash"]

    assert not annotate.authenticate(project_db, "dora", "wrong")
    assert stored() == old  # a wrong password changes nothing
    assert annotate.authenticate(project_db, "dora", "s3cret")
    assert stored() != old and int(stored().split("$")[1]) == annotate.SCRYPT_N
    assert annotate.authenticate(project_db, "dora", "s3cret")


@pytest.mark.slow
def test_five_wrong_passwords_make_the_name_wait_30_seconds(project_db, db_path):
    annotate.add_annotator(project_db, "dora", password=PW)
    t = 1_000_000.0
    for _ in range(4):
        assert not annotate.authenticate(project_db, "dora", "guess", now=t)
    with pytest.raises(annotate.SignInLocked) as locked:
        annotate.authenticate(project_db, "dora", "guess", now=t)  # the fifth
    assert locked.value.seconds == 30
    # the right password during the wait is refused too, in this process or another
    with pytest.raises(annotate.SignInLocked) as locked:
        annotate.authenticate(project_db, "DORA", PW, now=t + 10)
    assert locked.value.seconds == 20
    other = store.connect(db_path)
    try:
        with pytest.raises(annotate.SignInLocked):
            annotate.authenticate(other, "dora", PW, now=t + 29)
        assert annotate.sign_in_wait(other, "dora", now=t + 29) == 1
    finally:
        other.close()
    assert annotate.sign_in_wait(project_db, "dora", now=t + 30) is None
    assert annotate.authenticate(project_db, "dora", PW, now=t + 30)
    row = annotators_db.get(project_db, "dora")
    assert (row["failed_logins"], row["locked_until"]) == (0, None)
    # a success starts the count again: four more wrong ones do not lock
    for _ in range(4):
        assert not annotate.authenticate(project_db, "dora", "guess", now=t + 31)
    assert annotate.authenticate(project_db, "dora", PW, now=t + 31)


@pytest.mark.slow
def test_sign_in_box_says_how_long_to_wait(project_db, monkeypatch):
    annotate.add_annotator(project_db, "rita", "reviewer", PW)
    now = [2_000_000.0]
    monkeypatch.setattr(annotate, "clock", lambda: now[0])
    at = open_app("rita")
    for _ in range(4):
        sign_in(at, "guess")
        assert sidebar_errors(at) == ["Wrong password."]
    sign_in(at, "guess")
    assert sidebar_errors(at) == ["Too many wrong passwords: wait 30 s, then try again."]
    now[0] += 12
    sign_in(at, PW)  # right, but during the wait
    assert sidebar_errors(at) == ["Too many wrong passwords: wait 18 s, then try again."]
    assert not can_open(at, REVIEW) and not labels_shown(at)
    now[0] += 18
    at.run()
    assert sidebar_errors(at) == []  # the wait is over
    sign_in(at, PW)
    assert can_open(at, REVIEW)


def test_a_wrong_password_in_the_field_is_tried_once(project_db):
    """Reruns (any click) must not try the same wrong password again and lock the name."""
    annotate.add_annotator(project_db, "dora", password=PW)
    at = open_app("dora")
    sign_in(at, "guess")
    for _ in range(6):
        at.run()
    assert annotators_db.get(project_db, "dora")["failed_logins"] == 1
    assert annotate.sign_in_wait(project_db, "dora") is None


def test_the_library_refuses_a_privileged_account_without_password(project_db):
    # not only the CLI: any caller of add_annotator (the app's future People page too)
    for role in ("reviewer", "admin"):
        with pytest.raises(annotate.PasswordRequired):
            annotate.add_annotator(project_db, f"x-{role}", role)
    assert annotate.find_annotator(project_db, "x-reviewer") is None


def test_adjudicate_itself_obeys_the_effective_role(project_db):
    # review.adjudicate checks inside its own write transaction, whoever calls it

    cfg = project.load_config(project_db)
    legacy = add_legacy(project_db, "olga", "reviewer")
    sid = project_db.execute("SELECT id FROM sentences WHERE kind = 'content' LIMIT 1"
                             ).fetchone()[0]
    with pytest.raises(review.ReviewError, match="until a password is set"):
        review.adjudicate(project_db, legacy, sid, ["demand"], cfg)
    annotate.add_annotator(project_db, "olga", password="now-set", update=True)
    review.adjudicate(project_db, legacy, sid, ["demand"], cfg)


def test_import_counts_case_variants_of_a_new_name_as_one_person(project_db, tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("sentence_id,annotator,label\n"
                    "000_0a083b07f5e0d51c:1,Bob,demand\n"
                    "000_0a083b07f5e0d51c:0,BOB,warning\n", encoding="utf-8")
    r = run_db(project_db.path, "import-annotations", path, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["annotators_created"] == 1
    assert [p["name"] for p in annotate.list_annotators(project_db)] == ["Bob"]


# ------------------------------------------------------------------ first admin


def _app_project(path):
    """A project as the README's run command makes it: created by the app, demo in."""
    return project.open_for_app(path)


def test_the_first_admin_of_an_app_made_project_can_be_claimed_once(tmp_path):
    db = _app_project(tmp_path / "p.db")
    assert annotate.setup_open(db)
    admin = annotate.claim_first_admin(db, "Maria", "long enough pw", actor="app:Maria")
    assert admin["role"] == "admin" and admin["has_password"]
    assert annotate.authenticate(db, "maria", "long enough pw")
    assert not annotate.setup_open(db)
    before = dump(tmp_path / "p.db")
    with pytest.raises(annotate.SetupClosed):
        annotate.claim_first_admin(db, "mallory", "also long enough", actor="app:mallory")
    assert dump(tmp_path / "p.db") == before
    log = [(r["action"], r["actor"]) for r in db.query("SELECT action, actor FROM project_log")]
    assert ("annotator_role", "app:Maria") in log


def test_an_annotator_who_labeled_the_demo_can_become_the_first_admin(tmp_path):
    db = _app_project(tmp_path / "p.db")
    annotate.add_annotator(db, "dana")
    admin = annotate.claim_first_admin(db, "DANA", "long enough pw", actor="app:DANA")
    assert admin["name"] == "dana" and admin["role"] == "admin"
    assert len(annotate.list_annotators(db)) == 1


@pytest.mark.parametrize("how", ["cli_init", "real_articles", "has_admin"])
def test_no_claim_where_someone_set_the_project_up(tmp_path, how):
    path = tmp_path / "p.db"
    if how == "cli_init":
        db = project.init(path, seed=True)  # init --demo: the owner used the terminal
    else:
        db = _app_project(path)
    if how == "real_articles":
        src = tmp_path / "real.txt"
        src.write_text("Talks resumed.\n\nThe EU demanded a ceasefire.\n", encoding="utf-8")
        ingest.import_paths(db, [src])
    if how == "has_admin":
        annotate.add_annotator(db, "ada", "admin", "pw of ada")
    assert not annotate.setup_open(db)
    with pytest.raises(annotate.SetupClosed):
        annotate.claim_first_admin(db, "mallory", "long enough pw", actor="app:mallory")
    assert annotate.find_annotator(db, "mallory") is None


@pytest.mark.parametrize("name, password, words", [
    ("ok name", "short", "at least 8 characters"),
    ("bad/name", "long enough pw", "invalid annotator name"),
])
def test_a_bad_claim_is_refused_and_changes_nothing(tmp_path, name, password, words):
    db = _app_project(tmp_path / "p.db")
    before = dump(tmp_path / "p.db")
    with pytest.raises(annotate.LabelingError, match=words):
        annotate.claim_first_admin(db, name, password, actor="app:x")
    assert dump(tmp_path / "p.db") == before and annotate.setup_open(db)


def test_the_first_screen_offers_the_setup_and_signs_the_new_admin_in(db_path, fresh_caches):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    assert not at.exception
    at.text_input(key="setup_name").input("_Maria_")
    at.text_input(key="setup_password").input("short")
    at.button(key="setup_submit").click().run()
    assert [e.value for e in at.error] == [literal("an admin password needs at least 8 "
                                                   "characters")]
    at.text_input(key="setup_name").input("Maria")
    at.text_input(key="setup_password").input("long enough pw")
    at.button(key="setup_submit").click().run()
    assert not at.exception and not at.error
    assert at.session_state["person"]["role"] == "admin"
    assert at.text_input(key="annotator").value == "Maria"
    assert not [f for f in at.get("text_input") if f.key == "setup_name"]  # offered no more
    assert at.session_state["setup_password"] == ""  # the password does not linger
    at.switch_page("labeling/ui/import_articles.py").run()
    assert not at.exception and at.get("file_uploader")


def test_while_labeling_the_demo_the_setup_is_one_closed_line(db_path, fresh_caches):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["annotator"] = "kb"
    at.run()
    assert not at.exception
    (box,) = at.expander
    assert box.label == "Set up this project: make yourself its admin"
    assert [f.key for f in box.text_input] == ["setup_name", "setup_password"]
    assert box.text_input(key="setup_name").value == "kb"
