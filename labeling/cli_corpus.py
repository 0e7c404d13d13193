"""``python -m labeling article list|remove``: see the articles, take a wrong one out.

Registered on the group in labeling/cli.py.
"""

from __future__ import annotations

import getpass
import os

import click

from labeling import corpus
from labeling.cli import Ctx, cli, echo_json, pass_ctx, user_error

user_error(corpus.CorpusError)

LIST_KEYS = ("id", "title", "source", "imported_at", "sentences", "content_sentences",
             "labels", "gold")


def cli_actor() -> str:
    """Who acts from the command line, for the project log: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"cli:uid-{os.getuid()}"


@cli.group("article")
def article_group() -> None:
    """The project's articles: list them, remove a wrong one.

    \b
    Example:
      python -m labeling article list
      python -m labeling article remove 000_0a083b07f5e0d51c
    """


@article_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
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
@click.option("--json", "as_json", is_flag=True, help="Print what was removed as JSON.")
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
