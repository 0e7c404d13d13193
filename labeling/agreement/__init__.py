"""Inter-annotator agreement on a units x annotators table (pure functions, no I/O).

Two input forms are accepted by every public function:

``Units``
    ``{unit_id: {annotator: label}}``. A label is a string (single-label projects) or a
    collection of strings (``frozenset``/``tuple``/``list``; multi-label projects). A cell may
    be absent; ``None``, NaN and an empty collection also count as missing. In single-label
    mode a one-element collection is unwrapped, so gold-style ``("demand",)`` works too.

``LabelTable``
    The same data pre-encoded, so that a DB layer can build it straight from a query
    (``LabelTable.from_codes``) without Python dicts. ``matrix`` has shape
    ``(n_units, n_annotators)`` and a signed integer dtype; ``matrix[u, a]`` is an index into
    ``categories`` or ``-1`` when annotator ``a`` did not label unit ``u``. ``categories`` holds
    strings (single-label) or ``frozenset`` of strings (multi-label: each distinct label *set*
    is one category). A table's ``categories`` are taken as the full category set, used or not.

Every coefficient is a function of sums over units, so the table is read in row blocks of
a few MB: the *cells* (non-missing entries) and the *pairs* of cells within a unit of each
block go through ``np.bincount`` (no Python loop per unit) into Krippendorff's coincidence
matrix, agreeing-pair shares, Gwet's prevalences and pairwise confusion counts, from which
alpha (any distance), per-label alpha, percent agreement, Fleiss' kappa, AC1 and Cohen's
kappas follow. A 1M-unit / 3M-label report takes ~0.2 s of CPU and ~35 MB beyond the table.
Degenerate data gives ``None`` (never NaN); ``report`` adds the reason to ``notes``.

Conventions (what is documented here is what the tests pin)
    * A unit is *pairable* when at least two annotators labelled it. Percent agreement,
      unanimous share and the observed agreement of every coefficient use pairable units only.
    * Krippendorff's alpha: coincidence matrix with 1/(m_u - 1) weights (Krippendorff 2011);
      units with one value are ignored. Reproduces 113/152 on Krippendorff's 2011 example.
    * Fleiss' kappa and Gwet's AC1 on incomplete data follow Gwet's Handbook (4th ed.) and
      ``irrCAC.raw.CAC.fleiss()/gwet()``: observed agreement p_a is averaged over units with
      >= 2 ratings; the category prevalences pi_k = mean over *every unit with >= 1 rating*
      of r_uk / r_u, so units with a single rating do enter the chance term. On complete data
      this is classic Fleiss (1971). AC1: p_e = sum_k pi_k (1 - pi_k) / (q - 1) where q is
      the number of categories, *including unused ones* when they are supplied.
    * Cohen's kappa for a pair uses the units both labelled, with each annotator's own
      marginals (equals ``sklearn.metrics.cohen_kappa_score``).
    * Multi-label: ``krippendorff_alpha_masi`` uses the MASI distance (Passonneau 2006, the
      same definition as NLTK 3.10's ``masi_distance``); kappa/AC1/percent agreement treat
      each distinct label set as one category (exact-set match).
    * Bootstrap CI of alpha: percentile interval, pairable units resampled with replacement,
      ``numpy.random.default_rng(seed)``; replicates with undefined alpha are dropped.
    * ``annotator_vs_rest``: strict majority (> half) of the other annotators; ties and
      pluralities are excluded and counted, never broken.

Modules, one job each: :mod:`~labeling.agreement.encode` (input forms, ``LabelTable``),
:mod:`~labeling.agreement.counts` (sums over units), :mod:`~labeling.agreement.coefficients`
(alpha, kappa, AC1, percent agreement), :mod:`~labeling.agreement.pairs` (per pair of
annotators, confusion matrices, annotator vs rest), :mod:`~labeling.agreement.bootstrap`,
:mod:`~labeling.agreement.report` (every figure plus reasons), and
:mod:`~labeling.agreement.frames` (the report as chart tables). This package re-exports
the public names.
"""

from labeling.agreement.bootstrap import bootstrap_alpha_ci
from labeling.agreement.coefficients import (
    Figure,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    krippendorff_alpha_masi,
    masi_distance,
    per_label_alpha,
    percent_agreement,
    unanimous_share,
)
from labeling.agreement.encode import Category, LabelTable, LabelTableError, Units
from labeling.agreement.pairs import (
    annotator_vs_rest,
    cohen_kappa,
    confusion_matrix,
    confusion_vs_gold,
    mean_cohen_kappa,
    pairwise_cohen,
)
from labeling.agreement.report import Report, build_report, report

__all__ = [
    "Category", "Figure", "LabelTable", "LabelTableError", "Report", "Units",
    "annotator_vs_rest", "bootstrap_alpha_ci", "build_report", "cohen_kappa",
    "confusion_matrix", "confusion_vs_gold", "fleiss_kappa", "gwet_ac1",
    "krippendorff_alpha", "krippendorff_alpha_masi", "masi_distance", "mean_cohen_kappa",
    "pairwise_cohen", "per_label_alpha", "percent_agreement", "report", "unanimous_share",
]
