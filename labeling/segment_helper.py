"""The segmenting helper process of a big import (``labeling.ingest.parallel``).

Run as ``python -m labeling.segment_helper``: reads pickled lists of texts on stdin
until it closes, and answers each list on stdout with the spans of its texts packed
into arrays ``(counts, starts, ends, kind codes, kinds)``: unpickling a million small
tuples or Span objects would cost the parent more than the segmenting it saves. It
imports only ``labeling.segment``, so it starts in a moment.
"""

from __future__ import annotations

import pickle
import sys
from array import array

from labeling.segment import segment


def main() -> None:
    """Answer lists of texts on stdin until it closes."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    kinds: dict[str, int] = {}
    while True:
        try:
            texts = pickle.load(inp)
        except EOFError:
            break
        counts, starts, ends, codes = array("q"), array("q"), array("q"), bytearray()
        for text in texts:
            spans = segment(text)
            counts.append(len(spans))
            for sp in spans:
                starts.append(sp.start)
                ends.append(sp.end)
                codes.append(kinds.setdefault(sp.kind, len(kinds)))
        pickle.dump((counts, starts, ends, bytes(codes), list(kinds)), out, protocol=5)
        out.flush()


if __name__ == "__main__":
    main()
