"""Project settings: labels, keys, overlap, order, leases and guidelines, from TOML.

The default lives in ``seeds/project.toml``; ``init`` loads it and stores the
validated result (with the guidelines text) in the ``settings`` table, so the app
never needs the file again.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
DEFAULT_CONFIG_PATH = SEEDS / "project.toml"

# Keys Streamlit refuses as shortcuts, and keys the label page already uses for navigation.
RESERVED_KEYS = {"C": "reserved by Streamlit", "R": "reserved by Streamlit",
                 "F": "flag", "G": "guidelines", "LEFT": "back", "RIGHT": "skip",
                 "ENTER": "submit (multi-label)"}
_KEY_RE = re.compile(r"^(?:[A-Za-z0-9]|F(?:[1-9]|1[0-2]))$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_TOP_FIELDS = {"name", "multi_label", "overlap", "order", "seed", "lease_minutes",
               "require_signin", "guidelines", "guidelines_version", "labels"}
_LABEL_FIELDS = {"name", "key", "color", "description"}


class ConfigError(ValueError):
    """The project configuration is invalid; the message says where and why."""


@dataclass(frozen=True)
class Label:
    name: str
    key: str
    color: str = "#7f7f7f"
    description: str = ""


@dataclass(frozen=True)
class ProjectConfig:
    labels: tuple[Label, ...]
    name: str = "Parley project"
    multi_label: bool = False
    overlap: int = 2
    order: str = "sequential"
    seed: int = 0
    lease_minutes: float = 10.0
    require_signin: bool = False
    guidelines: str = ""  # markdown text (not the path)
    guidelines_version: str = "1"
    extra: dict = field(default_factory=dict)

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (what ``settings`` stores)."""
        d = asdict(self)
        d["labels"] = [asdict(lab) for lab in self.labels]
        d.pop("extra")
        return d


def from_dict(data: dict[str, Any], *, source: str = "config",
              base_dir: Path | None = None) -> ProjectConfig:
    """Validate a parsed config mapping. ``guidelines`` may be a path (read from
    ``base_dir``) or, when stored, the markdown text itself."""
    errors: list[str] = []
    unknown = set(data) - _TOP_FIELDS
    if unknown:
        errors.append(f"unknown field(s): {', '.join(sorted(unknown))}")
    raw_labels = data.get("labels")
    labels: list[Label] = []
    if not isinstance(raw_labels, list) or not raw_labels:
        errors.append("labels: at least one [[labels]] entry is required")
        raw_labels = []
    seen_names: set[str] = set()
    seen_keys: set[str] = set()
    for i, raw in enumerate(raw_labels, 1):
        where = f"labels[{i}]"
        if not isinstance(raw, dict):
            errors.append(f"{where}: must be a table")
            continue
        bad = set(raw) - _LABEL_FIELDS
        if bad:
            errors.append(f"{where}: unknown field(s): {', '.join(sorted(bad))}")
        name, key = raw.get("name"), raw.get("key")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            errors.append(f"{where}: name {name!r} must be 1-32 lowercase letters, digits or _, "
                          "starting with a letter")
            continue
        if name in seen_names:
            errors.append(f"{where}: duplicate label name {name!r}")
        seen_names.add(name)
        key = str(key) if isinstance(key, (str, int)) else None
        if key is None or not _KEY_RE.match(key):
            errors.append(f"{where} ({name}): key {raw.get('key')!r} must be one letter, digit or F1-F12")
            continue
        if key.upper() in RESERVED_KEYS:
            errors.append(f"{where} ({name}): key {key!r} is reserved ({RESERVED_KEYS[key.upper()]})")
        if key.upper() in seen_keys:
            errors.append(f"{where} ({name}): duplicate key {key!r}")
        seen_keys.add(key.upper())
        color = raw.get("color", "#7f7f7f")
        if not isinstance(color, str) or not _COLOR_RE.match(color):
            errors.append(f"{where} ({name}): color {color!r} must look like #1f77b4")
        desc = raw.get("description", "")
        if not isinstance(desc, str):
            errors.append(f"{where} ({name}): description must be text")
            desc = ""
        labels.append(Label(name=name, key=key, color=str(color), description=desc))

    def typed(name: str, kind: type | tuple, default: Any) -> Any:
        value = data.get(name, default)
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            errors.append(f"{name}: must be a number, not {value!r}")
            return default
        if not isinstance(value, kind):
            errors.append(f"{name}: {value!r} has the wrong type")
            return default
        return value

    overlap = typed("overlap", int, 2)
    if overlap < 1:
        errors.append(f"overlap: must be at least 1, got {overlap}")
    order = typed("order", str, "sequential")
    if order not in ("sequential", "random"):
        errors.append(f"order: {order!r} must be 'sequential' or 'random'")
    lease = typed("lease_minutes", (int, float), 10)
    if lease <= 0:
        errors.append(f"lease_minutes: must be positive, got {lease}")
    guidelines = typed("guidelines", str, "")
    if guidelines and base_dir is not None and guidelines.endswith((".md", ".markdown", ".txt")):
        gpath = base_dir / guidelines
        try:
            guidelines = gpath.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"guidelines: cannot read {gpath.name}: {exc}")
            guidelines = ""
    cfg = None
    if not errors:
        cfg = ProjectConfig(
            labels=tuple(labels),
            name=typed("name", str, "Parley project"),
            multi_label=typed("multi_label", bool, False),
            overlap=overlap,
            order=order,
            seed=typed("seed", int, 0),
            lease_minutes=float(lease),
            require_signin=typed("require_signin", bool, False),
            guidelines=guidelines,
            guidelines_version=str(typed("guidelines_version", (str, int), "1")),
        )
    if errors:
        raise ConfigError(f"{source}: " + "; ".join(errors))
    assert cfg is not None
    return cfg


def load(path: str | Path = DEFAULT_CONFIG_PATH) -> ProjectConfig:
    """Read and validate a TOML config file; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return from_dict(data, source=str(path), base_dir=path.parent)


def default() -> ProjectConfig:
    """The shipped default project (seeds/project.toml)."""
    return load(DEFAULT_CONFIG_PATH)
