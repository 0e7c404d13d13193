"""The label page through Streamlit's AppTest: labeling, Back, Skip, Flag, multi-label,
guidelines, routing between annotators, stale presses, sign-in and blindness."""

from __future__ import annotations

import dataclasses
import html
import re
import time

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import db as store
from labeling import annotate, project
from tests import conftest

SEED_CONTENT = 27  # content sentences of the seed article


pytestmark = pytest.mark.usefixtures("fresh_caches")


def open_app(name: str | None = "alice") -> AppTest:
    return conftest.open_app(name, timeout=30)


def find_block(node, key: str):
    """The container rendered with ``st.container(key=key)``, or None."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "key", None) == key:
            return child
        found = find_block(child, key)
        if found is not None:
            return found
    return None


def block_text(at: AppTest, key: str) -> str | None:
    """The text shown in a keyed container (its st.html bodies, tags removed)."""
    block = find_block(at.main, key)
    if block is None:
        return None
    bodies = [h.proto.body for h in block.children.values() if h.type == "html"]
    return html.unescape(re.sub(r"<[^>]+>", "", "".join(bodies)))


def shown(at: AppTest) -> str | None:
    return block_text(at, "current_sentence")


def press(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def content_sentences(db) -> list[dict]:
    return list(db.query("SELECT id, text FROM sentences WHERE kind = 'content' ORDER BY ord, id"))


def annotations(db, name: str) -> dict[str, dict]:
    """sentence text -> annotation row of annotator ``name``."""
    rows = db.query(
        "SELECT s.text, a.status, a.labels, a.flagged, a.note, a.duration_ms "
        "FROM annotations a JOIN sentences s ON s.id = a.sentence_id "
        "JOIN annotators n ON n.id = a.annotator_id WHERE n.name = ?", [name])
    return {r["text"]: r for r in rows}


def events(db, name: str) -> list[dict]:
    return list(db.query(
        "SELECT e.action, e.labels, e.note, e.duration_ms, e.guidelines_version, s.text "
        "FROM events e JOIN sentences s ON s.id = e.sentence_id "
        "JOIN annotators n ON n.id = e.annotator_id WHERE n.name = ? ORDER BY e.id", [name]))


def test_label_and_advance(project_db):
    at = open_app()
    first = shown(at)
    sents = content_sentences(project_db)
    assert first == sents[0]["text"]
    assert block_text(at, "context_after") == sents[1]["text"]
    press(at, "label_demand")
    assert shown(at) == sents[1]["text"]
    assert block_text(at, "context_before") == sents[0]["text"]
    ann = annotations(project_db, "alice")
    assert list(ann) == [first]
    assert ann[first]["status"] == "labeled" and ann[first]["labels"] == '["demand"]'
    (ev,) = events(project_db, "alice")
    assert ev["action"] == "label" and ev["guidelines_version"] == "1"
    assert ev["duration_ms"] is not None and ev["duration_ms"] >= 0
    # the lease moved to the sentence now shown
    leased = [r["sentence_id"] for r in project_db.query("SELECT sentence_id FROM assignments")]
    assert leased == [sents[1]["id"]]
    # progress counts the label
    assert any("1 today · 1 total" in (p.proto.text or "") for p in at.get("progress"))


def test_label_buttons_contract(project_db):
    at = open_app()
    cfg = project.load_config(project_db)
    for lab in cfg.labels:
        b = at.button(key=f"label_{lab.name}")
        assert b.label == lab.name and b.proto.shortcut.lower() == lab.key.lower()
    keys = {k: at.button(key=k).proto.shortcut.lower() for k in ("nav_back", "nav_skip", "nav_flag",
                                                          "guidelines")}
    assert keys == {"nav_back": "left", "nav_skip": "right", "nav_flag": "f", "guidelines": "g"}
    assert find_block(at.main, "context_before") is not None
    assert find_block(at.main, "context_after") is not None


def test_back_and_relabel(project_db):
    at = open_app()
    first = shown(at)
    press(at, "label_demand")
    second = shown(at)
    assert at.button(key="nav_back").disabled is False
    press(at, "nav_back")
    assert shown(at) == first
    assert at.button(key="label_demand").proto.type == "primary"  # stored label highlighted
    assert at.button(key="label_warning").proto.type == "secondary"
    press(at, "label_warning")
    assert shown(at) == second  # forward again to the sentence they had
    evs = [e for e in events(project_db, "alice") if e["text"] == first]
    assert [(e["action"], e["labels"]) for e in evs] == [("label", '["demand"]'),
                                                        ("label", '["warning"]')]
    ann = annotations(project_db, "alice")
    assert len(ann) == 1 and ann[first]["labels"] == '["warning"]'
    n_done = project_db.execute("SELECT n_done FROM sentences WHERE text = ?", [first]).fetchone()
    assert n_done[0] == 1


def test_back_then_forward_keeps_answer(project_db):
    at = open_app()
    first = shown(at)
    press(at, "label_demand")
    second = shown(at)
    press(at, "nav_back")
    assert at.button(key="nav_skip").label == "Forward"
    press(at, "nav_skip")
    assert shown(at) == second
    assert annotations(project_db, "alice")[first]["labels"] == '["demand"]'
    assert len(events(project_db, "alice")) == 1


def test_back_seeded_from_history(project_db):
    """A new session can go Back to answers given in an earlier one."""
    at = open_app()
    first = shown(at)
    press(at, "label_concession")
    st.cache_resource.clear()
    again = open_app()
    press(again, "nav_back")
    assert shown(again) == first
    assert again.button(key="label_concession").proto.type == "primary"


def test_skip(project_db):
    at = open_app()
    first = shown(at)
    press(at, "nav_skip")
    assert shown(at) != first
    ann = annotations(project_db, "alice")[first]
    assert ann["status"] == "skipped" and ann["labels"] is None
    assert [e["action"] for e in events(project_db, "alice")] == ["skip"]
    n_done = project_db.execute("SELECT n_done FROM sentences WHERE text = ?", [first]).fetchone()
    assert n_done[0] == 0


def test_flag_with_note(project_db):
    at = open_app()
    first = shown(at)
    assert "note" not in [w.key for w in at.text_input]  # the note field comes with a flag
    press(at, "nav_flag")
    assert at.button(key="nav_flag").proto.type == "primary"
    assert any("Flagged" in e.value for e in at.error)  # visible marker
    at.text_input(key="note").set_value("is this a demand or a warning?")
    press(at, "label_outcome")
    ann = annotations(project_db, "alice")[first]
    assert ann["flagged"] == 1 and ann["note"] == "is this a demand or a warning?"
    assert ann["labels"] == '["outcome"]'
    assert [e["action"] for e in events(project_db, "alice")] == ["label", "flag"]
    # the next sentence starts unflagged
    assert at.button(key="nav_flag").proto.type == "secondary"
    assert "note" not in [w.key for w in at.text_input]
    # Back shows the stored flag and note
    press(at, "nav_back")
    assert shown(at) == first
    assert at.button(key="nav_flag").proto.type == "primary"
    assert at.text_input(key="note").value == "is this a demand or a warning?"
    # unflag on the revisited sentence and go forward: saved, label kept
    press(at, "nav_flag")
    press(at, "nav_skip")
    ann = annotations(project_db, "alice")[first]
    assert ann["flagged"] == 0 and ann["note"] is None and ann["labels"] == '["outcome"]'


def test_flag_toggles_off_before_saving(project_db):
    at = open_app()
    first = shown(at)
    press(at, "nav_flag")
    press(at, "nav_flag")
    press(at, "label_none")
    assert annotations(project_db, "alice")[first]["flagged"] == 0
    assert [e["action"] for e in events(project_db, "alice")] == ["label"]


def test_multi_label(project_db):
    cfg = project.load_config(project_db)
    project.save_config(project_db, dataclasses.replace(cfg, multi_label=True))
    at = open_app()
    first = shown(at)
    assert at.button(key="submit").proto.shortcut.lower() == "enter"
    press(at, "label_demand")
    press(at, "label_warning")
    press(at, "label_outcome")
    press(at, "label_warning")  # toggles off
    assert shown(at) == first and annotations(project_db, "alice") == {}
    assert [at.button(key=f"label_{n}").proto.type for n in ("demand", "warning", "outcome")] \
        == ["primary", "secondary", "primary"]
    press(at, "submit")
    assert shown(at) != first
    assert annotations(project_db, "alice")[first]["labels"] == '["demand", "outcome"]'
    # the next sentence starts with nothing selected; submitting nothing saves nothing
    assert all(at.button(key=f"label_{lab.name}").proto.type == "secondary" for lab in cfg.labels)
    second = shown(at)
    press(at, "submit")
    assert shown(at) == second and len(annotations(project_db, "alice")) == 1
    assert any("at least one label" in w.value for w in at.warning)


def test_guidelines_dialog_disables_labels(project_db):
    at = open_app()
    first = shown(at)
    press(at, "guidelines")
    assert any("Labeling guidelines" in m.value for m in at.markdown)
    cfg = project.load_config(project_db)
    for key in [f"label_{lab.name}" for lab in cfg.labels] + ["nav_skip", "nav_flag"]:
        assert at.button(key=key).disabled, key
    press(at, "guidelines_close")
    assert not any("Labeling guidelines" in m.value for m in at.markdown)
    assert not at.button(key="label_demand").disabled
    press(at, "label_demand")
    assert annotations(project_db, "alice")[first]["labels"] == '["demand"]'


def test_empty_queue_shows_done(project_db):
    cfg = project.load_config(project_db)
    me = annotate.ensure_annotator(project_db, "alice", cfg)
    while (item := annotate.next_item(project_db, me["id"], cfg)) is not None:
        annotate.save(project_db, me["id"], item.sentence_id, cfg, labels=["none"])
    at = open_app()
    assert find_block(at.main, "queue_done") is not None
    assert shown(at) is None
    assert not [b for b in at.button if b.key and b.key.startswith("label_")]
    # Back still reaches the last answer
    press(at, "nav_back")
    assert shown(at) is not None
    assert at.button(key="label_none").proto.type == "primary"


def test_overlap_two_third_annotator_gets_nothing(project_db):
    alice, bob = open_app("alice"), open_app("bob")
    seen = {"alice": [], "bob": []}
    for _ in range(SEED_CONTENT):
        for name, at in (("alice", alice), ("bob", bob)):
            seen[name].append(shown(at))
            press(at, "label_none")
    for at in (alice, bob):
        assert find_block(at.main, "queue_done") is not None
    texts = [s["text"] for s in content_sentences(project_db)]
    assert seen["alice"] == texts and seen["bob"] == texts
    carol = open_app("carol")
    assert find_block(carol.main, "queue_done") is not None
    assert shown(carol) is None
    assert project_db.execute("SELECT count(*) FROM sentences WHERE kind = 'content' "
                              "AND n_done = 2").fetchone()[0] == SEED_CONTENT


def test_third_annotator_gets_only_open_seats(project_db):
    """Overlap 2: sentences done by two people, or held by two live leases, are not
    offered to a third."""
    alice, bob = open_app("alice"), open_app("bob")
    for _ in range(5):
        press(alice, "label_demand")
        press(bob, "label_warning")
    texts = [s["text"] for s in content_sentences(project_db)]
    assert shown(alice) == shown(bob) == texts[5]  # both hold a lease on it
    carol = open_app("carol")
    assert shown(carol) == texts[6]


def test_quota_reached_moves_on(project_db):
    at = open_app("alice")
    first = shown(at)
    sid = project_db.execute("SELECT id FROM sentences WHERE text = ?", [first]).fetchone()[0]
    cfg = project.load_config(project_db)
    later = time.time() + 3600  # alice's lease has expired by then: two others finish it
    for name in ("bob", "carol"):
        who = annotate.ensure_annotator(project_db, name, cfg)
        annotate.save(project_db, who["id"], sid, cfg, labels=["none"], now=later)
    # alice's lease is still live now, so make it expire for the save as well
    with store.write_transaction(project_db) as conn:
        conn.execute("UPDATE assignments SET expires_at = 0")
    press(at, "label_demand")
    assert any("not saved" in w.value for w in at.warning)
    assert shown(at) != first
    assert first not in annotations(project_db, "alice")


def test_stale_press_is_dropped(project_db):
    at = open_app()
    first = shown(at)
    sents = content_sentences(project_db)
    # The server moves on to another sentence (another press was processed) while the
    # buttons the browser holds were rendered for the first one.
    nav = at.session_state["lp_nav"]
    nav.current = sents[1]["id"]
    press(at, "label_warning")  # its callback carries the first sentence's id
    assert annotations(project_db, "alice") == {}
    assert events(project_db, "alice") == []
    assert shown(at) == sents[1]["text"] != first
    assert "press again" in dropped_notice(at)  # dropped, but not without a sign
    press(at, "label_demand")  # rendered for the sentence shown: applied to it
    assert list(annotations(project_db, "alice")) == [sents[1]["text"]]
    assert dropped_notice(at) == ""  # said once, for the press it was about


def test_press_from_a_browser_still_showing_the_old_sentence_is_dropped(project_db):
    """The server already shows (and rendered its buttons for) the next sentence, but the
    browser still displays the previous one when the key is pressed."""
    at = open_app()
    first_id = at.session_state["lp_nav"].current
    press(at, "label_demand")
    second = shown(at)
    at.text_input(key="shown_sentence").set_value(str(first_id))  # what the browser shows
    press(at, "label_warning")
    assert list(annotations(project_db, "alice")) != [] and second not in annotations(
        project_db, "alice")
    assert len(events(project_db, "alice")) == 1
    assert shown(at) == second
    assert "press again" in dropped_notice(at)
    press(at, "label_warning")  # the browser now reports the sentence on screen
    assert annotations(project_db, "alice")[second]["labels"] == '["warning"]'
    assert dropped_notice(at) == ""


def dropped_notice(at: AppTest) -> str:
    block = find_block(at.main, "dropped_notice")
    return "" if block is None else " ".join(c.value for c in block.children.values()
                                             if c.type == "caption")


def test_headline_shown_once_when_it_is_the_sentence(project_db):
    at = open_app()
    title = project_db.execute("SELECT title FROM articles").fetchone()[0]
    assert shown(at) == title  # the seed's first sentence is its headline

    def on_screen() -> str:
        return " ".join(html.unescape(re.sub(r"<[^>]+>", "", h.proto.body))
                        for h in at.get("html"))

    assert on_screen().count(title) == 1
    press(at, "label_none")
    assert block_text(at, "context_before") == title and on_screen().count(title) == 1
    press(at, "label_none")
    assert on_screen().count(title) == 1  # the heading again, above the third sentence


def test_label_buttons_carry_their_definition(project_db):
    at = open_app()
    cfg = project.load_config(project_db)
    for lab in cfg.labels:
        assert at.button(key=f"label_{lab.name}").help == lab.description
    assert cfg.labels[0].description.startswith("An actor insists")


def test_password_protected_annotator(project_db):
    annotate.add_annotator(project_db, "dora", password="s3cret")
    at = open_app("dora")

    def nothing_of_dora():
        assert shown(at) is None and find_block(at.main, "queue_done") is None
        assert len(at.button) == 0

    nothing_of_dora()
    at.text_input(key="password").input("wrong").run()
    assert any("Wrong password" in e.value for e in at.sidebar.error)
    nothing_of_dora()
    at.text_input(key="password").input("s3cret").run()
    assert shown(at) is not None
    assert "password" not in [w.key for w in at.text_input]
    # switching to another name and back asks again
    at.text_input(key="annotator").input("erin").run()
    assert shown(at) is not None
    at.text_input(key="annotator").input("dora").run()
    nothing_of_dora()


@pytest.mark.parametrize("name", ["", "bad/name", "x" * 41, "<b>x</b>"])
def test_invalid_or_missing_name_shows_nothing(project_db, name):
    at = open_app(name)
    assert shown(at) is None and len(at.button) == 0
    assert project_db.execute("SELECT count(*) FROM annotators").fetchone()[0] == 0


def test_name_created_on_first_use_unless_signin_required(project_db):
    at = open_app("Zoe 2.b_c-d")
    assert shown(at) is not None
    assert [r["name"] for r in project_db.query("SELECT name FROM annotators")] == ["Zoe 2.b_c-d"]
    cfg = project.load_config(project_db)
    project.save_config(project_db, dataclasses.replace(cfg, require_signin=True))
    st.cache_resource.clear()
    other = open_app("mallory")
    assert shown(other) is None and len(other.button) == 0
    assert any("not an annotator" in e.value for e in other.sidebar.error)


def _page_dump(at: AppTest) -> str:
    """Everything the page sends except the label buttons (their names are the project's)
    and widget ids (they differ between sessions)."""
    def walk(node):
        for child in getattr(node, "children", {}).values():
            if child.type == "button" and (child.key or "").startswith("label_"):
                yield f"button {child.key} {child.proto.type}"
                continue
            proto = getattr(child, "proto", None)
            if child.type == "text_input":  # its proto also carries set_value bookkeeping
                yield f"text_input {child.key} {child.value!r}"
            elif proto is not None and child.type not in ("flex_container", "main", "sidebar"):
                yield re.sub(r'id: "[^"]*"', "", str(proto))
            yield from walk(child)
    return "\n".join(walk(at.main)) + "\n".join(walk(at.sidebar))


def test_blind_to_other_annotators(project_db):
    alice = open_app("alice")
    first = shown(alice)
    press(alice, "label_concession")
    bob = open_app("bob")
    assert shown(bob) == first  # overlap 2: bob gets the same sentence
    assert all(b.proto.type == "secondary" for b in bob.button if b.key.startswith("label_"))
    before = _page_dump(bob)
    assert "alice" not in before.lower()
    # alice changes her label: bob's page does not change at all
    press(alice, "nav_back")
    press(alice, "label_warning")
    bob.run()
    assert _page_dump(bob) == before
