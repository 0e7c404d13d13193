"""Text -> sentence spans with character offsets, and non-content flags.

`segment(text)` returns one `Span` per unit an annotator could label: a sentence, a
headline, a photo caption, or a non-content line (photo credit, byline, comment widget)
flagged ``kind="boilerplate"`` so the app can keep it but hide it from annotators.
``text[span.start:span.end]`` is the unit without surrounding whitespace.

How a text is cut, in order (docs/architecture.md says why sentencex):

1. sentencex (pinned in requirements.txt) splits the whole article once; it is the best
   measured English splitter and is fast, but it ignores single newlines.
2. Blank lines always separate paragraphs.
3. Inside a paragraph, a single newline separates units when one of the lines is itself
   boilerplate (a credit under a caption), when the line before is too long to be
   hard-wrapped prose (the text has one paragraph per line), or when the line before is
   headline-like (a title or caption line without final punctuation; see `_is_headline`).
4. A photo credit glued to the end of a caption ("... on the 10th. Geneva = Associated
   Press") is cut off.
5. sentencex wrongly splits AP-style times, "at 10 a.m. | Tuesday"; those pieces are merged.
6. Each unit is stripped and classified with `is_boilerplate`.

Whatever sentencex returns, the spans are sorted, disjoint, non-empty, stripped, and
cover every non-whitespace character: the units are built from cut points only.

Memory and time grow with the text's content, not with its whitespace: a long text goes
to sentencex one paragraph at a time, without its blank stretches (see
`_sentencex_cuts`), and lines are read one at a time (see `_line_cuts`).

Input is expected with newlines normalised to ``\\n`` (the importer does that). Known
limit: in hard-wrapped prose, a paragraph's first line that ends just before a capitalised
word ("... met with President\\nBiden ...") is taken for a headline and cut there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate, chain

import sentencex

CONTENT = "content"
BOILERPLATE = "boilerplate"
LANGUAGE = "en"

# A line longer than this is not hard-wrapped prose (wrapping is at 72-80 columns), so
# a newline after it ends a paragraph.
_WRAP_WIDTH = 100
# Longer units are never boilerplate: credits, bylines and widget lines are short. Most
# sentences are longer, so most units skip the checks below (segmenting speed matters).
_MAX_BOILERPLATE_CHARS = 100

# --- Boilerplate rules -------------------------------------------------------------
# Each regex must match a whole unit (stripped sentence or line). Keep them anchored,
# short and commented; add a positive and a negative test for every new rule.
# A capitalised word: Geneva, Sang-won, O'Brien, Yonhap. Possessive (*+), because these
# rules run on many short sentences and must fail fast.
_NAME = r"[A-Z][\w'’.-]*+"
# 1-7 capitalised words or numbers, separated by a space or a slash: "Evan Vucci",
# "Jane Doe/Getty Images", "2024 The Associated Press".
_CAPITALISED_WORDS = rf"{_NAME}(?:[ /][A-Z0-9][\w'’&.-]*+){{0,6}}"
_BOILERPLATE_RULES: tuple[str, ...] = (
    # 1-4 capitalised words, then either
    # - " = " and a source: a photo credit or Korean-wire byline, "Geneva = Associated
    #   Press", "Seoul = Reuters Yonhap", "Washington = Jeong Sang-won correspondent"
    #   (source starts capitalised, up to 6 words, no final . ! ? so "Let X = Y." stays);
    # - a staff title: "Kim Min-ji reporter", "Jane Doe, staff writer".
    (
        rf"{_NAME}(?: {_NAME}){{0,3}}+"
        rf"(?: ?= ?{_NAME}(?: [\w'’&.-]+){{0,5}}(?<![.!?])"
        rf"|,? (?:reporter|correspondent|staff (?:reporter|writer))(?: \S+@\S+)?)"
    ),
    # Bylines: "By Jane Doe", "By Jane Doe and John Roe", "By JANE DOE, Associated Press".
    rf"By {_NAME}(?: (?:{_NAME}|and|&|de|van|von|der|bin)){{0,5}}(?:, [A-Z][\w'’&. -]{{0,40}})?",
    # Staff bylines, title first: "Reporter Kim Min-ji", "Correspondent Lee Ho-jin
    # lee@example.com" (title last is the first rule).
    rf"(?:Reporter|Correspondent|Staff (?:[Rr]eporter|[Ww]riter))(?: {_NAME}){{1,4}}(?: \S+@\S+)?",
    # Photo credits and copyright lines: the source is capitalised words only, so
    # "Photos show troops near the border." and "Copyright law is changing." stay.
    # "Photo: Reuters", "Photo by Jane Doe/Getty Images", "(AP Photo/Evan Vucci)",
    # "© Reuters", "Copyright 2024 Reuters. All rights reserved."
    rf"\(?(?:[A-Z]++ )?Photo(?:graph)?s?(?::| by|/) ?{_CAPITALISED_WORDS}\)?",
    (
        rf"(?:©|\(c\)|Copyright(?: ©)?) ?(?:\d{{4}} )?{_CAPITALISED_WORDS}\.?"
        r"(?: All rights reserved\.?)?"
    ),
    # No letters or digits at all: ".", "***", "—", "…".
    r"[^\w]+",
    # Widgets with a variable part: "Comments (3)", "Click to share on X (Opens in new
    # window)", "Subscribe to our daily newsletter", "Share on Facebook".
    (
        r"(?i:comments? \(\d+\)|click to \w+.{0,60}|share on \w+(?: \w+)?"
        r"|(?:subscribe|sign up) (?:to|for) (?:our|the) [\w ]{0,30}newsletter[.!]?)"
    ),
)
_BOILERPLATE = re.compile("|".join(f"(?:{rule})" for rule in _BOILERPLATE_RULES))

# Fixed comment, share and newsletter widget lines, compared lower-cased and without
# final punctuation (so "Share this:" and "Related Posts" match).
_WIDGET_LINES = frozenset(
    {
        # comment forms (WordPress and similar)
        "leave a comment",
        "leave a reply",
        "post a comment",
        "comment",
        "comments",
        "this site uses akismet to reduce spam",
        "learn how your comment data is processed",
        "your email address will not be published",
        "required fields are marked *",
        "your email address will not be published. required fields are marked *",
        # share bars and navigation
        "share this",
        "share this article",
        "share this story",
        "share this post",
        "like this",
        "like loading",
        "related",
        "related posts",
        "related articles",
        "related stories",
        "related news",
        "read more",
        "see also",
        "more from this author",
        "post navigation",
        "previous article",
        "next article",
        "previous post",
        "next post",
        "print",
        "email",
        "e-mail",
        "facebook",
        "twitter",
        "linkedin",
        "whatsapp",
        "reddit",
        "telegram",
        "pinterest",
        "tumblr",
        "pocket",
        # newsletters, ads, legal
        "subscribe",
        "subscribe now",
        "sign up",
        "advertisement",
        "sponsored",
        "all rights reserved",
    }
)
_WIDGET_TRAILING = " .:!…"

# A photo credit glued to the end of a caption line, after its last sentence.
_TRAILING_CREDIT = re.compile(
    rf"(?<=[.!?”\"’)] )({_NAME}(?: {_NAME}){{0,3}} = {_NAME}(?: [\w'’&.-]+){{0,5}})[ \t]*$",
    re.MULTILINE,
)

# AP style "10 a.m. Tuesday", "3 p.m. EST", "9 a.m. Jan. 5": sentencex ends a sentence
# after "a.m."; when the next piece starts with a weekday, month or time zone, the two
# are merged. Checked per piece with endswith/match: a regex pass over the whole text
# costs more than this.
_TIME_ENDINGS = (" a.m. ", " p.m. ")
_TIME_CONTINUES = re.compile(
    r"(?:Jan|Feb|Aug|Sept?|Oct|Nov|Dec)\."
    r"|(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|January|February|March|April|May|June"
    r"|July|August|September|October|November|December|[A-Z]{1,3}T|local time|today"
    r"|tomorrow|yesterday)\b(?!['’]s)"
)

# A line that ends like this continues on the next line, so it is not a headline.
_CONTINUED_LINE = re.compile(
    r"(?:[,;:(/&–—-]|\b(?:a|an|the|of|to|in|on|at|for|with|by|from|and|or|but|nor|as|than"
    r"|that|which|who|over|into|about|after|before|under|between|its|their|his|her|our"
    r"|is|are|was|were|be|has|have|had|will|would|said))$"
)
# A headline-like line has no final sentence punctuation (else sentencex decides).
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]]*$")
_OPENERS = "\"'“‘([«"

# sentencex 1.0.32 panics on non-ASCII whitespace in some contexts ("S\u2009.") and
# cannot take lone surrogates; such characters are replaced by characters of the same
# length in code points (a space, U+FFFD) and the call is retried.
_WIDE_SPACE = re.compile(r"[^\S\x00-\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FALLBACK_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+")

# sentencex cuts a text into paragraphs at separators (_SEPARATOR, found from the left
# without overlap) and splits each paragraph on its own, so giving it one paragraph at a
# time gives the same cuts. A text longer than _WHOLE_TEXT_CHARS goes that way, without
# its whitespace-only paragraphs: whole, sentencex returns a string per "\n\n", and above
# 10 KiB (bytes) its segment() drops some of them, so _piece_ends falls back to a dict per
# sentence: 400 bytes per blank line. Shorter texts, most articles, go in one call, which
# is a little faster than one per paragraph.
_WHOLE_TEXT_CHARS = 10_240
_SEPARATOR = r"\n\r*\n"
# A gap between paragraphs: separators, and the whitespace-only paragraphs between them.
# Only possessive quantifiers: for a plain repeated group `re` keeps a backtracking entry
# per repetition (1.7 GB for 30 million newlines).
_GAP = re.compile(rf"(?:{_SEPARATOR})++(?:(?:(?!{_SEPARATOR})\s)++(?:{_SEPARATOR})++)*+")
_NON_SPACE = re.compile(r"\S")
# A line (between newlines) with something other than whitespace on it, from its start.
# Possessive, so a long whitespace-only line is scanned once, not once per position.
_NON_BLANK_LINE = re.compile(r"^[^\S\n]*+\S[^\n]*", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Span:
    """One unit of an article: ``text[start:end]``, stripped; kind 'content' or 'boilerplate'."""

    start: int
    end: int
    kind: str


# A frozen dataclass's __init__ sets each field through object.__setattr__; segment()
# builds a Span per sentence and sets the slots directly, about twice as fast.
_set_start, _set_end, _set_kind = Span.start.__set__, Span.end.__set__, Span.kind.__set__  # type: ignore[attr-defined]


def is_boilerplate(unit: str) -> bool:
    """True if a stripped unit is a credit, byline, lone punctuation or widget line."""
    if len(unit) > _MAX_BOILERPLATE_CHARS:
        return False
    return (
        unit.lower().rstrip(_WIDGET_TRAILING) in _WIDGET_LINES
        or _BOILERPLATE.fullmatch(unit) is not None
    )


def segment(text: str) -> list[Span]:
    """Split article text into sentence spans with character offsets into ``text``.

    Headlines, captions and single lines that look like them are units of their own;
    credits, bylines, lone punctuation and comment widgets get ``kind="boilerplate"``.
    """
    if not text or text.isspace():
        return []
    cuts, breaks = _sentencex_cuts(text)
    # Cheap tests (a one-character search, a count) skip whole passes for most articles.
    if "\n" not in text or text.count("\n") == 2 * breaks:
        # Every newline is in a "\n\n" paragraph break that sentencex returned as a
        # piece of its own, so it is cut before and after already.
        extra = []
    else:
        extra = _line_cuts(text)
    if "=" in text:
        extra.extend(m.start(1) for m in _TRAILING_CREDIT.finditer(text))
    if extra:
        # cuts, and the line and credit cuts in extra, are ascending runs that sort()
        # merges in linear time. A duplicate only makes an empty piece, which the loop
        # below skips (a set would cost memory).
        cuts.extend(extra)
        cuts.sort()
    if not cuts or cuts[-1] != len(text):
        cuts.append(len(text))

    spans: list[Span] = []
    append = spans.append
    new_span, set_start, set_end, set_kind = object.__new__, _set_start, _set_end, _set_kind
    start = 0
    for end in cuts:
        piece = text[start:end]
        if (
            piece.endswith(_TIME_ENDINGS)
            and piece[-7:-6].isdigit()
            and _TIME_CONTINUES.match(text, end)
        ):
            continue  # "at 10 a.m. | Tuesday": keep start, extend the piece to the next cut
        unit = piece.strip()
        if unit:
            first = start + piece.find(unit[0])
            # Span(first, first + len(unit), kind), faster (see _set_start).
            span = new_span(Span)
            set_start(span, first)
            set_end(span, first + len(unit))
            if len(unit) <= _MAX_BOILERPLATE_CHARS and is_boilerplate(unit):
                set_kind(span, BOILERPLATE)
            else:
                set_kind(span, CONTENT)
            append(span)
        start = end
    return spans


def split(text: str) -> list[tuple[str, str]]:
    """Convenience: ``[(sentence text, kind), ...]`` for `segment`'s spans."""
    return [(text[span.start : span.end], span.kind) for span in segment(text)]


def _sentencex_cuts(text: str) -> tuple[list[int], int]:
    """End offsets of sentencex's sentences, and how many of them are exactly "\\n\\n".

    Offsets are character offsets into ``text``, ascending. The count is -1 when unknown.
    """
    for attempt in range(2):
        candidate = text if attempt == 0 else _SURROGATE.sub("\ufffd", _WIDE_SPACE.sub(" ", text))
        try:
            if len(candidate) <= _WHOLE_TEXT_CHARS:
                return _piece_ends(candidate, 0)
            cuts: list[int] = []
            for start, end in _paragraphs(candidate):
                cuts.extend(_piece_ends(candidate[start:end], start)[0])
            return cuts, -1  # the paragraph breaks left out are not counted
        except UnicodeEncodeError:  # lone surrogates
            continue
        except BaseException as exc:  # pyo3's PanicException derives from BaseException
            if type(exc).__name__ != "PanicException":
                raise
    # sentencex could not split this text: fall back to cutting after . ! ? and space.
    return [match.end() for match in _FALLBACK_SENTENCE_END.finditer(text)], -1


def _piece_ends(text: str, offset: int) -> tuple[list[int], int]:
    """One sentencex call: its sentences' end offsets plus ``offset``, and the "\\n\\n" count.

    The count is -1 when unknown.
    """
    # segment() returns consecutive slices of the input and is about 1.6 times as fast as
    # get_sentence_boundaries(), which builds a dict per sentence. But above 10 KiB it drops
    # the paragraph breaks between its chunks, so its output is checked.
    pieces = sentencex.segment(LANGUAGE, text)
    if "".join(pieces) == text:
        ends = list(accumulate(map(len, pieces), initial=offset))
        del ends[0]  # ``offset`` itself
        return ends, pieces.count("\n\n")
    boundaries = sentencex.get_sentence_boundaries(LANGUAGE, text)
    return sorted(offset + boundary["end_index"] for boundary in boundaries), -1


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the paragraphs sentencex makes of ``text``, but whitespace-only ones.

    Between two of them there is only whitespace holding at least one separator, so a unit
    never spans them.
    """
    start = 0
    for gap in chain(_GAP.finditer(text), (None,)):
        end = len(text) if gap is None else gap.start()
        # Whitespace-only paragraphs are inside gaps, except the first and the last.
        if _NON_SPACE.search(text, start, end):
            yield start, end
        if gap is not None:
            start = gap.end()


def _line_cuts(text: str) -> list[int]:
    """Cut points from blank lines and from headline-like or boilerplate single lines.

    Rules 2 and 3 of the module docstring: a cut at the start of each paragraph (lines
    between blank ones), and before each of its lines that begins a new unit.
    """
    cuts: list[int] = []
    # Non-blank lines one at a time, not text.split("\n"): a flood of blank lines costs no
    # memory. ``line``: the previous one, stripped, ending at ``line_end``.
    line, line_end = "", -2
    previous_cut = True  # ``line`` starts a block (paragraph start or a cut)
    for match in _NON_BLANK_LINE.finditer(text):
        start = match.start()
        next_line = match.group().strip()
        if start != line_end + 1:  # a blank line (or the text's start) is above it
            cut = True
        else:
            cut = (
                len(line) > _WRAP_WIDTH
                and not next_line[0].islower()
                or (previous_cut and _is_headline(line, next_line))
                or is_boilerplate(next_line)
                or is_boilerplate(line)
            )
        if cut:
            cuts.append(start)
        previous_cut = cut
        line, line_end = next_line, match.end()
    return cuts


def _is_headline(line: str, next_line: str) -> bool:
    """A title or caption line: no final punctuation, not continued, next line starts anew."""
    head = next_line[0]
    return (
        (head.isupper() or head.isdigit() or head in _OPENERS)
        and _ENDS_SENTENCE.search(line) is None
        and _CONTINUED_LINE.search(line) is None
    )
