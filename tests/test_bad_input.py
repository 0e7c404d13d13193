"""Bad input end to end: one line naming the file and line, nothing changed, memory
bounded.

Each case here once ended in a traceback, a hang, a silent acceptance or unbounded
memory. Now `import` gives exit 1 and one line ``Error: <file>[:<line>]: <problem>``;
`import-annotations` lists each problem on one line ``<file>[:<line>]: <problem>``
under ``Error: nothing imported; N problem(s):``; no traceback, and the database is left
exactly as it was (a full SQL dump compared).
"""

from __future__ import annotations

import re

import dataclasses
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from labeling import annotate, config, project
from tests.conftest import ROOT, dump
from tests.cli_helpers import run_db as run

SEED = "000_0a083b07f5e0d51c"  # the demo article's id
BAD_NAME = os.fsdecode(b"bad\xff.txt")  # a file name that is not UTF-8
BAD_NAME_SHOWN = "bad\\xff.txt"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad-input") / "template.db"
    project.init(path, seed=True).close()
    return path


@pytest.fixture
def proj(template, tmp_path) -> Path:
    """A project holding the demo article (a fresh copy per test)."""
    path = tmp_path / "p.db"
    shutil.copyfile(template, path)
    return path




def refused(result, where: str, problem: str, *, heading: str = "",
            check_stdout: bool = True) -> str:
    """`import`'s contract: exit 1, nothing on stdout, one line on stderr naming
    ``where`` (``<file>`` or ``<file>:<line>``) after ``heading`` and containing
    ``problem``."""
    assert result.exit_code == 1, (result.exit_code, result.output[-800:])
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    if check_stdout:
        assert result.stdout == ""
    err = result.stderr
    assert "Traceback" not in err and "unexpected" not in err, err
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1, err[:2000]
    assert lines[0].startswith(f"Error: {heading}{where}: "), lines[0]
    assert problem in lines[0], lines[0]
    assert len(lines[0]) < 1000
    return lines[0]


def listed(result, where: str, problem: str) -> str:
    """`import-annotations`' contract: as :func:`refused`, after ``nothing imported``
    (its ``--json`` summary may be on stdout)."""
    return refused(result, where, problem, heading="nothing imported: ", check_stdout=False)


def label_line(**extra) -> str:
    return json.dumps({"sentence_id": f"{SEED}:1", "annotator": "ann", "label": "demand",
                       **extra}) + "\n"


# ----------------------------------------------------------------------------- numbers


def test_a_jsonl_id_of_5000_digits_names_the_line(proj, tmp_path):
    # regression: Python's int-string limit came out as "unexpected ValueError"
    path = tmp_path / "big.jsonl"
    path.write_text('{"id": "a", "text": "Talks opened."}\n'
                    '{"id": ' + "7" * 5000 + ', "text": "Talks ended."}\n')
    before = dump(proj)
    refused(run(proj, "import", path), f"{path}:2", "a number with more than 4,300 digits")
    assert dump(proj) == before


def test_a_sentence_index_beyond_64_bits_names_the_line(proj, tmp_path):
    # regression: 10**20 reached SQLite and failed as an OverflowError
    path = tmp_path / "a.jsonl"
    path.write_text(label_line() + label_line(sentence_id=f"{SEED}:{10**20}"))
    before = dump(proj)
    listed(run(proj, "import-annotations", path), "a.jsonl:2", "the index is too large")
    assert dump(proj) == before


@pytest.mark.parametrize("name,content", [
    ("d.jsonl", label_line(duration_ms=10**20)),
    ("d.csv", f"sentence_id,annotator,label,duration_ms\n{SEED}:1,ann,demand,{10**20}\n"),
], ids=["jsonl", "csv"])
def test_a_duration_beyond_64_bits_names_the_line(proj, tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    before = dump(proj)
    line = 1 if name.endswith("jsonl") else 2
    msg = listed(run(proj, "import-annotations", path), f"{name}:{line}", "is too large")
    assert "duration_ms" in msg
    assert dump(proj) == before


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_created_at_out_of_range_in_utc_names_the_line(proj, tmp_path, stamp):
    # regression: astimezone(UTC) raised OverflowError (a traceback)
    path = tmp_path / "t.csv"
    path.write_text(f"sentence_id,annotator,label,created_at\n{SEED}:1,ann,demand,{stamp}\n")
    before = dump(proj)
    listed(run(proj, "import-annotations", path), "t.csv:2", "out of range")
    assert dump(proj) == before


# ----------------------------------------------------------------------------- file names


def _bad_name_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.txt").write_text("Envoys met in Vienna on Monday.\n")
    (folder / BAD_NAME).write_text("Talks ended without a deal.\n")
    return folder


def test_a_file_name_that_is_not_utf8_is_named_safely(proj, tmp_path):
    # regression: the name became an article id SQLite could not store (a traceback)
    path = tmp_path / BAD_NAME
    path.write_text("Talks ended without a deal.\n")
    before = dump(proj)
    msg = refused(run(proj, "import", path), f"{tmp_path}/{BAD_NAME_SHOWN}",
                  "the file name is not valid UTF-8")
    assert "\udcff" not in msg
    assert dump(proj) == before


def test_a_file_name_that_is_not_utf8_inside_a_folder(proj, tmp_path):
    folder = _bad_name_folder(tmp_path)
    before = dump(proj)
    refused(run(proj, "import", folder), f"{folder}/{BAD_NAME_SHOWN}", "not valid UTF-8")
    assert dump(proj) == before


def test_a_file_name_that_is_not_utf8_with_skip_bad(proj, tmp_path):
    folder = _bad_name_folder(tmp_path)
    result = run(proj, "import", folder, "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.stderr and "\udcff" not in result.stderr
    assert result.stderr.strip() == (f"skipped: {folder}/{BAD_NAME_SHOWN}: the file name is "
                                     "not valid UTF-8; rename the file")
    conn = sqlite3.connect(proj)
    assert [r[0] for r in conn.execute("SELECT external_id FROM articles ORDER BY id")] == [
        SEED, "good"]
    conn.close()


def test_a_file_name_that_is_not_utf8_for_import_annotations(proj, tmp_path):
    path = tmp_path / os.fsdecode(b"labels\xff.jsonl")
    path.write_text(label_line())
    before = dump(proj)
    listed(run(proj, "import-annotations", path), "labels\\xff.jsonl", "not valid UTF-8")
    assert dump(proj) == before


def test_a_file_name_that_is_not_utf8_through_a_real_process(proj, tmp_path):
    path = tmp_path / BAD_NAME
    path.write_text("Talks ended without a deal.\n")
    before = dump(proj)
    proc = subprocess.run([sys.executable, "-m", "labeling", "--db", str(proj), "import",
                           os.fsencode(path)], cwd=ROOT, capture_output=True, timeout=120,
                          check=False)
    err = proc.stderr.decode("utf-8")  # strict: what was printed is valid UTF-8
    assert proc.returncode == 1 and "Traceback" not in err
    assert err == f"Error: {tmp_path}/{BAD_NAME_SHOWN}: the file name is not valid UTF-8; " \
                  "rename the file\n"
    assert dump(proj) == before


# ----------------------------------------------------------------------------- JSON


def test_deep_nesting_names_the_line_for_import_annotations(proj, tmp_path):
    # regression: RecursionError (import caught it; import-annotations did not)
    path = tmp_path / "deep.jsonl"
    path.write_text(label_line() + "[" * 100_000 + "]" * 100_000 + "\n")
    before = dump(proj)
    listed(run(proj, "import-annotations", path), "deep.jsonl:2", "JSON nested too deeply")
    assert dump(proj) == before


@pytest.mark.parametrize("command,line,problem", [
    ("import", '{"id": NaN, "text": "Talks."}', "NaN is not a JSON value"),
    ("import", '{"id": "a", "text": "Talks.", "id": "b"}', "the key 'id' appears twice"),
    ("import-annotations", label_line().replace('"label"', '"annotator": "x", "label"'),
     "the key 'annotator' appears twice"),
    ("import-annotations", label_line().replace('"label": "demand"', '"label": "demand", '
                                                '"duration_ms": Infinity'),
     "Infinity is not a JSON value"),
], ids=["nan-id", "duplicate-key", "duplicate-key-annotations", "infinity-annotations"])
def test_json_that_is_not_strict_json_names_the_line(proj, tmp_path, command, line, problem):
    # regression: NaN became the id "nan"; of two equal keys the last silently won
    path = tmp_path / "x.jsonl"
    path.write_text(line.rstrip("\n") + "\n")
    before = dump(proj)
    result = run(proj, command, path)
    if command == "import":
        refused(result, f"{path}:1", problem)
    else:
        listed(result, "x.jsonl:1", problem)
    assert dump(proj) == before


@pytest.mark.parametrize("command,content", [
    ("import", "id,text,text\n1,Talks opened.,Talks ended.\n"),
    ("import-annotations", f"sentence_id,annotator,label,Label\n{SEED}:1,ann,demand,none\n"),
])
def test_a_duplicate_csv_header_names_line_one(proj, tmp_path, command, content):
    path = tmp_path / "h.csv"
    path.write_text(content)
    before = dump(proj)
    result = run(proj, command, path)
    if command == "import":
        refused(result, f"{path}:1", "the column 'text' appears twice in the header")
    else:
        listed(result, "h.csv:1", "the column 'label' appears twice in the header")
    assert dump(proj) == before


# ----------------------------------------------------------------------------- control characters


@pytest.mark.parametrize("name,content,where,problem", [
    ("nul-id.jsonl", '{"id": "a\\u0000b", "text": "Talks ended."}\n', 1, "U+0000 in field 'id'"),
    ("esc-url.jsonl", '{"text": "Talks ended.", "url": "http://x/\\u001b[2J"}\n', 1,
     "U+001B in field 'url'"),
    ("esc-id.csv", 'id,text\nok,Talks opened.\n"a\x1bb",Talks ended.\n', 3,
     "U+001B in field 'id'"),
    ("tab-source.csv", 'text,source\n"Talks ended.","AP\tWire"\n', 2,
     "U+0009 in field 'source'"),
    ("esc-meta.jsonl", '{"text": "Talks ended.", "extra": {"k": "v\\u001b"}}\n', 1,
     "U+001B in a field"),
], ids=lambda v: v if isinstance(v, str) and "." in v and len(v) < 20 else "")
def test_control_characters_in_article_fields_are_refused(proj, tmp_path, name, content,
                                                          where, problem):
    # regression: ids and urls took NUL and ESC as they were
    path = tmp_path / name
    path.write_text(content)
    before = dump(proj)
    refused(run(proj, "import", path), f"{path}:{where}", f"control character {problem}")
    assert dump(proj) == before


@pytest.mark.parametrize("name,content,where,problem", [
    ("nul-name.jsonl", label_line(annotator="ann\u0000"), 1, "U+0000 in annotator"),
    ("nul-note.jsonl", label_line(note="first\u0000second"), 1, "U+0000 in note"),
    ("esc-note.csv", f'sentence_id,annotator,label,note\n{SEED}:1,ann,demand,"a\x1b[2Jb"\n', 2,
     "U+001B in note"),
    ("esc-label.jsonl", label_line(label="demand\u001b"), 1, "U+001B in label"),
    ("nul-csv-cell.csv", f'sentence_id,annotator,label,note\n{SEED}:1,ann,demand,"a\\u0000"\n'
     .replace("\\u0000", "\x00"), 2, "binary data (a NUL byte)"),
], ids=lambda v: v if isinstance(v, str) and "." in v and len(v) < 20 else "")
def test_control_characters_in_annotation_fields_are_refused(proj, tmp_path, name, content,
                                                             where, problem):
    # regression: notes and names took NUL and ESC; annotations.csv then cut a note at
    # its NUL on export
    path = tmp_path / name
    path.write_text(content)
    before = dump(proj)
    listed(run(proj, "import-annotations", path), f"{name}:{where}", problem)
    assert dump(proj) == before


# ----------------------------------------------------------------------------- empty files


@pytest.mark.parametrize("name,content,problem", [
    ("empty.jsonl", "", "the file is empty"),
    ("blank.jsonl", "\n  \n\n", "the file is empty"),
    ("empty.csv", "", "the file is empty"),
    ("header.csv", "sentence_id,annotator,label\n\n", "the CSV file has a header but no rows"),
])
def test_an_annotations_file_without_rows_is_an_error(proj, tmp_path, name, content, problem):
    # regression: "imported 0 labels", exit 0
    path = tmp_path / name
    path.write_text(content)
    before = dump(proj)
    listed(run(proj, "import-annotations", path), name, problem)
    assert dump(proj) == before


# ----------------------------------------------------------------------------- special files


def test_a_fifo_is_refused_without_waiting_for_a_writer(proj, tmp_path):
    # regression: the import opened the FIFO and waited forever (the timeout fails it)
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    before = dump(proj)
    for command in ("import", "import-annotations"):
        proc = subprocess.run([sys.executable, "-m", "labeling", "--db", str(proj), command,
                               str(fifo)], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "a FIFO (named pipe), not a file" in proc.stderr
        assert str(fifo) in proc.stderr or "pipe.jsonl:" in proc.stderr
    assert dump(proj) == before


def _limited_memory() -> None:
    """In the child: at most 2 GiB of address space, so that reading /dev/zero (what
    the import once did) ends in MemoryError instead of taking the machine's memory."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize("command", ["import", "import-annotations"])
def test_a_device_is_refused(proj, tmp_path, command):
    # regression: /dev/zero was read without end (memory grew without limit)
    link = tmp_path / "zero.jsonl"
    link.symlink_to("/dev/zero")  # a link named on the command line is followed
    before = dump(proj)
    for path in (link, Path("/dev/zero")):
        proc = subprocess.run([sys.executable, "-m", "labeling", "--db", str(proj), command,
                               str(path)], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=False, preexec_fn=_limited_memory)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        if command == "import":
            assert proc.stderr == f"Error: {path}: a character device, not a file: only " \
                                  "regular files can be imported\n"
        elif path == link:
            assert proc.stderr == ("Error: nothing imported: zero.jsonl: a character device, "
                                   "not a file: only regular files can be imported\n")
        else:  # no .csv/.jsonl extension: refused before it is looked at
            assert "unknown file type" in proc.stderr
    assert dump(proj) == before


def test_links_inside_a_folder_are_skipped_with_a_warning(proj, tmp_path):
    # regression: /etc/passwd came in through a link in an imported folder
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("The secret plan was never published.\n")
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    (folder / "good.txt").write_text("Envoys met in Vienna on Monday.\n")
    (folder / "link.txt").symlink_to(secret)
    (folder / "sub" / "linked").symlink_to(secret.parent, target_is_directory=True)
    result = run(proj, "import", folder)
    assert result.exit_code == 0, result.output
    warnings = sorted(result.stderr.strip().split("\n"))
    assert warnings == [
        f"warning: {folder}/link.txt: skipped: a symbolic link (links in folders are not "
        "followed; name the file itself to import it)",
        f"warning: {folder}/sub/linked: skipped: a symbolic link to a folder (links in "
        "folders are not followed)"]
    conn = sqlite3.connect(proj)
    assert [r[0] for r in conn.execute("SELECT external_id FROM articles ORDER BY id")] == [
        SEED, "good"]
    conn.close()
    # A link named on the command line is what the user asked for: it is followed.
    assert run(proj, "import", folder / "link.txt").exit_code == 0
    conn = sqlite3.connect(proj)
    assert conn.execute("SELECT count(*) FROM articles WHERE external_id = 'link'"
                        ).fetchone()[0] == 1
    conn.close()


# ----------------------------------------------------------------------------- size limits


@pytest.mark.parametrize("command,name,make,where", [
    ("import", "one.jsonl", lambda n: '[{"text": "' + "x" * n + '"}]', 1),
    ("import", "rows.jsonl", lambda n: '{"text": "ok."}\n{"text": "' + "x" * n + '"}\n', 2),
    ("import", "cell.csv", lambda n: 'id,text\n1,"' + "x\n" * (n // 2) + '"\n', 2),
    ("import", "article.txt", lambda n: "x" * n, None),
    ("import-annotations", "one.jsonl", lambda n: label_line(note="x" * n), 1),
    ("import-annotations", "cell.csv", lambda n: "sentence_id,annotator,label,note\n"
     f'{SEED}:1,ann,demand,"' + "x\n" * (n // 2) + '"\n', 2),
], ids=["jsonl-line-1", "jsonl-line-2", "csv-record", "text-file", "annotations-jsonl",
        "annotations-csv"])
def test_a_line_or_record_over_the_limit_names_it(proj, tmp_path, command, name, make, where):
    path = tmp_path / name
    path.write_text(make(120_000))
    env = {"PARLEY_MAX_FIELD_BYTES": "100000"}
    before = dump(proj)
    result = run(proj, command, path, env=env)
    if command == "import-annotations":
        msg = listed(result, f"{name}:{where}", "longer than 100,000 bytes")
    else:
        msg = refused(result, f"{path}:{where}" if where else str(path), "100,000 bytes")
    assert "PARLEY_MAX_FIELD_BYTES" in msg
    assert dump(proj) == before
    # under the limit the same file is read (and rejected, if at all, for its content)
    ok = run(proj, command, path, env={"PARLEY_MAX_FIELD_BYTES": "1000000"})
    assert "100,000" not in ok.stderr and "1,000,000 bytes" not in ok.stderr


@pytest.mark.parametrize("value", ["ten", "-5", "0", "1e6"])
def test_a_bad_limit_setting_is_a_clear_error(proj, tmp_path, value):
    path = tmp_path / "a.txt"
    path.write_text("Talks ended.\n")
    before = dump(proj)
    refused(run(proj, "import", path, env={"PARLEY_MAX_FIELD_BYTES": value}),
            "PARLEY_MAX_FIELD_BYTES", "must be a whole number of bytes")
    assert dump(proj) == before


# ----------------------------------------------------------------------------- memory

# Runs one CLI command and writes the process's peak resident memory (VmHWM, KiB) to
# argv[1]. Not getrusage's ru_maxrss: Linux carries that over from the forked parent
# (pytest, which just wrote a 30 MB file) across exec.
_PEAK_RSS = (
    "import sys\n"
    "out, sys.argv = sys.argv[1], ['parley', *sys.argv[2:]]\n"
    "from labeling.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
    "status = open('/proc/self/status').read()\n"
    "open(out, 'w').write(status.split('VmHWM:')[1].split()[0])\n")


@pytest.fixture
def linux_proc():
    if not os.path.exists("/proc/self/status"):
        pytest.skip("peak memory is read from /proc/self/status (Linux)")


def peak_rss_kib(tmp_path: Path, *args, env: dict | None = None) -> int:
    out = tmp_path / "peak.txt"
    proc = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(out), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr
    return int(out.read_text())


MB = 1_000_000
BLANK_CASES = {
    # command, file name, content around n blank lines (ending in one good row)
    "import-csv": ("import", "b.csv", lambda n: b"id,text\n" + b"\n" * n
                   + b"x,Talks ended.\n"),
    "annotations-csv": ("import-annotations", "b.csv", lambda n: b"sentence_id,annotator,label\n"
                        + b"\n" * n + f"{SEED}:1,ann,demand\n".encode()),
    "annotations-jsonl": ("import-annotations", "b.jsonl", lambda n: b"\n" * n
                          + label_line().encode()),
}


@pytest.mark.parametrize("case", list(BLANK_CASES))
def test_memory_stays_flat_over_blank_lines(linux_proc, template, tmp_path, case):
    """3 MB and 30 MB of blank lines: the peak memory of the import must not follow.
    (Reading whole files took ~140 MB more for 30 MB of CSV, ~300 MB for JSONL labels.)"""
    command, name, make = BLANK_CASES[case]
    peaks = []
    for size in (3 * MB, 30 * MB):
        folder = tmp_path / str(size)
        folder.mkdir()
        (folder / name).write_bytes(make(size))
        db = folder / "p.db"
        shutil.copyfile(template, db)
        peaks.append(peak_rss_kib(folder, "--db", db, command, folder / name))
    growth_mb = (peaks[1] - peaks[0]) * 1024 / MB
    assert growth_mb < 8, f"peak RSS grew by {growth_mb:.1f} MB for 27 MB more input"


@pytest.mark.parametrize("command", ["import", "import-annotations"])
def test_a_huge_single_line_is_refused_without_reading_it_whole(linux_proc, template, tmp_path,
                                                                 command):
    """A one-line JSON array of 3 MB or 30 MB, over a 1 MB limit: the same small peak.
    (The line used to be read whole before the error: a 116 MB file, 116 MB and more.)"""
    peaks = []
    for size in (3 * MB, 30 * MB):
        folder = tmp_path / str(size)
        folder.mkdir()
        path = folder / "array.jsonl"
        row = label_line().strip() if command == "import-annotations" else '{"text": "x."}'
        path.write_text("[" + ", ".join([row] * (size // (len(row) + 2))) + "]")
        db = folder / "p.db"
        shutil.copyfile(template, db)
        peaks.append(peak_rss_kib(folder, "--db", db, command, path,
                                  env={"PARLEY_MAX_FIELD_BYTES": str(MB)}))
        assert dump(db) == dump(template)
    growth_mb = (peaks[1] - peaks[0]) * 1024 / MB
    assert growth_mb < 4, f"peak RSS grew by {growth_mb:.1f} MB for 27 MB more input"


# ----------------------------------------------------------------------------- round trip


NOTES = [
    'He said "no",\tthen\u2028left\u0085again',
    "line one\nline two, with a comma; and 'quotes'",
    "paragraph\u2029separator and NEL\u0085 and LS\u2028 mid-text",
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_parley_exports_import_back_exactly(template, tmp_path, fmt):
    """Labels exported raw (annotations.jsonl / .csv) and imported into a fresh project
    with the same articles reproduce every field. (import-annotations split JSON Lines at
    U+2028/U+2029/U+0085, so Parley's own annotations.jsonl was refused.)"""
    source = tmp_path / "source.db"
    shutil.copyfile(template, source)
    db = project.open_existing(source)
    cfg = project.load_config(db)
    stamps = iter(["2024-03-01T09:00:00.125+00:00", "2024-03-01T09:01:00.250+00:00",
                   "2024-03-02T10:00:00.000+00:00", "2024-03-02T10:05:00.500+00:00",
                   "2024-03-03T11:00:00.000+00:00"])
    for name, note in [("alice", NOTES[0]), ("bob", NOTES[1]), ("cy", NOTES[2])]:
        me = annotate.add_annotator(db, name)["id"]
        for k in range(2 if name != "cy" else 1):
            item = annotate.next_item(db, me, cfg)
            annotate.save(db, me, item.sentence_id, cfg, labels=[cfg.label_names[k]],
                          note=note if k == 0 else None, duration_ms=1500 + k,
                          created_at=next(stamps))
    db.close()
    out = tmp_path / "export"
    assert run(source, "export", "--out", out, "--format", "raw").exit_code == 0
    target = tmp_path / "target.db"
    shutil.copyfile(template, target)
    result = run(target, "import-annotations", out / f"annotations.{fmt}", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["imported"] == 5

    def rows(path: Path) -> list[tuple]:
        conn = sqlite3.connect(path)
        try:
            return conn.execute(
                "SELECT ar.external_id || ':' || s.idx, n.name, a.status, a.labels, a.flagged,"
                " a.note, a.duration_ms, a.created_at, a.updated_at, a.guidelines_version "
                "FROM annotations a JOIN sentences s ON s.id = a.sentence_id "
                "JOIN articles ar ON ar.id = s.article_id "
                "JOIN annotators n ON n.id = a.annotator_id ORDER BY 1, 2").fetchall()
        finally:
            conn.close()

    expected = rows(source)
    assert sorted(r[5] for r in expected if r[5]) == sorted(NOTES)  # the notes made it in
    assert rows(target) == expected


def test_a_skipped_row_of_an_export_is_named(proj, tmp_path):
    path = tmp_path / "annotations.jsonl"
    path.write_text(json.dumps({"sentence_id": f"{SEED}:1", "annotator": "ann",
                                "status": "skipped", "labels": []}) + "\n")
    before = dump(proj)
    listed(run(proj, "import-annotations", path), "annotations.jsonl:1", "status 'skipped'")
    assert dump(proj) == before


# ----------------------------------------------------------------------------- config


def test_an_overlap_beyond_any_integer_column_is_a_config_error(proj, tmp_path):
    path = tmp_path / "project.toml"
    text = config.to_toml(config.default())
    path.write_text(text.replace("overlap = 2", "overlap = 99999999999999999999", 1))
    assert "overlap = 99999999999999999999" in path.read_text()
    before = dump(proj)
    for command in ("check", "load"):
        result = run(proj, "config", command, path)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
        assert str(path) in result.stderr
        problem = [ln for ln in result.stderr.splitlines() if "overlap:" in ln]
        assert len(problem) == 1, result.stderr
        assert "must be between 1 and 100, got 99999999999999999999" in problem[0]
    assert dump(proj) == before


# ----------------------------------------------------------------------------- markdown

PIXEL = "http://tracker.invalid/pixel.png"
REMOTE_MARKDOWN = [
    f"![inline]({PIXEL})",
    f'![titled]({PIXEL} "title")',
    f"![reference][px]\n\n[px]: {PIXEL}",
    f"![px]\n\n[px]: {PIXEL}",
    f"![collapsed][]\n\n[collapsed]: {PIXEL}",
    f'<img src="{PIXEL}">',
    f"<p>\n<img src='{PIXEL}'/>\n</p>",
    f"<picture><source srcset='{PIXEL}'></picture>",
    f"[![nested]({PIXEL})](http://example.com)",
    f"\\\\![after an escaped backslash]({PIXEL})",
]


@pytest.mark.parametrize("text", REMOTE_MARKDOWN)
def test_markdown_images_and_html_become_text(text):
    from labeling.safe_markdown import neutralise

    out = neutralise(text)
    # every "![" and "<tag" is preceded by an odd run of backslashes: a literal character
    for i, ch in enumerate(out):
        if (ch == "!" and out[i + 1:i + 2] == "[") or (ch == "<" and out[i + 1:i + 2].isalpha()):
            run_len = len(out[:i]) - len(out[:i].rstrip("\\"))
            assert run_len % 2 == 1, (out, i)
    assert neutralise(out) == out  # idempotent: escaping twice changes nothing more


def test_markdown_without_images_is_unchanged():
    from labeling.safe_markdown import neutralise

    text = ("# Labeling guidelines\n\n**demand**: a party asks for something! [see "
            "here](http://example.com) and `code` and 3 < 4 and \\![not an image](x)\n")
    assert neutralise(text) == text


def test_the_guidelines_dialog_renders_neutralised_markdown(template, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import streamlit as st

    from labeling.safe_markdown import neutralise

    path = tmp_path / "p.db"
    shutil.copyfile(template, path)
    monkeypatch.setenv("PARLEY_DB", str(path))
    guidelines = "# Rules\n\n" + "\n\n".join(REMOTE_MARKDOWN)
    db = project.open_existing(path)
    project.save_config(db, dataclasses.replace(project.load_config(db), guidelines=guidelines))
    db.close()
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        at.query_params["annotator"] = "alice"
        at.run()
        at.button(key="guidelines").click().run()
        assert not at.exception, at.exception
        [shown] = [m.value for m in at.markdown if "# Rules" in m.value]
    finally:
        st.cache_resource.clear()
    assert shown == neutralise(guidelines) != guidelines


@pytest.mark.browser
def test_the_guidelines_fetch_nothing_from_outside_in_a_browser(template, tmp_path, browser):
    """In Chromium: the guidelines dialog shows image markup as text, holds no <img>,
    and the page requests nothing from the outside host."""
    from tests.conftest import StreamlitServer, wait_idle

    path = tmp_path / "p.db"
    shutil.copyfile(template, path)
    db = project.open_existing(path)
    project.save_config(db, dataclasses.replace(
        project.load_config(db),
        guidelines="# Rules\n\n" + "\n\n".join(REMOTE_MARKDOWN) + "\n\nEND OF RULES"))
    db.close()
    srv = StreamlitServer(path)
    try:
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{srv.url}/?annotator=gl")
        page.wait_for_selector(".st-key-current_sentence", timeout=30_000)
        wait_idle(page)
        page.locator(".st-key-guidelines button").click()
        dialog = page.locator("[role='dialog']")
        dialog.get_by_text("END OF RULES").wait_for(timeout=15_000)
        wait_idle(page)
        assert dialog.locator("img").count() == 0
        text = dialog.inner_text()
        assert "![inline]" not in text and "!" in text  # shown as a "!" and a link
        assert f'<img src="{PIXEL}">' in text  # HTML shown as text
        assert not [u for u in requested if "tracker.invalid" in u], requested
        page.close()
    finally:
        srv.stop()


def test_notes_and_rationales_from_the_app_refuse_control_characters(tmp_path):
    # imports refused NUL and ESC, but a note saved in the app still reached the export
    from labeling import annotate, project, review

    db = project.init(tmp_path / "p.db", seed=True)
    cfg = project.load_config(db)
    me = annotate.add_annotator(db, "dora")["id"]
    item = annotate.next_item(db, me, cfg)
    for bad in ("cut\x00here", "colour \x1b[31m"):
        with pytest.raises(annotate.LabelingError, match="control character"):
            annotate.save(db, me, item.sentence_id, cfg, labels=["none"], note=bad)
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
    annotate.save(db, me, item.sentence_id, cfg, labels=["none"], note="two\tcolumns\nok")
    rita = annotate.add_annotator(db, "rita", "reviewer", "pw")["id"]
    with pytest.raises(review.ReviewError, match="control character"):
        review.adjudicate(db, rita, item.sentence_id, ["none"], cfg, rationale="a\x00b")
    db.close()


def test_the_dataset_card_shows_a_remote_image_in_the_project_name_as_text(tmp_path):
    # the Export page renders the card with st.markdown, and the card is README.md of the
    # dataset: an image in the project name made every viewer fetch an outside URL
    import dataclasses

    from labeling import export, export_card, project

    db = project.init(tmp_path / "p.db", seed=True)
    cfg = project.load_config(db)
    project.save_config(db, dataclasses.replace(
        cfg, name="Talks ![p](http://example.com/p.png) <img src=http://example.com/q.png>"))
    export.export(db, tmp_path / "out", export.ExportOptions(ratios=None))
    meta, card = export_card.split_front_matter(
        (tmp_path / "out" / "README.md").read_text(encoding="utf-8"))
    assert "![p]" not in card and not re.search(r"(?<!\\)<img", card)
    assert "\\!\\[p\\]" in card and "\\<img" in card  # still there, as text
    # the metadata block is YAML, never rendered: the name is a quoted string there
    assert 'pretty_name: "Talks ![p](http://example.com/p.png) <img' in meta
    db.close()
