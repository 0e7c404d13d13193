"""Streaming reads for the dataset export.

Every function yields rows in a fixed order (sentence id, then annotator id) straight
from a cursor, so an export of a million sentences never holds them in memory. Where a
value only needs to be copied into an output file, SQLite builds the text itself
(``json_object`` / ``printf`` run in C; and one string per sentence costs Python far
less than a dozen cells per annotation).

All reads of one export run inside :func:`snapshot` (a read transaction; with a second
process, both take their snapshots inside :func:`write_gate`), so labels saved while the
export runs cannot make the dataset files, the raw annotation files and the card
disagree with each other.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence

import sqlite_utils

from db.connection import Database, max_id, raw

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Rows per fetchmany: the peak memory of a pass is about two chunks of rows (~1 KB each),
# and fetchmany's per-call cost is already negligible at this size.
_FETCH = 2_000



@contextlib.contextmanager
def snapshot(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """One read transaction around an export's reads (every query sees the same data);
    yields the raw connection.

    Holds the connection's lock meanwhile, so another thread cannot start a write on it
    in the middle of the read (give exports their own connection). WAL mode lets other
    connections keep writing.
    """
    conn = db.conn
    with db.lock if isinstance(db, Database) else contextlib.nullcontext():
        if conn.in_transaction:
            raise RuntimeError("an export needs a connection that is not in a transaction")
        conn.execute("BEGIN")
        try:
            # A WAL read transaction takes its snapshot at the first read of the file.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # read-only: nothing to commit


@contextlib.contextmanager
def write_gate(path: str) -> Iterator[bool]:
    """Hold SQLite's write lock on a connection of its own, so that nothing is committed
    while several connections (or processes) take their read snapshots: they then all
    see the same data. Yields False (and holds nothing) when the database cannot be
    written, in which case nobody commits meanwhile anyway. Keep it short: writers wait.
    """
    gate = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        try:
            gate.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            yield False
            return
        try:
            yield True
        finally:
            gate.execute("ROLLBACK")
    finally:
        gate.close()


def _rows(cur: sqlite3.Cursor) -> Iterator[tuple]:
    while True:
        chunk = cur.fetchmany(_FETCH)
        if not chunk:
            return
        yield from chunk


def _chunks(cur: sqlite3.Cursor, size: int) -> Iterator[list[tuple]]:
    while True:
        rows = cur.fetchmany(size)
        if not rows:
            return
        yield rows


def _firsts(cur: sqlite3.Cursor) -> Iterator[list[str]]:
    while True:
        chunk = cur.fetchmany(_FETCH)
        if not chunk:
            return
        yield [r[0] for r in chunk]


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_FORMULA_SQL = ", ".join(f"char({ord(c)})" for c in FORMULA_PREFIXES)


def csv_cell_sql(expr: str, *, neutralise: bool) -> str:
    """SQL for one CSV cell (what ``labeling.export_sinks`` does in Python with
    ``csv_field(neutralise(x))``): RFC 4180 quotes when the text holds a quote, comma or
    line break, and, with ``neutralise``, a leading ``'`` when it starts like a formula.
    NULL stays NULL (``printf('%s')`` writes it as an empty cell).

    (``instr`` is a plain scan; a GLOB with a bracket class measured several times slower.)
    """
    starts = f"substr({expr}, 1, 1) IN ({_FORMULA_SQL})"
    safe = f"(CASE WHEN {starts} THEN '''' || {expr} ELSE {expr} END)" if neutralise else expr
    special = " OR ".join(f"instr({expr}, {c})" for c in ("'\"'", "','", "char(10)",
                                                           "char(13)"))
    out = (f"CASE WHEN {expr} IS NULL THEN NULL "
           f"WHEN {special} THEN '\"' || replace({safe}, '\"', '\"\"') || '\"' ")
    if neutralise:
        out += f"WHEN {starts} THEN '''' || {expr} "
    return out + f"ELSE {expr} END"


# ----------------------------------------------------------------------------- counts


def counts(db: sqlite3.Connection | sqlite_utils.Database) -> dict[str, int]:
    """``content`` and ``boilerplate`` sentences, ``articles``, ``annotations`` (all rows,
    labeled or skipped)."""
    conn = raw(db)
    # Counted, not read from a counter table: one scan of 1M rows takes ~0.1 s and
    # stays right whatever keeps (or fails to keep) the counters.
    total, content = conn.execute(
        "SELECT count(*), coalesce(sum(kind = 'content'), 0) FROM sentences").fetchone()
    articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    annotations = conn.execute("SELECT count(*) FROM annotations").fetchone()[0]
    return {"content": content, "boilerplate": total - content, "articles": articles,
            "annotations": annotations}


def annotation_count(db: sqlite3.Connection | sqlite_utils.Database) -> int:
    """An upper bound of the number of annotations, at the cost of one rowid lookup:
    the last event id (every annotation was written with at least one event)."""
    return max_id(db, "events")


# ----------------------------------------------------------------------------- sentences

_CONTEXT_SQL = (
    ", (SELECT p.text FROM sentences p WHERE p.article_id = s.article_id AND p.idx < s.idx "
    "AND p.kind = 'content' ORDER BY p.idx DESC LIMIT 1)"
    ", (SELECT n.text FROM sentences n WHERE n.article_id = s.article_id AND n.idx > s.idx "
    "AND n.kind = 'content' ORDER BY n.idx LIMIT 1)")

_LABELED = "FILTER (WHERE an.status = 'labeled')"

# One row per content sentence, in id order: the outer loop walks sentences by rowid,
# each with one primary-key range over its annotations (annotator-id order), so GROUP BY
# and ORDER BY need no sort. CROSS JOIN pins that loop order.
_SENTENCES_SQL = (
    "SELECT s.id, ar.external_id, ar.title, s.idx, s.text, "
    "(SELECT g.labels FROM gold g WHERE g.sentence_id = s.id AND g.source = 'adjudicated'), "
    f"count(an.sentence_id) {_LABELED}, group_concat(an.labels, char(31)) {_LABELED}, "
    "{annotations}, s.start, s.\"end\"{context} "
    "FROM sentences s CROSS JOIN articles ar ON ar.id = s.article_id "
    "LEFT JOIN annotations an ON an.sentence_id = s.id{join} "
    "WHERE s.kind = 'content'{where} GROUP BY s.id ORDER BY s.id")
_ANNOTATIONS_SQL = (
    "json_group_array(json_object('annotator', n.name, 'labels', json(an.labels), "
    "'note', an.note, 'duration_ms', an.duration_ms, 'created_at', an.created_at)) "
    f"{_LABELED}")
_ANNOTATORS_JOIN = " LEFT JOIN annotators n ON n.id = an.annotator_id"

# The same rows with only what resolving gold and assigning splits reads (id, external
# id, index, adjudicated labels, labels); the other columns are NULL. No annotations
# JSON, no text: the preview counts a whole project with it.
_GOLD_KEYS_SQL = (
    "SELECT s.id, ar.external_id, NULL, s.idx, NULL, "
    "(SELECT g.labels FROM gold g WHERE g.sentence_id = s.id AND g.source = 'adjudicated'), "
    f"NULL, group_concat(an.labels, char(31)) {_LABELED}, NULL, NULL, NULL "
    "FROM sentences s CROSS JOIN articles ar ON ar.id = s.article_id "
    "LEFT JOIN annotations an ON an.sentence_id = s.id "
    "WHERE s.kind = 'content' GROUP BY s.id ORDER BY s.id")


def _sentences_sql(context: bool, annotations: bool, where: str = "") -> str:
    return _SENTENCES_SQL.format(
        context=_CONTEXT_SQL if context else "", where=where,
        annotations=_ANNOTATIONS_SQL if annotations else "NULL",
        join=_ANNOTATORS_JOIN if annotations else "")


def iter_sentences(db: sqlite3.Connection | sqlite_utils.Database, *,
                   context: bool = False, annotations: bool = False,
                   ids: Sequence[int] | None = None) -> Iterator[tuple]:
    """Content sentences in id order, with their labeled annotations grouped:

    ``(id, external_id, title, idx, text, adjudicated labels JSON or None, n_labeled,
    labels, annotations_json, start, end[, context_before, context_after])``
    (``start``/``end``: the sentence's character offsets in its article's text).

    ``labels`` is the labeled annotations' stored label lists (JSON) joined with U+001F,
    a key for resolving gold (None without labels); ``annotations_json`` (only with
    ``annotations``, else None: building it is most of the query's cost) a JSON array of
    ``{annotator, labels, note, duration_ms, created_at}`` of the labeled annotations, in
    annotator-id order. Context is the previous / next *content* sentence of the same
    article, or None at an article's edge. ``ids``: only these sentences (still in id
    order).
    """
    where = "" if ids is None else f" AND s.id IN ({', '.join('?' * len(ids))})"
    sql = _sentences_sql(context, annotations, where)
    return _rows(raw(db).execute(sql, [] if ids is None else [int(i) for i in ids]))


def iter_gold_keys(db: sqlite3.Connection | sqlite_utils.Database) -> Iterator[tuple]:
    """The rows of :func:`iter_sentences` with only ``id``, ``external_id``, ``idx``,
    the adjudicated labels and ``labels`` filled in (the other columns are None): what
    deciding a sentence's gold and split needs, read several times faster."""
    return _rows(raw(db).execute(_GOLD_KEYS_SQL))


# ----------------------------------------------------------------------------- raw

#: Raw annotation columns, in file order (also the CSV header).
RAW_COLUMNS = ("sentence_id", "annotator", "status", "labels", "flagged", "note",
               "duration_ms", "created_at", "updated_at", "source", "guidelines_version")

# One row per sentence that has annotations: the outer loop walks sentences in id
# order, each with one primary-key range over its annotations (annotator-id order).
_RAW_FROM = (
    "FROM sentences s CROSS JOIN articles ar ON ar.id = s.article_id "
    "CROSS JOIN annotations an ON an.sentence_id = s.id "
    "CROSS JOIN annotators n ON n.id = an.annotator_id "
    "GROUP BY s.id ORDER BY s.id")
_PID = "(ar.external_id || ':' || s.idx)"

_RAW_JSON_LINE = (
    f"json_object('sentence_id', {_PID}, 'annotator', n.name, 'status', an.status, "
    "'labels', json(coalesce(an.labels, '[]')), "
    "'flagged', json(CASE WHEN an.flagged THEN 'true' ELSE 'false' END), "
    "'note', an.note, 'duration_ms', an.duration_ms, 'created_at', an.created_at, "
    "'updated_at', an.updated_at, 'source', an.source, "
    "'guidelines_version', an.guidelines_version)")


def _pipe_labels_sql(label_names: Sequence[str]) -> str:
    """The stored JSON label list as ``a|b``. One-label lists of the project's labels
    are matched exactly (fast); anything else has brackets, quotes and spaces deleted
    and commas turned into bars (exact for label names, which are ``[a-z][a-z0-9_]*``)."""
    general = ("replace(replace(replace(replace(replace(an.labels, '[', ''), ']', ''), "
               "'\"', ''), ' ', ''), ',', '|')")
    if not label_names:
        return general
    whens = " ".join(f"WHEN {_sql_str(json.dumps([n], ensure_ascii=False))} "
                     f"THEN {_sql_str(n)}" for n in label_names)
    return f"CASE an.labels {whens} ELSE {general} END"


def _raw_csv_line(label_names: Sequence[str], exact: bool) -> str:
    def cell(e: str) -> str:
        return csv_cell_sql(e, neutralise=not exact)

    # Names are letters, digits, space and _ . - (annotate.NAME_RE): at most a leading
    # "-" to neutralise, never a character that needs quotes. Timestamps are ISO 8601
    # as Parley writes them (annotate.now_iso; imports normalise theirs): a digit first,
    # never a quote, comma or line break, so they are written as they are.
    name = "n.name" if exact else (
        f"CASE WHEN substr(n.name, 1, 1) IN ({_FORMULA_SQL}) THEN '''' || n.name "
        "ELSE n.name END")
    cols = [cell(_PID), name, "an.status", _pipe_labels_sql(label_names),
            "CASE WHEN an.flagged THEN 'true' ELSE 'false' END", cell("an.note"),
            "an.duration_ms", "an.created_at", "an.updated_at",
            cell("an.source"), cell("an.guidelines_version")]
    return f"printf('{','.join(['%s'] * len(cols))}', {', '.join(cols)})"


def iter_raw_jsonl(db: sqlite3.Connection | sqlite_utils.Database) -> Iterator[list[str]]:
    """Every annotation (labeled or skipped) as a JSON object with :data:`RAW_COLUMNS`,
    one per line; yields lists of per-sentence chunks of lines (each line ends with a
    newline), in sentence-id then annotator-id order."""
    sql = f"SELECT group_concat({_RAW_JSON_LINE} || char(10), '') {_RAW_FROM}"
    return _firsts(raw(db).execute(sql))


def iter_raw_csv(db: sqlite3.Connection | sqlite_utils.Database, *,
                 label_names: Sequence[str] = (), exact: bool = False) -> Iterator[list[str]]:
    """Every annotation as a CSV line of :data:`RAW_COLUMNS` (labels joined with ``|``,
    flagged ``true``/``false``, CRLF line ends); yields lists of per-sentence chunks of
    lines, in sentence-id then annotator-id order. Unless ``exact``, text cells that
    start with a formula character get a leading ``'``. ``label_names``: the project's
    labels (their one-label lists are converted by exact match, the fast path)."""
    line = _raw_csv_line(label_names, exact)
    sql = (f"SELECT group_concat({line}, char(13) || char(10)) || char(13) || char(10) "
           f"{_RAW_FROM}")
    return _firsts(raw(db).execute(sql))


# Raw annotations as columns, for annotations.parquet: the annotation table's own rows in
# primary-key order (sentence id, annotator id: the order of the JSONL and CSV files).
# Python's sqlite3 spends ~180 ns on every value it hands over (6 s for 3M rows of 11
# values, where SQLite's own scan takes 0.5 s), so few values go out per row: sentence and
# annotator id packed into one integer; status, flag, label list, source and guidelines
# version (a handful of distinct values each) packed into one code; updated_at only where
# it differs from created_at; names and public ids are mapped in Arrow afterwards.
ANNOTATOR_BITS = 24
_RAW_DISTINCT_SQL = "SELECT DISTINCT {col} FROM annotations"
_RAW_PACKED_SQL = (
    "SELECT (sentence_id << {bits}) | annotator_id, "
    "(status = 'skipped') + 2 * (flagged != 0) + 4 * ({labels} + {nl} * ({source} "
    "+ {ns} * {version})), duration_ms, created_at, "
    "CASE WHEN updated_at = created_at THEN NULL ELSE updated_at END, note "
    "FROM annotations ORDER BY sentence_id, annotator_id")
_RAW_CODED = ("labels", "source", "guidelines_version")


def _code_sql(col: str, values: Sequence[str | None]) -> str:
    whens = " ".join(f"WHEN {_sql_str(v)} THEN {i}" for i, v in enumerate(values)
                     if v is not None)
    null = next((str(i) for i, v in enumerate(values) if v is None), "NULL")
    # ELSE NULL (the whole code becomes NULL): a value that was not there when the
    # distinct values were read. It cannot happen inside one snapshot; the caller checks.
    return (f"(CASE WHEN {col} IS NULL THEN {null} ELSE CASE {col} {whens} ELSE NULL END "
            "END)") if whens else f"(CASE WHEN {col} IS NULL THEN {null} ELSE NULL END)"


def raw_distinct(db: sqlite3.Connection | sqlite_utils.Database) -> dict[str, list]:
    """The distinct stored label lists (JSON), sources and guidelines versions of the
    annotations (one index-free scan each; a few values per project)."""
    conn = raw(db)
    return {c: sorted((r[0] for r in conn.execute(_RAW_DISTINCT_SQL.format(col=c))),
                      key=lambda v: (v is not None, str(v)))
            for c in _RAW_CODED}


def iter_raw_packed(db: sqlite3.Connection | sqlite_utils.Database,
                    distinct: dict[str, list], chunk: int = 100_000
                    ) -> Iterator[list[tuple]]:
    """Every annotation, in sentence-id then annotator-id order, in lists of up to
    ``chunk`` rows of ``(sentence_id << ANNOTATOR_BITS | annotator_id, code,
    duration_ms, created_at, updated_at or None when equal to created_at, note)``.
    ``code`` = skipped + 2 * flagged + 4 * (label list + L * (source + S * version)),
    each the position of the value in ``distinct`` (see :func:`raw_distinct`; L, S: the
    number of label lists and sources); None if a value is not in ``distinct``."""
    labels, sources = distinct["labels"], distinct["source"]
    sql = _RAW_PACKED_SQL.format(
        bits=ANNOTATOR_BITS, labels=_code_sql("labels", labels), nl=max(len(labels), 1),
        source=_code_sql("source", sources), ns=max(len(sources), 1),
        version=_code_sql("guidelines_version", distinct["guidelines_version"]))
    return _chunks(raw(db).execute(sql), chunk)


# (article_id, idx) is UNIQUE, so its index covers (id, article_id, idx): a scan of it
# reads a few MB, where reading the table would read every sentence's text.
_SENTENCE_PLACES_SQL = "SELECT id, article_id, idx FROM sentences ORDER BY article_id, idx"


def sentence_places(db: sqlite3.Connection | sqlite_utils.Database,
                    chunk: int = 100_000) -> Iterator[list[tuple[int, int, int]]]:
    """``(sentence id, article id, index)`` of every sentence, in article order, in lists
    of up to ``chunk`` (integers only, read from the covering index: cheap in bulk)."""
    return _chunks(raw(db).execute(_SENTENCE_PLACES_SQL), chunk)


def article_external_ids(db: sqlite3.Connection | sqlite_utils.Database
                         ) -> list[tuple[int, str]]:
    """``(id, external id)`` of every article."""
    return raw(db).execute("SELECT id, external_id FROM articles ORDER BY id").fetchall()


def raw_query_plans(db: sqlite3.Connection | sqlite_utils.Database) -> dict[str, list[str]]:
    """``EXPLAIN QUERY PLAN`` lines of the export's streaming queries (a ``TEMP B-TREE``
    would mean a sort, i.e. memory or temp space growing with the corpus)."""
    conn = raw(db)
    sqls = {"sentences": _sentences_sql(True, True),
            "gold_keys": _GOLD_KEYS_SQL,
            "raw_jsonl": f"SELECT group_concat({_RAW_JSON_LINE}) {_RAW_FROM}",
            "raw_csv": f"SELECT group_concat({_raw_csv_line(['x'], False)}) {_RAW_FROM}"}
    return {k: [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + v)] for k, v in sqls.items()}
