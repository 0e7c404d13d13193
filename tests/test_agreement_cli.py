"""`python -m labeling agreement` and labeling.reliability: the report from the database.

The end-to-end check is Krippendorff (2011)'s published example imported through
`import-annotations`: alpha must be 113/152 after the DB round trip.
"""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction

import numpy as np
import pytest

import db.articles as articles_db
from labeling import agreement, annotate, project, reliability, routing
from tests.cli_helpers import run_db

SEED_ID = "000_0a083b07f5e0d51c"
KEYS = ["units", "pairable_units", "annotators", "labels", "percent_agreement",
        "unanimous_share", "krippendorff_alpha", "krippendorff_alpha_ci95", "fleiss_kappa",
        "gwet_ac1", "cohen_kappa", "mean_cohen_kappa", "per_label", "notes"]
LABELS = ["demand", "warning", "concession", "outcome", "none"]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C.
KRIPPENDORFF_2011 = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}


def run(db_path, *args):
    # The in-process cache would hide a recomputation: every CLI call starts cold.
    reliability.clear_cache()
    return run_db(db_path, *args)


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity (what allow_nan=False guarantees)."""
    def bad(token):
        raise AssertionError(f"non-JSON number {token}")
    return json.loads(text, parse_constant=bad)


def agreement_json(db_path, *args) -> dict:
    result = run(db_path, "agreement", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return strict_json(result.stdout)


def content_ids(db) -> list[str]:
    return [r["id"] for r in articles_db.iter_sentences(db, SEED_ID) if r["kind"] == "content"]


def import_krippendorff(db, db_path, tmp_path) -> None:
    ids = content_ids(db)
    lines = ["sentence_id,annotator,label"]
    for observer, row in KRIPPENDORFF_2011.items():
        for unit, value in enumerate(row.split()):
            if value != ".":
                lines.append(f"{ids[unit]},{observer},{LABELS[int(value) - 1]}")
    path = tmp_path / "krippendorff2011.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(db_path, "import-annotations", path)
    assert result.exit_code == 0, result.stderr


def units_from_db(db) -> dict[int, dict[str, str]]:
    """The table rebuilt the slow, obvious way (dicts), independent of reliability.py."""
    units: dict[int, dict[str, str]] = {}
    for sid, name, labels in db.execute(
            "SELECT a.sentence_id, n.name, a.labels FROM annotations a JOIN annotators n "
            "ON n.id = a.annotator_id WHERE a.status = 'labeled'"):
        values = json.loads(labels)
        units.setdefault(sid, {})[name] = values[0] if len(values) == 1 else frozenset(values)
    return units


def label_randomly(db, seed: int = 3, people=("ann", "bob", "cy", "dee"), per_sentence=2):
    cfg = project.load_config(db)
    rng = np.random.default_rng(seed)
    who = [annotate.add_annotator(db, p)["id"] for p in people]
    sids = [r[0] for r in db.execute("SELECT id FROM sentences WHERE kind = 'content'")]
    for sid in sids:
        for p in rng.choice(who, per_sentence, replace=False):
            # mostly agree: realistic data with every kind of pair
            lab = LABELS[sid % 5] if rng.random() < 0.7 else LABELS[rng.integers(5)]
            annotate.save(db, int(p), sid, cfg, labels=[lab],
                          duration_ms=int(rng.integers(500, 9000)))
    return cfg


# ----------------------------------------------------------------------------- contract


def test_json_keys_exactly_and_values_equal_agreement_report(project_db, db_path):
    label_randomly(project_db)
    out = agreement_json(db_path)
    assert list(out) == KEYS
    expected = agreement.report(units_from_db(project_db), labels=LABELS)
    assert out.keys() == expected.keys()
    for key in KEYS:
        if isinstance(expected[key], float):
            assert out[key] == pytest.approx(expected[key], abs=1e-12), key
        elif key == "cohen_kappa":
            assert out[key].keys() == expected[key].keys()
            for pair, k in expected[key].items():
                assert out[key][pair] == pytest.approx(k, abs=1e-12), pair
        elif key == "per_label":
            for lab, v in expected[key].items():
                assert out[key][lab]["n"] == v["n"]
                assert out[key][lab]["alpha"] == pytest.approx(v["alpha"], abs=1e-12)
        else:
            assert out[key] == expected[key], key
    assert out["units"] == 27 and out["pairable_units"] == 27
    assert out["annotators"] == ["ann", "bob", "cy", "dee"]
    assert all(" | " not in k and k.split("|") == sorted(k.split("|")) for k in out["cohen_kappa"])


def test_krippendorff_2011_through_import_and_db(project_db, db_path, tmp_path):
    """A published value end to end: CSV -> import-annotations -> SQLite -> agreement."""
    import_krippendorff(project_db, db_path, tmp_path)
    out = agreement_json(db_path)
    assert out["krippendorff_alpha"] == pytest.approx(float(Fraction(113, 152)), abs=1e-12)
    assert round(out["krippendorff_alpha"], 3) == 0.743
    assert out["units"] == 12 and out["pairable_units"] == 11  # unit 12 has one value
    assert out["annotators"] == ["A", "B", "C", "D"]
    # ... and the reference library agrees on the table read back from the database
    import krippendorff

    table = reliability.label_table(project_db)
    data = table.matrix.T.astype(float)
    data[data < 0] = np.nan
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert out["krippendorff_alpha"] == pytest.approx(ref, abs=1e-12)


def test_bootstrap_interval_contains_alpha_and_is_reproducible(project_db, db_path, tmp_path):
    import_krippendorff(project_db, db_path, tmp_path)
    without = agreement_json(db_path)
    assert without["krippendorff_alpha_ci95"] is None
    first = agreement_json(db_path, "--bootstrap", 500, "--seed", 7)
    again = agreement_json(db_path, "--bootstrap", 500, "--seed", 7)
    other = agreement_json(db_path, "--bootstrap", 500, "--seed", 8)
    low, high = first["krippendorff_alpha_ci95"]
    assert low <= first["krippendorff_alpha"] <= high and low < high
    assert again["krippendorff_alpha_ci95"] == [low, high]
    assert other["krippendorff_alpha_ci95"] != [low, high]
    # the point estimate does not depend on the bootstrap
    assert first["krippendorff_alpha"] == without["krippendorff_alpha"]


def test_degenerate_database_prints_nulls_with_notes(project_db, db_path):
    out = agreement_json(db_path, "--bootstrap", 100)
    assert list(out) == KEYS
    assert out["units"] == 0 and out["pairable_units"] == 0 and out["annotators"] == []
    for key in ("percent_agreement", "unanimous_share", "krippendorff_alpha",
                "krippendorff_alpha_ci95", "fleiss_kappa", "gwet_ac1", "mean_cohen_kappa"):
        assert out[key] is None, key
        assert any(n.startswith(key) for n in out["notes"]), key
    assert out["cohen_kappa"] == {}
    text = run(db_path, "agreement")
    assert text.exit_code == 0 and "n/a" in text.stdout


def test_one_label_only_is_not_defined(project_db, db_path):
    cfg = project.load_config(project_db)
    a = annotate.add_annotator(project_db, "a")["id"]
    b = annotate.add_annotator(project_db, "b")["id"]
    for sid in [r[0] for r in project_db.execute(
            "SELECT id FROM sentences WHERE kind = 'content' LIMIT 3")]:
        for who in (a, b):
            annotate.save(project_db, who, sid, cfg, labels=["none"])
    out = agreement_json(db_path)
    assert out["percent_agreement"] == 1.0
    assert out["krippendorff_alpha"] is None
    assert any("only one category" in n for n in out["notes"])


def test_skips_do_not_count(project_db, db_path):
    cfg = project.load_config(project_db)
    a = annotate.add_annotator(project_db, "a")["id"]
    b = annotate.add_annotator(project_db, "b")["id"]
    s1, s2 = [r[0] for r in project_db.execute(
        "SELECT id FROM sentences WHERE kind = 'content' ORDER BY id LIMIT 2")]
    annotate.save(project_db, a, s1, cfg, labels=["demand"])
    annotate.save(project_db, b, s1, cfg, labels=["warning"])
    annotate.save(project_db, a, s2, cfg, labels=["demand"])
    annotate.save(project_db, b, s2, cfg, action="skip")
    out = agreement_json(db_path)
    assert out["units"] == 2 and out["pairable_units"] == 1


def test_units_are_sentences_not_texts(project_db, db_path, tmp_path):
    """Two sentences with the same text are two units (a tool once keyed units by text)."""
    folder = tmp_path / "dup"
    folder.mkdir()
    for name, lead in (("one", "Envoys met in Vienna on Monday."),
                       ("two", "Ministers spoke in Oslo on Friday.")):
        (folder / f"{name}.txt").write_text(
            f"{lead} The talks ended without any agreement.\n", encoding="utf-8")
    assert run(db_path, "import", folder).exit_code == 0
    twins = [r[0] for r in project_db.execute(
        "SELECT id FROM sentences WHERE text = 'The talks ended without any agreement.'")]
    assert len(twins) == 2
    cfg = project.load_config(project_db)
    a = annotate.add_annotator(project_db, "a")["id"]
    b = annotate.add_annotator(project_db, "b")["id"]
    annotate.save(project_db, a, twins[0], cfg, labels=["outcome"])
    annotate.save(project_db, b, twins[0], cfg, labels=["outcome"])
    annotate.save(project_db, a, twins[1], cfg, labels=["outcome"])
    annotate.save(project_db, b, twins[1], cfg, labels=["none"])
    out = agreement_json(db_path)
    assert out["units"] == 2 and out["pairable_units"] == 2
    assert out["percent_agreement"] == 0.5
    assert list(reliability.label_table(project_db).unit_ids) == twins


def test_multi_label_uses_masi_alpha(project_db, db_path):
    routing.apply_config(project_db, dataclasses.replace(project.load_config(project_db),
                                                         multi_label=True))
    cfg = project.load_config(project_db)
    a = annotate.add_annotator(project_db, "a")["id"]
    b = annotate.add_annotator(project_db, "b")["id"]
    sids = [r[0] for r in project_db.execute(
        "SELECT id FROM sentences WHERE kind = 'content' ORDER BY id LIMIT 4")]
    data = [(["demand", "warning"], ["warning", "demand"]), (["demand"], ["demand", "warning"]),
            (["none"], ["none"]), (["outcome"], ["concession"])]
    for sid, (x, y) in zip(sids, data):
        annotate.save(project_db, a, sid, cfg, labels=x)
        annotate.save(project_db, b, sid, cfg, labels=y)
    out = agreement_json(db_path)
    units = {sid: {"a": frozenset(x), "b": frozenset(y)} for sid, (x, y) in zip(sids, data)}
    assert out["krippendorff_alpha"] == pytest.approx(agreement.krippendorff_alpha_masi(units))
    assert out["krippendorff_alpha"] != pytest.approx(agreement.krippendorff_alpha(units))
    assert any("MASI" in n for n in out["notes"])


def test_text_output_is_a_readable_table(project_db, db_path, tmp_path):
    import_krippendorff(project_db, db_path, tmp_path)
    result = run(db_path, "agreement", "--bootstrap", 200)
    assert result.exit_code == 0
    assert "Krippendorff's alpha" in result.stdout and "0.743" in result.stdout
    assert "95% CI" in result.stdout and "A|B" in result.stdout


# ----------------------------------------------------------------------------- service


def test_cache_follows_the_data_version(project_db, db_path, tmp_path):
    import_krippendorff(project_db, db_path, tmp_path)
    reliability.clear_cache()
    first = reliability.report(project_db)
    assert reliability.report(project_db) is first  # cached: same object
    cfg = project.load_config(project_db)
    e = annotate.add_annotator(project_db, "E")["id"]
    sid = reliability.label_table(project_db).unit_ids[-1]
    annotate.save(project_db, e, int(sid), cfg, labels=["demand"])
    second = reliability.report(project_db)
    assert second is not first
    assert second["pairable_units"] == first["pairable_units"] + 1


def test_annotator_table_and_confusions(project_db, db_path):
    label_randomly(project_db)
    frame = reliability.annotator_table(project_db)
    assert list(frame["annotator"]) == ["ann", "bob", "cy", "dee"]
    table = reliability.label_table(project_db)
    assert list(frame["items"]) == [int((table.matrix[:, k] >= 0).sum()) for k in range(4)]
    durations = project_db.execute(
        "SELECT duration_ms FROM annotations a JOIN annotators n ON n.id = a.annotator_id "
        "WHERE n.name = 'bob' AND a.status = 'labeled'").fetchall()
    assert frame.loc[1, "median_seconds"] == pytest.approx(np.median(durations) / 1000)
    shares = frame[[f"share_{x}" for x in LABELS]].to_numpy()
    assert np.allclose(shares.sum(axis=1), 1.0)
    rest = agreement.annotator_vs_rest(units_from_db(project_db))
    assert list(frame["n_vs_rest"]) == [rest[n]["n"] for n in frame["annotator"]]

    conf = reliability.pair_confusion(project_db, "ann", "bob")
    assert conf.index.name == "ann" and conf.columns.name == "bob"
    assert list(conf.index) == LABELS
    shared = sum(1 for u in units_from_db(project_db).values() if {"ann", "bob"} <= set(u))
    assert int(conf.to_numpy().sum()) == shared

    gold = dict(project_db.execute("SELECT sentence_id, labels FROM gold").fetchall())
    vs_gold = reliability.confusion_vs_gold(project_db, "cy")
    mine = {s: u["cy"] for s, u in units_from_db(project_db).items() if "cy" in u}
    expected = sum(1 for s in mine if s in gold)
    assert int(vs_gold.to_numpy().sum()) == expected
    assert int(np.trace(vs_gold.to_numpy())) == sum(
        1 for s, lab in mine.items() if s in gold and json.loads(gold[s]) == [lab])


# ----------------------------------------------------------------------------- data layer


def cells_of(table) -> dict[tuple[int, str], object]:
    """{(sentence id, annotator): category} of a LabelTable."""
    out = {}
    rows, cols = np.nonzero(table.matrix >= 0)
    for r, c in zip(rows.tolist(), cols.tolist()):
        out[(int(table.unit_ids[r]), table.annotators[c])] = table.categories[
            table.matrix[r, c]]
    return out


def expected_cells(db) -> dict[tuple[int, str], object]:
    return {(sid, name): lab for sid, u in units_from_db(db).items() for name, lab in u.items()}


@pytest.mark.parametrize("path", ["packed", "ranked", "plain", "rescan", "parallel",
                                  "parallel_stale"])
def test_every_read_path_gives_the_same_table(project_db, db_path, monkeypatch, path):
    """The packed group_concat read (annotator ids as they are, or ranked when an id is
    too large), the plain-rows fallback (huge ids or teams), the rescan for many
    unexpected label strings, and the threaded read (also when a worker's snapshot is
    stale, which must fall back to one connection) agree with a naive read."""
    import db.label_cells as label_cells_db

    routing.apply_config(project_db, dataclasses.replace(project.load_config(project_db),
                                                         multi_label=True))
    cfg = project.load_config(project_db)
    if path == "ranked":  # ids beyond the packed annotator bits (2**11)
        with project_db.conn:
            project_db.execute("INSERT INTO annotators (id, name, created_at) "
                               "VALUES (5000, 'placeholder', '2024-01-01')")
    people = [annotate.add_annotator(project_db, n)["id"] for n in ("zed", "amy", "kim")]
    if path == "ranked":
        assert min(people) > 2**label_cells_db._ANN_BITS
    sids = [r[0] for r in project_db.execute(
        "SELECT id FROM sentences WHERE kind = 'content' ORDER BY id")]
    rng = np.random.default_rng(5)
    for sid in sids:
        for who in rng.choice(people, 2, replace=False):
            k = int(rng.integers(1, 3))
            annotate.save(project_db, int(who), sid, cfg,
                          labels=list(rng.choice(LABELS, k, replace=False)))
    if path == "plain":
        monkeypatch.setattr(label_cells_db, "_ANN_BITS", 1)  # 3 annotators no longer fit: fallback
    if path == "rescan":
        monkeypatch.setattr(label_cells_db, "_RESCAN_AFTER", 0)
    workers_used = []
    if path.startswith("parallel"):
        monkeypatch.setattr(label_cells_db, "_CHUNK", 4)  # 27 sentences -> several ranges
        monkeypatch.setattr(label_cells_db, "_WORKERS", 3)
        real = label_cells_db._scan_on_new_connection

        def spy(*args):
            version, done = real(*args)
            workers_used.append(len(done))
            return (version + 1 if path == "parallel_stale" else version), done

        monkeypatch.setattr(label_cells_db, "_scan_on_new_connection", spy)
    reliability.clear_cache()
    table = reliability.label_table(project_db)
    got = cells_of(table)
    want = {k: (v if isinstance(v, frozenset) else frozenset((v,)))
            for k, v in expected_cells(project_db).items()}
    assert got == want
    assert table.annotators == ["amy", "kim", "zed"]
    if path.startswith("parallel"):
        assert len(workers_used) == 3 and sum(workers_used) > 3


def test_a_label_no_longer_in_the_config_is_counted_and_noted(project_db, db_path):
    cfg = project.load_config(project_db)
    a = annotate.add_annotator(project_db, "a")["id"]
    b = annotate.add_annotator(project_db, "b")["id"]
    sids = [r[0] for r in project_db.execute(
        "SELECT id FROM sentences WHERE kind = 'content' ORDER BY id LIMIT 4")]
    for i, sid in enumerate(sids):
        annotate.save(project_db, a, sid, cfg, labels=["warning" if i % 2 else "demand"])
        annotate.save(project_db, b, sid, cfg, labels=["warning"])
    # The project drops "warning" (labels are kept; the config no longer lists it).
    fewer = dataclasses.replace(cfg, labels=tuple(x for x in cfg.labels if x.name != "warning"))
    routing.apply_config(project_db, fewer)
    out = agreement_json(db_path)
    assert "warning" in out["labels"] and out["units"] == 4
    assert any("outside the project's list" in n and "warning" in n for n in out["notes"])
    assert reliability.label_table(project_db).categories[-1] == "warning"
