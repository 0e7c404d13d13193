"""labeling/config.py: the default project, every validation error, show/check/load CLI."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from labeling import config, project
from labeling.config import ConfigError
from tests.cli_helpers import run

DEFAULT_TOML = config.DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")


def write(tmp_path: Path, text: str, guidelines: str | None = "# G\n\nBe careful.\n") -> Path:
    if guidelines is not None:
        (tmp_path / "guidelines.md").write_text(guidelines, encoding="utf-8")
    path = tmp_path / "project.toml"
    path.write_text(text, encoding="utf-8")
    return path


def labels_toml(*pairs: tuple[str, str]) -> str:
    return "".join(f'\n[[labels]]\nname = "{n}"\nkey = "{k}"\n' for n, k in pairs)


FIVE = labels_toml(("demand", "1"), ("warning", "2"), ("concession", "3"), ("outcome", "4"),
                   ("none", "5"))


# ----------------------------------------------------------------------------- the default


def test_default_config_loads_with_the_design_labels_and_keys():
    cfg = config.default()
    assert [(lab.name, lab.key) for lab in cfg.labels] == [
        ("demand", "1"), ("warning", "2"), ("concession", "3"), ("outcome", "4"), ("none", "5")]
    assert cfg.multi_label is False
    assert cfg.overlap == 2
    assert cfg.sample_fraction == 1.0
    assert cfg.order == "sequential"
    assert cfg.lease_minutes > 0
    assert cfg.guidelines_version == "1"
    # the default label scheme (seeds/project.toml)
    desc = {lab.name: lab.description for lab in cfg.labels}
    assert "insists that another do or stop" in desc["demand"]
    assert "threatens consequences" in desc["warning"]
    assert "give ground" in desc["concession"]
    assert "result of talks" in desc["outcome"]
    assert all(lab.color.startswith("#") for lab in cfg.labels)


def test_default_guidelines_define_every_label_with_two_examples_and_hard_cases():
    text = config.default().guidelines
    sections = text.split("\n## ")
    for name in ("demand", "warning", "concession", "outcome", "none"):
        sec = next(s for s in sections if s.split("\n", 1)[0].endswith(name))
        examples = [line for line in sec.splitlines() if line.startswith('- "')]
        assert len(examples) == 2, name
    assert "## Hard cases" in text


def test_guidelines_are_read_from_the_file_next_to_the_config(tmp_path):
    cfg = config.load(write(tmp_path, 'guidelines = "guidelines.md"\n' + FIVE))
    assert cfg.guidelines == "# G\n\nBe careful.\n"


def test_colour_is_accepted_as_a_spelling_of_color(tmp_path):
    cfg = config.load(write(tmp_path, '[[labels]]\nname = "a"\nkey = "1"\ncolour = "#123456"\n'))
    assert cfg.labels[0].color == "#123456"


def test_integer_keys_and_lowercase_function_keys_are_normalised(tmp_path):
    cfg = config.load(write(tmp_path, '[[labels]]\nname = "a"\nkey = 1\n'
                                      '[[labels]]\nname = "b"\nkey = "f5"\n'))
    assert [lab.key for lab in cfg.labels] == ["1", "F5"]


# ----------------------------------------------------------------------------- validation

BAD = [
    ("duplicate name", labels_toml(("demand", "1"), ("demand", "2")), "duplicate label name"),
    ("duplicate key", labels_toml(("demand", "1"), ("warning", "1")), "duplicate key '1'"),
    ("duplicate key, other case", labels_toml(("demand", "a"), ("warning", "A")),
     "duplicate key 'A'"),
    ("reserved C", labels_toml(("demand", "C")), "reserved by Streamlit"),
    ("reserved r", labels_toml(("demand", "r")), "reserved by Streamlit"),
    ("flag key", labels_toml(("demand", "F")), "reserved (flag)"),
    ("bad key", labels_toml(("demand", "12")), "must be one letter, digit or F1-F12"),
    ("unknown top field", "colour_scheme = 1\n" + FIVE, "unknown field(s): colour_scheme"),
    ("unknown label field", FIVE + 'shortcut = "x"\n', "unknown field(s): shortcut"),
    ("overlap 0", "overlap = 0\n" + FIVE, "overlap: must be between 1 and 100"),
    ("overlap negative", "overlap = -3\n" + FIVE, "overlap: must be between 1 and 100"),
    ("overlap text", 'overlap = "2"\n' + FIVE, "overlap: '2' must be a whole number"),
    ("overlap bool", "overlap = true\n" + FIVE, "overlap: must be a number"),
    ("order", 'order = "shuffled"\n' + FIVE, "order: 'shuffled' must be"),
    ("lease", "lease_minutes = 0\n" + FIVE, "lease_minutes: must be more than 0"),
    # found by a hostile user: `config check` said ok, `config load` crashed storing it
    ("overlap beyond 64 bits", "overlap = 99999999999999999999\n" + FIVE,
     "overlap: must be between 1 and 100"),
    ("lease of a century", "lease_minutes = 52560000\n" + FIVE,
     "lease_minutes: must be more than 0 and at most 10080"),
    ("guidelines outside the config folder", 'guidelines = "../../../etc/passwd"\n' + FIVE,
     "guidelines: '../../../etc/passwd' is outside the config's folder"),
    ("fraction 0", "sample_fraction = 0\n" + FIVE, "sample_fraction: must be > 0 and <= 1"),
    ("fraction 1.5", "sample_fraction = 1.5\n" + FIVE, "sample_fraction: must be > 0"),
    ("multi_label", "multi_label = 1\n" + FIVE, "multi_label: 1 must be true or false"),
    ("no labels", 'name = "x"\n', "at least one [[labels]]"),
    ("bad name", labels_toml(("Demand!", "1")), "name 'Demand!' must be"),
    ("bad colour", FIVE + 'color = "red"\n', "color 'red' must look like"),
    ("missing guidelines", 'guidelines = "nope.md"\n' + FIVE, "guidelines: no file 'nope.md'"),
    ("bad toml", "overlap = = 2\n", "invalid TOML"),
]


@pytest.mark.parametrize("case,text,message", BAD, ids=[b[0] for b in BAD])
def test_each_invalid_config_is_rejected_with_a_clear_message(tmp_path, case, text, message):
    with pytest.raises(ConfigError) as err:
        config.load(write(tmp_path, text))
    assert message in str(err.value), str(err.value)
    assert str(tmp_path / "project.toml") in str(err.value)  # says which file


def test_every_problem_is_reported_at_once(tmp_path):
    text = "overlap = 0\nbogus = 1\n" + labels_toml(("a", "1"), ("a", "C"))
    with pytest.raises(ConfigError) as err:
        config.load(write(tmp_path, text))
    joined = " | ".join(err.value.errors)
    assert len(err.value.errors) == 4, joined
    for part in ("overlap", "bogus", "duplicate label name", "reserved"):
        assert part in joined


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "absent.toml")


# ----------------------------------------------------------------------------- TOML output


def test_to_toml_round_trips_the_config_including_tricky_guidelines():
    tricky = 'Quote """ and "" and \\ backslash\n\tTab\x7f DEL\n"ends with a quote"'
    cfg = config.from_dict({**config.default().to_dict(), "guidelines": tricky,
                            "order": "random", "seed": 7, "sample_fraction": 0.25})
    again = config.from_dict(tomllib.loads(config.to_toml(cfg)))
    assert again == cfg


# ----------------------------------------------------------------------------- CLI




def test_config_show_prints_the_stored_config_as_toml_and_json(empty_db):
    r = run("config", "show")
    assert r.exit_code == 0, r.output
    shown = tomllib.loads(r.stdout)
    assert shown["overlap"] == 2 and len(shown["labels"]) == 5
    assert shown["guidelines"] == config.default().guidelines
    r = run("config", "show", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == config.default().to_dict()


def test_config_check_says_ok_for_a_good_file():
    r = run("config", "check", str(config.DEFAULT_CONFIG_PATH))
    assert r.exit_code == 0
    assert r.stdout.strip() == "ok"


def test_config_check_lists_every_error_and_exits_1(tmp_path):
    path = write(tmp_path, "overlap = 0\n" + labels_toml(("a", "R"), ("b", "R")))
    r = run("config", "check", str(path))
    assert r.exit_code == 1
    assert "Traceback" not in r.output
    assert "overlap: must be between 1 and 100" in r.stderr
    assert "reserved by Streamlit" in r.stderr
    assert "duplicate key" in r.stderr
    assert r.stdout == ""


def test_config_check_missing_file_exits_1(tmp_path):
    r = run("config", "check", str(tmp_path / "nope.toml"))
    assert r.exit_code == 1
    assert "cannot read" in r.stderr


def test_config_show_output_can_be_loaded_back(empty_db, tmp_path):
    shown = tmp_path / "shown.toml"
    shown.write_text(run("config", "show").stdout, encoding="utf-8")
    assert run("config", "check", str(shown)).stdout.strip() == "ok"
    r = run("config", "load", str(shown), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"ok": True, "targets_changed": 0, "reordered": 0}


def test_config_load_stores_the_new_config_and_updates_open_targets(project_db, tmp_path):
    # one sentence finished under overlap 2, one half done, the rest untouched
    from labeling import annotate

    cfg = project.load_config(project_db)
    a, b = (annotate.add_annotator(project_db, n)["id"] for n in ("ann", "bob"))
    first = annotate.next_item(project_db, a, cfg).sentence_id
    annotate.save(project_db, a, first, cfg, labels=["none"])
    assert annotate.next_item(project_db, b, cfg).sentence_id == first
    annotate.save(project_db, b, first, cfg, labels=["none"])
    half = annotate.next_item(project_db, a, cfg).sentence_id
    annotate.save(project_db, a, half, cfg, labels=["none"])

    text = DEFAULT_TOML.replace("overlap = 2 ", "overlap = 3 ")
    path = write(tmp_path, text, guidelines=config.default().guidelines)
    r = run("--db", str(project_db.path), "config", "load", str(path))
    assert r.exit_code == 0, r.output
    db = project.init(project_db.path)
    assert project.load_config(db).overlap == 3
    targets = dict(db.execute("SELECT id, target FROM sentences WHERE kind = 'content'"))
    assert targets[first] == 2  # finished work is not reopened
    assert targets[half] == 3
    assert sorted(set(targets.values())) == [2, 3]
    assert sum(t == 3 for t in targets.values()) == len(targets) - 1


def test_config_load_rejects_a_bad_file_and_keeps_the_stored_config(project_db, tmp_path):
    before = project.load_config(project_db)
    path = write(tmp_path, "overlap = 0\n" + FIVE)
    r = run("config", "load", str(path))
    assert r.exit_code == 1
    assert "overlap" in r.stderr
    assert project.load_config(project_db) == before


def test_config_load_random_order_reorders_sentences(project_db, tmp_path):
    def order():
        return [r[0] for r in project_db.execute(
            "SELECT id FROM sentences WHERE kind = 'content' ORDER BY ord, id")]

    sequential = order()
    assert sequential == sorted(sequential)
    text = DEFAULT_TOML.replace('order = "sequential"', 'order = "random"')
    r = run("config", "load", str(write(tmp_path, text, guidelines=None).with_name(
        "project.toml")))
    # guidelines.md is missing in tmp_path: a clear error, nothing stored
    assert r.exit_code == 1 and "guidelines" in r.stderr
    path = write(tmp_path, text)
    r = run("config", "load", str(path))
    assert r.exit_code == 0, r.output
    shuffled = order()
    assert sorted(shuffled) == sequential and shuffled != sequential
