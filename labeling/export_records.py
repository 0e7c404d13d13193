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


#: Why a sentence with a gold label is still left out: a label that is not in the
#: project's scheme (e.g. a label removed from the config after it was used) has no class
#: id, and a training set whose classes do not match its ``labels.json`` would fail to load.
UNKNOWN_LABEL = "unknown_label"
REASONS = (*gold.REASONS, UNKNOWN_LABEL)


class Gold(NamedTuple):
    """A resolved sentence, pre-encoded for every file format."""

    labels: tuple[str, ...] | None
    source: str | None
    reason: str | None
    labels_json: str = "[]"
    head: str = ""            # the JSONL fields after "text": label(s) and their ids
    label: str | None = None  # the CSV/Parquet ``label`` cell (single-label projects)
    label_id: int | None = None
    pipe: str = ""            # labels joined with "|"
    ids: tuple[int, ...] = ()
    ids_pipe: str = ""        # label ids joined with "|"
    agreement: float | None = None  # share of agreeing annotator pairs (None: < 2)
    agreement_json: str = "null"
    agreement_csv: str = ""


class GoldCache:
    """``gold.resolve`` memoised on the sentence's stored labels.

    A million sentences share a few hundred distinct label combinations, so each
    combination is resolved (and its JSON encoded) once.
    """

    _MAX = 200_000

    def __init__(self, policy: str, min_annotators: int, single_label: bool,
                 label_names: Sequence[str]):
        self.policy, self.min_annotators, self.single_label = policy, min_annotators, single_label
        self.label_ids = {name: i for i, name in enumerate(label_names)}
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
        if any(lab not in self.label_ids for lab in res.labels) or (
                self.single_label and len(res.labels) != 1):
            # Not a class of this scheme (or several labels, adjudicated under an
            # earlier multi-label config, in a single-label project): no class id.
            return Gold(None, None, UNKNOWN_LABEL)
        ids = tuple(self.label_ids[lab] for lab in res.labels)
        labels_json = json.dumps(list(res.labels), ensure_ascii=False, separators=(",", ":"))
        if self.single_label:
            label, label_id = res.labels[0], ids[0]
            head = (',"label":' + encode(label) + ',"label_id":' + str(label_id)
                    + ',"labels":' + labels_json)
        else:
            label = label_id = None
            head = ',"labels":' + labels_json + ',"label_ids":' + json.dumps(list(ids))
        agree = pair_agreement(annotations)
        agree_text = "null" if agree is None else repr(agree)
        return Gold(res.labels, res.source, None, labels_json, head, label, label_id,
                    "|".join(res.labels), ids, "|".join(map(str, ids)), agree,
                    agree_text, "" if agree is None else agree_text)


def pair_agreement(annotations: Sequence[Sequence[str]]) -> float | None:
    """The sentence's observed agreement: the share of pairs of its annotators who gave
    the same label set (rounded to 4 places), None with fewer than two annotators. The
    per-sentence term of the agreement report's observed agreement."""
    n = len(annotations)
    if n < 2:
        return None
    counts = Counter(tuple(sorted(set(a))) for a in annotations)
    return round(sum(c * (c - 1) for c in counts.values()) / (n * (n - 1)), 4)


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
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    by_source: dict[str, int] = field(default_factory=lambda: dict.fromkeys(gold.SOURCES, 0))
    labels: Counter = field(default_factory=Counter)  # (split, label) -> sentences


def sentence_pass(rows: Iterable[Sequence], options: ExportOptions,
                  label_names: Sequence[str], single_label: bool, sinks: Sequence[Sink],
                  total: int, progress: Progress) -> Stats:
    """Resolve gold for every sentence row (see ``db.export.iter_sentences``; only the
    external id, index, adjudicated labels and labels are read here), count, and give
    every exported sentence to each sink. The sinks are closed at the end."""
    names = splits.names(options.ratios)
    stats = Stats(rows=dict.fromkeys(names, 0))
    resolve = GoldCache(options.gold_policy, options.min_annotators, single_label,
                        label_names)
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
