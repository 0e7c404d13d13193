"""``python -m labeling``: the command line, a thin layer over the library.

Exit codes: 0 success, 1 a user error (message on stderr, no traceback), 2 a usage
error (click's own). Each command opens the database, calls one library function and
turns known exceptions into ``click.ClickException``.
"""

from __future__ import annotations

import json
import sys

import click

import db.articles as q
from db import DatabaseError, write_transaction
from db import settings as db_settings
from labeling import __version__, ingest, project
from labeling.config import ConfigError


class Ctx:
    """What every command gets: the database path, opened lazily."""

    def __init__(self, db_path: str):
        self.db_path = db_path
        self._db = None

    @property
    def db(self):
        if self._db is None:
            try:
                self._db = project.init(self.db_path)
            except (DatabaseError, ConfigError, ingest.IngestError) as exc:
                raise click.ClickException(str(exc)) from None
            ctx = click.get_current_context(silent=True)
            if ctx is not None:  # close when the command ends (tests run many in one process)
                ctx.call_on_close(self._db.close)
        return self._db


pass_ctx = click.make_pass_decorator(Ctx)


def echo_json(obj) -> None:
    """Print one JSON document on stdout (UTF-8, no NaN)."""
    click.echo(json.dumps(obj, ensure_ascii=False, allow_nan=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", metavar="PATH", envvar="PARLEY_DB", default="labels.db",
              show_default=True, help="SQLite database (default: env PARLEY_DB, else labels.db).")
@click.version_option(version=__version__, prog_name="parley")
@click.pass_context
def cli(ctx: click.Context, db_path: str) -> None:
    """Parley: label the sentences of negotiation news.

    \b
    Example:
      python -m labeling --db project.db import articles/
      python -m labeling stats --json
    """
    ctx.obj = Ctx(db_path)


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Project config (TOML) to store; default: the stored one, else seeds/project.toml.")
@click.option("--no-seed", is_flag=True, help="Do not import the seed article into an empty project.")
@pass_ctx
def init(ctx: Ctx, config_path: str | None, no_seed: bool) -> None:
    """Create the database, apply migrations and load the project config.

    \b
    Example:
      python -m labeling --db project.db init --config seeds/project.toml
    """
    try:
        db = project.init(ctx.db_path, config_path=config_path, seed=not no_seed)
        if no_seed and not db_settings.get(db, "seeded", False):
            # Record the choice: every later command opens the project with
            # project.init(seed=True), which would otherwise import the seed after all.
            with write_transaction(db) as conn:
                db_settings.put(conn, "seeded", True)
    except (DatabaseError, ConfigError, ingest.IngestError) as exc:
        raise click.ClickException(str(exc)) from None
    click.get_current_context().call_on_close(db.close)
    s = q.stats(db)
    click.echo(f"{ctx.db_path}: ready ({s['articles']} articles, {s['sentences']} sentences)",
               err=True)


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(ingest.FORMATS), default="auto",
              show_default=True, help="File format; auto decides by extension.")
@click.option("--text-field", metavar="F", help="CSV/JSONL field with the article text.")
@click.option("--title-field", metavar="F", help="CSV/JSONL field with the headline.")
@click.option("--id-field", metavar="F", help="CSV/JSONL field with the article id.")
@click.option("--skip-bad", is_flag=True, help="Import the good rows and list the bad ones.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@pass_ctx
def import_(ctx: Ctx, paths, fmt, text_field, title_field, id_field, skip_bad, as_json) -> None:
    """Import articles from text/markdown, CSV or JSONL files, or folders of them.

    A file is imported whole or not at all; re-importing the same text is a no-op.

    \b
    Example:
      python -m labeling import news.jsonl --text-field body --json
      python -m labeling import corpus/ --skip-bad
    """
    db = ctx.db
    fields = ingest.FieldMap(text=text_field, title=title_field, id=id_field)
    bar = None
    try:
        files = ingest.iter_files(paths)
        show_bar = len(files) > 20 and sys.stderr.isatty()
        if show_bar:
            bar = click.progressbar(length=len(files), label="importing", file=sys.stderr)
            bar.__enter__()
        report = ingest.import_paths(
            db, paths, fmt=fmt, fields=fields, skip_bad=skip_bad,
            progress=(lambda done, total, r: bar.update(1)) if bar else None)
    except (ingest.IngestError, DatabaseError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        echo_json(report.as_dict())
    else:
        click.echo(f"{report.articles_added} articles added ({report.sentences_added} sentences), "
                   f"{report.articles_skipped_duplicate} already present")
    for err in report.errors:
        click.echo(f"skipped: {err}", err=True)


@cli.command()
@click.option("--article", "external_id", metavar="EXTERNAL_ID", help="Only this article.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_ctx
def sentences(ctx: Ctx, external_id: str | None, as_json: bool) -> None:
    """List sentences (all kinds) with their public ids and offsets.

    \b
    Example:
      python -m labeling sentences --article 000_0a083b07f5e0d51c --json
    """
    db = ctx.db
    if external_id is not None and not q.external_id_exists(db, external_id):
        raise click.ClickException(f"no article with id {external_id!r}")
    for row in q.iter_sentences(db, external_id):
        if as_json:
            echo_json({k: row[k] for k in ("id", "article", "index", "start", "end", "text", "kind")})
        else:
            mark = " " if row["kind"] == "content" else "~"
            click.echo(f"{mark} {row['id']}\t{row['text']}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_ctx
def stats(ctx: Ctx, as_json: bool) -> None:
    """Counts of articles, sentences, annotators, annotations and gold labels.

    \b
    Example:
      python -m labeling stats --json
    """
    s = q.stats(ctx.db)
    if as_json:
        echo_json(s)
    else:
        for k, v in s.items():
            click.echo(f"{k:>18}  {v}")


def main() -> None:
    """Entry point with the project's exit-code contract."""
    cli.main(prog_name="python -m labeling")


# Commands of each area live in their own module and register themselves on ``cli``.
from labeling import cli_export, cli_label, cli_ops, cli_review  # noqa: E402,F401
