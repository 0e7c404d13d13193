"""The export's file writers: dataset records as JSONL and CSV, raw annotations.

A dataset sink receives every exported sentence from
``labeling.export_records.sentence_pass`` and writes one line per sentence into the file
of its split. Lines are built by hand from pre-encoded pieces (``export_records.Gold``),
which is what keeps a million-sentence export fast; the bytes are documented in the
dataset card (``labeling.export_card``). The raw annotation files are rendered by SQLite
(``db.export.iter_raw_jsonl`` / ``iter_raw_csv``) and only copied here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import db.export as export_db
from labeling import splits
from labeling.config import ProjectConfig
from labeling.export_options import RAW_FILES, ExportOptions
from labeling.export_records import Gold, dataset_columns, encode

_FORMULA = frozenset(export_db.FORMULA_PREFIXES)
BUFFER = 1 << 20


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


def open_split_files(folder: Path, names: Sequence[str], ext: str) -> dict[str, TextIO]:
    """``<folder>/<name>.<ext>`` for each split name, opened for writing (UTF-8, line
    ends as written)."""
    # closed by the sink's close(): the files stay open for the whole sentence pass
    return {n: open(folder / f"{n}.{ext}", "w", encoding="utf-8", newline="",  # noqa: SIM115
                    buffering=BUFFER) for n in names}


class _SplitSink:
    """Lines of one format, one output per split (``handles``: split name -> text file)."""

    def __init__(self, handles: Mapping[str, TextIO]):
        self.handles = dict(handles)

    def close(self) -> None:
        """Close every output."""
        for h in self.handles.values():
            h.close()


class JsonlSink(_SplitSink):
    """``<split>.jsonl``: one JSON object per line, keys in schema order."""

    ext = "jsonl"

    def __init__(self, handles: Mapping[str, TextIO], options: ExportOptions,
                 single_label: bool):
        super().__init__(handles)
        self.context = options.include_context
        self.split_json = {n: ("null" if n == splits.NO_SPLIT else encode(n))
                           for n in self.handles}

    def write(self, split: str, pid: str, g: Gold, row: Sequence) -> None:
        """One record; ``row`` as ``db.export.iter_sentences`` yields it."""
        ctx = ""
        if self.context:
            before, after = row[9], row[10]
            ctx = (',"context_before":' + ("null" if before is None else encode(before))
                   + ',"context_after":' + ("null" if after is None else encode(after)))
        title = row[2]
        self.handles[split].write(
            '{"id":' + encode(pid) + ',"text":' + encode(row[4]) + g.label_part
            + ',"labels":' + g.labels_json + ',"gold_source":"' + g.source
            + '","split":' + self.split_json[split] + ',"article_id":' + encode(row[1])
            + ',"article_title":' + ("null" if title is None else encode(title))
            + ',"sentence_index":' + str(row[3]) + ',"n_annotators":' + str(row[6])
            + ',"annotations":' + row[8] + ctx + "}\n")


class CsvSink(_SplitSink):
    """``<split>.csv``: the same columns; labels joined with ``|``; annotations as JSON.

    Lines are built by hand (RFC 4180, CRLF): ``csv.writer`` spends most of its time
    doubling the quotes of the annotations JSON one character at a time; ``str.replace``
    does that several times faster.
    """

    ext = "csv"

    def __init__(self, handles: Mapping[str, TextIO], options: ExportOptions,
                 single_label: bool):
        super().__init__(handles)
        self.context = options.include_context
        self.single = single_label
        self.cell = _same if options.csv_exact else neutralise
        header = ",".join(dataset_columns(single_label, options.include_context)) + "\r\n"
        for h in self.handles.values():
            h.write(header)
        self.split_cell = {n: ("" if n == splits.NO_SPLIT else n) for n in self.handles}

    def write(self, split: str, pid: str, g: Gold, row: Sequence) -> None:
        """One CSV line; ``row`` as ``db.export.iter_sentences`` yields it."""
        cell = self.cell
        parts = [csv_field(cell(pid)), csv_field(cell(row[4]))]
        if self.single:
            parts.append(csv_field(g.label))
        parts += [g.pipe, g.source, self.split_cell[split], csv_field(cell(row[1])),
                  csv_field(cell(row[2])), str(row[3]), str(row[6]),
                  '"' + row[8].replace('"', '""') + '"']  # a JSON array: never a formula
        if self.context:
            parts += [csv_field(cell(row[9])), csv_field(cell(row[10]))]
        self.handles[split].write(",".join(parts) + "\r\n")


#: Dataset file writers by format name (``raw`` is written separately: RAW_TASKS).
SINKS: dict[str, type[JsonlSink] | type[CsvSink]] = {"jsonl": JsonlSink, "csv": CsvSink}


def dataset_sinks(folder: Path, options: ExportOptions,
                  single_label: bool) -> list[JsonlSink | CsvSink]:
    """A sink per chosen dataset format, writing ``<split>.<format>`` into ``folder``."""
    names = splits.names(options.ratios)
    sinks = []
    try:
        for f in options.formats:
            if f in SINKS:
                handles = open_split_files(folder, names, SINKS[f].ext)
                sinks.append(SINKS[f](handles, options, single_label))
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return sinks


def write_raw_jsonl(conn, folder: Path, cfg: ProjectConfig, options: ExportOptions) -> None:
    """``annotations.jsonl``: every annotation, any status (JSON rendered by SQLite)."""
    with open(folder / RAW_FILES[0], "w", encoding="utf-8", newline="",
              buffering=BUFFER) as fh:
        for chunk in export_db.iter_raw_jsonl(conn):
            fh.writelines(chunk)


def write_raw_csv(conn, folder: Path, cfg: ProjectConfig, options: ExportOptions) -> None:
    """``annotations.csv``: every annotation, any status (lines rendered by SQLite)."""
    with open(folder / RAW_FILES[1], "w", encoding="utf-8", newline="",
              buffering=BUFFER) as fh:
        fh.write(",".join(export_db.RAW_COLUMNS) + "\r\n")
        for chunk in export_db.iter_raw_csv(conn, label_names=cfg.label_names,
                                            exact=options.csv_exact):
            fh.writelines(chunk)


#: The raw files by name of the task that writes them (tasks run in the exporting
#: process or in a ``labeling.export_worker`` process).
RAW_TASKS: dict[str, Callable[..., None]] = {"jsonl": write_raw_jsonl, "csv": write_raw_csv}
RAW_TASK_FILES = {"jsonl": RAW_FILES[0], "csv": RAW_FILES[1]}
