"""labeling/ingest/: files -> articles and sentences (library level; CLI in test_cli.py)."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import db as store
from labeling import ingest, project
from labeling.ingest import parallel
from labeling.ingest import FieldMap, IngestError, import_paths
from tests.conftest import dump

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "000_0a083b07f5e0d51c.txt"

ARTICLE = ("Talks stall in Geneva\n\n"
           "The United States and Russia met on Monday. No agreement was reached.\n\n"
           "Both sides said they would meet again.\n")
OTHER = ("Envoys meet in Vienna\n\n"
         "Iran demanded the lifting of sanctions. The E.U. warned of consequences.\n")


def articles(db) -> list[dict]:
    return list(db.query("SELECT * FROM articles ORDER BY id"))


def sentences(db, external_id: str | None = None) -> list[dict]:
    import db.articles as articles_db

    return list(articles_db.iter_sentences(db, external_id))


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def write_jsonl(path: Path, objs: list) -> Path:
    path.write_text("".join(json.dumps(o) + "\n" for o in objs), encoding="utf-8")
    return path


@pytest.fixture
def db(empty_db):
    return empty_db


# --------------------------------------------------------------------------- text files


def test_text_file_is_one_article_with_headline_title_and_stem_id(db, tmp_path):
    path = write(tmp_path / "geneva-talks.txt", ARTICLE)
    report = import_paths(db, [path])
    assert (report.articles_added, report.articles_skipped_duplicate, report.errors) == (1, 0, [])
    [art] = articles(db)
    assert art["external_id"] == "geneva-talks"
    assert art["title"] == "Talks stall in Geneva"
    assert art["text"] == ARTICLE
    rows = sentences(db)
    assert report.sentences_added == len(rows) == 4
    assert [r["id"] for r in rows] == [f"geneva-talks:{i}" for i in range(4)]
    assert rows[0]["text"] == "Talks stall in Geneva"
    assert rows[1]["text"] == "The United States and Russia met on Monday."


def test_sentence_text_is_the_article_slice(db, tmp_path):
    import_paths(db, [SEED, write(tmp_path / "a.txt", ARTICLE)])
    texts = {a["external_id"]: a["text"] for a in articles(db)}
    rows = sentences(db)
    assert rows
    for r in rows:
        assert r["text"] == texts[r["article"]][r["start"]:r["end"]]
        assert r["id"] == f"{r['article']}:{r['index']}"
    by_article: dict[str, list[int]] = {}
    for r in rows:
        by_article.setdefault(r["article"], []).append(r["index"])
    assert all(v == list(range(len(v))) for v in by_article.values())


def test_no_title_when_first_line_is_not_a_headline(db, tmp_path):
    # the first line runs straight on into the paragraph
    write(tmp_path / "a.txt", "The talks ended\nwithout an agreement on Monday.\n\nMore text.")
    # a single paragraph only
    write(tmp_path / "b.txt", "Russia demanded guarantees.")
    # a first paragraph that is a sentence, not a headline
    write(tmp_path / "c.txt", "The talks in Geneva ended on Monday without any agreement.\n\n"
                              "Both sides will meet again.")
    import_paths(db, [tmp_path])
    assert [(a["external_id"], a["title"]) for a in articles(db)] == [
        ("a", None), ("b", None), ("c", None)]


def test_markdown_file_title_drops_the_heading_marks(db, tmp_path):
    write(tmp_path / "story.md", "# Envoys meet in Vienna\n\nIran demanded the lifting of sanctions.\n")
    import_paths(db, [tmp_path / "story.md"])
    [art] = articles(db)
    assert (art["external_id"], art["title"]) == ("story", "Envoys meet in Vienna")
    assert art["text"].startswith("# Envoys")  # the text itself is stored literally


# --------------------------------------------------------------------------- CSV / JSONL


def test_csv_one_article_per_row_with_detected_fields(db, tmp_path):
    path = write_csv(tmp_path / "news.csv", [
        ["ID", "Headline", "Body", "URL", "section"],
        ["n1", "Talks stall", "Russia demanded guarantees. NATO refused.", "https://x/1", "world"],
        ["n2", "Envoys meet", "Iran warned of consequences.", "https://x/2", "asia"],
    ])
    report = import_paths(db, [path])
    assert (report.articles_added, report.sentences_added) == (2, 3)
    arts = articles(db)
    assert [(a["external_id"], a["title"], a["url"]) for a in arts] == [
        ("n1", "Talks stall", "https://x/1"), ("n2", "Envoys meet", "https://x/2")]
    assert arts[0]["text"] == "Russia demanded guarantees. NATO refused."
    assert json.loads(arts[0]["meta"]) == {"section": "world"}
    assert [r["id"] for r in sentences(db)] == ["n1:0", "n1:1", "n2:0"]


@pytest.mark.parametrize("text_col", ["text", "body", "content"])
@pytest.mark.parametrize("title_col", ["title", "headline"])
def test_common_field_names_are_detected(db, tmp_path, text_col, title_col):
    path = write_jsonl(tmp_path / "news.jsonl", [
        {"id": "x1", title_col: "Talks stall", text_col: "Russia demanded guarantees."}])
    import_paths(db, [path])
    [art] = articles(db)
    assert (art["external_id"], art["title"], art["text"]) == (
        "x1", "Talks stall", "Russia demanded guarantees.")


def test_fields_chosen_by_flag(db, tmp_path):
    path = write_jsonl(tmp_path / "news.jsonl", [
        {"text": "decoy", "story_text": "Russia demanded guarantees.", "hed": "Talks stall",
         "title": "decoy title", "doc": "D-1", "id": "decoy-id"},
    ])
    import_paths(db, [path], fields=FieldMap(text="story_text", title="hed", id="doc"))
    [art] = articles(db)
    assert (art["external_id"], art["title"], art["text"]) == (
        "D-1", "Talks stall", "Russia demanded guarantees.")


def test_a_field_given_by_flag_must_exist(db, tmp_path):
    path = write_csv(tmp_path / "news.csv", [["body", "title"], ["Some text.", "T"]])
    with pytest.raises(IngestError, match=r"news\.csv:1: no text field 'story'.*body, title"):
        import_paths(db, [path], fields=FieldMap(text="story"))


def test_ids_fall_back_to_stem_and_row_number(db, tmp_path):
    write_csv(tmp_path / "feed.csv", [["text"], ["First story here."], ["Second story here."]])
    write_jsonl(tmp_path / "wire.jsonl", [{"body": "Third story here."}, {"body": "Fourth one."}])
    import_paths(db, [tmp_path])
    assert [a["external_id"] for a in articles(db)] == ["feed-1", "feed-2", "wire-1", "wire-2"]
    assert sentences(db)[0]["id"] == "feed-1:0"


def test_numeric_ids_and_jsonl_rows_with_different_keys(db, tmp_path):
    path = write_jsonl(tmp_path / "w.jsonl", [
        {"id": 17, "text": "First story here."},
        {"id": 18, "content": "Second story here.", "headline": "Second"},
    ])
    import_paths(db, [path])
    assert [(a["external_id"], a["text"], a["title"]) for a in articles(db)] == [
        ("17", "First story here.", None), ("18", "Second story here.", "Second")]


def test_tsv_and_quoted_multiline_csv_fields(db, tmp_path):
    write(tmp_path / "a.tsv", "id\ttext\nt1\tA tab separated story.\n")
    write_csv(tmp_path / "b.csv", [["id", "text"], ["c1", 'He said, "no deal."\n\nThen he left.']])
    import_paths(db, [tmp_path])
    assert [(a["external_id"], a["text"]) for a in articles(db)] == [
        ("t1", "A tab separated story."), ("c1", 'He said, "no deal."\n\nThen he left.')]


# --------------------------------------------------------------------------- folders


def test_folders_are_walked_recursively(db, tmp_path):
    write(tmp_path / "corpus" / "a.txt", ARTICLE)
    write(tmp_path / "corpus" / "2022" / "jan" / "b.md", OTHER)
    write_jsonl(tmp_path / "corpus" / "2022" / "c.jsonl", [{"id": "c", "text": "Deep story."}])
    write(tmp_path / "corpus" / ".hidden" / "h.txt", "Hidden story.")
    write(tmp_path / "corpus" / ".h.txt", "Hidden file.")
    write(tmp_path / "corpus" / "image.png", b"\x89PNG\r\n")
    report = import_paths(db, [tmp_path / "corpus"])
    assert report.errors == []
    assert sorted(a["external_id"] for a in articles(db)) == ["a", "b", "c"]


def test_no_importable_files_is_an_error(db, tmp_path):
    write(tmp_path / "d" / "x.png", b"\x89PNG")
    with pytest.raises(IngestError, match="no importable files"):
        import_paths(db, [tmp_path / "d"])


def test_missing_path_is_an_error(db, tmp_path):
    with pytest.raises(IngestError, match="nope.txt: no such file"):
        import_paths(db, [tmp_path / "nope.txt"])


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("encoding,bom", [
    ("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"),
    ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
])
def test_encodings_read_to_the_same_text(db, tmp_path, encoding, bom):
    text = "Café talks — “no deal”\n\nThe envoy’s offer was rejected.\n"
    path = write(tmp_path / "x.txt", bom + text.encode(encoding))
    import_paths(db, [path])
    [art] = articles(db)
    assert art["text"] == text
    assert art["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_encoded_copies_are_duplicates(db, tmp_path):
    text = "Café talks\n\nThe envoy’s offer was rejected.\n"
    write(tmp_path / "a.txt", text)
    write(tmp_path / "b.txt", b"\xef\xbb\xbf" + text.encode())
    write(tmp_path / "c.txt", b"\xff\xfe" + text.encode("utf-16-le"))
    report = import_paths(db, [tmp_path])
    assert (report.articles_added, report.articles_skipped_duplicate) == (1, 2)


@pytest.mark.parametrize("name,data,pattern", [
    ("latin1.txt", "Café talks in Genève".encode("latin-1"), r"latin1\.txt:1: not valid UTF-8"),
    ("utf16-nobom.txt", "Talks in Geneva".encode("utf-16-le"), r"utf16-nobom\.txt:1: binary"),
    ("bad16.txt", b"\xff\xfe" + "Talks".encode("utf-16-le") + b"\x00\xd8", r"bad16\.txt: not valid UTF-16"),
    ("latin1.csv", "text\nCafé".encode("latin-1"), r"latin1\.csv:2: not valid UTF-8"),
])
def test_other_encodings_are_a_clear_error_naming_the_file(db, tmp_path, name, data, pattern):
    path = write(tmp_path / name, data)
    with pytest.raises(IngestError, match=pattern):
        import_paths(db, [path])


# --------------------------------------------------------------------------- normalisation


def test_crlf_copy_is_a_duplicate(db, tmp_path):
    write(tmp_path / "a.txt", ARTICLE)
    write(tmp_path / "b.txt", ARTICLE.replace("\n", "\r\n"))
    write(tmp_path / "c.txt", ARTICLE.replace("\n", "\r"))
    report = import_paths(db, [tmp_path])
    assert (report.articles_added, report.articles_skipped_duplicate) == (1, 2)
    assert report.duplicates == [str(tmp_path / "b.txt"), str(tmp_path / "c.txt")]


def test_nbsp_copy_is_a_duplicate_and_stored_text_is_normalised(db, tmp_path):
    nbsp = ARTICLE.replace("United States", "United\u00a0States").replace(" met", "\u202fmet")
    write(tmp_path / "a.txt", nbsp.replace("\n", "\r\n"))
    write(tmp_path / "b.txt", ARTICLE)
    report = import_paths(db, [tmp_path])
    assert (report.articles_added, report.articles_skipped_duplicate) == (1, 1)
    [art] = articles(db)
    assert art["text"] == ARTICLE
    assert art["sha256"] == hashlib.sha256(ARTICLE.encode()).hexdigest()


def test_normalised_before_hashing_in_csv_and_jsonl_too(db, tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"id": "j", "text": "Line one.\r\nLine\u00a0two."}])
    write_csv(tmp_path / "b.csv", [["id", "text"], ["c", "Line one.\nLine two."]])
    report = import_paths(db, [tmp_path])
    assert (report.articles_added, report.articles_skipped_duplicate) == (1, 1)
    assert articles(db)[0]["text"] == "Line one.\nLine two."


def test_article_hash_is_the_sha256_of_its_text(tmp_path):
    write(tmp_path / "a.txt", ARTICLE)
    write_jsonl(tmp_path / "b.jsonl", [{"text": "Caf\u00e9 \u201cquotes\u201d."}])
    arts = [a for f in ("a.txt", "b.jsonl") for a in ingest.read_file(tmp_path / f)]
    assert len(arts) == 2
    for art in arts:
        assert art.sha256 == hashlib.sha256(art.text.encode("utf-8")).hexdigest()


def test_normalise_is_idempotent_and_removes_cr_and_nbsp():
    raw = "a\r\nb\rc\u00a0d\u202fe\u2007f"
    once = ingest.normalise(raw)
    assert once == "a\nb\nc d e f"
    assert ingest.normalise(once) == once


# --------------------------------------------------------------------------- dedupe


def test_reimport_is_a_no_op_and_reported(db, db_path, tmp_path):
    write(tmp_path / "a.txt", ARTICLE)
    write_jsonl(tmp_path / "b.jsonl", [{"id": "b1", "text": OTHER}, {"id": "b2", "text": "X y."}])
    first = import_paths(db, [tmp_path])
    assert (first.articles_added, first.articles_skipped_duplicate) == (3, 0)
    before = dump(db_path)
    again = import_paths(db, [tmp_path])
    assert again.as_dict() == {"articles_added": 0, "articles_skipped_duplicate": 3,
                               "sentences_added": 0, "errors": []}
    assert dump(db_path) == before


def test_duplicate_rows_inside_one_file_are_skipped(db, tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "Same story."}, {"text": "Same story."}])
    report = import_paths(db, [path])
    assert (report.articles_added, report.articles_skipped_duplicate) == (1, 1)


def test_same_id_with_different_text_is_an_error(db, db_path, tmp_path):
    import_paths(db, [write(tmp_path / "x" / "story.txt", ARTICLE)])
    before = dump(db_path)
    with pytest.raises(IngestError, match=r"story\.txt: id 'story' already exists"):
        import_paths(db, [write(tmp_path / "y" / "story.txt", OTHER)])
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": "k", "text": "One."}, {"id": "k", "text": "Two."}])
    with pytest.raises(IngestError, match=r"c\.jsonl:2: id 'k' is used twice"):
        import_paths(db, [path])
    assert dump(db_path) == before


def _stale_first_lookup(monkeypatch):
    """Make the pre-lock lookup see an empty database, as if another import stored its
    rows between that lookup and this import's write transaction."""
    import db.articles as articles_db

    real = articles_db.existing_keys
    calls = []

    def stale(db, keys):
        calls.append(1)
        if len(calls) == 1:
            return set(), set()
        return real(db, keys)

    monkeypatch.setattr(articles_db, "existing_keys", stale)
    return calls


def test_text_stored_meanwhile_by_another_import_is_a_duplicate(db, tmp_path, monkeypatch):
    # regression: the UNIQUE(sha256) constraint failed the transaction with a traceback
    import_paths(db, [write(tmp_path / "x" / "a.txt", ARTICLE)])
    write(tmp_path / "y" / "a-copy.txt", ARTICLE)
    write(tmp_path / "y" / "b.txt", OTHER)
    calls = _stale_first_lookup(monkeypatch)
    report = import_paths(db, [tmp_path / "y" / "a-copy.txt"], skip_bad=True)
    assert len(calls) == 2
    assert (report.articles_added, report.articles_skipped_duplicate) == (0, 1)
    calls.clear()
    report = import_paths(db, [tmp_path / "y" / "b.txt"])
    assert report.articles_added == 1
    assert sorted(a["external_id"] for a in articles(db)) == ["a", "b"]


def test_id_stored_meanwhile_with_another_text_is_an_error(db, db_path, tmp_path, monkeypatch):
    import_paths(db, [write(tmp_path / "x" / "story.txt", ARTICLE)])
    before = dump(db_path)
    _stale_first_lookup(monkeypatch)
    with pytest.raises(IngestError, match="id 'story' already exists"):
        import_paths(db, [write(tmp_path / "y" / "story.txt", OTHER)])
    assert dump(db_path) == before


def test_concurrent_imports_of_the_same_files(db_path, tmp_path):
    """Two imports of one folder at once: each text stored once, no error."""
    import threading

    project.init(db_path, seed=False).close()
    for i in range(40):
        write(tmp_path / "c" / f"s{i:02d}.txt", f"Story {i} was filed on Monday. Talks went on.")
    reports, errors = [], []
    start = threading.Barrier(2)

    def run():
        conn = store.connect(db_path)
        try:
            start.wait()
            reports.append(import_paths(conn, [tmp_path / "c"]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.articles_added for r in reports) == 40
    assert sum(r.articles_skipped_duplicate for r in reports) == 40
    conn = sqlite3.connect(str(db_path))
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 40
    conn.close()


# --------------------------------------------------------------------------- bad input


BAD_FILES = {
    # name: (content, expected message part)
    "empty.txt": (b"", r"empty\.txt: the file is empty"),
    "blank.txt": (b"  \n\n \r\n", r"blank\.txt: the file is empty"),
    "bom-only.txt": (b"\xef\xbb\xbf", r"bom-only\.txt: the file is empty"),
    "binary.txt": (bytes(range(256)) * 4, r"binary\.txt:1: binary data"),
    "archive.txt": (b"PK\x03\x04" + b"\x00" * 50, r"archive\.txt: this is a zip archive"),
    "control.txt": (b"Some text\n\x1b[31mred\n", r"control\.txt:2: control character U\+001B"),
    "latin1.txt": ("Genève".encode("latin-1"), r"latin1\.txt:1: not valid UTF-8"),
    "nocol.csv": (b"title,summary\nT,S\n", r"nocol\.csv:1: no text field found.*--text-field"),
    "header-only.csv": (b"text,title\n", r"header-only\.csv: the CSV file has a header but no rows"),
    "broken.jsonl": (b'{"text": "Fine."}\n{"text": "Broken\n', r"broken\.jsonl:2: invalid JSON"),
    "array.jsonl": (b'[{"text": "a"}, {"text": "b"}]\n', r"array\.jsonl:1: a JSON array, not JSON Lines"),
    "array.json": (b'[\n  {"text": "a"}\n]\n', r"array\.json:1: a JSON array"),
    "scalar.jsonl": (b'{"text": "Fine."}\n"just a string"\n', r"scalar\.jsonl:2: expected a JSON object"),
    "surrogate.jsonl": (b'{"text": "Fine."}\n{"text": "Talks \\ud800 stall."}\n',
                        r"surrogate\.jsonl:2: invalid character U\+D800"),
    "nested.jsonl": (b'{"text": {"en": "x"}}\n', r"nested\.jsonl:1: field 'text' must be text"),
    "notext.jsonl": (b'{"text": "Fine."}\n{"title": "no text"}\n', r"notext\.jsonl:2: no text field"),
    "newline-header.csv": (b'"story\ntext",title\nS,T\n', r"newline-header\.csv:1: no text field"),
    "ragged.csv": (b"id,text\n1,Fine.\n2,Also fine.,extra\n", r"ragged\.csv:3: expected 2 fields"),
    "quote.csv": (b'id,text\n1,"never closed\n2,x\n', r"quote\.csv:2: bad CSV: unbalanced quotes"),
    "emptytext.csv": (b"id,text\n1,Fine.\n2,   \n", r"emptytext\.csv:3: the text field 'text' is empty"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_names_file_and_line_and_writes_nothing(db, db_path, tmp_path, name):
    data, pattern = BAD_FILES[name]
    path = write(tmp_path / name, data)
    before = dump(db_path)
    with pytest.raises(IngestError, match=pattern) as info:
        import_paths(db, [path])
    assert "\n" not in str(info.value)
    assert dump(db_path) == before


JSONL_CASES = {
    "good": b'{"id": "a", "text": "Caf\xc3\xa9 talks."}\r\n\n{"id": "b", "text": "More."}',
    "bom": b'\xef\xbb\xbf{"id": "a", "text": "With a BOM."}\n',
    "utf16": b"\xff\xfe" + '{"id": "a", "text": "UTF-16 \u201cquotes\u201d."}\n'.encode("utf-16-le"),
    "latin1": b'{"text": "fine"}\n{"text": "Gen\xe8ve"}\n',
    "nul": b'{"text": "fine"}\n{"text": "a"}\x00\n',
    "gzip": b"\x1f\x8b\x08\x00" + b"\x00" * 20,
    "empty": b"",
    "blank": b"\n  \n\r\n",
    "array-late": b"\n\n  [1, 2]\n",
    "broken": b'{"text": "fine"}\n{"text": \n{"text": "also fine"}\n',
}


def _outcome(path: Path):
    try:
        return [a.__dict__ if isinstance(a, ingest.Article) else ("row error", str(a))
                for a in ingest.read_file(path)]
    except IngestError as exc:
        return ("file error", exc.line, exc.message)


@pytest.mark.parametrize("case", sorted(JSONL_CASES))
def test_jsonl_read_line_by_line_equals_whole_file_read(tmp_path, case):
    """.jsonl is streamed (memory); a file of unknown extension is first sniffed for
    JSON Lines, then streamed too. Both must give the same articles and the same errors."""
    data = JSONL_CASES[case]
    streamed = _outcome(write(tmp_path / "a" / "x.jsonl", data))
    whole = _outcome(write(tmp_path / "b" / "x.data", data))
    if case in ("gzip", "empty", "blank", "nul", "latin1"):
        assert streamed[0] == "file error"

    def strip(o):  # the two files differ only in their folder and extension
        return json.loads(json.dumps(o, default=str).replace(str(tmp_path / "a" / "x.jsonl"), "P")
                          .replace(str(tmp_path / "b" / "x.data"), "P"))
    if case == "array-late":
        assert streamed[:2] == ("file error", 3) and "JSON array" in streamed[2]
    assert strip(streamed) == strip(whole)


@pytest.mark.parametrize("name,make", [
    ("long.txt", lambda n: "x" * n),
    ("long.jsonl", lambda n: json.dumps({"text": "x" * n})),
    ("long.csv", lambda n: "text\n" + "x" * n + "\n"),
])
def test_a_10mb_single_line_is_rejected(db, db_path, tmp_path, name, make):
    path = write(tmp_path / name, make(10_000_000))
    before = dump(db_path)
    with pytest.raises(IngestError, match=rf"{name}:\d: .*1,000,000"):
        import_paths(db, [path])
    assert dump(db_path) == before


def test_a_bad_row_rejects_the_whole_file(db, db_path, tmp_path):
    path = write(tmp_path / "rows.jsonl",
                 '{"id": "a", "text": "Good one."}\n'
                 '{"id": "b", "text": "Good two."}\n'
                 '{"id": "c", "text": 42}\n'
                 '{"id": "d", "text": "Good four."}\n')
    before = dump(db_path)
    with pytest.raises(IngestError, match=r"rows\.jsonl:3: field 'text' must be text, not int"):
        import_paths(db, [path])
    assert dump(db_path) == before


def test_skip_bad_imports_good_rows_and_lists_bad_ones(db, tmp_path):
    path = write(tmp_path / "rows.jsonl",
                 '{"id": "a", "text": "Good one."}\n'
                 '{"id": "b", "text": 42}\n'
                 'not json\n'
                 '{"id": "d", "text": "Good four."}\n')
    report = import_paths(db, [path], skip_bad=True)
    assert [a["external_id"] for a in articles(db)] == ["a", "d"]
    assert report.articles_added == 2
    assert len(report.errors) == 2
    assert report.errors[0].startswith(f"{path}:2: ")
    assert report.errors[1].startswith(f"{path}:3: invalid JSON")


def test_several_files_are_all_or_nothing(db, db_path, tmp_path):
    """A bad file anywhere in the list: nothing from the good files either."""
    write(tmp_path / "c" / "a.txt", ARTICLE)
    write(tmp_path / "c" / "b.txt", OTHER)
    write(tmp_path / "c" / "m" / "c.jsonl", '{"text": "Good."}\n{"text": \n')
    write(tmp_path / "c" / "z.txt", "A good one at the end.")
    before = dump(db_path)
    with pytest.raises(IngestError, match=r"c\.jsonl:2"):
        import_paths(db, [tmp_path / "c"])
    assert dump(db_path) == before

    report = import_paths(db, [tmp_path / "c"], skip_bad=True)
    assert sorted(a["external_id"] for a in articles(db)) == ["a", "b", "c-1", "z"]
    assert report.errors and report.errors[0].startswith(str(tmp_path / "c" / "m" / "c.jsonl") + ":2")


def test_skip_bad_lists_a_whole_bad_file(db, tmp_path):
    write(tmp_path / "a.txt", ARTICLE)
    write(tmp_path / "b.txt", b"")
    report = import_paths(db, [tmp_path], skip_bad=True)
    assert report.articles_added == 1
    assert report.errors == [f"{tmp_path / 'b.txt'}: the file is empty"]


def test_unknown_format_is_an_error(db, tmp_path):
    with pytest.raises(IngestError, match="unknown format"):
        import_paths(db, [write(tmp_path / "a.txt", ARTICLE)], fmt="xml")


def test_forced_format_overrides_the_extension(db, tmp_path):
    path = write(tmp_path / "data.txt", '{"id": "j1", "text": "A JSON story."}\n')
    import_paths(db, [path], fmt="jsonl")
    assert [a["external_id"] for a in articles(db)] == ["j1"]


# --------------------------------------------------------------------------- two processes


def _synthetic_jsonl(path: Path, n_sentences: int) -> Path:
    from benchmarks import synth

    write_jsonl(path, [{"id": a["id"], "title": a["title"], "text": a["text"]}
                       for a in synth.articles(n_sentences, seed=3)])
    return path


def _sentence_table(path) -> list[tuple]:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute('SELECT id, article_id, idx, start, "end", text, kind, target, ord '
                            "FROM sentences ORDER BY id").fetchall()
    finally:
        conn.close()


def _import_into(path: Path, data: Path) -> ingest.ArticleImportReport:
    db = project.init(path, seed=False)
    try:
        return import_paths(db, [data])
    finally:
        db.close()


def test_a_big_import_segmented_by_two_processes_equals_one(tmp_path, monkeypatch):
    """The helper process used for big files gives exactly the in-process result."""
    data = _synthetic_jsonl(tmp_path / "big.jsonl", 3_000)
    serial = _import_into(tmp_path / "serial.db", data)
    calls = []
    real_send = parallel.Segmenter._send
    monkeypatch.setattr(parallel.Segmenter, "_send",
                        lambda self, texts: calls.append(len(texts)) or real_send(self, texts))
    monkeypatch.setattr(parallel, "PARALLEL_MIN_CHARS", 1_000)
    monkeypatch.setattr(parallel, "_CHUNK_CHARS", 20_000)
    two = _import_into(tmp_path / "parallel.db", data)
    assert calls, "the helper process was not used"
    assert two.as_dict() == serial.as_dict()
    assert serial.sentences_added > 2_900
    assert _sentence_table(tmp_path / "parallel.db") == _sentence_table(tmp_path / "serial.db")


def test_a_helper_that_dies_changes_nothing(tmp_path, monkeypatch):
    data = _synthetic_jsonl(tmp_path / "big.jsonl", 1_500)
    serial = _import_into(tmp_path / "serial.db", data)
    monkeypatch.setattr(parallel, "_HELPER_ARGS", ("-c", "import sys; sys.exit(3)"))
    monkeypatch.setattr(parallel, "PARALLEL_MIN_CHARS", 1_000)
    monkeypatch.setattr(parallel, "_CHUNK_CHARS", 20_000)
    broken = _import_into(tmp_path / "broken.db", data)
    assert broken.as_dict() == serial.as_dict()
    assert _sentence_table(tmp_path / "broken.db") == _sentence_table(tmp_path / "serial.db")


def test_a_helper_that_hangs_is_killed_and_replaced(tmp_path, monkeypatch):
    data = _synthetic_jsonl(tmp_path / "big.jsonl", 1_500)
    serial = _import_into(tmp_path / "serial.db", data)
    monkeypatch.setattr(parallel, "_HELPER_ARGS", ("-c", "import time; time.sleep(600)"))
    monkeypatch.setattr(parallel, "_HELPER_TIMEOUT_S", 1.0)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_CHARS", 1_000)
    monkeypatch.setattr(parallel, "_CHUNK_CHARS", 20_000)
    hung = _import_into(tmp_path / "hung.db", data)
    assert hung.as_dict() == serial.as_dict()
    assert _sentence_table(tmp_path / "hung.db") == _sentence_table(tmp_path / "serial.db")


# --------------------------------------------------------------------------- routing columns


def test_sentences_get_the_project_overlap_as_target(tmp_path):
    cfg = tmp_path / "p.toml"
    (tmp_path / "guidelines.md").write_text((ROOT / "seeds" / "guidelines.md").read_text())
    base = (ROOT / "seeds" / "project.toml").read_text()
    cfg.write_text(base.replace("overlap = 2", "overlap = 3"))
    if "overlap = 3" not in cfg.read_text():
        pytest.skip("seeds/project.toml has no 'overlap = 2' line to change")
    db = project.init(tmp_path / "p.db", config_path=cfg, seed=False)
    import_paths(db, [write(tmp_path / "a.txt", ARTICLE)])
    assert {r[0] for r in db.execute("SELECT DISTINCT target FROM sentences")} == {3}
    assert [r[0] for r in db.execute("SELECT n_done FROM sentences")] == [0] * 4


def test_sentence_targets_follow_the_reliability_sample(tmp_path):
    from labeling.routing import target_for

    cfg = tmp_path / "p.toml"
    (tmp_path / "guidelines.md").write_text((ROOT / "seeds" / "guidelines.md").read_text())
    base = (ROOT / "seeds" / "project.toml").read_text()
    assert "sample_fraction = 1.0" in base
    cfg.write_text(base.replace("sample_fraction = 1.0", "sample_fraction = 0.5"))
    db = project.init(tmp_path / "p.db", config_path=cfg, seed=True)
    import_paths(db, [write(tmp_path / "a.txt", ARTICLE + OTHER)])
    stored_cfg = json.loads(db.execute("SELECT value FROM settings WHERE key = 'config'")
                            .fetchone()[0])
    rows = db.execute("SELECT id, target FROM sentences ORDER BY id").fetchall()
    assert rows == [(sid, target_for(sid, stored_cfg)) for sid, _ in rows]
    assert {t for _, t in rows} == {1, 2}  # both sampled and unsampled sentences


@pytest.mark.parametrize("order", ["sequential", "random"])
def test_sentence_order_keys_follow_the_project_order(tmp_path, order):
    from labeling.routing import order_key

    cfg = tmp_path / "p.toml"
    (tmp_path / "guidelines.md").write_text((ROOT / "seeds" / "guidelines.md").read_text())
    base = (ROOT / "seeds" / "project.toml").read_text()
    cfg.write_text(base.replace('order = "sequential"', f'order = "{order}"').replace(
        "seed = 0", "seed = 7"))
    db = project.init(tmp_path / "p.db", config_path=cfg, seed=True)
    import_paths(db, [write(tmp_path / "a.txt", ARTICLE)])
    stored = db.execute("SELECT id, ord FROM sentences ORDER BY id").fetchall()
    assert len(stored) == 33 + 4
    seed = 7 if "seed = 7" in cfg.read_text() else 0
    assert stored == [(sid, order_key(sid, order, seed)) for sid, _ in stored]
    if order == "random":
        assert [o for _, o in stored] != [sid for sid, _ in stored]


# --------------------------------------------------------------------------- properties


_text = st.lists(
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
    | st.sampled_from(["\n", "\n\n", "\r\n", "\r", "\u00a0", ". ", "? ", "U.S. ", "\t",
                       "Geneva = AP", "\u2009", "By Jane Doe"]),
    min_size=1, max_size=30).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_text)
def test_any_text_round_trips(tmp_path_factory, text):
    """Whatever the text: stored = normalised input, every span is its slice, sha matches."""
    db = store.connect(":memory:", migrate=True)
    path = tmp_path_factory.mktemp("p") / "a.txt"
    path.write_bytes(text.encode("utf-8"))
    try:
        report = import_paths(db, [path])
    except IngestError as exc:
        assert "empty" in str(exc)
        assert not ingest.normalise(text).strip()
        return
    [art] = articles(db)
    assert art["text"] == ingest.normalise(text)
    assert art["sha256"] == hashlib.sha256(art["text"].encode()).hexdigest()
    rows = sentences(db)
    assert report.sentences_added == len(rows)
    for r in rows:
        assert r["text"] == art["text"][r["start"]:r["end"]] != ""
