"""labeling.gold: policies on a hand-made table, ties never broken, counts per source/reason."""

from __future__ import annotations

import pytest

from labeling import gold
from labeling.gold import POLICIES, Resolution, UnknownPolicy, resolve, resolve_many

D, W, C, OUT, N = ("demand",), ("warning",), ("concession",), ("outcome",), ("none",)

# sentence id -> (annotations, adjudicated)
TABLE = {
    "unanimous3": ([D, D, D], None),
    "unanimous2": ([W, W], None),
    "majority2of3": ([D, D, W], None),
    "tie2": ([D, W], None),
    "tie4": ([D, D, W, W], None),
    "three_way": ([D, W, C], None),  # every label once: a tie
    "plurality": ([D, D, W, C], None),  # 2 of 4, not a strict majority, no tie
    "adjudicated_tie": ([D, W], C),
    "adjudicated_agree": ([OUT, OUT], N),  # the reviewer overrides even a unanimous pair
    "single": ([N], None),
    "empty": ([], None),
    "skips": ([None, ()], None),  # skips are not labels
}

EXPECTED = {
    "adjudicated": {
        "unanimous3": (None, None, "not_adjudicated"),
        "unanimous2": (None, None, "not_adjudicated"),
        "majority2of3": (None, None, "not_adjudicated"),
        "tie2": (None, None, "not_adjudicated"),
        "tie4": (None, None, "not_adjudicated"),
        "three_way": (None, None, "not_adjudicated"),
        "plurality": (None, None, "not_adjudicated"),
        "adjudicated_tie": (C, "adjudicated", None),
        "adjudicated_agree": (N, "adjudicated", None),
        "single": (None, None, "not_adjudicated"),
        "empty": (None, None, "not_adjudicated"),
        "skips": (None, None, "not_adjudicated"),
    },
    "unanimous": {
        "unanimous3": (D, "unanimous", None),
        "unanimous2": (W, "unanimous", None),
        "majority2of3": (None, None, "disagreement"),
        "tie2": (None, None, "disagreement"),
        "tie4": (None, None, "disagreement"),
        "three_way": (None, None, "disagreement"),
        "plurality": (None, None, "disagreement"),
        "adjudicated_tie": (C, "adjudicated", None),
        "adjudicated_agree": (N, "adjudicated", None),
        "single": (None, None, "too_few_annotators"),
        "empty": (None, None, "no_labels"),
        "skips": (None, None, "no_labels"),
    },
    "majority": {
        "unanimous3": (D, "unanimous", None),
        "unanimous2": (W, "unanimous", None),
        "majority2of3": (D, "majority", None),
        "tie2": (None, None, "tie"),
        "tie4": (None, None, "tie"),
        "three_way": (None, None, "tie"),
        "plurality": (None, None, "disagreement"),
        "adjudicated_tie": (C, "adjudicated", None),
        "adjudicated_agree": (N, "adjudicated", None),
        "single": (None, None, "too_few_annotators"),
        "empty": (None, None, "no_labels"),
        "skips": (None, None, "no_labels"),
    },
}


@pytest.mark.parametrize("policy", sorted(EXPECTED))
@pytest.mark.parametrize("sentence", sorted(TABLE))
def test_policy_on_hand_made_table(policy, sentence):
    annotations, adjudicated = TABLE[sentence]
    assert resolve(annotations, adjudicated, policy) == EXPECTED[policy][sentence]


def test_registry_lists_exactly_the_three_policies():
    assert set(POLICIES) == {"adjudicated", "unanimous", "majority"}
    assert gold.DEFAULT_POLICY == "unanimous"


def test_unknown_policy_names_the_choices():
    with pytest.raises(UnknownPolicy, match="adjudicated, unanimous, majority"):
        resolve([D, D], None, "plurality")


@pytest.mark.parametrize("policy", ["unanimous", "majority"])
def test_min_annotators_one_gives_single(policy):
    assert resolve([N], None, policy, min_annotators=1) == (N, "single", None)
    # More annotators still need to agree: min_annotators only lowers the floor.
    assert resolve([D, D], None, policy, min_annotators=1) == (D, "unanimous", None)


def test_min_annotators_three_needs_three():
    assert resolve([D, D], None, "majority", min_annotators=3) == (
        None, None, "too_few_annotators")
    assert resolve([D, D, W], None, "majority", min_annotators=3) == (D, "majority", None)
    with pytest.raises(ValueError):
        resolve([D], None, "unanimous", min_annotators=0)


def test_single_policy_with_adjudicated_only_stays_unresolved():
    assert resolve([N], None, "adjudicated", min_annotators=1) == (
        None, None, "not_adjudicated")


def test_ties_are_never_broken_whatever_the_order():
    # A tool in the field broke ties with random.choice: gold was not reproducible.
    for order in ([D, W], [W, D], [D, W, W, D], [W, D, D, W]):
        for _ in range(20):
            assert resolve(order, None, "majority") == (None, None, "tie")


def test_multi_label_sets_compare_order_insensitively():
    a = ("demand", "warning")
    b = frozenset({"warning", "demand"})
    assert resolve([a, b], None, "unanimous") == (("demand", "warning"), "unanimous", None)
    assert resolve([a, b, D], None, "majority") == (("demand", "warning"), "majority", None)
    # A partial overlap is a different label set, not half an agreement.
    assert resolve([a, D], None, "majority") == (None, None, "tie")


def test_string_labels_are_single_label_shorthand():
    assert resolve(["demand", ("demand",)], None, "unanimous") == (D, "unanimous", None)


def test_resolution_is_a_named_tuple():
    res = resolve([D, D], None, "unanimous")
    assert isinstance(res, Resolution)
    labels, source, reason = res
    assert (res.labels, res.source, res.reason) == (labels, source, reason)


@pytest.mark.parametrize("policy", sorted(EXPECTED))
def test_resolve_many_counts_sources_and_reasons(policy):
    batch = resolve_many(TABLE, policy)
    assert set(batch.resolved) == set(TABLE)
    assert set(batch.by_source) == set(gold.SOURCES)
    assert set(batch.by_reason) == set(gold.REASONS)
    expected_sources: dict[str, int] = dict.fromkeys(gold.SOURCES, 0)
    expected_reasons: dict[str, int] = dict.fromkeys(gold.REASONS, 0)
    for _, source, reason in EXPECTED[policy].values():
        if source:
            expected_sources[source] += 1
        else:
            expected_reasons[reason] += 1
    assert batch.by_source == expected_sources
    assert batch.by_reason == expected_reasons
    assert sum(batch.by_source.values()) + sum(batch.by_reason.values()) == len(TABLE)
    assert set(batch.gold) == {k for k, v in EXPECTED[policy].items() if v[1]}


def test_resolve_many_majority_counts_by_hand():
    batch = resolve_many(TABLE, "majority", min_annotators=1)
    assert batch.by_source == {"adjudicated": 2, "unanimous": 2, "majority": 1, "single": 1}
    assert batch.by_reason == {"no_labels": 2, "too_few_annotators": 0, "disagreement": 1,
                               "tie": 3, "not_adjudicated": 0}
    assert batch.gold["single"] == (N, "single")


@pytest.mark.parametrize(
    "labels_list, target, expected",
    [
        ([D, D], 2, D),
        ([D, D, D], 2, D),  # more than the target, all agree
        ([D], 2, None),  # not yet at target
        ([D, D], 3, None),
        ([D, W], 2, None),
        ([D, D, W], 2, None),  # one dissent blocks auto-promotion
        ([D], 1, None),  # one annotation is never "unanimous"
        ([D, D], 1, D),
        ([("demand", "warning"), ("warning", "demand")], 2, ("demand", "warning")),
        ([D, None, D], 2, D),  # skips do not count
    ],
)
def test_unanimous_gold(labels_list, target, expected):
    assert gold.unanimous_gold(labels_list, target) == expected
