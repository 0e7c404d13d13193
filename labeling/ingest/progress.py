"""Progress of an import for a display (``import_paths(on_step=...)``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from labeling import records

T = TypeVar("T")


@dataclass(frozen=True)
class ImportStep:
    """Where an import is, for a progress display (``import_paths(on_step=...)``).

    ``phase``: ``check`` (reading file ``file`` of ``files`` to validate it before
    anything is written; only without ``skip_bad`` and with several files), ``read``
    (reading it to import it) or ``write`` (segmenting and storing it). ``done``: rows
    read so far (check, read) or articles stored so far (write), of ``total`` when
    known (write)."""

    phase: str
    path: str
    file: int
    files: int
    done: int
    total: int | None = None


STEP_ROWS = 1000  # rows read between two ``on_step`` calls
STEP_ARTICLES = 200  # articles stored between two ``on_step`` calls


def counted(items: Iterable[T], step: Callable[[int], None] | None,
            every: int = STEP_ROWS) -> Iterable[T]:
    """``items``, calling ``step(n)`` every ``every`` items and once at the end
    (``items`` itself when there is no ``step``)."""
    return items if step is None else _counting(items, step, every)


def _counting(items: Iterable[T], step: Callable[[int], None], every: int) -> Iterator[T]:
    n = 0
    for n, item in enumerate(items, 1):
        yield item
        if n % every == 0:
            step(n)
    step(n)


def stepper(on_step: Callable[[ImportStep], None] | None, phase: str, path: Path,
            number: int, files: int, total: int | None = None) -> Callable[[int], None] | None:
    """``step(done)`` reporting ``phase`` of file ``number`` to ``on_step`` (None: none)."""
    if on_step is None:
        return None
    shown = records.display(path)
    return lambda done: on_step(ImportStep(phase, shown, number, files, done, total))


@dataclass(frozen=True)
class Steps:
    """The ``on_step`` reporting of one file being imported (read, then write), every
    ``rows`` rows read and ``articles`` articles stored."""

    on_step: Callable[[ImportStep], None]
    path: Path
    number: int
    files: int
    rows: int = STEP_ROWS
    articles: int = STEP_ARTICLES

    def read(self) -> Callable[[int], None] | None:
        """``step(rows read)`` for the read phase."""
        return stepper(self.on_step, "read", self.path, self.number, self.files)

    def write(self, total: int) -> Callable[[int], None] | None:
        """``step(articles stored)`` for the write phase, of ``total``."""
        return stepper(self.on_step, "write", self.path, self.number, self.files, total)

