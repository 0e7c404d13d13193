"""Review page (reviewers and admins): agreement with intervals and charts, the
disagreement queue with keys to decide gold labels, flagged sentences.

The widgets live in :mod:`labeling.ui.review_widgets` (a module is compiled once per
process, a page file on every run).
"""

import streamlit as st

from labeling.ui import common, review_widgets

# Server-side check: a page reached by URL or a stale session is refused too.
common.require_role(st.session_state.get("person"))
review_widgets.render()
