"""Exports loaded back the way training code loads them: Hugging Face ``datasets``
(``load_dataset(export_dir)``, reading the card's metadata block), pandas (Parquet, JSONL,
CSV) and ``labels.json``."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from labeling import annotate, export, export_card, project
from tests.test_export import add_article, adjudicate, label, people

# No network here, and a local folder needs none: never let datasets try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
datasets = pytest.importorskip("datasets")

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
SCHEME = ["demand", "warning", "concession", "outcome", "none"]
HF = {"train": "train", "dev": "validation", "test": "test"}


def do_export(db, out: Path, **options) -> dict:
    return export.export(db, out, export.ExportOptions(**options), now=NOW)


def load(out: Path, tmp_path: Path):
    """``datasets.load_dataset(out)`` with a cache of the test's own."""
    return datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture
def split_db(empty_db):
    """40 articles of 3 sentences, all labeled alike by two annotators (labels cycle
    through the scheme), so every split of 0.8,0.1,0.1 has rows."""
    db = empty_db
    p = people(db, "alice", "bob")
    for a in range(40):
        ids = add_article(db, f"a{a:02d}", [f"Article {a}, sentence {i}." for i in range(3)],
                          title=None if a % 7 == 0 else f"Round {a}")
        for i, sid in enumerate(ids):
            lab = SCHEME[(a + i) % 5]
            label(db, p["alice"], sid, lab, note="=x, \"y\"" if i == 1 else None)
            label(db, p["bob"], sid, lab)
    return db


def test_load_dataset_gives_each_split_with_class_labels(split_db, tmp_path):
    out = tmp_path / "out"
    summary = do_export(split_db, out)
    assert all(summary["rows"].values())
    # datasets says so when it ignores (part of) the card: it must read all of it
    heard: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: heard.append(record.getMessage())
    logging.getLogger("datasets").addHandler(handler)
    try:
        ds = load(out, tmp_path)
    finally:
        logging.getLogger("datasets").removeHandler(handler)
    assert not [m for m in heard if "card" in m.lower() or "metadata" in m.lower()], heard
    assert set(ds) == {"train", "validation", "test"}
    for split, hf in HF.items():
        feature = ds[hf].features["label"]
        assert isinstance(feature, datasets.ClassLabel) and feature.names == SCHEME
        jsonl = read_jsonl(out / f"{split}.jsonl")
        rows = ds[hf].to_list()
        assert len(rows) == len(jsonl) == summary["rows"][split]
        for got, want in zip(rows, jsonl):
            # datasets gives the class id; the JSONL the name and the same id
            assert got["label"] == want["label_id"] == SCHEME.index(want["label"])
            assert {k: v for k, v in got.items() if k not in ("label", "labels")} == {
                k: v for k, v in want.items() if k not in ("label", "labels")}
            assert got["labels"] == [SCHEME.index(x) for x in want["labels"]]


def test_parquet_equals_jsonl_in_pandas(split_db, tmp_path):
    out = tmp_path / "out"
    do_export(split_db, out, include_context=True)
    for split in HF:
        parquet = pd.read_parquet(out / f"{split}.parquet")
        jsonl = pd.read_json(out / f"{split}.jsonl", lines=True, dtype=False)
        assert list(parquet.columns) == list(jsonl.columns)
        assert len(parquet) == len(jsonl) > 0
        for col in parquet.columns:
            a = [None if v is None or (isinstance(v, float) and v != v) else
                 (list(v) if hasattr(v, "tolist") else v) for v in parquet[col]]
            b = [None if v is None or (isinstance(v, float) and v != v) else v
                 for v in jsonl[col]]
            assert a == b, col
        schema = pq.read_schema(out / f"{split}.parquet")
        assert json.loads(schema.metadata[b"parley.labels"]) == SCHEME
        assert str(schema.field("label_id").type) == "int64"


def test_labels_json_agrees_with_the_card_and_the_config(split_db, tmp_path):
    out = tmp_path / "out"
    do_export(split_db, out)
    doc = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    cfg = project.load_config(split_db)
    assert [x["name"] for x in doc["labels"]] == SCHEME == cfg.label_names
    assert doc["label2id"] == {n: i for i, n in enumerate(SCHEME)}
    assert doc["id2label"] == {str(i): n for i, n in enumerate(SCHEME)}
    assert [x["key"] for x in doc["labels"]] == [lab.key for lab in cfg.labels]
    assert [x["description"] for x in doc["labels"]] == [lab.description for lab in cfg.labels]
    assert doc["guidelines_version"] == cfg.guidelines_version and doc["multi_label"] is False
    yaml = pytest.importorskip("yaml")
    meta_text, body = export_card.split_front_matter((out / "README.md").read_text())
    meta = yaml.safe_load(meta_text)
    label = next(f for f in meta["dataset_info"]["features"] if f["name"] == "label")
    assert label["dtype"]["class_label"]["names"] == doc["id2label"]
    assert meta["task_categories"] == ["text-classification"]
    assert meta["size_categories"] == ["n<1K"]
    assert [f["split"] for f in meta["configs"][0]["data_files"]] == [
        "train", "validation", "test"]
    assert "## Load it" in body and "load_dataset(" in body


def test_empty_splits_get_no_file_and_loading_still_works(empty_db, tmp_path):
    """Four articles at 0.8,0.1,0.1: some split is empty. It is not listed, has no
    file, the card says so, and load_dataset gives the others (it used to fail with
    'Instruction "test" corresponds to no data!')."""
    db = empty_db
    p = people(db, "alice", "bob")
    for a in range(4):
        for sid in add_article(db, f"few-{a}", [f"Few {a}, sentence {i}." for i in range(3)]):
            label(db, p["alice"], sid, "demand"), label(db, p["bob"], sid, "demand")
    out = tmp_path / "out"
    summary = do_export(db, out)
    empty = [n for n, k in summary["rows"].items() if not k]
    assert empty, summary["rows"]  # the case this test is about
    for n in empty:
        assert not any(out.glob(f"{n}.*"))
        assert not any(f.startswith(f"{n}.") for f in summary["files"])
    card = (out / "README.md").read_text()
    assert "Empty: " + ", ".join(f"`{n}`" for n in empty) in card
    ds = load(out, tmp_path)
    assert set(ds) == {HF[n] for n, k in summary["rows"].items() if k}
    assert sum(len(ds[s]) for s in ds) == sum(summary["rows"].values())
    # pandas reads every file that exists
    for f in summary["files"]:
        if f.endswith(".parquet"):
            assert len(pd.read_parquet(out / f)) > 0


def test_nothing_exported_has_no_configs(empty_db, tmp_path):
    add_article(empty_db, "unlabeled", ["Nobody labeled this."])
    out = tmp_path / "out"
    summary = do_export(empty_db, out)
    assert sum(summary["rows"].values()) == 0
    # no dataset file; the raw files (no annotations yet) and labels.json are written
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "annotations.parquet", "labels.json", "parley-manifest.json"]
    meta, body = export_card.split_front_matter((out / "README.md").read_text())
    assert "configs" not in meta and "Nothing to load yet" in body


def test_multi_label_loads_as_a_list_of_class_labels(empty_db, tmp_path):
    db = empty_db
    project.save_config(db, dataclasses.replace(project.load_config(db), multi_label=True))
    p = people(db, "alice", "bob")
    for a in range(20):
        for i, sid in enumerate(add_article(db, f"m{a}", [f"M{a} s{i}." for i in range(2)])):
            labs = ["demand", "warning"] if i else ["outcome"]
            label(db, p["alice"], sid, *labs), label(db, p["bob"], sid, *labs)
    out = tmp_path / "out"
    summary = do_export(db, out, ratios=None)
    ds = load(out, tmp_path)
    assert list(ds) == ["train"]  # no splits: dataset.* loads as train
    feature = ds["train"].features["labels"]
    assert isinstance(feature, datasets.List) and feature.feature.names == SCHEME
    rows = read_jsonl(out / "dataset.jsonl")
    assert "label" not in rows[0] and len(rows) == summary["rows"]["dataset"] == 40
    assert [r["labels"] for r in ds["train"]] == [r["label_ids"] for r in rows]
    assert {tuple(r["label_ids"]) for r in rows} == {(3,), (0, 1)}
    frame = pd.read_parquet(out / "dataset.parquet")
    assert [list(x) for x in frame["label_ids"]] == [r["label_ids"] for r in rows]
    csv = pd.read_csv(out / "dataset.csv", dtype=str, keep_default_na=False)
    assert set(csv["label_ids"]) == {"3", "0|1"} and set(csv["labels"]) == {"outcome",
                                                                            "demand|warning"}


def test_embedded_annotations_load_too(split_db, tmp_path):
    out = tmp_path / "out"
    do_export(split_db, out, embed_annotations=True, formats="parquet,jsonl")
    ds = load(out, tmp_path)
    jsonl = read_jsonl(out / "train.jsonl")
    assert [r["annotations"] for r in ds["train"]] == [r["annotations"] for r in jsonl]
    assert {a["annotator"] for r in jsonl for a in r["annotations"]} == {"alice", "bob"}
    frame = pd.read_parquet(out / "train.parquet")
    assert len(frame["annotations"][0]) == 2


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_card_over_jsonl_or_csv_alone_loads(split_db, tmp_path, fmt):
    out = tmp_path / "out"
    do_export(split_db, out, formats=fmt)
    ds = load(out, tmp_path)
    assert ds["train"].features["label"].names == SCHEME
    assert len(ds["train"]) == len(pd.read_json(out / "train.jsonl", lines=True)
                                   if fmt == "jsonl" else pd.read_csv(out / "train.csv"))


def test_raw_parquet_equals_raw_jsonl(split_db, tmp_path):
    do_export(split_db, tmp_path / "p", formats="parquet,jsonl,raw")
    do_export(split_db, tmp_path / "j", formats="jsonl,raw")
    parquet = pd.read_parquet(tmp_path / "p" / "annotations.parquet")
    rows = read_jsonl(tmp_path / "j" / "annotations.jsonl")
    assert list(parquet.columns) == list(rows[0])
    assert len(parquet) == len(rows) == 240
    for col in parquet.columns:
        got = [None if v is None or (isinstance(v, float) and v != v) else
               (list(v) if hasattr(v, "tolist") else v) for v in parquet[col]]
        assert got == [r[col] for r in rows], col
    # with parquet, the raw set is written once, as Parquet
    assert sorted(f.name for f in (tmp_path / "p").glob("annotations.*")) == [
        "annotations.parquet"]


def test_a_label_no_longer_in_the_scheme_is_left_out_with_a_reason(split_db, tmp_path):
    """Gold 'outcome' after 'outcome' was removed from the config has no class id: the
    sentence is left out (a training set must match its labels.json) and counted."""
    cfg = project.load_config(split_db)
    sid = split_db.execute("SELECT min(id) FROM sentences").fetchone()[0]
    adjudicate(split_db, sid, ["outcome"])
    project.save_config(split_db, dataclasses.replace(
        cfg, labels=tuple(lab for lab in cfg.labels if lab.name != "outcome")))
    out = tmp_path / "out"
    summary = do_export(split_db, out, gold_policy="adjudicated", min_annotators=2)
    assert summary["excluded"]["unknown_label"] == 1
    assert "unknown_label" in (out / "README.md").read_text()


def test_hostile_project_name_cannot_break_the_metadata_block(split_db, tmp_path):
    yaml = pytest.importorskip("yaml")
    name = 'Talks: "---"\n---\nkey: [x] # not a comment'
    project.save_config(split_db, dataclasses.replace(project.load_config(split_db),
                                                      name=name))
    out = tmp_path / "out"
    do_export(split_db, out)
    meta, _ = export_card.split_front_matter((out / "README.md").read_text())
    assert yaml.safe_load(meta)["pretty_name"] == name
    assert load(out, tmp_path)["train"].features["label"].names == SCHEME


def test_raw_parquet_keeps_every_odd_value(empty_db, tmp_path):
    """Skips, flags, notes, durations, changed timestamps, several sources and guidelines
    versions (with quotes): annotations.parquet, built from packed codes, says exactly
    what annotations.jsonl (rendered by SQLite) says."""
    db = empty_db
    cfg = project.load_config(db)
    p = people(db, "alice", "bob", "ohara")
    ids = add_article(db, "odd", [f"Odd {i}." for i in range(6)])
    annotate.save(db, p["alice"], ids[0], cfg, labels=["demand"], flagged=True,
                  note='a "note", =1', duration_ms=1234)
    annotate.save(db, p["bob"], ids[0], cfg, action="skip")
    annotate.save(db, p["ohara"], ids[1], cfg, labels=["none"], source="import:o'brien.csv",
                  created_at="2020-01-02T03:04:05.000+00:00")
    project.save_config(db, dataclasses.replace(cfg, guidelines_version="v'2"))
    cfg = project.load_config(db)
    annotate.save(db, p["alice"], ids[2], cfg, labels=["warning"],
                  created_at="2021-05-06T07:08:09.000+00:00")
    annotate.save(db, p["alice"], ids[2], cfg, labels=["outcome"])  # updated_at moves on
    do_export(db, tmp_path / "p", formats="parquet,raw")
    do_export(db, tmp_path / "j", formats="jsonl,raw")
    parquet = pd.read_parquet(tmp_path / "p" / "annotations.parquet")
    rows = read_jsonl(tmp_path / "j" / "annotations.jsonl")
    assert len(rows) == len(parquet) == 4
    assert {r["source"] for r in rows} >= {"app", "import:o'brien.csv"}
    assert {r["guidelines_version"] for r in rows} >= {"v'2"}
    assert any(r["updated_at"] != r["created_at"] for r in rows)
    for col in parquet.columns:
        got = [None if v is None or (isinstance(v, float) and v != v) else
               (list(v) if hasattr(v, "tolist") else v) for v in parquet[col]]
        assert got == [r[col] for r in rows], col


def test_offsets_and_the_sentences_agreement(empty_db, tmp_path):
    """``start``/``end`` slice the sentence out of its article's stored text;
    ``agreement`` is the share of agreeing annotator pairs: 3 of 3 agree -> 1.0, 2 of 3
    -> 1/3 (one pair of three), a single annotator -> null."""
    db = empty_db
    cfg = project.load_config(db)
    p = people(db, "alice", "bob", "carol")
    sids = add_article(db, "offsets", ["First one.", "Second, with “quotes” – 北京.",
                                       "Third."])
    for who in ("alice", "bob", "carol"):
        annotate.save(db, p[who], sids[0], cfg, labels=["demand"])
    for who, lab in (("alice", "demand"), ("bob", "demand"), ("carol", "warning")):
        annotate.save(db, p[who], sids[1], cfg, labels=[lab])
    annotate.save(db, p["alice"], sids[2], cfg, labels=["outcome"])
    out = tmp_path / "out"
    do_export(db, out, gold_policy="majority", min_annotators=1, ratios=None)
    rows = {r["id"]: r for r in read_jsonl(out / "dataset.jsonl")}
    article = db.execute("SELECT text FROM articles").fetchone()[0]
    assert len(rows) == 3
    for r in rows.values():
        assert article[r["start"]:r["end"]] == r["text"]
    assert sorted(r["agreement"] for r in rows.values() if r["agreement"] is not None) == [
        0.3333, 1.0]
    assert [r for r in rows.values() if r["agreement"] is None][0]["n_annotators"] == 1
    frame = pd.read_parquet(out / "dataset.parquet")
    assert list(frame["start"]) == [r["start"] for r in rows.values()]
    assert [None if v != v else v for v in frame["agreement"]] == [
        r["agreement"] for r in rows.values()]
    csv = pd.read_csv(out / "dataset.csv", dtype=str, keep_default_na=False)
    assert list(csv["agreement"]) == ["" if r["agreement"] is None else repr(r["agreement"])
                                      for r in rows.values()]
    db.close()
