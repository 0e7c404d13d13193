"""Widgets of the Import page (admins): upload files and import them, remove an article.

Uploads go through ``labeling.uploads`` (written to a temporary folder Parley creates and
removes) into ``ingest.import_paths``, the command line's own import: the same
validation, all-or-nothing files and messages, with each message naming the upload, not
the temporary path. Every message that quotes a file name, a column or an article id is
escaped for markdown (``safe_markdown.literal``) or shown with ``st.text`` /
``st.dataframe``, so it reads as typed. The admin role is read again from the database
when the import or the removal runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import time

import pandas as pd
import streamlit as st

from db import DatabaseError
from labeling import corpus, ingest, safe_markdown, uploads
from labeling.ingest import IngestError
from labeling.ui import common

if TYPE_CHECKING:
    from labeling.project import Project

_literal = safe_markdown.literal
_DETECTED = "_import_detected"  # (uploads signature, [Columns | None], [errors])
_PREVIEW = "_import_preview"  # (preview key, result dict)
_RESULT = "_import_result"  # the last import's report, for later reruns
_GENERATION = "_import_generation"  # imports run in this session (previews re-check)
_REMOVED = "_remove_result"  # ("success" | "error", message)
_RUNNING = "_import_running"  # set while an import runs; still set: it was interrupted
_FIELD_KEYS = ("import_text_field", "import_title_field", "import_id_field")
_LISTED = 1000  # articles offered for removal (a longer list is slow in the browser)
_REFUSED = "Only admins may do this. Ask an admin for access."


def import_section(db: Project, person: dict) -> None:
    """Upload, choose columns, preview the first article, import with progress."""
    st.subheader("Import articles")
    st.caption(
        "Text or markdown files (one article each), CSV/TSV or JSON Lines (one article per "
        f"row). At most {uploads.MAX_FILE_MB} MB a file and {uploads.MAX_TOTAL_MB} MB at "
        "once; bigger corpora import faster from a terminal (python -m labeling import). "
        "A file is imported whole or not at all, and a text already in the project is "
        "skipped.")
    if st.session_state.pop(_RUNNING, False):
        st.warning("The last import was interrupted: the page was used while it ran. Files "
                   "it had finished are imported; the one it was writing is not (a file is "
                   "all or nothing). Import again: what is already in is skipped.",
                   icon="⚠️")
    files = st.file_uploader(
        "Files to import", type=list(uploads.EXTENSIONS), accept_multiple_files=True,
        key="import_files", max_upload_size=uploads.MAX_FILE_MB)
    if not files:
        _show_result()
        return
    ups = [uploads.Upload(f.name, f) for f in files]
    signature = tuple((f.file_id, f.name, f.size) for f in files)
    detected, problems = _detect(signature, ups)
    if detected is None:  # the uploads themselves are refused (type, size)
        for msg in problems:
            st.error(_literal(msg))
        return
    fields, ready = _column_choices(detected)
    _preview(db, signature, ups, fields)
    others = st.container()  # problems of the other files: filled after the import
    skip_bad = st.checkbox(
        "Skip bad rows and files (import the rest and list what was skipped)",
        key="import_skip_bad",
        help="Off: one bad row anywhere and nothing at all is imported.")
    if st.button("Import", key="import_button", type="primary", disabled=not ready):
        _run_import(db, person, ups, fields, skip_bad)
    shown = {(st.session_state.get(_RESULT) or {}).get("error")}
    first = uploads.display_names([u.name for u in ups])[0]
    with others:
        for msg in problems:  # a file whose head is bad (the first one: in the preview)
            if not msg.startswith(first + ":") and msg not in shown:
                st.error(_literal(msg))
    _show_result()


def _detect(signature: tuple, ups: list[uploads.Upload]) -> tuple[list | None, list[str]]:
    """Columns of each upload (None for a file whose head is bad) and the problems,
    computed once per set of uploads. A new set also resets the column choices."""
    ss = st.session_state
    cached = ss.get(_DETECTED)
    if cached is not None and cached[0] == signature:
        return cached[1], cached[2]
    for key in _FIELD_KEYS:  # new files: preselect what the import would pick
        ss.pop(key, None)
    detected: list | None = []
    problems: list[str] = []
    try:
        with uploads.stage(ups) as staged:
            for path in staged.paths:
                try:
                    detected.append(ingest.detect_columns(path))
                except IngestError as exc:
                    detected.append(None)
                    problems.append(staged.message(str(exc)))
    except IngestError as exc:  # refused before anything was read
        detected, problems = None, [str(exc)]
    except OSError as exc:
        detected, problems = None, [f"could not stage the uploads: {exc.strerror or exc}"]
    ss[_DETECTED] = (signature, detected, problems)
    return detected, problems


def _column_choices(detected: list) -> tuple[ingest.FieldMap, bool]:
    """The text/title/id selectboxes for CSV/JSONL uploads; the FieldMap and whether
    the import can run (a text column is known)."""
    known = [c for c in detected if c is not None]
    if not uploads.column_options(known):
        return ingest.FieldMap(), True
    chosen = {}
    for column, (what, label, help_) in zip(st.columns(3), (
            ("text", "Text column", "The field holding each article's text."),
            ("title", "Title column", "The headline, shown above the sentences; optional."),
            ("id", "Id column", "Each article's id; optional (without one: "
                                "<file name>-<row number>)."))):
        options, pick = uploads.choices(known, what)
        chosen[what] = column.selectbox(
            label, options, key=f"import_{what}_field", help=help_,
            index=options.index(pick) if pick in options else None,
            placeholder="Choose the column with the article text")
    if chosen["text"] is None:
        st.warning(_literal(
            "No text column found (looked for " + ", ".join(ingest.TEXT_FIELDS)
            + "). The columns are: " + ", ".join(uploads.column_options(known))
            + ". Choose the one that holds the article text."), icon="⚠️")
        return ingest.FieldMap(), False
    return uploads.field_map(known, chosen["text"], chosen["title"], chosen["id"]), True


def _preview(db: Project, signature: tuple, ups: list[uploads.Upload],
             fields: ingest.FieldMap) -> None:
    """The first article of the first upload as it would be imported, or the error."""
    ss = st.session_state
    key = (signature, fields, ss.get(_GENERATION, 0))
    cached = ss.get(_PREVIEW)
    if cached is None or cached[0] != key:
        cached = (key, _build_preview(db, ups[0], fields))
        ss[_PREVIEW] = cached
    result = cached[1]
    first = uploads.display_names([u.name for u in ups])[0]
    st.markdown(f"**Preview** — the first article of {_literal(first)}")
    if "error" in result:
        st.error(_literal(result["error"]))
        return
    st.text(f"id: {result['id']}\ntitle: {result['title'] or '(none)'}")
    rows = result["rows"]
    content = sum(kind == "content" for _, kind in rows)
    st.caption(f"{len(rows)} sentences: {content} to label, {len(rows) - content} "
               "boilerplate (kept, not shown to annotators).")
    if result["stored_as"] is not None:
        st.info(_literal(f"This text is already in the project (as {result['stored_as']}): "
                         "the import will skip it as a duplicate."), icon="ℹ️")
    # st.dataframe shows cell text literally.
    st.dataframe(pd.DataFrame(rows, columns=["sentence", "kind"]), hide_index=False,
                 width="stretch", height=min(400, 38 + 35 * len(rows)))


def _build_preview(db: Project, upload: uploads.Upload,
                   fields: ingest.FieldMap) -> dict:
    try:
        with uploads.stage([upload]) as staged:
            try:
                pre = ingest.preview(db, staged.paths[0], fields=fields)
            except IngestError as exc:
                return {"error": staged.message(str(exc))}
    except IngestError as exc:
        return {"error": str(exc)}
    except OSError as exc:
        return {"error": f"could not stage the upload: {exc.strerror or exc}"}
    art = pre.article
    return {"id": art.external_id, "title": art.title, "rows": pre.sentences,
            "stored_as": pre.stored_as}


def _run_import(db: Project, person: dict, ups: list[uploads.Upload],
                fields: ingest.FieldMap, skip_bad: bool) -> None:
    """Import the uploads (the role checked again first), with a progress bar; the
    outcome goes to session state for ``_show_result``."""
    ss = st.session_state
    ss.pop(_RESULT, None)
    if not common.has_role_now(db, person, common.ADMIN_ROLES):
        ss[_RESULT] = {"error": _REFUSED}
        return
    # Streamlit stops a run when the page is used meanwhile (at its next progress
    # update); this flag, cleared only when the import ends, lets the next run say so.
    ss[_RUNNING] = True
    _import_with_progress(db, ups, fields, skip_bad)
    ss.pop(_RUNNING, None)


def _import_with_progress(db: Project, ups: list[uploads.Upload],
                          fields: ingest.FieldMap, skip_bad: bool) -> None:
    ss = st.session_state
    with st.status("Importing… stay on this page until it finishes", expanded=True) as status:
        bar = st.progress(0.0, text="Writing the uploads to a temporary folder…")
        try:
            staged = uploads.stage(ups)
        except (IngestError, OSError) as exc:
            status.update(label="Nothing was imported", state="error", expanded=False)
            ss[_RESULT] = {"error": str(exc) if isinstance(exc, IngestError)
                           else f"could not stage the uploads: {exc.strerror or exc}"}
            return
        last = [0.0]

        def on_step(step: ingest.ImportStep) -> None:
            # at most ~10 updates a second: each is a message to the browser
            if time.monotonic() - last[0] >= 0.1:
                last[0] = time.monotonic()
                bar.progress(_fraction(step), text=_literal(_step_text(step, staged)))

        before = corpus.summary(db)["articles"]
        with staged:
            try:
                report = ingest.import_paths(
                    db, staged.paths, fields=fields, skip_bad=skip_bad,
                    progress=lambda done, total, _r: bar.progress(
                        done / total, text=f"{done} of {total} files imported"),
                    on_step=on_step)
            except (IngestError, DatabaseError) as exc:
                # Files are checked before any is written, so a bad file stops the
                # import before it starts; only a failure while writing (disk full,
                # another import storing the same id meanwhile) comes after some.
                added = corpus.summary(db)["articles"] - before
                status.update(label="Import stopped" if added else "Nothing was imported",
                              state="error", expanded=False)
                ss[_RESULT] = {"error": staged.message(str(exc)), "added": added}
                return
            finally:
                ss[_GENERATION] = ss.get(_GENERATION, 0) + 1
            status.update(label="Import finished", state="complete", expanded=False)
            ss[_RESULT] = {
                "articles": report.articles_added, "sentences": report.sentences_added,
                "duplicates": [staged.message(d) for d in report.duplicates],
                "errors": [staged.message(e) for e in report.errors],
                "warnings": [staged.message(w) for w in report.warnings]}


def _fraction(step: ingest.ImportStep) -> float:
    """How far the import is: files done, plus the part of this file stored."""
    within = step.done / step.total if step.phase == "write" and step.total else 0.0
    return min(1.0, (step.file - 1 + within) / step.files)


def _step_text(step: ingest.ImportStep, staged: uploads.Staged) -> str:
    name = staged.message(step.path)
    where = f"{name} (file {step.file} of {step.files})"
    if step.phase == "check":
        return f"Checking {where}: {step.done:,} rows read"
    if step.phase == "read":
        return f"Reading {where}: {step.done:,} rows read"
    return f"Storing {where}: {step.done:,} of {step.total or 0:,} articles"


def _show_result() -> None:
    """The last import's outcome: counts, duplicates, skipped rows, warnings; or the
    error that stopped it (nothing written)."""
    result = st.session_state.get(_RESULT)
    if result is None:
        return
    with st.container(key="import_result"):
        if "error" in result:
            st.error(_literal(result["error"]), icon="🚫")
            if result.get("added"):
                st.caption(f"The files before it were imported ({result['added']:,} "
                           "articles); import again: they are skipped as duplicates.")
            elif result["error"] != _REFUSED:
                st.caption("Nothing was imported: fix the file (or tick “Skip bad rows "
                           "and files”) and import again.")
            return
        dupes, errors, warnings = result["duplicates"], result["errors"], result["warnings"]
        st.success(f"{result['articles']:,} articles added ({result['sentences']:,} "
                   f"sentences), {len(dupes):,} duplicates skipped, {len(errors):,} bad rows "
                   "or files skipped.", icon="✅")
        for title, items, column in (("Duplicates skipped (already in the project)", dupes,
                                      "where"),
                                     ("Skipped as bad", errors, "error"),
                                     ("Warnings", warnings, "warning")):
            if items:
                with st.expander(f"{title}: {len(items):,}", expanded=column == "error"):
                    st.dataframe(pd.DataFrame({column: items}), hide_index=True,
                                 width="stretch")


# ------------------------------------------------------------------------- removal


def remove_section(db: Project, person: dict) -> None:
    """Choose an article, see what it holds, remove it (refused when it has labels or
    gold, unless confirmed), through ``corpus.remove_article`` (logged)."""
    st.subheader("Remove an article")
    ss = st.session_state
    if outcome := ss.pop(_REMOVED, None):
        kind, msg = outcome
        (st.success if kind == "success" else st.error)(_literal(msg))
    listed = corpus.articles(db, limit=_LISTED + 1)  # one more: are there more?
    if not listed:
        st.caption("The project has no articles.")
        return
    if len(listed) > _LISTED:
        listed = listed[:_LISTED]
        st.caption(f"Listing the first {_LISTED:,} articles; remove another with "
                   "python -m labeling article remove ID.")
    by_id = {a["external_id"]: a for a in listed}
    chosen = st.selectbox(
        "Article", list(by_id), index=None, key="remove_article",
        placeholder="Choose the article to remove",
        format_func=lambda eid: _option(eid, by_id.get(eid)))
    if chosen is None or chosen not in by_id:
        return
    art = by_id[chosen]
    st.text(f"id: {chosen}\ntitle: {art['title'] or '(none)'}")
    cols = st.columns(4)
    cols[0].metric("Sentences", art["sentences"])
    cols[1].metric("To label", art["content_sentences"])
    cols[2].metric("Labels", art["labels"])
    cols[3].metric("Gold", art["gold"])
    st.checkbox(f"Also delete its {art['labels']:,} labels and {art['gold']:,} gold labels "
                "(and their history)", key="remove_force",
                help="Without this an article that anyone has labeled is not removed.")
    st.button("Remove", key="remove_button", on_click=common.serialised(_remove),
              args=(person, chosen), icon="🗑️")


def _option(external_id: str, art: dict | None) -> str:
    title = " ".join(((art or {}).get("title") or "").split())
    return f"{external_id} — {title[:80]}" if title else external_id


def _remove(person: dict, external_id: str) -> None:
    """The Remove button: role checked now, then the library's removal (logged as
    ``app:<name>``); the outcome is shown on the next run."""
    ss = st.session_state
    db = common.session_db()
    if not common.has_role_now(db, person, common.ADMIN_ROLES):
        ss[_REMOVED] = ("error", _REFUSED)
        return
    try:
        result = corpus.remove_article(db, external_id, actor=f"app:{person['name']}",
                                       force=bool(ss.get("remove_force")))
    except (corpus.CorpusError, DatabaseError) as exc:
        ss[_REMOVED] = ("error", uploads.page_words(str(exc)))
        return
    r = result["removed"]
    ss[_REMOVED] = ("success", f"Removed {result['article']}: {r['sentences']:,} sentences, "
                               f"{r['labels']:,} labels, {r['gold']:,} gold labels.")
    ss["remove_force"] = False
    ss["remove_article"] = None
    ss[_GENERATION] = ss.get(_GENERATION, 0) + 1  # a preview's "already stored" may change
