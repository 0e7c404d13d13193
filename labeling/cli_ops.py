"""``python -m labeling backup`` and ``check``: copy a live project, verify a database.

Added to the group in labeling/cli.py. Both open the database as it is: they never
create, migrate or seed it (a backup or a check must not change what it looks at).
"""

from __future__ import annotations

import click

from labeling import ops
from labeling.cli_common import Ctx, echo_json, json_option, pass_ctx, user_errors


@click.command("backup")
@click.argument("dest", type=click.Path(path_type=str))
@click.option("--force", is_flag=True, help="Replace DEST if it already exists.")
@json_option
@pass_ctx
@user_errors(ops.OpsError)
def backup(ctx: Ctx, dest: str, force: bool, as_json: bool) -> None:
    """Copy the database to DEST while people go on labeling.

    Uses SQLite's online backup API from one consistent snapshot, checks the copy with
    PRAGMA integrity_check, and only then gives it the name DEST. DEST may be an
    existing folder: the copy goes inside it, named after the database and the UTC
    time (e.g. backups/labels-20250102T030405Z.db). An existing file is never replaced
    without --force. DEST may never be the database itself, its -wal, -shm or -journal
    file, or a link to one of them. A database that cannot be written (read-only file
    or folder) is read without being changed.

    \b
    Example:
      python -m labeling --db project.db backup backups/
      python -m labeling backup project-copy.db --force --json
    """
    report = ops.backup(ctx.db_path, dest, force=force)
    if as_json:
        echo_json(report.as_dict())
    else:
        c = report.counts
        click.echo(f"backed up {report.source} to {report.destination} "
                   f"({report.bytes:,} bytes, {c.get('annotations', 0)} annotations, "
                   f"{c.get('events', 0)} events; integrity ok) in {report.seconds:.1f} s",
                   err=True)


@click.command("check")
@click.option("--quick", is_flag=True,
              help="PRAGMA quick_check instead of the full integrity_check (faster).")
@json_option(help='Print {"ok", "problems", "checks", "info"} as JSON.')
@pass_ctx
@user_errors(ops.OpsError)
def check(ctx: Ctx, quick: bool, as_json: bool) -> None:
    """Check the database: file integrity, foreign keys, schema and label invariants.

    Invariants: one current annotation per sentence and annotator, no sentence with
    more routed labels than its target, n_done and progress counters equal to the
    labels they count, every annotation backed by its event, gold only for existing
    sentences, every article stored whole. Exit 0 when all hold, 1 with the problems.
    Expired leases are reported as information only.

    \b
    Example:
      python -m labeling --db project.db check
      python -m labeling check --json
    """
    report = ops.check_file(ctx.db_path, quick=quick)
    if as_json:
        echo_json(report.as_dict())
    else:
        info = report.info
        leases = (f"; {info['leases']} leases ({info['expired_leases']} expired)"
                  if "leases" in info else "")
        if report.ok:
            click.echo(f"ok: {len(report.checks)} checks passed{leases}")
        else:
            n = len(report.problems)
            click.echo(f"{n} problem{'s' if n != 1 else ''} found{leases}:")
            for p in report.problems:
                click.echo(f"  {p}")
    if not report.ok:
        click.get_current_context().exit(1)
