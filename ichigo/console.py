"""How chatty a run is. `ichigo run` is quiet by default (one line per step; full logs in files);
`ichigo run --verbose` sets ICHIGO_VERBOSE=1, which the pipeline's step processes inherit."""

from __future__ import annotations

import os

VERBOSE_ENV = "ICHIGO_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").lower() in ("1", "true", "yes")
