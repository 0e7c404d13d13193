"""More `python -m labeling` commands (registered on the group in labeling/cli.py)."""

from labeling.cli import cli  # noqa: F401
