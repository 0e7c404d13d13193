"""`python -m labeling import-annotations`: labels from CSV / JSONL land as events,
annotations, n_done and gold exactly as the app writes them; bad files change nothing."""

from __future__ import annotations

import dataclasses
import json

import pytest

import db.articles as qa
import db.labels as ql
from labeling import annotate, project, routing
from tests.conftest import dump
from tests.cli_helpers import run_db as run

SEED_ID = "000_0a083b07f5e0d51c"
JSON_KEYS = {"rows", "imported", "annotators_created", "over_target", "errors"}




@pytest.fixture
def seeded(project_db):
    """(db, [public ids of content sentences], {public id: text}) of the seed article."""
    rows = [r for r in qa.iter_sentences(project_db, SEED_ID)]
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
    for sid, _target, n_done, labeled in ql.done_counts(db):
        assert n_done == labeled, sid
    counted = ql.count_progress(db)
    assert ql.project_progress(db) == {k: counted[k] for k in ("content_sentences", "complete")}
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
        boiler = [r["id"] for r in qa.iter_sentences(db, SEED_ID) if r["kind"] != "content"]
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
