"""Loading and validating profiles."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from ichigo.config.sections import (
    FRACTION_FIELDS, BaseModelConfig, ClusterConfig, DataConfig, EvalConfig, RegistryConfig, Section,
    ServingConfig, SpeechTokenizerConfig, TrainingConfig, TTSConfig,
)
from ichigo.config.validation import validate, yaml_mapping
from ichigo.errors import ConfigError


class Profile(Section):
    name: str
    kind: Literal["embedded", "cluster"]
    base_model: BaseModelConfig
    tts: TTSConfig
    speech_tokenizer: SpeechTokenizerConfig
    data: DataConfig
    training: TrainingConfig
    eval: EvalConfig
    registry: RegistryConfig
    serving: ServingConfig
    cluster: ClusterConfig = ClusterConfig()


def profile_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("ichigo.config").joinpath("profiles").iterdir()
                  if p.name.endswith(".yaml"))


def _deep_update(base: dict, overrides: dict) -> dict:
    """Nested merge, except that fractions summing to 1 (FRACTION_FIELDS) are one value: an
    override replaces them whole, so fractions left over from the profile cannot add up behind the
    user's back."""
    out = dict(base)
    for k, v in overrides.items():
        merge = isinstance(v, dict) and isinstance(out.get(k), dict) and k not in FRACTION_FIELDS
        out[k] = _deep_update(out[k], v) if merge else v
    return out


def _read_profile(name_or_path: str | Path, seen: tuple[str, ...] = ()) -> tuple[dict, str]:
    """The raw mapping of a profile with its `inherit:` chain resolved (parent first, then this
    file's keys merged over it). A packaged profile inherits by name; a file may also give a path,
    relative to itself."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"profile file {path} does not exist")
        text, source, key = path.read_text(), str(path), str(path.resolve())
    else:
        names = profile_names()
        if str(name_or_path) not in names:
            raise ConfigError(f"unknown profile {name_or_path!r}: choose one of {names} or give a YAML path")
        text = resources.files("ichigo.config").joinpath(f"profiles/{name_or_path}.yaml").read_text()
        source, key = f"'{name_or_path}'", str(name_or_path)
    if key in seen:
        raise ConfigError(f"profile {source}: inherit loops back to itself ({' -> '.join((*seen, key))})")
    raw = yaml_mapping(text, source, "profile")
    parent = raw.pop("inherit", None)
    if parent is None:
        return raw, source
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"profile {source}: inherit must be a profile name or a YAML path, got {parent!r}")
    if path.is_file() and (path.parent / parent).is_file():
        parent = str(path.parent / parent)
    base, _ = _read_profile(parent, (*seen, key))
    return _deep_update(base, raw), source


def load_profile(name_or_path: str | Path = "local", overrides: dict[str, Any] | None = None) -> Profile:
    """A packaged profile by name (`local`, `h100`) or a YAML file path, plus nested overrides.
    A profile may `inherit: <name or path>` and list only what differs."""
    raw, source = _read_profile(name_or_path)
    if overrides:
        raw = _deep_update(raw, overrides)
    return validate(Profile, raw, source, "profile")


def with_workdir(profile: Profile, workdir: str | Path) -> Profile:
    """Fill the `{workdir}` placeholders (the embedded profile keeps its MLflow store there)."""
    wd = str(Path(workdir).resolve())
    sections = {}
    for name in ("registry", "serving"):
        section = getattr(profile, name)
        update = {k: v.replace("{workdir}", wd) for k, v in section.model_dump().items()
                  if isinstance(v, str) and "{workdir}" in v}
        sections[name] = section.model_copy(update=update)
    return profile.model_copy(update=sections)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["training.stages.stage1.steps=10", ...]` -> nested dict (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out
