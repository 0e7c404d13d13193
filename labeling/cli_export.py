"""``python -m labeling export``: the dataset, its splits, raw annotations and card.

Added to the group in labeling/cli.py. A thin layer over ``labeling.export``:
option values are checked by click (exit 2), export failures become
``click.ClickException`` (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from db import DatabaseError
from labeling import export as exporter
from labeling import export_options
from labeling import gold, splits
from labeling.cli_common import (
    Ctx,
    echo_json,
    json_option,
    pass_ctx,
    progress_bar,
    user_errors,
)


def _parsed(parse, error: type[Exception]):
    """An option callback: the value as ``parse`` reads it; its ``error`` becomes click's
    bad-parameter message (a usage error, exit 2)."""
    def callback(ctx: click.Context, param: click.Parameter, value: str):
        try:
            return parse(value)
        except error as exc:
            raise click.BadParameter(str(exc)) from None
    return callback


@click.command("export")
@click.option("--out", "out", required=True, metavar="DIR", type=click.Path(),
              help="Folder to write into: new, empty, or holding an earlier export (only "
                   "the files its parley-manifest.json lists are replaced or removed).")
@click.option("--format", "formats", default=",".join(export_options.EXPORT_FORMATS), show_default=True,
              metavar="LIST", callback=_parsed(export_options.parse_formats, export_options.OptionError),
              help="Comma-separated: parquet, jsonl, csv (dataset files), raw (every "
                   "annotation: annotations.parquet with parquet, else annotations.jsonl "
                   "and .csv).")
@click.option("--gold", "policy", type=click.Choice(list(gold.POLICIES)),
              default=gold.DEFAULT_POLICY, show_default=True,
              help="Which sentences get a gold label: reviewer decisions only (adjudicated), "
                   "+ unanimous annotators, + strict majority (ties left out).")
@click.option("--splits", "ratios", default="0.8,0.1,0.1", show_default=True,
              metavar="R,R,R|none", callback=_parsed(splits.parse, splits.SplitSpecError),
              help="train,dev,test ratios summing to 1 (whole articles per split), or none.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the article-to-split hash and of the bootstrap.")
@click.option("--min-annotators", type=click.IntRange(min=1), default=2, show_default=True,
              help="Labels a sentence needs unless a reviewer decided (1: single labels count).")
@click.option("--include-context", is_flag=True,
              help="Add context_before / context_after (neighbouring sentences).")
@click.option("--csv-exact", is_flag=True,
              help="Write CSV cells untouched (default: neutralise formula-like cells).")
@click.option("--embed-annotations", is_flag=True,
              help="Also put every raw annotation of a sentence in its dataset row (the "
                   "annotations column; the raw set is always its own file with raw).")
@click.option("--force", is_flag=True,
              help="Write into a folder that holds other files and no Parley manifest: "
                   "files with the export's names are replaced, all others are kept.")
@json_option
@pass_ctx
def export_cmd(ctx: Ctx, out: str, formats, policy: str, ratios, seed: int,
               min_annotators: int, include_context: bool, csv_exact: bool,
               embed_annotations: bool, force: bool, as_json: bool) -> None:
    """Export gold-labeled sentences, raw annotations and a dataset card into DIR.

    Writes train/dev/test.parquet, .jsonl and .csv (dataset.* with --splits none; no
    file for an empty split), annotations.parquet (or .jsonl and .csv without parquet),
    labels.json (label ->
    id), README.md (a dataset card that Hugging Face datasets reads) and
    parley-manifest.json (every file written, with its size and SHA-256). Files appear only when complete. Exporting again into DIR replaces or
    removes only the files its manifest lists; a folder holding other files and no
    manifest is refused unless --force (which still never removes a file).

    \b
    Example:
      python -m labeling export --out dataset/ --json
      python -m labeling export --out gold/ --gold adjudicated --splits none --format jsonl
      python -m labeling export --out maj/ --gold majority --min-annotators 1 --include-context
    """
    target = Path(out)
    options = export_options.ExportOptions(
        formats=formats, gold_policy=policy, ratios=ratios, seed=seed,
        min_annotators=min_annotators, include_context=include_context, csv_exact=csv_exact,
        embed_annotations=embed_annotations)
    # The bar only on a terminal, and never mixed into JSON output.
    with (user_errors(export_options.ExportError, DatabaseError),
          progress_bar(not as_json and sys.stderr.isatty(), length=100,
                       label="exporting") as bar):
        progress = (None if bar is None
                    else lambda f, _m: bar.update(int(f * 100) - bar.pos))
        summary = exporter.export(ctx.read_db, target, options, progress=progress,
                                  command=options.command(out), force=force)
    if as_json:
        echo_json({k: summary[k] for k in ("out", "files", "rows", "excluded", "gold_policy",
                                           "seed", "gold_sources", "min_annotators", "splits",
                                           "annotations", "seconds")})
        return
    rows = ", ".join(f"{k} {v}" for k, v in summary["rows"].items())
    left = ", ".join(f"{k} {v}" for k, v in summary["excluded"].items() if v) or "none"
    click.echo(f"{sum(summary['rows'].values())} sentences exported to {out} ({rows}); "
               f"left out: {left}")
