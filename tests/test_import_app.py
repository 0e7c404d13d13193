"""The Import page (admins) through AppTest, and the pieces under it: labeling/uploads.py
(staging uploads for the import's reader) and the preview / column / progress additions
to labeling/ingest.py.

Uploads in AppTest go through ``FileUploader.set_value`` (Streamlit 1.67), so the whole
flow (columns, preview, import, errors naming the uploaded file and line) is driven
here; the browser test (tests/test_browser_import.py) uploads real files through the
page's file input."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import db.articles as articles_db
from labeling import annotate, corpus, ingest, safe_markdown, uploads
from labeling.ingest import FieldMap, IngestError
from tests.conftest import ROOT, dump
from tests.test_export import add_article, label, people

PAGE = "labeling/ui/import_articles.py"
PASSWORD = "admins need one too"
SEED = ROOT / "seeds" / "000_0a083b07f5e0d51c.txt"

CSV = (b"headline,body,ref\n"
       b"Talks stall,The United States and Russia met on Monday. No deal was reached.,n-1\n"
       b"Envoys meet,Iran demanded the lifting of sanctions. The E.U. warned of costs.,n-2\n")
NO_TEXT_CSV = b"headline,story_body,ref\nA,Some text here. More text.,1\nB,Other text. Again.,2\n"


def jsonl(*objs, raw_line3: str | None = None) -> bytes:
    lines = [json.dumps(o) for o in objs]
    if raw_line3 is not None:
        lines.insert(2, raw_line3)
    return ("\n".join(lines) + "\n").encode()


GOOD_JSONL = jsonl({"id": "j-1", "text": "Talks resumed in Vienna. Both sides spoke."},
                   {"id": "j-2", "text": "The ceasefire held overnight. Aid arrived."},
                   {"id": "j-4", "text": "Negotiators left Geneva. A deal is near."})
BAD_JSONL = jsonl({"id": "b-1", "text": "The first one is fine. Really."},
                  {"id": "b-2", "text": "So is the second. Truly."},
                  {"id": "b-4", "text": "And the fourth. Also fine."},
                  raw_line3='{"id": "b-3", "text": "broken')


pytestmark = pytest.mark.usefixtures("fresh_caches")


@pytest.fixture
def team(empty_db):
    """Two admins (with passwords), a reviewer and an annotator."""
    annotate.add_annotator(empty_db, "adam", "admin", PASSWORD)
    annotate.add_annotator(empty_db, "ada", "admin", PASSWORD)
    annotate.add_annotator(empty_db, "rita", "reviewer", PASSWORD)
    annotate.add_annotator(empty_db, "alice")
    return empty_db


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Temporary folders (the staged uploads) go under this test's own folder."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def open_app(name: str | None, password: str | None = PASSWORD) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if name is not None:
        at.query_params["annotator"] = name
    at.run()
    assert not at.exception, at.exception
    if password is not None and name is not None:
        at.text_input(key="password").input(password).run()
        assert not at.exception, at.exception
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key="import_files").set_value(
        [(name, data, "application/octet-stream") for name, data in files]).run()
    assert not at.exception, at.exception
    return at


def keys(at: AppTest, kind: str) -> set[str]:
    return {w.key for w in at.get(kind) if getattr(w, "key", None)}


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def unescape(text: str) -> str:
    """What markdown shows for text escaped by safe_markdown.literal."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


# ------------------------------------------------------------------------ who sees it


def test_an_admin_gets_uploader_and_removal(team):
    at = open_app("adam")
    assert [h.value for h in at.header] == ["Import"]
    assert keys(at, "file_uploader") == {"import_files"}
    up = at.file_uploader(key="import_files")
    assert up.accept_multiple_files
    assert set(up.allowed_type) >= {".txt", ".md", ".csv", ".tsv", ".jsonl"}
    assert up.proto.max_upload_size_mb == uploads.MAX_FILE_MB
    assert any(f"{uploads.MAX_FILE_MB} MB a file" in c.value for c in at.caption)
    assert not at.error


@pytest.mark.parametrize("name,password", [("alice", None), ("rita", PASSWORD), (None, None)])
def test_others_are_not_offered_the_page(team, name, password):
    """An annotator, a reviewer and a signed-out visitor: app.py does not register the
    Import page for them, so switching to it fails (in the browser, /import opens the
    default page: tests/test_browser_import.py) and nothing of it is drawn."""
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        open_app(name, password)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if name is not None:
        at.query_params["annotator"] = name
    at.run()
    assert "import_files" not in keys(at, "file_uploader")
    assert "remove_button" not in keys(at, "button")


@pytest.mark.parametrize("person", [None, {"name": "alice", "role": "annotator"},
                                    {"name": "alice", "role": "admin"}])
def test_the_page_refuses_by_itself(team, person):
    """Run directly (not through app.py): the page checks the role in the database,
    so even a session claiming 'admin' for an annotator gets the refusal."""
    if person is not None:
        person["id"] = annotate.find_annotator(team, "alice")["id"]
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.session_state["person"] = person
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["This page is for admins only. Ask an admin for access."]
    assert not at.file_uploader and not at.header


# ------------------------------------------------------------------------- importing


def test_csv_columns_preview_and_import(team, private_tmp):
    at = upload(open_app("adam"), ("news.csv", CSV))
    assert at.selectbox(key="import_text_field").value == "body"
    assert at.selectbox(key="import_title_field").value == "headline"
    assert at.selectbox(key="import_id_field").value == uploads.NONE_CHOICE  # "ref" is no id name
    assert at.selectbox(key="import_id_field").options == ["(none)", "headline", "body", "ref"]
    at.selectbox(key="import_id_field").select("ref").run()
    assert [t.value for t in at.text][0] == "id: n-1\ntitle: Talks stall"
    table = at.dataframe[0].value
    assert list(table["sentence"]) == ["The United States and Russia met on Monday.",
                                       "No deal was reached."]
    assert list(table["kind"]) == ["content", "content"]
    before = articles_db.stats(team)
    at.button(key="import_button").click().run()
    assert not at.exception and not at.error
    assert [s.value for s in at.success] == [
        "2 articles added (4 sentences), 0 duplicates skipped, 0 bad rows or files skipped."]
    after = articles_db.stats(team)
    assert after["articles"] == before["articles"] + 2 and after["sentences"] == 4
    stored = {a["external_id"]: a["title"] for a in corpus.articles(team)}
    assert stored == {"n-1": "Talks stall", "n-2": "Envoys meet"}
    assert list(private_tmp.iterdir()) == []  # the staged uploads are gone
    # importing again: nothing added, both listed as duplicates, by upload name and line
    at.button(key="import_button").click().run()
    assert at.success[0].value.startswith("0 articles added (0 sentences), 2 duplicates")
    dupes = at.dataframe[-1].value
    assert list(dupes["where"]) == ["news.csv:2", "news.csv:3"]


def test_a_csv_without_a_text_column_says_which_columns_exist(team):
    at = upload(open_app("adam"), ("odd.csv", NO_TEXT_CSV))
    assert at.selectbox(key="import_text_field").value is None
    warning = unescape(at.warning[0].value)
    assert "No text column found" in warning
    assert "The columns are: headline, story_body, ref." in warning
    assert at.button(key="import_button").disabled
    # the preview says the same as the import would
    assert any("odd.csv:1: no text field found" in unescape(e) for e in errors(at))
    at.selectbox(key="import_text_field").select("story_body").run()
    assert not at.button(key="import_button").disabled and not at.warning
    at.button(key="import_button").click().run()
    assert at.success and at.success[0].value.startswith("2 articles added")
    assert {a["external_id"] for a in corpus.articles(team)} == {"odd-1", "odd-2"}


def test_none_as_title_leaves_the_title_out(team):
    at = upload(open_app("adam"), ("news.csv", CSV))
    at.selectbox(key="import_title_field").select(uploads.NONE_CHOICE).run()
    assert [t.value for t in at.text][0] == "id: news-1\ntitle: (none)"
    at.button(key="import_button").click().run()
    assert {a["title"] for a in corpus.articles(team)} == {None}


def test_a_bad_jsonl_among_good_files_writes_nothing_and_names_file_and_line(
        team, db_path, private_tmp):
    at = upload(open_app("adam"), ("good.jsonl", GOOD_JSONL), ("news.csv", CSV),
                ("broken.jsonl", BAD_JSONL))
    before = dump(db_path)
    at.button(key="import_button").click().run()
    assert not at.exception and not at.success
    shown = [unescape(e) for e in errors(at)]
    assert shown == ["broken.jsonl:3: invalid JSON: Invalid control character at "
                     "(column 30)"]
    assert dump(db_path) == before  # the database is exactly as it was
    assert list(private_tmp.iterdir()) == []
    for text in shown + [c.value for c in at.caption]:
        assert "parley-upload" not in text and str(private_tmp) not in text


def test_the_page_says_what_the_command_line_says(team, tmp_path, monkeypatch):
    """The same files under the same names: the command line's message, word for word."""
    from click.testing import CliRunner

    from labeling.cli import cli

    at = upload(open_app("adam"), ("good.jsonl", GOOD_JSONL), ("broken.jsonl", BAD_JSONL))
    at.button(key="import_button").click().run()
    folder = tmp_path / "cli"
    folder.mkdir()
    (folder / "good.jsonl").write_bytes(GOOD_JSONL)
    (folder / "broken.jsonl").write_bytes(BAD_JSONL)
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(cli, ["import", "good.jsonl", "broken.jsonl"])
    assert result.exit_code == 1
    assert [unescape(e) for e in errors(at)] == [result.output.strip().removeprefix("Error: ")]


def test_skip_bad_imports_the_rest_and_lists_what_was_skipped(team):
    at = upload(open_app("adam"), ("good.jsonl", GOOD_JSONL), ("broken.jsonl", BAD_JSONL))
    at.checkbox(key="import_skip_bad").check().run()
    at.button(key="import_button").click().run()
    assert at.success[0].value.startswith("6 articles added")
    assert "1 bad rows or files skipped" in at.success[0].value
    skipped = next(d.value for d in at.dataframe if "error" in d.value.columns)
    assert list(skipped["error"]) == ["broken.jsonl:3: invalid JSON: Invalid control "
                                      "character at (column 30)"]
    assert {a["external_id"] for a in corpus.articles(team)} == {
        "j-1", "j-2", "j-4", "b-1", "b-2", "b-4"}


def test_the_same_file_twice_does_not_overwrite_and_imports_once(team):
    at = upload(open_app("adam"), ("news.csv", CSV), ("news.csv", CSV))
    at.button(key="import_button").click().run()
    assert at.success[0].value.startswith("2 articles added (4 sentences), 2 duplicates")
    dupes = next(d.value for d in at.dataframe if "where" in d.value.columns)
    assert list(dupes["where"]) == ["news.csv (upload 2):2", "news.csv (upload 2):3"]


def test_two_text_files_of_one_name_but_different_text_clash_by_id(team, db_path):
    """As on the command line, a text file's id is its name: two different files
    called the same are refused (nothing written), and the message names both."""
    at = upload(open_app("adam"), ("a.txt", b"One text. Here it is.\n"),
                ("a.txt", b"Another text. Not the same.\n"))
    before = dump(db_path)
    at.button(key="import_button").click().run()
    assert [unescape(e) for e in errors(at)] == [
        "a.txt (upload 2): id 'a' is used twice (also at a.txt) with different text"]
    assert dump(db_path) == before


def test_hostile_file_names(team, db_path, private_tmp):
    """A path in the name stays inside the staging folder (the id is the base name);
    markdown and HTML in a name are escaped in every message."""
    outside = private_tmp.parent / "evil.txt"
    at = upload(open_app("adam"), ("../../evil.txt", b"Evil text. But harmless.\n"),
                ("**x**<b>.csv", b"text\nfine row. ok.\n\"broken\n"))
    assert not outside.exists()
    at.button(key="import_button").click().run()
    raw = errors(at)
    assert raw == [safe_markdown.literal(
        "**x**<b>.csv:3: bad CSV: unbalanced quotes: a quoted field runs to the end of "
        "the file")]
    assert raw[0].startswith(r"\*\*x\*\*\<b\>\.csv\:3\:")
    assert articles_db.stats(team)["articles"] == 0
    at.checkbox(key="import_skip_bad").check().run()
    at.button(key="import_button").click().run()
    assert {a["external_id"] for a in corpus.articles(team)} == {"evil", "**x**<b>-1"}
    assert not outside.exists() and list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("name,data,problem", [
    ("empty.txt", b"", "empty.txt: the file is empty"),
    ("blank.csv", b"\n\n  \n", "blank.csv: the file is empty"),
    ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.txt: this is an image, not text"),
    ("nul.txt", b"text\x00more", "nul.txt:1: binary data (a NUL byte)"),
])
def test_empty_and_binary_files_are_refused_by_name(team, db_path, name, data, problem):
    at = upload(open_app("adam"), ("ok.txt", b"Fine text. Indeed.\n"), (name, data))
    before = dump(db_path)
    at.button(key="import_button").click().run()
    shown = [unescape(e) for e in errors(at)]
    assert len(shown) == 1 and shown[0].startswith(problem)
    assert dump(db_path) == before


def test_the_preview_shows_a_bad_first_file_instead_of_a_table(team):
    at = upload(open_app("adam"), ("first.jsonl", b'{"text": 5}\n'))
    assert [unescape(e) for e in errors(at)] == ["first.jsonl:1: field 'text' must be text, not int"]
    assert not at.dataframe


def test_the_preview_shows_boilerplate_and_an_article_already_stored(project_db, team):
    at = upload(open_app("adam"), (SEED.name, SEED.read_bytes()))
    table = at.dataframe[0].value
    assert set(table["kind"]) == {"content", "boilerplate"}
    assert [t.value for t in at.text][0].startswith("id: 000_0a083b07f5e0d51c\n")
    assert any("already in the project (as 000_0a083b07f5e0d51c)" in unescape(i.value)
               for i in at.info)


def test_too_big_uploads_are_refused_before_reading(team, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_FILE_MB", 1)
    at = upload(open_app("adam"), ("big.txt", b"x. " * 400_000))
    assert [unescape(e) for e in errors(at)] == [
        "big.txt: 1 MB, more than the 1 MB the Import page takes; import it with "
        "python -m labeling import"]
    assert "import_button" not in keys(at, "button")


def test_an_admin_demoted_before_pressing_import_imports_nothing(team):
    at = upload(open_app("adam"), ("news.csv", CSV))
    annotate.add_annotator(team, "adam", "annotator", update=True)
    at.button(key="import_button").click().run()
    assert articles_db.stats(team)["articles"] == 0
    assert "import_files" not in keys(at, "file_uploader")


# -------------------------------------------------------------------------- removing


@pytest.fixture
def project_with_articles(team):
    p = people(team, "bob")
    add_article(team, "clean", ["One sentence.", "Two sentences."], title="**Clean** <b>")
    sids = add_article(team, "worked", ["Labeled here.", "And here."], title="Worked")
    label(team, p["bob"], sids[0], "demand")
    return team


def test_removing_an_article_without_labels(project_with_articles):
    at = open_app("adam")
    at.selectbox(key="remove_article").select("clean").run()
    assert [t.value for t in at.text] == ["id: clean\ntitle: **Clean** <b>"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Sentences": "2", "To label": "2", "Labels": "0", "Gold": "0"}
    at.button(key="remove_button").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [safe_markdown.literal(
        "Removed clean: 2 sentences, 0 labels, 0 gold labels.")]
    assert [a["external_id"] for a in corpus.articles(project_with_articles)] == ["worked"]
    log = articles_db.project_log(project_with_articles, "remove_article")
    assert [(e["actor"], e["detail"]["article"], e["detail"]["forced"]) for e in log] == [
        ("app:adam", "clean", False)]
    assert at.selectbox(key="remove_article").value is None


def test_an_article_with_labels_is_refused_unless_confirmed(project_with_articles):
    at = open_app("adam")
    at.selectbox(key="remove_article").select("worked").run()
    assert {m.label: m.value for m in at.metric}["Labels"] == "1"
    assert "1 labels and 0 gold" in at.checkbox(key="remove_force").label
    at.button(key="remove_button").click().run()
    refusal = unescape(errors(at)[0])
    assert refusal.startswith("article 'worked' has 1 label(s), 1 logged action(s) and "
                              "0 gold label(s); removing it deletes them too")
    assert "tick “Also delete…” to confirm" in refusal and "--force" not in refusal
    assert "worked" in {a["external_id"] for a in corpus.articles(project_with_articles)}
    at.checkbox(key="remove_force").check().run()
    at.button(key="remove_button").click().run()
    assert unescape(at.success[0].value) == "Removed worked: 2 sentences, 1 labels, 0 gold labels."
    assert "worked" not in {a["external_id"] for a in corpus.articles(project_with_articles)}
    assert articles_db.project_log(project_with_articles, "remove_article")[-1]["detail"]["forced"] is True
    at.selectbox(key="remove_article").select("clean").run()  # the next one starts unticked
    assert at.checkbox(key="remove_force").value is False


def test_the_removal_checks_the_role_when_it_runs(project_with_articles):
    """The Remove callback runs before the page's own role check: it must check too."""
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    adam = annotate.find_annotator(project_with_articles, "adam")
    at.session_state["person"] = {"id": adam["id"], "name": "adam", "role": "admin"}
    at.run()
    at.selectbox(key="remove_article").select("clean").run()
    annotate.add_annotator(project_with_articles, "adam", "annotator", update=True)
    at.button(key="remove_button").click().run()
    assert "clean" in {a["external_id"] for a in corpus.articles(project_with_articles)}
    assert articles_db.project_log(project_with_articles, "remove_article") == []


# ---------------------------------------------------------------- labeling/uploads.py


@pytest.mark.parametrize("name,safe", [
    ("../../evil.txt", "evil.txt"), ("..\\..\\win.csv", "win.csv"),
    ("/etc/passwd.txt", "passwd.txt"), ("**x**<b>.csv", "**x**<b>.csv"),
    ("..jsonl", "jsonl"), ("", "upload"), (".txt", "txt"), ("tab\there.md", "tabhere.md"),
    ("\ud800x.txt", "?x.txt"), ("a" * 400 + ".jsonl", "a" * 194 + ".jsonl"),
])
def test_safe_name(name, safe):
    assert uploads.safe_name(name) == safe


def test_staging_keeps_names_apart_and_removes_only_its_folder(private_tmp):
    keep = private_tmp / "someone-elses.txt"
    keep.write_text("not ours")
    ups = [uploads.Upload("a.txt", b"one"), uploads.Upload("../a.txt", b"two")]
    with uploads.stage(ups) as staged:
        assert staged.folder.parent == private_tmp
        assert [p.read_bytes() for p in staged.paths] == [b"one", b"two"]
        assert [p.name for p in staged.paths] == ["a.txt", "a.txt"]
        assert staged.names == ["a.txt", "../a.txt"]
        assert staged.message(f"{staged.paths[1]}:3: bad") == "../a.txt:3: bad"
    assert sorted(private_tmp.iterdir()) == [keep]
    assert uploads.display_names(["a", "b", "a", "a"]) == ["a", "b", "a (upload 3)",
                                                           "a (upload 4)"]


def test_check_refuses_other_extensions_and_too_much(monkeypatch):
    with pytest.raises(IngestError, match=r"^notes\.pdf: not a file Parley imports"):
        uploads.check([uploads.Upload("notes.pdf", b"x")])
    monkeypatch.setattr(uploads, "MAX_TOTAL_MB", 1)
    with pytest.raises(IngestError, match="together, more than the 1 MB"):
        uploads.check([uploads.Upload("a.txt", b"x" * 700_000),
                       uploads.Upload("b.txt", b"x" * 700_000)])


def test_field_map_passes_detected_choices_as_detection():
    a = ingest.Columns("csv", ("title", "body"), text="body", title="title")
    b = ingest.Columns("jsonl", ("title", "body", "id"), text="body", title="title", id="id")
    assert uploads.field_map([a, b], "body", "title", "(none)") == FieldMap(id=ingest.NO_FIELD)
    assert uploads.field_map([a], "body", "title", "(none)") == FieldMap()
    assert uploads.field_map([a], "title", "(none)", None) == FieldMap(
        text="title", title=ingest.NO_FIELD)


def test_markdown_literal_escapes_every_ascii_punctuation():
    text = "$5 **x** [a](b) :material/home: <b> `c` #h ~s~ |t|\nnext"
    out = safe_markdown.literal(text)
    assert unescape(out) == text.replace("\n", " ")
    assert all(out[i - 1] == "\\" for i, c in enumerate(out) if c in "$*[]():/<>`#~|")


# ------------------------------------------------------------ ingest additions


def test_detect_columns(tmp_path):
    csv_path = tmp_path / "n.tsv"
    csv_path.write_text("Headline\tBody\tDOC_ID\nx\ty\tz\n")
    assert ingest.detect_columns(csv_path) == ingest.Columns(
        "csv", ("Headline", "Body", "DOC_ID"), text="Body", title="Headline", id="DOC_ID")
    jl = tmp_path / "n.jsonl"
    jl.write_text('{"content": "a"}\n\n{"content": "b", "guid": 1}\nnot json\n')
    assert ingest.detect_columns(jl) == ingest.Columns(
        "jsonl", ("content", "guid"), text="content", id="guid")
    txt = tmp_path / "n.txt"
    txt.write_text("Text.")
    assert ingest.detect_columns(txt) == ingest.Columns("text")
    bad = tmp_path / "dup.csv"
    bad.write_text("text,text\na,b\n")
    with pytest.raises(IngestError, match=r"dup\.csv:1: the column 'text' appears twice"):
        ingest.detect_columns(bad)
    arr = tmp_path / "arr.jsonl"
    arr.write_text('[{"text": "a"}]\n')
    with pytest.raises(IngestError, match="a JSON array, not JSON Lines"):
        ingest.detect_columns(arr)


def test_no_field_leaves_an_optional_field_out(tmp_path, empty_db):
    path = tmp_path / "n.csv"
    path.write_text("title,text\nHead,Body text. More.\n")
    (art,) = ingest.read_file(path, fields=FieldMap(title=ingest.NO_FIELD))
    assert art.title is None and art.meta == {"title": "Head"}
    pre = ingest.preview(empty_db, path)
    assert pre.article.title == "Head" and pre.sentences == [("Body text.", "content"),
                                                            ("More.", "content")]
    assert pre.stored_as is None


def test_on_step_reports_reading_and_storing(tmp_path, empty_db, monkeypatch):
    monkeypatch.setattr(ingest, "STEP_ROWS", 2)
    monkeypatch.setattr(ingest, "STEP_ARTICLES", 2)
    a = tmp_path / "a.jsonl"
    a.write_text("".join(json.dumps({"text": f"Article {i}. Fine."}) + "\n" for i in range(5)))
    b = tmp_path / "b.txt"
    b.write_text("A text file. One article.")
    steps: list[ingest.ImportStep] = []
    report = ingest.import_paths(empty_db, [a, b], on_step=steps.append)
    assert report.articles_added == 6
    seen = [(s.phase, Path(s.path).name, s.file, s.done, s.total) for s in steps]
    assert seen == [("check", "a.jsonl", 1, 2, None), ("check", "a.jsonl", 1, 4, None),
                    ("check", "a.jsonl", 1, 5, None), ("check", "b.txt", 2, 1, None),
                    ("read", "a.jsonl", 1, 2, None), ("read", "a.jsonl", 1, 4, None),
                    ("read", "a.jsonl", 1, 5, None),
                    ("write", "a.jsonl", 1, 2, 5), ("write", "a.jsonl", 1, 4, 5),
                    ("write", "a.jsonl", 1, 5, 5),
                    ("read", "b.txt", 2, 1, None), ("write", "b.txt", 2, 1, 1)]
    assert all(s.files == 2 for s in steps)


def test_the_removal_list_is_bounded(team, monkeypatch):
    from labeling.ui import import_view

    monkeypatch.setattr(import_view, "_LISTED", 2)
    for n in range(3):
        add_article(team, f"art-{n}", [f"Sentence {n}."])
    at = open_app("adam")
    assert at.selectbox(key="remove_article").options == ["art-0 — Title", "art-1 — Title"]
    assert any("Listing the first 2 articles" in c.value for c in at.caption)


def test_a_failure_while_writing_says_what_was_already_imported(team, monkeypatch):
    """Bad files stop an import before anything is written; a storage failure at the
    second file comes after the first was stored, and the page says so."""
    from db.connection import DiskFull

    real = ingest._import_file
    calls = []

    def failing(db, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise DiskFull("the disk is full: free some space and try again")
        return real(db, path, *args, **kwargs)

    monkeypatch.setattr(ingest, "_import_file", failing)
    at = upload(open_app("adam"), ("news.csv", CSV), ("good.jsonl", GOOD_JSONL))
    at.button(key="import_button").click().run()
    assert errors(at) == [safe_markdown.literal(
        "the disk is full: free some space and try again")]
    assert any("The files before it were imported (2 articles)" in c.value for c in at.caption)
    assert articles_db.stats(team)["articles"] == 2


def test_the_server_refuses_what_the_page_refuses():
    """Streamlit's own limit (MB per file) is the page's, so a crafted client cannot
    send more than the page would take."""
    import tomllib

    from labeling import uploads

    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert conf["server"]["maxUploadSize"] == uploads.MAX_FILE_MB
