"""Counts of generated cases executed in this run, per test family, for the session summary."""

from __future__ import annotations

import json
import os
from collections import Counter

# (family, detail) -> executed cases; e.g. ("schemathesis", "POST /ventures [negative]").
EXECUTED: Counter[tuple[str, str]] = Counter()


def record(family: str, detail: str) -> None:
    EXECUTED[(family, detail)] += 1


def summary() -> dict:
    families: dict[str, dict] = {}
    for (family, detail), count in sorted(EXECUTED.items()):
        entry = families.setdefault(family, {"cases": 0, "targets": 0, "by_target": {}})
        entry["cases"] += count
        entry["targets"] += 1
        entry["by_target"][detail] = count
    return families


def summary_lines() -> list[str]:
    return [f"generated cases: {family}: {entry['cases']} over {entry['targets']} targets"
            for family, entry in summary().items()]


def write_report() -> None:
    """Write the counts as JSON to ``$PROOF_REPORT`` when it is set."""
    target = os.environ.get("PROOF_REPORT")
    if target and EXECUTED:
        with open(target, "w", encoding="utf-8") as report:
            json.dump(summary(), report, indent=2, ensure_ascii=False)
