"""The Review page through Streamlit's AppTest: roles, summary, the disagreement queue,
adjudication by button (single and multi-label), stale presses, hidden names, flagged
sentences, unanimous gold."""

from __future__ import annotations

import dataclasses
import html
import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from labeling import annotate, project, reliability
from labeling.agreement import frames as agreement_frames
from tests.conftest import ROOT, open_app

PAGE = "labeling/ui/review.py"


pytestmark = pytest.mark.usefixtures("fresh_caches")



PASSWORD = "rita's secret"


@pytest.fixture
def team(project_db):
    """Two annotators and a reviewer (reviewers have a password)."""
    ids = {n: annotate.add_annotator(project_db, n)["id"] for n in ("ann", "bob")}
    ids["rita"] = annotate.add_annotator(project_db, "rita", "reviewer", PASSWORD)["id"]
    return ids


def content(db) -> list[dict]:
    return list(db.query("SELECT id, text FROM sentences WHERE kind = 'content' ORDER BY id"))


def label(db, cfg, team, sid, **by_name):
    for name, lab in by_name.items():
        annotate.save(db, team[name], sid, cfg, labels=[lab] if isinstance(lab, str) else lab)


def gold(db, sid):
    row = db.execute("SELECT labels, source, reviewer_id, rationale FROM gold "
                     "WHERE sentence_id = ?", [sid]).fetchone()
    return None if row is None else (json.loads(row[0]), row[1], row[2], row[3])


def open_review(name: str = "rita", password: str | None = PASSWORD) -> AppTest:
    return open_app(name, password, PAGE)


def find_block(node, key: str):
    for child in getattr(node, "children", {}).values():
        if getattr(child, "key", None) == key:
            return child
        found = find_block(child, key)
        if found is not None:
            return found
    return None


def block_text(at: AppTest, key: str) -> str | None:
    """Text of the st.html bodies in a keyed container, tags removed."""
    block = find_block(at.main, key)
    if block is None:
        return None
    bodies = [h.proto.body for h in block.children.values() if h.type == "html"]
    return html.unescape(re.sub(r"<[^>]+>", " ", "".join(bodies)))


def shown(at: AppTest) -> str | None:
    text = block_text(at, "rv_sentence")
    return None if text is None else text.strip()


def open_tab(at: AppTest, name: str) -> AppTest:
    """Switch the page's tabs (only the open tab runs)."""
    at.session_state["rv_tab"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def gold_keys(at: AppTest) -> list[str]:
    return [b.key for b in at.button if (b.key or "").startswith("gold_")]


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


# ----------------------------------------------------------------------------- roles


def test_annotators_are_refused(project_db, team):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["annotator"] = "ann"
    at.run()
    assert not at.exception
    # the page is not even registered for an annotator ...
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)
    assert gold_keys(at) == []


@pytest.mark.parametrize("person", [None, {"id": 1, "name": "ann", "role": "annotator"}])
def test_the_page_itself_refuses_non_reviewers(project_db, team, person):
    """... and the page checks the role itself when reached some other way."""
    if person is not None:
        person["id"] = team["ann"]
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.session_state["person"] = person
    at.run()
    assert not at.exception
    assert any(e.value.startswith("This page is for reviewer") for e in at.error)
    assert gold_keys(at) == [] and find_block(at.main, "rv_summary") is None


def test_a_demoted_reviewer_loses_the_page(project_db, cfg, team):
    s = content(project_db)
    label(project_db, cfg, team, s[0]["id"], ann="demand", bob="warning")
    at = open_review()
    assert gold_keys(at)
    annotate.add_annotator(project_db, "rita", "annotator", update=True)
    at.run()
    assert not at.exception
    assert gold_keys(at) == []


# ----------------------------------------------------------------------------- the page


def test_reviewer_sees_summary_and_queue(project_db, cfg, team):
    s = content(project_db)
    label(project_db, cfg, team, s[0]["id"], ann="demand", bob="demand")      # unanimous
    label(project_db, cfg, team, s[2]["id"], ann="demand", bob="warning")     # disagreement
    label(project_db, cfg, team, s[5]["id"], ann="none", bob="outcome")       # disagreement
    at = open_review()
    metrics = {m.label: m.value for m in at.metric}
    rep = reliability.report(project_db, bootstrap=500, seed=0)
    assert metrics["Krippendorff's α"] == f"{rep['krippendorff_alpha']:.3f}"
    assert metrics["Fleiss' κ"] == f"{rep['fleiss_kappa']:.3f}"
    assert metrics["Units"] == "3" and metrics["Annotators"] == "2"
    line = next(t for t in texts(at) if t.startswith("Alpha reading"))
    assert agreement_frames.alpha_reading(rep["krippendorff_alpha"]) in line
    lo, hi = rep["krippendorff_alpha_ci95"]
    assert f"[{lo:.3f}, {hi:.3f}]" in line and "1 unanimous" in line
    # the queue shows the first disagreement, with its context and both annotations
    assert shown(at) == s[2]["text"]
    assert block_text(at, "rv_before").strip() == s[1]["text"]
    assert block_text(at, "rv_after").strip() == s[3]["text"]
    table = block_text(at, "rv_judgements")
    assert "ann" in table and "bob" in table and "warning" in table
    assert any(t.startswith("2 sentences in the queue") for t in texts(at))
    cfg_keys = {f"gold_{lab.name}": lab.key.lower() for lab in cfg.labels}
    assert {k: at.button(key=k).proto.shortcut.lower() for k in cfg_keys} == cfg_keys
    # the charts run only in their tab
    assert len(at.get("vega_lite_chart")) == 0
    open_tab(at, "Agreement")
    assert shown(at) is None and gold_keys(at) == []  # the queue is not drawn meanwhile
    # agreement details: per-label table, kappa heatmap, confusion matrix, annotators
    assert len(at.get("vega_lite_chart")) == 2
    frames = [d.value for d in at.dataframe]
    people = next(f for f in frames if "annotator" in f.columns)
    assert list(people["annotator"]) == ["ann", "bob"] and list(people["items"]) == [3, 3]
    per_label = next(f for f in frames if "label" in f.columns)
    assert list(per_label["label"]) == cfg.label_names


def test_gold_button_adjudicates_and_shows_the_next(project_db, cfg, team):
    s = content(project_db)
    label(project_db, cfg, team, s[2]["id"], ann="demand", bob="warning")
    label(project_db, cfg, team, s[5]["id"], ann="none", bob="outcome")
    at = open_review()
    assert shown(at) == s[2]["text"]
    at.text_input(key="rationale").input("threatens consequences")
    click(at, "gold_warning")
    assert gold(project_db, s[2]["id"]) == (["warning"], "adjudicated", team["rita"],
                                           "threatens consequences")
    ev = project_db.execute("SELECT action, annotator_id, labels FROM events "
                            "ORDER BY id DESC LIMIT 1").fetchone()
    assert ev == ("adjudicate", team["rita"], '["warning"]')
    assert shown(at) == s[5]["text"]  # the next queue item
    assert at.text_input(key="rationale").value == ""  # a fresh rationale for it
    click(at, "gold_outcome")
    assert gold(project_db, s[5]["id"])[:2] == (["outcome"], "adjudicated")
    assert find_block(at.main, "rv_queue_empty") is not None and gold_keys(at) == []


def test_a_stale_press_is_dropped(project_db, cfg, team):
    s = content(project_db)
    label(project_db, cfg, team, s[2]["id"], ann="demand", bob="warning")
    at = open_review()
    # the browser still shows another sentence when the press arrives
    at.text_input(key="rv_shown").set_value(str(s[7]["id"]))
    click(at, "gold_demand")
    assert gold(project_db, s[2]["id"]) is None
    assert shown(at) == s[2]["text"]
    click(at, "gold_demand")  # a press for the sentence on screen counts
    assert gold(project_db, s[2]["id"])[:2] == (["demand"], "adjudicated")


def test_filters_later_and_hidden_names(project_db, cfg, team):
    s = content(project_db)
    label(project_db, cfg, team, s[2]["id"], ann="demand", bob="warning")
    label(project_db, cfg, team, s[5]["id"], ann="none", bob="outcome")
    at = open_review()
    at.selectbox(key="rv_filter_label").set_value("outcome").run()
    assert shown(at) == s[5]["text"]
    at.selectbox(key="rv_filter_label").set_value("(any)").run()
    assert shown(at) == s[2]["text"]
    click(at, "rv_skip")  # later: the next one shows, nothing is written
    assert shown(at) == s[5]["text"] and gold(project_db, s[2]["id"]) is None
    at.toggle(key="rv_hide_names").set_value(True).run()
    table = block_text(at, "rv_judgements")
    assert "Annotator 1" in table and "Annotator 2" in table
    assert "ann" not in table.replace("Annotator", "") and "bob" not in table


def test_multi_label_gold(project_db, cfg, team):
    multi = dataclasses.replace(cfg, multi_label=True)
    project.save_config(project_db, multi)
    s = content(project_db)
    label(project_db, multi, team, s[2]["id"], ann=["demand"], bob=["warning", "demand"])
    at = open_review()
    assert at.button(key="gold_submit").proto.shortcut.lower() == "enter"
    click(at, "gold_warning")
    click(at, "gold_demand")
    assert gold(project_db, s[2]["id"]) is None  # toggles only select
    assert at.button(key="gold_demand").proto.type == "primary"
    click(at, "gold_submit")
    assert gold(project_db, s[2]["id"])[:2] == (["demand", "warning"], "adjudicated")


def test_unanimous_gold_appears_without_a_reviewer(project_db, cfg, team):
    s = content(project_db)
    label(project_db, cfg, team, s[4]["id"], ann="outcome", bob="outcome")
    assert gold(project_db, s[4]["id"]) == (["outcome"], "unanimous", None, None)
    at = open_review()
    assert find_block(at.main, "rv_queue_empty") is not None  # nothing to decide
    assert any("0 adjudicated, 1 unanimous" in t for t in texts(at))


def test_flagged_sentences_are_listed_with_notes(project_db, cfg, team):
    s = content(project_db)
    annotate.save(project_db, team["ann"], s[3]["id"], cfg, labels=["demand"], flagged=True,
                  note="<b>is *this* a demand?</b>")
    at = open_tab(open_review(), "Flagged")
    assert any("1 flagged sentences" in t for t in texts(at))
    assert block_text(at, "rv_flagged_text_0").strip() == s[3]["text"]
    # the note is text, escaped, never HTML
    body = find_block(at.main, "rv_flag_0_1").children[0].proto.body
    assert "&lt;b&gt;is *this* a demand?&lt;/b&gt;" in body


def test_undefined_values_say_why(project_db, team):
    at = open_review()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Krippendorff's α"] == "not defined"
    assert metrics["Gwet's AC1"] == "not defined" and metrics["Units"] == "0"
    reasons = [t for t in texts(at) if t.startswith("krippendorff_alpha:")]
    assert reasons and "not defined" in reasons[0] and "two or more annotators" in reasons[0]
    assert find_block(at.main, "rv_queue_empty") is not None
