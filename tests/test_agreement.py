"""labeling.agreement: published worked examples, reference libraries, degenerate data."""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeling import agreement as ag
from labeling.agreement import counts as agreement_counts
from labeling.agreement import LabelTable, LabelTableError

# ----------------------------------------------------------------------------------------
# Fixtures: published data sets
# ----------------------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x
# 12 units, missing values. Nominal alpha = 0.743 (= 113/152); n = 40 pairable values.
# The same table is Gwet's Handbook (4th ed.) 4-rater example (irrCAC.datasets.raw_4raters).
KRIPPENDORFF_2011 = {
    "A": "1 2 3 3 2 1 4 1 2 . . .",
    "B": "1 2 3 3 2 2 4 1 2 5 . 3",
    "C": ". 3 3 3 2 3 4 2 2 5 1 .",
    "D": "1 2 3 3 2 4 4 1 2 5 1 .",
}

# Fleiss (1971) kappa example as given on Wikipedia ("Fleiss' kappa", worked example):
# 10 subjects, 14 raters each, 5 categories; counts per category.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

LABELS = ["demand", "warning", "concession", "outcome", "none"]


def rows_to_units(rows: dict[str, str]) -> dict[int, dict[str, str]]:
    units: dict[int, dict[str, str]] = {}
    for annotator, row in rows.items():
        for unit, value in enumerate(row.split()):
            if value != ".":
                units.setdefault(unit, {})[annotator] = value
    return units


def counts_to_units(table: list[list[int]]) -> dict[int, dict[str, str]]:
    """A subjects x categories count table as units; raters named r0, r1, ... per subject."""
    units = {}
    for s, counts in enumerate(table):
        values = [str(k) for k, c in enumerate(counts) for _ in range(c)]
        units[s] = {f"r{i:02d}": v for i, v in enumerate(values)}
    return units


def crosstab_to_units(cells: dict[tuple[str, str], int]) -> dict[int, dict[str, str]]:
    """A two-coder agreement table {(label A, label B): count} as units."""
    units, u = {}, 0
    for (a, b), count in cells.items():
        for _ in range(count):
            units[u] = {"A": a, "B": b}
            u += 1
    return units




# ----------------------------------------------------------------------------------------
# Published worked examples
# ----------------------------------------------------------------------------------------


def test_krippendorff_2011_example_is_113_over_152():
    units = rows_to_units(KRIPPENDORFF_2011)
    alpha = ag.krippendorff_alpha(units)
    assert alpha == pytest.approx(float(Fraction(113, 152)), abs=1e-12)
    assert round(alpha, 3) == 0.743
    rep = ag.report(units, ["1", "2", "3", "4", "5"])
    # Unit 12 has one value: not pairable. The 11 others hold n = 40 pairable values.
    assert rep["units"] == 12 and rep["pairable_units"] == 11
    # Units 2, 6 and 8 have a dissenting observer: 8 of 11 pairable units are unanimous.
    assert rep["unanimous_share"] == pytest.approx(8 / 11)
    assert sum(v["n"] for v in rep["per_label"].values()) == 40


def test_fleiss_wikipedia_example():
    units = counts_to_units(FLEISS_WIKIPEDIA)
    kappa = ag.fleiss_kappa(units)
    p_bar = ag.percent_agreement(units)
    p_e = (p_bar - kappa) / (1 - kappa)
    assert round(kappa, 3) == 0.210
    assert round(p_bar, 3) == 0.378
    assert round(p_e, 3) == 0.213


@pytest.mark.parametrize(
    "cells, expected",
    [
        # Wikipedia "Cohen's kappa": 50 proposals, two readers: kappa = 0.4.
        ({("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}, 0.4),
        # Wikipedia, "same percentages but different numbers": 0.1304 and 0.2593.
        ({("yes", "yes"): 45, ("yes", "no"): 15, ("no", "yes"): 25, ("no", "no"): 15}, 0.1304),
        ({("yes", "yes"): 25, ("yes", "no"): 35, ("no", "yes"): 5, ("no", "no"): 35}, 0.2593),
    ],
)
def test_cohen_published_tables(cells, expected):
    units = crosstab_to_units(cells)
    assert ag.cohen_kappa(units, "A", "B") == pytest.approx(expected, abs=5e-5)
    assert ag.pairwise_cohen(units) == {"A|B": pytest.approx(expected, abs=5e-5)}


def test_artstein_poesio_2008_dialogue_act_table():
    # Artstein & Poesio (2008), Computational Linguistics 34(4), two coders, 100 utterances,
    # Statement / Info-request / Check. NLTK's metrics doctest reproduces the survey's
    # figures on this table: Ao = 0.88, pi = 0.79953, S = 0.82.
    cells = {
        ("stat", "stat"): 46, ("ireq", "stat"): 6,
        ("ireq", "ireq"): 32,
        ("ireq", "chck"): 6, ("chck", "chck"): 10,
    }
    units = crosstab_to_units(cells)
    assert ag.percent_agreement(units) == pytest.approx(0.88)
    # Two coders, complete data: Fleiss' kappa is Scott's pi.
    assert ag.fleiss_kappa(units) == pytest.approx(0.79953, abs=5e-6)
    # kappa from the same table: Ae = .46*.52 + .44*.32 + .10*.16 = .396.
    assert ag.cohen_kappa(units, "A", "B") == pytest.approx((0.88 - 0.396) / (1 - 0.396))
    # Bennett's S = (Ao - 1/3) / (1 - 1/3); AC1 with 3 categories differs, but both must lie
    # above pi on this balanced-ish table; alpha = pi corrected for sample size.
    n = 200  # pairable values
    pi = ag.fleiss_kappa(units)
    assert ag.krippendorff_alpha(units) == pytest.approx(1 - (n - 1) / n * (1 - pi))


def test_gwet_handbook_four_raters_missing_values():
    # Gwet, Handbook of Inter-Rater Reliability (4th ed., 2014), 4 raters x 12 units with
    # missing ratings (= Krippendorff's table). Values as printed in irrCAC's documentation
    # and test suite (afergadis/irrCAC test/unit/irrCAC/raw/test_gwet.py, test_fleiss.py).
    units = rows_to_units(KRIPPENDORFF_2011)
    assert ag.gwet_ac1(units) == pytest.approx(0.77544, abs=5e-6)
    assert ag.percent_agreement(units) == pytest.approx(0.81818, abs=5e-6)  # p_a
    assert ag.fleiss_kappa(units) == pytest.approx(0.76117, abs=5e-6)


GWET_2014 = json.loads((Path(__file__).parent / "data" / "gwet2014.json").read_text("utf-8"))
# Source of the fixture: see its "source" key (Gwet's handbook data sets and AC1 values).


@pytest.mark.parametrize("dataset", sorted(GWET_2014["raw"]))
def test_gwet_handbook_datasets(dataset):
    case = GWET_2014["raw"][dataset]
    units = {u: row for u, row in enumerate(case["units"]) if row}
    assert round(ag.gwet_ac1(units), 3) == case["gwet_ac1"]


@pytest.mark.parametrize("dataset", sorted(GWET_2014["tables"]))
def test_gwet_handbook_two_rater_tables(dataset):
    case = GWET_2014["tables"][dataset]
    cells = {(a, b): n for a, b, n in case["cells"]}
    assert round(ag.gwet_ac1(crosstab_to_units(cells)), 3) == case["gwet_ac1"]


@pytest.mark.parametrize(
    "a, b, distance",
    [
        ({"a", "b"}, {"a", "b"}, 0.0),  # identical: J = 1, M = 1
        ({"a"}, {"a", "b"}, 1 - (1 / 2) * (2 / 3)),  # subset: J = 1/2, M = 2/3
        ({"a", "b"}, {"b", "c"}, 1 - (1 / 3) * (1 / 3)),  # overlap: J = 1/3, M = 1/3
        ({"a"}, {"b"}, 1.0),  # disjoint: M = 0
        ({1, 2}, {1, 2, 3, 4}, 0.6666666666666667),  # NLTK's masi_distance doctest
        (set(), set(), 0.0),  # NLTK divides by zero here
    ],
)
def test_masi_distance_passonneau_2006(a, b, distance):
    assert ag.masi_distance(a, b) == pytest.approx(distance)
    assert ag.masi_distance(b, a) == pytest.approx(distance)


def test_masi_alpha_worked_example():
    # Two coders, three items; coincidences by hand: delta({a},{a,b}) = 2/3, other pairs 0.
    units = {
        1: {"x": ("a",), "y": ("a", "b")},
        2: {"x": ("a",), "y": ("a",)},
        3: {"x": ("a", "b"), "y": ("a", "b")},
    }
    # n = 6 values: {a} x3, {a,b} x3. Do = 2 * (2/3) / 6; De = 2*3*3*(2/3) / (6*5).
    do, de = 2 * (2 / 3) / 6, 2 * 3 * 3 * (2 / 3) / 30
    assert ag.krippendorff_alpha_masi(units) == pytest.approx(1 - do / de)
    # With two categories alpha does not depend on the distance's scale; with three, exact-set
    # comparison counts the partial match as a full disagreement and gives a lower alpha.
    assert ag.krippendorff_alpha(units) == pytest.approx(ag.krippendorff_alpha_masi(units))
    units[4] = {"x": ("b",), "y": ("b",)}
    assert ag.krippendorff_alpha(units) < ag.krippendorff_alpha_masi(units)


# ----------------------------------------------------------------------------------------
# Random tables against reference libraries
# ----------------------------------------------------------------------------------------


@st.composite
def tables(draw, min_annotators=3, max_annotators=6, missing=True):
    """A units x annotators int matrix (-1 = missing) with 2-5 categories."""
    n_annotators = draw(st.integers(min_annotators, max_annotators))
    q = draw(st.integers(2, 5))
    n_units = draw(st.integers(2, 25))
    low = -1 if missing else 0
    flat = draw(st.lists(st.integers(low, q - 1), min_size=n_units * n_annotators,
                         max_size=n_units * n_annotators))
    return np.array(flat, dtype=np.int64).reshape(n_units, n_annotators), q


def matrix_to_units(matrix: np.ndarray) -> dict[int, dict[str, str]]:
    return {
        u: {f"a{j}": str(v) for j, v in enumerate(row) if v >= 0}
        for u, row in enumerate(matrix)
    }


def pairable(matrix: np.ndarray) -> bool:
    return bool(((matrix >= 0).sum(axis=1) >= 2).any())


# database=None: no .hypothesis/ folder in the tree; failures print their example anyway.
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(tables())
def test_alpha_equals_krippendorff_package(table):
    import krippendorff

    matrix, _ = table
    ours = ag.krippendorff_alpha(matrix_to_units(matrix))
    data = np.where(matrix >= 0, matrix, np.nan).T.astype(float)  # annotators x units
    values = set(data[:, (~np.isnan(data)).sum(axis=0) >= 2][~np.isnan(
        data[:, (~np.isnan(data)).sum(axis=0) >= 2])].tolist())
    if len(values) < 2:
        assert ours is None  # no pairable unit, or one category: undefined, not 1.0 or NaN
        return
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert ours == pytest.approx(ref, abs=1e-9)


@SETTINGS
@given(tables())
def test_cohen_equals_sklearn_on_shared_units(table):
    from sklearn.metrics import cohen_kappa_score

    matrix, _ = table
    units = matrix_to_units(matrix)
    pairs = ag.pairwise_cohen(units)
    for j in range(matrix.shape[1]):
        for k in range(j + 1, matrix.shape[1]):
            both = (matrix[:, j] >= 0) & (matrix[:, k] >= 0)
            key = f"a{j}|a{k}"
            if not both.any():
                assert pairs.get(key) is None
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = cohen_kappa_score(matrix[both, j], matrix[both, k])
            if math.isnan(ref):
                assert pairs[key] is None
            else:
                assert pairs[key] == pytest.approx(ref, abs=1e-9)
                assert ag.cohen_kappa(units, f"a{j}", f"a{k}") == pytest.approx(ref, abs=1e-9)


@SETTINGS
@given(tables(missing=False))
def test_fleiss_equals_statsmodels_on_complete_tables(table):
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    matrix, _ = table
    ours = ag.fleiss_kappa(matrix_to_units(matrix))
    counts, _ = aggregate_raters(matrix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm_fleiss(counts, method="fleiss")
    if ours is None:
        assert len(np.unique(matrix)) == 1
    else:
        assert ours == pytest.approx(ref, abs=1e-9)


@SETTINGS
@given(tables())
def test_per_label_alpha_equals_binary_recoding(table):
    import krippendorff

    matrix, q = table
    units = matrix_to_units(matrix)
    result = ag.per_label_alpha(units, [str(k) for k in range(q)])
    for k in range(q):
        binary = np.where(matrix >= 0, (matrix == k).astype(float), np.nan).T
        got = result[str(k)]["alpha"]
        keep = (~np.isnan(binary)).sum(axis=0) >= 2
        values = set(binary[:, keep][~np.isnan(binary[:, keep])].tolist())
        assert result[str(k)]["n"] == int((binary[:, keep] == 1).sum())
        if len(values) < 2:
            assert got is None
        else:
            ref = krippendorff.alpha(reliability_data=binary, level_of_measurement="nominal")
            assert got == pytest.approx(ref, abs=1e-9)


@st.composite
def set_tables(draw, complete=False):
    n_annotators = draw(st.integers(2, 4))
    n_units = draw(st.integers(2, 12))
    labels = ["a", "b", "c"]
    cell = st.frozensets(st.sampled_from(labels), min_size=1, max_size=3)
    if not complete:
        cell = st.one_of(st.none(), cell)
    return [[draw(cell) for _ in range(n_annotators)] for _ in range(n_units)]


def naive_alpha(values_by_unit, distance) -> float | None:
    """Textbook alpha from the coincidence definition, pure Python (reference only)."""
    pairable_units = [vals for vals in values_by_unit if len(vals) >= 2]
    all_values = [v for vals in pairable_units for v in vals]
    n = len(all_values)
    if n < 2:
        return None
    observed = sum(
        distance(vals[i], vals[j]) / (len(vals) - 1)
        for vals in pairable_units for i in range(len(vals)) for j in range(len(vals)) if i != j
    )
    expected = sum(distance(x, y) for i, x in enumerate(all_values)
                   for j, y in enumerate(all_values) if i != j)
    if expected == 0:
        return None
    return 1 - (n - 1) * observed / expected


@settings(max_examples=40, deadline=None, database=None)
@given(set_tables(complete=True))
def test_masi_alpha_equals_nltk_on_complete_data(rows):
    from nltk.metrics.agreement import AnnotationTask
    from nltk.metrics.distance import masi_distance

    units = {u: {f"c{j}": v for j, v in enumerate(row)} for u, row in enumerate(rows)}
    ours = ag.krippendorff_alpha_masi(units)
    expected = naive_alpha([list(row) for row in rows], ag.masi_distance)
    if expected is None:
        assert ours is None
        return
    task = AnnotationTask(
        data=[(f"c{j}", str(u), v) for u, row in enumerate(rows) for j, v in enumerate(row)],
        distance=masi_distance,
    )
    assert ours == pytest.approx(task.alpha(), abs=1e-9)
    assert ours == pytest.approx(expected, abs=1e-9)


@settings(max_examples=40, deadline=None, database=None)
@given(set_tables())
def test_masi_alpha_equals_definition_with_missing_values(rows):
    units = {u: {f"c{j}": v for j, v in enumerate(row) if v is not None}
             for u, row in enumerate(rows)}
    expected = naive_alpha([[v for v in row if v is not None] for row in rows],
                           ag.masi_distance)
    ours = ag.krippendorff_alpha_masi(units)
    if expected is None:
        assert ours is None
    else:
        assert ours == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(tables())
def test_masi_alpha_on_single_labels_is_nominal_alpha(table):
    matrix, _ = table
    units = matrix_to_units(matrix)
    nominal = ag.krippendorff_alpha(units)
    masi = ag.krippendorff_alpha_masi(units)
    assert (nominal is None) == (masi is None)
    if nominal is not None:
        assert masi == pytest.approx(nominal, abs=1e-12)


@SETTINGS
@given(tables())
def test_percent_agreement_and_unanimous_share_by_definition(table):
    matrix, _ = table
    shares, unanimous = [], []
    for row in matrix:
        vals = row[row >= 0].tolist()
        if len(vals) < 2:
            continue
        pairs = [(x, y) for i, x in enumerate(vals) for y in vals[i + 1:]]
        shares.append(sum(x == y for x, y in pairs) / len(pairs))
        unanimous.append(len(set(vals)) == 1)
    units = matrix_to_units(matrix)
    if not shares:
        assert ag.percent_agreement(units) is None and ag.unanimous_share(units) is None
        return
    assert ag.percent_agreement(units) == pytest.approx(sum(shares) / len(shares))
    assert ag.unanimous_share(units) == pytest.approx(sum(unanimous) / len(unanimous))


@SETTINGS
@given(tables(min_annotators=2))
def test_report_is_json_without_nan_and_table_equals_dict(table):
    matrix, q = table
    units = matrix_to_units(matrix)
    labels = [str(k) for k in range(q)]
    rep = ag.report(units, labels, bootstrap=20, seed=3)
    json.dumps(rep, allow_nan=False)
    assert set(rep) == REPORT_KEYS
    lt = LabelTable(matrix, [f"a{j}" for j in range(matrix.shape[1])], labels)
    rep_table = ag.report(lt, labels, bootstrap=20, seed=3)
    # The table keeps annotators without labels; the report lists only active ones.
    assert rep_table == rep


# ----------------------------------------------------------------------------------------
# Report, degenerate data, conventions
# ----------------------------------------------------------------------------------------

REPORT_KEYS = {
    "units", "pairable_units", "annotators", "labels", "percent_agreement",
    "unanimous_share", "krippendorff_alpha", "krippendorff_alpha_ci95", "fleiss_kappa",
    "gwet_ac1", "cohen_kappa", "mean_cohen_kappa", "per_label", "notes",
}


def test_report_shape_and_values():
    units = {
        "s1": {"ann": "demand", "bob": "demand", "cy": "demand"},
        "s2": {"ann": "warning", "bob": "demand"},
        "s3": {"ann": "outcome", "cy": "outcome"},
        "s4": {"bob": "none"},
    }
    rep = ag.report(units, LABELS)
    assert set(rep) == REPORT_KEYS
    assert rep["units"] == 4 and rep["pairable_units"] == 3
    assert rep["annotators"] == ["ann", "bob", "cy"]
    assert rep["labels"] == LABELS
    assert rep["percent_agreement"] == pytest.approx((1 + 0 + 1) / 3)
    assert rep["unanimous_share"] == pytest.approx(2 / 3)
    assert set(rep["cohen_kappa"]) == {"ann|bob", "ann|cy", "bob|cy"}
    assert rep["krippendorff_alpha_ci95"] is None
    assert rep["per_label"]["concession"] == {"alpha": None, "n": 0}
    assert any(n.startswith("per_label[concession]: not defined") for n in rep["notes"])
    for key in ("percent_agreement", "krippendorff_alpha", "fleiss_kappa", "gwet_ac1"):
        assert isinstance(rep[key], float)
    json.dumps(rep, allow_nan=False)


@pytest.mark.parametrize(
    "units, field, note",
    [
        ({}, "krippendorff_alpha", "krippendorff_alpha: not defined — no unit"),
        ({1: {"a": "x"}, 2: {"b": "y"}}, "fleiss_kappa", "fleiss_kappa: not defined — no unit"),
        (
            {1: {"a": "x", "b": "x"}, 2: {"a": "x", "b": "x"}},
            "krippendorff_alpha",
            "krippendorff_alpha: not defined — only one category was used "
            "(no expected disagreement)",
        ),
        (
            {1: {"a": "x", "b": "x"}, 2: {"a": "x", "b": "x"}},
            "fleiss_kappa",
            "fleiss_kappa: not defined — only one category",
        ),
        (
            {1: {"a": "x", "b": "x"}, 2: {"a": "x", "b": "x"}},
            "mean_cohen_kappa",
            "cohen_kappa: not defined for a|b — both used only 'x'",
        ),
    ],
)
def test_degenerate_cases_are_none_with_a_reason(units, field, note):
    rep = ag.report(units, None, bootstrap=50)
    assert rep[field] is None
    assert any(n.startswith(note) for n in rep["notes"]), rep["notes"]
    json.dumps(rep, allow_nan=False)


def test_two_annotators_without_shared_unit_get_no_kappa_and_no_alpha():
    # A tool in the field reported alpha = 1.0 here.
    units = {1: {"a": "x"}, 2: {"b": "x"}, 3: {"a": "y"}, 4: {"b": "y"}}
    rep = ag.report(units, ["x", "y"])
    assert rep["cohen_kappa"] == {"a|b": None}
    assert rep["krippendorff_alpha"] is None
    assert "cohen_kappa: not defined for a|b — no shared unit" in rep["notes"]
    assert ag.cohen_kappa(units, "a", "b") is None


def test_single_category_everywhere_gives_none_not_nan_or_one():
    units = {u: {"a": "none", "b": "none", "c": "none"} for u in range(5)}
    for fn in (ag.krippendorff_alpha, ag.fleiss_kappa, ag.mean_cohen_kappa,
               ag.krippendorff_alpha_masi):
        assert fn(units) is None
    assert ag.percent_agreement(units) == 1.0
    assert ag.gwet_ac1(units) is None  # q = 1
    # With the full label list q = 5 and AC1 is defined (Gwet: unused categories count).
    assert ag.gwet_ac1(units, LABELS) == pytest.approx(1.0)
    assert ag.bootstrap_alpha_ci(units, 100, seed=0) is None


def test_none_and_empty_cells_are_missing_not_a_category():
    with_none = {1: {"a": "x", "b": None, "c": "x"}, 2: {"a": "y", "b": (), "c": "y"},
                 3: {"a": "x", "b": "y", "c": float("nan")}}
    without = {1: {"a": "x", "c": "x"}, 2: {"a": "y", "c": "y"}, 3: {"a": "x", "b": "y"}}
    assert ag.report(with_none, ["x", "y"]) == ag.report(without, ["x", "y"])


def test_unused_categories_change_ac1_only():
    units = rows_to_units(KRIPPENDORFF_2011)
    wide = ["1", "2", "3", "4", "5", "6", "7"]
    assert ag.gwet_ac1(units, wide) != pytest.approx(ag.gwet_ac1(units))
    for fn in (ag.krippendorff_alpha, ag.fleiss_kappa, ag.mean_cohen_kappa):
        assert fn(LabelTable.from_units(units, wide)) == pytest.approx(fn(units))


def test_unknown_labels_are_counted_and_noted():
    units = {1: {"a": "demand", "b": "threat"}, 2: {"a": "none", "b": "none"}}
    rep = ag.report(units, LABELS)
    assert rep["labels"] == LABELS + ["threat"]
    assert any("threat" in n for n in rep["notes"])


def test_single_label_tuples_are_unwrapped():
    plain = {1: {"a": "x", "b": "y"}, 2: {"a": "x", "b": "x"}, 3: {"a": "y", "b": "y"}}
    tupled = {u: {k: (v,) for k, v in row.items()} for u, row in plain.items()}
    assert ag.report(tupled, ["x", "y"]) == ag.report(plain, ["x", "y"])


def test_multi_label_report():
    units = {
        1: {"a": ("demand", "warning"), "b": ("demand",)},
        2: {"a": ("none",), "b": ("none",)},
        3: {"a": ("outcome",), "b": ("concession", "outcome")},
        4: {"a": ("demand",), "b": ("warning",)},
    }
    rep = ag.report(units, LABELS, multi_label=True, bootstrap=50, seed=1)
    assert rep["krippendorff_alpha"] == pytest.approx(ag.krippendorff_alpha_masi(units))
    assert rep["per_label"]["demand"]["n"] == 3
    assert rep["percent_agreement"] == pytest.approx(1 / 4)  # exact-set match
    assert any("MASI" in n for n in rep["notes"])
    json.dumps(rep, allow_nan=False)
    # Without the flag, label sets are detected and compared by exact match, with a note.
    plain = ag.report(units, LABELS)
    assert plain["krippendorff_alpha"] == pytest.approx(ag.krippendorff_alpha(units))
    assert any("label sets found" in n for n in plain["notes"])


def test_per_label_multi_label_is_membership():
    import krippendorff

    units = {
        1: {"a": {"demand", "warning"}, "b": {"demand"}, "c": {"warning"}},
        2: {"a": {"none"}, "b": {"none", "demand"}},
        3: {"a": {"warning"}, "b": {"warning"}, "c": {"warning", "demand"}},
    }
    got = ag.per_label_alpha(units, LABELS)
    # coders (a, b, c) x units: is "demand" in the coder's set?
    data = np.array([[1, 0, 0], [1, 1, 0], [0, np.nan, 1]], dtype=float)
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert got["demand"]["alpha"] == pytest.approx(ref)
    assert got["demand"]["n"] == 4


def test_annotator_vs_rest_excludes_ties():
    units = {
        1: {"a": "x", "b": "x", "c": "x"},
        2: {"a": "y", "b": "y", "c": "x"},
        3: {"a": "x", "b": "y", "c": "z"},  # the others tie for everyone: excluded
        4: {"a": "y", "b": "y"},  # one other annotator: their label is the majority
    }
    got = ag.annotator_vs_rest(units)
    assert got["c"]["n"] == 2 and got["c"]["no_majority"] == 1
    # c vs majority of (a, b): unit 1 x/x, unit 2 x/y
    assert got["c"]["kappa"] == pytest.approx(ag.cohen_kappa(
        {1: {"p": "x", "q": "x"}, 2: {"p": "x", "q": "y"}}, "p", "q") or 0.0)
    # a vs rest: units 1 (x vs x), 2 (y vs no strict majority of b=y, c=x -> excluded),
    # 3 (tie, excluded), 4 (y vs y)
    assert got["a"]["n"] == 2 and got["a"]["no_majority"] == 2
    assert got["a"]["kappa"] == pytest.approx(1.0)


@pytest.mark.parametrize("limit", [10**9, 1])
def test_pairwise_cohen_large_team_path_agrees(monkeypatch, limit):
    # Big teams switch from one dense (annotator x category)^2 bincount to per-pair counts.
    units = synthetic(300, seed=9)
    expected = ag.pairwise_cohen(units)
    monkeypatch.setattr(agreement_counts, "_MAX_BINCOUNT", limit)
    assert ag.pairwise_cohen(units) == expected


def test_confusion_matrices():
    units = {1: {"a": "x", "b": "x"}, 2: {"a": "x", "b": "y"}, 3: {"a": "y", "b": "y"},
             4: {"a": "y"}}
    cm = ag.confusion_matrix(units, "a", "b", ["y", "x", "z"])
    assert list(cm.index) == ["y", "x", "z"] and list(cm.columns) == ["y", "x", "z"]
    assert cm.index.name == "a" and cm.columns.name == "b"
    assert cm.loc["x", "y"] == 1 and cm.loc["x", "x"] == 1 and cm.loc["y", "y"] == 1
    assert int(cm.to_numpy().sum()) == 3
    gold = {1: "x", 2: "x", 4: "x", 9: "y"}
    cg = ag.confusion_vs_gold(units, "a", gold, ["x", "y"])
    assert cg.index.name == "gold" and cg.columns.name == "a"
    assert cg.loc["x", "x"] == 2 and cg.loc["x", "y"] == 1 and int(cg.to_numpy().sum()) == 3


# ----------------------------------------------------------------------------------------
# Bootstrap
# ----------------------------------------------------------------------------------------


def synthetic(n_units: int, seed: int, agree: float = 0.7) -> dict[int, dict[str, str]]:
    rng = np.random.default_rng(seed)
    names = [f"r{i}" for i in range(6)]
    units = {}
    for u in range(n_units):
        truth = rng.integers(0, 4)
        who = rng.choice(6, size=rng.integers(1, 4), replace=False)
        units[u] = {names[w]: LABELS[truth if rng.random() < agree else rng.integers(0, 4)]
                    for w in who}
    return units


def test_bootstrap_is_seeded_and_brackets_alpha():
    units = synthetic(400, seed=5)
    alpha = ag.krippendorff_alpha(units)
    ci = ag.bootstrap_alpha_ci(units, 500, seed=7)
    assert ci == ag.bootstrap_alpha_ci(units, 500, seed=7)
    assert ci != ag.bootstrap_alpha_ci(units, 500, seed=8)
    assert ci[0] < alpha < ci[1]
    rep = ag.report(units, LABELS, bootstrap=500, seed=7)
    assert rep["krippendorff_alpha_ci95"] == list(ci)


def test_bootstrap_matches_naive_unit_resampling():
    import krippendorff

    units = synthetic(300, seed=11)
    table = LabelTable.from_units(units, LABELS)
    data = np.where(table.matrix >= 0, table.matrix, np.nan).astype(float).T
    rng = np.random.default_rng(0)
    naive = []
    for _ in range(1500):
        pick = rng.integers(0, data.shape[1], data.shape[1])
        naive.append(krippendorff.alpha(reliability_data=data[:, pick],
                                        level_of_measurement="nominal"))
    low, high = np.quantile(naive, [0.025, 0.975])
    ours = ag.bootstrap_alpha_ci(units, 1500, seed=0)
    # Same distribution (different random streams): percentiles agree to Monte-Carlo error.
    assert ours[0] == pytest.approx(low, abs=0.02)
    assert ours[1] == pytest.approx(high, abs=0.02)


@pytest.mark.parametrize("block_cells", [1, 7, 64])
def test_block_processing_gives_the_same_report(monkeypatch, block_cells):
    # Tables are summed in row blocks; block borders must not change any figure.
    units = synthetic(120, seed=4)
    expected = ag.report(units, LABELS, bootstrap=200, seed=2)
    expected_rest = ag.annotator_vs_rest(units)
    monkeypatch.setattr(agreement_counts, "_BLOCK_CELLS", block_cells)
    got = ag.report(units, LABELS, bootstrap=200, seed=2)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=1e-12)
        elif key == "krippendorff_alpha_ci95":
            assert got[key] == pytest.approx(value, abs=1e-12)
        else:
            assert got[key] == value, key
    assert ag.annotator_vs_rest(units) == expected_rest


def test_bootstrap_without_int64_pattern_keys_is_identical(monkeypatch):
    units = synthetic(200, seed=2)
    fast = ag.bootstrap_alpha_ci(units, 300, seed=4)
    monkeypatch.setattr(agreement_counts, "_MAX_KEY_BITS", 0)  # force the np.unique(axis=0) path
    assert ag.bootstrap_alpha_ci(units, 300, seed=4) == fast


def test_bootstrap_multi_label_uses_masi():
    units = {
        u: {"a": ("x",) if u % 3 else ("x", "y"), "b": ("x",), "c": ("y",) if u % 4 else ("x",)}
        for u in range(60)
    }
    ci = ag.bootstrap_alpha_ci(units, 300, seed=1, multi_label=True)
    assert ci[0] <= ag.krippendorff_alpha_masi(units) <= ci[1]


# ----------------------------------------------------------------------------------------
# LabelTable
# ----------------------------------------------------------------------------------------


def test_label_table_from_codes_equals_from_units():
    units = rows_to_units(KRIPPENDORFF_2011)
    lt = LabelTable.from_units(units, ["1", "2", "3", "4", "5"])
    u, a = np.nonzero(lt.matrix >= 0)
    rebuilt = LabelTable.from_codes(
        u, a, lt.matrix[u, a], n_units=lt.matrix.shape[0], annotators=lt.annotators,
        categories=lt.categories, unit_ids=lt.unit_ids,
    )
    assert np.array_equal(rebuilt.matrix, lt.matrix)
    labels = ["1", "2", "3", "4", "5"]
    assert ag.report(rebuilt, labels) == ag.report(units, labels)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(unit_index=[0, 0], annotator_index=[1, 1], category_index=[0, 1]), "more than once"),
        (dict(unit_index=[0], annotator_index=[5], category_index=[0]), "annotator_index"),
        (dict(unit_index=[3], annotator_index=[0], category_index=[0]), "unit_index"),
        (dict(unit_index=[0], annotator_index=[0], category_index=[9]), "category_index"),
    ],
)
def test_label_table_from_codes_rejects_bad_input(kwargs, message):
    with pytest.raises(LabelTableError, match=message):
        LabelTable.from_codes(**kwargs, n_units=2, annotators=["a", "b"], categories=["x", "y"])


def test_label_table_validates_matrix():
    with pytest.raises(LabelTableError, match="signed integer"):
        LabelTable(np.zeros((2, 2), dtype=float), ["a", "b"], ["x"])
    with pytest.raises(LabelTableError, match=r"\[-1, 0\]"):
        LabelTable(np.array([[0, 1]]), ["a", "b"], ["x"])
    with pytest.raises(LabelTableError, match="distinct"):
        LabelTable(np.array([[0, 0]]), ["a", "a"], ["x"])


def test_several_labels_in_single_label_function_is_a_clear_error():
    with pytest.raises(ValueError, match="multi_label=True"):
        LabelTable.from_units({1: {"a": ("x", "y")}}, multi_label=False)


def test_report_reasons_are_data_matching_the_notes():
    """Why a figure is not defined travels as data (Report.reasons), and the notes are
    rendered from it: no caller has to parse note strings."""
    units = {1: {"a": "x", "b": "x"}, 2: {"a": "x", "b": "x"}}
    built = ag.build_report(units, labels=["x", "y"])
    assert built.figures == ag.report(units, labels=["x", "y"])
    assert built.figures["krippendorff_alpha"] is None
    assert built.reasons["krippendorff_alpha"].startswith("not defined")
    assert f"krippendorff_alpha: {built.reasons['krippendorff_alpha']}" in built.figures["notes"]
    assert built.reasons["per_label"]["y"] == "not defined — never used in a pairable unit"
    assert "per_label[y]: not defined — never used in a pairable unit" in built.figures["notes"]
