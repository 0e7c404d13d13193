"""The library behind the People & project page: per-person figures (checked against a
hand-built database), the last-admin rule, and config updates with their preview,
guidelines versions and project-log entries (from Python and from ``config load``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from datetime import UTC, datetime

import numpy as np
import pytest

import db.articles as articles_db
from labeling import annotate, config, project, team
from tests.conftest import dump
from tests.test_export import add_article, label, people, skip
from tests.cli_helpers import run

PW = "a long enough password"
TODAY = datetime.now(UTC).date().isoformat()




# ----------------------------------------------------------------------------- figures


def test_medians_of_known_durations():
    aids = np.array([7, 3, 7, 7, 3, 9])
    ms = np.array([8000, 2000, 1000, 3000, 1000, 4500])
    # 7: 1, 3, 8 s -> 3; 3: 1, 2 s -> 1.5 (mean of the middle two); 9: 4.5
    assert team.medians(aids, ms) == {7: 3.0, 3: 1.5, 9: 4.5}
    assert team.medians(np.array([], dtype=np.int32), np.array([], dtype=np.uint32)) == {}


def test_summarise_without_activity_gives_none_not_zero():
    rows = team.summarise([{"id": 1, "name": "x", "role": "annotator",
                            "assigned_role": "annotator", "has_password": 0, "labels": 0}],
                          {}, {})
    assert rows == [{"name": "x", "role": "annotator", "assigned_role": "annotator",
                     "has_password": False, "labels_today": 0, "labels_total": 0,
                     "median_seconds": None, "skip_share": None, "flag_share": None}]


@pytest.fixture
def team_db(empty_db):
    """alice: 4 labels (1, 3, 8 s and one without a duration; one given in 2020, one
    flagged) and 1 skip; bob: 2 labels (1 and 2 s, one flagged) and a label changed into
    a skip; carol: nothing; rita: a reviewer without labels."""
    db = empty_db
    sids = add_article(db, "a1", [f"Sentence {i}." for i in range(6)])
    p = people(db, "alice", "bob", "carol")
    annotate.add_annotator(db, "rita", "reviewer", PW)
    a, b = p["alice"], p["bob"]
    label(db, a, sids[0], "demand", duration_ms=1000)
    label(db, a, sids[1], "demand", duration_ms=8000, flagged=True)
    label(db, a, sids[2], "warning", duration_ms=3000, created_at="2020-05-01T10:00:00.000+00:00")
    label(db, a, sids[3], "warning")  # no duration: left out of the median
    skip(db, a, sids[4])
    label(db, b, sids[0], "demand", duration_ms=2000)
    label(db, b, sids[1], "demand", duration_ms=1000, flagged=True)
    label(db, b, sids[2], "demand", duration_ms=60000)
    skip(db, b, sids[2])  # the label became a skip: its 60 s no longer count
    return db


def test_people_stats_against_the_hand_built_database(team_db):
    rows = {r["name"]: r for r in team.people_stats(team_db, day=TODAY)}
    assert list(rows) == ["alice", "bob", "carol", "rita"]  # by name
    alice, bob, carol, rita = rows["alice"], rows["bob"], rows["carol"], rows["rita"]
    assert (alice["labels_total"], alice["labels_today"]) == (4, 3)
    assert alice["median_seconds"] == 3.0
    assert alice["skip_share"] == pytest.approx(1 / 5)
    assert alice["flag_share"] == pytest.approx(1 / 5)
    assert (bob["labels_total"], bob["labels_today"]) == (2, 2)
    assert bob["median_seconds"] == 1.5
    assert bob["skip_share"] == pytest.approx(1 / 3)
    assert bob["flag_share"] == pytest.approx(1 / 3)
    assert carol == {"name": "carol", "role": "annotator", "assigned_role": "annotator",
                     "has_password": False, "labels_today": 0, "labels_total": 0,
                     "median_seconds": None, "skip_share": None, "flag_share": None}
    assert (rita["role"], rita["has_password"]) == ("reviewer", True)
    # another day: nothing labeled "today"
    assert all(r["labels_today"] == 0 for r in team.people_stats(team_db, day="2099-01-01"))


def test_people_stats_median_is_the_review_pages_median(team_db):
    from labeling import reliability

    table = reliability.annotator_table(team_db).set_index("annotator")
    for r in team.people_stats(team_db):
        if r["median_seconds"] is not None:
            assert table.loc[r["name"], "median_seconds"] == r["median_seconds"]


# ----------------------------------------------------------------------------- last admin


def test_the_only_admin_cannot_be_demoted(empty_db, db_path):
    annotate.add_annotator(empty_db, "adam", "admin", PW)
    annotate.add_annotator(empty_db, "old", "admin", require_password=False)  # no password
    before = dump(db_path)
    with pytest.raises(annotate.LastAdmin, match="only admin with a password"):
        annotate.add_annotator(empty_db, "adam", "reviewer", update=True, actor="test")
    assert dump(db_path) == before
    # from the command line too: one line, exit 1, nothing changed
    r = run("annotator", "add", "ADAM", "--update", "--role", "annotator")
    assert r.exit_code == 1 and "'adam' is the only admin with a password" in r.stderr
    assert dump(db_path) == before
    # with a second admin (with a password) the first may step down
    annotate.add_annotator(empty_db, "eve", "admin", PW)
    assert annotate.add_annotator(empty_db, "adam", "reviewer", update=True)["role"] == "reviewer"
    with pytest.raises(annotate.LastAdmin):
        annotate.add_annotator(empty_db, "eve", "annotator", update=True)
    # an admin without a password acts as an annotator: demoting them locks nobody out
    assert annotate.add_annotator(empty_db, "old", "annotator", update=True)["role"] == "annotator"
    # a new password for the only admin is not a demotion
    annotate.add_annotator(empty_db, "eve", password="another one", update=True)


# ----------------------------------------------------------------------------- versions


@pytest.mark.parametrize("old,new", [("1", "2"), ("9", "10"), ("41", "42"), ("1.2", "1.3"),
                                     ("draft.1", "draft.2"), ("2024-05", "2024-05.1"),
                                     ("draft", "draft.1"), ("v3", "v3.1"), ("1.9", "1.10"),
                                     ("", ".1")])
def test_next_guidelines_version(old, new):
    assert project.next_guidelines_version(old) == new


def _cfg(db, **changes) -> config.ProjectConfig:
    data = {**project.load_config(db).to_dict(), **changes}
    return config.from_dict(data)


def test_update_config_counts_the_version_up_when_the_guidelines_change(team_db):
    db = team_db
    before = project.load_config(db)
    assert before.guidelines_version == "1"
    result = project.update_config(db, _cfg(db, guidelines="# New\n\nBe brief.\n"),
                                   actor="app:adam")
    stored = project.load_config(db)
    assert stored.guidelines == "# New\n\nBe brief.\n"
    assert stored.guidelines_version == result["guidelines_version"] == "2"
    assert set(result["changed"]) == {"guidelines", "guidelines_version"}
    # labels given from now on carry the new version
    sid = add_article(db, "a2", ["One more."])[0]
    label(db, people(db, "dora")["dora"], sid, "demand")
    assert db.execute("SELECT guidelines_version FROM events WHERE sentence_id = ?",
                      [sid]).fetchone()[0] == "2"
    # the same text again: no new version
    assert project.update_config(db, _cfg(db), actor="x")["guidelines_version"] == "2"
    # a version the caller chose is kept
    result = project.update_config(db, _cfg(db, guidelines="other", guidelines_version="v7"),
                                   actor="x")
    assert project.load_config(db).guidelines_version == "v7" == result["guidelines_version"]
    # changing only the version is allowed and stored as given
    project.update_config(db, _cfg(db, guidelines_version="8"), actor="x")
    assert project.load_config(db).guidelines_version == "8"


def test_one_version_means_one_text_even_with_stale_config_files(team_db):
    """A config file written before the last change still says the older version:
    loading it must neither rename the current text nor reuse a version for a new text."""
    db = team_db
    stale = _cfg(db)  # version "1", the first text
    project.update_config(db, _cfg(db, guidelines="second text"), actor="x")  # -> "2"
    # the stale file with the current text keeps "2"
    same = project.update_config(db, dataclasses.replace(stale, guidelines="second text"),
                                 actor="x")
    assert same["guidelines_version"] == "2" and "guidelines_version" not in same["changed"]
    # the stale file with a third text: "1" was used (labels record it), so "3"
    third = project.update_config(db, dataclasses.replace(stale, guidelines="third"),
                                  actor="x")
    assert third["guidelines_version"] == "3"
    # "2" was set by a logged config change: the stale "2" with a fourth text gives "4"
    fourth = project.update_config(
        db, dataclasses.replace(stale, guidelines="fourth", guidelines_version="2"),
        actor="x")
    assert fourth["guidelines_version"] == "4"


def test_a_version_recorded_by_labels_is_skipped(empty_db):
    """Labels under "2" from an older version of Parley (no log entry): the next text
    after "1" gets "3"."""
    db = empty_db
    sid = add_article(db, "a1", ["S."])[0]
    old_cfg = _cfg(db, guidelines_version="2")
    annotate.save(db, people(db, "ann")["ann"], sid, old_cfg, labels=["demand"])
    result = project.update_config(db, _cfg(db, guidelines="new text"), actor="x")
    assert result["guidelines_version"] == "3"


def test_update_config_logs_one_entry_with_the_actor_and_no_guidelines_text(team_db):
    db = team_db
    old_text = project.load_config(db).guidelines
    new_text = "Secret-ish guidelines text that must not be copied into the log."
    result = project.update_config(db, _cfg(db, overlap=3, order="random", seed=5,
                                             guidelines=new_text), actor="app:adam")
    (entry,) = articles_db.project_log(db, "config")
    assert entry["actor"] == "app:adam"
    detail = entry["detail"]
    assert detail["targets_changed"] == result["targets_changed"] > 0
    assert detail["reordered"] == result["reordered"] > 0
    changed = detail["changed"]
    assert changed["overlap"] == [2, 3]
    assert changed["order"] == ["sequential", "random"]
    assert changed["seed"] == [0, 5]
    assert changed["guidelines_version"] == ["1", "2"]
    sha = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    assert changed["guidelines"] == [{"chars": len(old_text), "sha256": sha(old_text)},
                                     {"chars": len(new_text), "sha256": sha(new_text)}]
    assert new_text not in json.dumps(entry)
    assert set(changed) == {"overlap", "order", "seed", "guidelines", "guidelines_version"}


def test_preview_reads_only_and_predicts_what_update_does(team_db, db_path):
    db = team_db
    new = _cfg(db, overlap=3, sample_fraction=0.5, order="random", require_passwords=True,
               guidelines="changed")
    before = dump(db_path)
    preview = project.preview_config(db, new)
    assert dump(db_path) == before  # nothing written
    assert preview["reordered"] is True and preview["sentences"] == 6
    assert preview["shut_out"] == ["alice", "bob", "carol"]  # rita has a password
    assert preview["config"].guidelines_version == "2"
    assert preview["changed"]["sample_fraction"] == [1.0, 0.5]
    result = project.update_config(db, new, actor="test")
    assert result["targets_changed"] == preview["targets_changed"] > 0
    assert result["changed"] == preview["changed"]
    # the stored config previews as no change; passwords are required already, so
    # nobody is newly shut out
    again = project.preview_config(db, project.load_config(db))
    assert again["changed"] == {} and again["targets_changed"] == 0
    assert again["reordered"] is False and again["shut_out"] == []


def test_preview_counts_only_open_sentences(empty_db):
    db = empty_db
    sids = add_article(db, "a1", [f"S {i}." for i in range(4)], target=2)
    p = people(db, "ann", "bob")
    label(db, p["ann"], sids[0], "demand"), label(db, p["bob"], sids[0], "demand")
    # sids[0] is complete under overlap 2: raising it reopens nothing
    assert project.preview_config(db, _cfg(db, overlap=3))["targets_changed"] == 3


# ----------------------------------------------------------------------------- config load


def test_config_load_logs_and_counts_the_version_up(empty_db, tmp_path):
    shown = tomllib.loads(run("config", "show").stdout)
    shown["guidelines"] = "Rewritten guidelines.\nSecond line.\n"
    shown["overlap"] = 3
    path = tmp_path / "p.toml"
    path.write_text(config.to_toml(config.from_dict(shown)), encoding="utf-8")
    r = run("config", "load", str(path))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"loaded {path}: ")  # the output line is unchanged
    assert "the guidelines changed: version 1 -> 2" in r.stderr
    cfg = project.load_config(empty_db)
    assert (cfg.guidelines_version, cfg.overlap) == ("2", 3)
    (entry,) = articles_db.project_log(empty_db, "config")
    assert entry["actor"].startswith("cli:")
    assert entry["detail"]["changed"]["overlap"] == [2, 3]
    assert entry["detail"]["changed"]["guidelines_version"] == ["1", "2"]
    # the JSON output keeps its keys; loading the same file again changes nothing
    r = run("config", "load", str(path), "--json")
    assert json.loads(r.stdout) == {"ok": True, "targets_changed": 0, "reordered": 0}
    assert project.load_config(empty_db).guidelines_version == "2"
    assert len(articles_db.project_log(empty_db, "config")) == 2


# ----------------------------------------------------------------------------- upload


def test_guidelines_upload_text():
    assert project.guidelines_from_upload("g.md", "\ufeff# T\r\nline\rnext\n".encode()) == \
        "# T\nline\nnext\n"
    assert project.guidelines_from_upload("g.md", b"tab\there\n") == "tab\there\n"


@pytest.mark.parametrize("data,problem", [
    (b"fine\nline two \xff\n", "line 2: not UTF-8 text"),
    (b"one\ntwo\nthree \x1b[31m\n", "line 3: control character '\\x1b'"),
    (b"nul\x00", "line 1: control character '\\x00'"),
])
def test_guidelines_upload_refusals_name_file_and_line(data, problem):
    with pytest.raises(config.ConfigError) as info:
        project.guidelines_from_upload("rules.md", data)
    assert info.value.source == "rules.md"
    assert info.value.errors[0].startswith(problem)


def test_guidelines_upload_too_large(monkeypatch):
    monkeypatch.setenv("PARLEY_MAX_FIELD_BYTES", "1024")
    with pytest.raises(config.ConfigError, match="larger than 1024 bytes"):
        project.guidelines_from_upload("big.md", b"x" * 2000)
