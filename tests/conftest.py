"""Shared fixtures: a fresh project database per test, browsers, the public test data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Path:
    """A path for a new database; also exported as PARLEY_DB for the app and CLI."""
    path = tmp_path / "labels.db"
    monkeypatch.setenv("PARLEY_DB", str(path))
    return path


@pytest.fixture
def project_db(db_path):
    """An initialised project (migrations, default config, the seed article)."""
    from labeling import project

    db = project.init(db_path, seed=True)
    yield db
    db.close()


@pytest.fixture
def cfg(project_db):
    """The config of ``project_db`` (the shipped default)."""
    from labeling import project

    return project.load_config(project_db)


@pytest.fixture
def empty_db(db_path):
    """An initialised project without the seed article."""
    from labeling import project

    db = project.init(db_path, seed=False)
    yield db
    db.close()


def clear_app_caches() -> None:
    """Forget every process-wide cache: Streamlit's (``cache_resource`` holds the project
    path and connections) and the review, agreement and team figures (keyed by file)."""
    import streamlit as st

    from labeling import reliability, review, team

    for clear in (st.cache_resource.clear, st.cache_data.clear, review.clear_cache,
                  reliability.clear_cache, team.clear_cache):
        clear()


@pytest.fixture
def fresh_caches():
    """For AppTest tests: each test opens its own project (see ``clear_app_caches``)."""
    clear_app_caches()
    yield
    clear_app_caches()


def open_app(name: str | None = None, password: str | None = None, page: str | None = None,
             timeout: float = 60):
    """The app in AppTest as a shared link opens it (``?annotator=name``), signed in
    with ``password`` when one is given, then switched to the page file ``page``
    (e.g. ``"labeling/ui/people.py"``). Fails on any exception along the way."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if name is not None:
        at.query_params["annotator"] = name
    at.run()
    assert not at.exception, at.exception
    if password is not None:
        at.text_input(key="password").input(password).run()
        assert not at.exception, at.exception
    if page is not None:
        at.switch_page(page).run()
        assert not at.exception, at.exception
    return at


def require_browser() -> str:
    """Path of Chromium for browser tests; under CI=true a missing browser fails."""
    exe = "/usr/bin/chromium"
    if not os.path.exists(exe):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing: browser tests must run in CI")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    return exe


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` on 127.0.0.1:<free port> against ``db``; stopped by its PID."""

    def __init__(self, db: Path, env: dict | None = None):
        import subprocess
        import time
        import urllib.request

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(db.parent / f"streamlit-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
             "--server.headless=true", "--server.address=127.0.0.1",
             f"--server.port={self.port}", "--browser.gatherUsageStats=false",
             "--server.fileWatcherType=none", "--global.developmentMode=false"],
            cwd=ROOT, env={**os.environ, "PARLEY_DB": str(db), **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("streamlit did not become healthy within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except Exception:
                self.proc.kill()
        self.log.close()


@pytest.fixture
def server(db_path):
    """A live app on a fresh project database (seeded on first start)."""
    srv = StreamlitServer(db_path)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no downloaded browsers here)."""
    exe = require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def wait_idle(page, timeout: float = 15_000) -> None:
    """Wait until the Streamlit script is not running."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']",
                           timeout=timeout)


def screenshot_path(name: str) -> Path:
    """Where a browser test saves its screenshot: ``docs/screenshots/<name>`` (shown in the
    README) when ``PARLEY_SCREENSHOTS=1``, else a temp file, so a test run does not
    rewrite tracked files."""
    import tempfile

    if os.environ.get("PARLEY_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
    else:
        folder = Path(tempfile.gettempdir()) / "parley-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def dump(path) -> list[str]:
    """Every schema statement and row of the database, as SQL text (to prove a failed
    operation left the database exactly as it was)."""
    import sqlite3

    conn = sqlite3.connect(str(path))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def sign_in(page, base_url: str, name: str, password: str, *, then: str | None = None) -> None:
    """Sign in as a person does: open the app with the name in the URL, type the password
    and press Enter; then, if given, click the top navigation link to page ``then``
    (a new page load would start a new, signed-out session)."""
    page.goto(f"{base_url}/?annotator={name}")
    page.wait_for_selector(".st-key-password input", timeout=60_000)
    wait_idle(page, 60_000)
    page.locator(".st-key-password input").click()
    page.keyboard.type(password, delay=10)
    page.keyboard.press("Enter")
    if then is not None:
        link = f"a[href$='/{then}']"
        page.wait_for_selector(link, timeout=30_000)
        page.locator(link).first.click()
        page.wait_for_url(f"**/{then}**", timeout=30_000)
    page.wait_for_timeout(300)
    wait_idle(page, 60_000)
