"""The People & project page's widgets (admins only): the team table, the forms that
add a person, reset a password and change a role, and the project settings with a
preview of their effect before saving.

Every change goes through the library the CLI uses (``annotate.add_annotator``,
``project.update_config``), which records it in the project log with
``app:<admin name>``. Each callback checks the admin role again in the database when it
runs (``common.has_role_now``): a page drawn before a demotion acts no more.
Passwords live only in their form fields and are cleared by the callback that reads
them. Text that is not ours (names, error messages quoting what was typed, label
descriptions) is shown through ``st.dataframe`` or with every ASCII punctuation mark
escaped (:func:`literal`), never as markdown.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from db import DatabaseError
from labeling import annotate, config, project, safe_markdown, team, vocabulary
from labeling.config import ConfigError, ProjectConfig
from labeling.ui import common

ss = st.session_state
REFUSED = "Only admins may do this, and you are not one (any more): nothing was changed."
_MSG = "people_msg_"  # + form name: the message a callback left for the next run


def actor(person: dict) -> str:
    """Who acts, for the project log."""
    return f"app:{person['name']}"


def _say(form: str, kind: str, text: str) -> None:
    ss[_MSG + form] = (kind, text)


def _show(form: str) -> None:
    kind, text = ss.pop(_MSG + form, (None, None))
    if kind is not None:
        getattr(st, kind)(safe_markdown.literal(text), icon={"error": "🚫", "success": "✅",
                                                 "warning": "⚠️"}.get(kind))


def _allowed(form: str, person: dict) -> bool:
    """The admin check at the moment the action runs."""
    if common.has_role_now(common.session_db(), person, common.ADMIN_ROLES):
        return True
    _say(form, "error", REFUSED)
    return False


# ----------------------------------------------------------------------------- people


_ROLE_NOTE = "{assigned} once a password is set"


def people_table(db) -> None:
    """Everyone, with their figures (``team.people_stats``), in a literal table."""
    rows = team.people_stats(db)
    frame = pd.DataFrame({
        "name": [r["name"] for r in rows],
        "role": [r["role"] if r["role"] == r["assigned_role"]
                 else f"{r['role']} ({_ROLE_NOTE.format(assigned=r['assigned_role'])})"
                 for r in rows],
        "password": ["yes" if r["has_password"] else "no" for r in rows],
        "labels today": [r["labels_today"] for r in rows],
        "labels total": [r["labels_total"] for r in rows],
        "median s / label": pd.array([r["median_seconds"] for r in rows], dtype="Float64"),
        "skips": pd.array([r["skip_share"] for r in rows], dtype="Float64"),
        "flags": pd.array([r["flag_share"] for r in rows], dtype="Float64"),
    })
    # the container gives browsers a stable handle (.st-key-people_table_box): a keyed
    # st.dataframe without selections carries no key class
    with st.container(key="people_table_box"):
        _people_frame(frame)


def _people_frame(frame: pd.DataFrame) -> None:
    st.dataframe(frame, hide_index=True, key="people_table", column_config={
        "median s / label": st.column_config.NumberColumn(
            format="%.1f", help="Median seconds per labeled sentence (where a duration "
                                "was recorded)"),
        "skips": st.column_config.NumberColumn(
            format="percent", help="Share of this person's sentences they skipped"),
        "flags": st.column_config.NumberColumn(
            format="percent", help="Share of this person's sentences they flagged"),
        "labels today": st.column_config.NumberColumn(help="Labeled today (UTC)"),
    })


def add_form(person: dict, cfg: ProjectConfig) -> None:
    """Name, role and password of a new person."""
    with st.form("people_add_form", enter_to_submit=True):
        st.subheader("Add a person")
        left, mid, right = st.columns(3)
        left.text_input("Name", key="people_add_name", placeholder="1–40 letters, digits, "
                        "spaces, - _ .")
        mid.selectbox("Role", vocabulary.ROLES, key="people_add_role")
        right.text_input("Password", type="password", key="people_add_password",
                         autocomplete="new-password")
        note = ("Reviewers and admins need a password (without one, anyone could sign in "
                "as them).")
        note += (" This project requires passwords: give annotators one too."
                 if cfg.require_passwords else " For annotators it is optional.")
        st.caption(note)
        st.form_submit_button("Add", key="people_add_submit", type="primary",
                              on_click=common.serialised(_add), args=(person,))
    _show("add")


def _add(person: dict) -> None:
    name = (ss.get("people_add_name") or "").strip()
    role = ss.get("people_add_role") or "annotator"
    password, ss["people_add_password"] = ss.get("people_add_password") or "", ""
    if not _allowed("add", person):
        return
    if not name:
        _say("add", "error", "Type the new person's name.")
        return
    db = common.session_db()
    try:
        added = annotate.add_annotator(db, name, role, password or None,
                                       actor=actor(person))
    except annotate.NameTaken as exc:
        _say("add", "error", f"{exc}. To change their role or password use the forms "
                             "below.")
    except (annotate.LabelingError, DatabaseError) as exc:
        _say("add", "error", str(exc))
    else:
        ss["people_add_name"] = ""
        text = f"Added {added['name']} ({added['role']})"
        text += " with a password." if added["has_password"] else " without a password."
        kind = "success"
        if not added["has_password"] and common.project_config(db).require_passwords:
            kind = "warning"
            text += (" This project requires passwords: they cannot sign in until you set "
                     "one (Reset a password).")
        _say("add", kind, text)


def reset_form(person: dict, names: list[str]) -> None:
    """A new password for someone."""
    with st.form("people_reset_form", enter_to_submit=True):
        st.subheader("Reset a password")
        left, right = st.columns(2)
        left.selectbox("Person", names, key="people_reset_name")
        right.text_input("New password", type="password", key="people_reset_password",
                         autocomplete="new-password")
        st.form_submit_button("Set password", key="people_reset_submit",
                              on_click=common.serialised(_reset), args=(person,))
    _show("reset")


def _reset(person: dict) -> None:
    name = ss.get("people_reset_name")
    password, ss["people_reset_password"] = ss.get("people_reset_password") or "", ""
    if not _allowed("reset", person):
        return
    if not name or not password:
        _say("reset", "error", "Choose the person and type their new password.")
        return
    try:
        changed = annotate.add_annotator(common.session_db(), name, None, password,
                                         update=True, actor=actor(person))
    except (annotate.LabelingError, DatabaseError) as exc:
        _say("reset", "error", str(exc))
    else:
        _say("reset", "success", f"New password set for {changed['name']}.")


def role_form(person: dict, names: list[str]) -> None:
    """Another role for someone (reviewers and admins need a password first)."""
    with st.form("people_role_form", enter_to_submit=True):
        st.subheader("Change a role")
        left, right = st.columns(2)
        left.selectbox("Person", names, key="people_role_name")
        right.selectbox("New role", vocabulary.ROLES, key="people_role_role")
        st.caption("A reviewer or admin needs a password: set it first. The last admin "
                   "with a password cannot be demoted.")
        st.form_submit_button("Change role", key="people_role_submit",
                              on_click=common.serialised(_role), args=(person,))
    _show("role")


def _role(person: dict) -> None:
    name, role = ss.get("people_role_name"), ss.get("people_role_role")
    if not _allowed("role", person):
        return
    if not name or not role:
        _say("role", "error", "Choose the person and their new role.")
        return
    try:
        changed = annotate.add_annotator(common.session_db(), name, role, None,
                                         update=True, actor=actor(person))
    except annotate.PasswordRequired as exc:
        _say("role", "error", f"{exc}. Set their password first (Reset a password), "
                              "then change the role.")
    except (annotate.LabelingError, DatabaseError) as exc:
        _say("role", "error", str(exc))
    else:
        _say("role", "success", f"{changed['name']} is now: {changed['role']}.")


def people_section(db, person: dict) -> None:
    """The People tab."""
    cfg = common.project_config(db)
    people_table(db)
    add_form(person, cfg)
    names = [p["name"] for p in annotate.list_annotators(db)]
    left, right = st.columns(2)
    with left:
        reset_form(person, names)
    with right:
        role_form(person, names)


# ----------------------------------------------------------------------------- settings

_SETTINGS_KEYS = ("settings_name", "settings_labels", "settings_multi_label",
                  "settings_overlap", "settings_sample_fraction", "settings_order",
                  "settings_seed", "settings_lease_minutes", "settings_require_signin",
                  "settings_require_passwords", "settings_guidelines",
                  "settings_guidelines_file")
_PENDING = "settings_pending"    # (stored config dict at preview, previewed config)
_PREVIEW = "settings_preview_result"
_ERRORS = "settings_errors"
_LABEL_COLUMNS = ("name", "key", "description", "color")


def labels_frame(cfg: ProjectConfig) -> pd.DataFrame:
    """The labels as the editor shows them (every column text)."""
    return pd.DataFrame({c: pd.array([getattr(lab, c) for lab in cfg.labels], dtype="string")
                         for c in _LABEL_COLUMNS})


def label_rows(frame: pd.DataFrame) -> list[dict]:
    """The editor's rows as ``[[labels]]`` entries: empty cells are left out (so the
    config's defaults apply), rows left wholly empty are dropped."""
    rows = []
    for rec in frame.to_dict("records"):
        row = {}
        for col in _LABEL_COLUMNS:
            value = rec.get(col)
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                continue
            value = str(value)
            if col != "description":
                value = value.strip()
            if value or col == "description":
                row[col] = value
        if any(row.get(c) for c in _LABEL_COLUMNS):
            rows.append(row)
    return rows


def settings_data(*, name, labels: pd.DataFrame, multi_label, overlap, sample_fraction,
                  order, seed, lease_minutes, require_signin, require_passwords,
                  guidelines, guidelines_version) -> dict:
    """The form's values as a config mapping for ``config.from_dict`` (which checks
    them; the seed is text here, as a 64-bit seed does not fit a browser number)."""
    seed_text = str(seed).strip()
    try:
        seed_value: object = int(seed_text)
    except ValueError:
        seed_value = seed_text
    return {"name": name, "labels": label_rows(labels), "multi_label": bool(multi_label),
            "overlap": int(overlap), "sample_fraction": float(sample_fraction),
            "order": order, "seed": seed_value, "lease_minutes": float(lease_minutes),
            "require_signin": bool(require_signin),
            "require_passwords": bool(require_passwords), "guidelines": guidelines,
            "guidelines_version": guidelines_version}


def settings_form(db, cfg: ProjectConfig) -> None:
    """The settings form; Preview validates it and stores the preview for this run."""
    with st.form("settings_form", enter_to_submit=False):
        name = st.text_input("Project name", value=cfg.name, key="settings_name")
        st.markdown("**Labels** (name: lowercase; key: one letter, digit or F1–F12; "
                    "color: like #1f77b4)")
        labels = st.data_editor(
            labels_frame(cfg), key="settings_labels", num_rows="dynamic", hide_index=True,
            column_config={c: st.column_config.TextColumn(c) for c in _LABEL_COLUMNS})
        multi = st.checkbox("Several labels per sentence (multi-label)",
                            value=cfg.multi_label, key="settings_multi_label")
        c1, c2, c3 = st.columns(3)
        overlap = c1.number_input(
            "Overlap", value=cfg.overlap, step=1, key="settings_overlap",
            help="Annotators per sentence of the reliability sample")
        fraction = c2.number_input(
            "Reliability sample fraction", value=float(cfg.sample_fraction), step=0.05,
            format="%.3f", key="settings_sample_fraction",
            help="Share of sentences that get the overlap; the rest get one annotator")
        lease = c3.number_input(
            "Lease minutes", value=float(cfg.lease_minutes), step=1.0,
            key="settings_lease_minutes",
            help="How long a sentence stays reserved for the person who was shown it")
        c4, c5 = st.columns(2)
        order = c4.selectbox("Order", config.ORDERS, index=config.ORDERS.index(cfg.order),
                             key="settings_order")
        seed = c5.text_input("Seed", value=str(cfg.seed), key="settings_seed",
                             help="Seeds the random order and the reliability sample")
        signin = st.checkbox("Require sign-in (only people an admin added may label)",
                             value=cfg.require_signin, key="settings_require_signin")
        passwords = st.checkbox("Require passwords (every account signs in with one)",
                                value=cfg.require_passwords,
                                key="settings_require_passwords")
        guidelines = st.text_area("Guidelines (markdown)", value=cfg.guidelines, height=260,
                                  key="settings_guidelines")
        upload = st.file_uploader("…or upload a markdown file (replaces the text above)",
                                  type=["md", "markdown", "txt"], max_upload_size=10,
                                  key="settings_guidelines_file")
        st.caption(f"Guidelines version {cfg.guidelines_version}. It goes up by itself "
                   "when the text changes; every label records the version it was given "
                   "under.")
        preview = st.form_submit_button("Preview changes", key="settings_preview")
    if not preview:
        return
    for key in (_PENDING, _PREVIEW, _ERRORS):  # a new preview replaces the last one
        ss.pop(key, None)
    errors: list[str] = []
    if upload is not None:
        try:
            guidelines = project.guidelines_from_upload(upload.name, upload.getvalue())
        except ConfigError as exc:
            errors += [f"{exc.source}: {e}" for e in exc.errors]
    data = settings_data(name=name, labels=labels, multi_label=multi, overlap=overlap,
                         sample_fraction=fraction, order=order, seed=seed,
                         lease_minutes=lease, require_signin=signin,
                         require_passwords=passwords, guidelines=guidelines,
                         guidelines_version=cfg.guidelines_version)
    try:
        new = config.from_dict(data, source="project settings")
    except ConfigError as exc:
        errors += exc.errors
    if errors:
        ss[_ERRORS] = errors
        return
    ss[_PENDING] = (cfg.to_dict(), new)
    ss[_PREVIEW] = project.preview_config(db, new)


def _shown(field: str, value: object) -> str:
    """A config value as one line of the preview table."""
    if value is None:
        return "(none)"
    if field == "guidelines":
        return f"{value['chars']:,} characters (sha256 {value['sha256'][:12]}…)"
    if field == "labels":
        return "; ".join(
            f"{lab['name']} [{lab['key']}] {lab['color']}"
            + (f" — {lab['description']}" if lab.get("description") else "")
            for lab in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def settings_preview(person: dict) -> None:
    """Every problem of the last Preview, or what saving would change, and Save."""
    for err in ss.get(_ERRORS) or ():
        st.error(safe_markdown.literal(err), icon="🚫")
    _show("settings")
    result = ss.get(_PREVIEW)
    if result is None:
        return
    changed = result["changed"]
    st.subheader("Preview")
    if not changed:
        st.info("Nothing to save: these are the stored settings.")
        return
    st.dataframe(pd.DataFrame({
        "setting": list(changed),
        "now": [_shown(f, v[0]) for f, v in changed.items()],
        "after saving": [_shown(f, v[1]) for f, v in changed.items()],
    }), hide_index=True, key="settings_changes")
    effects = []
    if result["targets_changed"]:
        effects.append(f"{result['targets_changed']:,} open sentences get a new target "
                       "(finished ones keep theirs).")
    elif "overlap" in changed or "sample_fraction" in changed:
        effects.append("No open sentence gets a new target.")
    effects.append(f"The routing order is recomputed for all {result['sentences']:,} "
                   "sentences (everyone keeps their place)." if result["reordered"]
                   else "The routing order stays as it is.")
    if "guidelines_version" in changed:
        old, new = changed["guidelines_version"]
        effects.append(f"Guidelines version {old} → {new}: labels given from now on "
                       f"record {new}.")
    for line in effects:
        st.text(line)
    if result["shut_out"]:
        n, names = len(result["shut_out"]), ", ".join(result["shut_out"])
        who = "1 person has" if n == 1 else f"{n} people have"
        st.warning(safe_markdown.literal(f"{who} no password and could not sign in any more: {names}. "
                           "Set their passwords first, or save anyway."), icon="⚠️")
    st.button("Save", key="settings_save", type="primary",
              on_click=common.serialised(_save), args=(person,))


def _save(person: dict) -> None:
    pending = ss.pop(_PENDING, None)
    ss.pop(_PREVIEW, None)
    if not _allowed("settings", person):
        return
    if pending is None:
        _say("settings", "error", "Press Preview changes first.")
        return
    base, new = pending
    db = common.session_db()
    if common.project_config(db).to_dict() != base:
        _say("settings", "error", "The settings were changed elsewhere since your "
                                  "preview; nothing was saved. Press Preview changes again.")
        return
    try:
        result = project.update_config(db, new, actor=actor(person))
    except (ConfigError, DatabaseError) as exc:
        _say("settings", "error", str(exc))
        return
    for key in _SETTINGS_KEYS:  # the form shows the stored settings again
        if key in ss:
            del ss[key]
    text = (f"Saved: {len(result['changed'])} settings changed, "
            f"{result['targets_changed']} sentence targets and {result['reordered']} "
            f"positions updated; guidelines version {result['guidelines_version']}.")
    _say("settings", "success", text)


def settings_section(db, person: dict) -> None:
    """The Project settings tab."""
    cfg = common.project_config(db)
    settings_form(db, cfg)
    settings_preview(person)
