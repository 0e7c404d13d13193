"""The Export page through Streamlit's AppTest: who may open it, its options, the preview
and the zip the download button builds."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from streamlit.testing.v1 import AppTest

from labeling import annotate, export_options, export_zip
from tests.conftest import ROOT, open_app
from tests.test_export import FORMULAS, add_article, label, people

PAGE = "labeling/ui/export.py"
PASSWORD = "reviewers need one"
# labeled_db's gold sentences all fall into train: dev and test are empty, so they get
# no files (datasets refuses a split without data)
ZIP_MEMBERS = ["README.md", "annotations.parquet", "labels.json", "parley-manifest.json",
               "train.csv", "train.jsonl", "train.parquet"]


pytestmark = pytest.mark.usefixtures("fresh_caches")


@pytest.fixture
def labeled_db(empty_db):
    """Twelve articles, two annotators who agree; a reviewer and an annotator account."""
    db = empty_db
    p = people(db, "alice", "bob")
    annotate.add_annotator(db, "rita", "reviewer", PASSWORD)
    annotate.add_annotator(db, "adam", "admin", PASSWORD)
    for a in range(12):
        texts = [f"Article {a}, sentence {i}." for i in range(4)]
        texts[1] = FORMULAS[a % len(FORMULAS)] + " $5 and **not bold** [a](b)"
        for sid in add_article(db, f"news-{a:02d}", texts, title=f"Round {a}"):
            label(db, p["alice"], sid, "demand"), label(db, p["bob"], sid, "demand")
    return db


def open_export(name: str) -> AppTest:
    """Open the app as ``name``, sign in and go to the Export page."""
    return open_app(name, PASSWORD, PAGE)


def download_buttons(at: AppTest) -> list:
    return [b for b in at.get("download_button") if b.proto.id and "download_zip" in b.proto.id]


@pytest.mark.parametrize("name", ["rita", "adam"])
def test_reviewers_and_admins_get_the_export_page(labeled_db, name):
    at = open_export(name)
    assert [h.value for h in at.header] == ["Export"]
    assert len(download_buttons(at)) == 1
    assert at.selectbox(key="export_policy").value == "unanimous"
    assert at.text_input(key="export_splits").value == "0.8,0.1,0.1"
    assert at.multiselect(key="export_formats").value == ["parquet", "jsonl", "csv", "raw"]
    assert at.checkbox(key="export_embed_annotations").value is False
    assert at.number_input(key="export_min_annotators").value == 2
    assert not at.error


def test_an_annotator_is_refused_even_when_running_the_page_directly(labeled_db):
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.session_state["person"] = {"id": 1, "name": "alice", "role": "annotator"}
    at.run()
    assert len(at.error) == 1 and at.error[0].value.startswith("This page is for reviewer")
    assert not download_buttons(at)
    assert not at.header


def test_nobody_signed_in_is_refused(labeled_db):
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60)
    at.run()
    assert at.error and not download_buttons(at)


def test_bad_splits_show_an_error_and_no_download(labeled_db):
    at = open_export("rita")
    at.text_input(key="export_splits").input("0.8,0.3,0.1").run()
    assert any("sum to 1" in e.value for e in at.error)
    assert not download_buttons(at)
    at.text_input(key="export_splits").input("none").run()
    assert not at.error and download_buttons(at)


def test_the_command_shown_follows_the_options(labeled_db):
    at = open_export("rita")
    at.selectbox(key="export_policy").select("majority").run()
    at.checkbox(key="export_context").check().run()
    at.number_input(key="export_min_annotators").set_value(1).run()
    shown = [c.value for c in at.code]
    assert ("python -m labeling export --out export --format parquet,jsonl,csv,raw --gold "
            "majority --splits 0.8,0.1,0.1 --seed 0 --min-annotators 1 --include-context"
            ) in shown
    at.checkbox(key="export_embed_annotations").check().run()
    assert any(c.value.endswith("--include-context --embed-annotations") for c in at.code)


def test_the_zip_the_download_builds(labeled_db, db_path):
    """The page's download calls export_zip.export_zip(path, options) with its own
    connection; with the page's default options the zip holds every file."""
    at = open_export("rita")
    assert download_buttons(at)
    data = export_zip.export_zip(db_path, export_options.ExportOptions())
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ZIP_MEMBERS
        rows = [json.loads(line) for line in zf.read("train.jsonl").decode().splitlines()]
        card = zf.read("README.md").decode()
    assert rows and {r["label"] for r in rows} == {"demand"}
    assert all(r["split"] == "train" and r["gold_source"] == "unanimous" for r in rows)
    assert "python -m labeling export --out export" in card


def test_preview_shows_rows_literally_and_the_card(labeled_db):
    at = open_export("rita")
    at.button(key="export_preview_button").click().run()
    assert not at.exception, at.exception
    # one table per split (in tabs), each with its first rows
    tabs = {t.label.split(" ")[0]: t for t in at.tabs}
    assert list(tabs) == ["train", "dev", "test"]
    frames = {name: t.dataframe[0].value for name, t in tabs.items() if t.dataframe}
    assert list(frames) == ["train"] and len(frames["train"]) == 10
    assert set(frames["train"]["split"]) == {"train"}
    assert "dev is empty" in tabs["dev"].caption[0].value
    # the cell holds the stored text, unchanged (st.dataframe shows cells literally)
    assert any(t.endswith(" $5 and **not bold** [a](b)") for f in frames.values()
               for t in f["text"])
    assert {m.label for m in at.metric} >= {"train", "dev", "test", "left out"}
    assert any(m.value.startswith("# Dataset card") for m in at.markdown)
    # the metadata block is shown as YAML, not rendered as markdown
    assert any(c.language == "yaml" and "class_label" in c.value for c in at.code)
    # changing an option hides the stale preview until Preview is pressed again
    at.selectbox(key="export_policy").select("adjudicated").run()
    assert not at.dataframe
