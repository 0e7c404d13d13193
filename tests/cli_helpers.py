"""Running ``python -m labeling`` from tests: in-process with click's CliRunner (stdout
and stderr kept apart), or as a real subprocess for the entry point and exit codes.

Arguments are passed through ``str()``, so paths can be given as they are. By default an
exception the command line did not turn into an exit code fails the test where it is
raised; ``catch_exceptions=True`` keeps it on ``result.exception`` instead.
"""

from __future__ import annotations

import os
import subprocess
import sys

import click
from click.testing import CliRunner, Result

from labeling.cli import cli
from tests.conftest import ROOT


def walk_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()):
    """Every command under ``group`` (subgroups and their commands too), as
    ``(path, command)`` with ``path`` the words typed after ``python -m labeling``."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from walk_commands(cmd, prefix + (name,))


def run(*args, input: str | None = None, env: dict | None = None,
        catch_exceptions: bool = False) -> Result:
    """``python -m labeling *args`` in-process."""
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env,
                              catch_exceptions=catch_exceptions)


def run_db(db_path, *args, **kwargs) -> Result:
    """:func:`run` against the project ``db_path`` (``--db db_path *args``)."""
    return run("--db", db_path, *args, **kwargs)


def ok(*args, **kwargs) -> Result:
    """:func:`run` that must succeed (exit 0)."""
    result = run(*args, **kwargs)
    assert result.exit_code == 0, result.output
    return result


def ok_db(db_path, *args, **kwargs) -> Result:
    """:func:`run_db` that must succeed (exit 0)."""
    return ok("--db", db_path, *args, **kwargs)


def one_line_error(result: Result) -> str:
    """The one stderr line of a failed command (exit 1, no traceback)."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def python_m(*args, cwd=None, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m labeling *args`` in a subprocess (the real entry point and exit codes);
    ``env`` is added to this process's environment."""
    return subprocess.run([sys.executable, "-m", "labeling", *map(str, args)],
                          cwd=cwd or ROOT, capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          **kwargs)
