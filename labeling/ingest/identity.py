"""Which articles of a file are new, which are duplicates, and which ids clash.

An article's identity is the sha256 of its normalised text: a text already stored, or
met earlier in this import, is a duplicate (skipped, not an error). Its id must then be
new too: an id already used for another text is an error naming both places. The same
rule runs three times per import, always through :meth:`Seen.sort`: over every file
before anything is written (without ``skip_bad``), over each file before the write lock,
and over the survivors again under the lock (another import may have stored some of them
meanwhile; without that recheck the UNIQUE constraints would fail the transaction).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field

import db.articles as articles_db
from labeling.ingest.read import Article
from labeling.records import IngestError


@dataclass
class Sorted:
    """One file's items sorted: new articles (file order), duplicates, error messages."""

    fresh: list[Article] = field(default_factory=list)
    dupes: list[Article] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Seen:
    """Texts and ids accepted so far in one import, each with where it was read."""

    def __init__(self) -> None:
        self.sha: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    def add(self, arts: Iterable[Article]) -> None:
        """Remember ``arts`` as accepted."""
        for art in arts:
            self.sha[art.sha256] = self.ids[art.external_id] = where(art)

    def sort(self, conn, items: Iterable[Article | IngestError], *,
             skip_bad: bool) -> Sorted:
        """Sort one file's items against this import and the database ``conn``.

        Without ``skip_bad`` the first bad row or id clash (in file order) is raised.
        The database is asked once per file (a few queries per 500 articles), not
        twice per article."""
        items = list(items)
        arts = [it for it in items if not isinstance(it, IngestError)]
        stored_sha, stored_ids = articles_db.existing_keys(
            conn, ((a.sha256, a.external_id) for a in arts))
        return _sort(items, self, stored_sha, stored_ids, skip_bad)


def recheck(conn, batch: Sorted, *, skip_bad: bool) -> list[bool]:
    """Which of ``batch.fresh`` to insert, asked again under the write lock: texts
    stored meanwhile join ``batch.dupes``, ids stored meanwhile with another text are
    errors (raised, or added to ``batch.errors`` with ``skip_bad``)."""
    now_sha, now_ids = articles_db.existing_keys(
        conn, ((a.sha256, a.external_id) for a in batch.fresh))
    if not now_sha and not now_ids:
        return [True] * len(batch.fresh)
    again = _sort(batch.fresh, Seen(), now_sha, now_ids, skip_bad)
    batch.dupes.extend(again.dupes)
    batch.errors.extend(again.errors)
    kept = {id(art) for art in again.fresh}
    return [id(art) in kept for art in batch.fresh]


def where(art: Article) -> str:
    """``path:line`` of an article (``path`` for a text file)."""
    return f"{art.path}:{art.line}" if art.line else art.path


def _sort(items: Iterable[Article | IngestError], seen: Seen, stored_sha: Container[str],
          stored_ids: Container[str], skip_bad: bool) -> Sorted:
    out = Sorted()
    in_file = Seen()
    for item in items:
        try:
            if isinstance(item, IngestError):
                raise item
            if not _is_new(item, (seen.sha, in_file.sha, stored_sha),
                           (seen.ids, in_file.ids), stored_ids):
                out.dupes.append(item)
                continue
        except IngestError as exc:
            if not skip_bad:
                raise
            out.errors.append(str(exc))
            continue
        in_file.add((item,))
        out.fresh.append(item)
    return out


def _is_new(art: Article, known_sha: tuple[Container[str], ...],
            seen_ids: tuple[Mapping[str, str], ...], stored_ids: Container[str]) -> bool:
    """False for a duplicate text (skip it); IngestError for an id clash; True to insert.

    ``known_sha``: hashes stored or accepted in this import; ``seen_ids``: id -> where,
    accepted in this import; ``stored_ids``: ids stored."""
    sha = art.sha256
    if any(sha in d for d in known_sha):
        return False
    for d in seen_ids:
        if art.external_id in d:
            raise IngestError(art.path, art.line, f"id {art.external_id!r} is used twice "
                              f"(also at {d[art.external_id]}) with different text")
    if art.external_id in stored_ids:
        raise IngestError(art.path, art.line, f"id {art.external_id!r} already exists in the "
                          "database with a different text")
    return True
