"""The agreement report: every figure of a table in one JSON-serialisable dict, with the
reasons for undefined figures collected as data (:class:`Report`) and rendered as notes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labeling.agreement.bootstrap import bootstrap_interval
from labeling.agreement.coefficients import (
    Figure,
    fleiss_figure,
    gwet_figure,
    krippendorff_figure,
    per_label_figures,
    percent_agreement_figure,
    table_labels,
    unanimous_share_figure,
)
from labeling.agreement.counts import Summary
from labeling.agreement.encode import LabelTable, Units, as_table
from labeling.agreement.pairs import mean_defined, pairwise_figures


def _summarise_pairs(reasons: Mapping[str, str]) -> list[str]:
    """One note per distinct reason, naming up to 10 pairs (a 20-person team has 190 pairs)."""
    by_reason: dict[str, list[str]] = {}
    for key, why in sorted(reasons.items()):
        by_reason.setdefault(why, []).append(key)
    notes = []
    for why, keys in by_reason.items():
        shown = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
        notes.append(f"cohen_kappa: {why.replace('not defined', 'not defined for ' + shown)}")
    return notes


@dataclass(frozen=True)
class Report:
    """A report as data: ``figures`` (the JSON dict :func:`report` returns) and
    ``reasons``: why each undefined figure is not defined, ``{figure: reason}`` with
    ``per_label`` and ``cohen_kappa`` mapping to ``{label or "a|b": reason}``."""

    figures: dict[str, Any]
    reasons: dict[str, Any]


def report(
    units: Units | LabelTable,
    labels: Sequence[str] | None = None,
    *,
    multi_label: bool = False,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """All agreement figures for a project, JSON-serialisable, never NaN, never raising on data.

    Keys: ``units`` (units with any label), ``pairable_units`` (>= 2 labels), ``annotators``
    (sorted names with >= 1 label), ``labels``, ``percent_agreement``, ``unanimous_share``,
    ``krippendorff_alpha`` (nominal; MASI when ``multi_label``), ``krippendorff_alpha_ci95``
    (``[low, high]`` percentile bootstrap over units when ``bootstrap`` > 0, else None),
    ``fleiss_kappa``, ``gwet_ac1`` (q = every label in ``labels`` plus observed extras;
    multi-label: q = observed label sets), ``cohen_kappa`` (``{"a|b": kappa}``),
    ``mean_cohen_kappa``, ``per_label`` (``{label: {"alpha", "n"}}``), ``notes`` (why a
    value is None, and conventions that apply). A value that is not defined is None and
    ``notes`` says why.
    """
    return build_report(units, labels, multi_label=multi_label, bootstrap=bootstrap,
                        seed=seed).figures


def build_report(
    units: Units | LabelTable,
    labels: Sequence[str] | None = None,
    *,
    multi_label: bool = False,
    bootstrap: int = 0,
    seed: int = 0,
) -> Report:
    """:func:`report` with the reasons for undefined figures kept as data (``Report``)."""
    # multi_label=False still detects label sets (then compared by exact match, with a note)
    # so that a project switched to multi-label never makes the report fail.
    table = as_table(units, labels=labels, multi_label=True if multi_label else None)
    p = Summary(table, patterns=bootstrap > 0)
    label_list = table_labels(table, labels)
    notes: list[str] = []
    reasons: dict[str, Any] = {}

    def take(name: str, figure: Figure) -> Any:
        if figure.reason is not None:
            reasons[name] = figure.reason
            notes.append(f"{name}: {figure.reason}")
        return figure.value

    if labels is not None:
        extra = [x for x in label_list if x not in set(labels)]
        if extra:
            notes.append(
                "labels: found labels outside the project's list, counted as categories: "
                + ", ".join(extra)
            )
    if multi_label:
        notes.append(
            "multi_label: krippendorff_alpha uses the MASI distance; percent agreement, "
            "kappa and AC1 treat each distinct label set as one category"
        )
    elif table.multi_label:
        notes.append(
            "multi_label: label sets found; compared by exact match (pass multi_label=True "
            "for Krippendorff's alpha with the MASI distance)"
        )

    percent = take("percent_agreement", percent_agreement_figure(p))
    unanimous = take("unanimous_share", unanimous_share_figure(p))
    alpha = take("krippendorff_alpha", krippendorff_figure(p, masi=multi_label))
    ci = None
    if bootstrap > 0:
        if alpha is None:
            take("krippendorff_alpha_ci95",
                 Figure(None, "not computed — alpha is not defined"))
        else:
            interval, dropped = bootstrap_interval(p, bootstrap, seed, 0.95, masi=multi_label)
            if dropped:
                notes.append(
                    f"krippendorff_alpha_ci95: {dropped} of {bootstrap} bootstrap replicates "
                    "drew a single category (alpha undefined) and were dropped"
                )
            if interval is None:
                take("krippendorff_alpha_ci95", Figure(None, "not defined — no usable replicate"))
            else:
                ci = [interval[0], interval[1]]
    fleiss = take("fleiss_kappa", fleiss_figure(p))
    gwet_categories = list(table.categories)
    if not table.multi_label:
        # A LabelTable may not list every project label; AC1 counts them all (as gwet_ac1).
        gwet_categories += [x for x in label_list if x not in set(gwet_categories)]
    ac1 = take("gwet_ac1", gwet_figure(p, gwet_categories))

    cohen, cohen_reasons = pairwise_figures(p)
    reasons["cohen_kappa"] = cohen_reasons
    notes.extend(_summarise_pairs(cohen_reasons))
    mean_kappa = mean_defined(cohen)
    if mean_kappa is None:
        take("mean_cohen_kappa",
             Figure(None, "not defined — no annotator pair has a defined kappa"))

    per_label, per_label_reasons = per_label_figures(p, label_list)
    reasons["per_label"] = per_label_reasons
    if p.n_pairable:  # with no pairable unit, the notes above already say so once per metric
        notes.extend(f"per_label[{name}]: {why}" for name, why in per_label_reasons.items())

    figures = {
        "units": p.n_units,
        "pairable_units": p.n_pairable,
        "annotators": [table.annotators[k] for k in p.active_annotators()],
        "labels": label_list,
        "percent_agreement": percent,
        "unanimous_share": unanimous,
        "krippendorff_alpha": alpha,
        "krippendorff_alpha_ci95": ci,
        "fleiss_kappa": fleiss,
        "gwet_ac1": ac1,
        "cohen_kappa": cohen,
        "mean_cohen_kappa": mean_kappa,
        "per_label": per_label,
        "notes": notes,
    }
    return Report(figures, reasons)
