"""The export's file writers: dataset records as Parquet, JSONL and CSV; raw annotations.

A dataset sink receives every exported sentence from
``labeling.export_records.sentence_pass`` and writes it into the file of its split
(created at the split's first sentence: an empty split has no file). JSONL and CSV
lines are built by hand from pre-encoded pieces (``export_records.Gold``), which is what
keeps a million-sentence export fast; Parquet rows are buffered into row groups with the
declared schema of ``labeling.export_schema``. The raw JSONL and CSV files are rendered
by SQLite (``db.export.iter_raw_jsonl`` / ``iter_raw_csv``) and only copied here; the raw
Parquet file is built column-wise in Arrow.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import db.annotators as annotators_db
import db.articles as articles_db
import db.export as export_db
from labeling import export_schema, splits
from labeling.config import ProjectConfig
from labeling.export_options import ExportOptions, raw_file
from labeling.export_records import Gold, encode
from labeling.export_schema import dataset_columns

_FORMULA = frozenset(export_db.FORMULA_PREFIXES)
BUFFER = 1 << 20
RAW_ROW_GROUP = 30_000  # annotations per row group of annotations.parquet (memory)


def arrow():
    """pyarrow, imported on first use (text-only exports never load it), with the
    system allocator: Arrow's default pool (jemalloc) keeps freed row groups mapped for
    a while, which measured ~45 MB more peak RSS per process at 3M annotations."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
    return pa


def neutralise(value: str | None) -> str | None:
    """A cell a spreadsheet would run as a formula (it starts with = + - @ tab or CR)
    gets a leading ``'`` (OWASP CSV-injection guidance); anything else is unchanged."""
    if value and value[0] in _FORMULA:
        return "'" + value
    return value


def csv_field(value: str | int | None) -> str:
    """One CSV field, RFC 4180: quoted when it holds a quote, comma or line break."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _same(value: str | None) -> str | None:
    return value


class _SplitSink:
    """Lines of one format, one output per split, opened at the split's first row (an
    empty split leaves no file: ``datasets`` refuses a split without data, and an empty
    JSONL file has no schema). ``opener(split)`` gives the split's text output."""

    ext = ""

    def __init__(self, opener: Callable[[str], TextIO]):
        self.opener = opener
        self.handles: dict[str, TextIO] = {}

    def _open(self, split: str) -> TextIO:
        h = self.handles[split] = self.opener(split)
        return h

    def close(self) -> None:
        """Close every output."""
        for h in self.handles.values():
            h.close()


def file_opener(folder: Path, ext: str) -> Callable[[str], TextIO]:
    """``split -> <folder>/<split>.<ext>`` opened for writing (UTF-8, line ends as
    written, a large buffer)."""
    def opener(split: str) -> TextIO:
        # closed by the sink's close(): the file stays open for the whole sentence pass
        return open(folder / f"{split}.{ext}", "w", encoding="utf-8", newline="",  # noqa: SIM115
                    buffering=BUFFER)
    return opener


class JsonlSink(_SplitSink):
    """``<split>.jsonl``: one JSON object per line, keys in schema order."""

    ext = "jsonl"

    def __init__(self, opener: Callable[[str], TextIO], options: ExportOptions,
                 label_names: Sequence[str], single_label: bool):
        super().__init__(opener)
        self.context = options.include_context
        self.embed = options.embed_annotations
        self.split_json = {n: ("null" if n == splits.NO_SPLIT else encode(n))
                           for n in splits.names(options.ratios)}

    def write(self, split: str, pid: str, g: Gold, row: Sequence) -> None:
        """One record; ``row`` as ``db.export.iter_sentences`` yields it."""
        tail = ""
        if self.embed:
            tail = ',"annotations":' + row[8]
        if self.context:
            before, after = row[11], row[12]
            tail += (',"context_before":' + ("null" if before is None else encode(before))
                     + ',"context_after":' + ("null" if after is None else encode(after)))
        title = row[2]
        h = self.handles.get(split) or self._open(split)
        h.write('{"id":' + encode(pid) + ',"text":' + encode(row[4]) + g.head
                + ',"gold_source":"' + g.source + '","split":' + self.split_json[split]
                + ',"article_id":' + encode(row[1]) + ',"article_title":'
                + ("null" if title is None else encode(title))
                + ',"sentence_index":' + str(row[3]) + ',"start":' + str(row[9])
                + ',"end":' + str(row[10]) + ',"n_annotators":' + str(row[6])
                + ',"agreement":' + g.agreement_json + tail + "}\n")


class CsvSink(_SplitSink):
    """``<split>.csv``: the same columns; lists joined with ``|``; annotations as JSON.

    Lines are built by hand (RFC 4180, CRLF): ``csv.writer`` spends most of its time
    doubling the quotes of the annotations JSON one character at a time; ``str.replace``
    does that several times faster.
    """

    ext = "csv"

    def __init__(self, opener: Callable[[str], TextIO], options: ExportOptions,
                 label_names: Sequence[str], single_label: bool):
        super().__init__(opener)
        self.context = options.include_context
        self.embed = options.embed_annotations
        self.single = single_label
        self.cell = _same if options.csv_exact else neutralise
        self.header = ",".join(dataset_columns(single_label, options.include_context,
                                               options.embed_annotations)) + "\r\n"
        self.split_cell = {n: ("" if n == splits.NO_SPLIT else n)
                           for n in splits.names(options.ratios)}

    def _open(self, split: str) -> TextIO:
        h = super()._open(split)
        h.write(self.header)
        return h

    def write(self, split: str, pid: str, g: Gold, row: Sequence) -> None:
        """One CSV line; ``row`` as ``db.export.iter_sentences`` yields it."""
        cell = self.cell
        parts = [csv_field(cell(pid)), csv_field(cell(row[4]))]
        if self.single:
            parts += [g.label, str(g.label_id), g.pipe]  # label names: never quoted
        else:
            parts += [g.pipe, g.ids_pipe]
        parts += [g.source, self.split_cell[split], csv_field(cell(row[1])),
                  csv_field(cell(row[2])), str(row[3]), str(row[9]), str(row[10]),
                  str(row[6]), g.agreement_csv]
        if self.embed:
            parts.append('"' + row[8].replace('"', '""') + '"')  # JSON: never a formula
        if self.context:
            parts += [csv_field(cell(row[11])), csv_field(cell(row[12]))]
        h = self.handles.get(split) or self._open(split)
        h.write(",".join(parts) + "\r\n")


class ParquetSink:
    """``<split>.parquet``: the dataset columns with a declared schema
    (``labeling.export_schema.arrow_schema``), written in row groups of ``ROW_GROUP``
    sentences so memory stays flat. A split's file is created at its first row group."""

    ext = "parquet"
    ROW_GROUP = 30_000  # sentences held in memory at most, over all splits

    def __init__(self, folder: Path, options: ExportOptions, label_names: Sequence[str],
                 single_label: bool):
        self.folder = folder
        self.single = single_label
        self.embed = options.embed_annotations
        self.context = options.include_context
        self.columns = dataset_columns(single_label, options.include_context,
                                       options.embed_annotations)
        self.schema = export_schema.arrow_schema(self.columns, label_names)
        self.names = arrow().array(list(label_names), arrow().string())
        self.split_value = {n: (None if n == splits.NO_SPLIT else n)
                            for n in splits.names(options.ratios)}
        self.buffers: dict[str, list[tuple]] = {}
        self.buffered = 0
        self.writers: dict = {}

    def write(self, split: str, pid: str, g: Gold, row: Sequence) -> None:
        """Buffer one sentence (only the values written, not the whole row); once
        ``ROW_GROUP`` sentences are buffered over all splits, each split's buffer
        becomes a row group (so memory stays at one row group, however the splits
        fill)."""
        buf = self.buffers.get(split)
        if buf is None:
            buf = self.buffers[split] = []
        extra = ((json.loads(row[8]),) if self.embed else ()) + (
            (row[11], row[12]) if self.context else ())
        buf.append((pid, g, row[4], row[1], row[2], row[3], row[9], row[10], row[6], extra))
        self.buffered += 1
        if self.buffered >= self.ROW_GROUP:
            for name in list(self.buffers):
                self._flush(name)
            self.buffered = 0

    def _columns(self, split: str, buf: list[tuple]) -> list:
        """The buffered sentences as columns (lists or Arrow arrays), in
        ``self.columns`` order. One list comprehension per column is several times
        cheaper than a dozen appends per sentence; the label lists are built from their
        class ids (offsets + values), because converting Python tuples into an Arrow
        list column cost more than all the other columns together."""
        import pyarrow as pa

        ids = [b[1].ids for b in buf]
        offsets = pa.array(itertools.accumulate(map(len, ids), initial=0), pa.int32())
        flat = pa.array(itertools.chain.from_iterable(ids), pa.int64())
        labels = pa.ListArray.from_arrays(offsets, self.names.take(flat))
        cols: list = [[b[0] for b in buf], [b[2] for b in buf]]
        if self.single:
            cols += [[b[1].label for b in buf], [b[1].label_id for b in buf], labels]
        else:
            cols += [labels, pa.ListArray.from_arrays(offsets, flat)]
        cols += [[b[1].source for b in buf], [self.split_value[split]] * len(buf)]
        # article id, title, index, start, end, n annotators
        cols += [[b[i] for b in buf] for i in (3, 4, 5, 6, 7, 8)]
        cols.append([b[1].agreement for b in buf])
        cols += [[b[9][i] for b in buf] for i in range(len(self.columns) - len(cols))]
        return cols

    def _flush(self, split: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buf = self.buffers[split]
        if not buf:
            return
        arrays = [col if isinstance(col, pa.Array) else pa.array(col, type=f.type)
                  for col, f in zip(self._columns(split, buf), self.schema)]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        writer = self.writers.get(split)
        if writer is None:
            writer = self.writers[split] = pq.ParquetWriter(
                self.folder / f"{split}.{self.ext}", self.schema, compression="zstd")
        writer.write_table(table, row_group_size=self.ROW_GROUP)
        self.buffers[split] = []

    def close(self) -> None:
        """Write what is buffered and close every file."""
        try:
            for split in list(self.buffers):
                self._flush(split)
        finally:
            for w in self.writers.values():
                w.close()


def dataset_sinks(folder: Path, options: ExportOptions, label_names: Sequence[str],
                  single_label: bool) -> list[ParquetSink | JsonlSink | CsvSink]:
    """A sink per chosen dataset format, writing ``<split>.<format>`` into ``folder``."""
    sinks: list[ParquetSink | JsonlSink | CsvSink] = []
    for f in options.dataset_formats:
        if f == "parquet":
            sinks.append(ParquetSink(folder, options, label_names, single_label))
        else:
            sink_type = JsonlSink if f == "jsonl" else CsvSink
            sinks.append(sink_type(file_opener(folder, f), options, label_names, single_label))
    return sinks


def write_raw_jsonl(conn, folder: Path, cfg: ProjectConfig, options: ExportOptions) -> None:
    """``annotations.jsonl``: every annotation, any status (JSON rendered by SQLite)."""
    with open(folder / raw_file("jsonl"), "w", encoding="utf-8", newline="",
              buffering=BUFFER) as fh:
        for chunk in export_db.iter_raw_jsonl(conn):
            fh.writelines(chunk)


def write_raw_csv(conn, folder: Path, cfg: ProjectConfig, options: ExportOptions) -> None:
    """``annotations.csv``: every annotation, any status (lines rendered by SQLite)."""
    with open(folder / raw_file("csv"), "w", encoding="utf-8", newline="",
              buffering=BUFFER) as fh:
        fh.write(",".join(export_db.RAW_COLUMNS) + "\r\n")
        for chunk in export_db.iter_raw_csv(conn, label_names=cfg.label_names,
                                            exact=options.csv_exact):
            fh.writelines(chunk)


def write_raw_parquet(conn, folder: Path, cfg: ProjectConfig, options: ExportOptions) -> None:
    """``annotations.parquet``: every annotation, any status, in the order of
    ``annotations.jsonl`` (sentence id, then annotator id), a row group per
    ``RAW_ROW_GROUP`` annotations (memory stays flat).

    Rows come from SQLite packed into few values (``db.export.iter_raw_packed``) and
    are unpacked column-wise with numpy and Arrow: public ids and names by position,
    the few distinct label lists, sources and versions by their codes."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pa = arrow()

    def lookup(pairs: list[tuple]) -> tuple[pa.Array, pa.Array]:
        return (pa.array([p[0] for p in pairs], pa.int64()),
                pa.array([p[1] for p in pairs], pa.string()))

    schema = export_schema.raw_arrow_schema()
    name_ids, names = lookup(list(annotators_db.names_by_id(conn).items()))
    article_ids, externals = lookup(export_db.article_external_ids(conn))
    # Public ids of every sentence, and where each sentence id's is: a dense array
    # (ids are dense), so a chunk maps its sentence ids with one numpy take.
    where = np.zeros(articles_db.max_sentence_id(conn) + 1, np.int64)
    parts, done = [], 0
    for places in export_db.sentence_places(conn):
        ids, arts, idxs = zip(*places)
        where[np.array(ids, np.int64)] = np.arange(done, done + len(ids))
        done += len(ids)
        parts.append(pc.binary_join_element_wise(
            externals.take(pc.index_in(pa.array(arts, pa.int64()), value_set=article_ids)),
            pa.array(idxs, pa.int64()).cast(pa.string()), ":"))
    pids = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    distinct = export_db.raw_distinct(conn)
    label_lists = pa.array([json.loads(v) if v else [] for v in distinct["labels"]],
                           pa.list_(pa.string()))
    sources = pa.array(distinct["source"], pa.string())
    versions = pa.array([None if v is None else str(v)
                         for v in distinct["guidelines_version"]], pa.string())
    n_labels, n_sources = max(len(label_lists), 1), max(len(sources), 1)
    status = pa.array(["labeled", "skipped"], pa.string())
    mask = (1 << export_db.ANNOTATOR_BITS) - 1
    with pq.ParquetWriter(folder / raw_file("parquet"), schema, compression="zstd") as writer:
        for rows in export_db.iter_raw_packed(conn, distinct, RAW_ROW_GROUP):
            keys, codes, duration, created, updated, note = zip(*rows)
            if None in codes:  # a value missing from `distinct`: not one snapshot
                raise RuntimeError("annotations changed while annotations.parquet was read")
            keys = np.array(keys, np.int64)
            codes = np.array(codes, np.int64)
            kinds = codes >> 2
            created_at = pa.array(created, pa.string())
            columns = [
                pids.take(where[keys >> export_db.ANNOTATOR_BITS]),
                names.take(pc.index_in(pa.array(keys & mask), value_set=name_ids)),
                status.take(pa.array(codes & 1)),
                label_lists.take(pa.array(kinds % n_labels)),
                pa.array((codes & 2) != 0),
                pa.array(note, pa.string()),
                pa.array(duration, pa.int64()),
                created_at,
                pc.coalesce(pa.array(updated, pa.string()), created_at),
                sources.take(pa.array(kinds // n_labels % n_sources)),
                versions.take(pa.array(kinds // n_labels // n_sources)),
            ]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


#: The raw files by name of the task that writes them (tasks run in the exporting
#: process or in a ``labeling.export_worker`` process).
RAW_TASKS: dict[str, Callable[..., None]] = {
    "parquet": write_raw_parquet, "jsonl": write_raw_jsonl, "csv": write_raw_csv}
