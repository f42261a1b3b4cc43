"""When the monitor checks: the epochs (1-based counts of completed epochs) at which it runs its detectors.

- `constant`: every `every` epochs, AutoTrainer's `epoch_N` (its entry points use N = 3): it checks when the
  0-based epoch index is a multiple of N, i.e. after epochs 1, 1 + N, 1 + 2N, ...
- `dynamic`: the dynamic-checking thesis (Chapter 4-5, `getdynamicCF()`): no check in the first 1/5 of the
  planned epochs, a check after every epoch from 1/5 to 2/5, then one every 10 epochs. For 50 planned
  epochs: 11..20, 30, 40, 50.
- `piecewise`: segments `[{start: fraction of planned epochs, every: k or null}, ...]`; a segment covers
  completed-epoch counts n with start x planned < n <= next start x planned and checks when
  (n - floor(start x planned)) is a multiple of k (null: no check). `dynamic` is
  [{start: 0, every: null}, {start: 0.2, every: 1}, {start: 0.4, every: 10}].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

THESIS_SEGMENTS = ({"start": 0.0, "every": None}, {"start": 0.2, "every": 1}, {"start": 0.4, "every": 10})
KINDS = ("constant", "dynamic", "piecewise")


@dataclass(frozen=True)
class Segment:
    start: float          # fraction of the planned epochs where the segment begins
    every: int | None     # check every this many epochs; None = no check


class Schedule:
    """A checking schedule; `is_check(n, planned)` says whether to check after the n-th epoch."""

    def __init__(self, kind: str = "constant", every: int = 3, segments: Sequence[dict[str, Any]] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"monitor.schedule.kind={kind!r}; accepted: {', '.join(KINDS)}")
        self.kind = kind
        self.every = int(every)
        if kind == "constant" and self.every < 1:
            raise ValueError(f"monitor.schedule.every={every}; accepted: an integer >= 1")
        raw = THESIS_SEGMENTS if kind == "dynamic" else (segments or ())
        if kind == "piecewise" and not raw:
            raise ValueError("monitor.schedule.segments is empty; a piecewise schedule needs e.g. [{start: 0, every: 5}]")
        self.segments = tuple(self._segment(s) for s in raw)
        starts = [s.start for s in self.segments]
        if starts != sorted(starts) or (starts and starts[0] != 0.0):
            raise ValueError(f"monitor.schedule.segments starts={starts}; accepted: increasing fractions beginning at 0")

    @staticmethod
    def _segment(item: dict[str, Any]) -> Segment:
        try:
            start, every = float(item["start"]), item.get("every")
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"monitor.schedule.segments item {item!r}; accepted: {{start: fraction in [0, 1], every: int >= 1 or null}}") from None
        if not 0.0 <= start <= 1.0 or (every is not None and int(every) < 1):
            raise ValueError(f"monitor.schedule.segments item {item!r}; accepted: start in [0, 1], every >= 1 or null")
        return Segment(start, None if every is None else int(every))

    def is_check(self, n: int, planned: int) -> bool:
        """Whether the monitor checks after the n-th completed epoch (1-based) of `planned` epochs."""
        if self.kind == "constant":
            return (n - 1) % self.every == 0
        for i, seg in enumerate(self.segments):
            # Rounded so that 0.2 x 150 is 30, not 30.000000000000004.
            low = round(seg.start * planned, 9)
            high = round(self.segments[i + 1].start * planned, 9) if i + 1 < len(self.segments) else math.inf
            if low < n <= high:
                if seg.every is None:
                    return False
                return (n - math.floor(low)) % seg.every == 0
        return False

    def check_epochs(self, planned: int) -> list[int]:
        """Every n in 1..planned at which the monitor checks."""
        return [n for n in range(1, planned + 1) if self.is_check(n, planned)]

    def describe(self) -> str:
        if self.kind == "constant":
            return f"constant every {self.every}"
        parts = [f"from {s.start:g}: {'none' if s.every is None else f'every {s.every}'}" for s in self.segments]
        return f"{self.kind} ({'; '.join(parts)})"


def online_detection(series: Sequence[float], schedule: Schedule, planned: int, judge) -> int | None:
    """The first scheduled check n (<= len(series)) at which `judge(series[:n])` is true, else None."""
    for n in schedule.check_epochs(planned):
        if n > len(series):
            return None
        if judge(series[:n]):
            return n
    return None
