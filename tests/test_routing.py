"""Routing: overlap, leases, skips, order, per-sentence targets, concurrency, query plans."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter

import pytest

import db as store
import db.annotations as annotations_db
import db.hot_path as hot_path_db
import db.sentences as sentences_db
import db.settings as settings_db
from tests.db_helpers import done_counts
from benchmarks.labeling_db import build_corpus, plans_ok
from labeling import annotate, config, project, routing
from labeling.annotate import QuotaReached

T0 = 1_700_000_000.0  # a fixed "now" so lease arithmetic is exact



def people(db, *names):
    return [annotate.add_annotator(db, n)["id"] for n in names]


def drain(db, who, cfg, *, now=T0, label="none", limit=10_000):
    """Label everything routing gives ``who``; the sentence ids in the order received."""
    got = []
    for _ in range(limit):
        item = annotate.next_item(db, who, cfg, now=now)
        if item is None:
            return got
        annotate.save(db, who, item.sentence_id, cfg, labels=[label], now=now)
        got.append(item.sentence_id)
    raise AssertionError("routing never ran dry")


def content_ids(db):
    return [r[0] for r in db.execute(
        "SELECT id FROM sentences WHERE kind = 'content' ORDER BY article_id, idx")]


def assert_counts_exact(db):
    for sid, target, n_done, labeled in done_counts(db):
        assert n_done == labeled, (sid, n_done, labeled)
        assert labeled <= target, (sid, labeled, target)
    counted = sentences_db.count_progress(db)
    assert sentences_db.project_progress(db) == {k: counted[k] for k in ("content_sentences", "complete")}
    listed = {r["id"]: r["labels"] for r in annotate.list_annotators(db)}
    assert listed == counted["labeled"]


# ----------------------------------------------------------------------------- overlap


def test_overlap_two_third_annotator_gets_nothing_once_two_finished(project_db, cfg):
    a, b, c = people(project_db, "ann", "bob", "cat")
    sentences = content_ids(project_db)
    assert len(sentences) == 27
    assert drain(project_db, a, cfg) == sentences  # sequential: article order
    assert drain(project_db, b, cfg) == sentences
    assert annotate.next_item(project_db, c, cfg, now=T0) is None
    assert all(n == 2 == t for _, t, n, _ in done_counts(project_db))
    assert sentences_db.project_progress(project_db) == {"content_sentences": 27, "complete": 27}
    assert_counts_exact(project_db)


def test_interleaved_annotators_share_the_work_without_exceeding_overlap(project_db, cfg):
    team = people(project_db, "ann", "bob", "cat")
    per = Counter()
    live = list(team)
    while live:
        for who in list(live):
            item = annotate.next_item(project_db, who, cfg, now=T0)
            if item is None:
                live.remove(who)
                continue
            annotate.save(project_db, who, item.sentence_id, cfg, labels=["none"], now=T0)
            per[who] += 1
    assert sum(per.values()) == 27 * 2
    assert all(per[w] > 0 for w in team)
    assert all(n == 2 for _, _, n, _ in done_counts(project_db))
    assert_counts_exact(project_db)


def test_a_live_lease_counts_toward_the_overlap(project_db, cfg):
    a, b, c = people(project_db, "ann", "bob", "cat")
    s1 = annotate.next_item(project_db, a, cfg, now=T0).sentence_id
    assert annotate.next_item(project_db, b, cfg, now=T0).sentence_id == s1
    s2 = annotate.next_item(project_db, c, cfg, now=T0).sentence_id
    assert s2 != s1  # s1 has two holders
    # a reload shows the same sentence: the lease is held, not re-taken
    assert annotate.next_item(project_db, a, cfg, now=T0 + 5).sentence_id == s1


# ----------------------------------------------------------------------------- leases


def test_expired_lease_frees_the_seat_and_a_late_save_is_refused(project_db, cfg):
    a, b, c, d = people(project_db, "ann", "bob", "cat", "dan")
    s1 = annotate.next_item(project_db, a, cfg, now=T0).sentence_id
    assert annotate.next_item(project_db, b, cfg, now=T0).sentence_id == s1
    annotate.save(project_db, b, s1, cfg, labels=["demand"], now=T0 + 1)
    lease = cfg.lease_minutes * 60
    # still live just before expiry: c must not get s1 (n_done 1 + a's lease = 2)
    early = annotate.next_item(project_db, c, cfg, now=T0 + lease - 1)
    assert early.sentence_id != s1
    later = T0 + lease + 1
    assert annotate.next_item(project_db, d, cfg, now=later).sentence_id == s1
    annotate.save(project_db, d, s1, cfg, labels=["demand"], now=later)
    events_before = project_db.execute("SELECT count(*) FROM events").fetchone()[0]
    with pytest.raises(QuotaReached):
        annotate.save(project_db, a, s1, cfg, labels=["warning"], now=later + 1)
    assert project_db.execute("SELECT count(*) FROM events").fetchone()[0] == events_before
    assert annotations_db.get_annotation(project_db, s1, a) is None
    assert done_counts(project_db)[content_ids(project_db).index(s1)][2] == 2
    # a moves on: the stale lease is gone and s1 is not offered again
    nxt = annotate.next_item(project_db, a, cfg, now=later + 2)
    assert nxt is not None and nxt.sentence_id != s1
    assert_counts_exact(project_db)


def test_expired_lease_with_room_left_still_saves(project_db, cfg):
    (a,) = people(project_db, "ann")
    s1 = annotate.next_item(project_db, a, cfg, now=T0).sentence_id
    annotate.save(project_db, a, s1, cfg, labels=["none"], now=T0 + 10_000)
    assert annotations_db.get_annotation(project_db, s1, a)["labels"] == ["none"]


def test_one_live_lease_per_annotator(project_db, cfg):
    (a,) = people(project_db, "ann")
    s1 = annotate.next_item(project_db, a, cfg, now=T0).sentence_id
    annotate.save(project_db, a, s1, cfg, action="skip", now=T0)
    annotate.next_item(project_db, a, cfg, now=T0)
    rows = project_db.execute("SELECT count(*) FROM assignments WHERE annotator_id = ?",
                              [a]).fetchone()[0]
    assert rows == 1


def test_wrap_around_picks_up_a_sentence_freed_behind_the_cursor(project_db, cfg):
    one = dataclasses.replace(cfg, overlap=1)
    routing.apply_config(project_db, one)
    a, b = people(project_db, "ann", "bob")
    s1 = annotate.next_item(project_db, a, one, now=T0).sentence_id  # a holds s1, walks away
    got = drain(project_db, b, one, now=T0)
    assert s1 not in got and len(got) == 26
    # a's lease expires: b, whose cursor is at the end, wraps and gets s1
    assert drain(project_db, b, one, now=T0 + one.lease_minutes * 60 + 1) == [s1]


# ----------------------------------------------------------------------------- skip


def test_skipped_sentence_never_comes_back_and_does_not_count(project_db, cfg):
    a, b, c = people(project_db, "ann", "bob", "cat")
    s1 = annotate.next_item(project_db, a, cfg, now=T0).sentence_id
    annotate.save(project_db, a, s1, cfg, action="skip", now=T0)
    got = drain(project_db, a, cfg)
    assert s1 not in got and len(got) == 26
    # later, after leases expire and with wrap-around, still never s1 for a
    assert annotate.next_item(project_db, a, cfg, now=T0 + 10**6) is None
    # s1's two seats are still free for others
    assert drain(project_db, b, cfg)[0] == s1
    assert drain(project_db, c, cfg) == [s1]
    assert_counts_exact(project_db)


# ----------------------------------------------------------------------------- order


def test_cursor_moves_forward_after_relabeling_an_old_sentence(project_db, cfg):
    (a,) = people(project_db, "ann")
    done = []
    for _ in range(5):
        item = annotate.next_item(project_db, a, cfg, now=T0)
        annotate.save(project_db, a, item.sentence_id, cfg, labels=["none"], now=T0)
        done.append(item.sentence_id)
    annotate.save(project_db, a, done[0], cfg, labels=["demand"], now=T0)  # Back + relabel
    assert annotate.next_item(project_db, a, cfg, now=T0).sentence_id == content_ids(
        project_db)[5]


def _sequence(tmp_path, name, **changes):
    db = project.init(tmp_path / name, seed=True)
    cfg = dataclasses.replace(config.default(), **changes)
    routing.apply_config(db, cfg)
    (who,) = people(db, "ann")
    seq = drain(db, who, cfg)
    db.close()
    return seq


def test_random_order_is_reproducible_for_a_seed(tmp_path):
    first = _sequence(tmp_path, "a.db", order="random", seed=42)
    again = _sequence(tmp_path, "b.db", order="random", seed=42)
    other = _sequence(tmp_path, "c.db", order="random", seed=7)
    sequential = _sequence(tmp_path, "d.db")
    assert first == again
    assert sorted(first) == sorted(other) == sequential
    assert first != other and first != sequential


def test_sequential_order_walks_articles_start_to_end(empty_db):
    build_corpus(empty_db, 90, per_article=30)
    cfg = project.load_config(empty_db)
    (a,) = people(empty_db, "ann")
    got = drain(empty_db, a, cfg)
    rows = {r[0]: (r[1], r[2]) for r in empty_db.execute(
        "SELECT id, article_id, idx FROM sentences")}
    assert [rows[s] for s in got] == sorted(rows[s] for s in got)
    assert len(got) == 90


# ----------------------------------------------------------------------------- targets


def test_target_for_follows_sample_fraction_deterministically():
    cfg = {"overlap": 2, "sample_fraction": 0.25, "seed": 3}
    targets = [routing.target_for(i, cfg) for i in range(1, 20_001)]
    assert set(targets) == {1, 2}
    share = targets.count(2) / len(targets)
    assert 0.23 < share < 0.27
    assert targets == [routing.target_for(i, dict(cfg)) for i in range(1, 20_001)]
    other = [routing.target_for(i, {**cfg, "seed": 4}) for i in range(1, 20_001)]
    assert other != targets
    assert {routing.target_for(i, {"overlap": 3}) for i in range(100)} == {3}
    assert {routing.target_for(i, {"overlap": 3, "sample_fraction": 1.0}) for i in range(9)} == {3}
    # a ProjectConfig works as well as its stored dict
    pc = dataclasses.replace(config.default(), sample_fraction=0.25, seed=3)
    assert [routing.target_for(i, pc) for i in range(1, 500)] == targets[:499]


def test_import_sets_targets_from_sample_fraction(empty_db, tmp_path):
    from labeling import ingest

    cfg = dataclasses.replace(config.default(), sample_fraction=0.3, seed=5)
    routing.apply_config(empty_db, cfg)
    (tmp_path / "a.txt").write_text(
        "Headline\n\n" + " ".join(f"Envoys met for round {i} of the talks in Geneva."
                                  for i in range(1, 201)), encoding="utf-8")
    ingest.import_paths(empty_db, [tmp_path / "a.txt"])
    rows = list(empty_db.execute("SELECT id, target FROM sentences WHERE kind = 'content'"))
    assert len(rows) > 150
    assert all(t == routing.target_for(sid, cfg) for sid, t in rows)
    assert {t for _, t in rows} == {1, 2}
    # single-target sentences need one annotator only
    a, b = people(empty_db, "ann", "bob")
    drain(empty_db, a, cfg)
    assert len(drain(empty_db, b, cfg)) == sum(t == 2 for _, t in rows)
    assert_counts_exact(empty_db)


def test_config_change_updates_only_open_targets(project_db, cfg):
    a, b = people(project_db, "ann", "bob")
    first = annotate.next_item(project_db, a, cfg, now=T0).sentence_id
    annotate.save(project_db, a, first, cfg, labels=["none"], now=T0)
    annotate.next_item(project_db, b, cfg, now=T0)
    annotate.save(project_db, b, first, cfg, labels=["none"], now=T0)
    changed = routing.apply_config(project_db, dataclasses.replace(cfg, overlap=1))
    assert changed == {"targets_changed": 26, "reordered": 0}
    assert sentences_db.project_progress(project_db) == {"content_sentences": 27, "complete": 1}
    assert_counts_exact(project_db)
    changed = routing.apply_config(project_db, dataclasses.replace(cfg, overlap=3))
    assert changed["targets_changed"] == 26
    targets = dict(project_db.execute("SELECT id, target FROM sentences WHERE kind='content'"))
    assert targets[first] == 2 and sum(t == 3 for t in targets.values()) == 26


def test_lowering_the_overlap_never_leaves_a_sentence_over_quota(project_db, cfg):
    three = dataclasses.replace(cfg, overlap=3)
    routing.apply_config(project_db, three)
    a, b = people(project_db, "ann", "bob")
    sid = annotate.next_item(project_db, a, three, now=T0).sentence_id
    annotate.save(project_db, a, sid, three, labels=["none"], now=T0)
    assert annotate.next_item(project_db, b, three, now=T0).sentence_id == sid
    annotate.save(project_db, b, sid, three, labels=["none"], now=T0)
    routing.apply_config(project_db, dataclasses.replace(cfg, overlap=1))
    targets = dict(project_db.execute("SELECT id, target FROM sentences WHERE kind='content'"))
    assert targets[sid] == 2  # max(new overlap, labels given): complete, not over quota
    assert set(targets.values()) == {1, 2}
    assert sentences_db.project_progress(project_db)["complete"] == 1
    assert_counts_exact(project_db)


# ----------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("n_threads,overlap", [(10, 2), (8, 3)])
def test_concurrent_annotators_never_exceed_target_nor_repeat(empty_db, db_path, n_threads,
                                                              overlap):
    cfg = dataclasses.replace(config.default(), overlap=overlap)
    routing.apply_config(empty_db, cfg)
    build_corpus(empty_db, 240, per_article=24)
    team = people(empty_db, *[f"w{i}" for i in range(n_threads)])
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []
    got: dict[int, list[int]] = {}
    refused = Counter()

    def work(who: int) -> None:
        conn = store.connect(db_path)  # each thread its own connection
        mine = got.setdefault(who, [])
        try:
            barrier.wait()
            while True:
                item = annotate.next_item(conn, who, cfg)
                if item is None:
                    return
                try:
                    annotate.save(conn, who, item.sentence_id, cfg, labels=["none"])
                except QuotaReached:  # pragma: no cover - leases make this impossible here
                    refused[who] += 1
                mine.append(item.sentence_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in team]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert not refused
    for who, sids in got.items():
        assert len(sids) == len(set(sids)), f"annotator {who} got a sentence twice"
    per_sentence = Counter(s for sids in got.values() for s in sids)
    counts = done_counts(empty_db)
    assert len(counts) == 240
    for sid, target, n_done, labeled in counts:
        assert target == overlap
        assert labeled == n_done == target == per_sentence[sid], sid  # exactly target
    events = list(empty_db.execute(
        "SELECT sentence_id, annotator_id, count(*) FROM events WHERE action = 'label' "
        "GROUP BY sentence_id, annotator_id"))
    assert len(events) == 240 * overlap
    assert all(n == 1 for _, _, n in events)  # nobody labeled a sentence twice
    assert empty_db.execute("SELECT count(*) FROM assignments").fetchone()[0] == 0
    assert sum(len(v) > 0 for v in got.values()) >= overlap
    assert_counts_exact(empty_db)


# ----------------------------------------------------------------------------- query plans


def test_hot_path_and_page_reads_use_indexes_only(empty_db):
    build_corpus(empty_db, 3000, per_article=30)
    empty_db.execute("ANALYZE")
    plans = hot_path_db.query_plans(empty_db)
    assert set(plans) == set(hot_path_db.HOT_PATH) | set(hot_path_db.PAGE_READS)
    for name, lines in plans.items():
        for line in lines:
            bare_scan = line.startswith("SCAN") and not any(
                k in line for k in ("USING INDEX", "USING COVERING INDEX", "PRIMARY KEY"))
            assert not bare_scan, (name, line)
    assert plans_ok(plans)
    assert any("sentences_open" in line for line in plans["next_open"])
    assert not any(line.startswith("SCAN") for line in plans["next_open"])  # a range search
    assert "COVERING INDEX" in plans["mine_today"][0]  # no row lookups per label today
    # the check itself can fail: a query without an index is caught
    assert not plans_ok({"x": ["SCAN sentences"]})


def test_progress_counters_follow_imports_labels_config_and_deletes(empty_db):
    assert sentences_db.project_progress(empty_db) == {"content_sentences": 0, "complete": 0}
    build_corpus(empty_db, 100, per_article=10)
    assert sentences_db.project_progress(empty_db) == {"content_sentences": 100, "complete": 0}
    cfg = project.load_config(empty_db)
    a, b = people(empty_db, "ann", "bob")
    for who, n in ((a, 15), (b, 10)):
        for _ in range(n):
            item = annotate.next_item(empty_db, who, cfg, now=T0)
            annotate.save(empty_db, who, item.sentence_id, cfg, labels=["none"], now=T0)
    build_corpus(empty_db, 50, per_article=10, prefix="more")  # imported after counting
    assert sentences_db.project_progress(empty_db) == {"content_sentences": 150, "complete": 10}
    # a sentence becomes boilerplate, another is deleted (as maintenance tools might)
    empty_db.execute("UPDATE sentences SET kind = 'boilerplate' WHERE id = 150")
    empty_db.execute("DELETE FROM sentences WHERE id = 149")
    routing.apply_config(empty_db, dataclasses.replace(cfg, overlap=1))
    assert sentences_db.project_progress(empty_db) == {"content_sentences": 148, "complete": 15}
    build_corpus(empty_db, 5, per_article=5, prefix="last")  # reuses id 149..
    assert_counts_exact(empty_db)
    assert sentences_db.project_progress(empty_db)["content_sentences"] == 153


def test_migration_0002_counts_existing_labels_and_sets_cursors(tmp_path):
    """A database labeled under schema 0001 gets correct counters and cursors."""
    import db.migrations as migrations_db

    db = store.connect(tmp_path / "old.db")
    migrations_db.migrations.apply(db, stop_before="0002_routing_cursor_and_counts")
    with store.write_transaction(db) as conn:
        settings_db.put(conn, "config", config.default().to_dict())
    # fill it the 0001 way: articles, sentences, annotators and labels, no counters
    build_corpus(db, 20, per_article=10)
    for name in ("ann", "bob"):
        db.execute("INSERT INTO annotators (name, created_at) VALUES (?, 't')", [name])
    rows = [(sid, who, ["none"], f"2024-01-01T00:00:{sid:02d}") for sid in range(1, 11)
            for who in (1, 2)] + [(sid, 1, ["demand"], f"2024-01-01T00:01:{sid:02d}")
                                  for sid in range(11, 14)]
    with store.write_transaction(db) as conn:
        annotations_db.insert_labeled_bulk(conn, rows)
        sentences_db.recount_done(conn)
    store.migrate(db)
    assert sentences_db.project_progress(db) == {"content_sentences": 20, "complete": 10}
    assert {r["name"]: r["labels"] for r in annotate.list_annotators(db)} == {"ann": 13,
                                                                             "bob": 10}
    cfg = project.load_config(db)
    # ann resumes after her latest label (13), bob after his (10)
    assert annotate.next_item(db, 1, cfg, now=T0).sentence_id == 14
    assert annotate.next_item(db, 2, cfg, now=T0).sentence_id == 11
    assert_counts_exact(db)
