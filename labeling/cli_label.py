"""``python -m labeling config …`` and ``annotator …``: the project config and the team.

Registered on the group in labeling/cli.py. Each command opens the project, calls one
library function and turns its errors into ``click.ClickException`` (exit 1).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from db import DatabaseError
from labeling import annotate, config, project
from labeling.cli import Ctx, cli, echo_json, pass_ctx
from labeling.cli_corpus import cli_actor
from labeling.config import ConfigError

PASSWORD_ENV = "PARLEY_PASSWORD"


def _config_failure(exc: ConfigError) -> click.ClickException:
    if len(exc.errors) == 1:  # one line, naming the file
        return click.ClickException(f"{exc.source}: {exc.errors[0]}")
    lines = "\n".join(f"  - {e}" for e in exc.errors)
    return click.ClickException(f"{exc.source}: {len(exc.errors)} problems\n{lines}")


# ----------------------------------------------------------------------------- config


@cli.group("config")
def config_group() -> None:
    """Show, check and load the project configuration (labels, keys, overlap, order).

    \b
    Example:
      python -m labeling config check my-project.toml
      python -m labeling config load my-project.toml
    """


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@pass_ctx
def config_show(ctx: Ctx, as_json: bool) -> None:
    """Print the project's stored config (TOML, guidelines inline).

    The TOML output is a valid config file: edit it and `config load` it back.

    \b
    Example:
      python -m labeling config show > project.toml
      python -m labeling config show --json
    """
    try:
        cfg = project.load_config(ctx.read_db)
    except ConfigError as exc:
        raise _config_failure(exc) from None
    if as_json:
        echo_json(cfg.to_dict())
    else:
        click.echo(config.to_toml(cfg), nl=False)


@config_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def config_check(path: Path) -> None:
    """Validate a config file without storing it: prints "ok", or every problem (exit 1).

    \b
    Example:
      python -m labeling config check seeds/project.toml
    """
    try:
        config.load(path)
    except ConfigError as exc:
        raise _config_failure(exc) from None
    click.echo("ok")


@config_group.command("load")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@pass_ctx
def config_load(ctx: Ctx, path: Path, as_json: bool) -> None:
    """Validate a config file and make it the project's config.

    When overlap or sample_fraction change, sentences not yet complete get their new
    target (finished ones keep theirs: nothing is reopened); when order or seed
    change, the routing order is recomputed. Labels already given are kept.
    When the guidelines text changes and the file keeps the stored
    guidelines_version, the version is counted up (3 -> 4, 1.2 -> 1.3, draft ->
    draft.1), so later labels record the new one. The load is recorded in the
    project log (what changed, and who loaded it).

    \b
    Example:
      python -m labeling config load seeds/project.toml
    """
    try:
        cfg = config.load(path)
    except ConfigError as exc:
        raise _config_failure(exc) from None
    try:
        result = project.update_config(ctx.db, cfg, actor=cli_actor())
    except DatabaseError as exc:
        raise click.ClickException(str(exc)) from None
    changed = {k: result[k] for k in ("targets_changed", "reordered")}
    if as_json:
        echo_json({"ok": True, **changed})
    else:
        click.echo(f"loaded {path}: {changed['targets_changed']} sentence targets and "
                   f"{changed['reordered']} positions updated")
        if cfg.guidelines_version != result["guidelines_version"]:
            click.echo(f"the guidelines changed: version {cfg.guidelines_version} -> "
                       f"{result['guidelines_version']}", err=True)


# ----------------------------------------------------------------------------- annotators


@cli.group("annotator")
def annotator_group() -> None:
    """Add and list the people who label and review.

    \b
    Example:
      python -m labeling annotator add "Ada L" --role reviewer --password
      python -m labeling annotator list --json
    """


@annotator_group.command("add")
@click.argument("name")
@click.option("--role", default=None, metavar="annotator|reviewer|admin",
              help="What the person may do: annotator for a new person; --update keeps "
                   "the current role unless this is given. Reviewers and admins need a "
                   "password.")
@click.option("--password", "ask_password", is_flag=True,
              help=f"Set a password: asked twice (hidden), or, for scripts, read from env "
                   f"{PASSWORD_ENV} when it is set.")
@click.option("--update", is_flag=True,
              help="Change the role (with --role) and/or password (with --password) of an "
                   "existing person.")
@pass_ctx
def annotator_add(ctx: Ctx, name: str, role: str | None, ask_password: bool,
                  update: bool) -> None:
    """Add a person (names: 1–40 letters, digits, spaces, - _ .; names that differ only
    by case are one person).

    Reviewers and admins must have a password. Only a salted scrypt hash of it is
    stored; it is never shown. For scripts, env PARLEY_PASSWORD gives the password of
    --password instead of the prompt. Role and password changes are recorded in the
    project log.

    \b
    Example:
      python -m labeling annotator add alice
      python -m labeling annotator add bob --role admin --password
      python -m labeling annotator add alice --update --password
      PARLEY_PASSWORD=s3cret python -m labeling annotator add carol --password
    """
    if not annotate.valid_name(name):
        raise click.ClickException(f"invalid annotator name {name!r}: use 1–40 letters, "
                                   "digits, spaces or - _ .")
    if role is not None and role not in annotate.ROLES:
        raise click.ClickException(f"invalid role {role!r}: choose from "
                                   f"{', '.join(annotate.ROLES)}")
    password = None
    if ask_password:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True,
                                    err=True)
        if not password:
            raise click.ClickException("the password must not be empty")
    try:
        person = annotate.add_annotator(ctx.db, name, role, password, update=update,
                                        require_password=True, actor=cli_actor())
    except annotate.NameTaken as exc:
        raise click.ClickException(
            f"annotator {exc.existing!r} already exists (names that differ only by case are "
            f"one person); to change their role or password use: annotator add "
            f"{_quoted(exc.existing)} --update") from None
    except annotate.PasswordRequired as exc:
        raise click.ClickException(
            f"{exc}: add --password, e.g. annotator add {_quoted(name)} --role {exc.role}"
            f"{' --update' if update else ''} --password (asked twice, hidden; for scripts "
            f"from env {PASSWORD_ENV})") from None
    except (annotate.LabelingError, DatabaseError) as exc:
        raise click.ClickException(str(exc)) from None
    pw = " with a password" if person["has_password"] else ""
    click.echo(f"{'updated' if update else 'added'} {person['name']} ({person['role']}){pw}",
               err=True)


def _quoted(name: str) -> str:
    """A name as it would be typed in a shell command."""
    return f'"{name}"' if " " in name else name


@annotator_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_ctx
def annotator_list(ctx: Ctx, as_json: bool) -> None:
    """List annotators with role, whether they have a password, and labels given.

    \b
    Example:
      python -m labeling annotator list --json
    """
    rows = annotate.list_annotators(ctx.read_db)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no annotators yet", err=True)
    for r in rows:
        pw = "password" if r["has_password"] else "-"
        role = r["role"]
        if r["assigned_role"] != role:  # a reviewer or admin without a password
            role += f" ({r['assigned_role']} once a password is set)"
        click.echo(f"{r['name']}\t{role}\t{pw}\t{r['labels']} labels")
