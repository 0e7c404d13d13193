"""What every command module of ``python -m labeling`` shares.

The context object (:class:`Ctx`, handed to commands by :data:`pass_ctx`), the one
``--json`` option (:func:`json_option`), JSON output (:func:`echo_json`), the one
translation of library errors into click errors (:func:`user_errors`), the progress bar
shown only on a terminal (:func:`progress_bar`) and the actor name written to the project
log (:func:`cli_actor`). The group itself and its safety net for unforeseen errors live
in labeling/cli.py; this module imports nothing from the command modules.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator

import click

from labeling import project


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
        """The project, created empty when the file does not exist (for writers)."""
        return self._open(lambda: project.init(self.db_path))

    def init_db(self, config_path: str | None = None, seed: bool = False):
        """For ``init``: the project, created or opened with this config (and the demo
        article when ``seed``)."""
        return self._open(lambda: project.init(self.db_path, config_path=config_path,
                                               seed=seed))

    @property
    def db_existing(self):
        """For commands that change a project that must already exist (never creates)."""
        return self._open(lambda: project.open_existing(self.db_path))

    @property
    def read_db(self):
        """The existing project, for commands that only read (never creates)."""
        return self._open(lambda: project.open_existing(self.db_path))

    def _open(self, opener):
        if self._db is None:
            self._db = opener()
            ctx = click.get_current_context(silent=True)
            if ctx is not None:  # close when the command ends (tests run many in one process)
                ctx.call_on_close(self._db.close)
        return self._db


pass_ctx = click.make_pass_decorator(Ctx)

JSON_SUMMARY = "Print a JSON summary on stdout."


def json_option(fn: Callable | None = None, *, help: str = JSON_SUMMARY):
    """The ``--json`` flag of every command, passed to it as ``as_json``.

    Use it bare (``@json_option``) or with the help text the command's JSON has
    (``@json_option(help="One JSON object per line.")``).
    """
    decorator = click.option("--json", "as_json", is_flag=True, help=help)
    return decorator if fn is None else decorator(fn)


def echo_json(obj) -> None:
    """Print one JSON document on stdout (UTF-8, no NaN)."""
    click.echo(json.dumps(obj, ensure_ascii=False, allow_nan=False))


@contextlib.contextmanager
def user_errors(*types: type[Exception],
                message: Callable[[Exception], str] = str) -> Iterator[None]:
    """Turn the library errors ``types`` into a click error: ``message(exc)`` on stderr,
    exit 1, no traceback (also with ``--debug``: these errors are the user's, not bugs).

    A context manager around the library call, or a decorator of a whole command.
    Errors not listed go on to the group's safety net in labeling/cli.py.
    """
    try:
        yield
    except types as exc:
        raise click.ClickException(message(exc)) from None


def progress_bar(show: bool, length: int, label: str):
    """``click.progressbar`` on stderr when ``show``, else a context giving ``None``."""
    if not show:
        return contextlib.nullcontext(None)
    return click.progressbar(length=length, label=label, file=sys.stderr)


def cli_actor() -> str:
    """Who acts from the command line, for the project log: ``cli:<os user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return f"cli:uid-{os.getuid()}"
