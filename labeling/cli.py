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
from db import DatabaseError
from labeling import __version__, ingest, project
from labeling.config import ConfigError


class Ctx:
    """What every command gets: the database path, opened lazily in one of two ways.

    ``ctx.db`` is for commands that write: it creates an empty project when the file
    does not exist (never with the demo article). ``ctx.read_db`` is for commands that
    only read: the file must exist, and it is opened read-only where it cannot be
    written, so a typo in ``--db`` never leaves a new file behind.
    """

    def __init__(self, db_path: str, debug: bool = False):
        self.db_path = db_path
        self.debug = debug
        self._db = None

    @property
    def db(self):
        return self._open(lambda: project.init(self.db_path))

    @property
    def db_existing(self):
        """For commands that change a project that must already exist (never creates)."""
        return self._open(lambda: project.open_existing(self.db_path))

    @property
    def read_db(self):
        return self._open(lambda: project.open_existing(self.db_path))

    def _open(self, opener):
        if self._db is None:
            self._db = opener()
            ctx = click.get_current_context(silent=True)
            if ctx is not None:  # close when the command ends (tests run many in one process)
                ctx.call_on_close(self._db.close)
        return self._db


# Errors that carry a message meant for users: shown as one line, exit 1.
USER_ERRORS = (DatabaseError, ConfigError, ingest.IngestError)


class _Group(click.Group):
    """The command group; turns every failure into one line on stderr and exit 1.

    Known errors (:data:`USER_ERRORS` and the ones modules register with
    :func:`user_error`) print their message. Anything else is a bug or an
    unforeseen input: its type and message, and a hint to rerun with ``--debug``,
    which shows the traceback instead.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Abort,
                click.exceptions.Exit):
            raise
        except USER_ERRORS + tuple(_EXTRA_USER_ERRORS) as exc:
            if _debug(ctx):
                raise
            raise click.ClickException(_one_line(str(exc))) from None
        except Exception as exc:
            if _debug(ctx):
                raise
            raise click.ClickException(
                _one_line(f"unexpected {type(exc).__name__}: {exc}")
                + " (rerun with --debug for the traceback)") from None


_EXTRA_USER_ERRORS: list[type[Exception]] = []


def user_error(cls: type[Exception]) -> type[Exception]:
    """Register an exception class whose message is meant for users (one line, exit 1)."""
    _EXTRA_USER_ERRORS.append(cls)
    return cls


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(Ctx)
    return bool(obj and obj.debug)


def _one_line(text: str, limit: int = 500) -> str:
    """Messages may quote user input: keep them on one line and of bounded length."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


pass_ctx = click.make_pass_decorator(Ctx)


def echo_json(obj) -> None:
    """Print one JSON document on stdout (UTF-8, no NaN)."""
    click.echo(json.dumps(obj, ensure_ascii=False, allow_nan=False))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", metavar="PATH", envvar="PARLEY_DB", default="labels.db",
              show_default=True, help="SQLite database (default: env PARLEY_DB, else labels.db).")
@click.option("--debug", is_flag=True, envvar="PARLEY_DEBUG",
              help="Show the full traceback of an unexpected error.")
@click.version_option(version=__version__, prog_name="parley")
@click.pass_context
def cli(ctx: click.Context, db_path: str, debug: bool) -> None:
    """Parley: label the sentences of negotiation news.

    \b
    Example:
      python -m labeling --db project.db import articles/
      python -m labeling stats --json
    """
    ctx.obj = Ctx(db_path, debug)


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Project config (TOML) to store; default: the stored one, else seeds/project.toml.")
@click.option("--demo", is_flag=True,
              help="Also import the demo article (the seed), to try Parley out.")
@click.option("--no-seed", is_flag=True, hidden=True,
              help="Accepted for old scripts; an empty project is now the default.")
@pass_ctx
def init(ctx: Ctx, config_path: str | None, demo: bool, no_seed: bool) -> None:
    """Create the database (an empty project), apply migrations and load the config.

    \b
    Example:
      python -m labeling --db project.db init --config seeds/project.toml
      python -m labeling --db try.db init --demo
    """
    if demo and no_seed:
        raise click.UsageError("--demo and --no-seed contradict each other")
    db = ctx._open(lambda: project.init(ctx.db_path, config_path=config_path, seed=demo))
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
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


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
    db = ctx.read_db
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
    s = q.stats(ctx.read_db)
    if as_json:
        echo_json(s)
    else:
        for k, v in s.items():
            click.echo(f"{k:>18}  {v}")


def main() -> None:
    """Entry point with the project's exit-code contract."""
    cli.main(prog_name="python -m labeling")


# Commands of each area live in their own module and register themselves on ``cli``.
from labeling import cli_corpus, cli_export, cli_label, cli_ops, cli_review  # noqa: E402,F401
