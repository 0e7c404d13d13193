"""Shared pieces of the Streamlit pages: the database connection, the project config,
and who is working (name in the URL, optional password, role)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import functools
import threading

import streamlit as st

import db as store
from labeling import annotate, project, safe_markdown, vocabulary
from labeling.config import ProjectConfig

if TYPE_CHECKING:
    from labeling.project import Project

REVIEW_ROLES = vocabulary.REVIEW_ROLES
ADMIN_ROLES = vocabulary.ADMIN_ROLES


@st.cache_resource(show_spinner="Opening the project…")
def _project_path() -> str:
    """Migrations, config and seed: once per process (cache_resource is process-global)."""
    path = project.db_path()
    project.open_for_app(path).close()
    return path


def _close(db: Project) -> None:
    db.close()


@st.cache_resource(scope="session", on_release=_close, show_spinner=False)
def _session_connection(path: str) -> project.Project:
    # One connection per browser session: a connection has one transaction state, so
    # sessions must not share one (docs/architecture.md).
    return store.connect(path, factory=project.Project)


PRESS_LOCK = "_press_lock"


def session_db() -> project.Project:
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


def project_config(db: Project) -> ProjectConfig:
    """The stored project config (read per rerun: it is one small row)."""
    return project.load_config(db)


SIGNED_IN = "_signed_in"  # id of the person who gave their password in this session
_SIGN_IN_ERROR = "_sign_in_error"
OPEN_NOTICE = ("Open project: anyone may type any annotator's name; only accounts with a "
               "password ask for it.")
PASSWORDS_NOTICE = "Every account in this project signs in with a password."


def identity_sidebar(db: Project, cfg: ProjectConfig) -> dict | None:
    """The annotator field (kept in ``?annotator=``), sign-in when a password is set.

    Names are matched up to case (typing ``ALICE`` when ``alice`` exists is alice).
    A person with a password is asked for it once per browser session; with the
    project's ``require_passwords`` a name without an account or password gets
    nothing. The role is read from the database on every run. Returns the signed-in
    annotator ``{"id", "name", "role", ...}`` or None (the page then shows nothing of
    anyone's work).
    """
    with st.sidebar:
        # no max_chars: Streamlit would silently cut a longer ?annotator= to another name
        name = st.text_input("Annotator", key="annotator", bind="query-params",
                             placeholder="your name")
        st.caption(PASSWORDS_NOTICE if cfg.require_passwords else OPEN_NOTICE)
        _leave_on_enter()
        name = (name or "").strip()
        if not name:
            st.info("Type your name to start.")
            return None
        if not vocabulary.valid_name(name):
            st.error("Use 1–40 letters, digits, spaces or - _ .")
            return None
        try:
            # the existing person up to case, or (open project) a new one; never
            # signed in by this: a password, if they have one, is asked below
            person = annotate.ensure_annotator(db, name, cfg)
        except annotate.LabelingError as exc:
            st.error(safe_markdown.literal(exc))  # the message quotes the typed name
            return None
        if st.session_state.get(SIGNED_IN) not in (None, person["id"]):
            # another person in the field: a later return to the signed-in one asks again
            st.session_state.pop(SIGNED_IN)
        if person["has_password"] and st.session_state.get(SIGNED_IN) != person["id"]:
            _password_box(db, person)
            return None
        role = f"Role: {person['role']}"
        if person["assigned_role"] != person["role"]:
            role += (f" ({person['assigned_role']} once a password is set: ask an admin to "
                     "set one)")
        st.caption(f"{person['name']} · {role}")
    return person


# Constant script, no user input in it. After Enter in the name (or password) box the
# caret would stay in it, and plain-key shortcuts are ignored while a text box has
# focus: pressing 1 typed "1" into the name instead of labeling. Streamlit cannot move
# focus, so this makes Enter in those two boxes also leave them (Streamlit commits
# the value on Enter, and a blur after it changes nothing). One listener per page,
# on the document, so boxes drawn later (the password) are covered too. When the name
# has a password, its box gets the focus once it appears (within 3 s), so a person
# types name, Enter, password, Enter without reaching for the mouse.
_LEAVE_ON_ENTER = """<script>
(() => {
  if (window.parleyLeaveOnEnter) return;
  window.parleyLeaveOnEnter = true;
  const password = () => document.querySelector('.st-key-password input');
  document.addEventListener('keydown', ev => {
    const el = ev.target;
    if (ev.key !== 'Enter' || !el.closest) return;
    const inName = el.closest('.st-key-annotator');
    if (!inName && !el.closest('.st-key-password')) return;
    setTimeout(() => el.blur(), 0);
    if (!inName) return;
    // a name with a password: its box appears after the rerun; type into it at once
    let tries = 30;
    const poll = setInterval(() => {
      const box = password();
      if (box) { box.focus(); }
      if (box || --tries === 0) clearInterval(poll);
    }, 100);
  }, true);
})();
</script>"""


def _leave_on_enter() -> None:
    """Make Enter in the sign-in boxes hand the keyboard back to the page."""
    with st.container(key="leave_on_enter"):
        st.html(_LEAVE_ON_ENTER, unsafe_allow_javascript=True)


def _password_box(db: Project, person: dict) -> None:
    """The password field of ``person``; the attempt runs once, when it is submitted."""
    st.text_input("Password", type="password", key="password", on_change=_sign_in,
                  args=(person["id"], person["name"]))
    if msg := st.session_state.pop(_SIGN_IN_ERROR, None):
        st.error(msg)
    elif wait := annotate.sign_in_wait(db, person["name"]):
        st.error(_wait_message(wait))


def _wait_message(seconds: int) -> str:
    return f"Too many wrong passwords: wait {seconds} s, then try again."


def _sign_in(person_id: int, name: str) -> None:
    # A callback, so that a password left in the field is not tried again (and counted
    # as another failure) on every rerun: it is checked once and the field cleared.
    ss = st.session_state
    password, ss["password"] = ss.get("password") or "", ""
    if not password:
        return
    try:
        ok = annotate.authenticate(session_db(), name, password)
    except annotate.SignInLocked as exc:
        ss[_SIGN_IN_ERROR] = _wait_message(exc.seconds)
        return
    if ok:
        ss[SIGNED_IN] = person_id
    else:
        ss[_SIGN_IN_ERROR] = "Wrong password."


def require_signin(person: dict | None, cfg: ProjectConfig) -> None:
    """Stop the page unless someone is signed in, when the project requires sign-in
    (or passwords)."""
    if person is None and (cfg.require_signin or cfg.require_passwords):
        st.info("Sign in first: type your name in the sidebar.", icon="🔒")
        st.stop()


def require_role(person: dict | None, roles: tuple[str, ...] = REVIEW_ROLES) -> dict:
    """Stop the page unless the signed-in person has one of ``roles`` (server-side check:
    pages reached by URL or session-state tricks are refused too). The role is the
    database's now, not only the one the session holds."""
    if (person is None or person.get("role") not in roles
            or not has_role_now(session_db(), person, roles)):
        st.error(_refusal(roles), icon="🔒")
        st.stop()
    return person


def _refusal(roles: tuple[str, ...]) -> str:
    return ("This page is for " + " and ".join(f"{r}s" for r in roles)
            + " only. Ask an admin for access.")


def has_role_now(db: Project, person: dict | None,
                 roles: tuple[str, ...] = REVIEW_ROLES) -> bool:
    """Whether ``person`` has one of ``roles`` according to the database at this moment.

    Privileged actions call this when they run: a callback or a fragment can run long
    after the page (and its role check) was drawn, e.g. after an admin demoted them."""
    return person is not None and annotate.current_role(db, person["id"]) in roles


def privileged_download(path: str, person: dict, build, roles: tuple[str, ...] = REVIEW_ROLES):
    """A ``download_button`` data callable that re-checks the person's role when the
    download is requested and only then calls ``build()``.

    The callable runs on another thread when the button is clicked, possibly long after
    the page was drawn; it opens its own connection (sessions' connections are not
    shared across threads) and raises ``PermissionError`` when the role is gone."""
    person_id = person["id"]

    def data():
        conn = store.connect(path)
        try:
            role = annotate.current_role(conn, person_id)
        finally:
            conn.close()
        if role not in roles:
            raise PermissionError(_refusal(roles))
        return build()

    return data
