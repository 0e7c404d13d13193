"""The columns of an export, said once: their order, their meaning (the card's field
table), their Parquet type and their Hugging Face ``datasets`` feature (the card's
``dataset_info``), plus ``labels.json`` (pure).

Every writer takes its column list from :func:`dataset_columns`, so the files, the card
and the YAML block that ``datasets.load_dataset(export_dir)`` reads can never disagree.

Why ``label`` is a plain string column in Parquet and not a dictionary column: the card
declares it a ``class_label`` with the scheme's names, which is how ``datasets`` builds a
``ClassLabel``, and ``datasets`` 5.2 fails to cast a Parquet dictionary column to one
(``Failed to parse string ... as a scalar of type int64``; a plain string column casts).
The class ids are in ``label_id`` (and ``labels.json``, and the Parquet schema's
``parley.labels`` metadata), so pandas and pyarrow users have them without ``datasets``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: column -> (type as the card says it, meaning). Types: "string", "string?" (may be
#: null), "int", "label" (a class of the scheme), "labels" (a list of them), "ids"
#: (a list of class ids), "annotations" (a list of objects).
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("string", "public sentence id `<article_id>:<sentence_index>`"),
    "text": ("string", "the sentence, byte for byte as stored"),
    "label": ("label", "the gold label (single-label projects)"),
    "label_id": ("int", "the gold label's class id, its position in `labels.json`"),
    "labels": ("labels", "the gold labels, sorted (CSV: joined with a bar, \\|)"),
    "label_ids": ("ids", "the gold labels' class ids (CSV: joined with a bar, \\|)"),
    "gold_source": ("string", ("rule that produced the label: adjudicated, unanimous, "
                               "majority or single")),
    "split": ("string?", "train, dev or test (null without splits; CSV: empty)"),
    "article_id": ("string", "the article's external id"),
    "article_title": ("string?", "the article's headline"),
    "sentence_index": ("int", "position of the sentence in its article (0-based)"),
    "start": ("int", "character offset of the sentence's start in its article's text"),
    "end": ("int", "character offset just after the sentence's end"),
    "n_annotators": ("int", "how many annotators labeled the sentence"),
    "agreement": ("float?", ("share of pairs of the sentence's annotators who gave the same "
                             "labels (null with fewer than two)")),
    "annotations": ("annotations", ("every label of the sentence: {annotator, labels, "
                                    "note, duration_ms, created_at} (CSV: JSON text; "
                                    "only with --embed-annotations)")),
    "context_before": ("string?", "previous content sentence of the article"),
    "context_after": ("string?", "next content sentence of the article"),
}

_TYPE_TEXT = {"string": "string", "string?": "string or null", "int": "integer",
              "float?": "number or null",
              "label": "class label", "labels": "list of class labels",
              "ids": "list of integers", "annotations": "list of objects"}

#: The raw annotation files' columns, in file order (``db.export.RAW_COLUMNS``).
RAW_COLUMNS: dict[str, tuple[str, str]] = {
    "sentence_id": ("string", "public sentence id"),
    "annotator": ("string", "annotator name"),
    "status": ("string", "labeled or skipped"),
    "labels": ("strings", ("the annotator's labels, as stored (empty for a skip; CSV: "
                           "joined with a bar, \\|)")),
    "flagged": ("bool", "the annotator flagged the sentence"),
    "note": ("string?", "the annotator's note"),
    "duration_ms": ("int?", "time spent on the sentence"),
    "created_at": ("string", "first action (UTC, ISO 8601)"),
    "updated_at": ("string", "last action (UTC, ISO 8601)"),
    "source": ("string?", "where the label came from (app, cli, import:…)"),
    "guidelines_version": ("string?", "guidelines in force when labeled"),
}
_RAW_TYPE_TEXT = {"string": "string", "string?": "string or null", "strings": "list of strings",
                  "bool": "boolean", "int?": "integer or null"}


def dataset_columns(single_label: bool, include_context: bool,
                    embed_annotations: bool = False) -> list[str]:
    """Field names of a dataset record, in file order."""
    cols = ["id", "text"]
    cols += ["label", "label_id", "labels"] if single_label else ["labels", "label_ids"]
    cols += ["gold_source", "split", "article_id", "article_title", "sentence_index", "start",
             "end", "n_annotators", "agreement"]
    if embed_annotations:
        cols.append("annotations")
    if include_context:
        cols += ["context_before", "context_after"]
    return cols


def field_table(columns: Sequence[str]) -> list[str]:
    """Markdown rows (with header) of the dataset's fields, then of the raw files'."""
    out = ["| field | type | meaning |", "|---|---|---|"]
    out += [f"| {c} | {_TYPE_TEXT[COLUMNS[c][0]]} | {COLUMNS[c][1]} |" for c in columns]
    out += ["", ("Raw annotations (`annotations.*`), one row per sentence and annotator, "
                 "skips included:"), "", "| field | type | meaning |", "|---|---|---|"]
    out += [f"| {c} | {_RAW_TYPE_TEXT[t]} | {m} |" for c, (t, m) in RAW_COLUMNS.items()]
    return out


# ----------------------------------------------------------------------------- labels.json


def labels_document(cfg: Any) -> dict[str, Any]:
    """``labels.json``: the scheme in class-id order, as training code needs it."""
    labels = [{"id": i, "name": lab.name, "key": lab.key, "description": lab.description}
              for i, lab in enumerate(cfg.labels)]
    return {
        "labels": labels,
        "label2id": {lab.name: i for i, lab in enumerate(cfg.labels)},
        "id2label": {str(i): lab.name for i, lab in enumerate(cfg.labels)},
        "multi_label": bool(cfg.multi_label),
        "guidelines_version": cfg.guidelines_version,
        "project": cfg.name,
    }


def labels_text(cfg: Any) -> str:
    """``labels.json`` as written (indented, UTF-8, a final newline)."""
    return json.dumps(labels_document(cfg), ensure_ascii=False, indent=2) + "\n"


# ----------------------------------------------------------------------------- Parquet


def arrow_schema(columns: Sequence[str], label_names: Sequence[str]) -> pa.Schema:
    """The Parquet schema of a dataset file with ``columns``; the scheme's names, in
    class-id order, go in the schema's metadata (``parley.labels``)."""
    import pyarrow as pa

    annotation = pa.struct([("annotator", pa.string()), ("labels", pa.list_(pa.string())),
                            ("note", pa.string()), ("duration_ms", pa.int64()),
                            ("created_at", pa.string())])
    types = {"string": pa.string(), "string?": pa.string(), "int": pa.int64(),
             "float?": pa.float64(),
             "label": pa.string(), "labels": pa.list_(pa.string()),
             "ids": pa.list_(pa.int64()), "annotations": pa.list_(annotation)}
    fields = [pa.field(c, types[COLUMNS[c][0]], nullable=COLUMNS[c][0].endswith("?"))
              for c in columns]
    return pa.schema(fields, metadata={"parley.labels": json.dumps(list(label_names))})


def raw_arrow_schema() -> pa.Schema:
    """The Parquet schema of ``annotations.parquet``."""
    import pyarrow as pa

    types = {"string": pa.string(), "string?": pa.string(), "strings": pa.list_(pa.string()),
             "bool": pa.bool_(), "int?": pa.int64()}
    return pa.schema([pa.field(c, types[t], nullable=t.endswith("?"))
                      for c, (t, _) in RAW_COLUMNS.items()])


# ----------------------------------------------------------------------------- datasets


def _class_label(label_names: Sequence[str]) -> dict[str, Any]:
    return {"class_label": {"names": {str(i): n for i, n in enumerate(label_names)}}}


def features(columns: Sequence[str], label_names: Sequence[str], fmt: str) -> list[dict]:
    """The card's ``dataset_info.features``: every column of a ``fmt`` file, typed as
    ``datasets`` reads it; ``label`` (and ``labels``' items) as ``class_label`` with the
    scheme's names. CSV cells are text, so lists there are strings."""
    annotation = {"struct": [{"name": "annotator", "dtype": "string"},
                             {"name": "labels", "list": "string"},
                             {"name": "note", "dtype": "string"},
                             {"name": "duration_ms", "dtype": "int64"},
                             {"name": "created_at", "dtype": "string"}]}
    out = []
    for c in columns:
        kind = COLUMNS[c][0]
        if kind == "label":
            out.append({"name": c, "dtype": _class_label(label_names)})
        elif kind == "int":
            out.append({"name": c, "dtype": "int64"})
        elif kind == "float?":
            out.append({"name": c, "dtype": "float64"})
        elif fmt == "csv" or kind in ("string", "string?"):
            out.append({"name": c, "dtype": "string"})
        elif kind == "labels":
            out.append({"name": c, "list": _class_label(label_names)})
        elif kind == "ids":
            out.append({"name": c, "list": "int64"})
        else:  # annotations
            out.append({"name": c, "list": annotation})
    return out


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` value for ``n`` examples."""
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < bound:
            return name
    return "10M<n<100M"


def to_yaml(value: Any, indent: int = 0) -> list[str]:
    """A small YAML emitter for the card's metadata block (mappings, lists, strings,
    numbers, booleans). Written by hand because PyYAML is not a runtime dependency; every
    string is emitted as a JSON string, which YAML reads as a double-quoted scalar, so no
    name or title can break the block."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            key = k if _BARE_KEY.fullmatch(str(k)) else json.dumps(str(k), ensure_ascii=False)
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{key}:")
                lines += to_yaml(v, indent + 2)
            else:
                lines.append(f"{pad}{key}: {_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines


_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _scalar(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(str(v), ensure_ascii=False)
