"""The dataset export: files, gold policies, splits, CSV safety, determinism, atomicity,
the card and the ``python -m labeling export`` command."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import db as store
import db.articles as articles_db
import db.annotations as annotations_db
import db.gold as gold_db
import db.sentences as sentences_db
from db import write_transaction
from labeling import (agreement, annotate, export, export_options, export_preview,
                      export_records, export_sinks, export_worker, export_zip, gold, project)
from labeling.cli import cli
from tests.cli_helpers import run_db as run

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
LATER = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
SUMMARY_KEYS = {"out", "files", "rows", "excluded", "gold_policy", "seed"}
RECORD_KEYS = ["id", "text", "label", "label_id", "labels", "gold_source", "split",
               "article_id", "article_title", "sentence_index", "start", "end",
               "n_annotators", "agreement"]
LABEL_NAMES = ["demand", "warning", "concession", "outcome", "none"]
ANNOTATION_KEYS = {"annotator", "labels", "note", "duration_ms", "created_at"}
RAW_KEYS = ["sentence_id", "annotator", "status", "labels", "flagged", "note", "duration_ms",
            "created_at", "updated_at", "source", "guidelines_version"]
FORMULAS = ["=1+1", "+SUM(A1:A2)", "-2", "@x", "\t=cmd", "\r=cmd"]
TRICKY = [
    'He said "no deal", then left, angrily.',
    "Line one\nline two, with a comma",
    "Unicode: Genève – “quoted” – 北京 – emoji 🙂 – é",
    "$5 and **bold** <script>alert(1)</script> [a](b) :smile:",
    "  leading and trailing spaces  ",
    "Ends with a backslash \\",
]


# ----------------------------------------------------------------------------- fixtures


def add_article(db, external_id: str, sentences: list[str], *, title: str | None = "Title",
                target: int = 5, kinds: list[str] | None = None) -> list[int]:
    """Insert an article with exactly these sentences (no segmentation); returns ids."""
    text = " ".join(sentences)
    with write_transaction(db) as conn:
        aid = articles_db.insert_article(conn, {
            "external_id": external_id, "title": title, "source": "test", "url": None,
            "published_at": None, "text": text,
            "sha256": hashlib.sha256((external_id + text).encode()).hexdigest(),
            "meta": "{}", "imported_at": "2024-01-01T00:00:00+00:00"})
        first = articles_db.max_sentence_id(conn) + 1
        rows, start = [], 0
        for i, s in enumerate(sentences):
            kind = kinds[i] if kinds else "content"
            rows.append((first + i, aid, i, start, start + len(s), s, kind, target, first + i))
            start += len(s) + 1
        articles_db.insert_sentences(conn, rows)
    return list(range(first, first + len(sentences)))


def people(db, *names: str, role: str = "annotator") -> dict[str, int]:
    return {n: annotate.add_annotator(db, n, role)["id"] for n in names}


def label(db, who: int, sid: int, *labels: str, **kw) -> None:
    cfg = project.load_config(db)
    annotate.save(db, who, sid, cfg, labels=list(labels), **kw)


def skip(db, who: int, sid: int) -> None:
    annotate.save(db, who, sid, project.load_config(db), action="skip")


def adjudicate(db, sid: int, labels: list[str], reviewer: int | None = None) -> None:
    with write_transaction(db) as conn:
        gold_db.set_gold(conn, sentence_id=sid, labels=labels, source="adjudicated",
                    reviewer_id=reviewer, rationale="test", event_id=None,
                    now="2024-01-01T00:00:00+00:00")


@pytest.fixture
def policy_db(empty_db):
    """The hand-made table every gold policy is checked on (see POLICY_CASES)."""
    db = empty_db
    ids = add_article(db, "art-1", [f"Sentence {i}." for i in range(9)])
    p = people(db, "alice", "bob", "carol")
    a, b, c = p["alice"], p["bob"], p["carol"]
    label(db, a, ids[0], "demand"), label(db, b, ids[0], "demand")        # s0 unanimous
    label(db, a, ids[1], "demand"), label(db, b, ids[1], "warning")       # s1 1-1 tie
    for who, lab in ((a, "demand"), (b, "demand"), (c, "warning")):     # s2 2-1 majority
        label(db, who, ids[2], lab)
    label(db, a, ids[3], "demand")                                          # s3 one label
    # s4: nobody
    label(db, a, ids[5], "demand"), label(db, b, ids[5], "warning")       # s5 adjudicated
    adjudicate(db, ids[5], ["concession"])
    for who, lab in ((a, "demand"), (b, "warning"), (c, "concession")):  # s6 1-1-1 tie
        label(db, who, ids[6], lab)
    skip(db, a, ids[7])                                                     # s7 only a skip
    skip(db, a, ids[8]), label(db, b, ids[8], "outcome")                  # s8 skip + label
    # A stored 'unanimous' gold row that the annotations contradict must not be trusted.
    with write_transaction(db) as conn:
        gold_db.set_gold(conn, sentence_id=ids[1], labels=["demand"], source="unanimous",
                    reviewer_id=None, rationale=None, event_id=None, now="2024-01-01")
    return db


# expected (labels, source) or reason, per policy and min_annotators, for s0..s8
POLICY_CASES = {
    ("adjudicated", 2): [
        "not_adjudicated", "not_adjudicated", "not_adjudicated", "not_adjudicated",
        "not_adjudicated", (["concession"], "adjudicated"), "not_adjudicated",
        "not_adjudicated", "not_adjudicated"],
    ("unanimous", 2): [
        (["demand"], "unanimous"), "disagreement", "disagreement", "too_few_annotators",
        "no_labels", (["concession"], "adjudicated"), "disagreement", "no_labels",
        "too_few_annotators"],
    ("majority", 2): [
        (["demand"], "unanimous"), "tie", (["demand"], "majority"), "too_few_annotators",
        "no_labels", (["concession"], "adjudicated"), "tie", "no_labels",
        "too_few_annotators"],
    ("majority", 1): [
        (["demand"], "unanimous"), "tie", (["demand"], "majority"), (["demand"], "single"),
        "no_labels", (["concession"], "adjudicated"), "tie", "no_labels",
        (["outcome"], "single")],
    ("unanimous", 1): [
        (["demand"], "unanimous"), "disagreement", "disagreement", (["demand"], "single"),
        "no_labels", (["concession"], "adjudicated"), "disagreement", "no_labels",
        (["outcome"], "single")],
    ("unanimous", 3): [
        "too_few_annotators", "too_few_annotators", "disagreement", "too_few_annotators",
        "no_labels", (["concession"], "adjudicated"), "disagreement", "no_labels",
        "too_few_annotators"],
}


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def all_records(out: Path, names=("train", "dev", "test")) -> list[dict]:
    return [r for n in names if (out / f"{n}.jsonl").exists()
            for r in read_jsonl(out / f"{n}.jsonl")]


def do_export(db, out: Path, **options) -> dict:
    return export.export(db, out, export.ExportOptions(**options), now=NOW)


# ----------------------------------------------------------------------------- gold policies


@pytest.mark.parametrize("policy, k", sorted(POLICY_CASES))
def test_each_gold_policy_on_a_hand_made_table(policy_db, tmp_path, policy, k):
    out = tmp_path / "out"
    summary = do_export(policy_db, out, gold_policy=policy, min_annotators=k, ratios=None)
    records = {r["id"]: r for r in read_jsonl(out / "dataset.jsonl")}
    expected = POLICY_CASES[policy, k]
    want_reasons = dict.fromkeys(export_records.REASONS, 0)
    for i, case in enumerate(expected):
        rid = f"art-1:{i}"
        if isinstance(case, str):
            assert rid not in records, (rid, records.get(rid))
            want_reasons[case] += 1
        else:
            assert records[rid]["labels"] == case[0], rid
            assert records[rid]["label"] == case[0][0]
            assert records[rid]["gold_source"] == case[1], rid
    assert summary["excluded"] == want_reasons
    assert summary["rows"] == {"dataset": sum(not isinstance(c, str) for c in expected)}
    # the export agrees with gold.resolve applied to the same annotations
    assert summary["gold_policy"] == policy


def test_gold_matches_gold_resolve_on_the_database_rows(policy_db, tmp_path):
    """Recomputed independently: stored annotations -> gold.resolve_many."""
    rows = policy_db.query(
        "SELECT s.id, a.labels, a.status FROM sentences s LEFT JOIN annotations a "
        "ON a.sentence_id = s.id ORDER BY s.id")
    table: dict[int, list] = {}
    for r in rows:
        table.setdefault(r["id"], [])
        if r["status"] == "labeled":
            table[r["id"]].append(json.loads(r["labels"]))
    adjudicated = {r["sentence_id"]: json.loads(r["labels"]) for r in policy_db.query(
        "SELECT sentence_id, labels FROM gold WHERE source = 'adjudicated'")}
    batch = gold.resolve_many({sid: (anns, adjudicated.get(sid)) for sid, anns in table.items()},
                              policy="majority", min_annotators=2)
    summary = do_export(policy_db, tmp_path / "o", gold_policy="majority", ratios=None)
    assert summary["excluded"] == {**batch.by_reason, "unknown_label": 0}
    assert summary["gold_sources"] == batch.by_source


def test_stored_unanimous_gold_is_recomputed_not_trusted(policy_db, tmp_path):
    do_export(policy_db, tmp_path / "o", ratios=None)
    ids = {r["id"] for r in read_jsonl(tmp_path / "o" / "dataset.jsonl")}
    assert "art-1:1" not in ids  # stored as 'unanimous' demand, but the annotators disagree


# ----------------------------------------------------------------------------- round trip


@pytest.fixture
def corpus_db(empty_db):
    """30 articles of 6 sentences (tricky texts included), two annotators who agree on
    most sentences, a third on some, a few skips, notes and flags."""
    db = empty_db
    p = people(db, "alice", "bob", "carol")
    labels = ["demand", "warning", "concession", "outcome", "none"]
    for a in range(30):
        texts = [f"Article {a}, sentence {i}: talks went on." for i in range(6)]
        if a < len(TRICKY):
            texts[2] = TRICKY[a]
        if a < len(FORMULAS):
            texts[3] = FORMULAS[a]
        ids = add_article(db, f"news-{a:03d}", texts, title=f"Talks, round {a}")
        for i, sid in enumerate(ids):
            lab = labels[(a + i) % 5]
            label(db, p["alice"], sid, lab, note="=HYPERLINK(x)" if i == 1 else None,
                  duration_ms=1200 + i)
            if i == 5 and a % 3 == 0:
                skip(db, p["bob"], sid)
                continue
            agree = (a * 6 + i) % 7 or i in (2, 3)  # the tricky texts always get gold
            label(db, p["bob"], sid, lab if agree else labels[(a + i + 1) % 5], flagged=i == 0)
            if i == 4:
                label(db, p["carol"], sid, lab)
    return db


def db_sentences(db) -> dict[str, dict]:
    return {f"{r['external_id']}:{r['idx']}": r for r in db.query(
        "SELECT a.external_id, a.title, s.idx, s.text, s.id FROM sentences s "
        "JOIN articles a ON a.id = s.article_id WHERE s.kind = 'content'")}


def test_round_trip_with_pandas_and_json(corpus_db, tmp_path):
    out = tmp_path / "out"
    summary = do_export(corpus_db, out, embed_annotations=True)
    stored = db_sentences(corpus_db)
    records = all_records(out)
    frames = [pd.read_json(out / f"{n}.jsonl", lines=True, dtype=False)
              for n in ("train", "dev", "test") if (out / f"{n}.jsonl").exists()]
    frame = pd.concat(frames, ignore_index=True)
    assert list(frame["id"]) == [r["id"] for r in records]
    assert len(records) == sum(summary["rows"].values()) > 100
    assert sum(summary["rows"].values()) + sum(summary["excluded"].values()) == len(stored)
    for r, (_, row) in zip(records, frame.iterrows()):
        s = stored[r["id"]]
        assert r["text"] == row["text"] == s["text"]  # exact, unicode and newlines included
        assert r["article_id"] == s["external_id"] and r["sentence_index"] == s["idx"]
        assert r["article_title"] == s["title"]
        assert row["label"] == r["label"] == r["labels"][0]
        assert r["label_id"] == LABEL_NAMES.index(r["label"])
        n = corpus_db.execute("SELECT count(*) FROM annotations WHERE sentence_id = ? AND "
                              "status = 'labeled'", [s["id"]]).fetchone()[0]
        assert r["n_annotators"] == n == len(r["annotations"])
    # text is written as UTF-8, not \u escapes (json.dumps(..., ensure_ascii=False))
    raw = b"".join((out / f"{n}.jsonl").read_bytes() for n in ("train", "dev", "test"))
    assert "Genève – “quoted” – 北京".encode() in raw
    # the CSV files say the same
    csv_frame = pd.concat([pd.read_csv(out / f"{n}.csv", dtype=str, keep_default_na=False)
                           for n in ("train", "dev", "test")], ignore_index=True)
    assert list(csv_frame["id"]) == [r["id"] for r in records]
    assert list(csv_frame["label"]) == [r["label"] for r in records]
    assert list(csv_frame["label_id"]) == [str(r["label_id"]) for r in records]
    assert [json.loads(a) for a in csv_frame["annotations"]] == [r["annotations"] for r in records]


def test_every_record_has_the_same_schema(corpus_db, tmp_path):
    """Uniform keys and types, null rather than missing (what HF's json loader needs)."""
    out = tmp_path / "out"
    do_export(corpus_db, out, include_context=True, embed_annotations=True)
    records = all_records(out)
    keys = RECORD_KEYS + ["annotations", "context_before", "context_after"]
    types = {"id": str, "text": str, "label": str, "label_id": int, "labels": list,
             "gold_source": str,
             "split": str, "article_id": str, "article_title": str, "sentence_index": int,
             "n_annotators": int, "annotations": list}
    for r in records:
        assert list(r) == keys
        for k, t in types.items():
            assert isinstance(r[k], t), (k, r[k])
        assert r["context_before"] is None or isinstance(r["context_before"], str)
        for a in r["annotations"]:
            assert set(a) == ANNOTATION_KEYS
            assert isinstance(a["labels"], list) and isinstance(a["created_at"], str)
            assert a["note"] is None or isinstance(a["note"], str)
            assert a["duration_ms"] is None or isinstance(a["duration_ms"], int)


def test_context_is_the_neighbouring_content_sentences(empty_db, tmp_path):
    db = empty_db
    ids = add_article(db, "ctx", ["First.", "Photo: AP", "Second.", "Third."],
                      kinds=["content", "boilerplate", "content", "content"])
    p = people(db, "alice", "bob")
    for sid in (ids[0], ids[2], ids[3]):
        label(db, p["alice"], sid, "none"), label(db, p["bob"], sid, "none")
    do_export(db, tmp_path / "o", ratios=None, include_context=True)
    got = {r["id"]: (r["context_before"], r["context_after"])
           for r in read_jsonl(tmp_path / "o" / "dataset.jsonl")}
    assert got == {"ctx:0": (None, "Second."), "ctx:2": ("First.", "Third."),
                   "ctx:3": ("Second.", None)}


def test_multi_label_records_have_labels_but_no_label(empty_db, tmp_path):
    db = empty_db
    cfg = dataclasses.replace(project.load_config(db), multi_label=True)
    project.save_config(db, cfg)
    ids = add_article(db, "m", ["One.", "Two."])
    p = people(db, "alice", "bob")
    label(db, p["alice"], ids[0], "warning", "demand")
    label(db, p["bob"], ids[0], "demand", "warning")
    label(db, p["alice"], ids[1], "warning", "demand")
    label(db, p["bob"], ids[1], "demand")
    summary = do_export(db, tmp_path / "o", ratios=None)
    records = read_jsonl(tmp_path / "o" / "dataset.jsonl")
    assert [(r["id"], r["labels"]) for r in records] == [("m:0", ["demand", "warning"])]
    assert "label" not in records[0]
    assert summary["excluded"]["disagreement"] == 1
    frame = pd.read_csv(tmp_path / "o" / "dataset.csv", dtype=str, keep_default_na=False)
    assert "label" not in frame.columns and list(frame["labels"]) == ["demand|warning"]
    card = (tmp_path / "o" / "README.md").read_text()
    assert "MASI" in card


# ----------------------------------------------------------------------------- raw


def test_raw_annotations_hold_every_annotation_whatever_the_policy(corpus_db, tmp_path):
    out = tmp_path / "out"
    do_export(corpus_db, out, gold_policy="adjudicated", formats="raw")
    # raw alone: the annotations as JSONL and CSV (no dataset format to follow)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "annotations.csv",
                                                    "annotations.jsonl", "labels.json",
                                                    "parley-manifest.json"]
    stored = list(corpus_db.query(
        "SELECT ar.external_id || ':' || s.idx AS sid, n.name, an.status, an.labels, "
        "an.flagged, an.note FROM annotations an JOIN sentences s ON s.id = an.sentence_id "
        "JOIN articles ar ON ar.id = s.article_id JOIN annotators n ON n.id = an.annotator_id "
        "ORDER BY an.sentence_id, an.annotator_id"))
    lines = read_jsonl(out / "annotations.jsonl")
    assert len(lines) == len(stored) and any(r["status"] == "skipped" for r in stored)
    for line, row in zip(lines, stored):
        assert list(line) == RAW_KEYS
        assert (line["sentence_id"], line["annotator"], line["status"]) == (
            row["sid"], row["name"], row["status"])
        assert line["labels"] == (json.loads(row["labels"]) if row["labels"] else [])
        assert line["flagged"] is bool(row["flagged"])
        assert line["note"] == row["note"]
    frame = pd.read_csv(out / "annotations.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == RAW_KEYS
    assert list(frame["labels"]) == ["|".join(x["labels"]) for x in lines]
    assert list(frame["flagged"]) == ["true" if x["flagged"] else "false" for x in lines]
    # notes starting with '=' are neutralised in the CSV, exact in the JSONL
    assert {n for n in frame["note"] if n} == {"'=HYPERLINK(x)"}
    assert {x["note"] for x in lines if x["note"]} == {"=HYPERLINK(x)"}


# ----------------------------------------------------------------------------- CSV safety


def test_csv_exact_reads_back_exactly(corpus_db, tmp_path):
    out = tmp_path / "out"
    do_export(corpus_db, out, csv_exact=True, gold_policy="majority", min_annotators=1,
              formats="jsonl,csv,raw")
    records = all_records(out)
    frame = pd.concat([pd.read_csv(out / f"{n}.csv", dtype=str, keep_default_na=False)
                       for n in ("train", "dev", "test")], ignore_index=True)
    texts = list(frame["text"])
    assert texts == [r["text"] for r in records]
    for tricky in TRICKY + FORMULAS:
        assert tricky in texts, tricky  # each one exported and read back exactly
    raw = pd.read_csv(out / "annotations.csv", dtype=str, keep_default_na=False)
    assert "=HYPERLINK(x)" in set(raw["note"])


def test_csv_neutralises_formula_cells_by_default(corpus_db, tmp_path):
    out = tmp_path / "out"
    do_export(corpus_db, out, gold_policy="majority", min_annotators=1)
    records = all_records(out)
    frame = pd.concat([pd.read_csv(out / f"{n}.csv", dtype=str, keep_default_na=False)
                       for n in ("train", "dev", "test")], ignore_index=True)
    seen = set()
    for r, cell in zip(records, frame["text"]):
        if r["text"][:1] in ("=", "+", "-", "@", "\t", "\r"):
            assert cell == "'" + r["text"]
            seen.add(r["text"])
        else:
            assert cell == r["text"]  # everything else untouched (quotes, commas, newlines)
    assert seen == set(FORMULAS)
    for col in frame.columns:  # no cell of any column starts like a formula
        assert not any(str(v)[:1] in ("=", "+", "-", "@", "\t", "\r") for v in frame[col])
    card = (out / "README.md").read_text()
    assert "single quote `'`" in card and "--csv-exact" in card


def test_csv_neutralises_ids_and_titles_too(empty_db, tmp_path):
    db = empty_db
    ids = add_article(db, "=cmd|' /C calc'!A0", ["Fine."], title="@SUM(1)")
    p = people(db, "alice", "bob")
    label(db, p["alice"], ids[0], "none"), label(db, p["bob"], ids[0], "none")
    do_export(db, tmp_path / "o", ratios=None)
    frame = pd.read_csv(tmp_path / "o" / "dataset.csv", dtype=str, keep_default_na=False)
    assert frame.loc[0, "id"] == "'=cmd|' /C calc'!A0:0"
    assert frame.loc[0, "article_id"] == "'=cmd|' /C calc'!A0"
    assert frame.loc[0, "article_title"] == "'@SUM(1)"
    rec = read_jsonl(tmp_path / "o" / "dataset.jsonl")[0]
    assert rec["id"] == "=cmd|' /C calc'!A0:0" and rec["article_title"] == "@SUM(1)"


# ----------------------------------------------------------------------------- splits


def test_no_article_is_in_two_splits(corpus_db, tmp_path):
    out = tmp_path / "out"
    summary = do_export(corpus_db, out, ratios=(0.5, 0.25, 0.25))
    where: dict[str, set] = {}
    for n in ("train", "dev", "test"):
        for r in read_jsonl(out / f"{n}.jsonl"):
            assert r["split"] == n
            where.setdefault(r["article_id"], set()).add(n)
    assert all(len(v) == 1 for v in where.values())
    assert {n for v in where.values() for n in v} == {"train", "dev", "test"}
    assert all(summary["rows"][n] > 0 for n in ("train", "dev", "test"))


def test_adding_articles_moves_nothing(corpus_db, tmp_path):
    first = {r["id"]: r["split"] for r in (do_export(corpus_db, tmp_path / "a") and
                                          all_records(tmp_path / "a"))}
    p = {r["name"]: r["id"] for r in annotate.list_annotators(corpus_db)}
    for a in range(40):
        for sid in add_article(corpus_db, f"later-{a}", [f"New {a}.", f"More {a}."]):
            label(corpus_db, p["alice"], sid, "none"), label(corpus_db, p["bob"], sid, "none")
    second = {r["id"]: r["split"] for r in (do_export(corpus_db, tmp_path / "b") and
                                           all_records(tmp_path / "b"))}
    assert len(second) == len(first) + 80
    assert {k: second[k] for k in first} == first


def test_seed_changes_the_splits(corpus_db, tmp_path):
    a = {r["id"]: r["split"] for r in (do_export(corpus_db, tmp_path / "a", seed=1) and
                                      all_records(tmp_path / "a"))}
    b = {r["id"]: r["split"] for r in (do_export(corpus_db, tmp_path / "b", seed=2) and
                                      all_records(tmp_path / "b"))}
    assert a.keys() == b.keys() and a != b


def test_splits_none_writes_one_dataset_file_with_null_split(corpus_db, tmp_path):
    out = tmp_path / "out"
    summary = do_export(corpus_db, out, ratios=None)
    assert summary["rows"].keys() == {"dataset"}
    assert summary["files"] == ["dataset.parquet", "dataset.jsonl", "dataset.csv",
                                "annotations.parquet", "labels.json", "README.md",
                                "parley-manifest.json"]
    assert {r["split"] for r in read_jsonl(out / "dataset.jsonl")} == {None}


# ----------------------------------------------------------------------------- determinism


def test_same_inputs_give_identical_bytes(corpus_db, tmp_path):
    out = tmp_path / "out"
    do_export(corpus_db, out, include_context=True)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    export.export(corpus_db, out, export.ExportOptions(include_context=True), now=LATER)
    second = {p.name: p.read_bytes() for p in out.iterdir()}
    assert first.keys() == second.keys() and len(first) == 13
    for name, a in first.items():
        b = second[name]
        if name == "README.md":
            def strip(t):
                return [x for x in t.decode().splitlines() if not x.startswith("Created:")]
            assert a != b  # the dates differ ...
            assert strip(a) == strip(b)  # ... and nothing else
        elif name == "parley-manifest.json":
            a, b = json.loads(a), json.loads(b)
            assert a.pop("created_at") != b.pop("created_at")  # the date ...
            card = [e for e in a["files"] if e["name"] == "README.md"]
            assert [e for e in a["files"] if e not in card] == [
                e for e in b["files"] if e["name"] != "README.md"]  # ... and the card's hash
        else:
            assert a == b, name


@pytest.mark.parametrize("options", [{}, {"csv_exact": True, "include_context": True},
                                     {"ratios": None, "formats": "raw"}])
def test_two_process_export_writes_the_same_bytes(corpus_db, tmp_path, options):
    """Large projects are exported by several processes (labeling.export_worker
    children write the raw files and compute agreement); forced here on a small one."""
    one = export.export(corpus_db, tmp_path / "one", export.ExportOptions(**options),
                        now=NOW, command="x", parallel=False)
    two = export.export(corpus_db, tmp_path / "two", export.ExportOptions(**options),
                        now=NOW, command="x", parallel=True)
    assert one["files"] == two["files"]
    for name in one["files"]:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_two_process_export_into_a_relative_folder(corpus_db, tmp_path, monkeypatch):
    """``--out dataset`` from another folder than the repository's: the worker processes
    (which run in the repository folder) write into the same folder as the parent."""
    monkeypatch.chdir(tmp_path)
    summary = export.export(corpus_db, "dataset", export.ExportOptions(), now=NOW,
                            parallel=True)
    assert summary["out"] == "dataset"
    assert sorted(p.name for p in (tmp_path / "dataset").iterdir()) == sorted(summary["files"])
    raw = pd.read_parquet(tmp_path / "dataset" / "annotations.parquet")
    assert len(raw) == summary["annotations"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("formats", ["jsonl,csv,raw", "parquet,raw"])
def test_two_process_export_sees_one_snapshot(corpus_db, db_path, tmp_path, monkeypatch,
                                              formats):
    """A label saved while the worker starts is in neither process's files: both took
    their snapshot inside the write gate, and the writer had to wait for it."""
    import threading

    real = export_worker.Worker.__init__
    p = {r["name"]: r["id"] for r in annotate.list_annotators(corpus_db)}
    sid = add_article(corpus_db, "late", ["Late sentence."])[0]
    writer = {}

    def late_write(self, *args):
        real(self, *args)  # the worker holds its snapshot; the parent has none yet
        other = store.connect(db_path)
        t = threading.Thread(target=lambda: (label(other, p["carol"], sid, "none"),
                                             other.close()))
        t.start()
        # Without the gate this label would be committed before the parent's snapshot.
        t.join(timeout=1.0)
        writer["thread"], writer["waited"] = t, t.is_alive()

    monkeypatch.setattr(export_worker.Worker, "__init__", late_write)
    summary = export.export(corpus_db, tmp_path / "o", now=NOW, parallel=True,
                            options=export.ExportOptions(ratios=None, formats=formats))
    writer["thread"].join(30)
    assert writer["waited"]  # the writer was held back by the gate ...
    assert annotations_db.get_annotation(corpus_db, sid, p["carol"]) is not None  # ... and then saved
    if "parquet" in formats:
        frames = [pd.read_parquet(tmp_path / "o" / "annotations.parquet")]
    else:
        frames = [pd.DataFrame(read_jsonl(tmp_path / "o" / "annotations.jsonl")),
                  pd.read_csv(tmp_path / "o" / "annotations.csv", dtype=str,
                              keep_default_na=False)]
    for frame in frames:
        assert len(frame) == summary["annotations"]
        assert "late:0" not in set(frame["sentence_id"])


def test_card_date_is_injectable(corpus_db, tmp_path):
    do_export(corpus_db, tmp_path / "o")
    assert "Created: 2024-05-06 07:08:09 UTC" in (tmp_path / "o" / "README.md").read_text()


# ----------------------------------------------------------------------------- the card


def test_card_reports_counts_agreement_and_annotators(corpus_db, tmp_path):
    out = tmp_path / "out"
    summary = do_export(corpus_db, out, gold_policy="majority")
    card = (out / "README.md").read_text()
    # agreement recomputed independently from the database rows
    units: dict = {}
    for r in corpus_db.query("SELECT a.sentence_id, n.name, a.labels FROM annotations a JOIN "
                             "annotators n ON n.id = a.annotator_id WHERE status = 'labeled'"):
        units.setdefault(r["sentence_id"], {})[r["name"]] = json.loads(r["labels"])[0]
    rep = agreement.report(units, labels=project.load_config(corpus_db).label_names,
                           bootstrap=1000, seed=0)
    assert f"| Krippendorff's alpha (nominal) | {rep['krippendorff_alpha']:.3f}" in card
    low, high = rep["krippendorff_alpha_ci95"]
    assert f"95% interval [{low:.3f}, {high:.3f}]" in card
    assert f"| Fleiss' kappa | {rep['fleiss_kappa']:.3f} |" in card
    assert f"| Mean pairwise Cohen's kappa | {rep['mean_cohen_kappa']:.3f} |" in card
    assert "3 annotator(s) contributed labels: `alice`, `bob`, `carol`." in card
    assert "| gold policy | `majority`" in card
    assert "| guidelines version | `1` |" in card
    for reason, n in summary["excluded"].items():
        assert f"| {reason} | {n} |" in card
    for name in ("train", "dev", "test"):
        assert f"| {name} " in card.split("## Label balance per split")[1].split("##")[0]
    assert "python -m labeling export --out" in card and "--gold majority" in card
    assert "| sentence_index | integer |" in card  # field schema
    # label balance: counts per split recomputed from the files
    balance = card.split("## Label balance per split")[1].split("\n## ")[0]
    for lab in ("demand", "none"):
        row = next(x for x in balance.splitlines() if x.startswith(f"| {lab} |"))
        cells = [c.strip().split(" ")[0] for c in row.strip("|").split("|")[1:]]
        counts = [sum(r["label"] == lab for r in read_jsonl(out / f"{n}.jsonl"))
                  for n in ("train", "dev", "test")]
        assert cells == [str(c) for c in counts] + [str(sum(counts))]


def test_progress_is_reported_up_to_done(corpus_db, tmp_path):
    seen = []
    export.export(corpus_db, tmp_path / "o", progress=lambda f, m: seen.append((f, m)), now=NOW)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert seen[-1][1] == "done"


# ----------------------------------------------------------------------------- atomicity


def test_a_crash_mid_export_leaves_no_half_file(corpus_db, tmp_path, monkeypatch):
    out = tmp_path / "out"
    do_export(corpus_db, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = {"n": 0}
    original = export_sinks.JsonlSink.write

    def crash(self, *args):
        calls["n"] += 1
        if calls["n"] > 20:
            raise OSError(28, "No space left on device")
        return original(self, *args)

    monkeypatch.setattr(export_sinks.JsonlSink, "write", crash)
    with pytest.raises(export.ExportError, match="No space left"):
        do_export(corpus_db, out, seed=5)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old export intact
    leftovers = [p.name for p in tmp_path.iterdir() if p.is_dir()]
    assert leftovers == ["out"]  # no temp folder left behind
    with pytest.raises(export.ExportError):
        do_export(corpus_db, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_reexport_replaces_only_our_files(corpus_db, tmp_path):
    out = tmp_path / "out"
    do_export(corpus_db, out)
    (out / "notes.txt").write_text("mine")
    summary = do_export(corpus_db, out, ratios=None, formats="jsonl")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "dataset.jsonl", "labels.json",
                                                    "notes.txt", "parley-manifest.json"]
    assert summary["files"] == ["dataset.jsonl", "labels.json", "README.md",
                                "parley-manifest.json"]
    assert (out / "notes.txt").read_text() == "mine"


def test_out_that_is_a_file_is_an_error(corpus_db, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(export.ExportError, match="is a file"):
        do_export(corpus_db, f)
    assert f.read_text() == "x"


@pytest.mark.parametrize("options, message", [
    ({"gold_policy": "best"}, "unknown gold policy"),
    ({"ratios": "0.9,0.2,0.1"}, "sum to 1"),
    ({"formats": "jsonl,xml"}, "unknown format"),
    ({"formats": ""}, "at least one format"),
    ({"min_annotators": 0}, "at least 1"),
])
def test_bad_options(options, message):
    with pytest.raises(export_options.OptionError, match=message):
        export.ExportOptions(**options).validated()


# ----------------------------------------------------------------------------- zip


def test_export_zip_holds_every_file(corpus_db, db_path):
    data = export_zip.export_zip(db_path, export.ExportOptions(), now=NOW)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == sorted(
            ["train.parquet", "dev.parquet", "test.parquet", "train.jsonl", "dev.jsonl",
             "test.jsonl", "train.csv", "dev.csv", "test.csv", "annotations.parquet",
             "labels.json", "README.md", "parley-manifest.json"])
        manifest = json.loads(zf.read("parley-manifest.json"))
        assert [e["name"] for e in manifest["files"]] == [
            n for n in zf.namelist() if n != "parley-manifest.json"]
        for entry in manifest["files"]:  # the zip's files are the ones the manifest lists
            body = zf.read(entry["name"])
            assert entry["bytes"] == len(body)
            assert entry["sha256"] == hashlib.sha256(body).hexdigest()
        rows = [json.loads(x) for x in zf.read("train.jsonl").decode().splitlines()]
    assert rows and all(r["split"] == "train" for r in rows)
    assert export_zip.export_zip(db_path, export.ExportOptions(), now=NOW) == data  # reproducible


# ----------------------------------------------------------------------------- preview

PREVIEW_OPTIONS = [
    {},
    {"gold_policy": "majority", "min_annotators": 1, "include_context": True},
    {"gold_policy": "adjudicated", "ratios": None},
    {"ratios": (0.34, 0.33, 0.33), "seed": 3, "formats": ("csv", "raw")},
    {"formats": ("raw",), "min_annotators": 3},
]


def exported_preview(out: Path, options, limit: int = 10) -> list[dict]:
    """The records the preview should show: the first ``limit`` of each split file, in
    split order, read from an export that wrote JSONL."""
    names = [n for n in ("train", "dev", "test", "dataset") if (out / f"{n}.jsonl").exists()]
    return [r for n in names for r in all_records(out, [n])[:limit]]


@pytest.mark.parametrize("options", PREVIEW_OPTIONS)
def test_preview_equals_what_the_export_writes(corpus_db, db_path, tmp_path, options):
    """The preview's counts, card and first records are those the export then writes
    (same options, command and date), whichever formats are chosen."""
    opts = export.ExportOptions(**options).validated()
    shown = export_preview.preview(db_path, opts, now=NOW)
    summary = export.export(corpus_db, tmp_path / "out", opts, now=NOW,
                            command=opts.command("export"))
    del summary["seconds"], summary["out"]
    assert {k: v for k, v in shown.summary.items() if k not in ("seconds", "out")} == summary
    assert shown.card == (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    with_jsonl = dataclasses.replace(opts, formats=("jsonl",))
    export.export(corpus_db, tmp_path / "jsonl", with_jsonl, now=NOW)
    expected = exported_preview(tmp_path / "jsonl", with_jsonl)
    assert len(shown.rows) == sum(min(10, n) for n in summary["rows"].values())
    assert shown.rows == expected
    assert {n: len(r) for n, r in shown.by_split.items()} == {
        n: min(10, k) for n, k in summary["rows"].items()}


def test_preview_of_a_multi_label_project_and_of_more_rows_than_one_split(empty_db, db_path,
                                                                          tmp_path):
    db = empty_db
    project.save_config(db, dataclasses.replace(project.load_config(db), multi_label=True))
    p = people(db, "alice", "bob")
    for a in range(12):
        for i, sid in enumerate(add_article(db, f"m{a}", [f"M{a}, sentence {i}." for i in
                                                          range(4)])):
            label(db, p["alice"], sid, "warning", "demand")
            label(db, p["bob"], sid, *(["demand", "warning"] if i % 3 else ["demand"]))
    opts = export.ExportOptions(include_context=True).validated()
    shown = export_preview.preview(db_path, opts, limit=30, now=NOW)
    export.export(db, tmp_path / "out", opts, now=NOW, command=opts.command("export"))
    assert shown.rows == exported_preview(tmp_path / "out", opts, limit=30)
    assert len({r["split"] for r in shown.rows}) > 1  # every split shows its first rows
    assert shown.card == (tmp_path / "out" / "README.md").read_text(encoding="utf-8")


def test_preview_writes_no_file(corpus_db, db_path, tmp_path, monkeypatch):
    """The preview counts without exporting: no export files are written anywhere."""
    def refuse(*args, **kwargs):
        raise AssertionError("the preview must not write the export")

    monkeypatch.setattr(export, "write_files", refuse)
    monkeypatch.setattr(export_sinks, "file_opener", refuse)
    monkeypatch.setattr(export_sinks.ParquetSink, "_flush", refuse)
    for task in export_sinks.RAW_TASKS:
        monkeypatch.setitem(export_sinks.RAW_TASKS, task, refuse)
    shown = export_preview.preview(db_path, export.ExportOptions(), now=NOW)
    assert len(shown.rows) == 30 and sum(shown.summary["rows"].values()) > 30


def test_preview_reports_progress_up_to_done(corpus_db, db_path):
    seen = []
    export_preview.preview(db_path, export.ExportOptions(),
                           progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and seen[0][0] == 0.0 and seen[-1] == (1.0, "done")


# ----------------------------------------------------------------------------- CLI




def test_cli_json_summary(corpus_db, db_path, tmp_path):
    out = tmp_path / "ds"
    res = run(db_path, "export", "--out", out, "--json", "--gold", "majority", "--seed", "3",
              "--min-annotators", "1", "--include-context")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert SUMMARY_KEYS <= set(summary)
    assert summary["out"] == str(out) and summary["gold_policy"] == "majority"
    assert summary["seed"] == 3
    assert summary["files"] == [p for p in summary["files"] if (out / p).is_file()]
    assert set(summary["files"]) == {p.name for p in out.iterdir()}
    assert summary["rows"] == {n: len(read_jsonl(out / f"{n}.jsonl"))
                               for n in ("train", "dev", "test")}
    assert set(summary["excluded"]) == set(gold.REASONS) | {"unknown_label"}
    card = (out / "README.md").read_text()
    assert f"--out {out} --format parquet,jsonl,csv,raw --gold majority --splits 0.8,0.1,0.1 " \
           "--seed 3 --min-annotators 1 --include-context" in card


def test_cli_plain_output_and_formats(corpus_db, db_path, tmp_path):
    res = run(db_path, "export", "--out", tmp_path / "o", "--format", "csv", "--splits", "none")
    assert res.exit_code == 0, res.output
    assert "sentences exported to" in res.stdout
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["README.md", "dataset.csv",
                                                                "labels.json",
                                                                "parley-manifest.json"]


@pytest.mark.parametrize("args, code, message", [
    (["--splits", "0.8,0.1"], 2, "exactly three ratios"),
    (["--splits", "0.8,0.3,0.1"], 2, "sum to 1"),
    (["--splits", "x"], 2, "three numbers"),
    (["--gold", "best"], 2, "'best' is not one of"),
    (["--format", "jsonl,xml"], 2, "unknown format(s): xml"),
    (["--min-annotators", "0"], 2, "--min-annotators"),
])
def test_cli_usage_errors(corpus_db, db_path, tmp_path, args, code, message):
    res = run(db_path, "export", "--out", tmp_path / "o", *args)
    assert res.exit_code == code
    assert message in res.stderr
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_cli_out_pointing_to_a_file(corpus_db, db_path, tmp_path):
    f = tmp_path / "taken"
    f.write_text("keep me")
    res = run(db_path, "export", "--out", f)
    assert res.exit_code == 1
    assert "is a file" in res.stderr and str(f) in res.stderr
    assert f.read_text() == "keep me"


def test_cli_help_documents_the_command():
    res = CliRunner().invoke(cli, ["export", "--help"])
    assert res.exit_code == 0
    for flag in ("--out", "--format", "--gold", "--splits", "--seed", "--min-annotators",
                 "--include-context", "--csv-exact", "--json", "Example"):
        assert flag in res.stdout


def test_export_is_read_only(corpus_db, tmp_path):
    """The database holds exactly the same rows before and after an export."""
    before = list(corpus_db.conn.iterdump())
    do_export(corpus_db, tmp_path / "o")
    assert list(corpus_db.conn.iterdump()) == before
    assert not corpus_db.conn.in_transaction  # the read snapshot was closed


# ----------------------------------------------------------------------------- streaming


def _bulk_project(path, n_sentences: int):
    """A project of ``n_sentences`` one-line sentences, each labeled alike by two of
    three annotators (fast bulk insert, as benchmarks/export.py builds it)."""
    from benchmarks.labeling_db import build_corpus

    db = project.init(path, seed=False)
    build_corpus(db, n_sentences, per_article=30)
    ids = [annotate.add_annotator(db, n)["id"] for n in ("a1", "a2", "a3")]
    labels = project.load_config(db).label_names
    rows = [(sid, ids[(sid + k) % 3], [labels[sid % 5]], "2024-01-01T00:00:00.000+00:00")
            for sid in sentences_db.all_sentence_ids(db) for k in (0, 1)]
    with write_transaction(db) as conn:
        annotations_db.insert_labeled_bulk(conn, rows)
        sentences_db.recount_done(conn)
    return db


@pytest.mark.slow
def test_memory_does_not_grow_with_the_corpus(tmp_path, monkeypatch):
    """Python's peak allocation while exporting 40,000 sentences stays close to that of
    4,000: rows are streamed, never collected. (The agreement table for the card grows
    by design, a few bytes per annotation; it is stubbed out here.)"""
    import tracemalloc

    monkeypatch.setattr(export, "agreement_report", lambda db, options: agreement.report({}))
    # Parquet holds one row group per split in memory: make it small here, so that what
    # is measured is whether anything else grows with the corpus.
    monkeypatch.setattr(export_sinks.ParquetSink, "ROW_GROUP", 1_000)
    monkeypatch.setattr(export_sinks, "RAW_ROW_GROUP", 1_000)
    peaks = {}
    for n in (4_000, 40_000):
        db = _bulk_project(tmp_path / f"p{n}.db", n)
        export.export(db, tmp_path / f"warm{n}", export.ExportOptions(bootstrap=0), now=NOW)
        tracemalloc.start()
        summary = export.export(db, tmp_path / f"o{n}", export.ExportOptions(bootstrap=0),
                                now=NOW)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert sum(summary["rows"].values()) == n
        db.close()
    # Loading the rows would cost ~1 KB per sentence: 36 MB more for 36,000 more sentences.
    assert peaks[40_000] - peaks[4_000] < 4 * 2**20, peaks


def test_a_failing_worker_is_a_clear_error(corpus_db, db_path, tmp_path):
    worker = export_worker.Worker(str(db_path), tmp_path, export.ExportOptions(), ["no-such-task"])
    worker.wait_ready()
    with pytest.raises(export.ExportError, match="the export worker failed: KeyError"):
        worker.result()
    worker.stop()


def test_a_worker_failing_at_start_is_a_clear_error(tmp_path):
    """A worker that exits before taking its snapshot (here: no database) is reported
    with its own message (it was "seek of closed file": its stderr closed first)."""
    worker = export_worker.Worker(str(tmp_path / "missing.db"), tmp_path, export.ExportOptions(),
                            ["jsonl"])
    with pytest.raises(export.ExportError, match="the export worker failed: .*missing.db"):
        worker.wait_ready()
    worker.stop()


def test_streaming_queries_never_sort(corpus_db):
    """No query of the export builds a temporary B-tree (a sort that would grow with the
    corpus): each walks sentences and annotations in primary-key order."""
    import db.export as export_db

    plans = export_db.raw_query_plans(corpus_db)
    assert set(plans) == {"sentences", "gold_keys", "raw_jsonl", "raw_csv"}
    for name, lines in plans.items():
        assert lines and not any("TEMP B-TREE" in line for line in lines), (name, lines)
