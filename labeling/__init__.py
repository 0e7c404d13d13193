"""Parley: sentence labeling for negotiation news (the domain, without Streamlit)."""

__version__ = "0.1.0"
