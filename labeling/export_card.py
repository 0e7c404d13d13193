"""The dataset card (``README.md``) of an export: what is in it, how it was made.

Pure: ``render`` turns the export's counts and agreement report into markdown. The date
is a parameter, so two exports of the same data differ only in the ``Created:`` line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from labeling import export_schema, splits

CREATED_PREFIX = "Created: "

POLICY_TEXT = {
    "adjudicated": "reviewer decisions only",
    "unanimous": "a reviewer's decision, else the label every annotator of the sentence gave",
    "majority": ("a reviewer's decision, else the label every annotator gave, else the label "
                 "given by more than half of them; ties are left out, never broken at random"),
}
SOURCE_TEXT = {
    "adjudicated": "decided by a reviewer",
    "unanimous": "every annotator of the sentence gave this label",
    "majority": "more than half of the sentence's annotators gave this label",
    "single": "labeled by one annotator only (allowed by --min-annotators 1)",
}
REASON_TEXT = {
    "no_labels": "nobody labeled the sentence (yet)",
    "too_few_annotators": "fewer labels than --min-annotators and no reviewer decision",
    "disagreement": "annotators disagree and no reviewer decided",
    "tie": "two label sets share the top count (majority policy); never broken at random",
    "not_adjudicated": "no reviewer decision (adjudicated policy)",
    "unknown_label": ("the gold label is not in the project's label scheme (e.g. removed "
                      "from the config after it was used), so it has no class id"),
}

# Intraword underscores and brackets without a link target render as text in GFM.
# Markdown that could change what text means or fetch something: emphasis, code, links
# and images (``![x](http://...)`` in a project name would make every viewer of the card
# fetch it), HTML, tables, maths, headings.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]!<>|$~#])")


def _md(text: object) -> str:
    """Escape markdown in text that is not ours (names, notes)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _num(value: float | None, digits: int = 3) -> str:
    return "not defined" if value is None else f"{value:.{digits}f}"


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else str(n)


def _label_order(label_names: Sequence[str], counts: Counter) -> list[str]:
    extra = sorted({lab for (_, lab) in counts} - set(label_names))
    return list(label_names) + extra


def _balance(label_names: Sequence[str], names: Sequence[str], counts: Counter,
             rows: Mapping[str, int]) -> list[str]:
    labels = _label_order(label_names, counts)
    head = "| label | " + " | ".join(names) + (" | all |" if len(names) > 1 else " |")
    out = [head, "|" + "---|" * (len(names) + 1 + (len(names) > 1))]
    totals = {n: sum(counts[n, lab] for lab in labels) for n in names}
    grand = sum(totals.values())
    for lab in labels:
        cells = [_pct(counts[n, lab], totals[n]) for n in names]
        if len(names) > 1:
            cells.append(_pct(sum(counts[n, lab] for n in names), grand))
        out.append(f"| {lab} | " + " | ".join(cells) + " |")
    sent = [str(rows.get(n, 0)) for n in names]
    if len(names) > 1:
        sent.append(str(sum(rows.get(n, 0) for n in names)))
    out.append("| **sentences** | " + " | ".join(sent) + " |")
    return out


def _agreement(rep: Mapping[str, Any], options: Any, multi: bool) -> list[str]:
    ci = rep.get("krippendorff_alpha_ci95")
    if ci:
        ci_text = (f"95% interval [{ci[0]:.3f}, {ci[1]:.3f}] (percentile bootstrap, "
                   f"{options.bootstrap} resamples of sentences, seed {options.seed})")
    else:
        ci_text = "no interval (see notes)"
    alpha_kind = "MASI distance" if multi else "nominal"
    out = [
        (f"Computed on every labeled annotation, whatever the gold policy: "
         f"{rep.get('units', 0)} sentences with a label, {rep.get('pairable_units', 0)} of "
         f"them labeled by two or more annotators."),
        "",
        "| measure | value |",
        "|---|---|",
        (f"| Krippendorff's alpha ({alpha_kind}) | {_num(rep.get('krippendorff_alpha'))}; "
         f"{ci_text} |"),
        f"| Fleiss' kappa | {_num(rep.get('fleiss_kappa'))} |",
        f"| Mean pairwise Cohen's kappa | {_num(rep.get('mean_cohen_kappa'))} |",
        f"| Gwet's AC1 | {_num(rep.get('gwet_ac1'))} |",
        f"| Percent agreement (pairable sentences) | {_num(rep.get('percent_agreement'))} |",
        "",
        ("Krippendorff recommends alpha >= 0.800 for conclusions and >= 0.667 for tentative "
         "ones."),
    ]
    per_label = rep.get("per_label") or {}
    if per_label:
        out += ["", "| label | alpha (label vs rest) | sentences |", "|---|---|---|"]
        for lab, v in per_label.items():
            out.append(f"| {_md(lab)} | {_num(v.get('alpha'))} | {v.get('n', '')} |")
    notes = rep.get("notes") or []
    if notes:
        out += ["", "Notes:"] + [f"- {_md(n)}" for n in notes]
    return out


#: How ``datasets`` names Parley's splits (``dev`` is its ``validation``).
HF_SPLIT = {"train": "train", "dev": "validation", "test": "test", splits.NO_SPLIT: "train"}


def metadata(cfg: Any, options: Any, rows: Mapping[str, int], columns: Sequence[str]
             ) -> dict[str, Any]:
    """The card's YAML metadata block as data: what the Hugging Face Hub and
    ``datasets.load_dataset(export_dir)`` read. ``configs`` maps each non-empty split to
    its file in the first dataset format chosen (Parquet, else JSONL, else CSV), and
    ``dataset_info.features`` types every column of that file, ``label`` as a
    ``class_label`` with the scheme's names in class-id order."""
    exported = sum(rows.values())
    meta: dict[str, Any] = {
        "pretty_name": cfg.name,
        "language": ["en"],
        "task_categories": ["text-classification"],
        "task_ids": ["multi-label-classification" if cfg.multi_label
                     else "multi-class-classification"],
        "size_categories": [export_schema.size_category(exported)],
    }
    formats = options.dataset_formats
    present = [n for n in splits.names(options.ratios) if rows.get(n)]
    if formats and present:
        fmt = formats[0]
        meta["configs"] = [{"config_name": "default", "data_files": [
            {"split": HF_SPLIT[n], "path": f"{n}.{fmt}"} for n in present]}]
        # No ``splits`` list: datasets wants each split's ``num_bytes`` there, which the
        # Export page's preview (it writes no file) could not say; the card's text has
        # the row counts.
        meta["dataset_info"] = {
            "features": export_schema.features(columns, cfg.label_names, fmt)}
    return meta


def _front_matter(meta: Mapping[str, Any]) -> list[str]:
    return ["---", *export_schema.to_yaml(dict(meta)), "---", ""]


def split_front_matter(card: str) -> tuple[str, str]:
    """``(yaml, markdown)``: the card's metadata block (without its ``---`` lines) and
    the rest, to show each as what it is."""
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end != -1:
            return card[4:end + 1], card[end + 5:].lstrip("\n")
    return "", card


def _load_it(options: Any, present: Sequence[str], single: bool) -> list[str]:
    formats = options.dataset_formats
    if not formats or not present:
        return ["Nothing to load yet: this export has no dataset rows."]
    first = present[0]
    read = {"parquet": f'pd.read_parquet("{first}.parquet")',
            "jsonl": f'pd.read_json("{first}.jsonl", lines=True)',
            "csv": f'pd.read_csv("{first}.csv", keep_default_na=False)'}
    target = "label" if single else "labels"
    names = ", ".join(HF_SPLIT[n] for n in present)
    return [
        "With pandas:", "",
        "    import pandas as pd",
        f"    {first} = {read[formats[0]]}",
        "",
        "With Hugging Face `datasets` (reads the metadata block at the top of this file):",
        "",
        "    from datasets import load_dataset",
        f'    ds = load_dataset("path/to/this/folder")  # splits: {names}',
        f'    ds["{HF_SPLIT[first]}"].features["{target}"]'
        + (".names" if single else ".feature.names") + "  # the classes, in labels.json order",
        "",
        ("`labels.json` maps each label to its class id (`label_id`), with its description, "
         "its key and the guidelines version."),
    ]


def _empty_splits(options: Any, rows: Mapping[str, int]) -> list[str]:
    empty = [n for n in splits.names(options.ratios) if not rows.get(n)]
    if not empty:
        return []
    return ["", "Empty: " + ", ".join(f"`{n}`" for n in empty)
            + (" has" if len(empty) == 1 else " have")
            + " no sentence, so " + ("it has" if len(empty) == 1 else "they have")
            + " no files and " + ("is" if len(empty) == 1 else "are")
            + " not listed in the metadata block (`datasets` refuses a split without data). "
            "Whole articles go to one split and only sentences with a gold label are "
            "exported, so with few labeled articles a split can stay empty: label more "
            "articles, or export with other ratios or `--splits none`."]


def render(*, cfg: Any, options: Any, summary: Mapping[str, Any], counts: Mapping[str, int],
           label_counts: Counter, agreement: Mapping[str, Any], created: datetime,
           command: str, columns: Sequence[str]) -> str:
    """The card's markdown, after its YAML metadata block (:func:`metadata`). Only the
    line starting with :data:`CREATED_PREFIX` depends on ``created``; everything else is
    a function of the data and the options."""
    names = splits.names(options.ratios)
    rows = summary["rows"]
    exported = sum(rows.values())
    excluded = summary["excluded"]
    multi = bool(cfg.multi_label)
    annotators = list(agreement.get("annotators") or [])
    present = [n for n in names if rows.get(n)]
    lines = [
        *_front_matter(metadata(cfg, options, rows, columns)),
        f"# Dataset card: {_md(cfg.name)}",
        "",
        "Sentences of negotiation news labeled with Parley as "
        + ", ".join(cfg.label_names) + (" (several labels per sentence allowed)." if multi
                                        else " (one label per sentence)."),
        "",
        f"{CREATED_PREFIX}{created.strftime('%Y-%m-%d %H:%M:%S UTC')}",
        "",
        "Made with:",
        "",
        f"    {command}",
        "",
        "## Summary",
        "",
        "| | |",
        "|---|---|",
        f"| sentences exported | {exported} |",
    ]
    if options.ratios is not None:
        lines.append("| per split | " + ", ".join(f"{n} {rows[n]}" for n in names) + " |")
    lines += [
        f"| left out | {sum(excluded.values())} of {counts['content']} content sentences |",
        f"| gold policy | `{options.gold_policy}`: {POLICY_TEXT[options.gold_policy]} |",
        f"| minimum annotators | {options.min_annotators} (unless a reviewer decided) |",
        f"| splits | {splits.format_ratios(options.ratios)}"
        + (f", grouped by article, seed {options.seed} |" if options.ratios else " |"),
        f"| annotations (raw) | {summary.get('annotations', 0)} |",
        f"| guidelines version | `{_md(cfg.guidelines_version)}` |",
        *_empty_splits(options, rows),
        "",
        "## Load it",
        "",
        *_load_it(options, present, not multi),
        "",
        "## Label balance per split",
        "",
        "Sentences per gold label" + (" (a sentence with several labels counts once per "
                                      "label)" if multi else "") + ":",
        "",
        *_balance(cfg.label_names, names, label_counts, rows),
        "",
        "## Where the gold labels come from",
        "",
        "| gold_source | sentences | meaning |",
        "|---|---|---|",
        *[f"| {s} | {n} | {SOURCE_TEXT[s]} |" for s, n in summary["gold_sources"].items()],
        "",
        "## Sentences left out",
        "",
        "| reason | sentences | meaning |",
        "|---|---|---|",
        *[f"| {r} | {n} | {REASON_TEXT.get(r, r)} |" for r, n in excluded.items()],
        "",
        (f"The corpus has {counts['articles']} articles and {counts['content']} content "
         f"sentences; {counts['boilerplate']} boilerplate units (bylines, photo credits, "
         "comment widgets) are never labeled and never exported."),
        "",
        "## Agreement",
        "",
        *_agreement(agreement, options, multi),
        "",
        "## Annotators",
        "",
        f"{len(annotators)} annotator(s) contributed labels"
        + (": " + ", ".join(f"`{_md(a)}`" for a in annotators) + "." if annotators else "."),
        "",
        "## Splits",
        "",
    ]
    if options.ratios is None:
        lines.append("No splits: every sentence is in `dataset.jsonl` / `dataset.csv`.")
    else:
        lines.append(
            "Whole articles go to one split, so no article is in two splits. An article's "
            "split is `sha256(\"<seed>:<article_id>\")` read as a number in [0, 1) and "
            "bucketed by the ratios: the same seed always gives the same splits, and "
            "articles added later never move a sentence that was already exported. With few "
            "articles the realised proportions can differ from the ratios.")
    lines += [
        "",
        "## Files",
        "",
        *[f"- `{f}`" for f in summary["files"]],
        "",
        ("`parley-manifest.json` lists every other file with its size and SHA-256 (check a "
         "copy with `sha256sum`). A new export into this folder replaces or removes only "
         "the files listed there; any other file in the folder is left alone."),
        "",
        ("Parquet files carry their schema (`label` a string, `label_id` its class id; the "
         "class names in order in the schema's `parley.labels` metadata). JSONL files hold "
         "one JSON object per line (UTF-8, every record has every field, null when empty). "
         "Dataset rows hold the gold label and its provenance; every raw annotation is in "
         "`annotations.*`" + (" and, with --embed-annotations, in each row's "
                              "`annotations` field." if options.embed_annotations
                              else " (export with --embed-annotations to also put them "
                              "in each row).")),
        "",
        "## Fields",
        "",
        *export_schema.field_table(columns),
        "",
        "## CSV files and spreadsheets",
        "",
    ]
    if options.csv_exact:
        lines.append(
            "Written with `--csv-exact`: every cell is the stored text, untouched. A cell "
            "that starts with `=`, `+`, `-`, `@`, a tab or a carriage return may run as a "
            "formula when the file is opened in a spreadsheet.")
    else:
        lines.append(
            "Spreadsheet-safe (OWASP CSV-injection guidance): every text cell that starts "
            "with `=`, `+`, `-`, `@`, a tab or a carriage return has a single quote `'` "
            "put in front of it, so that no spreadsheet runs it as a formula. To get the "
            "exact text back, remove that one leading `'` from such cells, or use the JSONL "
            "files (always exact), or export with `--csv-exact`.")
    lines += ["", "CSV files are UTF-8, comma-separated, RFC 4180 quoting, with a header row.",
              ""]
    return "\n".join(lines)
