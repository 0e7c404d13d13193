"""People & project page (admins only): the team with their figures, adding people,
passwords and roles; the project settings with a preview of their effect.

The widgets live in ``labeling/ui/people_view.py``; every change goes through the same
library functions as the CLI and is recorded in the project log.
"""

import streamlit as st

from labeling.ui import common, people_view

person = common.require_role(st.session_state.get("person"), common.ADMIN_ROLES)
st.header("People & project")
db = common.session_db()

people_tab, settings_tab = st.tabs(["People", "Project settings"])
with people_tab:
    people_view.people_section(db, person)
with settings_tab:
    people_view.settings_section(db, person)
