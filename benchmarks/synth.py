"""Seeded synthetic news articles for benchmarks and tests.

`articles(n_sentences, seed)` yields dicts ``{"id", "title", "text", "n_sentences"}``
whose text reads roughly like wire-service news about negotiations: sentences of
10–40 words with abbreviations (U.S., Dr., a.m., Jan.), curly and straight quotes,
figures such as "$5.2 billion", paragraphs separated by blank lines, and 10–60
sentences per article. ``n_sentences`` is the true number of sentences in ``text``
(the title is not part of ``text``), so a segmenter's output can be scored against it.

The same ``(n_sentences, seed)`` always yields the same articles. Pure Python; about
a million sentences in well under a minute.

    python -m benchmarks.synth 1000 /tmp/articles.jsonl [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from itertools import islice


def _words_list(items: str) -> tuple[str, ...]:
    """A compact word list: "a, b c, d" -> ("a", "b c", "d")."""
    return tuple(items.split(", "))


_PEOPLE = _words_list(
    "Wendy Sherman, Sergei Ryabkov, Antony Blinken, Sergei Lavrov, Jens Stoltenberg, "
    "Olaf Scholz, Emmanuel Macron, Volodymyr Zelensky, Ursula von der Leyen, "
    "Kim Jong-un, Moon Jae-in, Wang Yi, Josep Borrell, Rafael Grossi"
)
_TITLED = _words_list(
    "Dr. Anna Weber, Mr. Daniel Price, Mrs. Laura Chen, Prof. Ivan Petrov, "
    "Gen. Mark Milley, Sen. Chris Murphy, Gov. Jay Inslee, Dr. Li Wei"
)
_PLACES = _words_list(
    "Geneva, Vienna, Brussels, Moscow, Kyiv, Washington, Seoul, Beijing, Doha, "
    "Paris, Berlin, Minsk, Istanbul, Helsinki, Warsaw"
)
_ACTORS = _words_list(
    "the U.S., the U.K., the E.U., NATO, Russia, Ukraine, the delegation, "
    "the U.N. Security Council, the OSCE, the White House, the Kremlin, "
    "the foreign ministry, U.S. officials, European diplomats"
)
_BASE_VERBS = _words_list("demand, warn, insist, propose, reject, signal, accept, offer")
_VERBS = _words_list(
    "demanded, warned, insisted, proposed, rejected, signaled, confirmed, suggested, "
    "argued, acknowledged, denied, offered, repeated, noted"
)
_NOUNS = _words_list(
    "talks, sanctions, troops, missiles, guarantees, negotiations, border, alliance, "
    "treaty, ceasefire, agreement, proposal, deadline, concessions, "
    "security documents, export controls, military aid, inspections, exercises, "
    "pipeline, embargo, framework, withdrawal, de-escalation, deployment"
)
_FILLER = _words_list(
    "the, a, of, to, in, on, for, with, and, that, its, their, further, new, "
    "possible, early, strategic, regional, broader, final, would, could, might, "
    "again, after, before, during, while, about, between, across, under, without, "
    "several, two, both, any, some, in principle, at least, for now, so far, "
    "on Monday, last week"
)
_MONTHS = _words_list("Jan., Feb., Aug., Sept., Oct., Nov., Dec., March, April, June")
_DAYS = _words_list("Monday, Tuesday, Wednesday, Thursday, Friday")
_HEADLINE_WORDS = _words_list(
    "talks, stall, over, sanctions, as, envoys, meet, in, deadline, nears, no, "
    "breakthrough, on, missiles, hopes, fade, for, deal, troops"
)


def _figure(rng: random.Random) -> str:
    """A number as news writes it: $5.2 billion, 3.5%, 100,000, No. 2, 1.5 million."""
    kind = rng.randrange(5)
    if kind == 0:
        return f"${rng.randint(1, 99)}.{rng.randint(1, 9)} {rng.choice(('billion', 'million'))}"
    if kind == 1:
        return f"{rng.randint(1, 20)}.{rng.randint(0, 9)}%"
    if kind == 2:
        return f"{rng.randint(1, 999)},{rng.randint(0, 999):03d}"
    if kind == 3:
        return f"No. {rng.randint(1, 9)}"
    return f"{rng.randint(1, 9)}.{rng.randint(1, 9)} million"


def _phrase(rng: random.Random) -> str:
    """One word or a short multi-word item, including abbreviations mid-sentence."""
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(_FILLER)
    if roll < 0.75:
        return rng.choice(_NOUNS)
    if roll < 0.82:
        return rng.choice(_ACTORS)
    if roll < 0.87:
        return _figure(rng)
    if roll < 0.91:
        return rng.choice(_PLACES)
    if roll < 0.94:
        return rng.choice(_TITLED)
    if roll < 0.99:
        return f"on {rng.choice(_MONTHS)} {rng.randint(1, 28)}"
    return f"at {rng.randint(1, 12)} {rng.choice(('a.m.', 'p.m.'))} {rng.choice(_DAYS)}"


def _words(rng: random.Random, n: int) -> str:
    out: list[str] = []
    count = 0
    while count < n:
        item = _phrase(rng)
        out.append(item)
        count += item.count(" ") + 1
    return " ".join(out)


def _sentence(rng: random.Random) -> str:
    """A sentence of roughly 10–40 words, sometimes a quotation."""
    n = rng.randint(10, 40)
    subject = rng.choice(_ACTORS + _PEOPLE + _TITLED)
    subject = subject[0].upper() + subject[1:]
    verb = rng.choice(_VERBS)
    # End on a noun: not on "a" (an initial?) nor on "the U.S." (an abbreviation?).
    body = f"{_words(rng, max(1, n - 5))} {rng.choice(_NOUNS)}"
    style = rng.random()
    if style < 0.12:
        quoted = _words(rng, rng.randint(4, 12))
        return f"“{quoted[0].upper()}{quoted[1:]},” {rng.choice(_PEOPLE)} said, adding that {body}."
    if style < 0.20:
        quoted = _words(rng, rng.randint(4, 12))
        return f'{subject} said: "{quoted[0].upper()}{quoted[1:]} {body}."'
    if style < 0.25:
        return f"{subject} {verb} the ‘{rng.choice(_NOUNS)}’ {body}."
    if style < 0.30:
        return f"Why would {rng.choice(_ACTORS)} {rng.choice(_BASE_VERBS)} {body}?"
    if style < 0.36:
        return f"{subject} {verb} {body} (local time)."
    return f"{subject} {verb} {body}."


def _title(rng: random.Random) -> str:
    words = rng.sample(_HEADLINE_WORDS, rng.randint(4, 9))
    return f"{rng.choice(_PLACES)} {' '.join(words)}"


def articles(n_sentences: int, seed: int = 0) -> Iterator[dict]:
    """Yield synthetic articles until ``n_sentences`` sentences have been produced.

    Each article has 10–60 sentences (the last one may have fewer, so that the total is
    exactly ``n_sentences``), grouped into paragraphs of 1–6 sentences separated by a
    blank line. Deterministic for a given seed.
    """
    if n_sentences < 0:
        raise ValueError(f"n_sentences must be >= 0, got {n_sentences}")
    rng = random.Random(seed)
    remaining = n_sentences
    number = 0
    while remaining > 0:
        size = min(remaining, rng.randint(10, 60))
        paragraphs: list[str] = []
        left = size
        while left > 0:
            k = min(left, rng.randint(1, 6))
            paragraphs.append(" ".join(_sentence(rng) for _ in range(k)))
            left -= k
        yield {
            "id": f"synth-{seed}-{number:07d}",
            "title": _title(rng),
            "text": "\n\n".join(paragraphs),
            "n_sentences": size,
        }
        remaining -= size
        number += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write N synthetic news articles as JSONL.")
    parser.add_argument("n_articles", type=int, help="number of articles to write")
    parser.add_argument("path", help="output file ('-' for stdout)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # 60 sentences per article is the maximum, so this budget always suffices.
    stream = articles(args.n_articles * 60, seed=args.seed)
    lines = (json.dumps(a, ensure_ascii=False) + "\n" for a in islice(stream, args.n_articles))
    if args.path == "-":
        sys.stdout.writelines(lines)
    else:
        with open(args.path, "w", encoding="utf-8") as out:
            out.writelines(lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
