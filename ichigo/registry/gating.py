"""What the eval gate needs from the registry, read so that the gate fails closed: "no champion
yet" lets a candidate be judged on its own thresholds, but "could not read the champion" (registry
down, bad credentials) rejects it, since a pass could then ship a model worse than what serves."""

from __future__ import annotations

import dataclasses
from typing import Callable

from ichigo.config import EvalConfig, RegistryConfig
from ichigo.eval.gate import GateDecision, decide
from ichigo.registry.aliases import champion_metrics
from ichigo.registry.client import RegistryClient


def gate_with_champion(candidate: dict, eval_cfg: EvalConfig, base: dict | None, registry: RegistryConfig,
                       read_champion: Callable[[RegistryClient], dict | None] = champion_metrics,
                       ) -> tuple[GateDecision, dict | None]:
    """(decision, champion metrics or None)."""
    try:
        # the client is built in here too: whatever fails on the way to the champion fails closed
        champion = read_champion(RegistryClient(registry))
    except Exception as e:  # noqa: BLE001 - any failure to read it blocks the candidate
        d = decide(candidate, eval_cfg, base, None)
        why = (f"could not read the current champion's metrics ({type(e).__name__}: {str(e)[:300]}): "
               "the gate fails closed; rerun when the registry answers")
        return dataclasses.replace(d, passed=False, reasons=[why, *d.reasons]), None
    return decide(candidate, eval_cfg, base, champion), champion
