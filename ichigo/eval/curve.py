"""Text retention per stage (the paper's Table 3: MMLU of the base, then after stages 1, 2, 3).

The base and stage-3 points come from the candidate's evaluation (`bench/<name>/base_score`,
`bench/<name>/score`), stages 1 and 2 from their own light text evaluations."""

from __future__ import annotations

import math

STAGES = ("base", "stage1", "stage2", "stage3")


def retention_curve(candidate: dict, stage_points: dict[str, dict[str, dict]]) -> dict[str, dict[str, float]]:
    """{benchmark: {stage: score}} for every text benchmark seen; stage_points is
    {"stage1": {name: summary}, "stage2": {...}}. Missing points are left out."""
    names = {k.split("/")[1] for k in candidate if k.startswith("bench/") and k.endswith("/base_score")}
    for point in stage_points.values():
        names |= set(point)
    curve: dict[str, dict[str, float]] = {}
    for name in sorted(names):
        row = {}
        if f"bench/{name}/base_score" in candidate:
            row["base"] = float(candidate[f"bench/{name}/base_score"])
        for stage in ("stage1", "stage2"):
            if name in stage_points.get(stage, {}):
                row[stage] = float(stage_points[stage][name]["score"])
        if f"bench/{name}/score" in candidate:
            row["stage3"] = float(candidate[f"bench/{name}/score"])
        curve[name] = row
    return curve


def curve_drops(curve: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Relative drop vs the base at each stage ((base - x) / base), where the base is known."""
    out = {}
    for name, row in curve.items():
        base = row.get("base")
        if base is None or base <= 0 or math.isnan(base):
            continue
        out[name] = {s: (base - v) / base for s, v in row.items() if s != "base"}
    return out
