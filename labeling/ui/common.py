"""Shared pieces of the Streamlit pages: the database connection, the project config,
and who is working (name in the URL, optional password, role)."""

from __future__ import annotations

import sqlite_utils
import functools
import threading

import streamlit as st

import db as store
from labeling import annotate, project
from labeling.config import ProjectConfig

REVIEW_ROLES = ("reviewer", "admin")


@st.cache_resource(show_spinner="Opening the project…")
def _project_path() -> str:
    """Migrations, config and seed: once per process (cache_resource is process-global)."""
    path = project.db_path()
    project.open_for_app(path).close()
    return path


def _close(db: sqlite_utils.Database) -> None:
    db.close()


@st.cache_resource(scope="session", on_release=_close, show_spinner=False)
def _session_connection(path: str) -> sqlite_utils.Database:
    # One connection per browser session: a connection has one transaction state, so
    # sessions must not share one (notes/streamlit.md).
    return store.connect(path)


PRESS_LOCK = "_press_lock"


def session_db() -> sqlite_utils.Database:
    """This browser session's connection to the project database."""
    if PRESS_LOCK not in st.session_state:
        st.session_state[PRESS_LOCK] = threading.RLock()
    return _session_connection(_project_path())


def serialised(callback):
    """Run a button callback under the session's lock.

    Fast key presses can start a new script run while the previous one is still inside
    a save (Streamlit interrupts a run only at its next Streamlit call), so two
    callbacks of one session may overlap. Under the lock, the second sees the state the
    first left (the sentence already answered) and is dropped as stale instead of
    acting on the same sentence again."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        with st.session_state[PRESS_LOCK]:
            return callback(*args, **kwargs)

    return run


def project_config(db: sqlite_utils.Database) -> ProjectConfig:
    """The stored project config (read per rerun: it is one small row)."""
    return project.load_config(db)


def identity_sidebar(db: sqlite_utils.Database, cfg: ProjectConfig) -> dict | None:
    """The annotator field (kept in ``?annotator=``), sign-in when a password is set.

    Returns the signed-in annotator ``{"id", "name", "role", ...}`` or None (the page
    then shows nothing of anyone's work).
    """
    with st.sidebar:
        # no max_chars: Streamlit would silently cut a longer ?annotator= to another name
        name = st.text_input("Annotator", key="annotator", bind="query-params",
                             placeholder="your name")
        name = (name or "").strip()
        if not name:
            st.info("Type your name to start.")
            return None
        if not annotate.valid_name(name):
            st.error("Use 1–40 letters, digits, spaces or - _ .")
            return None
        if st.session_state.get("_signed_in") not in (None, name):
            # another name in the field: a later return to the signed-in name asks again
            st.session_state.pop("_signed_in")
        if annotate.needs_password(db, name) and st.session_state.get("_signed_in") != name:
            pw = st.text_input("Password", type="password", key="password")
            if pw and annotate.authenticate(db, name, pw):
                st.session_state["_signed_in"] = name
                st.session_state.pop("password", None)
                st.rerun()
            if pw:
                st.error("Wrong password.")
            return None
        try:
            person = annotate.ensure_annotator(db, name, cfg)
        except annotate.LabelingError as exc:
            st.error(str(exc))
            return None
        st.caption(f"Role: {person['role']}")
    return person


def require_role(person: dict | None, roles: tuple[str, ...] = REVIEW_ROLES) -> dict:
    """Stop the page unless the signed-in person has one of ``roles`` (server-side check:
    pages reached by URL or session-state tricks are refused too)."""
    if person is None or person.get("role") not in roles:
        st.error("This page is for " + " and ".join(f"{r}s" for r in roles)
                 + " only. Ask an admin for access.", icon="🔒")
        st.stop()
    return person
