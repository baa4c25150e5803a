"""YAML -> validated pydantic model, with errors that name the file and the field."""

from __future__ import annotations

from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ichigo.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def yaml_mapping(text: str, source: str, what: str) -> dict:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {source} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} {source} must be a mapping")
    return raw


def validate(model: type[M], raw: dict, source: str, what: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        lines = [f"invalid {what} {source}:"]
        lines += [f"  - {'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors()]
        raise ConfigError("\n".join(lines)) from None
