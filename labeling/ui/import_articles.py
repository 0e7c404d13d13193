"""Import page (admins only): upload articles and import them as ``python -m labeling
import`` does; remove an article as ``python -m labeling article remove`` does. The
widgets are in ``labeling/ui/import_view.py``."""

import streamlit as st

from labeling.ui import common, import_view

person = common.require_role(st.session_state.get("person"), common.ADMIN_ROLES)
st.header("Import")
db = common.session_db()
import_view.import_section(db, person)
st.divider()
import_view.remove_section(db, person)
