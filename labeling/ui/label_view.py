"""The label page's widgets: one sentence at a time, keyboard first.

Keys: a label's key labels (or toggles, in multi-label projects; Enter submits),
Left = back, Right = skip (forward while revisiting), F = flag, G = guidelines.

Two guards keep a press on the sentence the user saw (docs/architecture.md): every
callback gets the sentence id it was rendered for (``args=``), and the browser sends
back, with every press, the id of the sentence it has on screen (the hidden
``shown_sentence`` field the server sets with each sentence). A press whose ids differ
from the sentence the server shows now is dropped. Button keys never change, so their
shortcuts stay bound. Article text is only shown through ``st.html`` + ``html.escape``.

This lives in a module (the page file only calls :func:`render`) so that it is compiled
once per process rather than on every rerun.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, NamedTuple

import streamlit as st

from labeling import annotate, project, safe_markdown
from labeling.config import ProjectConfig
from labeling.navigator import Navigator
from labeling.ui import common

if TYPE_CHECKING:
    from labeling.project import Project

ss = st.session_state
SHOWN = "shown_sentence"  # hidden widget: the sentence the browser displays
_HIDE_SHOWN = "<style>.st-key-shown_sentence {display: none}</style>"
_CURRENT_STYLE = ("font-size:1.45rem;line-height:1.5;padding:.8rem 1rem;border-radius:.5rem;"
                  "border-left:6px solid #1f77b4;background:rgba(31,119,180,.08)")
_CONTEXT_STYLE = "color:#888;font-size:.95rem;min-height:1.4em"
_DROPPED = "lp_dropped"  # set when a press was dropped as stale
DROPPED_NOTICE = ("A key press came while the page was changing and was not applied. "
                  "Check the sentence and press again.")


class _Press(NamedTuple):
    """What a button callback works with (callbacks run before the page script)."""

    db: Project
    cfg: ProjectConfig
    person: dict
    nav: Navigator


def _nav(db: Project, person: dict) -> Navigator:
    """This session's navigator for the signed-in annotator (new if the name changed)."""
    nav = ss.get("lp_nav")
    if nav is None or nav.owner != person["id"]:
        nav = ss["lp_nav"] = Navigator(person["id"], annotate.history(db, person["id"]))
        ss.pop("lp_item_for", None)
    return nav


def _live(sid: int | None) -> _Press | None:
    """The press's context when a press rendered for ``sid`` is for the sentence shown
    now, in the server's state and on the user's screen; else None (dropped)."""
    person = ss.get("person")
    if person is None:
        return None
    db = common.session_db()
    nav = _nav(db, person)
    if nav.is_stale(sid) or ss.get(SHOWN) != _token(sid):
        ss[_DROPPED] = True  # the press must not vanish unseen: said until the next one
        return None
    ss.pop(_DROPPED, None)
    return _Press(db, common.project_config(db), person, nav)


def _token(sid: int | None) -> str:
    return "" if sid is None else str(sid)


def _save(live: _Press, sid: int, action: str, labels: list[str] | tuple[str, ...] = ()
          ) -> bool:
    """Save the shown sentence with the pending flag/note; False if it was not saved."""
    db, cfg, person, nav = live
    flagged = bool(ss.get("lp_flag"))
    try:
        annotate.save(db, person["id"], sid, cfg, action=action, labels=labels,
                      flagged=flagged, note=ss.get("note") if flagged else None,
                      duration_ms=nav.elapsed_ms(time.monotonic()))
    except annotate.QuotaReached as exc:
        ss["lp_msg"] = str(exc)
        nav.to_fresh()  # nothing saved: move on, the sentence is full
        return False
    except annotate.LabelingError as exc:
        ss["lp_msg"] = f"Not saved: {exc}"
        return False
    nav.acted(sid)
    return True


@common.serialised
def _on_label(sid: int, name: str) -> None:
    if (live := _live(sid)) is None:
        return
    if live.cfg.multi_label:
        sel = ss["lp_selected"]
        ss["lp_selected"] = [x for x in sel if x != name] if name in sel else sel + [name]
    else:
        _save(live, sid, "label", [name])


@common.serialised
def _on_submit(sid: int) -> None:
    if (live := _live(sid)) is not None:
        _save(live, sid, "label", ss["lp_selected"])


@common.serialised
def _on_skip(sid: int) -> None:
    if (live := _live(sid)) is None:
        return
    nav = live.nav
    if not nav.revisiting:
        _save(live, sid, "skip")
        return
    # Revisiting: Right goes forward keeping the stored answer; a changed flag or note
    # is saved with it rather than silently dropped.
    item = ss["lp_item"]
    flagged = bool(ss.get("lp_flag"))
    note = ((ss.get("note") or "").strip() or None) if flagged else None
    changed = (flagged, note) != (item.flagged, item.note if item.flagged else None)
    action = "label" if item.status == "labeled" else "skip"
    if changed and not _save(live, sid, action, item.labels):
        return
    nav.forward()


@common.serialised
def _on_back(sid: int | None) -> None:
    if (live := _live(sid)) is not None:
        live.nav.back()


@common.serialised
def _on_flag(sid: int) -> None:
    if _live(sid) is not None:
        ss["lp_flag"] = not ss.get("lp_flag")


def _toggle_guidelines() -> None:
    ss["lp_guidelines"] = not ss.get("lp_guidelines")


def _close_guidelines() -> None:
    ss["lp_guidelines"] = False


@st.dialog("Guidelines", width="large", on_dismiss=_close_guidelines)
def _guidelines(text: str, version: str) -> None:
    # project text, not article; images and HTML shown as text (no outside fetches)
    st.markdown(safe_markdown.neutralise(text) or "_This project has no guidelines yet._")
    st.caption(f"Guidelines version {version}")
    st.button("Close", key="guidelines_close", on_click=_close_guidelines)


def _first_screen(db: Project, cfg: ProjectConfig,
                  person: dict | None) -> str:
    """What a visitor needs before the first label: what Parley is for (for someone not
    signed in, or while the project has no articles), whether the project is empty
    or holds only the demo article (which must not end up in a training set unnoticed),
    and the next step for this visitor's role. Paths and commands are for admins only.
    Returns the corpus state ("empty", "demo" or "real")."""
    state = project.corpus_state(db)
    role = person["role"] if person else None
    if person is None or state == "empty":  # not over every sentence of the demo
        with st.container(key="welcome"):
            labels = ", ".join(cfg.label_names)  # validated names: safe as markdown
            st.markdown(
                f"**Parley** is where a team labels the sentences of negotiation news "
                f"({labels}), one sentence at a time from the keyboard. Reviewers then "
                "check how far annotators agree, settle disagreements and export a "
                "training dataset with its reliability figures.")
    if state != "real":
        with st.container(key="corpus_notice"):
            _corpus_notice(state, role)
    # setup_open is only ever true before real articles are in: skip its reads after that
    if role != "admin" and state != "real" and annotate.setup_open(db):
        if person is None:
            _setup_form(person)
        else:  # one line above the sentence while labeling the demo, not a whole form
            with st.expander("Set up this project: make yourself its admin"):
                _setup_form(person)
    if person is None:
        how = ("your name in the sidebar, then your password"
               if cfg.require_passwords else "your name in the sidebar")
        st.info(f"Type {how} to start labeling.", icon="🪪")
    return state


def _setup_form(person: dict | None) -> None:
    """Claim a project the app just created: its first admin, with a password."""
    with st.form("setup", border=True):
        st.markdown("**Set up this project.** Nobody runs it yet. If you started Parley, "
                    "make yourself its admin: you can then import your articles and add "
                    "people here in the browser.")
        left, right = st.columns(2)
        left.text_input("Your name", key="setup_name", max_chars=40,
                        value=person["name"] if person else "")
        right.text_input("Password (at least 8 characters)", type="password",
                         key="setup_password")
        st.form_submit_button("Become admin", key="setup_submit", on_click=_claim)
    if msg := ss.pop("setup_error", None):
        st.error(safe_markdown.literal(msg))


def _claim() -> None:
    # A callback: the password is read once and cleared; the library checks again, in
    # its write transaction, that the project is still unclaimed.
    name = (ss.get("setup_name") or "").strip()
    password, ss["setup_password"] = ss.get("setup_password") or "", ""
    try:
        admin = annotate.claim_first_admin(common.session_db(), name, password,
                                           actor=f"app:{name}")
    except annotate.LabelingError as exc:
        ss["setup_error"] = str(exc)
        return
    ss["annotator"], ss[common.SIGNED_IN] = admin["name"], admin["id"]


def _corpus_notice(state: str, role: str | None) -> None:
    if state == "empty":
        text = "This project has no articles yet."
        text += (" Import them on the Import page." if role == "admin"
                 else " An admin imports them; come back then.")
        st.info(text, icon="📥")
    else:
        text = ("This project holds only the demo article (U.S.–Russia talks in Geneva), "
                "to try Parley out.")
        if role == "admin":
            text += (" To label your own articles, import them and take the demo out, "
                     "both on the Import page.")
        elif role is not None:
            text += " Try labeling it; an admin will import the project's own articles."
        st.info(text, icon="🧪")
    if role != "admin":
        return
    st.page_link("labeling/ui/import_articles.py", label="Go to the Import page",
                 icon="📥")
    with st.expander("Or from a terminal"):
        path = project.db_path()
        commands = [f"python -m labeling --db {path} import articles/"]
        if state == "demo":
            commands.append(f"python -m labeling --db {path} article remove "
                            f"{project.DEMO_ID} --force")
        st.code("\n".join(commands), language="bash")


def _headline_on_screen(item: annotate.Item) -> bool:
    """Whether the article's headline is already on screen as a sentence (the one to
    label, or the one before it): then it is not shown a second time above."""
    if item.title is None:
        return False
    title = " ".join(item.title.split())
    return any(t is not None and " ".join(t.split()) == title
               for t in (item.text, item.before))


def _text_block(key: str, text: str | None, style: str) -> None:
    """Article text, literally (escaped HTML), in a container tests can find by key."""
    with st.container(key=key):
        st.html(f'<div style="{style}">{html.escape(text or "")}</div>')


def _progress(db: Project, person: dict) -> dict:
    p = annotate.progress(db, person["id"])
    share = p["complete"] / p["content_sentences"] if p["content_sentences"] else 0.0
    st.progress(min(1.0, share), text=f"You: {p['mine_today']:,} today · {p['mine_total']:,} "
                f"total — project: {p['complete']:,} of {p['content_sentences']:,} "
                "sentences have enough labels")
    return p


def _current_item(db: Project, cfg: ProjectConfig, person: dict,
                  nav: Navigator) -> annotate.Item | None:
    """The item to show (routing picks one when none is set); resets the pending
    flag, note and selection whenever another sentence comes on screen."""
    if nav.current is None:
        fresh = annotate.next_item(db, person["id"], cfg)
        nav.current = fresh.sentence_id if fresh else None
    item = annotate.load_item(db, nav.current, person["id"]) if nav.current is not None else None
    if ss.get("lp_item_for") != nav.current:
        ss["lp_item_for"], nav.shown_at = nav.current, time.monotonic()
        ss["lp_flag"] = bool(item and item.flagged)
        ss["note"] = (item.note if item else None) or ""
        ss["lp_selected"] = list(item.labels) if item else []
    ss["lp_item"] = item
    ss[SHOWN] = _token(nav.current)
    return item


def _shown_token() -> None:
    """The hidden field that reports back which sentence the browser shows. It comes
    after the sentence text: a browser that has the new token has the new text too."""
    st.text_input("shown sentence", key=SHOWN, label_visibility="collapsed")


def render() -> None:
    """Draw the label page for ``st.session_state["person"]``."""
    person = ss.get("person")
    db = common.session_db()
    cfg = common.project_config(db)
    state = _first_screen(db, cfg, person)
    if person is None or state == "empty":  # nothing to label, and not "all done" either
        return
    nav = _nav(db, person)
    item = _current_item(db, cfg, person, nav)
    sid, dialog_open = nav.current, bool(ss.get("lp_guidelines"))
    if msg := ss.pop("lp_msg", None):
        st.toast(msg, icon=":material/warning:")
        st.warning(msg)
    if ss.get(_DROPPED):
        with st.container(key="dropped_notice"):
            st.caption(f"⚠️ {DROPPED_NOTICE}")

    if item is None:
        with st.container(key="queue_done"):
            st.success("All done — there is nothing left for you to label. Thank you!",
                       icon=":material/task_alt:")
            p = _progress(db, person)
            st.html(_HIDE_SHOWN)
            _shown_token()
            st.write(f"You labeled **{p['mine_total']:,}** sentences "
                     f"(**{p['mine_today']:,}** today).")
        st.button("Back", key="nav_back", shortcut="Left", icon=":material/arrow_back:",
                  on_click=_on_back, args=(None,), disabled=not nav.can_go_back)
        return

    # The headline, unless it is on screen as a sentence already (shown once, below).
    heading = "" if _headline_on_screen(item) else html.escape(item.title or item.public_id)
    st.html(f'{_HIDE_SHOWN}<div style="font-weight:600;font-size:1.05rem;opacity:.8">'
            f"{heading}</div>")
    if nav.revisiting:
        st.info("Revisiting an earlier answer: your stored label is highlighted. Press a "
                "label to change it, Right to go forward.", icon=":material/undo:")
    if ss["lp_flag"]:
        st.error("Flagged — the flag is saved with your next label or skip.",
                 icon=":material/flag:")
    _text_block("context_before", item.before, _CONTEXT_STYLE)
    _text_block("current_sentence", item.text, _CURRENT_STYLE)
    _shown_token()
    _text_block("context_after", item.after, _CONTEXT_STYLE)

    chosen = ss["lp_selected"] if cfg.multi_label else item.labels
    with st.container(horizontal=True, key="label_buttons"):
        for lab in cfg.labels:  # label names are validated config, safe as button text
            st.button(lab.name, key=f"label_{lab.name}", shortcut=lab.key,
                      help=safe_markdown.neutralise(lab.description),
                      type="primary" if lab.name in chosen else "secondary",
                      on_click=_on_label, args=(sid, lab.name), disabled=dialog_open)
        if cfg.multi_label:
            st.button("Submit", key="submit", shortcut="Enter", icon=":material/check:",
                      on_click=_on_submit, args=(sid,), disabled=dialog_open)
    with st.container(horizontal=True, key="nav_buttons"):
        st.button("Back", key="nav_back", shortcut="Left", icon=":material/arrow_back:",
                  on_click=_on_back, args=(sid,), disabled=dialog_open or not nav.can_go_back)
        st.button("Forward" if nav.revisiting else "Skip", key="nav_skip", shortcut="Right",
                  icon=":material/arrow_forward:", on_click=_on_skip, args=(sid,),
                  disabled=dialog_open)
        st.button("Unflag" if ss["lp_flag"] else "Flag", key="nav_flag", shortcut="F",
                  icon=":material/flag:", type="primary" if ss["lp_flag"] else "secondary",
                  on_click=_on_flag, args=(sid,), disabled=dialog_open)
        st.button("Guidelines", key="guidelines", shortcut="G", icon=":material/menu_book:",
                  on_click=_toggle_guidelines)
    if ss["lp_flag"]:
        st.text_input("Note for the reviewer (optional)", key="note", on_change="ignore",
                      max_chars=500, placeholder="what is unclear about this sentence?")
    _progress(db, person)
    if dialog_open:
        _guidelines(cfg.guidelines, cfg.guidelines_version)
