"""labeling/annotate.py: save semantics, unanimous gold, label validation, identities."""

from __future__ import annotations

import dataclasses
import json

import pytest

from labeling import annotate
from labeling.annotate import AuthError, LabelingError, QuotaReached



@pytest.fixture
def people(project_db):
    return [annotate.add_annotator(project_db, n)["id"] for n in ("ann", "bob", "cat")]


def events(db, sid):
    return [dict(zip(("action", "annotator_id", "labels", "note"), r)) for r in db.execute(
        "SELECT action, annotator_id, labels, note FROM events WHERE sentence_id = ? "
        "ORDER BY id", [sid])]


def gold(db, sid):
    row = db.execute("SELECT labels, source FROM gold WHERE sentence_id = ?", [sid]).fetchone()
    return None if row is None else (json.loads(row[0]), row[1])


def n_done(db, sid):
    return db.execute("SELECT n_done FROM sentences WHERE id = ?", [sid]).fetchone()[0]


def first_content(db):
    return db.execute("SELECT id FROM sentences WHERE kind = 'content' ORDER BY ord LIMIT 1"
                      ).fetchone()[0]


# ----------------------------------------------------------------------------- save


def test_relabel_appends_events_and_replaces_the_annotation(project_db, cfg, people):
    a = people[0]
    sid = annotate.next_item(project_db, a, cfg).sentence_id
    e1 = annotate.save(project_db, a, sid, cfg, labels=["demand"], duration_ms=1200)
    e2 = annotate.save(project_db, a, sid, cfg, labels=["warning"])
    assert e2 > e1
    assert [(e["action"], e["labels"]) for e in events(project_db, sid)] == [
        ("label", '["demand"]'), ("label", '["warning"]')]
    item = annotate.load_item(project_db, sid, a)
    assert item.labels == ("warning",) and item.status == "labeled"
    assert n_done(project_db, sid) == 1  # a relabel is not a second label
    rows = project_db.execute("SELECT count(*) FROM annotations WHERE sentence_id = ?",
                              [sid]).fetchone()[0]
    assert rows == 1


def test_skip_does_not_count_and_a_label_turned_skip_gives_its_seat_back(project_db, cfg,
                                                                         people):
    a = people[0]
    sid = first_content(project_db)
    annotate.save(project_db, a, sid, cfg, action="skip")
    assert n_done(project_db, sid) == 0
    annotate.save(project_db, a, sid, cfg, labels=["none"])
    assert n_done(project_db, sid) == 1
    annotate.save(project_db, a, sid, cfg, action="skip")
    assert n_done(project_db, sid) == 0
    assert [e["action"] for e in events(project_db, sid)] == ["skip", "label", "skip"]
    assert annotate.load_item(project_db, sid, a).status == "skipped"
    # the per-annotator label counter (kept by triggers) followed label -> skip
    assert [p["labels"] for p in annotate.list_annotators(project_db) if p["id"] == a] == [0]
    annotate.save(project_db, a, sid, cfg, labels=["demand"])
    assert annotate.progress(project_db, a)["mine_total"] == 1


def test_flag_and_note_are_saved_with_their_own_events(project_db, cfg, people):
    a = people[0]
    sid = first_content(project_db)
    annotate.save(project_db, a, sid, cfg, labels=["none"], flagged=True, note="  caption?  ")
    item = annotate.load_item(project_db, sid, a)
    assert item.flagged and item.note == "caption?"
    annotate.save(project_db, a, sid, cfg, labels=["none"], flagged=False)
    assert [e["action"] for e in events(project_db, sid)] == ["label", "flag", "label", "unflag"]
    assert not annotate.load_item(project_db, sid, a).flagged


def test_unanimous_gold_appears_when_both_agree_and_is_withdrawn_on_relabel(project_db, cfg,
                                                                            people):
    a, b, _ = people
    sid = first_content(project_db)
    annotate.save(project_db, a, sid, cfg, labels=["demand"])
    assert gold(project_db, sid) is None  # one label is not unanimity
    annotate.save(project_db, b, sid, cfg, labels=["demand"])
    assert gold(project_db, sid) == (["demand"], "unanimous")
    annotate.save(project_db, b, sid, cfg, labels=["warning"])
    assert gold(project_db, sid) is None
    annotate.save(project_db, b, sid, cfg, labels=["demand"])
    assert gold(project_db, sid) == (["demand"], "unanimous")
    annotate.save(project_db, a, sid, cfg, action="skip")  # one of two withdraws
    assert gold(project_db, sid) is None


def test_disagreement_gives_no_gold(project_db, cfg, people):
    a, b, _ = people
    sid = first_content(project_db)
    annotate.save(project_db, a, sid, cfg, labels=["demand"])
    annotate.save(project_db, b, sid, cfg, labels=["none"])
    assert gold(project_db, sid) is None


def test_adjudicated_gold_is_never_overwritten_by_unanimity(project_db, cfg, people):
    import db.gold as gold_db
    from db import write_transaction

    a, b, _ = people
    sid = first_content(project_db)
    with write_transaction(project_db) as conn:
        gold_db.set_gold(conn, sentence_id=sid, labels=["outcome"], source="adjudicated",
                   reviewer_id=a, rationale="r", event_id=None, now="2024-01-01T00:00:00")
    annotate.save(project_db, a, sid, cfg, labels=["demand"])
    annotate.save(project_db, b, sid, cfg, labels=["demand"])
    assert gold(project_db, sid) == (["outcome"], "adjudicated")


def test_quota_reached_for_an_unrouted_first_label_writes_nothing(project_db, cfg, people):
    a, b, c = people
    sid = first_content(project_db)
    annotate.save(project_db, a, sid, cfg, labels=["none"])
    annotate.save(project_db, b, sid, cfg, labels=["none"])
    before = project_db.execute("SELECT count(*) FROM events").fetchone()[0]
    with pytest.raises(QuotaReached):
        annotate.save(project_db, c, sid, cfg, labels=["none"])
    assert project_db.execute("SELECT count(*) FROM events").fetchone()[0] == before
    assert annotate.load_item(project_db, sid, c).status is None
    assert n_done(project_db, sid) == 2
    # a skip is always allowed (it takes no seat), and relabels by seat holders too
    annotate.save(project_db, c, sid, cfg, action="skip")
    annotate.save(project_db, a, sid, cfg, labels=["outcome"])


# ----------------------------------------------------------------------------- labels


@pytest.mark.parametrize("labels,message", [
    ([], "at least one label"),
    (["threat"], "unknown label(s): threat"),
    (["demand", "warning"], "one label per sentence"),
])
def test_single_label_validation(project_db, cfg, people, labels, message):
    sid = first_content(project_db)
    with pytest.raises(LabelingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        annotate.save(project_db, people[0], sid, cfg, labels=labels)
    assert events(project_db, sid) == []


def test_multi_label_accepts_several_and_deduplicates(project_db, cfg, people):
    multi = dataclasses.replace(cfg, multi_label=True)
    a, b, _ = people
    sid = first_content(project_db)
    annotate.save(project_db, a, sid, multi, labels=["warning", "demand", "warning"])
    assert annotate.load_item(project_db, sid, a).labels == ("warning", "demand")
    with pytest.raises(LabelingError, match="unknown"):
        annotate.save(project_db, a, sid, multi, labels=["demand", "bogus"])
    with pytest.raises(LabelingError, match="at least one"):
        annotate.save(project_db, a, sid, multi, labels=[])
    # the same set in another order is unanimous
    annotate.save(project_db, b, sid, multi, labels=["demand", "warning"])
    assert gold(project_db, sid) == (["demand", "warning"], "unanimous")


def test_unknown_action_sentence_and_boilerplate_are_labeling_errors(project_db, cfg, people):
    a = people[0]
    with pytest.raises(LabelingError, match="unknown action"):
        annotate.save(project_db, a, first_content(project_db), cfg, action="undo")
    with pytest.raises(LabelingError, match="no sentence with id"):
        annotate.save(project_db, a, 10**9, cfg, labels=["none"])
    boiler = project_db.execute("SELECT id FROM sentences WHERE kind = 'boilerplate' LIMIT 1"
                                ).fetchone()[0]
    with pytest.raises(LabelingError, match="not a content sentence"):
        annotate.save(project_db, a, boiler, cfg, labels=["none"])
    with pytest.raises(LabelingError):
        annotate.save(project_db, 999, first_content(project_db), cfg, labels=["none"])


def test_guidelines_version_and_source_are_stored_with_each_label(project_db, cfg, people):
    sid = first_content(project_db)
    annotate.save(project_db, people[0], sid, dataclasses.replace(cfg, guidelines_version="7"),
                  labels=["none"], source="cli")
    row = project_db.execute("SELECT guidelines_version, source FROM events WHERE sentence_id = ?",
                             [sid]).fetchone()
    assert row == ("7", "cli")


# ----------------------------------------------------------------------------- identities


def test_password_is_stored_only_as_a_salted_scrypt_hash(project_db):
    annotate.add_annotator(project_db, "dora", password="correct horse")
    annotate.add_annotator(project_db, "eve", password="correct horse")
    hashes = [r[0] for r in project_db.execute(
        "SELECT password_hash FROM annotators WHERE name IN ('dora', 'eve')")]
    assert all(h.startswith("scrypt$") for h in hashes)
    assert hashes[0] != hashes[1]  # salted
    assert all("correct horse" not in h for h in hashes)
    assert annotate.authenticate(project_db, "dora", "correct horse")
    assert not annotate.authenticate(project_db, "dora", "wrong")
    assert not annotate.authenticate(project_db, "nobody", "correct horse")
    assert annotate.needs_password(project_db, "dora")


def test_hash_password_verifies_and_rejects():
    h = annotate.hash_password("pässword")
    assert annotate.check_password("pässword", h)
    assert not annotate.check_password("password", h)
    assert not annotate.check_password("pässword", "garbage")
    assert not annotate.check_password("pässword", "md5$1$2$3$00$00")
    salt = b"0" * 16
    assert annotate.hash_password("x", salt=salt) == annotate.hash_password("x", salt=salt)


def test_public_annotator_never_contains_the_hash(project_db):
    person = annotate.add_annotator(project_db, "finn", "reviewer", "pw")
    assert "password_hash" not in person and person["has_password"] is True
    listed = annotate.list_annotators(project_db)
    assert all("password_hash" not in r for r in listed)


@pytest.mark.parametrize("name", ["", " ann", "ann ", "a" * 41, "ann!", "<b>", "x\ny"])
def test_invalid_names_are_rejected(project_db, name):
    assert not annotate.valid_name(name)
    with pytest.raises(LabelingError, match="invalid annotator name"):
        annotate.add_annotator(project_db, name)


@pytest.mark.parametrize("name", ["a", "Ann Lee", "ann-lee_2.0", "A" * 40])
def test_valid_names(name):
    assert annotate.valid_name(name)


def test_roles_and_duplicates(project_db):
    with pytest.raises(LabelingError, match="invalid role"):
        annotate.add_annotator(project_db, "gus", "boss")
    annotate.add_annotator(project_db, "gus", "reviewer", "pw")
    with pytest.raises(LabelingError, match="already exists"):
        annotate.add_annotator(project_db, "gus")
    updated = annotate.add_annotator(project_db, "gus", "admin", update=True)
    assert updated["role"] == updated["assigned_role"] == "admin"


def test_ensure_annotator_creates_on_first_use(project_db, cfg):
    person = annotate.ensure_annotator(project_db, "hana", cfg)
    assert person["role"] == "annotator"
    assert annotate.ensure_annotator(project_db, "hana", cfg)["id"] == person["id"]


def test_ensure_annotator_with_require_signin_only_admits_known_people(project_db, cfg):
    strict = dataclasses.replace(cfg, require_signin=True)
    with pytest.raises(AuthError, match="not an annotator of this project"):
        annotate.ensure_annotator(project_db, "ivan", strict)
    assert project_db.execute("SELECT count(*) FROM annotators WHERE name = 'ivan'"
                              ).fetchone()[0] == 0
    annotate.add_annotator(project_db, "ivan")
    assert annotate.ensure_annotator(project_db, "ivan", strict)["name"] == "ivan"


# ----------------------------------------------------------------------------- progress


def test_progress_and_history(project_db, cfg, people):
    a, b, _ = people
    p = annotate.progress(project_db, a)
    assert p == {"mine_today": 0, "mine_total": 0, "complete": 0, "content_sentences": 27}
    done = []
    for _ in range(3):
        sid = annotate.next_item(project_db, a, cfg).sentence_id
        annotate.save(project_db, a, sid, cfg, labels=["none"])
        done.append(sid)
    sid = annotate.next_item(project_db, a, cfg).sentence_id
    annotate.save(project_db, a, sid, cfg, action="skip")
    assert annotate.history(project_db, a) == done + [sid]
    first = annotate.next_item(project_db, b, cfg).sentence_id
    annotate.save(project_db, b, first, cfg, labels=["none"])
    p = annotate.progress(project_db, a)
    assert p == {"mine_today": 3, "mine_total": 3, "complete": 1, "content_sentences": 27}
