"""Parley — Streamlit entry point.

Runs on every rerun of every page: page config, the database (migrations and the seed
once per process, one connection per browser session), the annotator's identity, and
the pages this person may see. Pages read the signed-in person from
``st.session_state["person"]`` (set here on every run) and check roles themselves too.
"""

import streamlit as st

from labeling.ui import common

st.set_page_config(page_title="Parley", page_icon="🗣️", layout="wide")

db = common.session_db()
cfg = common.project_config(db)
person = common.identity_sidebar(db, cfg)
st.session_state["person"] = person
role = person["role"] if person else None

pages = [
    st.Page("labeling/ui/label.py", title="Label", icon="🏷️", url_path="label", default=True),
    st.Page("labeling/ui/data.py", title="Data", icon="📚", url_path="data"),
]
if role in common.REVIEW_ROLES:
    pages += [
        st.Page("labeling/ui/review.py", title="Review", icon="⚖️", url_path="review"),
        st.Page("labeling/ui/export.py", title="Export", icon="📦", url_path="export"),
    ]
if role in common.ADMIN_ROLES:
    pages += [
        st.Page("labeling/ui/import_articles.py", title="Import", icon="📥",
                url_path="import"),
        st.Page("labeling/ui/people.py", title="People", icon="👥", url_path="people"),
    ]
st.navigation(pages, position="top").run()
