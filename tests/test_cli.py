"""The command line: `python -m labeling` (init, import, sentences, stats, help texts)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from labeling.cli import cli
from tests.cli_helpers import ok_db, python_m, run, run_db, walk_commands
from tests.conftest import ROOT, dump

SEED_ID = "000_0a083b07f5e0d51c"
IMPORT_KEYS = {"articles_added", "articles_skipped_duplicate", "sentences_added", "errors"}
SENTENCE_KEYS = {"id", "article", "index", "start", "end", "text", "kind"}
STATS_KEYS = {"articles", "sentences", "content_sentences", "annotators", "annotations", "gold"}

ARTICLE = ("Talks stall in Geneva\n\n"
           "The United States and Russia met on Monday. No agreement was reached.\n")


@pytest.fixture
def seeded(tmp_path):
    path = tmp_path / "p.db"
    ok_db(path, "init", "--demo")
    return path


def jsonl(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


# --------------------------------------------------------------------------- init / --db


def test_init_demo_imports_the_seed_once(tmp_path):
    path = tmp_path / "p.db"
    result = ok_db(path, "init", "--demo")
    assert result.stdout == ""
    assert "33 sentences" in result.stderr
    stats = json.loads(ok_db(path, "stats", "--json").stdout)
    assert (stats["articles"], stats["sentences"], stats["content_sentences"]) == (1, 33, 27)
    before = dump(path)
    ok_db(path, "init", "--demo")
    assert dump(path) == before


@pytest.mark.parametrize("flags", [(), ("--no-seed",)], ids=["init", "init --no-seed"])
def test_init_makes_an_empty_project(tmp_path, flags):
    # regression: init (and every command that created a database) added the demo article
    path = tmp_path / "p.db"
    ok_db(path, "init", *flags)
    assert json.loads(ok_db(path, "stats", "--json").stdout)["articles"] == 0
    ok_db(path, "init")  # opening it again adds nothing either
    assert json.loads(ok_db(path, "stats", "--json").stdout)["articles"] == 0


def test_db_defaults_to_env_then_labels_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARLEY_DB", raising=False)
    assert run("init").exit_code == 0
    assert (tmp_path / "labels.db").exists()
    env_db = tmp_path / "from-env.db"
    result = run("init", "--no-seed", env={"PARLEY_DB": str(env_db)})
    assert result.exit_code == 0
    assert env_db.exists()
    # --db wins over the environment
    flag_db = tmp_path / "flag.db"
    result = run_db(flag_db, "init", env={"PARLEY_DB": str(env_db)})
    assert result.exit_code == 0 and flag_db.exists()


def test_db_that_is_not_a_database_is_a_one_line_error(tmp_path):
    # regression: "file is not a database" came out as a traceback
    path = tmp_path / "notes.db"
    path.write_text("shopping list\n" * 200)
    result = run_db(path, "stats")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "notes.db" in result.stderr


# --------------------------------------------------------------------------- import


def test_import_json_summary_has_exactly_the_contract_keys(seeded, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE)
    result = ok_db(seeded, "import", tmp_path / "a.txt", "--json")
    report = json.loads(result.stdout)
    assert set(report) == IMPORT_KEYS
    assert report == {"articles_added": 1, "articles_skipped_duplicate": 0,
                      "sentences_added": 3, "errors": []}
    again = json.loads(ok_db(seeded, "import", tmp_path / "a.txt", "--json").stdout)
    assert again == {"articles_added": 0, "articles_skipped_duplicate": 1,
                     "sentences_added": 0, "errors": []}


def test_reimport_is_reported_in_the_plain_summary(seeded, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE)
    ok_db(seeded, "import", tmp_path / "a.txt")
    before = dump(seeded)
    result = ok_db(seeded, "import", tmp_path / "a.txt", ROOT / "seeds" / f"{SEED_ID}.txt")
    assert "0 articles added" in result.stdout and "2 already present" in result.stdout
    assert dump(seeded) == before


def test_import_field_flags(seeded, tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps({"story": "Russia demanded guarantees.", "hed": "Talks",
                                "doc": "d-9"}) + "\n")
    ok_db(seeded, "import", path, "--text-field", "story", "--title-field", "hed",
           "--id-field", "doc")
    rows = jsonl(ok_db(seeded, "sentences", "--article", "d-9", "--json").stdout)
    assert [(r["id"], r["text"]) for r in rows] == [("d-9:0", "Russia demanded guarantees.")]


def test_import_format_flag(seeded, tmp_path):
    path = tmp_path / "feed.txt"
    path.write_text("id,text\nc-1,A CSV story.\n")
    ok_db(seeded, "import", path, "--format", "csv")
    rows = jsonl(ok_db(seeded, "sentences", "--article", "c-1", "--json").stdout)
    assert [r["text"] for r in rows] == ["A CSV story."]


def test_import_a_folder_with_a_bad_file_changes_nothing(seeded, tmp_path):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(ARTICLE)
    (folder / "sub" / "b.jsonl").write_text('{"id": "b1", "text": "Good."}\n')
    (folder / "sub" / "c.csv").write_text("title,summary\nT,S\n")  # no text column
    (folder / "z.md").write_text("# Last\n\nA good file after the bad one.\n")
    before = dump(seeded)
    result = run_db(seeded, "import", folder, "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {folder / 'sub' / 'c.csv'}:1: no text field")
    assert result.stderr.count("\n") == 1
    assert dump(seeded) == before

    result = ok_db(seeded, "import", folder, "--skip-bad", "--json")
    report = json.loads(result.stdout)
    assert (report["articles_added"], report["articles_skipped_duplicate"]) == (3, 0)
    assert len(report["errors"]) == 1 and report["errors"][0].startswith(str(folder / "sub" / "c.csv"))
    assert "c.csv" in result.stderr  # the bad file is listed for a human too
    stats = json.loads(ok_db(seeded, "stats", "--json").stdout)
    assert stats["articles"] == 4


def test_skip_bad_rows(seeded, tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("id,text\nr1,Good one.\nr2,Good two.,extra\nr3,Good three.\n")
    result = ok_db(seeded, "import", path, "--skip-bad", "--json")
    report = json.loads(result.stdout)
    assert report["articles_added"] == 2
    assert report["errors"] == [f"{path}:3: expected 2 fields (id, text), found 3"]


def _bad_files(tmp: Path) -> dict[str, Path]:
    files = {
        "empty": ("empty.txt", b""),
        "binary": ("photo.txt", b"\x00\x01\x02\xff" * 100),
        "encoding": ("latin1.txt", "Genève talks".encode("latin-1")),
        "csv-no-text": ("nocol.csv", b"title,summary\nT,S\n"),
        "broken-json-line": ("broken.jsonl", b'{"text": "ok"}\n{"text": oops}\n'),
        "json-array": ("array.jsonl", b'[{"text": "a"}]'),
        "10mb-line": ("long.txt", b"x" * 10_000_000),
    }
    out = {}
    for key, (name, data) in files.items():
        (tmp / name).write_bytes(data)
        out[key] = tmp / name
    return out


@pytest.mark.parametrize("kind", ["empty", "binary", "encoding", "csv-no-text",
                                  "broken-json-line", "json-array", "10mb-line"])
def test_bad_input_is_one_line_exit_1_and_the_database_unchanged(seeded, tmp_path, kind):
    path = _bad_files(tmp_path)[kind]
    before = dump(seeded)
    result = run_db(seeded, "import", path, "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {path}")
    assert "Traceback" not in result.stderr
    assert dump(seeded) == before


def test_bad_input_through_python_m_has_no_traceback(seeded, tmp_path):
    paths = _bad_files(tmp_path)
    before = dump(seeded)
    for kind in ("broken-json-line", "encoding", "10mb-line"):
        proc = python_m("--db", seeded, "import", paths[kind])
        assert proc.returncode == 1, (kind, proc.stderr)
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: "), proc.stderr
        assert "Traceback" not in proc.stderr
    assert dump(seeded) == before


def test_usage_errors_exit_2(seeded, tmp_path):
    for args in (["import"], ["import", "x.txt", "--format", "xml"], ["no-such-command"],
                 ["stats", "--bogus"]):
        proc = python_m("--db", seeded, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_missing_file_is_exit_1(seeded, tmp_path):
    result = run_db(seeded, "import", tmp_path / "nope.jsonl")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'nope.jsonl'}: no such file or folder\n"


def test_non_tty_import_of_many_files_prints_no_progress_bar(seeded, tmp_path):
    for i in range(30):
        (tmp_path / f"f{i:02d}.txt").write_text(f"Story number {i} was filed on Monday.")
    result = ok_db(seeded, "import", tmp_path, "--json")
    assert json.loads(result.stdout)["articles_added"] == 30
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""


def on_a_terminal(*args) -> tuple[int, bytes, bytes]:
    """``python -m labeling *args`` with stderr on a terminal (a pty): exit code, stdout
    and what the terminal received."""
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "labeling", *map(str, args)], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=slave, env={**os.environ, "PYTHONPATH": str(ROOT)})
        os.close(slave)
        slave = -1
        stdout, _ = proc.communicate(timeout=120)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    return proc.returncode, stdout, b"".join(chunks)


def test_tty_import_of_many_files_shows_a_progress_bar_on_stderr(seeded, tmp_path):
    """With stderr on a terminal a bar is drawn there; stdout stays pure JSON."""
    for i in range(30):
        (tmp_path / f"f{i:02d}.txt").write_text(f"Story number {i} was filed on Monday.")
    returncode, stdout, terminal = on_a_terminal("--db", seeded, "import", tmp_path, "--json")
    assert returncode == 0
    assert json.loads(stdout)["articles_added"] == 30
    assert b"importing" in terminal


def test_tty_export_shows_a_progress_bar_unless_json(seeded, tmp_path):
    returncode, stdout, terminal = on_a_terminal("--db", seeded, "export", "--out",
                                                 tmp_path / "plain")
    assert returncode == 0 and b"sentences exported to" in stdout
    assert b"exporting" in terminal and b"100%" in terminal
    returncode, stdout, terminal = on_a_terminal("--db", seeded, "export", "--out",
                                                 tmp_path / "json", "--json")
    assert returncode == 0 and json.loads(stdout)["files"]
    assert b"exporting" not in terminal


# --------------------------------------------------------------------------- sentences


def test_sentences_json_lines_with_contract_keys_and_slices(seeded, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE)
    ok_db(seeded, "import", tmp_path / "a.txt")
    rows = jsonl(ok_db(seeded, "sentences", "--json").stdout)
    assert len(rows) == 33 + 3
    conn = sqlite3.connect(str(seeded))
    texts = dict(conn.execute("SELECT external_id, text FROM articles"))
    conn.close()
    for r in rows:
        assert set(r) == SENTENCE_KEYS
        assert r["id"] == f"{r['article']}:{r['index']}"
        assert r["text"] == texts[r["article"]][r["start"]:r["end"]]
    kinds = [r["kind"] for r in rows if r["article"] == SEED_ID]
    assert kinds.count("content") == 27 and kinds.count("boilerplate") == 6  # all kinds listed


def test_sentences_of_one_article(seeded, tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE)
    ok_db(seeded, "import", tmp_path / "a.txt")
    rows = jsonl(ok_db(seeded, "sentences", "--article", "a", "--json").stdout)
    assert [r["id"] for r in rows] == ["a:0", "a:1", "a:2"]
    plain = ok_db(seeded, "sentences", "--article", "a").stdout
    assert "a:1" in plain and "No agreement was reached." in plain


def test_sentences_of_an_unknown_article_is_exit_1(seeded):
    result = run_db(seeded, "sentences", "--article", "nope")
    assert result.exit_code == 1
    assert "nope" in result.stderr and result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- stats


def test_stats_json_keys_and_values(seeded, tmp_path):
    stats = json.loads(ok_db(seeded, "stats", "--json").stdout)
    assert set(stats) == STATS_KEYS
    assert stats == {"articles": 1, "sentences": 33, "content_sentences": 27,
                     "annotators": 0, "annotations": 0, "gold": 0}
    (tmp_path / "a.txt").write_text(ARTICLE)
    ok_db(seeded, "import", tmp_path / "a.txt")
    stats = json.loads(ok_db(seeded, "stats", "--json").stdout)
    assert (stats["articles"], stats["sentences"], stats["content_sentences"]) == (2, 36, 30)
    plain = ok_db(seeded, "stats").stdout
    assert "content_sentences" in plain and "36" in plain


# --------------------------------------------------------------------------- help


def test_the_walk_sees_the_foundation_commands():
    names = {path for path, _ in walk_commands(cli)}
    assert {("init",), ("import",), ("sentences",), ("stats",)} <= names


def test_every_command_has_help_with_an_example():
    """Every command, including those other modules register on the group later."""
    assert "Example" in (cli.help or "")
    missing = []
    for path, cmd in walk_commands(cli):
        result = run(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        if "Example" not in result.output or not (cmd.help or "").strip():
            missing.append(" ".join(path))
    assert missing == [], f"commands without an example in their help: {missing}"
