"""The export's records: which sentences get a gold label, in which split, with which
fields, and the counts the summary and the card report (pure).

:func:`sentence_pass` is the one loop over the sentences: it resolves gold
(``labeling.gold``), assigns the split (``labeling.splits``), counts, and hands every
exported sentence to the sinks (``labeling.export_sinks``). The export runs it with file
sinks; the preview runs it on lighter rows with a sink that only notes the first
sentences, so both count the same way.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from labeling import gold, splits
from labeling.export_options import ExportOptions

Progress = Callable[[float, str], None]

# What json.dumps(s, ensure_ascii=False) does to a string, without the call overhead.
encode = json.encoder.encode_basestring


class Gold(NamedTuple):
    """A resolved sentence, pre-encoded for both file formats."""

    labels: tuple[str, ...] | None
    source: str | None
    reason: str | None
    labels_json: str = "[]"
    label_part: str = ""     # ',"label":"x"' for single-label projects, else ""
    label: str | None = None  # the CSV ``label`` cell
    pipe: str = ""            # labels joined with "|"


class GoldCache:
    """``gold.resolve`` memoised on the sentence's stored labels.

    A million sentences share a few hundred distinct label combinations, so each
    combination is resolved (and its JSON encoded) once.
    """

    _MAX = 200_000

    def __init__(self, policy: str, min_annotators: int, single_label: bool):
        self.policy, self.min_annotators, self.single_label = policy, min_annotators, single_label
        self._cache: dict[tuple[str | None, str | None], Gold] = {}

    def __call__(self, adjudicated: str | None, labels: str | None) -> Gold:
        """The gold of a sentence from its adjudicated labels (JSON or None) and its
        labeled annotations' label lists (JSON joined with U+001F, or None)."""
        key = (adjudicated, labels)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._resolve(adjudicated, labels)
            if len(self._cache) > self._MAX:  # bound memory on pathological data
                self._cache.clear()
        return hit

    def _resolve(self, adjudicated: str | None, labels: str | None) -> Gold:
        annotations = [json.loads(x) for x in labels.split("\x1f")] if labels else []
        adj = json.loads(adjudicated) if adjudicated else None
        res = gold.resolve(annotations, adj, self.policy, self.min_annotators)
        if res.labels is None:
            return Gold(None, None, res.reason)
        label = None
        part = ""
        if self.single_label:
            # One label per sentence; an adjudicated set from a former multi-label
            # setup would keep its "|"-joined form rather than lose labels.
            label = res.labels[0] if len(res.labels) == 1 else "|".join(res.labels)
            part = ',"label":' + encode(label)
        return Gold(res.labels, res.source, None,
                    json.dumps(list(res.labels), ensure_ascii=False, separators=(",", ":")),
                    part, label, "|".join(res.labels))


def dataset_columns(single_label: bool, include_context: bool) -> list[str]:
    """Field names of a dataset record, in file order."""
    cols = ["id", "text"] + (["label"] if single_label else [])
    cols += ["labels", "gold_source", "split", "article_id", "article_title",
             "sentence_index", "n_annotators", "annotations"]
    if include_context:
        cols += ["context_before", "context_after"]
    return cols


class Sink(Protocol):
    """Where :func:`sentence_pass` sends each exported sentence."""

    def write(self, split: str, pid: str, g: Gold, row: Sequence) -> None:
        """One exported sentence: its split, public id, gold and database row."""

    def close(self) -> None:
        """Called once the pass ends (also when it fails)."""


@dataclass
class Stats:
    """What one pass counted: rows per split, sentences left out by reason, gold
    sources, and sentences per (split, label) for the card's balance table."""

    rows: dict[str, int]
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(gold.REASONS, 0))
    by_source: dict[str, int] = field(default_factory=lambda: dict.fromkeys(gold.SOURCES, 0))
    labels: Counter = field(default_factory=Counter)  # (split, label) -> sentences


def sentence_pass(rows: Iterable[Sequence], options: ExportOptions, single_label: bool,
                  sinks: Sequence[Sink], total: int, progress: Progress) -> Stats:
    """Resolve gold for every sentence row (see ``db.export.iter_sentences``; only the
    external id, index, adjudicated labels and labels are read here), count, and give
    every exported sentence to each sink. The sinks are closed at the end."""
    names = splits.names(options.ratios)
    stats = Stats(rows=dict.fromkeys(names, 0))
    resolve = GoldCache(options.gold_policy, options.min_annotators, single_label)
    assign = splits.Assigner(options.ratios, options.seed)
    excluded, by_source, counted, labels = stats.excluded, stats.by_source, stats.rows, stats.labels
    done = 0
    # Row positions (db.export.iter_sentences): 1 external id, 3 index, 5 adjudicated
    # labels, 7 labels. Literal indexes: this loop runs once per sentence.
    try:
        for row in rows:
            done += 1
            if not done % 50_000:
                progress(0.8 * done / max(total, 1), f"sentences: {done:,} of {total:,}")
            g = resolve(row[5], row[7])
            if g.source is None:
                excluded[g.reason] += 1
                continue
            ext = row[1]
            split = assign(ext)
            counted[split] += 1
            by_source[g.source] += 1
            for lab in g.labels:
                labels[split, lab] += 1
            pid = f"{ext}:{row[3]}"
            for sink in sinks:
                sink.write(split, pid, g, row)
    finally:
        for sink in sinks:
            sink.close()
    return stats
