"""Text -> sentence spans with character offsets, and non-content flags.

`segment(text)` returns one `Span` per unit an annotator could label: a sentence, a
headline, a photo caption, or a non-content line (photo credit, byline, comment widget)
flagged ``kind="boilerplate"`` so the app can keep it but hide it from annotators.
``text[span.start:span.end]`` is the unit without surrounding whitespace.

How a text is cut, in order (see ``notes/segmentation.md`` for why):

1. sentencex (pinned in requirements.txt) splits the whole article once; it is the best
   measured English splitter and is fast, but it ignores single newlines.
2. Blank lines always separate paragraphs.
3. Inside a paragraph, a single newline separates units when one of the lines is itself
   boilerplate (a credit under a caption), when the line before is too long to be
   hard-wrapped prose (the text has one paragraph per line), or when the line before is
   headline-like (a title or caption line without final punctuation; see `_HEADLINE_BREAK`).
4. A photo credit glued to the end of a caption ("... on the 10th. Geneva = Associated
   Press") is cut off.
5. sentencex wrongly splits AP-style times, "at 10 a.m. | Tuesday"; those cuts are undone.
6. Each unit is stripped and classified with `is_boilerplate`.

Whatever sentencex returns, the spans are sorted, disjoint, non-empty, stripped, and
cover every non-whitespace character: the units are built from cut points only.

Input is expected with newlines normalised to ``\\n`` (the importer does that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sentencex

CONTENT = "content"
BOILERPLATE = "boilerplate"
LANGUAGE = "en"

# A line longer than this is not hard-wrapped prose (wrapping is at 72-80 columns), so
# a newline after it ends a paragraph.
_WRAP_WIDTH = 100
# Longer units are never boilerplate: credits, bylines and widget lines are short.
_MAX_BOILERPLATE_CHARS = 160

# --- Boilerplate rules -------------------------------------------------------------
# Each regex must match a whole unit (stripped sentence or line). Keep them anchored,
# short and commented; add a positive and a negative test for every new rule.
_NAME = r"[A-Z][\w'’.-]*"  # a capitalised word: Geneva, Sang-won, O'Brien, Yonhap
_BOILERPLATE_RULES: tuple[str, ...] = (
    # Photo credit / dateline-byline in Korean-wire style: "Geneva = Associated Press",
    # "Seoul = Reuters Yonhap", "Washington = Jeong Sang-won correspondent".
    # Place: 1-4 capitalised words; source: starts capitalised, up to 6 words, no
    # sentence punctuation at the end.
    rf"{_NAME}(?: {_NAME}){{0,3}} ?= ?{_NAME}(?: [\w'’&.-]+){{0,5}}(?<![.!?])",
    # Bylines: "By Jane Doe", "By Jane Doe and John Roe", "By JANE DOE, Associated Press".
    rf"By {_NAME}(?: (?:{_NAME}|and|&|de|van|von|der|bin)){{0,5}}(?:, [A-Z][\w'’&. -]{{0,40}})?",
    # Staff bylines: "Reporter Kim Min-ji", "Correspondent Lee Ho-jin kim@example.com",
    # and the suffix form "Kim Min-ji reporter", "Jane Doe, staff writer".
    rf"(?:Reporter|Correspondent|Staff (?:[Rr]eporter|[Ww]riter))"
    rf"(?: {_NAME}){{1,4}}(?: \S+@\S+)?",
    rf"{_NAME}(?: {_NAME}){{0,3}},? (?:reporter|correspondent|staff (?:reporter|writer))"
    rf"(?: \S+@\S+)?",
    # Photo credits: "Photo: Reuters", "Photo by Jane Doe/Getty Images",
    # "(AP Photo/Evan Vucci)", "© Reuters".
    r"\(?(?:[A-Z]+ )?Photo(?:graph)?s?(?::| by|/) ?[A-Z][^.!?]{0,60}\)?",
    r"(?:©|\(c\)|Copyright) ?[^.!?]{0,60}(?:\. All rights reserved\.?)?",
    # No letters or digits at all: ".", "***", "—", "…".
    r"[^\w]+",
    # Comment, share and newsletter widgets (case-insensitive, whole line).
    r"(?i:leave a (?:comment|reply)|post a comment|comments?(?: \(\d+\))?"
    r"|this site uses akismet to reduce spam\."
    r"|learn how your comment data is processed\."
    r"|your email address will not be published\.?(?: required fields are marked \*)?"
    r"|required fields are marked \*"
    r"|share this(?: article| story| post)?:?|like this:?|share on \w+|click to \w+.{0,60}"
    r"|related(?: posts| articles| stories| news)?:?|read more:?|see also:?"
    r"|(?:subscribe|sign up)(?: (?:to|for) (?:our|the) [\w ]{0,30}newsletter)?[.!]?"
    r"|advertisement|sponsored|post navigation|previous (?:article|post)|next (?:article|post)"
    r"|all rights reserved\.?|print|email|e-mail|facebook|twitter|linkedin|whatsapp|reddit"
    r"|telegram|pinterest|tumblr|pocket)",
)
_BOILERPLATE = re.compile("|".join(f"(?:{rule})" for rule in _BOILERPLATE_RULES))

# A photo credit glued to the end of a caption line, after its last sentence.
_TRAILING_CREDIT = re.compile(
    rf"(?<=[.!?”\"’)] )({_NAME}(?: {_NAME}){{0,3}} = {_NAME}(?: [\w'’&.-]+){{0,5}})[ \t]*$",
    re.MULTILINE,
)

# AP style "10 a.m. Tuesday", "3 p.m. EST", "9 a.m. Jan. 5": sentencex ends a sentence
# after "a.m."; the cut in front of a weekday, month or time zone is undone.
_TIME_CONTINUES = re.compile(
    r"(?<=\d)[ ]?(?:[ap]\.m\.|[AP]\.M\.)[ \t]+"
    r"(?=(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|Jan\.|Feb\.|Aug\.|Sept?\.|Oct\.|Nov\."
    r"|Dec\.|January|February|March|April|May|June|July|August|September|October|November"
    r"|December|[A-Z]{1,3}T|local time|today|tomorrow|yesterday)\b(?!['’]s))"
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

# Non-ASCII whitespace makes sentencex 1.0.32 panic in some contexts ("S\u2009."); it is
# replaced by a plain space (same length in characters) and the call retried.
_WIDE_SPACE = re.compile(r"[^\S\x00-\x7f]")
_FALLBACK_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s+")


@dataclass(frozen=True, slots=True)
class Span:
    """One unit of an article: ``text[start:end]``, stripped; kind 'content' or 'boilerplate'."""

    start: int
    end: int
    kind: str


def is_boilerplate(unit: str) -> bool:
    """True if a stripped unit is a credit, byline, lone punctuation or widget line."""
    return len(unit) <= _MAX_BOILERPLATE_CHARS and _BOILERPLATE.fullmatch(unit) is not None


def segment(text: str) -> list[Span]:
    """Split article text into sentence spans with character offsets into ``text``."""
    if not text or text.isspace():
        return []
    cuts = set(_sentencex_cuts(text))
    for match in _TIME_CONTINUES.finditer(text):
        cuts.discard(match.end())
    if "\n" in text:
        cuts.update(_line_cuts(text))
    if " = " in text:
        cuts.update(match.start(1) for match in _TRAILING_CREDIT.finditer(text))
    cuts.add(len(text))

    spans: list[Span] = []
    append = spans.append
    start = 0
    for end in sorted(cuts):
        piece = text[start:end]
        unit = piece.strip()
        if unit:
            first = start + piece.find(unit[0])
            kind = BOILERPLATE if is_boilerplate(unit) else CONTENT
            append(Span(first, first + len(unit), kind))
        start = end
    return spans


def split(text: str) -> list[tuple[str, str]]:
    """Convenience: ``[(sentence text, kind), ...]`` for `segment`'s spans."""
    return [(text[span.start : span.end], span.kind) for span in segment(text)]


def _sentencex_cuts(text: str) -> list[int]:
    """End offsets of sentencex's sentences (character offsets, last one == len(text))."""
    for candidate in (text, _WIDE_SPACE.sub(" ", text)):
        try:
            # segment() returns consecutive slices of the input and is about twice as
            # fast as get_sentence_boundaries(), which builds a dict per sentence.
            pieces = sentencex.segment(LANGUAGE, candidate)
        except BaseException as exc:  # pyo3's PanicException derives from BaseException
            if type(exc).__name__ != "PanicException":
                raise
            continue
        cuts: list[int] = []
        end = 0
        for piece in pieces:
            end += len(piece)
            cuts.append(end)
        if end == len(text):
            return cuts
    # sentencex could not split this text: fall back to cutting after . ! ? and space.
    return [match.end() for match in _FALLBACK_SENTENCE_END.finditer(text)]


def _line_cuts(text: str) -> list[int]:
    """Cut points from blank lines and from headline-like or boilerplate single lines."""
    cuts: list[int] = []
    paragraph: list[tuple[int, str]] = []  # (offset, stripped line) of the current paragraph
    offset = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped:
            paragraph.append((offset, stripped))
        elif paragraph:
            cuts.extend(_paragraph_cuts(paragraph))
            paragraph = []
        offset += len(line) + 1
    if paragraph:
        cuts.extend(_paragraph_cuts(paragraph))
    return cuts


def _paragraph_cuts(lines: list[tuple[int, str]]) -> list[int]:
    """The paragraph's start, plus the starts of lines that begin a new unit."""
    cuts = [lines[0][0]]
    previous_cut = True  # the line before starts a block (paragraph start or a cut)
    for (_, line), (next_offset, next_line) in zip(lines, lines[1:]):
        cut = (
            len(line) > _WRAP_WIDTH
            and not next_line[0].islower()
            or (previous_cut and _is_headline(line, next_line))
            or is_boilerplate(next_line)
            or is_boilerplate(line)
        )
        if cut:
            cuts.append(next_offset)
        previous_cut = cut
    return cuts


def _is_headline(line: str, next_line: str) -> bool:
    """A title or caption line: no final punctuation, not continued, next line starts anew."""
    head = next_line[0]
    return (
        (head.isupper() or head.isdigit() or head in _OPENERS)
        and _ENDS_SENTENCE.search(line) is None
        and _CONTINUED_LINE.search(line) is None
    )
