"""Hostile input: bad files, and hostile names, notes and config values.

Every bad file must give one clear line on stderr naming the file (and the line, where
one applies), exit 1 without a traceback, and leave the database exactly as it was
(compared as a full SQL dump). Names and notes are either rejected with a clear message
or stored byte for byte.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

import db.annotations as annotations_db
import db.annotators as annotators_db
from labeling import annotate, config, project
from labeling.cli import cli
from tests.conftest import dump

ROOT = Path(__file__).resolve().parents[1]
BIG = 10 * 1024 * 1024  # a 10 MB line


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "Talks ended.")
    return buf.getvalue()


def _binary() -> bytes:
    return random.Random(7).randbytes(4096)


# name -> (file name, content, line the error must name or None for the whole file)
BAD_FILES: dict[str, tuple[str, bytes | str, int | None]] = {
    "empty": ("empty.txt", b"", None),
    "whitespace_only": ("blank.txt", b"  \n\t\n   \n", None),
    "bom_only": ("bom.txt", b"\xef\xbb\xbf", None),
    "binary": ("random.txt", _binary(), _binary()[:_binary().find(b"\x00")].count(b"\n") + 1),
    "nul_byte": ("nul.txt", b"Talks opened.\nThen \x00 broke.\n", 2),
    "truncated_utf8": ("cut.txt", "Talks in Zürich.\nGespräche".encode() + "ä".encode()[:1],
                       2),
    "utf16_without_bom": ("utf16.txt", "Talks ended.\nMore.".encode("utf-16-le"), 1),
    "utf16_bom_truncated": ("utf16bom.txt", b"\xff\xfe" + "Talks".encode("utf-16-le")[:-1],
                            None),
    "latin1": ("latin1.txt", "Talks opened.\nTalks in Genève ended.".encode("latin-1"), 2),
    "csv_unbalanced_quotes": ("quotes.csv", 'id,text\n1,"Talks ended.\n2,Fine.\n', 2),
    "csv_missing_text_column": ("notext.csv", "id,headline\n1,Talks\n", 1),
    "csv_missing_columns": ("short.csv", "id,title,text\n1,T,Talks ended.\n2,T2\n", 3),
    "csv_extra_columns": ("long.csv", "id,text\n1,Talks ended.,surplus\n", 2),
    "csv_header_only": ("header.csv", "id,text\n", None),
    "csv_empty_text": ("emptytext.csv", "id,text\n1,Fine.\n2,   \n", 3),
    "csv_nul_in_row": ("nulrow.csv", b"id,text\n1,ab\x00c\n", 2),
    "csv_control_char": ("ctl.csv", 'id,text\n1,"Talks \x1b[31m ended."\n', 2),
    "csv_10mb_field": ("bigfield.csv", "id,text\n1," + "a" * BIG + "\n", 2),
    "jsonl_broken_line": ("broken.jsonl", '{"text": "Fine."}\n{"text": "cut\n', 2),
    "jsonl_array_line": ("arrline.jsonl", '{"text": "Fine."}\n[1, 2]\n', 2),
    "jsonl_number_line": ("numline.jsonl", '{"text": "Fine."}\n42\n', 2),
    "jsonl_string_line": ("strline.jsonl", '"just a string"\n', 1),
    "json_array_file": ("array.json", '[{"text": "Talks ended."}]\n', 1),
    "json_object_over_lines": ("pretty.json", '{\n  "text": "Talks ended."\n}\n', 1),
    "jsonl_text_object": ("textobj.jsonl", '{"text": {"body": "Talks."}}\n', 1),
    "jsonl_text_number": ("textnum.jsonl", '{"text": "Fine."}\n{"text": 12}\n', 2),
    "jsonl_text_null": ("textnull.jsonl", '{"text": null}\n', 1),
    "jsonl_text_empty": ("textempty.jsonl", '{"text": "Fine."}\n{"text": ""}\n', 2),
    "jsonl_title_object": ("titleobj.jsonl", '{"text": "Fine.", "title": {"a": 1}}\n', 1),
    "jsonl_no_text_field": ("nofield.jsonl", '{"body2": "Talks."}\n', 1),
    "jsonl_lone_surrogate": ("surrogate.jsonl", '{"text": "Talks \\ud800 ended."}\n', 1),
    "jsonl_escape_control": ("esc.jsonl", '{"text": "ok."}\n{"text": "Red \\u001b[31m"}\n',
                             2),
    "jsonl_10mb_line": ("bigline.jsonl", '{"text": "' + "a" * BIG + '"}\n', 1),
    "jsonl_deeply_nested_array": ("deep.jsonl", "[" * 100_000 + "]" * 100_000, 1),
    "jsonl_deeply_nested_value": ("deepval.jsonl",
                                  '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", 1),
    "jsonl_duplicate_ids": ("dupids.jsonl",
                            ('{"id": "x", "text": "Talks opened."}\n'
                            '{"id": "x", "text": "Talks ended."}\n'), 2),
    "text_bell": ("bell.txt", "Talks opened.\nA bell \x07 rang.\n", 2),
    "text_escape": ("escape.txt", "Talks \x1b[2J ended.\n", 1),
    "text_10mb_line": ("bigline.txt", "a" * BIG, 1),
    "gzip": ("packed.txt", gzip.compress(b"Talks ended."), None),
    "gzip_as_jsonl": ("packed.jsonl.gz.jsonl", gzip.compress(b'{"text": "x"}'), None),
    "zip": ("archive.csv", _zip(), None),
    "pdf": ("paper.txt", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", None),
    "png": ("image.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, None),
    "sqlite_file": ("other.txt", b"SQLite format 3\x00" + b"\x00" * 100, None),
}


@pytest.fixture(scope="module")
def project_file(tmp_path_factory) -> Path:
    """One seeded project for the whole module: nothing may change it anyway."""
    path = tmp_path_factory.mktemp("hostile") / "labels.db"
    project.init(path, seed=True).close()
    return path



def write_case(folder: Path, case: str) -> Path:
    name, content, _line = BAD_FILES[case]
    path = folder / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def assert_one_clear_line(result, path: Path, line: int | None) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output[-500:])
    assert result.stdout == ""
    err = result.stderr
    assert "Traceback" not in err
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1, err[:2000]
    msg = lines[0]
    assert len(msg) < 1000, msg[:300]  # a message, not the file echoed back
    where = f"{path}:{line}: " if line else f"{path}: "
    assert msg.startswith(f"Error: {where}"), msg
    assert len(msg) > len(f"Error: {where}") + 10  # and says what is wrong
    return msg


def test_at_least_thirty_cases():
    assert len(BAD_FILES) >= 30


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_refused_and_changes_nothing(project_file, tmp_path, case):
    path = write_case(tmp_path, case)
    before = dump(project_file)
    result = CliRunner().invoke(cli, ["--db", str(project_file), "import", str(path)])
    assert_one_clear_line(result, path, BAD_FILES[case][2])
    assert dump(project_file) == before


def test_a_bad_file_among_good_ones_imports_nothing(project_file, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a_good.txt").write_text("Talks opened in Geneva.\n\nThey ended.\n")
    (folder / "b_good.jsonl").write_text('{"id": "g1", "text": "Envoys met."}\n')
    bad = write_case(folder, "jsonl_broken_line")
    (folder / "z_good.csv").write_text("id,text\nz1,The deadline passed.\n")
    before = dump(project_file)
    result = CliRunner().invoke(cli, ["--db", str(project_file), "import", str(folder)])
    assert_one_clear_line(result, bad, 2)
    assert dump(project_file) == before


@pytest.mark.parametrize("case", ["jsonl_deeply_nested_value"])
def test_bad_file_through_a_real_process(project_file, tmp_path, case):
    """The same contract end to end: exit status 1, one line, no traceback."""
    path = write_case(tmp_path, case)
    before = dump(project_file)
    proc = subprocess.run([sys.executable, "-m", "labeling", "--db", str(project_file),
                           "import", str(path)], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    line = BAD_FILES[case][2]
    assert proc.stderr.startswith(f"Error: {path}:{line}: " if line else f"Error: {path}: ")
    assert dump(project_file) == before


# --------------------------------------------------------------------------- names, notes

HOSTILE_TEXT = [
    "Robert'); DROP TABLE annotations;--",
    'say "hi"; -- not a comment',
    "<script>alert(1)</script> **bold** $x$ [link](javascript:x) =cmd|' /C calc'!A0",
    "Zoë 王 🙂 \u202e reversed \u200b zero-width",
    "tab\there\nnew line",
    "x" * 10_240,
    "'" * 10_240,
]

VALID_NAMES = ["a--b", "O.Brien_2", "Ann Lee", "x" * 40, "--", "-_. 0"]
INVALID_NAMES = ["Robert'); DROP TABLE annotators;--", 'a"b', "semi;colon", "Zoë", "王",
                 "x" * 41, "x" * 10_240, "", " lead", "trail ", "new\nline", "tab\tname",
                 "nul\x00name"]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_odd_names_are_stored_exactly(empty_db, name):
    person = annotate.add_annotator(empty_db, name)
    assert person["name"] == name
    assert annotators_db.get(empty_db, name)["name"] == name
    assert [r["name"] for r in annotate.list_annotators(empty_db)] == [name]


@pytest.mark.parametrize("name", INVALID_NAMES, ids=lambda n: repr(n[:20]))
def test_hostile_names_are_rejected_clearly(empty_db, db_path, name):
    cfg = project.load_config(empty_db)
    before = dump(db_path)
    with pytest.raises(annotate.LabelingError, match="invalid annotator name"):
        annotate.add_annotator(empty_db, name)
    with pytest.raises(annotate.LabelingError, match="invalid annotator name"):
        annotate.ensure_annotator(empty_db, name, cfg)
    if "\x00" not in name:  # the OS cannot pass a NUL in an argument
        result = CliRunner().invoke(cli, ["--db", str(db_path), "annotator", "add", "--", name])
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        assert result.stderr.startswith("Error: invalid annotator name")
    assert dump(db_path) == before


@pytest.mark.parametrize("note", HOSTILE_TEXT, ids=lambda n: repr(n[:12]))
def test_hostile_notes_are_stored_exactly(project_db, note):
    cfg = project.load_config(project_db)
    me = annotate.add_annotator(project_db, "alice")["id"]
    item = annotate.next_item(project_db, me, cfg)
    eid = annotate.save(project_db, me, item.sentence_id, cfg, labels=["demand"], note=note,
                        flagged=True)
    stored = annotations_db.get_annotation(project_db, item.sentence_id, me)
    assert stored["note"] == note.strip()  # surrounding whitespace only is dropped
    assert project_db.execute("SELECT note FROM events WHERE id = ?",
                              [eid]).fetchone()[0] == note.strip()
    assert annotate.load_item(project_db, item.sentence_id, me).note == note.strip()


def _config_with(**label) -> dict:
    data = config.default().to_dict()
    data["labels"][0] = {**data["labels"][0], **label}
    return data


@pytest.mark.parametrize("bad", ["de'mand", 'de"mand', "a;b", "a--b", "Demand", "zoë",
                                 "x" * 10_240, "", "1abc", "with space"],
                         ids=lambda n: repr(n[:12]))
def test_label_names_with_quotes_are_refused_by_config(project_db, db_path, tmp_path, bad):
    with pytest.raises(config.ConfigError, match=r"labels\[1\]: name .* must be 1-32 lowercase"):
        config.from_dict(_config_with(name=bad))
    toml = tmp_path / "bad.toml"
    escaped = json.dumps(bad, ensure_ascii=False)
    text = config.to_toml(config.default()).replace('name = "demand"', f"name = {escaped}", 1)
    toml.write_text(text, encoding="utf-8")
    before = dump(db_path)
    for command in ("check", "load"):
        result = CliRunner().invoke(cli, ["--db", str(db_path), "config", command, str(toml)])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert "must be 1-32 lowercase" in result.stderr and str(toml) in result.stderr
    assert dump(db_path) == before


@pytest.mark.parametrize("text", HOSTILE_TEXT, ids=lambda n: repr(n[:12]))
def test_hostile_config_text_is_stored_exactly(empty_db, text):
    """Free-text config values (project name, label descriptions, guidelines) are kept
    byte for byte through storage and through `config show` TOML."""
    data = _config_with(description=text)
    data["name"] = text.replace("\n", " ")
    data["guidelines"] = text + "\n\nmore"
    cfg = config.from_dict(data)
    project.save_config(empty_db, cfg)
    back = project.load_config(empty_db)
    assert back.labels[0].description == text
    assert back.name == data["name"] and back.guidelines == data["guidelines"]
    import tomllib
    assert config.from_dict(tomllib.loads(config.to_toml(back))) == back
