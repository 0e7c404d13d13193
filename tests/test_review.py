"""labeling/review.py: the disagreement queue (order, filters, incremental refresh),
adjudication (events + gold), unanimous gold, ties, flagged sentences."""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest

import db.sentences as sentences_db
from db import write_transaction
from labeling import agreement, annotate, ingest, review
from labeling.agreement import frames as agreement_frames
from labeling.review import ReviewError


@pytest.fixture(autouse=True)
def _fresh_index():
    review.clear_cache()
    yield
    review.clear_cache()



@pytest.fixture
def people(project_db):
    """Three annotators and a reviewer; every content sentence needs three labels."""
    ids = {n: annotate.add_annotator(project_db, n)["id"] for n in ("ann", "bob", "cat")}
    ids["rita"] = annotate.add_annotator(project_db, "rita", "reviewer", "rita-pw")["id"]
    with write_transaction(project_db) as conn:
        sentences_db.set_targets(conn, 3)
    return ids


def content(db) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT id FROM sentences WHERE kind = 'content' ORDER BY id")]


def label(db, cfg, people, sid, **by_name):
    for name, labels in by_name.items():
        labels = [labels] if isinstance(labels, str) else labels
        annotate.save(db, people[name], sid, cfg, labels=labels)


def gold(db, sid):
    row = db.execute("SELECT labels, source, reviewer_id, rationale, event_id FROM gold "
                     "WHERE sentence_id = ?", [sid]).fetchone()
    return None if row is None else (json.loads(row[0]), row[1], row[2], row[3], row[4])


def queue_ids(db, **filters) -> list[int]:
    return [e.sentence_id for e in review.queue(db, limit=1000, **filters).entries]


# ----------------------------------------------------------------------------- pure


@pytest.mark.parametrize("sets, expected", [
    ([["a"], ["a"]], 1.0),
    ([["a"], ["b"]], 0.0),
    ([["a"], ["a"], ["b"]], 1 / 3),
    ([["a"], ["b"], ["c"]], 0.0),
    ([["a"], ["a"], ["b"], ["b"]], 2 / 6),
    ([["a", "b"], ["b", "a"]], 1.0),  # label order within a set does not matter
    ([["a"]], None),
    ([["a"], []], None),  # a skip is not a label
])
def test_unit_agreement(sets, expected):
    got = review.unit_agreement(sets)
    assert got == pytest.approx(expected) if expected is not None else got is None


@pytest.mark.parametrize("alpha, reading", [
    (None, "not defined"), (0.95, "reliable"), (0.800, "reliable"), (0.7999, "tentative"),
    (0.667, "tentative"), (0.6669, "unreliable"), (-0.2, "unreliable")])
def test_alpha_reading(alpha, reading):
    assert agreement_frames.alpha_reading(alpha) == reading


# ----------------------------------------------------------------------------- queue


def test_queue_lowest_agreement_first(project_db, cfg, people):
    s = content(project_db)
    label(project_db, cfg, people, s[0], ann="demand", bob="demand", cat="warning")   # 1/3
    label(project_db, cfg, people, s[1], ann="demand", bob="warning", cat="none")     # 0
    label(project_db, cfg, people, s[2], ann="demand", bob="demand", cat="demand")    # 1
    label(project_db, cfg, people, s[3], ann="outcome", bob="none")                   # 0
    label(project_db, cfg, people, s[4], ann="outcome")                               # 1 label
    label(project_db, cfg, people, s[5], ann="none", bob="none")                      # 1, 2 of 3
    q = review.queue(project_db)
    # equal agreement: by sentence id, never at random
    assert [e.sentence_id for e in q.entries] == [s[1], s[3], s[0]]
    assert [e.agreement for e in q.entries] == pytest.approx([0.0, 0.0, 1 / 3])
    assert [e.n_labels for e in q.entries] == [3, 2, 3]
    assert q.total == 3
    assert q.entries[0].public_id.endswith(":" + str(
        project_db.execute("SELECT idx FROM sentences WHERE id = ?", [s[1]]).fetchone()[0]))
    head = review.queue(project_db, limit=2)
    assert [e.sentence_id for e in head.entries] == [s[1], s[3]] and head.total == 3


def test_queue_filters(project_db, cfg, people, tmp_path):
    s = content(project_db)
    label(project_db, cfg, people, s[0], ann="demand", bob="warning")
    label(project_db, cfg, people, s[1], ann="none", cat="outcome")
    label(project_db, cfg, people, s[2], bob="concession", cat="none")
    src = tmp_path / "other.txt"
    src.write_text("Talks resumed on Monday. Both sides demanded more time. The envoy left.\n",
                   encoding="utf-8")
    ingest.import_paths(project_db, [src])
    other = [r[0] for r in project_db.execute(
        "SELECT id FROM sentences WHERE kind = 'content' AND article_id = "
        "(SELECT max(id) FROM articles) ORDER BY id")]
    assert other and other[0] > s[-1]
    seed_ext = project_db.execute(
        "SELECT a.external_id FROM articles a JOIN sentences s ON s.article_id = a.id "
        "WHERE s.id = ?", [s[0]]).fetchone()[0]
    other_ext = project_db.execute(
        "SELECT a.external_id FROM articles a JOIN sentences s ON s.article_id = a.id "
        "WHERE s.id = ?", [other[0]]).fetchone()[0]
    with write_transaction(project_db) as conn:
        sentences_db.set_targets(conn, 3)
    label(project_db, cfg, people, other[0], ann="demand", cat="warning")

    assert queue_ids(project_db) == [s[0], s[1], s[2], other[0]]
    assert queue_ids(project_db, annotator="ann") == [s[0], s[1], other[0]]
    assert queue_ids(project_db, annotator="bob") == [s[0], s[2]]
    assert queue_ids(project_db, label="demand") == [s[0], other[0]]
    assert queue_ids(project_db, label="none") == [s[1], s[2]]
    assert queue_ids(project_db, label="demand", annotator="cat") == [other[0]]
    assert queue_ids(project_db, article=seed_ext) == [s[0], s[1], s[2]]
    assert queue_ids(project_db, article=other_ext) == [other[0]]
    assert queue_ids(project_db, article=other_ext, annotator="bob") == []
    assert review.queue(project_db, annotator="nobody").total == 0
    assert review.queue(project_db, article="no-such-article").total == 0
    assert review.queue_annotators(project_db) == ["ann", "bob", "cat"]


def test_adjudicate_writes_event_and_gold_and_leaves_the_queue(project_db, cfg, people):
    s = content(project_db)
    label(project_db, cfg, people, s[0], ann="demand", bob="warning")
    label(project_db, cfg, people, s[1], ann="none", bob="outcome")
    assert queue_ids(project_db) == [s[0], s[1]]
    eid = review.adjudicate(project_db, people["rita"], s[0], ["warning"], cfg,
                            rationale="  a threat of consequences  ")
    ev = project_db.execute("SELECT action, annotator_id, labels, note, guidelines_version "
                            "FROM events WHERE id = ?", [eid]).fetchone()
    assert ev == ("adjudicate", people["rita"], '["warning"]', "a threat of consequences",
                  cfg.guidelines_version)
    assert gold(project_db, s[0]) == (["warning"], "adjudicated", people["rita"],
                                      "a threat of consequences", eid)
    q = review.queue(project_db)
    assert [e.sentence_id for e in q.entries] == [s[1]] and q.total == 1
    item = review.load(project_db, s[0])
    assert item.gold["source"] == "adjudicated" and item.gold["reviewer"] == "rita"
    assert [(j.annotator, j.labels) for j in item.judgements] == [
        ("ann", ("demand",)), ("bob", ("warning",))]
    assert item.agreement == 0.0


def test_readjudication_appends_another_event(project_db, cfg, people):
    s = content(project_db)
    label(project_db, cfg, people, s[0], ann="demand", bob="warning")
    e1 = review.adjudicate(project_db, people["rita"], s[0], ["warning"], cfg)
    e2 = review.adjudicate(project_db, people["rita"], s[0], ["demand"], cfg, rationale="on reflection")
    assert e2 > e1
    hist = review.history(project_db, s[0])
    assert [(h["id"], h["labels"], h["note"]) for h in hist] == [
        (e1, ["warning"], None), (e2, ["demand"], "on reflection")]
    assert gold(project_db, s[0])[:2] == (["demand"], "adjudicated")
    assert gold(project_db, s[0])[4] == e2
    assert queue_ids(project_db) == []


def test_adjudicate_refuses_bad_requests(project_db, cfg, people):
    s = content(project_db)
    label(project_db, cfg, people, s[0], ann="demand", bob="warning")
    with pytest.raises(ReviewError, match="reviewers and admins"):
        review.adjudicate(project_db, people["ann"], s[0], ["demand"], cfg)
    with pytest.raises(ReviewError, match="unknown label"):
        review.adjudicate(project_db, people["rita"], s[0], ["threat"], cfg)
    with pytest.raises(ReviewError, match="one label"):
        review.adjudicate(project_db, people["rita"], s[0], ["demand", "warning"], cfg)
    with pytest.raises(ReviewError, match="at least one"):
        review.adjudicate(project_db, people["rita"], s[0], [], cfg)
    with pytest.raises(ReviewError, match="no sentence"):
        review.adjudicate(project_db, people["rita"], 10**9, ["demand"], cfg)
    boiler = project_db.execute("SELECT id FROM sentences WHERE kind = 'boilerplate' LIMIT 1"
                                ).fetchone()[0]
    with pytest.raises(ReviewError, match="not a content sentence"):
        review.adjudicate(project_db, people["rita"], boiler, ["demand"], cfg)
    # nothing was written by any refused request
    assert project_db.execute("SELECT count(*) FROM events WHERE action = 'adjudicate'"
                              ).fetchone()[0] == 0
    assert gold(project_db, s[0]) is None and queue_ids(project_db) == [s[0]]
    # an admin may decide; multi-label projects take label sets
    admin = annotate.add_annotator(project_db, "ada", "admin", "ada-pw")["id"]
    multi = dataclasses.replace(cfg, multi_label=True)
    review.adjudicate(project_db, admin, s[0], ["warning", "demand"], multi)
    assert gold(project_db, s[0])[:2] == (["demand", "warning"], "adjudicated")


def test_unanimous_gold_is_automatic_and_never_replaces_an_adjudication(project_db, cfg,
                                                                         people):
    s = content(project_db)
    # unanimous among all (>= target) annotators: gold without a reviewer
    label(project_db, cfg, people, s[0], ann="outcome", bob="outcome")
    assert gold(project_db, s[0]) is None  # 2 of 3 labels: not yet
    label(project_db, cfg, people, s[0], cat="outcome")
    assert gold(project_db, s[0])[:3] == (["outcome"], "unanimous", None)
    assert queue_ids(project_db) == []
    # a changed label breaks unanimity: the gold goes, the sentence enters the queue
    label(project_db, cfg, people, s[0], cat="none")
    assert gold(project_db, s[0]) is None and queue_ids(project_db) == [s[0]]

    # adjudicated while disagreeing; later unanimity does not overwrite the decision
    label(project_db, cfg, people, s[1], ann="demand", bob="warning", cat="warning")
    eid = review.adjudicate(project_db, people["rita"], s[1], ["concession"], cfg,
                            rationale="offers talks")
    label(project_db, cfg, people, s[1], ann="warning")  # now all three say warning
    assert gold(project_db, s[1]) == (["concession"], "adjudicated", people["rita"],
                                      "offers talks", eid)
    assert s[1] not in queue_ids(project_db)
    # and adjudicating a unanimous sentence overrides its unanimous gold
    label(project_db, cfg, people, s[2], ann="none", bob="none", cat="none")
    review.adjudicate(project_db, people["rita"], s[2], ["outcome"], cfg)
    label(project_db, cfg, people, s[2], ann="none")  # a relabel re-checks unanimity
    assert gold(project_db, s[2])[:2] == (["outcome"], "adjudicated")


def test_ties_stay_unresolved(project_db, cfg, people):
    s = content(project_db)
    with write_transaction(project_db) as conn:
        sentences_db.set_targets(conn, 2)
    label(project_db, cfg, people, s[0], ann="demand", bob="warning")  # 1:1 tie, complete
    with write_transaction(project_db) as conn:
        sentences_db.set_targets(conn, 4)
    label(project_db, cfg, people, s[1], ann="demand", bob="demand", cat="warning")
    annotate.save(project_db, people["rita"], s[1], cfg, labels=["warning"])  # 2:2 tie
    for sid in s[:2]:
        assert gold(project_db, sid) is None
    assert project_db.execute("SELECT count(*) FROM gold").fetchone()[0] == 0
    assert queue_ids(project_db) == [s[0], s[1]]
    assert review.gold_counts(project_db) == {"adjudicated": 0, "unanimous": 0, "majority": 0}


def test_flagged_sentences_with_notes(project_db, cfg, people):
    s = content(project_db)
    annotate.save(project_db, people["ann"], s[3], cfg, labels=["demand"], flagged=True,
                  note="is a *request* a demand?")
    annotate.save(project_db, people["bob"], s[3], cfg, labels=["demand"])
    annotate.save(project_db, people["cat"], s[1], cfg, action="skip", flagged=True,
                  note="garbled text")
    items, total = review.flagged(project_db)
    assert total == 2
    assert [i["sentence_id"] for i in items] == [s[1], s[3]]
    assert items[1]["flags"] == [{"annotator": "ann", "note": "is a *request* a demand?",
                                  "labels": ["demand"], "status": "labeled"}]
    assert items[0]["flags"][0]["status"] == "skipped" and items[0]["gold_source"] is None
    # an adjudicated flagged sentence moves to the end of the list
    review.adjudicate(project_db, people["rita"], s[1], ["none"], cfg)
    items, _ = review.flagged(project_db)
    assert [i["sentence_id"] for i in items] == [s[3], s[1]]
    assert items[1]["gold_source"] == "adjudicated"
    # unflagging removes it
    annotate.save(project_db, people["ann"], s[3], cfg, labels=["demand"], flagged=False)
    items, total = review.flagged(project_db)
    assert [i["sentence_id"] for i in items] == [s[1]] and total == 1


# ----------------------------------------------------------------------------- the index


def _fresh(db, **filters):
    """The queue as a brand-new index (full scan) computes it."""
    review.clear_cache()
    q = review.queue(db, limit=10_000, **filters)
    return [(e.sentence_id, round(e.agreement, 9), e.n_labels) for e in q.entries], q.total


def test_incremental_refresh_equals_a_full_scan(project_db, cfg, people):
    """Random labels, relabels, skips, flags and decisions: after each step the queue
    (kept up to date from events) equals the one a full scan builds."""
    rng = random.Random(7)
    s = content(project_db)
    names = ["ann", "bob", "cat", "rita"]
    with write_transaction(project_db) as conn:
        sentences_db.set_targets(conn, 4)
    for step in range(120):
        sid = rng.choice(s[:12])
        who = rng.choice(names)
        roll = rng.random()
        if roll < 0.12:
            review.adjudicate(project_db, people["rita"], sid, [rng.choice(cfg.label_names)],
                              cfg)
        elif roll < 0.2:
            annotate.save(project_db, people[who], sid, cfg, action="skip",
                          flagged=rng.random() < 0.5, note="hm")
        else:
            annotate.save(project_db, people[who], sid, cfg,
                          labels=[rng.choice(cfg.label_names[:3])],
                          flagged=rng.random() < 0.1)
        if step % 10 == 9:
            kept = review.queue(project_db, limit=10_000)
            kept_flagged = review.flagged(project_db, limit=100)
            incremental = ([(e.sentence_id, round(e.agreement, 9), e.n_labels)
                            for e in kept.entries], kept.total)
            for f in (None, "demand"):
                inc = review.queue(project_db, limit=10_000, label=f, annotator="bob")
                full_f = _fresh(project_db, label=f, annotator="bob")
                assert [e.sentence_id for e in inc.entries] == [x[0] for x in full_f[0]]
            assert incremental == _fresh(project_db)
            assert kept_flagged == review.flagged(project_db, limit=100)
    assert review.queue(project_db).total > 0  # the walk left disagreements to compare


def test_full_read_and_incremental_reads_agree(project_db, cfg, people, monkeypatch):
    """The label matrix read in one pass (packed rows, several ranges, label sets learnt
    on the way; flags read on first use) and the same matrix grown from nothing by
    incremental re-reads of every sentence give identical queues and flags, including
    multi-label sets stored in different orders."""
    import db.label_cells as label_cells_db
    from labeling import label_matrix

    multi = dataclasses.replace(cfg, multi_label=True)
    s = content(project_db)
    rng = random.Random(3)
    for sid in s:
        for who in ("ann", "bob", "cat"):
            k = rng.randint(1, 3)
            labs = rng.sample(cfg.label_names, k)
            annotate.save(project_db, people[who], sid, multi, labels=labs,
                          flagged=rng.random() < 0.2)
    review.adjudicate(project_db, people["rita"], s[4], ["none"], cfg)
    monkeypatch.setattr(label_cells_db, "_CHUNK", 7)  # many ranges
    monkeypatch.setattr(label_cells_db, "_RESCAN_AFTER", 0)  # learn label sets, rescan
    full = label_matrix.LabelMatrix()
    full._read_all(project_db, lambda: [])
    fast = review._QueueView()
    fast.rebuild(full)
    grown = label_matrix.LabelMatrix()
    slow = grown.views["queue"] = review._QueueView()
    grown.flagged = np.zeros(0, dtype=np.int64)  # as if read when nothing was flagged
    grown._read_changed(project_db, s)
    for name in ("sid", "agree", "n", "key", "c_slot", "c_annot"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert ([full.sets[c] for c in fast.c_code] == [grown.sets[c] for c in slow.c_code])
    assert full.flagged_sentences(project_db) == grown.flagged_sentences(project_db) != []
    assert s[4] not in fast.sid.tolist()
    # ["b","a"] and ["a","b"] are one label set
    assert all(list(x) == sorted(x) for x in full.sets)
    (f_sid, f_annot, f_code), (g_sid, g_annot, g_code) = full.labeled(), grown.labeled()
    assert np.array_equal(f_sid, g_sid) and np.array_equal(f_annot, g_annot)
    assert [full.sets[c] for c in f_code] == [grown.sets[c] for c in g_code]
    grown._read_changed(project_db, s[:5])  # cells of re-read sentences die in the tail
    grown._merge()  # ... and the tail sorted into the base gives the same cells
    assert all(np.array_equal(x, y) for x, y in zip((g_sid, g_annot, g_code), grown.labeled()))
    assert full.flagged_sentences(project_db) == grown.flagged_sentences(project_db)


def test_frames_for_the_charts():
    figures = {"per_label": {"demand": {"alpha": 0.5, "n": 4}, "none": {"alpha": None, "n": 0}},
               "notes": ["per_label[none]: not defined — never used in a pairable unit"],
               "cohen_kappa": {"ann|bob": 0.25, "ann|cat": None}}
    rep = agreement.Report(figures, {"per_label": {
        "none": "not defined — never used in a pairable unit"}})
    per = agreement_frames.per_label_frame(rep)
    assert per["label"].tolist() == ["demand", "none"] and per["alpha"].iloc[0] == 0.5
    assert np.isnan(per["alpha"].iloc[1])
    assert per["note"].tolist() == ["", "not defined — never used in a pairable unit"]
    pairs = agreement_frames.kappa_pairs_frame(figures)
    assert sorted(zip(pairs["a"], pairs["b"])) == [("ann", "bob"), ("ann", "cat"),
                                                   ("bob", "ann"), ("cat", "ann")]
    assert pairs.set_index(["a", "b"]).loc[("bob", "ann"), "kappa"] == 0.25
    import pandas as pd
    conf = pd.DataFrame([[2, 1], [0, 3]], index=pd.Index(["x", "y"], name="ann"),
                        columns=pd.Index(["x", "y"], name="bob"))
    long = agreement_frames.confusion_long(conf)
    assert list(long.itertuples(index=False, name=None)) == [
        ("x", "x", 2), ("x", "y", 1), ("y", "x", 0), ("y", "y", 3)]
