"""What a training backend hands back, whichever backend ran: the stage result, the progress
callback it reports through, and the one error it raises. Backends and the recipe import this;
nothing here imports a backend."""

from __future__ import annotations

from typing import Callable

from ichigo.artifacts import StageResult, read_stage_result, stage_result_from_dict
from ichigo.errors import IchigoError

# progress(step, total_steps, metrics_row)
Progress = Callable[[int, int, dict], None]

__all__ = ["Progress", "StageResult", "TrainingFailed", "read_stage_result",
           "stage_result_from_dict"]


class TrainingFailed(IchigoError):
    """The training job ended without a result; the message carries the reason and log tail."""
