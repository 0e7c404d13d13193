"""The People & project page through Streamlit's AppTest: who may open it (also by URL
and after a demotion), adding people, passwords and roles with the library's refusals
shown literally, and the project settings with validation, preview and save."""

from __future__ import annotations

import dataclasses
import re

import pytest
from streamlit.testing.v1 import AppTest

import db.articles as articles_db
from labeling import annotate, project
from tests.conftest import ROOT, open_app
from tests.test_export import label, people

PAGE = "labeling/ui/people.py"
PW = "adam's long password"
FORM_KEYS = ("people_add_submit", "people_reset_submit", "people_role_submit",
             "settings_preview")

pytestmark = pytest.mark.usefixtures("fresh_caches")


def plain(markdown: str) -> str:
    """What a reader sees of a body the page escaped (``safe_markdown.literal``)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def errors(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.error]


def successes(at: AppTest) -> list[str]:
    return [plain(e.value) for e in at.success]


@pytest.fixture
def team_db(project_db):
    """The demo article; adam (admin), rita (reviewer), ann and bob (annotators; ann
    labeled one sentence)."""
    db = project_db
    annotate.add_annotator(db, "adam", "admin", PW)
    annotate.add_annotator(db, "rita", "reviewer", "rita's password")
    p = people(db, "ann", "bob")
    sid = db.execute("SELECT id FROM sentences WHERE kind = 'content' LIMIT 1").fetchone()[0]
    label(db, p["ann"], sid, "demand", duration_ms=2500)
    return db


def open_page(name: str | None = "adam", password: str | None = PW) -> AppTest:
    """The app as ``name`` (signed in with ``password``), switched to the People page."""
    return open_app(name, password, PAGE)


def has_forms(at: AppTest) -> bool:
    keys = {b.key for b in at.button}
    return any(k in keys for k in FORM_KEYS)


def table(at: AppTest):
    return at.dataframe[0].value.set_index("name")


def log(db, action: str) -> list[dict]:
    return articles_db.project_log(db, action)


# ----------------------------------------------------------------------------- access


def test_an_admin_gets_the_page_with_everyone_and_their_figures(team_db):
    at = open_page()
    assert [h.value for h in at.header] == ["People & project"]
    assert all(k in {b.key for b in at.button} for k in FORM_KEYS)
    frame = table(at)
    assert list(frame.index) == ["adam", "ann", "bob", "rita"]
    assert frame.loc["ann", "labels total"] == 1 and frame.loc["ann", "labels today"] == 1
    assert frame.loc["ann", "median s / label"] == 2.5
    assert frame.loc["rita", "role"] == "reviewer" and frame.loc["rita", "password"] == "yes"
    assert frame.loc["bob", "password"] == "no"
    assert not at.error


@pytest.mark.parametrize("name,password", [("ann", None), ("rita", "rita's password"),
                                           (None, None)])
def test_others_do_not_get_the_page_by_url(team_db, name, password):
    """An annotator, a reviewer, or nobody: the page is not among their pages, so
    switching to it (what its URL does) finds nothing; the page they see has no forms."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if name is not None:
        at.query_params["annotator"] = name
    at.run()
    if password is not None:
        at.text_input(key="password").input(password).run()
    assert not at.exception, at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)
    at.run()
    assert "People & project" not in [h.value for h in at.header]
    assert not has_forms(at)
    assert "people_add_name" not in {t.key for t in at.text_input}
    assert not at.data_editor


@pytest.mark.parametrize("forged", [
    {"id": 3, "name": "ann", "role": "admin"},     # ann claims admin: the database says no
    {"id": 2, "name": "rita", "role": "reviewer"},
    None,
])
def test_running_the_page_itself_is_refused_unless_admin(team_db, forged):
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    if forged is not None:
        at.session_state["person"] = forged
    at.run()
    assert not at.exception, at.exception
    assert errors(at) == ["This page is for admins only. Ask an admin for access."]
    assert not has_forms(at) and not at.header and not at.dataframe


def test_an_admin_demoted_while_the_page_is_open_acts_no_more(team_db):
    annotate.add_annotator(team_db, "eve", "admin", "eve's password")
    at = open_page()
    at.text_input(key="people_add_name").input("mallory")
    at.selectbox(key="people_add_role").select("admin")
    at.text_input(key="people_add_password").input("mallory's password")
    # eve demotes adam from another session before he presses Add
    annotate.add_annotator(team_db, "adam", "annotator", update=True, actor="app:eve")
    at.button(key="people_add_submit").click().run()
    assert not at.exception, at.exception
    assert annotate.find_annotator(team_db, "mallory") is None
    assert not has_forms(at)


def test_a_page_demoted_admin_cannot_save_settings(team_db):
    annotate.add_annotator(team_db, "eve", "admin", "eve's password")
    at = open_page()
    at.number_input(key="settings_overlap").set_value(3)
    at.button(key="settings_preview").click().run()
    assert at.button(key="settings_save")
    annotate.add_annotator(team_db, "adam", "reviewer", update=True, actor="app:eve")
    at.button(key="settings_save").click().run()
    assert project.load_config(team_db).overlap == 2
    assert not log(team_db, "config")


# ----------------------------------------------------------------------------- people


def test_add_a_reviewer_with_a_password(team_db):
    at = open_page()
    at.text_input(key="people_add_name").input("Vera K")
    at.selectbox(key="people_add_role").select("reviewer")
    at.text_input(key="people_add_password").input("vera's secret")
    at.button(key="people_add_submit").click().run()
    assert not at.exception, at.exception
    assert successes(at) == ["Added Vera K (reviewer) with a password."]
    # the fields are cleared, the password never shown
    assert at.text_input(key="people_add_password").value == ""
    assert at.text_input(key="people_add_name").value == ""
    shown = [*at.text, *at.markdown, *at.success, *at.caption, *at.code]
    assert shown and all("vera's secret" not in str(el.value) for el in shown)
    assert table(at).loc["Vera K", "role"] == "reviewer"
    assert annotate.authenticate(team_db, "vera k", "vera's secret")
    entries = log(team_db, "annotator_role") + log(team_db, "annotator_password")
    assert {(e["actor"], e["detail"]["name"]) for e in entries if e["detail"]["name"] == "Vera K"} \
        == {("app:adam", "Vera K")}
    assert "vera's secret" not in str(articles_db.project_log(team_db))


@pytest.mark.parametrize("name,role,password,message", [
    ("vera", "reviewer", "", "a reviewer needs a password (without one, anyone could sign "
                             "in as them)"),
    ("vera", "admin", "", "an admin needs a password (without one, anyone could sign in "
                          "as them)"),
    ("ANN", "annotator", "", "annotator 'ann' already exists (names that differ only by "
                             "case are one person). To change their role or password use "
                             "the forms below."),
    ("**x** $5 [a](b) :smile:", "annotator", "",
     "invalid annotator name '**x** $5 [a](b) :smile:': use 1–40 letters, digits, spaces or "
     "- _ ."),
    ("", "annotator", "", "Type the new person's name."),
])
def test_add_refusals_are_shown_literally_and_add_nobody(team_db, name, role, password,
                                                         message):
    before = annotate.list_annotators(team_db)
    at = open_page()
    at.text_input(key="people_add_name").input(name)
    at.selectbox(key="people_add_role").select(role)
    at.text_input(key="people_add_password").input(password)
    at.button(key="people_add_submit").click().run()
    assert not at.exception, at.exception
    assert errors(at) == [message]
    assert annotate.list_annotators(team_db) == before
    # the name stays for a correction; a password never does
    assert at.text_input(key="people_add_name").value == name
    assert at.text_input(key="people_add_password").value == ""


def test_the_error_body_escapes_markdown(team_db):
    at = open_page()
    at.text_input(key="people_add_name").input("**x** $5")
    at.button(key="people_add_submit").click().run()
    (body,) = [e.value for e in at.error]
    # every punctuation mark of the typed name is escaped in what is sent
    assert r"\*\*x\*\* \$5" in body


def test_an_annotator_without_password_in_a_password_project_gets_a_warning(team_db):
    project.update_config(team_db, dataclasses.replace(project.load_config(team_db),
                                                       require_passwords=True), actor="t")
    at = open_page()
    at.text_input(key="people_add_name").input("nopw")
    at.button(key="people_add_submit").click().run()
    (warning,) = [plain(w.value) for w in at.warning]
    assert warning.startswith("Added nopw (annotator) without a password. This project "
                              "requires passwords")


def test_reset_a_password(team_db):
    at = open_page()
    at.selectbox(key="people_reset_name").select("bob")
    at.text_input(key="people_reset_password").input("bob's new one")
    at.button(key="people_reset_submit").click().run()
    assert not at.exception, at.exception
    assert successes(at) == ["New password set for bob."]
    assert at.text_input(key="people_reset_password").value == ""
    assert annotate.authenticate(team_db, "bob", "bob's new one")
    (entry,) = [e for e in log(team_db, "annotator_password") if e["detail"]["name"] == "bob"]
    assert entry["actor"] == "app:adam" and entry["detail"]["had_password"] is False
    # an empty password changes nothing
    at.selectbox(key="people_reset_name").select("ann")
    at.button(key="people_reset_submit").click().run()
    assert errors(at) == ["Choose the person and type their new password."]
    assert not annotate.needs_password(team_db, "ann")


def test_change_a_role_with_the_trust_rules(team_db):
    at = open_page()
    # bob has no password: he cannot become a reviewer
    at.selectbox(key="people_role_name").select("bob")
    at.selectbox(key="people_role_role").select("reviewer")
    at.button(key="people_role_submit").click().run()
    assert errors(at) == ["a reviewer needs a password (without one, anyone could sign in "
                          "as them). Set their password first (Reset a password), then "
                          "change the role."]
    assert annotate.find_annotator(team_db, "bob")["assigned_role"] == "annotator"
    # rita (a password) becomes an admin
    at.selectbox(key="people_role_name").select("rita")
    at.selectbox(key="people_role_role").select("admin")
    at.button(key="people_role_submit").click().run()
    assert successes(at) == ["rita is now: admin."]
    assert table(at).loc["rita", "role"] == "admin"
    (entry,) = [e for e in log(team_db, "annotator_role") if e["detail"]["name"] == "rita"
                and e["detail"]["to"] == "admin"]
    assert entry["actor"] == "app:adam" and entry["detail"]["from"] == "reviewer"


def test_the_last_admin_cannot_demote_themselves(team_db):
    at = open_page()
    at.selectbox(key="people_role_name").select("adam")
    at.selectbox(key="people_role_role").select("annotator")
    at.button(key="people_role_submit").click().run()
    assert errors(at) == ["'adam' is the only admin with a password: make someone else an "
                          "admin first (the project would have no admin left)"]
    assert annotate.find_annotator(team_db, "adam")["role"] == "admin"
    assert has_forms(at)


# ----------------------------------------------------------------------------- settings


def test_settings_form_shows_the_stored_config(team_db):
    cfg = project.load_config(team_db)
    at = open_page()
    assert at.text_input(key="settings_name").value == cfg.name
    assert at.number_input(key="settings_overlap").value == cfg.overlap
    assert at.number_input(key="settings_sample_fraction").value == cfg.sample_fraction
    assert at.selectbox(key="settings_order").value == cfg.order
    assert at.text_input(key="settings_seed").value == str(cfg.seed)
    assert at.number_input(key="settings_lease_minutes").value == cfg.lease_minutes
    assert at.checkbox(key="settings_multi_label").value is cfg.multi_label
    assert at.checkbox(key="settings_require_signin").value is cfg.require_signin
    assert at.checkbox(key="settings_require_passwords").value is cfg.require_passwords
    assert at.text_area(key="settings_guidelines").value == cfg.guidelines
    labels = at.data_editor(key="settings_labels").value
    assert list(labels["name"]) == cfg.label_names
    assert list(labels["key"]) == [lab.key for lab in cfg.labels]


def test_invalid_settings_show_every_problem_and_save_nothing(team_db):
    before = project.load_config(team_db)
    at = open_page()
    at.number_input(key="settings_overlap").set_value(0)
    at.number_input(key="settings_lease_minutes").set_value(-1.0)
    at.text_input(key="settings_seed").input("twelve")
    at.session_state["settings_labels"] = {
        "edited_rows": {0: {"key": "C"}, 1: {"color": "red"}}, "added_rows": [],
        "deleted_rows": []}
    at.button(key="settings_preview").click().run()
    assert not at.exception, at.exception
    shown = errors(at)
    assert "overlap: must be between 1 and 100, got 0" in shown
    assert any(e.startswith("lease_minutes: must be more than 0") for e in shown)
    assert "seed: 'twelve' must be a whole number" in shown
    assert "labels[1] (demand): key 'C' is reserved (reserved by Streamlit)" in shown
    assert "labels[2] (warning): color 'red' must look like #1f77b4" in shown
    assert len(shown) == 5
    assert not _has(at, "settings_save")
    assert project.load_config(team_db) == before
    assert not log(team_db, "config")


def _has(at: AppTest, key: str) -> bool:
    return key in {b.key for b in at.button}


def test_preview_then_save(team_db):
    at = open_page()
    at.number_input(key="settings_overlap").set_value(3)
    at.selectbox(key="settings_order").select("random")
    at.text_area(key="settings_guidelines").input("# Rules\n\nBe brief.\n")
    at.checkbox(key="settings_require_passwords").check()
    at.session_state["settings_labels"] = {
        "edited_rows": {}, "deleted_rows": [],
        "added_rows": [{"name": "threat", "key": "7", "description": "A *threat*"}]}
    at.button(key="settings_preview").click().run()
    assert not at.exception, at.exception
    assert not at.error
    (changes,) = [d.value for d in at.dataframe if "setting" in d.value.columns]
    changes = changes.set_index("setting")
    assert changes.loc["overlap", "now"] == "2" and changes.loc["overlap", "after saving"] == "3"
    assert changes.loc["order", "after saving"] == "random"
    assert changes.loc["guidelines_version", "after saving"] == "2"
    assert changes.loc["labels", "after saving"].endswith("; threat [7] #7f7f7f — A *threat*")
    assert changes.loc["require_passwords", "after saving"] == "yes"
    texts = [t.value for t in at.text]
    assert any(re.fullmatch(r"\d+ open sentences get a new target \(finished ones keep "
                            r"theirs\)\.", t) for t in texts)
    assert any(t.startswith("The routing order is recomputed for all") for t in texts)
    assert "Guidelines version 1 → 2: labels given from now on record 2." in texts
    (warning,) = [plain(w.value) for w in at.warning]
    assert warning.startswith("2 people have no password and could not sign in any more: "
                              "ann, bob.")
    assert project.load_config(team_db).overlap == 2  # nothing saved by the preview

    at.button(key="settings_save").click().run()
    assert not at.exception, at.exception
    cfg = project.load_config(team_db)
    assert (cfg.overlap, cfg.order, cfg.require_passwords) == (3, "random", True)
    assert cfg.guidelines == "# Rules\n\nBe brief.\n" and cfg.guidelines_version == "2"
    assert cfg.label_names[-1] == "threat"
    (entry,) = log(team_db, "config")
    assert entry["actor"] == "app:adam"
    assert set(entry["detail"]["changed"]) == {"overlap", "order", "guidelines",
                                               "guidelines_version", "labels",
                                               "require_passwords"}
    (saved,) = successes(at)
    assert saved.startswith("Saved: 6 settings changed")
    # the form shows what is stored now, and the preview is gone
    assert at.number_input(key="settings_overlap").value == 3
    assert at.text_area(key="settings_guidelines").value == "# Rules\n\nBe brief.\n"
    assert not _has(at, "settings_save")


def test_preview_of_the_stored_settings_says_nothing_to_save(team_db):
    at = open_page()
    at.button(key="settings_preview").click().run()
    assert [i.value for i in at.info] == ["Nothing to save: these are the stored settings."]
    assert not _has(at, "settings_save")


def test_guidelines_upload_replaces_the_text(team_db):
    at = open_page()
    at.file_uploader(key="settings_guidelines_file").upload(
        "rules.md", "\ufeff# Uploaded\r\n\r\nRead twice.\r\n".encode(), "text/markdown")
    at.button(key="settings_preview").click().run()
    assert not at.exception, at.exception
    assert not at.error
    at.button(key="settings_save").click().run()
    cfg = project.load_config(team_db)
    assert cfg.guidelines == "# Uploaded\n\nRead twice.\n" and cfg.guidelines_version == "2"


def test_a_bad_upload_names_the_file_and_line(team_db):
    before = project.load_config(team_db)
    at = open_page()
    at.file_uploader(key="settings_guidelines_file").upload(
        "rules.md", b"# ok\nbad \xff byte\n", "text/markdown")
    at.button(key="settings_preview").click().run()
    assert errors(at) == ["rules.md: line 2: not UTF-8 text (byte 9)"]
    assert not _has(at, "settings_save")
    assert project.load_config(team_db) == before


def test_save_refuses_when_the_settings_changed_since_the_preview(team_db):
    at = open_page()
    at.number_input(key="settings_overlap").set_value(3)
    at.button(key="settings_preview").click().run()
    # someone else loads a config meanwhile
    cfg = project.load_config(team_db)
    project.update_config(team_db, dataclasses.replace(cfg, lease_minutes=30.0),
                          actor="cli:someone")
    at.button(key="settings_save").click().run()
    assert errors(at) == ["The settings were changed elsewhere since your preview; nothing "
                          "was saved. Press Preview changes again."]
    assert project.load_config(team_db).overlap == 2
    assert len(log(team_db, "config")) == 1
