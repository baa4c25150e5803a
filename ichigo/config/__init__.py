"""Typed, validated profiles: `local` (embedded CPU, the default) and `h100` (cluster).

A profile is one YAML file (packaged ones live next to this module; any path works too) validated
by `Profile`. Bad values fail on load with a `ConfigError` naming the field.
"""

from ichigo.config.profile import Profile, load_profile, parse_overrides, profile_names, with_workdir
from ichigo.config.recipe import STAGES, RecipeConfig
from ichigo.config.sections import (
    BaseModelConfig,
    ClusterConfig,
    DataConfig,
    EvalConfig,
    RegistryConfig,
    ServingConfig,
    SpeechTokenizerConfig,
    StageConfig,
    TrainingConfig,
    TTSConfig,
)

__all__ = [
    "Profile", "load_profile", "profile_names", "parse_overrides", "with_workdir", "BaseModelConfig", "ClusterConfig", "DataConfig",
    "EvalConfig", "RegistryConfig", "ServingConfig", "SpeechTokenizerConfig", "StageConfig",
    "TrainingConfig", "TTSConfig", "STAGES", "RecipeConfig",
]
