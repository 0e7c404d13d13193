"""Gold-label policies: adjudicated > unanimous > majority; ties stay unresolved (pure).

A sentence's *labels* are a tuple or frozenset of label names (single-label projects use
one-element tuples; a bare string is accepted as a one-element tuple). Two annotations
agree when they hold the same set of labels, whatever the order. Resolved labels are
returned as a tuple sorted by name, so the result never depends on input order, and
nothing is ever decided at random: a tie is reported as a tie.

Sources (why a sentence has its gold labels): ``adjudicated``, ``unanimous``, ``majority``,
``single``. Exclusion reasons (why it has none): ``no_labels``, ``too_few_annotators``,
``disagreement``, ``tie``, ``not_adjudicated``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Union

Labels = Union[tuple[str, ...], frozenset[str]]
LabelsLike = Union[Labels, str, Sequence[str], None]

SOURCES = ("adjudicated", "unanimous", "majority", "single")
REASONS = ("no_labels", "too_few_annotators", "disagreement", "tie", "not_adjudicated")


class UnknownPolicy(ValueError):
    """The policy name is not one of ``POLICIES``."""


class Resolution(NamedTuple):
    """Outcome for one sentence; unpacks as ``(labels, source, reason)``.

    Exactly one of ``source`` / ``reason`` is set: resolved sentences have labels and a
    source, excluded ones a reason and ``labels is None``.
    """

    labels: tuple[str, ...] | None
    source: str | None
    reason: str | None


def _normalise(labels: LabelsLike) -> frozenset[str] | None:
    """One annotation as a set of labels; None/empty means "no label" (e.g. a skip)."""
    if labels is None:
        return None
    if isinstance(labels, str):
        return frozenset((labels,))
    items = frozenset(labels)
    return items or None


def _out(labels: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(labels))


def _resolved(labels: frozenset[str], source: str) -> Resolution:
    return Resolution(_out(labels), source, None)


def _excluded(reason: str) -> Resolution:
    return Resolution(None, None, reason)


def _agreement_step(
    annotations: Sequence[frozenset[str]], min_annotators: int
) -> Resolution | None:
    """Shared by unanimous and majority: no labels / too few / single / unanimous.

    Returns None when annotators disagree (the caller decides what that means).
    """
    if not annotations:
        return _excluded("no_labels")
    if len(annotations) < min_annotators:
        return _excluded("too_few_annotators")
    if len(annotations) == 1:
        # Only reachable with min_annotators <= 1: one person's label, marked as such.
        return _resolved(annotations[0], "single")
    if all(a == annotations[0] for a in annotations[1:]):
        return _resolved(annotations[0], "unanimous")
    return None


def _adjudicated_policy(
    annotations: Sequence[frozenset[str]], adjudicated: frozenset[str] | None, min_annotators: int
) -> Resolution:
    if adjudicated is not None:
        return _resolved(adjudicated, "adjudicated")
    return _excluded("not_adjudicated")


def _unanimous_policy(
    annotations: Sequence[frozenset[str]], adjudicated: frozenset[str] | None, min_annotators: int
) -> Resolution:
    if adjudicated is not None:
        return _resolved(adjudicated, "adjudicated")
    step = _agreement_step(annotations, min_annotators)
    return step if step is not None else _excluded("disagreement")


def _majority_policy(
    annotations: Sequence[frozenset[str]], adjudicated: frozenset[str] | None, min_annotators: int
) -> Resolution:
    if adjudicated is not None:
        return _resolved(adjudicated, "adjudicated")
    step = _agreement_step(annotations, min_annotators)
    if step is not None:
        return step
    ranked = Counter(annotations).most_common()
    top_count = ranked[0][1]
    if len(ranked) > 1 and ranked[1][1] == top_count:
        # Two label sets share the top count: never broken (not at random, not by order).
        return _excluded("tie")
    if 2 * top_count > len(annotations):
        return _resolved(ranked[0][0], "majority")
    # A unique plurality that is not a strict majority (e.g. A, A, B, C): not gold.
    return _excluded("disagreement")


Policy = Callable[[Sequence[frozenset[str]], Union[frozenset[str], None], int], Resolution]

#: Gold-label policies by name. Each takes (annotations, adjudicated, min_annotators).
#: ``adjudicated``: reviewer decisions only. ``unanimous`` (default): adjudicated, else every
#: annotator agrees. ``majority``: the above, else a strict majority (> half); ties excluded.
POLICIES: dict[str, Policy] = {
    "adjudicated": _adjudicated_policy,
    "unanimous": _unanimous_policy,
    "majority": _majority_policy,
}
DEFAULT_POLICY = "unanimous"


def resolve(
    annotations: Iterable[LabelsLike],
    adjudicated: LabelsLike = None,
    policy: str = DEFAULT_POLICY,
    min_annotators: int = 2,
) -> Resolution:
    """Gold labels for one sentence: ``(labels | None, source | None, reason | None)``.

    ``annotations``: each annotator's labels (None or empty = no label, ignored).
    ``adjudicated``: the reviewer's decision, which wins under every policy.
    ``min_annotators``: fewest annotations for ``unanimous``/``majority`` (default 2); with
    1, a sentence labelled by exactly one person gets that label with source ``single``.

    Reasons: ``not_adjudicated`` (policy ``adjudicated``), ``no_labels``,
    ``too_few_annotators``, ``disagreement`` (annotators differ and, under ``majority``, no
    label set has a strict majority), ``tie`` (``majority``: two label sets share the top
    count).
    """
    try:
        chosen = POLICIES[policy]
    except KeyError:
        raise UnknownPolicy(
            f"unknown gold policy {policy!r}; choose one of: {', '.join(POLICIES)}"
        ) from None
    if min_annotators < 1:
        raise ValueError("min_annotators must be at least 1")
    normalised = [a for a in map(_normalise, annotations) if a is not None]
    return chosen(normalised, _normalise(adjudicated), min_annotators)


@dataclass
class GoldBatch:
    """Result of resolving many sentences.

    ``resolved``: sentence id -> Resolution (every sentence, resolved or not).
    ``by_source``: count per source (all four keys present). ``by_reason``: count per
    exclusion reason (all five keys present).
    """

    resolved: dict[Hashable, Resolution] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    by_reason: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    @property
    def gold(self) -> dict[Hashable, tuple[tuple[str, ...], str]]:
        """Only the resolved sentences: id -> (labels, source)."""
        return {
            k: (r.labels, r.source) for k, r in self.resolved.items() if r.labels is not None
        }


def resolve_many(
    sentences: Mapping[Hashable, tuple[Iterable[LabelsLike], LabelsLike]],
    policy: str = DEFAULT_POLICY,
    min_annotators: int = 2,
) -> GoldBatch:
    """Resolve ``{sentence_id: (annotations, adjudicated)}``; count sources and reasons.

    The counts are what an export's dataset card reports ("412 unanimous, 37 ties left out").
    """
    batch = GoldBatch()
    for sid, (labels_list, adjudicated) in sentences.items():
        res = resolve(labels_list, adjudicated, policy, min_annotators)
        batch.resolved[sid] = res
        if res.source is not None:
            batch.by_source[res.source] += 1
        else:
            batch.by_reason[res.reason] += 1
    return batch


def unanimous_gold(labels_list: Iterable[LabelsLike], target: int) -> tuple[str, ...] | None:
    """Labels to auto-promote to gold, or None.

    A sentence is promoted when it has at least ``target`` annotations (its overlap target)
    and they all hold the same labels. A single annotation is never "unanimous", whatever
    the target: use ``resolve(..., min_annotators=1)`` to accept single-annotator labels
    (source ``single``) explicitly.
    """
    if target < 1:
        raise ValueError("target must be at least 1")
    annotations = [a for a in map(_normalise, labels_list) if a is not None]
    if len(annotations) < max(target, 2):
        return None
    first = annotations[0]
    if all(a == first for a in annotations[1:]):
        return _out(first)
    return None
