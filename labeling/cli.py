"""``python -m labeling``: the command line, a thin layer over the library.

This module defines the group (global options, the safety net for errors) and adds
the commands of each area explicitly; the command modules never import it back:

* labeling/cli_project.py: ``init``, ``stats``, ``config show|check|load``
* labeling/cli_corpus.py: ``import``, ``sentences``, ``article list|remove``
* labeling/cli_people.py: ``annotator add|list``
* labeling/cli_annotations.py: ``import-annotations``, ``agreement``
* labeling/cli_export.py: ``export``
* labeling/cli_ops.py: ``backup``, ``check``

What they share (context, ``--json``, error translation, progress bar) is in
labeling/cli_common.py.

Exit codes: 0 success, 1 a user error (message on stderr, no traceback), 2 a usage
error (click's own). Each command opens the database, calls one library function and
turns known exceptions into ``click.ClickException``.
"""

from __future__ import annotations

import click

from db import DatabaseError
from labeling import (
    __version__,
    cli_annotations,
    cli_corpus,
    cli_export,
    cli_ops,
    cli_people,
    cli_project,
    corpus,
    ingest,
)
from labeling.cli_common import Ctx
from labeling.config import ConfigError

# Errors that carry a message meant for users: shown as one line, exit 1.
USER_ERRORS = (DatabaseError, ConfigError, ingest.IngestError, corpus.CorpusError)


class _Group(click.Group):
    """The command group; turns every failure into one line on stderr and exit 1.

    Errors a command translated itself (``cli_common.user_errors``) pass through.
    Known errors (:data:`USER_ERRORS`) print their message. Anything else is a bug or
    an unforeseen input: its type and message, and a hint to rerun with ``--debug``,
    which shows the traceback instead.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Abort,
                click.exceptions.Exit):
            raise
        except USER_ERRORS as exc:
            if _debug(ctx):
                raise
            raise click.ClickException(_one_line(str(exc))) from None
        except Exception as exc:
            if _debug(ctx):
                raise
            raise click.ClickException(
                _one_line(f"unexpected {type(exc).__name__}: {exc}")
                + " (rerun with --debug for the traceback)") from None


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(Ctx)
    return bool(obj and obj.debug)


def _one_line(text: str, limit: int = 500) -> str:
    """Messages may quote user input: keep them on one line and of bounded length."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


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


for _command in (
    cli_project.init, cli_project.stats, cli_project.config_group,
    cli_corpus.import_, cli_corpus.sentences, cli_corpus.article_group,
    cli_people.annotator_group,
    cli_annotations.import_annotations, cli_annotations.agreement_cmd,
    cli_export.export_cmd,
    cli_ops.backup, cli_ops.check,
):
    cli.add_command(_command)


def main() -> None:
    """Entry point with the project's exit-code contract."""
    cli.main(prog_name="python -m labeling")
