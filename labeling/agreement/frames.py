"""The agreement report as tables for the Review page's charts (pure pandas, no I/O)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labeling.agreement.report import Report


def alpha_reading(alpha: float | None) -> str:
    """Krippendorff's reading of an alpha: ``reliable`` (>= .800), ``tentative``
    (>= .667: tentative conclusions only), ``unreliable`` (below), ``not defined``."""
    if alpha is None:
        return "not defined"
    if alpha >= 0.800:
        return "reliable"
    if alpha >= 0.667:
        return "tentative"
    return "unreliable"


def per_label_frame(report: Report) -> pd.DataFrame:
    """``label, alpha, n, note`` rows from the report's ``per_label``: alpha NaN when not
    defined, and then ``note`` says why (the report's reason, kept as data)."""
    why = report.reasons.get("per_label", {})
    rows = []
    for lab, v in report.figures.get("per_label", {}).items():
        alpha = v.get("alpha")
        rows.append((lab, np.nan if alpha is None else alpha, v.get("n", 0),
                     why.get(lab, "") if alpha is None else ""))
    return pd.DataFrame(rows, columns=["label", "alpha", "n", "note"])


def kappa_pairs_frame(figures: dict) -> pd.DataFrame:
    """``a, b, kappa`` for every ordered pair of annotators (both directions, so a
    heatmap is symmetric; NaN when not defined) from the report's ``cohen_kappa``."""
    rows = []
    for key, kappa in figures.get("cohen_kappa", {}).items():
        a, b = key.split("|", 1)
        value = np.nan if kappa is None else kappa
        rows += [(a, b, value), (b, a, value)]
    return pd.DataFrame(rows, columns=["a", "b", "kappa"])


def confusion_long(frame: pd.DataFrame) -> pd.DataFrame:
    """A confusion matrix (rows = first annotator's labels) as ``row, column, count``."""
    long = frame.rename_axis(index="row", columns="column").stack().rename("count")
    return long.reset_index()
