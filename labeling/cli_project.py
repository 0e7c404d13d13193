"""``python -m labeling init``, ``stats`` and ``config show|check|load``: the project
as a whole (its database and its configuration). Added to the group in labeling/cli.py.
"""

from __future__ import annotations

from pathlib import Path

import click

import db.articles as articles_db
from db import DatabaseError
from labeling import config, project
from labeling.cli_common import Ctx, cli_actor, echo_json, json_option, pass_ctx, user_errors
from labeling.config import ConfigError

# ----------------------------------------------------------------------------- project


@click.command()
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
    db = ctx.init_db(config_path, seed=demo)
    s = articles_db.stats(db)
    click.echo(f"{ctx.db_path}: ready ({s['articles']} articles, {s['sentences']} sentences)",
               err=True)


@click.command()
@json_option(help="Print the counts as JSON.")
@pass_ctx
def stats(ctx: Ctx, as_json: bool) -> None:
    """Counts of articles, sentences, annotators, annotations and gold labels.

    \b
    Example:
      python -m labeling stats --json
    """
    s = articles_db.stats(ctx.read_db)
    if as_json:
        echo_json(s)
    else:
        for k, v in s.items():
            click.echo(f"{k:>18}  {v}")


# ----------------------------------------------------------------------------- config


def _config_failure(exc: ConfigError) -> str:
    """One problem on one line naming the file; several as a list under it."""
    if len(exc.errors) == 1:
        return f"{exc.source}: {exc.errors[0]}"
    lines = "\n".join(f"  - {e}" for e in exc.errors)
    return f"{exc.source}: {len(exc.errors)} problems\n{lines}"


def config_errors():
    """A config that does not validate: every problem, naming the file (exit 1)."""
    return user_errors(ConfigError, message=_config_failure)


@click.group("config")
def config_group() -> None:
    """Show, check and load the project configuration (labels, keys, overlap, order).

    \b
    Example:
      python -m labeling config check my-project.toml
      python -m labeling config load my-project.toml
    """


@config_group.command("show")
@json_option(help="Print JSON instead of TOML.")
@pass_ctx
def config_show(ctx: Ctx, as_json: bool) -> None:
    """Print the project's stored config (TOML, guidelines inline).

    The TOML output is a valid config file: edit it and `config load` it back.

    \b
    Example:
      python -m labeling config show > project.toml
      python -m labeling config show --json
    """
    with config_errors():
        cfg = project.load_config(ctx.read_db)
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
    with config_errors():
        config.load(path)
    click.echo("ok")


@config_group.command("load")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@json_option(help="Print what changed as JSON.")
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
    with config_errors():
        cfg = config.load(path)
    with user_errors(DatabaseError):
        result = project.update_config(ctx.db, cfg, actor=cli_actor())
    changed = {k: result[k] for k in ("targets_changed", "reordered")}
    if as_json:
        echo_json({"ok": True, **changed})
    else:
        click.echo(f"loaded {path}: {changed['targets_changed']} sentence targets and "
                   f"{changed['reordered']} positions updated")
        if cfg.guidelines_version != result["guidelines_version"]:
            click.echo(f"the guidelines changed: version {cfg.guidelines_version} -> "
                       f"{result['guidelines_version']}", err=True)
