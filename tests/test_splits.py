"""labeling.splits: ratio parsing, grouped/deterministic/stable assignment."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling import splits


@pytest.mark.parametrize("spec, expected", [
    ("0.8,0.1,0.1", (0.8, 0.1, 0.1)),
    (" 0.7 , 0.15 , 0.15 ", (0.7, 0.15, 0.15)),
    ("1,0,0", (1.0, 0.0, 0.0)),
    ("0.3333333,0.3333333,0.3333334", (0.3333333, 0.3333333, 0.3333334)),
    ((0.5, 0.25, 0.25), (0.5, 0.25, 0.25)),
    ("none", None),
    ("NONE", None),
    (None, None),
])
def test_parse_accepts(spec, expected):
    assert splits.parse(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("0.8,0.2", "exactly three"),
    ("0.5,0.25,0.125,0.125", "exactly three"),
    ("0.8,0.1,0.2", "sum to 1"),
    ("0.8,0.1,0.0999", "sum to 1"),
    ("1.2,-0.1,-0.1", ">= 0"),
    ("a,b,c", "three numbers"),
    ("0.8;0.1;0.1", "three numbers"),
    ("nan,0.5,0.5", ">= 0"),
    ("inf,0,0", ">= 0"),
    ("", "three numbers"),
])
def test_parse_rejects_with_a_clear_message(spec, message):
    with pytest.raises(splits.SplitSpecError, match=message):
        splits.parse(spec)


def test_format_ratios_round_trips():
    for spec in ("0.8,0.1,0.1", "0.7,0.2,0.1", "1,0,0", "none"):
        assert splits.format_ratios(splits.parse(spec)) == spec


def test_unit_value_is_the_documented_hash():
    digest = hashlib.sha256(b"7:article-1").digest()
    assert splits.unit_value("article-1", 7) == int.from_bytes(digest[:8], "big") / 2**64
    assert 0 <= splits.unit_value("article-1", 7) < 1


def test_assign_buckets_by_cumulative_ratios():
    ratios = (0.8, 0.1, 0.1)
    for i in range(500):
        ext = f"a{i}"
        u = splits.unit_value(ext, 3)
        want = "train" if u < 0.8 else "dev" if u < 0.9 else "test"
        assert splits.assign(ext, ratios, 3) == want


def test_assign_is_deterministic_and_depends_on_the_seed():
    ids = [f"art-{i}" for i in range(300)]
    first = [splits.assign(x, (0.5, 0.25, 0.25), seed=1) for x in ids]
    again = [splits.assign(x, (0.5, 0.25, 0.25), seed=1) for x in ids]
    other = [splits.assign(x, (0.5, 0.25, 0.25), seed=2) for x in ids]
    assert first == again
    assert first != other


def test_proportions_approach_the_ratios():
    counts = Counter(splits.assign(f"news-{i}", (0.8, 0.1, 0.1), 0) for i in range(20_000))
    assert abs(counts["train"] / 20_000 - 0.8) < 0.02
    assert abs(counts["dev"] / 20_000 - 0.1) < 0.02
    assert abs(counts["test"] / 20_000 - 0.1) < 0.02


def test_zero_ratio_split_never_gets_an_article():
    got = {splits.assign(f"x{i}", (0.5, 0.0, 0.5), 0) for i in range(2000)}
    assert got == {"train", "test"}
    assert {splits.assign(f"x{i}", (1.0, 0.0, 0.0), 9) for i in range(500)} == {"train"}
    assert {splits.assign(f"x{i}", (0.0, 0.0, 1.0), 9) for i in range(500)} == {"test"}


def test_no_split_and_names():
    assert splits.assign("anything", None) == "dataset"
    assert splits.names(None) == ("dataset",)
    assert splits.names((0.8, 0.1, 0.1)) == ("train", "dev", "test")


def test_assigner_matches_assign_and_remembers_only_the_last_article():
    a = splits.Assigner((0.6, 0.2, 0.2), seed=5)
    for ext in ["a", "a", "b", "a", "c", "c", "b"]:
        assert a(ext) == splits.assign(ext, (0.6, 0.2, 0.2), 5)


@settings(max_examples=200, deadline=None)
@given(old=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=30, unique=True),
       new=st.lists(st.text(min_size=1, max_size=20), max_size=30),
       seed=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_adding_articles_never_moves_existing_ones(old, new, seed):
    ratios = (0.8, 0.1, 0.1)
    before = {x: splits.assign(x, ratios, seed) for x in old}
    # The assignment of an article is computed with the other articles present too.
    assigner = splits.Assigner(ratios, seed)
    after = {x: assigner(x) for x in [*new, *old, *new]}
    assert {x: after[x] for x in old} == before


@settings(max_examples=200, deadline=None)
@given(ext=st.text(max_size=40),
       ratios=st.tuples(st.integers(0, 10), st.integers(0, 10), st.integers(0, 10)).filter(
           lambda t: sum(t) > 0),
       seed=st.integers(min_value=0, max_value=10**6))
def test_assign_respects_zero_ratios_for_any_input(ext, ratios, seed):
    total = sum(ratios)
    r = tuple(x / total for x in ratios)
    split = splits.assign(ext, r, seed)
    assert split in splits.SPLIT_NAMES
    assert r[splits.SPLIT_NAMES.index(split)] > 0
