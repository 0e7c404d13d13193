"""``python -m labeling annotator add|list``: the people who label and review.

Added to the group in labeling/cli.py.
"""

from __future__ import annotations

import os

import click

from db import DatabaseError
from labeling import annotate
from labeling.cli_common import Ctx, cli_actor, echo_json, json_option, pass_ctx, user_errors

PASSWORD_ENV = "PARLEY_PASSWORD"


@click.group("annotator")
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
    with user_errors(annotate.LabelingError, DatabaseError,
                     message=lambda exc: _add_failure(exc, name, update)):
        person = annotate.add_annotator(ctx.db, name, role, password, update=update,
                                        require_password=True, actor=cli_actor())
    pw = " with a password" if person["has_password"] else ""
    click.echo(f"{'updated' if update else 'added'} {person['name']} ({person['role']}){pw}",
               err=True)


def _add_failure(exc: Exception, name: str, update: bool) -> str:
    """What to type instead, for the two refusals a person can fix from here."""
    if isinstance(exc, annotate.NameTaken):
        return (f"annotator {exc.existing!r} already exists (names that differ only by case "
                f"are one person); to change their role or password use: annotator add "
                f"{_quoted(exc.existing)} --update")
    if isinstance(exc, annotate.PasswordRequired):
        return (f"{exc}: add --password, e.g. annotator add {_quoted(name)} --role {exc.role}"
                f"{' --update' if update else ''} --password (asked twice, hidden; for "
                f"scripts from env {PASSWORD_ENV})")
    return str(exc)


def _quoted(name: str) -> str:
    """A name as it would be typed in a shell command."""
    return f'"{name}"' if " " in name else name


@annotator_group.command("list")
@json_option(help="Print a JSON array.")
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
