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

from labeling import splits

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


def _fields(columns: Sequence[str], single: bool) -> list[str]:
    meaning = {
        "id": ("string", "public sentence id `<article_id>:<sentence_index>`"),
        "text": ("string", "the sentence, byte for byte as stored"),
        "label": ("string", "the gold label (single-label projects only)"),
        "labels": ("list of strings", "the gold labels, sorted (CSV: joined with a bar, \\|)"),
        "gold_source": ("string", ("rule that produced the label: adjudicated, unanimous, "
                                   "majority or single")),
        "split": ("string or null", "train, dev or test (null without splits; CSV: empty)"),
        "article_id": ("string", "the article's external id"),
        "article_title": ("string or null", "the article's headline"),
        "sentence_index": ("integer", "position of the sentence in its article (0-based)"),
        "n_annotators": ("integer", "how many annotators labeled the sentence"),
        "annotations": ("list of objects", ("every label of the sentence: {annotator, labels, "
                                            "note, duration_ms, created_at} (CSV: JSON text)")),
        "context_before": ("string or null", "previous content sentence of the article"),
        "context_after": ("string or null", "next content sentence of the article"),
    }
    out = ["| field | type | meaning |", "|---|---|---|"]
    out += [f"| {c} | {meaning[c][0]} | {meaning[c][1]} |" for c in columns]
    out += ["", ("Raw annotations (`annotations.jsonl` / `annotations.csv`), one row per "
                 "sentence and annotator, skips included:"), "",
            "| field | type | meaning |", "|---|---|---|",
            "| sentence_id | string | public sentence id |",
            "| annotator | string | annotator name |",
            "| status | string | labeled or skipped |",
            ("| labels | list of strings | the annotator's labels, as stored (empty for a "
             "skip; CSV: joined with a bar, \\|) |"),
            "| flagged | boolean | the annotator flagged the sentence |",
            "| note | string or null | the annotator's note |",
            "| duration_ms | integer or null | time spent on the sentence |",
            "| created_at / updated_at | string | first / last action (UTC, ISO 8601) |",
            "| source | string | where the label came from (app, cli, import:…) |",
            "| guidelines_version | string or null | guidelines in force when labeled |"]
    return out


def render(*, cfg: Any, options: Any, summary: Mapping[str, Any], counts: Mapping[str, int],
           label_counts: Counter, agreement: Mapping[str, Any], created: datetime,
           command: str, columns: Sequence[str]) -> str:
    """The card's markdown. Only the line starting with :data:`CREATED_PREFIX` depends on
    ``created``; everything else is a function of the data and the options."""
    names = splits.names(options.ratios)
    rows = summary["rows"]
    exported = sum(rows.values())
    excluded = summary["excluded"]
    multi = bool(cfg.multi_label)
    annotators = list(agreement.get("annotators") or [])
    lines = [
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
        ("JSONL files hold one JSON object per line (UTF-8, every record has every field, "
         "null when empty); they load with `pandas.read_json(path, lines=True)` and as a "
         "Hugging Face `json` dataset (`text` and `label` columns)."),
        "",
        "## Fields",
        "",
        *_fields(columns, not multi),
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
