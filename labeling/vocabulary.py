"""The project's shared words, defined once: roles, the annotator name rule, label sets
and timestamps. Pure; every module that needs one of these imports it from here.

- Roles: ``annotator`` labels; ``reviewer`` also sees agreement, adjudicates and
  exports; ``admin`` also imports articles and manages people and settings.
- A label set is stored and compared as a sorted tuple of distinct names: the order in
  which an annotator pressed the keys carries no meaning.
- Timestamps are UTC ISO 8601 strings, which sort as text in time order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

ROLES = ("annotator", "reviewer", "admin")
REVIEW_ROLES = ("reviewer", "admin")  # may see agreement, adjudicate and export
ADMIN_ROLES = ("admin",)  # may also import articles and manage people and settings

# 1–40 letters, digits, spaces or ``-_.``: safe in a URL parameter, a file name and a
# shell command line, and short enough for a table column.
NAME_RE = re.compile(r"^[A-Za-z0-9 _.\-]{1,40}$")


def valid_name(name: str) -> bool:
    """1–40 characters: letters, digits, space, ``-_.``; no surrounding spaces."""
    return bool(NAME_RE.match(name or "")) and name.strip() == name


def label_set(labels: Iterable[str] | None) -> tuple[str, ...]:
    """A label set in its one comparable form: distinct names, sorted."""
    return tuple(sorted(set(labels or ())))


def now_iso(timespec: str = "milliseconds") -> str:
    """The current UTC time as ISO 8601: milliseconds (the default) order actions within
    a second; ``"seconds"`` is for records people read (imports, project creation)."""
    return datetime.now(UTC).isoformat(timespec=timespec)
