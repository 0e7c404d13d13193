"""Placeholder page (admins only) — being built."""

import streamlit as st

from labeling.ui import common

common.require_role(st.session_state.get("person"), common.ADMIN_ROLES)
st.header("Coming soon")
