"""Percentiles and the rows of the results table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least `fraction` of all
    samples at or below it (so p99 of 100 samples is the 99th smallest)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Spread:
    """p50 and p99 of a set of durations, in milliseconds."""

    p50: float
    p99: float
    count: int

    @classmethod
    def of_seconds(cls, samples: Sequence[float]) -> Spread:
        return cls(percentile(samples, 0.50) * 1000, percentile(samples, 0.99) * 1000, len(samples))


@dataclass
class Row:
    """One line of the table: our figures, the baseline's, and the aim they answer to."""

    benchmark: str
    measure: str
    ours: tuple[float, ...]
    baseline: tuple[float, ...] | None = None
    baseline_name: str = ""
    aim: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)

    def ratios(self) -> tuple[float, ...] | None:
        if self.baseline is None:
            return None
        return tuple(ours / base if base else math.nan
                     for ours, base in zip(self.ours, self.baseline, strict=True))
