"""When the monitor checks: the epochs (1-based counts of completed epochs) at which it runs its detectors,
and AutoTrainer's warm-up gate, which depends on the check interval.

- `constant`: every `every` epochs, AutoTrainer's `epoch_N` (its entry points use N = 3): its callback checks
  when the 0-based epoch index is a multiple of N (`utils.py` LossHistory.on_epoch_end:
  `if (epoch)%self.checkgap==0`), i.e. after epochs 1, 1 + N, 1 + 2N, ...
- `dynamic`: the dynamic-checking thesis (Chapters 4-5, `getdynamicCF()`): no check in the first 1/5 of the
  planned epochs, a check after every epoch from 1/5 to 2/5, then one every 10 epochs. `getdynamicCF()`
  returns AutoTrainer's `checktype` string ("epoch_10"), which AutoTrainer's own rule turns into checks at
  0-based epochs that are multiples of 10: `align: run` (the default) checks after epochs 21, 31, 41 of 50
  (11..20, 21, 31, 41: 13 checks); `align: segment` counts 10 epochs from the segment's start instead:
  11..20, 30, 40, 50.
- `piecewise`: segments `[{start: fraction of planned epochs, every: k or null}, ...]`; a segment covers
  completed-epoch counts n with start x planned < n <= next start x planned; in it the monitor checks when
  (n - 1) is a multiple of k (`align: run`, AutoTrainer's rule) or when (n - floor(start x planned)) is
  (`align: segment`); null: no check. `dynamic` is
  [{start: 0, every: null}, {start: 0.2, every: 1}, {start: 0.4, every: 10}].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

THESIS_SEGMENTS = ({"start": 0.0, "every": None}, {"start": 0.2, "every": 1}, {"start": 0.4, "every": 10})
KINDS = ("constant", "dynamic", "piecewise")
ALIGNS = ("run", "segment")
WARMUP_POINT = 0.3  # AutoTrainer's loss_issue judgment_point: the rest runs once epochs >= 0.3 x planned - interval


@dataclass(frozen=True)
class Segment:
    start: float  # fraction of the planned epochs where the segment begins
    every: int | None  # check every this many epochs; None = no check


class Schedule:
    """A checking schedule; `is_check(n, planned)` says whether to check after the n-th epoch."""

    def __init__(
        self,
        kind: str = "constant",
        every: int = 3,
        segments: Sequence[dict[str, Any]] | None = None,
        align: str = "run",
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"monitor.schedule.kind={kind!r}; accepted: {', '.join(KINDS)}")
        if align not in ALIGNS:
            raise ValueError(
                f"monitor.schedule.align={align!r}; accepted: run (AutoTrainer: 0-based epoch % k == 0), "
                "segment (k, 2k, ... epochs after the segment begins)"
            )
        self.kind = kind
        self.align = align
        self.every = int(every)
        if kind == "constant" and self.every < 1:
            raise ValueError(f"monitor.schedule.every={every}; accepted: an integer >= 1")
        raw = THESIS_SEGMENTS if kind == "dynamic" else (segments or ())
        if kind == "piecewise" and not raw:
            raise ValueError(
                "monitor.schedule.segments is empty; a piecewise schedule needs e.g. [{start: 0, every: 5}]"
            )
        self.segments = tuple(self._segment(s) for s in raw)
        starts = [s.start for s in self.segments]
        if starts != sorted(starts) or (starts and starts[0] != 0.0):
            raise ValueError(
                f"monitor.schedule.segments starts={starts}; accepted: increasing fractions beginning at 0"
            )

    @staticmethod
    def _segment(item: dict[str, Any]) -> Segment:
        try:
            start, every = float(item["start"]), item.get("every")
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"monitor.schedule.segments item {item!r}; accepted: "
                "{start: fraction in [0, 1], every: int >= 1 or null}"
            ) from None
        if not 0.0 <= start <= 1.0 or (every is not None and int(every) < 1):
            raise ValueError(f"monitor.schedule.segments item {item!r}; accepted: start in [0, 1], every >= 1 or null")
        return Segment(start, None if every is None else int(every))

    def _segment_at(self, n: int, planned: int) -> tuple[Segment, float] | None:
        """The segment covering completed-epoch count n, and its lower bound (start x planned)."""
        for i, seg in enumerate(self.segments):
            # Rounded so that 0.2 x 150 is 30, not 30.000000000000004.
            low = round(seg.start * planned, 9)
            high = round(self.segments[i + 1].start * planned, 9) if i + 1 < len(self.segments) else math.inf
            if low < n <= high:
                return seg, low
        return None

    def is_check(self, n: int, planned: int) -> bool:
        """Whether the monitor checks after the n-th completed epoch (1-based) of `planned` epochs."""
        if self.kind == "constant":
            return (n - 1) % self.every == 0
        found = self._segment_at(n, planned)
        if found is None or found[0].every is None:
            return False
        seg, low = found
        return ((n - 1) if self.align == "run" else (n - math.floor(low))) % seg.every == 0

    def interval_at(self, n: int, planned: int) -> int:
        """The check interval in force after epoch n: AutoTrainer's `checkgap`, which its warm-up gate
        subtracts (the thesis' getdynamicCF() sets it per phase: 1 in (E/5, 2E/5], 10 after)."""
        if self.kind == "constant":
            return self.every
        found = self._segment_at(n, planned)
        return found[0].every if found is not None and found[0].every is not None else 1

    def check_epochs(self, planned: int) -> list[int]:
        """Every n in 1..planned at which the monitor checks."""
        return [n for n in range(1, planned + 1) if self.is_check(n, planned)]

    def describe(self) -> str:
        if self.kind == "constant":
            return f"constant every {self.every}"
        parts = [f"from {s.start:g}: {'none' if s.every is None else f'every {s.every}'}" for s in self.segments]
        return f"{self.kind} ({'; '.join(parts)}; {self.align}-aligned)"


def warmup_open(n: int, planned: int, interval: int) -> bool:
    """AutoTrainer's warm-up gate (monitor.py loss_issue: `current_epoch>=judgment_point*total_epoch-checkgap`):
    whether a check after n completed epochs runs the detectors other than NaN/huge/negative loss."""
    return n >= WARMUP_POINT * planned - interval


def gated_check_epochs(schedule: Schedule, planned: int) -> list[int]:
    """The schedule's checks at which the warm-up gate is open (the checks that can flag oscillation)."""
    return [n for n in schedule.check_epochs(planned) if warmup_open(n, planned, schedule.interval_at(n, planned))]


def online_detection(
    series: Sequence[float], schedule: Schedule, planned: int, judge, warmup: bool = False
) -> int | None:
    """The first scheduled check n (<= len(series)) at which `judge(series[:n])` is true, else None;
    with `warmup`, only checks where AutoTrainer's warm-up gate is open count."""
    checks = gated_check_epochs(schedule, planned) if warmup else schedule.check_epochs(planned)
    for n in checks:
        if n > len(series):
            return None
        if judge(series[:n]):
            return n
    return None
