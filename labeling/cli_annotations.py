"""``python -m labeling import-annotations`` and ``agreement``: bringing labels in and
measuring how far annotators agree on them (added to the group in labeling/cli.py)."""

from __future__ import annotations

import math
from pathlib import Path

import click

from db import DatabaseError
from labeling import annotations_io, reliability
from labeling.cli_common import Ctx, echo_json, json_option, pass_ctx, user_errors

# The agreement --json contract: exactly these keys, in this order.
AGREEMENT_KEYS = ("units", "pairable_units", "annotators", "labels", "percent_agreement",
                  "unanimous_share", "krippendorff_alpha", "krippendorff_alpha_ci95",
                  "fleiss_kappa", "gwet_ac1", "cohen_kappa", "mean_cohen_kappa", "per_label",
                  "notes")


@click.command("import-annotations")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@json_option(help='Print {"rows", "imported", "annotators_created", "over_target", '
                  '"errors"} as JSON.')
@pass_ctx
def import_annotations(ctx: Ctx, path: Path, as_json: bool) -> None:
    """Import existing labels from a CSV or JSONL file (all rows or none).

    Columns: sentence_id (public id <article>:<index>) or text (exact content sentence),
    annotator (created on first use), label or labels (JSON list, or a|b in CSV),
    optional note, created_at (ISO 8601) and duration_ms. Every row becomes a label event
    with source import:<file name>. Labels are accepted past a sentence's target
    (historical data); over_target counts them.

    \b
    Example:
      python -m labeling import-annotations old_labels.csv
      python -m labeling import-annotations pilot.jsonl --json
    """
    db = ctx.db
    with user_errors(DatabaseError):
        try:
            report = annotations_io.import_annotations(db, path)
        except annotations_io.AnnotationImportError as exc:
            # Nothing was imported: the JSON report still lists every problem.
            if as_json:
                echo_json(annotations_io.AnnotationImportReport(rows=exc.rows,
                                                      errors=exc.errors).as_dict())
            raise click.ClickException(_nothing_imported(exc)) from None
    if as_json:
        echo_json(report.as_dict())
        return
    click.echo(f"imported {report.imported} labels from {path.name} "
               f"({report.annotators_created} annotators created)", err=True)
    if report.over_target:
        click.echo(f"note: {report.over_target} labels went beyond their sentence's target "
                   "(accepted: imports are historical data)", err=True)


def _nothing_imported(exc: annotations_io.AnnotationImportError) -> str:
    if len(exc.errors) == 1:  # the common case: one line, naming file and line
        return f"nothing imported: {exc.errors[0]}"
    return (f"nothing imported; {len(exc.errors)} problems:\n"
            + "\n".join(f"  {e}" for e in exc.errors))


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.3f}"
    return str(value)


@click.command("agreement")
@json_option(help="Print the report as one JSON object.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="N", help="Bootstrap replicates for alpha's 95% interval (e.g. 1000).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed of the bootstrap (same seed, same interval).")
@pass_ctx
@user_errors(DatabaseError)
def agreement_cmd(ctx: Ctx, as_json: bool, bootstrap: int, seed: int) -> None:
    """Inter-annotator agreement over every sentence with labels (skips do not count).

    Krippendorff's alpha (nominal; MASI distance in multi-label projects), Fleiss' kappa,
    Gwet's AC1, Cohen's kappa per pair, alpha per label. A value that is not defined is
    null (n/a) and the notes say why.

    \b
    Example:
      python -m labeling agreement
      python -m labeling agreement --json --bootstrap 1000 --seed 1
    """
    rep = reliability.report(ctx.read_db, bootstrap=bootstrap, seed=seed)
    rep = {k: rep[k] for k in AGREEMENT_KEYS}
    if as_json:
        echo_json(rep)
        return
    ci = rep["krippendorff_alpha_ci95"]
    rows = [
        ("units (sentences with a label)", rep["units"]),
        ("pairable units (>= 2 labels)", rep["pairable_units"]),
        ("annotators", len(rep["annotators"])),
        ("percent agreement", rep["percent_agreement"]),
        ("unanimous share", rep["unanimous_share"]),
        ("Krippendorff's alpha", rep["krippendorff_alpha"]),
    ]
    if ci is not None:
        rows.append(("  95% CI (bootstrap)", f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"))
    rows += [("Fleiss' kappa", rep["fleiss_kappa"]), ("Gwet's AC1", rep["gwet_ac1"]),
             ("mean Cohen's kappa", rep["mean_cohen_kappa"])]
    for name, value in rows:
        click.echo(f"{name:<32}{_fmt(value):>10}")
    if rep["per_label"]:
        click.echo("\nper label                        alpha         n")
        for label, v in rep["per_label"].items():
            click.echo(f"  {label:<30}{_fmt(v['alpha']):>10}{v['n']:>10}")
    if rep["cohen_kappa"]:
        click.echo("\nCohen's kappa per pair")
        for pair, k in rep["cohen_kappa"].items():
            click.echo(f"  {pair:<30}{_fmt(k):>10}")
    if rep["notes"]:
        click.echo("\nnotes")
        for note in rep["notes"]:
            click.echo(f"  - {note}")
