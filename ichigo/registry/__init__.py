"""Model registry: MLflow lineage, aliases (challenger / champion), promotion, rollback, and the
follower that makes serving track an alias. See ichigo/registry/follower.py for the flow.

The functions here take a RegistryClient (ichigo/registry/client.py: the MLflow calls, with
the retries inside), built once by the caller from the profile's RegistryConfig."""

from ichigo.registry.aliases import alias_log, alias_stack, champion_metrics, promote, rollback, set_alias
from ichigo.registry.client import RegistryClient, RegistryUnavailableError
from ichigo.registry.follower import AliasFollower, FollowEvent, run_follower
from ichigo.registry.lineage import CodeVersion, DataManifest, Lineage, build_lineage, code_version
from ichigo.registry.model_card import render_model_card
from ichigo.registry.register import RegisteredVersion, register_candidate
from ichigo.registry.resolve import parse_model_uri, resolve_package, resolve_version
from ichigo.registry.version import VersionInfo

__all__ = [
    "VersionInfo", "alias_log", "alias_stack", "champion_metrics", "promote", "rollback",
    "set_alias", "RegistryClient", "RegistryUnavailableError", "AliasFollower", "FollowEvent",
    "run_follower", "CodeVersion", "DataManifest", "Lineage", "build_lineage", "code_version",
    "render_model_card", "RegisteredVersion", "register_candidate", "parse_model_uri",
    "resolve_package", "resolve_version",
]
