"""Markdown made safe to show: project markdown without images or HTML (:func:`neutralise`),
and any text shown exactly as typed (:func:`literal`).

The guidelines are written by whoever edits the project config, and every annotator's
browser renders them. An image there (``![x](http://host/pixel.png)``, a reference-style
``![x][ref]``, an HTML ``<img src=...>``) would make each browser fetch an outside URL
when the guidelines open, telling that host who labels and when. :func:`neutralise`
leaves such markup as visible text instead:

* every ``![`` gets its ``!`` backslash-escaped, so CommonMark reads a link (shown, not
  fetched) where an image was, whatever the image form;
* every ``<`` that could open an HTML tag, comment or autolink is backslash-escaped, so
  it is shown as the character ``<``.

Hand-written because Parley has no markdown library (Streamlit renders markdown in the
browser), and escaping needs no parser: a backslash before ASCII punctuation makes it a
literal character everywhere but in code, where markup is not rendered anyway and the
added backslash merely shows.
"""

from __future__ import annotations

import re

# A run of backslashes, then the character to escape: an even run (none included)
# leaves the character active, an odd one already escapes it.
_IMAGE = re.compile(r"(\\*)!(?=\[)")
_HTML = re.compile(r"(\\*)<(?=[A-Za-z/!?])")


def _escape(match: re.Match[str]) -> str:
    slashes, char = match.group(1), match.group(0)[-1]
    return slashes + ("\\" if len(slashes) % 2 == 0 else "") + char


def neutralise(text: str) -> str:
    """``text`` with images and raw HTML made literal text (see the module docstring);
    everything else renders as before."""
    return _HTML.sub(_escape, _IMAGE.sub(_escape, text))


# Every ASCII punctuation character: CommonMark lets a backslash escape each of them,
# and each can start markup (emphasis, links, LaTeX, emoji and :material/icon: codes).
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def literal(text: object) -> str:
    """``text`` for a markdown body (``st.error``, ``st.success`` and friends) that shows
    every character as typed: each ASCII punctuation mark is backslash-escaped, so
    nothing becomes emphasis, a link, LaTeX, an emoji or an icon; line breaks become
    spaces (messages are one line)."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(text).splitlines()))
