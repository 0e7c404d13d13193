"""What an export is asked to make: its options, the shell command that makes the same
export, the names of the files it writes, and its errors (pure).

``ExportOptions`` is what the CLI, the Export page and the worker processes share: the
page shows :meth:`ExportOptions.command`, a worker receives :func:`options_to_json`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

from labeling import gold, splits

#: Every format, in canonical order. ``parquet``, ``jsonl``, ``csv``: the dataset (one file
#: per split); ``raw``: every annotation, as ``annotations.parquet`` when ``parquet`` is
#: chosen, else as ``annotations.jsonl`` and ``annotations.csv``.
EXPORT_FORMATS = ("parquet", "jsonl", "csv", "raw")
DATASET_FORMATS = ("parquet", "jsonl", "csv")
DEFAULT_BOOTSTRAP = 1000
RAW_STEM = "annotations"
CARD_FILE = "README.md"
#: label -> id in the scheme's order, with descriptions, keys and the guidelines version.
LABELS_FILE = "labels.json"
#: The list of the files an export wrote (name, bytes, sha256), written last. A new
#: export into the same folder replaces or removes only the files listed there.
MANIFEST_FILE = "parley-manifest.json"


class ExportError(Exception):
    """An export that cannot be made; the message says why and what to do."""


class OptionError(ExportError, ValueError):
    """Bad export options (format, policy, splits, min annotators)."""


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how. ``validated()`` checks every field (raises OptionError)."""

    formats: tuple[str, ...] = EXPORT_FORMATS
    gold_policy: str = gold.DEFAULT_POLICY
    ratios: tuple[float, float, float] | None = splits.DEFAULT_RATIOS
    seed: int = 0
    min_annotators: int = 2
    include_context: bool = False
    csv_exact: bool = False
    bootstrap: int = DEFAULT_BOOTSTRAP
    # Every raw annotation of a sentence inside its dataset row (the ``annotations``
    # column). Off by default: the raw set is its own file, and embedding it made a
    # million-sentence export write gigabytes.
    embed_annotations: bool = False

    def validated(self) -> ExportOptions:
        """The same options, checked and normalised (formats in canonical order)."""
        if self.gold_policy not in gold.POLICIES:
            raise OptionError(f"unknown gold policy {self.gold_policy!r}; choose one of: "
                              + ", ".join(gold.POLICIES))
        try:
            ratios = splits.parse(self.ratios)
        except splits.SplitSpecError as exc:
            raise OptionError(str(exc)) from None
        if isinstance(self.min_annotators, bool) or int(self.min_annotators) < 1:
            raise OptionError(f"min annotators must be at least 1, got {self.min_annotators}")
        if self.bootstrap < 0:
            raise OptionError("bootstrap must be >= 0")
        return replace(self, formats=parse_formats(self.formats), ratios=ratios,
                       seed=int(self.seed), min_annotators=int(self.min_annotators))

    def command(self, out: str = "export") -> str:
        """The ``python -m labeling export`` command that makes this export."""
        parts = ["python -m labeling export", "--out", shlex.quote(out),
                 "--format", ",".join(self.formats), "--gold", self.gold_policy,
                 "--splits", splits.format_ratios(self.ratios), "--seed", str(self.seed),
                 "--min-annotators", str(self.min_annotators)]
        if self.include_context:
            parts.append("--include-context")
        if self.csv_exact:
            parts.append("--csv-exact")
        if self.embed_annotations:
            parts.append("--embed-annotations")
        return " ".join(parts)

    @property
    def dataset_formats(self) -> tuple[str, ...]:
        """The chosen dataset formats (``parquet``, ``jsonl``, ``csv``), in canonical order."""
        return tuple(f for f in DATASET_FORMATS if f in self.formats)

    @property
    def raw_formats(self) -> tuple[str, ...]:
        """The formats of the raw annotation files: Parquet alone when ``parquet`` is
        chosen (a complete, typed copy; writing the same three million rows again as
        JSONL and CSV is what made large exports slow and big), else JSONL and CSV, as
        before Parquet existed; none without ``raw``."""
        if "raw" not in self.formats:
            return ()
        return ("parquet",) if "parquet" in self.formats else ("jsonl", "csv")


def parse_formats(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"jsonl,csv"`` (or a sequence) -> ``("jsonl", "csv")`` in canonical order."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    chosen = {str(x).strip().lower() for x in items if str(x).strip()}
    unknown = sorted(chosen - set(EXPORT_FORMATS))
    if unknown:
        raise OptionError(f"unknown format(s): {', '.join(unknown)}; "
                          f"choose from {', '.join(EXPORT_FORMATS)}")
    if not chosen:
        raise OptionError(f"choose at least one format from {', '.join(EXPORT_FORMATS)}")
    return tuple(f for f in EXPORT_FORMATS if f in chosen)


def raw_file(fmt: str) -> str:
    """The raw annotation file of a format: ``annotations.<fmt>``."""
    return f"{RAW_STEM}.{fmt}"


def raw_files(options: ExportOptions) -> list[str]:
    """The raw annotation files an export with ``options`` writes."""
    return [raw_file(f) for f in options.raw_formats]


def export_files(options: ExportOptions,
                 rows: dict[str, int] | None = None) -> list[str]:
    """Names of the files an export with ``options`` writes, in the summary's order:
    dataset files, raw annotations, ``labels.json``, the card, the manifest (always
    last). With ``rows`` (split -> sentences exported), the dataset files of empty
    splits are left out: they are not written (an empty file has no schema, and
    ``datasets`` refuses a split without data); without it, every name the export may
    write."""
    names = [n for n in splits.names(options.ratios) if rows is None or rows.get(n)]
    files = [f"{n}.{ext}" for ext in options.dataset_formats for n in names]
    return [*files, *raw_files(options), LABELS_FILE, CARD_FILE, MANIFEST_FILE]


def options_to_json(options: ExportOptions) -> str:
    """The options as JSON (what a worker process receives)."""
    d = asdict(options)
    d["formats"] = list(d["formats"])
    d["ratios"] = None if d["ratios"] is None else list(d["ratios"])
    return json.dumps(d)


def options_from_json(text: str) -> ExportOptions:
    """The inverse of :func:`options_to_json`."""
    d = json.loads(text)
    d["formats"] = tuple(d["formats"])
    d["ratios"] = None if d["ratios"] is None else tuple(d["ratios"])
    return ExportOptions(**d).validated()
