"""The Export page in a real Chromium: the download button builds the zip on click (on
Streamlit's download thread, with its own connection), and the preview renders."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from labeling import annotate, project
from tests.conftest import StreamlitServer, screenshot_path, sign_in, wait_idle

RITA_PASSWORD = "rita reviews carefully"

pytestmark = pytest.mark.browser


@pytest.fixture
def export_server(db_path):
    """The seed project, fully labeled by two annotators who agree on most sentences,
    a reviewer, then a live app on it."""
    db = project.init(db_path, seed=True)
    cfg = project.load_config(db)
    annotate.add_annotator(db, "rita", "reviewer", RITA_PASSWORD)
    names = cfg.label_names
    for n, who in enumerate(("alice", "bob")):
        pid = annotate.add_annotator(db, who)["id"]
        i = 0
        while (item := annotate.next_item(db, pid, cfg)) is not None:
            lab = names[i % len(names)] if n == 0 or i % 4 else names[(i + 1) % len(names)]
            annotate.save(db, pid, item.sentence_id, cfg, labels=[lab], duration_ms=900)
            i += 1
    db.close()
    srv = StreamlitServer(db_path)
    yield srv
    srv.stop()


# Files every export with the default formats writes, whatever is labeled.
ZIP_MEMBERS = ["README.md", "annotations.parquet", "labels.json", "parley-manifest.json"]


def _open_export(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    sign_in(page, url, "rita", RITA_PASSWORD, then="export")
    page.wait_for_selector(".st-key-download_zip", timeout=30_000)
    wait_idle(page)
    return page


def test_download_button_delivers_the_zip(export_server, browser, tmp_path):
    page = _open_export(browser, export_server.url)
    try:
        with page.expect_download(timeout=60_000) as info:
            page.click(".st-key-download_zip button")
        target = tmp_path / "download.zip"
        info.value.save_as(target)
        assert info.value.suggested_filename == "parley-export.zip"
        with zipfile.ZipFile(target) as zf:
            names = sorted(zf.namelist())
            # the seed is one article: it lands in one split, the only one with files
            splits = {n.split(".")[0] for n in names if n.endswith(".jsonl")}
            assert len(splits) == 1 and splits <= {"train", "dev", "test"}
            split = splits.pop()
            assert names == sorted(ZIP_MEMBERS + [f"{split}.{x}"
                                                  for x in ("parquet", "jsonl", "csv")])
            rows = [json.loads(x) for x in zf.read(f"{split}.jsonl").decode().splitlines()]
            card = zf.read("README.md").decode()
        assert rows and all(r["split"] == split for r in rows)
        assert "## Agreement" in card and "`alice`, `bob`" in card
    finally:
        page.close()


def test_preview_renders_rows_and_card(export_server, browser):
    page = _open_export(browser, export_server.url)
    try:
        page.click(".st-key-export_preview_button button")
        page.wait_for_selector("text=Dataset card: Negotiation news", timeout=60_000)
        wait_idle(page)
        # the first rows of each split, in tabs (one split holds the seed article)
        assert page.get_by_role("tab").count() == 3
        assert page.locator("[data-testid='stDataFrame']").count() == 1
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(screenshot_path("export.png")), full_page=False)
    finally:
        page.close()


def test_zip_bytes_are_a_valid_archive_for_the_empty_case(db_path):
    """No labels at all: no dataset file (every split is empty), the raw annotations,
    labels.json and a card that says why."""
    from labeling import export_zip

    project.init(db_path, seed=True).close()
    data = export_zip.export_zip(db_path)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ZIP_MEMBERS
        assert "no_labels | 27 |" in zf.read("README.md").decode()
