"""A project holds only what its owner put in (issue: trust, section 1).

The demo article comes only from the app creating a database or ``init --demo``; read-only
commands never create a file; an article can be taken out again; databases written by a
newer Parley are refused; unexpected errors are one line unless ``--debug``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from labeling import annotate, project
from tests.cli_helpers import ok, one_line_error, run
from tests.conftest import ROOT, dump

DEMO = project.DEMO_ID
CORPUS = [{"id": "geneva-1", "title": "Talks resume",
           "text": "Talks resume\n\nThe envoys met on Monday. They demanded a ceasefire."},
          {"id": "geneva-2", "title": "Talks end",
           "text": "Talks end\n\nThe talks ended without any agreement."}]


def article_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in
            ok("--db", path, "article", "list", "--json").stdout.splitlines()]


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in CORPUS), encoding="utf-8")
    return path


# ------------------------------------------------------------------ no demo article unasked


def test_import_into_a_new_file_brings_only_the_users_articles(tmp_path, corpus):
    # regression: `--db news.db import corpus.jsonl` on a new file added the demo article
    db = tmp_path / "news.db"
    ok("--db", db, "import", corpus)
    assert article_ids(db) == ["geneva-1", "geneva-2"]


@pytest.mark.parametrize("command", [
    ["init"],
    ["config", "load", str(ROOT / "seeds" / "project.toml")],
    ["annotator", "add", "dora"],
])
def test_every_command_that_creates_a_database_makes_it_empty(tmp_path, command):
    db = tmp_path / "new.db"
    ok("--db", db, *command)
    assert article_ids(db) == []
    ok("--db", db, "init")  # opening it again later adds nothing either
    assert article_ids(db) == []


def test_init_demo_adds_the_demo_article(tmp_path):
    db = tmp_path / "try.db"
    ok("--db", db, "init", "--demo")
    assert article_ids(db) == [DEMO]


def test_demo_and_no_seed_contradict(tmp_path):
    r = run("--db", tmp_path / "x.db", "init", "--demo", "--no-seed")
    assert r.exit_code == 2 and not (tmp_path / "x.db").exists()


def test_the_app_seeds_only_a_database_it_creates(tmp_path):
    fresh = tmp_path / "fresh.db"
    project.open_for_app(fresh).close()
    db = project.init(fresh)
    assert project.corpus_state(db) == "demo"
    db.close()
    # a project made by `init` stays empty when the app opens it, now and later
    made = tmp_path / "made.db"
    ok("--db", made, "init")
    for _ in range(2):
        project.open_for_app(made).close()
    assert article_ids(made) == []


# ------------------------------------------------------------------ read-only commands

READ_ONLY = [
    ["stats"], ["stats", "--json"], ["sentences"], ["agreement"], ["agreement", "--json"],
    ["export", "--out", "OUT"], ["check"], ["check", "--json"], ["backup", "BACKUP"],
    ["config", "show"], ["annotator", "list"], ["article", "list"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda c: " ".join(c))
def test_read_only_commands_on_a_missing_database_create_nothing(tmp_path, command):
    before = sorted(os.listdir(tmp_path))
    args = [str(tmp_path / a) if a in ("OUT", "BACKUP") else a for a in command]
    line = one_line_error(run("--db", tmp_path / "typo.db", *args))
    assert "typo.db" in line
    assert sorted(os.listdir(tmp_path)) == before


def test_export_with_a_mistyped_db_keeps_the_previous_export(tmp_path, corpus):
    # regression: `--db typo.db export --out dataset/` created a new seeded project,
    # exited 0 and emptied the user's previous export
    real = tmp_path / "real.db"
    ok("--db", real, "import", corpus)
    out = tmp_path / "dataset"
    ok("--db", real, "export", "--out", out, "--splits", "none")
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    one_line_error(run("--db", tmp_path / "typo.db", "export", "--out", out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
    assert not (tmp_path / "typo.db").exists()


# ------------------------------------------------------------------ article list / remove


def _label_first(path: Path, name: str = "dora") -> None:
    db = project.init(path)
    try:
        cfg = project.load_config(db)
        me = annotate.ensure_annotator(db, name, cfg)["id"]
        item = annotate.next_item(db, me, cfg)
        annotate.save(db, me, item.sentence_id, cfg, labels=["outcome"])
    finally:
        db.close()


def test_article_list_json_keys_and_counts(tmp_path, corpus):
    db = tmp_path / "p.db"
    ok("--db", db, "import", corpus)
    _label_first(db)
    rows = [json.loads(x) for x in ok("--db", db, "article", "list", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == ["geneva-1", "geneva-2"]
    assert set(rows[0]) == {"id", "title", "source", "imported_at", "sentences",
                            "content_sentences", "labels", "gold"}
    assert (rows[0]["labels"], rows[1]["labels"]) == (1, 0)
    assert rows[1]["content_sentences"] == 2  # the headline and the one sentence


def test_remove_refuses_an_article_with_labels_and_changes_nothing(tmp_path, corpus):
    db = tmp_path / "p.db"
    ok("--db", db, "import", corpus)
    _label_first(db)
    before = dump(db)
    line = one_line_error(run("--db", db, "article", "remove", "geneva-1"))
    assert "--force" in line and "1 label" in line
    assert dump(db) == before


def test_remove_without_labels_needs_no_force(tmp_path, corpus):
    db = tmp_path / "p.db"
    ok("--db", db, "import", corpus)
    r = json.loads(ok("--db", db, "article", "remove", "geneva-2", "--json").stdout)
    assert r["article"] == "geneva-2" and r["removed"]["sentences"] >= 1
    assert article_ids(db) == ["geneva-1"]


def test_forced_removal_takes_labels_and_gold_and_is_logged(tmp_path, corpus):
    db = tmp_path / "p.db"
    ok("--db", db, "import", corpus)
    _label_first(db, "dora")
    _label_first(db, "eve")  # overlap 2: the first sentence is now unanimous gold
    stats = json.loads(ok("--db", db, "stats", "--json").stdout)
    assert stats["gold"] == 1 and stats["annotations"] == 2
    r = json.loads(ok("--db", db, "article", "remove", "geneva-1", "--force", "--json").stdout)
    assert r["removed"]["labels"] == 2 and r["removed"]["gold"] == 1
    stats = json.loads(ok("--db", db, "stats", "--json").stdout)
    assert (stats["articles"], stats["annotations"], stats["gold"]) == (1, 0, 0)
    # the removal is recorded: who, when, what
    conn = sqlite3.connect(db)
    (action, actor, detail, when), = conn.execute(
        "SELECT action, actor, detail, created_at FROM project_log").fetchall()
    conn.close()
    assert action == "remove_article" and actor.startswith("cli:") and when
    detail = json.loads(detail)
    assert detail["article"] == "geneva-1" and detail["removed"]["labels"] == 2
    # check stays clean, and the people's counters followed
    check = json.loads(ok("--db", db, "check", "--json").stdout)
    assert check["ok"], check
    # the next label goes to the remaining article
    _label_first(db, "dora")
    assert json.loads(ok("--db", db, "stats", "--json").stdout)["annotations"] == 1


def test_remove_unknown_article_and_missing_database(tmp_path, corpus):
    db = tmp_path / "p.db"
    ok("--db", db, "import", corpus)
    assert "no article with id 'nope'" in one_line_error(run("--db", db, "article", "remove", "nope"))
    one_line_error(run("--db", tmp_path / "typo.db", "article", "remove", "geneva-1"))
    assert not (tmp_path / "typo.db").exists()


def test_agreement_cache_forgets_a_removed_article(tmp_path, corpus):
    # the running app caches by data version; a removal must change it even though
    # the highest event and sentence ids stay the same
    import db.sentences as sentences_db

    db = tmp_path / "p.db"
    ok("--db", db, "import", corpus)
    _label_first(db)
    conn = project.init(db)
    before = sentences_db.data_version(conn)
    ok("--db", db, "article", "remove", "geneva-2")
    assert sentences_db.data_version(conn) != before
    conn.close()


# ------------------------------------------------------------------ newer database, --debug


def test_a_database_from_a_newer_parley_is_refused(tmp_path):
    db = tmp_path / "p.db"
    ok("--db", db, "init")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                     "VALUES ('parley', '0099_from_the_future', 'later')")
    conn.close()
    before = dump(db)
    for command in (["stats"], ["annotator", "add", "dora"], ["import", ROOT / "seeds"]):
        line = one_line_error(run("--db", db, *command))
        assert "newer version of Parley" in line and "0099_from_the_future" in line
    assert dump(db) == before


def test_unexpected_errors_are_one_line_with_a_debug_hint(tmp_path, monkeypatch):
    from labeling import corpus as corpus_mod

    def boom(*_a, **_k):
        raise ZeroDivisionError("something nobody foresaw\nover two lines")

    monkeypatch.setattr(corpus_mod, "articles", boom)
    db = tmp_path / "p.db"
    ok("--db", db, "init")
    line = one_line_error(run("--db", db, "article", "list"))
    assert line == ("Error: unexpected ZeroDivisionError: something nobody foresaw over two "
                    "lines (rerun with --debug for the traceback)")
    r = run("--db", db, "--debug", "article", "list", catch_exceptions=True)
    assert isinstance(r.exception, ZeroDivisionError)


# ------------------------------------------------------------------ the app says so


def _notice(at: AppTest) -> str:
    texts = [b.value for b in at.info] + [c.value for c in at.code]
    return "\n".join(texts)


def test_app_says_when_the_project_holds_only_the_demo(db_path, fresh_caches):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()  # the app creates the project: the demo article is in
    assert not at.exception
    text = _notice(at)
    assert "only the demo article" in text and "Type your name" in text
    # a visitor who is not signed in learns what Parley is, not where the database is
    assert "Parley** is where a team labels" in at.markdown[0].value
    assert str(db_path) not in text and "python -m labeling" not in text


def test_the_admin_gets_the_import_page_and_the_commands(db_path, fresh_caches):
    annotate.add_annotator(project.open_for_app(db_path), "ada", "admin", "pw of ada")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["annotator"] = "ada"
    at.run()
    at.text_input(key="password").input("pw of ada").run()
    assert not at.exception
    text = _notice(at)
    assert "take the demo out, both on the Import page" in text
    assert [link.proto.page for link in at.get("page_link")] == ["import"]
    assert "import articles/" in text and f"article remove {DEMO}" in text
    assert str(db_path) in text


@pytest.mark.parametrize("role", ["annotator", "reviewer"])
def test_annotators_and_reviewers_are_told_an_admin_imports(db_path, fresh_caches, role):
    ok("--db", db_path, "init")
    annotate.add_annotator(project.open_existing(db_path), "rhea", role, "pw of rhea")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["annotator"] = "rhea"
    at.run()
    at.text_input(key="password").input("pw of rhea").run()
    assert not at.exception
    text = _notice(at)
    assert "no articles yet" in text and "An admin imports them" in text
    assert "python -m labeling" not in text and not at.get("page_link")
    # nothing to label is not "all done": no thanks for work that could not start
    assert not [s for s in at.success if "All done" in s.value]


def test_app_says_when_the_project_is_empty_and_not_when_real(db_path, corpus, fresh_caches):
    ok("--db", db_path, "init")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["annotator"] = "dora"
    at.run()
    assert "no articles yet" in _notice(at)
    ok("--db", db_path, "import", corpus)
    at.run()
    assert "demo" not in _notice(at) and "no articles yet" not in _notice(at)
    assert not at.markdown or "is where a team labels" not in at.markdown[0].value


@pytest.mark.parametrize("command", [["init"], ["stats"], ["import", "x.txt"]])
def test_a_folder_given_as_database_is_named_as_such(tmp_path, command):
    folder = tmp_path / "project.db"
    folder.mkdir()
    (tmp_path / "x.txt").write_text("Talks\n\nThey met.\n", encoding="utf-8")
    args = [str(tmp_path / a) if a.endswith(".txt") else a for a in command]
    line = one_line_error(run("--db", folder, *args))
    assert "is a folder" in line and "project.db/labels.db" in line
    assert list(folder.iterdir()) == []


def test_the_password_message_reads_well_for_admins(tmp_path):
    line = one_line_error(run("--db", tmp_path / "p.db", "annotator", "add", "ada",
                              "--role", "admin"))
    assert "an admin needs a password" in line and "--password" in line


def test_the_data_page_of_an_empty_project_names_the_next_step(db_path, fresh_caches):
    ok("--db", db_path, "init")
    annotate.add_annotator(project.open_existing(db_path), "ada", "admin", "pw of ada")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["annotator"] = "anna"
    at.run()
    at.switch_page("labeling/ui/data.py").run()
    assert [i.value for i in at.info] == ["No articles yet: an admin imports them."]
    assert not at.get("page_link")
    admin = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    admin.query_params["annotator"] = "ada"
    admin.run()
    admin.text_input(key="password").input("pw of ada").run()
    admin.switch_page("labeling/ui/data.py").run()
    assert not admin.exception
    assert [link.proto.page for link in admin.get("page_link")] == ["import"]
