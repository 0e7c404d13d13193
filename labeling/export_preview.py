"""What the Export page shows before the download: the summary counts, the first
records and the dataset card, computed without writing a file.

One pass over the sentences reads only what deciding gold and splits needs
(``db.export.iter_gold_keys``) and counts exactly as the export does (the same
``labeling.export_records.sentence_pass``); the full rows are then read for the first
records only and encoded by the export's own JSONL writer. So the preview's numbers,
records and card are those the export then writes, at a fraction of its cost.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import db as store
import db.export as export_db
from labeling import export, project, splits
from labeling.export_options import ExportOptions
from labeling.export_records import Gold, Progress, sentence_pass
from labeling.export_sinks import JsonlSink

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Preview:
    """What the Export page shows before download: first records, the card, the summary."""

    rows: list[dict]
    card: str
    summary: dict[str, Any]
    #: the first records of each split (split name -> records; empty splits: [])
    by_split: dict[str, list[dict]]


class _FirstIds:
    """A sink that keeps the ids of the first ``limit`` exported sentences of each split."""

    def __init__(self, names: Sequence[str], limit: int):
        self.ids: dict[str, list[int]] = {n: [] for n in names}
        self.limit = limit

    def write(self, split: str, pid: str, g: Gold, row: Sequence) -> None:
        ids = self.ids[split]
        if len(ids) < self.limit:
            ids.append(row[0])

    def close(self) -> None:
        pass


class _Lines(list):
    """An in-memory output for a sink: the lines written to it, in order."""

    write = list.append

    def close(self) -> None:
        pass


def preview(db_path: str | os.PathLike, options: ExportOptions | None = None, *,
            limit: int = 10, progress: Progress | None = None,
            now: datetime | None = None) -> Preview:
    """The export with ``options`` as the page shows it (own connection, one snapshot):
    the first ``limit`` records of each split, in file order (``by_split``; ``rows``:
    all of them, split after split), the card and the summary, as the export with the
    command ``options.command("export")`` and the date ``now`` would write them. Writes
    nothing."""
    options = (options or ExportOptions()).validated()
    progress = progress or export.no_progress
    names = splits.names(options.ratios)
    db = store.connect(db_path)
    try:
        t0 = time.perf_counter()
        cfg = project.load_config(db)
        single = not cfg.multi_label
        with export_db.snapshot(db) as conn:
            progress(0.0, "reading sentences")
            counts = export_db.counts(conn)
            first = _FirstIds(names, limit)
            stats = sentence_pass(export_db.iter_gold_keys(conn), options, cfg.label_names,
                                  single, [first], counts["content"], progress)
            ids = sorted(i for kept in first.ids.values() for i in kept)
            lines = {n: _Lines() for n in names}
            sentence_pass(export_db.iter_sentences(conn, context=options.include_context,
                                                   annotations=options.embed_annotations,
                                                   ids=ids),
                          options, cfg.label_names, single,
                          [JsonlSink(lines.__getitem__, options, cfg.label_names, single)],
                          len(ids), export.no_progress)
            progress(0.9, "computing agreement")
            agreement = export.agreement_report(db, options)
    finally:
        db.close()
    by_split = {n: [json.loads(line) for line in lines[n]] for n in names}
    summary = export.summary_of(options, stats, counts)
    card = export.card_of(cfg, options, summary, stats, counts, agreement,
                          export.created_at(now), options.command("export"))
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    progress(1.0, "done")
    return Preview(rows=[r for n in names for r in by_split[n]], card=card, summary=summary,
                   by_split=by_split)


def preview_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Preview records as a table: the annotations list as JSON text (one cell)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows))
    if "annotations" in frame:
        frame["annotations"] = [json.dumps(a, ensure_ascii=False) for a in frame["annotations"]]
    for col in ("labels", "label_ids"):
        if col in frame:
            frame[col] = ["|".join(map(str, v)) for v in frame[col]]
    return frame
