"""Data page: the articles in the project and their sentences, shown literally."""

import streamlit as st

from labeling import corpus
from labeling.ui import common

db = common.session_db()
# The articles are the project's: where the project requires sign-in, so does this page.
common.require_signin(st.session_state.get("person"), common.project_config(db))
st.header("Data")

summary = corpus.summary(db)
cols = st.columns(4)
cols[0].metric("Articles", summary["articles"])
cols[1].metric("Sentences", summary["sentences"])
cols[2].metric("To label", summary["content_sentences"])
cols[3].metric("Labels", summary["annotations"])

articles = corpus.articles(db)
if not articles:
    person = st.session_state.get("person")
    if common.has_role_now(db, person, common.ADMIN_ROLES):
        st.info("No articles yet.", icon="📥")
        st.page_link("labeling/ui/import_articles.py", label="Import them on the Import page",
                     icon="📥")
    else:
        st.info("No articles yet: an admin imports them.", icon="📥")
    st.stop()

choice = st.selectbox(
    "Article", [a["id"] for a in articles], key="data_article",
    format_func=lambda aid: next(a["external_id"] for a in articles if a["id"] == aid),
)
art = next(a for a in articles if a["id"] == choice)
st.text(art["title"] or art["external_id"])
st.dataframe(corpus.sentence_table(db, art["external_id"]), hide_index=True,
             width="stretch", column_config={"text": st.column_config.TextColumn(width="large")})
