"""The base of every config model (profile sections and the recipe config alike)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Unknown keys are errors (a typo is not a silently ignored setting); values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
