"""`python -m labeling import-annotations`: labels from CSV / JSONL land as events,
annotations, n_done and gold exactly as the app writes them; bad files change nothing."""

from __future__ import annotations

import dataclasses
import json

import pytest

import db.articles as articles_db
import db.sentences as sentences_db
from tests.db_helpers import done_counts
from labeling import annotate, project, routing
from tests.conftest import dump
from tests.cli_helpers import run_db as run

SEED_ID = "000_0a083b07f5e0d51c"
JSON_KEYS = {"rows", "imported", "annotators_created", "over_target", "errors"}




@pytest.fixture
def seeded(project_db):
    """(db, [public ids of content sentences], {public id: text}) of the seed article."""
    rows = [r for r in articles_db.iter_sentences(project_db, SEED_ID)]
    content = [r["id"] for r in rows if r["kind"] == "content"]
    texts = {r["id"]: r["text"] for r in rows}
    return project_db, content, texts


def sid_of(db, public: str) -> int:
    ext, idx = public.rsplit(":", 1)
    return db.execute("SELECT s.id FROM sentences s JOIN articles a ON a.id = s.article_id "
                      "WHERE a.external_id = ? AND s.idx = ?", [ext, int(idx)]).fetchone()[0]


def annotations(db) -> list[tuple]:
    return db.execute(
        "SELECT s.idx, n.name, a.status, a.labels, a.note, a.source, a.updated_at "
        "FROM annotations a JOIN sentences s ON s.id = a.sentence_id "
        "JOIN annotators n ON n.id = a.annotator_id ORDER BY s.idx, n.name").fetchall()


def assert_counts_exact(db) -> None:
    for sid, _target, n_done, labeled in done_counts(db):
        assert n_done == labeled, sid
    counted = sentences_db.count_progress(db)
    assert sentences_db.project_progress(db) == {k: counted[k] for k in ("content_sentences", "complete")}
    per = dict(db.execute("SELECT id, n_labeled FROM annotators").fetchall())
    assert per == counted["labeled"]


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- happy paths


def test_csv_rows_become_events_annotations_and_n_done(seeded, db_path, tmp_path):
    db, ids, _ = seeded
    path = write(tmp_path, "old labels.csv",
                 "sentence_id,annotator,label,note,created_at\n"
                 f"{ids[0]},ann,demand,first pass,2023-05-01T10:00:00Z\n"
                 f"{ids[0]},bob,demand,,2023-05-01T11:00:00+02:00\n"
                 f"{ids[1]},ann,warning,,\n")
    result = run(db_path, "import-annotations", path, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == JSON_KEYS
    assert out == {"rows": 3, "imported": 3, "annotators_created": 2, "over_target": 0,
                   "errors": []}

    events = db.execute("SELECT action, labels, source, created_at, note FROM events "
                        "ORDER BY id").fetchall()
    assert events == [
        ("label", '["demand"]', "import:old labels.csv", "2023-05-01T10:00:00.000+00:00",
         "first pass"),
        ("label", '["demand"]', "import:old labels.csv", "2023-05-01T09:00:00.000+00:00", None),
        ("label", '["warning"]', "import:old labels.csv", events[2][3], None),
    ]
    first, second = sid_of(db, ids[0]), sid_of(db, ids[1])
    assert db.execute("SELECT n_done FROM sentences WHERE id = ?", [first]).fetchone()[0] == 2
    assert db.execute("SELECT n_done FROM sentences WHERE id = ?", [second]).fetchone()[0] == 1
    anns = annotations(db)
    assert [(a[1], a[2], a[3], a[5]) for a in anns] == [
        ("ann", "labeled", '["demand"]', "import:old labels.csv"),
        ("bob", "labeled", '["demand"]', "import:old labels.csv"),
        ("ann", "labeled", '["warning"]', "import:old labels.csv")]
    # Two agreeing annotators reach the target (overlap 2): unanimous gold, as in the app.
    assert db.execute("SELECT sentence_id, labels, source FROM gold").fetchall() == [
        (first, '["demand"]', "unanimous")]
    assert_counts_exact(db)


def test_jsonl_with_labels_list_and_text_matching(seeded, db_path, tmp_path):
    db, ids, texts = seeded
    lines = [
        {"sentence_id": ids[2], "annotator": "ann", "labels": ["outcome"]},
        {"text": texts[ids[3]], "annotator": "ann", "label": "none", "note": "by text"},
        {"text": texts[ids[3]], "annotator": "cy", "labels": "[\"concession\"]"},
    ]
    path = write(tmp_path, "labels.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    result = run(db_path, "import-annotations", path, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 3
    third = sid_of(db, ids[3])
    got = db.execute("SELECT n.name, a.labels, a.note FROM annotations a JOIN annotators n "
                     "ON n.id = a.annotator_id WHERE a.sentence_id = ? ORDER BY n.name",
                     [third]).fetchall()
    assert got == [("ann", '["none"]', "by text"), ("cy", '["concession"]', None)]
    # disagreement: no gold
    assert db.execute("SELECT count(*) FROM gold").fetchone()[0] == 0
    assert_counts_exact(db)


@pytest.fixture
def multi_label(seeded):
    db, ids, texts = seeded
    routing.apply_config(db, dataclasses.replace(project.load_config(db), multi_label=True))
    return db, ids, texts


@pytest.mark.parametrize("cell", ['"[""demand"", ""warning""]"', "demand|warning",
                                  " warning | demand "])
def test_csv_labels_json_list_and_pipe_forms(multi_label, db_path, tmp_path, cell):
    db, ids, _ = multi_label
    path = write(tmp_path, "m.csv", f"sentence_id,annotator,labels\n{ids[0]},ann,{cell}\n")
    result = run(db_path, "import-annotations", path)
    assert result.exit_code == 0, result.stderr
    stored = json.loads(db.execute("SELECT labels FROM annotations").fetchone()[0])
    assert sorted(stored) == ["demand", "warning"]


def test_jsonl_multi_label_list(multi_label, db_path, tmp_path):
    db, ids, _ = multi_label
    path = write(tmp_path, "m.jsonl",
                 json.dumps({"sentence_id": ids[0], "annotator": "a",
                             "labels": ["warning", "demand"]}) + "\n"
                 + json.dumps({"sentence_id": ids[0], "annotator": "b",
                               "labels": ["demand", "warning"]}) + "\n")
    assert run(db_path, "import-annotations", path).exit_code == 0
    # Same set in another order is agreement: unanimous gold, labels sorted.
    assert db.execute("SELECT labels, source FROM gold").fetchall() == [
        ('["demand", "warning"]', "unanimous")]


def test_import_beyond_target_is_accepted_and_counted(seeded, db_path, tmp_path):
    db, ids, _ = seeded
    rows = "".join(f"{ids[0]},p{i},demand\n" for i in range(4))  # target is 2
    path = write(tmp_path, "many.csv", "sentence_id,annotator,label\n" + rows)
    result = run(db_path, "import-annotations", path, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["over_target"] == 2
    assert db.execute("SELECT n_done, target FROM sentences WHERE id = ?",
                      [sid_of(db, ids[0])]).fetchone() == (4, 2)
    assert_counts_exact(db)


def test_import_over_app_labels_is_a_relabel(seeded, db_path, tmp_path):
    """An imported row for a (sentence, annotator) the app already has replaces the current
    annotation and appends an event; n_done does not count it twice; a lease is released."""
    db, ids, _ = seeded
    cfg = project.load_config(db)
    ann = annotate.add_annotator(db, "ann")["id"]
    sid = sid_of(db, ids[0])
    annotate.save(db, ann, sid, cfg, labels=["demand"], flagged=True)
    bob = annotate.add_annotator(db, "bob")["id"]
    item = annotate.next_item(db, bob, cfg)
    assert item is not None
    path = write(tmp_path, "fix.csv", f"sentence_id,annotator,label\n{ids[0]},ann,warning\n"
                 f"{item.public_id},bob,none\n")
    result = run(db_path, "import-annotations", path, "--json")
    assert json.loads(result.stdout)["annotators_created"] == 0
    assert db.execute("SELECT count(*) FROM events WHERE sentence_id = ? AND annotator_id = ?",
                      [sid, ann]).fetchone()[0] == 3  # label, flag, imported label
    row = db.execute("SELECT labels, flagged FROM annotations WHERE sentence_id = ? AND "
                     "annotator_id = ?", [sid, ann]).fetchone()
    assert row == ('["warning"]', 1)  # the flag is kept
    assert db.execute("SELECT count(*) FROM assignments WHERE annotator_id = ?",
                      [bob]).fetchone()[0] == 0
    assert_counts_exact(db)


def test_later_row_of_the_same_pair_wins(seeded, db_path, tmp_path):
    db, ids, _ = seeded
    path = write(tmp_path, "twice.csv", f"sentence_id,annotator,label\n{ids[0]},ann,demand\n"
                 f"{ids[0]},ann,warning\n")
    assert run(db_path, "import-annotations", path).exit_code == 0
    assert db.execute("SELECT labels FROM annotations").fetchall() == [('["warning"]',)]
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 2
    assert_counts_exact(db)


def test_breaking_a_unanimity_withdraws_gold(seeded, db_path, tmp_path):
    db, ids, _ = seeded
    ok = write(tmp_path, "a.csv", f"sentence_id,annotator,label\n{ids[0]},a,demand\n"
               f"{ids[0]},b,demand\n")
    assert run(db_path, "import-annotations", ok).exit_code == 0
    assert db.execute("SELECT count(*) FROM gold").fetchone()[0] == 1
    broken = write(tmp_path, "b.csv", f"sentence_id,annotator,label\n{ids[0]},c,warning\n")
    assert run(db_path, "import-annotations", broken).exit_code == 0
    assert db.execute("SELECT count(*) FROM gold").fetchone()[0] == 0


# ----------------------------------------------------------------------------- errors


@pytest.fixture
def duplicate_text(seeded, db_path, tmp_path):
    """Two more articles that share a sentence (same text, two sentence ids)."""
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "one.txt").write_text("Envoys met in Vienna on Monday. The talks ended without "
                                    "any agreement.\n", encoding="utf-8")
    (folder / "two.txt").write_text("Ministers spoke in Oslo on Friday. The talks ended "
                                    "without any agreement.\n", encoding="utf-8")
    assert run(db_path, "import", folder).exit_code == 0
    return "The talks ended without any agreement."


def _error_case(name, ids, texts, dup):
    """(file name, content, expected message fragment) for one kind of bad file."""
    ok = f"{ids[0]},ann,demand\n"
    if name == "unknown_sentence":
        return "e.csv", f"sentence_id,annotator,label\n{ok}{SEED_ID}:999,ann,demand\n", \
            "e.csv:3: unknown sentence"
    if name == "unknown_label":
        return "e.csv", f"sentence_id,annotator,label\n{ok}{ids[1]},ann,threat\n", \
            "e.csv:3: unknown label 'threat'"
    if name == "ambiguous_text":
        return "e.jsonl", (json.dumps({"sentence_id": ids[0], "annotator": "a", "label": "none"})
                           + "\n" + json.dumps({"text": dup, "annotator": "a", "label": "none"})
                           + "\n"), "e.jsonl:2: text matches 2 sentences"
    if name == "missing_column":
        return "e.csv", f"sentence_id,label\n{ok}", "e.csv:1: missing column: annotator"
    if name == "broken_json":
        good = json.dumps({"sentence_id": ids[0], "annotator": "a", "label": "none"})
        return "e.jsonl", f"{good}\n{good}\n{{\"sentence_id\": \"{ids[1]}\", \n", \
            "e.jsonl:3: invalid JSON"
    if name == "too_many_labels":
        return "e.csv", f"sentence_id,annotator,labels\n{ok}{ids[1]},ann,demand|none\n", \
            "e.csv:3: 2 labels, but this project allows one"
    if name == "boilerplate":
        return "e.csv", f"sentence_id,annotator,label\n{ok}{dup}\n", \
            f"e.csv:3: sentence '{dup.split(',')[0]}' is not a content sentence"
    if name == "no_text_match":
        return "e.jsonl", json.dumps({"text": "Not in the corpus.", "annotator": "a",
                                      "label": "none"}) + "\n", "e.jsonl:1: no content sentence"
    if name == "bad_date":
        return "e.csv", f"sentence_id,annotator,label,created_at\n{ids[0]},a,none,yesterday\n", \
            "e.csv:2: created_at 'yesterday'"
    raise AssertionError(name)


ERROR_CASES = ["unknown_sentence", "unknown_label", "ambiguous_text", "missing_column",
               "broken_json", "too_many_labels", "boilerplate", "no_text_match", "bad_date"]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_bad_file_names_the_line_and_changes_nothing(seeded, duplicate_text, db_path,
                                                     tmp_path, case):
    db, ids, texts = seeded
    dup = duplicate_text
    if case == "boilerplate":
        boiler = [r["id"] for r in articles_db.iter_sentences(db, SEED_ID) if r["kind"] != "content"]
        dup = f"{boiler[0]},ann,none"
    name, content, expected = _error_case(case, ids, texts, dup)
    path = write(tmp_path, name, content)
    before = dump(db_path)
    result = run(db_path, "import-annotations", path, "--json")
    assert result.exit_code == 1
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    assert out["imported"] == 0 and any(expected in e for e in out["errors"])
    assert dump(db_path) == before


def test_every_bad_line_is_listed(seeded, db_path, tmp_path):
    _db, ids, _ = seeded
    path = write(tmp_path, "e.csv", "sentence_id,annotator,label\n"
                 f"{ids[0]},ann,threat\n{ids[1]},ann,demand\n{SEED_ID}:777,ann,none\n")
    result = run(db_path, "import-annotations", path)
    assert result.exit_code == 1
    assert "e.csv:2:" in result.stderr and "e.csv:4:" in result.stderr
    assert "e.csv:3:" not in result.stderr


def test_unknown_file_type(seeded, db_path, tmp_path):
    path = write(tmp_path, "labels.xlsx", "x")
    result = run(db_path, "import-annotations", path)
    assert result.exit_code == 1 and "labels.xlsx" in result.stderr


def test_large_import_is_one_batch(seeded, db_path, tmp_path):
    """Many rows in one file: all written, counters exact (the speed is benchmarked, not
    asserted)."""
    db, ids, _ = seeded
    labels = project.load_config(db).label_names
    lines = ["sentence_id,annotator,label"]
    for i, public in enumerate(ids):
        for k in range(6):
            lines.append(f"{public},p{k},{labels[(i + k // 3) % len(labels)]}")
    path = write(tmp_path, "big.csv", "\n".join(lines) + "\n")
    result = run(db_path, "import-annotations", path, "--json")
    out = json.loads(result.stdout)
    assert out["imported"] == len(ids) * 6 and out["annotators_created"] == 6
    assert out["over_target"] == len(ids) * 4
    assert_counts_exact(db)


# ----------------------------------------------------------------------------- chunks, readers


def test_error_on_first_row_of_second_chunk_names_its_line_and_changes_nothing(
        seeded, db_path, tmp_path, monkeypatch):
    """Chunks are written inside the one transaction as they pass: a bad row in a later
    chunk must still name its own line and roll the earlier chunks back."""
    from labeling import annotations_io

    db, ids, _ = seeded
    monkeypatch.setattr(annotations_io, "CHUNK_ROWS", 2)
    path = write(tmp_path, "c.csv", "sentence_id,annotator,label\n"
                 f"{ids[0]},ann,demand\n{ids[1]},ann,demand\n"
                 f"{SEED_ID}:999,ann,none\n{ids[2]},ann,threat\n")
    before = dump(db_path)
    result = run(db_path, "import-annotations", path, "--json")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    # the rows' own problems first, then unknown sentences (as one pass listed them)
    assert out["errors"] == [
        "c.csv:5: unknown label 'threat'; the project's labels are "
        + ", ".join(project.load_config(db).label_names),
        f"c.csv:4: unknown sentence '{SEED_ID}:999'"]
    assert out["rows"] == 4 and out["imported"] == 0
    assert dump(db_path) == before


def test_chunked_import_equals_one_chunk(seeded, db_path, tmp_path, monkeypatch):
    """Event ids, the later-row-wins rule, n_done and gold do not depend on chunking."""
    from labeling import annotations_io

    db, ids, _ = seeded
    lines = ["sentence_id,annotator,label,created_at"]
    for i, public in enumerate(ids[:6]):
        for k, who in enumerate(("a", "b", "a")):  # a's second row wins
            lines.append(f"{public},{who},{'demand' if (i + k) % 3 else 'none'},"
                         f"2024-01-0{1 + k}T00:00:00Z")
    path = write(tmp_path, "same.csv", "\n".join(lines) + "\n")
    monkeypatch.setattr(annotations_io, "CHUNK_ROWS", 4)
    chunked = annotations_io.import_annotations(db, path)
    got = (db.execute("SELECT id, sentence_id, annotator_id, labels FROM events ORDER BY id"
                      ).fetchall(), annotations(db),
           db.execute("SELECT sentence_id, labels, source FROM gold ORDER BY 1").fetchall())
    assert_counts_exact(db)
    # the same file in one chunk, into the same state, from the start
    db.execute("DELETE FROM gold")
    db.execute("DELETE FROM annotations")
    db.execute("DELETE FROM events")
    db.execute("UPDATE sentences SET n_done = 0")
    db.execute("DELETE FROM annotators")
    monkeypatch.setattr(annotations_io, "CHUNK_ROWS", 10_000)
    whole = annotations_io.import_annotations(db, path)
    assert whole == chunked
    assert (db.execute("SELECT id, sentence_id, annotator_id, labels FROM events ORDER BY id"
                       ).fetchall(), annotations(db),
            db.execute("SELECT sentence_id, labels, source FROM gold ORDER BY 1").fetchall()
            ) == got


ODD_ROWS = [  # (CSV cell values) each the fast reader hands to the reference checks
    ("{id0}", "ann", "demand", "  a note  ", "2023-05-01T10:00:00+02:00", "1200"),
    (" {id1} ", " bob ", " warning ", "", "", "007"),  # padded values
    ("{id2}", "ann", "none", "line one\nline two", "", ""),  # a note over two lines
    ("{id3}", "ann", "none", "", "2023-05-01", "-5"),  # bad duration
    ("{id4}", "bad/name", "none", "", "", ""),  # not a valid name
    ("nocolon", "ann", "none", "", "", ""),
]


def _odd_file(tmp_path, ids, name: str):
    import csv as csv_mod

    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv_mod.writer(f, lineterminator="\r\n" if "crlf" in name else "\n")
        w.writerow(["sentence_id", "annotator", "label", "note", "created_at", "duration_ms"])
        for row in ODD_ROWS:
            w.writerow([v.format(**{f"id{i}": x for i, x in enumerate(ids)}) for v in row])
    return path


@pytest.mark.parametrize("name", ["odd.csv", "odd-crlf.csv"])
def test_fast_reader_gives_the_reference_rows_and_errors(seeded, tmp_path, name):
    """The fast reader's rows and messages equal those of the reference reader
    (``records``, one row at a time), odd rows included."""
    from labeling import annotation_rows as ar

    db, ids, _ = seeded
    cfg = project.load_config(db)
    path = _odd_file(tmp_path, ids, name)
    results = []
    for fast in (True, False):
        errors = ar.Errors(path.name)
        rows = [r for chunk in ar.iter_chunks(path, cfg, errors, 2, fast=fast) for r in chunk]
        results.append((rows, errors.items, errors.count))
    assert results[0] == results[1]
    rows, items, count = results[0]
    assert [r[0] for r in rows] == [2, 3, 4]  # the note over two lines starts on line 4
    assert count == 3 and [i.split(":")[1] for i in items] == ["6", "7", "8"]


def test_jsonl_fast_reader_gives_the_reference_rows_and_errors(seeded, tmp_path):
    from labeling import annotation_rows as ar

    db, ids, _ = seeded
    cfg = project.load_config(db)
    lines = [json.dumps({"sentence_id": ids[0], "annotator": "a", "labels": ["demand"],
                         "duration_ms": 5}),
             json.dumps({"sentence_id": ids[1], "annotator": "a", "label": "none",
                         "note": "say \"hi\""}),  # an escape: reference path
             '{"sentence_id": "%s", "annotator": "a", "annotator": "b", "label": "none"}'
             % ids[2],  # duplicate key
             json.dumps({"sentence_id": ids[3], "annotator": "a", "label": "none",
                         "duration_ms": 1.5}),
             "", "   ",
             json.dumps({"text": "x", "annotator": "a", "labels": "[\"none\"]"}),
             '{"sentence_id": "%s", ' % ids[4]]  # broken, last line without a newline
    path = write(tmp_path, "odd.jsonl", "\n".join(lines))
    results = []
    for fast in (True, False):
        errors = ar.Errors(path.name)
        rows = [r for chunk in ar.iter_chunks(path, cfg, errors, 3, fast=fast) for r in chunk]
        results.append((rows, errors.items, errors.count))
    assert results[0] == results[1]
    assert [r[0] for r in results[0][0]] == [1, 2, 7]
    assert [i.split(":")[1] for i in results[0][1]] == ["3", "4", "8"]


def test_a_file_the_fast_reader_refuses_is_read_the_reference_way(seeded, db_path, tmp_path):
    """A lone CR (a line end for CSV) makes the fast reader give up; the import still
    runs, with the reference reader's line numbers."""
    db, ids, _ = seeded
    path = tmp_path / "cr.csv"
    path.write_bytes(f"sentence_id,annotator,label\r{ids[0]},ann,demand\r"
                     f"{ids[1]},ann,threat\r".encode())
    result = run(db_path, "import-annotations", path, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errors"][0].startswith("cr.csv:3: unknown label")
    path.write_bytes(f"sentence_id,annotator,label\r{ids[0]},ann,demand\r".encode())
    result = run(db_path, "import-annotations", path, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["imported"] == 1
    assert_counts_exact(db)


def test_import_stores_what_the_label_page_write_stores(seeded, db_path, tmp_path):
    """The set-based write (db.label_import) and db.annotations.record store the same
    event and annotation columns for the same label."""
    import db.annotations as ann_db
    from db import write_transaction

    db, ids, _ = seeded
    path = write(tmp_path, "one.csv", "sentence_id,annotator,label,note,duration_ms,created_at\n"
                 f"{ids[0]},ann,demand,n,12,2024-01-01T00:00:00Z\n")
    assert run(db_path, "import-annotations", path).exit_code == 0
    ev = db.execute("SELECT * FROM events").fetchall()
    an = db.execute("SELECT * FROM annotations").fetchall()
    sid, aid = an[0][0], an[0][1]
    db.execute("DELETE FROM annotations")
    db.execute("DELETE FROM events")
    with write_transaction(db) as conn:
        ann_db.record(conn, [ann_db.Record(sid, aid, "label", ann_db.labels_json(["demand"]),
                                           None, "n", 12, project.load_config(db)
                                           .guidelines_version, "import:one.csv",
                                           "2024-01-01T00:00:00.000+00:00")])
    assert db.execute("SELECT * FROM events").fetchall() == ev
    assert db.execute("SELECT * FROM annotations").fetchall() == an


def test_import_restores_the_page_cache_and_reads_labels_by_primary_key(seeded, tmp_path):
    """The import enlarges its connection's page cache (its indexes by annotator take
    rows at random places) and puts it back, also after a failed import; the gold
    refresh reads the touched sentences' labels by primary key, not by walking an
    annotator index (22 s at 3M rows)."""
    import db.label_import as label_import_db
    from labeling import annotations_io

    db, ids, _ = seeded
    before = db.execute("PRAGMA cache_size").fetchone()[0]
    good = write(tmp_path, "good.csv", f"sentence_id,annotator,label\n{ids[0]},ann,demand\n")
    annotations_io.import_annotations(db, good)
    assert db.execute("PRAGMA cache_size").fetchone()[0] == before
    bad = write(tmp_path, "bad.csv", "sentence_id,annotator,label\nnope:1,ann,demand\n")
    with pytest.raises(annotations_io.AnnotationImportError):
        annotations_io.import_annotations(db, bad)
    assert db.execute("PRAGMA cache_size").fetchone()[0] == before
    db.execute("CREATE TEMP TABLE import_sentences (id INTEGER PRIMARY KEY, n_before INTEGER)")
    plan = " | ".join(r[3] for r in db.execute(
        "EXPLAIN QUERY PLAN " + label_import_db.LABELS_OF_TOUCHED_SQL))
    db.execute("DROP TABLE temp.import_sentences")
    assert "SCAN t" in plan and "USING PRIMARY KEY" in plan, plan
    assert "annotations_annotator" not in plan, plan
