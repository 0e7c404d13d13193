"""The Review page's widgets: agreement summary and charts, the disagreement queue with
adjudication keys, and flagged sentences (reviewers and admins only).

The queue is an ``st.fragment``: a decision reruns only the queue, not the agreement
report above it. Presses are guarded as on the label page (docs/architecture.md): every
callback gets the sentence id it was rendered for, and the hidden ``rv_shown`` field
carries back the id the browser shows; a press whose ids differ from the sentence shown
now is dropped. Button keys never change, so their shortcuts stay bound. Article text
and notes are shown only through ``st.html`` + ``html.escape`` (literal).
"""

from __future__ import annotations

import html

import altair as alt
import streamlit as st

from labeling import annotate, reliability, review
from labeling.agreement import frames as agreement_frames
from labeling import safe_markdown
from labeling.ui import common

ss = st.session_state
SHOWN = "rv_shown"
BOOTSTRAP, SEED = 500, 0
_HIDE_SHOWN = "<style>.st-key-rv_shown_box {display: none}</style>"
_SENTENCE_STYLE = ("font-size:1.3rem;line-height:1.5;padding:.7rem 1rem;border-radius:.5rem;"
                   "border-left:6px solid #d62728;background:rgba(214,39,40,.07)")
_CONTEXT_STYLE = "color:#888;font-size:.95rem;min-height:1.2em"
_ANY = "(any)"
_REFUSED = "This is for reviewers and admins only. Ask an admin for access."


def _fmt(x: float | None) -> str:
    return "not defined" if x is None else f"{x:.3f}"


def _literal(key: str, text: str | None, style: str = "") -> None:
    """Text from articles or annotators, shown literally, in a keyed container."""
    with st.container(key=key):
        st.html(f'<div style="{style}">{html.escape(text or "")}</div>')


# ----------------------------------------------------------------------------- agreement


_HEADLINE = (("krippendorff_alpha", "Krippendorff's α"), ("fleiss_kappa", "Fleiss' κ"),
             ("mean_cohen_kappa", "Mean Cohen's κ"), ("gwet_ac1", "Gwet's AC1"),
             ("percent_agreement", "% agreement"))


def summary(db) -> dict:
    """Headline agreement figures; returns the report for the detail sections."""
    data = reliability.report_data(db, bootstrap=BOOTSTRAP, seed=SEED)
    rep = data.figures
    alpha, ci = rep["krippendorff_alpha"], rep["krippendorff_alpha_ci95"]
    gold = review.gold_counts(db)
    with st.container(key="rv_summary"):
        cols = st.columns([1.5] + [1] * (len(_HEADLINE) + 1))
        for col, (key, title) in zip(cols, _HEADLINE):
            col.metric(title, _fmt(rep[key]))
        cols[-2].metric("Units", f"{rep['pairable_units']:,}",
                        help=f"Sentences with two or more labels (of {rep['units']:,} "
                             "with any label)")
        cols[-1].metric("Annotators", f"{len(rep['annotators']):,}")
        interval = (f"95% interval [{ci[0]:.3f}, {ci[1]:.3f}] ({BOOTSTRAP} bootstrap "
                    f"replicates, seed {SEED})" if ci else "95% interval not defined")
        reading = agreement_frames.alpha_reading(alpha)
        st.text(f"Alpha reading: {reading} (≥ 0.800 reliable, ≥ 0.667 "
                f"tentative) · {interval} · gold: {gold['adjudicated']:,} adjudicated, "
                f"{gold['unanimous']:,} unanimous")
        headline = {key for key, _ in _HEADLINE}
        for key, why in data.reasons.items():  # why a headline value is not defined
            if key in headline:
                st.text(f"{key}: {why}")
        if rep["notes"]:
            with st.expander(f"All notes ({len(rep['notes'])})"):
                for note in rep["notes"]:
                    st.text(note)
    return rep


def _heatmap(frame, x: str, y: str, value: str, fmt: str, domain=None):
    """Cells coloured by ``value`` with the value written in; axes keep the frame's order
    (project label order), not Altair's alphabetical one."""
    order = {c: list(dict.fromkeys(frame[c])) for c in (x, y)}
    base = alt.Chart(frame).encode(x=alt.X(f"{x}:N", title=None, sort=order[x]),
                                   y=alt.Y(f"{y}:N", title=None, sort=order[y]))
    scale = alt.Scale(domain=domain, scheme="blues") if domain else alt.Scale(scheme="blues")
    rect = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=scale),
                                   tooltip=[x, y, value])
    text = base.mark_text(baseline="middle").encode(text=alt.Text(f"{value}:Q", format=fmt))
    return (rect + text).properties(height=alt.Step(34))


@st.fragment
def details(rep: dict) -> None:
    """Per-label alpha, pairwise kappa, a pair's confusion matrix, per-annotator table
    (a fragment: choosing a pair reruns only this part)."""
    db = common.session_db()
    if not common.has_role_now(db, ss.get("person")):  # a fragment rerun skips app.py
        st.error(_REFUSED, icon="🔒")
        return
    if not rep["annotators"]:
        st.info("No labels yet: agreement appears once sentences have two labels.")
        return
    left, right = st.columns(2)
    with left:
        st.subheader("Per label")
        st.dataframe(agreement_frames.per_label_frame(
            reliability.report_data(db, bootstrap=BOOTSTRAP, seed=SEED)), hide_index=True, key="rv_per_label",
                     column_config={"alpha": st.column_config.NumberColumn(format="%.3f")})
        st.subheader("Cohen's kappa per pair")
        pairs = agreement_frames.kappa_pairs_frame(rep)
        if pairs.empty:
            st.text("Not defined: fewer than two annotators.")
        else:
            st.altair_chart(_heatmap(pairs, "b", "a", "kappa", ".2f", [-1, 1]), width="stretch")
    with right:
        st.subheader("Confusion matrix")
        names = rep["annotators"]
        a = st.selectbox("First annotator (rows)", names, key="rv_pair_a")
        b = st.selectbox("Second annotator (columns)", names, index=min(1, len(names) - 1),
                         key="rv_pair_b")
        conf = agreement_frames.confusion_long(reliability.pair_confusion(db, a, b))
        st.altair_chart(_heatmap(conf, "column", "row", "count", "d"), width="stretch")
    st.subheader("Annotators")
    st.dataframe(reliability.annotator_table(db), hide_index=True, key="rv_annotators",
                 column_config={
                     "median_seconds": st.column_config.NumberColumn(format="%.1f"),
                     "kappa_vs_rest": st.column_config.NumberColumn(
                         "kappa vs others", format="%.3f",
                         help="Cohen's kappa against the strict majority of the others")})


# ----------------------------------------------------------------------------- queue


def _ctx():
    """(db, cfg, person) for callbacks, which run before the page script."""
    db = common.session_db()
    return db, common.project_config(db), ss.get("person")


def _live(sid: int) -> bool:
    """A press rendered for ``sid`` is for the sentence on the server's and the user's
    screen."""
    return ss.get("rv_current") == sid and ss.get(SHOWN) == str(sid)


def _decide(sid: int, labels) -> None:
    db, cfg, person = _ctx()
    if person is None:  # signed out since the page was drawn
        return
    if not common.has_role_now(db, person):  # demoted since the page was drawn
        ss["rv_msg"] = "Not saved: you are no longer a reviewer or admin."
        return
    try:
        review.adjudicate(db, person["id"], sid, labels, cfg, rationale=ss.get("rationale"))
    except review.ReviewError as exc:
        ss["rv_msg"] = f"Not saved: {exc}"
        return
    ss["rv_saved"] = f"Gold saved: {', '.join(labels)}"
    ss["rationale"], ss["rv_selected"] = "", []


@common.serialised
def _on_gold(sid: int, name: str) -> None:
    if not _live(sid):
        return
    if _ctx()[1].multi_label:
        sel = ss.get("rv_selected", [])
        ss["rv_selected"] = [x for x in sel if x != name] if name in sel else sel + [name]
    else:
        _decide(sid, [name])


@common.serialised
def _on_submit(sid: int) -> None:
    if _live(sid):
        _decide(sid, ss.get("rv_selected", []))


@common.serialised
def _on_skip(sid: int) -> None:
    if _live(sid):
        ss.setdefault("rv_skipped", []).append(sid)


def _filters(db, cfg) -> dict:
    cols = st.columns([1, 1, 1, 1])
    lab = cols[0].selectbox("Label", [_ANY, *cfg.label_names], key="rv_filter_label")
    people = [a["name"] for a in annotate.list_annotators(db) if a["labels"]]
    ann = cols[1].selectbox("Annotator", [_ANY, *people], key="rv_filter_annotator")
    art = cols[2].text_input("Article id", key="rv_filter_article", placeholder="any article")
    cols[3].toggle("Hide names", key="rv_hide_names",
                   help="Show annotators as Annotator 1, 2, … while deciding")
    return {"label": None if lab == _ANY else lab, "annotator": None if ann == _ANY else ann,
            "article": art.strip() or None}


def _judgements_html(item: review.ReviewItem, hide: bool) -> str:
    rows = []
    for i, j in enumerate(item.judgements, 1):
        who = f"Annotator {i}" if hide else j.annotator
        labels = ", ".join(j.labels) if j.status == "labeled" else "(skipped)"
        secs = "" if j.duration_ms is None else f"{j.duration_ms / 1000:.1f}s"
        cells = [who, labels, "flagged" if j.flagged else "", j.note or "", secs]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("Annotator", "Labels", "Flag", "Note", "Time"))
    return f'<table style="width:100%;text-align:left"><tr>{head}</tr>{"".join(rows)}</table>'


@st.fragment
def queue_section() -> None:
    """The disagreement queue: the lowest-agreement sentence and the keys to decide it."""
    db, cfg, person = _ctx()
    # A fragment rerun skips app.py and its role check: check again here.
    if not common.has_role_now(db, person):
        if msg := ss.pop("rv_msg", None):
            st.warning(msg)
        st.error(_REFUSED, icon="🔒")
        return
    where = _filters(db, cfg)
    skipped = ss.setdefault("rv_skipped", [])
    q = review.queue(db, limit=20 + len(skipped), **where)
    entries = [e for e in q.entries if e.sentence_id not in skipped]
    head = entries[0] if entries else None
    sid = head.sentence_id if head else None
    if ss.get("rv_item_for") != sid:  # another sentence: fresh selection and rationale
        ss["rv_item_for"], ss["rv_selected"], ss["rationale"] = sid, [], ""
    ss["rv_current"], ss[SHOWN] = sid, "" if sid is None else str(sid)
    st.html(_HIDE_SHOWN)
    with st.container(key="rv_shown_box"):
        st.text_input("shown sentence", key=SHOWN, label_visibility="collapsed")
    if msg := ss.pop("rv_msg", None):
        st.warning(msg)
    if saved := ss.pop("rv_saved", None):
        st.toast(saved, icon="⚖️")
    if head is None:
        with st.container(key="rv_queue_empty"):
            st.success("No disagreements left to decide with these filters.", icon="✅")
        return
    item = review.load(db, sid)
    st.text(f"{q.total:,} sentences in the queue · this one: {item.public_id}, "
            f"{head.n_labels} labels, unit agreement {head.agreement:.2f}")
    _literal("rv_headline", item.title or item.public_id, "font-weight:600;opacity:.8")
    _literal("rv_before", item.before, _CONTEXT_STYLE)
    _literal("rv_sentence", item.text, _SENTENCE_STYLE)
    _literal("rv_after", item.after, _CONTEXT_STYLE)
    with st.container(key="rv_judgements"):
        st.html(_judgements_html(item, bool(ss.get("rv_hide_names"))))
    if item.gold:
        st.text(f"Current gold: {', '.join(item.gold['labels'])} ({item.gold['source']})")
    st.text_input("Rationale (optional, saved with the decision)", key="rationale",
                  on_change="ignore", max_chars=1000)
    selected = ss.get("rv_selected", [])
    with st.container(horizontal=True, key="rv_gold_buttons"):
        for lab in cfg.labels:  # validated config names, safe as button text
            st.button(lab.name, key=f"gold_{lab.name}", shortcut=lab.key,
                      help=safe_markdown.neutralise(lab.description),
                      type="primary" if lab.name in selected else "secondary",
                      on_click=_on_gold, args=(sid, lab.name))
        if cfg.multi_label:
            st.button("Save gold", key="gold_submit", shortcut="Enter", icon="✔️",
                      on_click=_on_submit, args=(sid,))
        st.button("Later", key="rv_skip", shortcut="Right", on_click=_on_skip, args=(sid,),
                  help="Leave this one for later in this session")
    if len(entries) > 1:
        st.caption("Next in the queue")
        st.dataframe([{"sentence": e.public_id, "agreement": round(e.agreement, 3),
                       "labels": e.n_labels} for e in entries[1:11]],
                     hide_index=True, key="rv_next")


def flagged_section(db, hide: bool) -> None:
    """Sentences annotators flagged, with their notes (not yet decided first)."""
    items, total = review.flagged(db)
    if not total:
        st.info("No flagged sentences.")
        return
    st.text(f"{total:,} flagged sentences" + (f" (first {len(items)} shown)"
                                              if total > len(items) else ""))
    for n, it in enumerate(items):
        with st.container(border=True, key=f"rv_flagged_{n}"):
            st.text(f"{it['public_id']} · gold: {it['gold_source'] or 'none yet'}")
            _literal(f"rv_flagged_text_{n}", it["text"])
            for i, f in enumerate(it["flags"], 1):
                who = f"Annotator {i}" if hide else f["annotator"]
                what = ", ".join(f["labels"]) if f["status"] == "labeled" else "skipped"
                _literal(f"rv_flag_{n}_{i}", f"{who} ({what}): {f['note'] or '(no note)'}",
                         _CONTEXT_STYLE)


def render() -> None:
    """Draw the Review page (the page file checks the role first). Only the open tab
    runs: the charts cost nothing while the reviewer works through the queue."""
    db = common.session_db()
    st.header("Review")
    rep = summary(db)
    queue_tab, agreement_tab, flagged_tab = st.tabs(
        ["Disagreements", "Agreement", "Flagged"], key="rv_tab", on_change="rerun")
    if queue_tab.open:
        with queue_tab:
            queue_section()
    if agreement_tab.open:
        with agreement_tab:
            details(rep)
    if flagged_tab.open:
        with flagged_tab:
            flagged_section(db, bool(ss.get("rv_hide_names")))
