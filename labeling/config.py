"""Project settings: labels, keys, overlap, order, leases and guidelines, from TOML.

The default lives in ``seeds/project.toml``; ``init`` loads it and stores the
validated result (with the guidelines text) in the ``settings`` table, so the app
never needs the file again. ``to_toml`` writes a stored config back out (for
``python -m labeling config show``); reading that output gives the same config.

In a file, ``guidelines`` is the path of a markdown file relative to the TOML file;
a value spanning several lines is taken as the markdown itself (that is how
``config show`` prints it). In the stored form it is always the markdown text.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DEFAULT_CONFIG_PATH = SEEDS / "project.toml"

ORDERS = ("sequential", "random")
# Keys Streamlit refuses as shortcuts, and keys the label page already uses for navigation.
RESERVED_KEYS = {"C": "reserved by Streamlit", "R": "reserved by Streamlit",
                 "F": "flag", "G": "guidelines", "LEFT": "back", "RIGHT": "skip",
                 "ENTER": "submit (multi-label)"}
_KEY_RE = re.compile(r"^(?:[A-Za-z0-9]|[Ff](?:[1-9]|1[0-2]))$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_TOP_FIELDS = ("name", "multi_label", "overlap", "sample_fraction", "order", "seed",
               "lease_minutes", "require_signin", "require_passwords", "guidelines",
               "guidelines_version", "labels")
_LABEL_FIELDS = ("name", "key", "description", "color", "colour")
_DEFAULT_COLOR = "#7f7f7f"
# Upper bounds keep every stored number inside SQLite's 64-bit integers and sensible.
MAX_OVERLAP = 100
MAX_LEASE_MINUTES = 7 * 24 * 60


class ConfigError(ValueError):
    """The project configuration is invalid; the message says where and why.

    ``errors`` lists every problem found (validation does not stop at the first).
    """

    def __init__(self, source: str, errors: list[str]):
        self.source = source
        self.errors = list(errors)
        super().__init__(f"{source}: " + "; ".join(self.errors))


@dataclass(frozen=True)
class Label:
    name: str
    key: str
    color: str = _DEFAULT_COLOR
    description: str = ""


@dataclass(frozen=True)
class ProjectConfig:
    labels: tuple[Label, ...]
    name: str = "Parley project"
    multi_label: bool = False
    overlap: int = 2
    # Share of sentences (chosen by a seeded hash of the sentence id) that get ``overlap``
    # annotators; the rest get one. 1.0: every sentence is double-annotated.
    sample_fraction: float = 1.0
    order: str = "sequential"
    seed: int = 0
    lease_minutes: float = 10.0
    require_signin: bool = False
    # True: every account needs a password and a name alone shows nothing of that
    # person's work. False ("open" project): anyone may type any annotator's name.
    require_passwords: bool = False
    guidelines: str = ""  # markdown text (not the path)
    guidelines_version: str = "1"
    extra: dict = field(default_factory=dict)

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    def check_labels(self, labels: Iterable[str], what: str = "label") -> tuple[str, ...]:
        """``labels`` de-duplicated in order, checked against the project: at least one,
        all known, only one unless multi-label. Raises ``ValueError`` saying which rule
        failed (callers re-raise it as their own error type)."""
        labels = tuple(dict.fromkeys(labels))
        if not labels:
            raise ValueError(f"choose at least one {what}")
        unknown = [x for x in labels if x not in self.label_names]
        if unknown:
            raise ValueError(f"unknown label(s): {', '.join(unknown)}; "
                             f"labels are {', '.join(self.label_names)}")
        if len(labels) > 1 and not self.multi_label:
            raise ValueError("this project allows one label per sentence")
        return labels

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (what ``settings`` stores)."""
        d = asdict(self)
        d["labels"] = [asdict(lab) for lab in self.labels]
        d.pop("extra")
        return d


# ----------------------------------------------------------------------------- validation


def from_dict(data: dict[str, Any], *, source: str = "config",
              base_dir: Path | None = None) -> ProjectConfig:
    """Validate a parsed config mapping; raises :class:`ConfigError` listing every problem.

    With ``base_dir`` (a file is being read) a one-line ``guidelines`` value is a path
    relative to it; otherwise ``guidelines`` is the markdown text itself.
    """
    errors: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError(source, ["the config must be a table of fields"])
    unknown = set(data) - set(_TOP_FIELDS)
    if unknown:
        errors.append(f"unknown field(s): {', '.join(sorted(unknown))} "
                      f"(known: {', '.join(_TOP_FIELDS)})")
    labels = _labels(data.get("labels"), errors)

    def typed(name: str, kind: type | tuple, default: Any) -> Any:
        value = data.get(name, default)
        numeric = kind in (int, float, (int, float))
        if isinstance(value, bool) and numeric:
            errors.append(f"{name}: must be a number, not {value!r}")
            return default
        if not isinstance(value, kind):
            want = {bool: "true or false", int: "a whole number", str: "text"}.get(
                kind, "a number")  # type: ignore[call-overload]
            errors.append(f"{name}: {value!r} must be {want}")
            return default
        return value

    name = typed("name", str, "Parley project")
    multi_label = typed("multi_label", bool, False)
    overlap = typed("overlap", int, 2)
    if not 1 <= overlap <= MAX_OVERLAP:
        errors.append(f"overlap: must be between 1 and {MAX_OVERLAP}, got {overlap}")
        overlap = 2
    fraction = typed("sample_fraction", (int, float), 1.0)
    if not (0 < fraction <= 1) or math.isnan(fraction):
        errors.append(f"sample_fraction: must be > 0 and <= 1, got {fraction}")
    order = typed("order", str, "sequential")
    if order not in ORDERS:
        errors.append(f"order: {order!r} must be 'sequential' or 'random'")
    seed = typed("seed", int, 0)
    if not -(2**63) <= seed < 2**63:
        errors.append(f"seed: {seed} does not fit in 64 bits")
    lease = typed("lease_minutes", (int, float), 10)
    if not 0 < lease <= MAX_LEASE_MINUTES:
        errors.append(f"lease_minutes: must be more than 0 and at most {MAX_LEASE_MINUTES} "
                      f"(a week), got {lease}")
    require_signin = typed("require_signin", bool, False)
    require_passwords = typed("require_passwords", bool, False)
    version = typed("guidelines_version", (str, int), "1")
    guidelines = _guidelines(typed("guidelines", str, ""), base_dir, errors)
    if errors:
        raise ConfigError(source, errors)
    return ProjectConfig(labels=tuple(labels), name=name, multi_label=multi_label,
                         overlap=overlap, sample_fraction=float(fraction), order=order,
                         seed=seed, lease_minutes=float(lease), require_signin=require_signin,
                         require_passwords=require_passwords,
                         guidelines=guidelines, guidelines_version=str(version))


def _labels(raw_labels: Any, errors: list[str]) -> list[Label]:
    labels: list[Label] = []
    if not isinstance(raw_labels, list) or not raw_labels:
        errors.append("labels: at least one [[labels]] entry is required")
        return labels
    seen_names: dict[str, int] = {}
    seen_keys: dict[str, int] = {}
    for i, raw in enumerate(raw_labels, 1):
        where = f"labels[{i}]"
        if not isinstance(raw, dict):
            errors.append(f"{where}: must be a table with name and key")
            continue
        bad = set(raw) - set(_LABEL_FIELDS)
        if bad:
            errors.append(f"{where}: unknown field(s): {', '.join(sorted(bad))} "
                          "(known: name, key, description, color)")
        name, key = raw.get("name"), raw.get("key")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            errors.append(f"{where}: name {name!r} must be 1-32 lowercase letters, digits or _, "
                          "starting with a letter")
            continue
        where = f"{where} ({name})"
        if name in seen_names:
            errors.append(f"{where}: duplicate label name {name!r} "
                          f"(also labels[{seen_names[name]}])")
        seen_names.setdefault(name, i)
        key = str(key) if isinstance(key, (str, int)) and not isinstance(key, bool) else None
        if key is None or not _KEY_RE.match(key):
            errors.append(f"{where}: key {raw.get('key')!r} must be one letter, digit or F1-F12")
            continue
        key = key.upper() if len(key) > 1 else key  # "f5" -> "F5"
        if key.upper() in RESERVED_KEYS:
            errors.append(f"{where}: key {key!r} is reserved ({RESERVED_KEYS[key.upper()]})")
        if key.upper() in seen_keys:
            errors.append(f"{where}: duplicate key {key!r} "
                          f"(also labels[{seen_keys[key.upper()]}])")
        seen_keys.setdefault(key.upper(), i)
        if "color" in raw and "colour" in raw:
            errors.append(f"{where}: give either color or colour, not both")
        color = raw.get("color", raw.get("colour", _DEFAULT_COLOR))
        if not isinstance(color, str) or not _COLOR_RE.match(color):
            errors.append(f"{where}: color {color!r} must look like #1f77b4")
            color = _DEFAULT_COLOR
        desc = raw.get("description", "")
        if not isinstance(desc, str):
            errors.append(f"{where}: description must be text")
            desc = ""
        labels.append(Label(name=name, key=key, color=color, description=desc))
    return labels


def _guidelines(value: str, base_dir: Path | None, errors: list[str]) -> str:
    if base_dir is None or not value or "\n" in value:
        return value
    gpath = (base_dir / value).resolve()
    # A config must not pull an arbitrary file of this machine into the project (and
    # show it to every annotator): only files beside the config, or the shipped seeds.
    if not any(gpath.is_relative_to(root) for root in (base_dir.resolve(), SEEDS)):
        errors.append(f"guidelines: {value!r} is outside the config's folder; put the "
                      "guidelines file next to the config")
        return ""
    try:
        return gpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        errors.append(f"guidelines: no file {value!r} next to the config ({gpath})")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"guidelines: cannot read {gpath}: {exc}")
    return ""


def load(path: str | Path = DEFAULT_CONFIG_PATH) -> ProjectConfig:
    """Read and validate a TOML config file; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), ["not UTF-8 text"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"invalid TOML: {exc}"]) from exc
    return from_dict(data, source=str(path), base_dir=path.parent)


def default() -> ProjectConfig:
    """The shipped default project (seeds/project.toml)."""
    return load(DEFAULT_CONFIG_PATH)


# ----------------------------------------------------------------------------- output


_TOML_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if "\n" not in text:
        # A JSON string is a valid TOML basic string, except that TOML wants DEL escaped.
        return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
    # Multi-line basic string, so that guidelines read as markdown: escape backslashes
    # and control characters, break up runs of three quotes, and a quote at the end.
    out = text.replace("\\", "\\\\")
    out = _TOML_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    out = out.replace('"""', '""\\"')
    if out.endswith('"'):
        out = out[:-1] + '\\"'
    return '"""\n' + out + '"""'


def to_toml(cfg: ProjectConfig) -> str:
    """The config as TOML, guidelines inline; ``from_dict(tomllib.loads(...))`` gives it back."""
    d = cfg.to_dict()
    labels = d.pop("labels")
    lines = [f"{k} = {_toml_value(v)}" for k, v in d.items()]
    for lab in labels:
        lines += ["", "[[labels]]"] + [f"{k} = {_toml_value(v)}" for k, v in lab.items()]
    return "\n".join(lines) + "\n"
