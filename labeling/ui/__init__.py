"""Streamlit pages. The only package that imports Streamlit; pages hold widgets and
calls into ``labeling`` services, never SQL or metric math."""
