"""The tests certify the stack users install.

`pip install -r requirements.txt` (the README's run command) must resolve the same major
versions of the libraries Parley's behaviour depends on as the environment the tests run
in (requirements-dev.txt): a test tool that pins numpy, pandas, pyarrow or Streamlit
elsewhere would make every other test certify something no user has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from tests.conftest import ROOT

CORE = ("streamlit", "numpy", "pandas", "pyarrow")


def _major(v: str) -> str:
    return v.split(".")[0]


@pytest.mark.slow
def test_runtime_and_test_environments_resolve_the_same_major_versions(tmp_path):
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--disable-pip-version-check", "--report", str(report),
         "-r", str(ROOT / "requirements.txt")],
        capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"pip could not resolve requirements.txt: {proc.stderr[-2000:]}")
        pytest.skip("pip could not reach a package index")
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]}
    for name in CORE:
        assert _major(resolved[name]) == _major(version(name)), (
            f"{name}: users get {resolved[name]}, the tests run on {version(name)}")


def test_reference_libraries_are_test_only():
    runtime = (ROOT / "requirements.txt").read_text()
    dev = (ROOT / "requirements-dev.txt").read_text()
    # used only by tests and benchmarks
    assert "krippendorff" not in runtime and "krippendorff" in dev
    # irrCAC pinned scipy 1.12 and pandas < 3, holding the tests on an older stack
    assert "irrcac" not in dev.lower()


def _tracked_text_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    for name in out.stdout.splitlines():
        path = ROOT / name
        if path.suffix in {".py", ".md", ".toml", ".txt", ".cfg"} or name == ".ci/run":
            if path.is_file():
                yield name, path.read_text(encoding="utf-8", errors="replace")


def test_the_project_explains_itself():
    # No comment or docstring sends the reader outside the repository, and no path of
    # a development machine is committed. Tests may read ../shared/data (public test sets).
    bad = []
    for name, text in _tracked_text_files():
        for no, line in enumerate(text.splitlines(), 1):
            if name == "tests/test_stack.py":
                continue
            outside = ("notes/" in line or "DESIGN.md" in line or "DEVELOPERS" in line
                       or ("shared/" in line and "shared/data" not in line))
            machine = "/work/" in line or "/root/" in line or "/home/" in line
            if outside or machine:
                bad.append(f"{name}:{no}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)
