"""``python -m labeling import``, ``sentences`` and ``article list|remove``: the
articles and their sentences. Added to the group in labeling/cli.py.
"""

from __future__ import annotations

import sys

import click

import db.articles as articles_db
from db import DatabaseError
from labeling import corpus, ingest
from labeling.cli_common import (
    Ctx,
    cli_actor,
    echo_json,
    json_option,
    pass_ctx,
    progress_bar,
    user_errors,
)

# The `article list --json` contract: exactly these keys, in this order.
LIST_KEYS = ("id", "title", "source", "imported_at", "sentences", "content_sentences",
             "labels", "gold")


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(ingest.ARTICLE_FORMATS), default="auto",
              show_default=True, help="File format; auto decides by extension.")
@click.option("--text-field", metavar="F", help="CSV/JSONL field with the article text.")
@click.option("--title-field", metavar="F", help="CSV/JSONL field with the headline.")
@click.option("--id-field", metavar="F", help="CSV/JSONL field with the article id.")
@click.option("--skip-bad", is_flag=True, help="Import the good rows and list the bad ones.")
@json_option
@pass_ctx
def import_(ctx: Ctx, paths, fmt, text_field, title_field, id_field, skip_bad, as_json) -> None:
    """Import articles from text/markdown, CSV or JSONL files, or folders of them.

    A file is imported whole or not at all; re-importing the same text is a no-op.
    Only regular files are read. In folders, symbolic links are skipped with a warning
    (a link named here is followed). A line or CSV record, and a text file, may hold at
    most 10 MiB: env PARLEY_MAX_FIELD_BYTES sets another limit.

    \b
    Example:
      python -m labeling import news.jsonl --text-field body --json
      python -m labeling import corpus/ --skip-bad
    """
    db = ctx.db
    fields = ingest.FieldMap(text=text_field, title=title_field, id=id_field)
    with user_errors(ingest.IngestError, DatabaseError):
        files = ingest.iter_files(paths)
        # A bar only for many files, and only on a terminal (never in scripts' output).
        with progress_bar(len(files) > 20 and sys.stderr.isatty(), length=len(files),
                          label="importing") as bar:
            report = ingest.import_paths(
                db, paths, fmt=fmt, fields=fields, skip_bad=skip_bad,
                progress=None if bar is None else lambda done, total, r: bar.update(1))
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(f"{report.articles_added} articles added ({report.sentences_added} sentences), "
                   f"{report.articles_skipped_duplicate} already present")
    for err in report.errors:
        click.echo(f"skipped: {err}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command()
@click.option("--article", "external_id", metavar="EXTERNAL_ID", help="Only this article.")
@json_option(help="One JSON object per line.")
@pass_ctx
def sentences(ctx: Ctx, external_id: str | None, as_json: bool) -> None:
    """List sentences (all kinds) with their public ids and offsets.

    \b
    Example:
      python -m labeling sentences --article 000_0a083b07f5e0d51c --json
    """
    db = ctx.read_db
    if external_id is not None and not articles_db.external_id_exists(db, external_id):
        raise click.ClickException(f"no article with id {external_id!r}")
    for row in articles_db.iter_sentences(db, external_id):
        if as_json:
            echo_json({k: row[k] for k in ("id", "article", "index", "start", "end", "text", "kind")})
        else:
            mark = " " if row["kind"] == "content" else "~"
            click.echo(f"{mark} {row['id']}\t{row['text']}")


@click.group("article")
def article_group() -> None:
    """The project's articles: list them, remove a wrong one.

    \b
    Example:
      python -m labeling article list
      python -m labeling article remove 000_0a083b07f5e0d51c
    """


@article_group.command("list")
@json_option(help="One JSON object per line.")
@pass_ctx
def article_list(ctx: Ctx, as_json: bool) -> None:
    """List articles with their sentence, label and gold counts, in import order.

    \b
    Example:
      python -m labeling article list
      python -m labeling article list --json
    """
    for row in corpus.articles(ctx.read_db, limit=None):
        out = {**row, "id": row["external_id"]}
        if as_json:
            echo_json({k: out[k] for k in LIST_KEYS})
        else:
            title = " ".join((row["title"] or "").split())[:60]
            click.echo(f"{row['external_id']}\t{row['content_sentences']} sentences\t"
                       f"{row['labels']} labels\t{row['gold']} gold\t{title}")


@article_group.command("remove")
@click.argument("external_id", metavar="ID")
@click.option("--force", is_flag=True,
              help="Also remove an article that has labels (its labels and gold go too).")
@json_option(help="Print what was removed as JSON.")
@pass_ctx
def article_remove(ctx: Ctx, external_id: str, force: bool, as_json: bool) -> None:
    """Remove an article and its sentences (ID as `article list` shows it).

    An article that has labels is refused unless --force is given; with it, its
    labels, gold and logged actions go too. The project log records the removal.

    \b
    Example:
      python -m labeling article remove 000_0a083b07f5e0d51c
      python -m labeling article remove wrong-article --force --json
    """
    result = corpus.remove_article(ctx.db_existing, external_id, actor=cli_actor(),
                                   force=force)
    if as_json:
        echo_json(result)
    else:
        r = result["removed"]
        click.echo(f"removed {result['article']}: {r['sentences']} sentences, "
                   f"{r['labels']} labels, {r['gold']} gold", err=True)
