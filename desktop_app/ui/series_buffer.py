"""A fixed-size ring buffer of (time, value) samples that hands out contiguous numpy views.

Qt-free. Appends are amortised O(1): data lives in an array twice the capacity and slides
back to the start when it reaches the end, so `view()` never concatenates.
"""
from __future__ import annotations

import numpy as np

MIN_GAP_S = 1.0  # a shorter pause in the samples still draws as one line
DEFAULT_CAPACITY = 20_000  # 1 h at 5 Hz, 16 min at the 50 ms minimum; older points come from history


class SeriesBuffer:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._t = np.empty(2 * capacity)  # epoch seconds, as DateAxisItem wants
        self._v = np.empty(2 * capacity)  # NaN where a sample is missing: pyqtgraph draws a gap
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def extend(self, t: np.ndarray | list[float], v: np.ndarray | list[float]) -> None:
        """Append samples newer than the last one (an older or equal time is a duplicate)."""
        t = np.asarray(t, dtype=float)
        v = np.asarray(v, dtype=float)
        if len(self):
            newer = t > self._t[self._end - 1]
            t, v = t[newer], v[newer]
        t, v = t[-self.capacity:], v[-self.capacity:]
        n = len(t)
        if self._end + n > len(self._t):  # slide the newest capacity - n samples to the front
            keep = min(len(self), self.capacity - n)
            self._t[:keep] = self._t[self._end - keep:self._end]
            self._v[:keep] = self._v[self._end - keep:self._end]
            self._start, self._end = 0, keep
        self._t[self._end:self._end + n] = t
        self._v[self._end:self._end + n] = v
        self._end += n
        self._start = max(self._start, self._end - self.capacity)

    def merge_older(self, t: np.ndarray, v: np.ndarray) -> None:
        """Put samples from before the first one held in front of it (a history prefill)."""
        if len(self):
            older = t < self._t[self._start]
            t, v = t[older], v[older]
        held_t, held_v = (a.copy() for a in self.view())
        self.clear()
        self.extend(np.concatenate([t, held_t]), np.concatenate([v, held_v]))

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self._t[self._start:self._end], self._v[self._start:self._end]

    def visible(self, x0: float, x1: float, columns: int) -> tuple[np.ndarray, np.ndarray]:
        """What a plot `columns` pixels wide shows from x0 to x1: the samples in that span plus one
        beyond each end (so the line runs to the edges), a break at each gap, at most about two
        points per column.

        Longer runs are drawn as each run's maximum and minimum, so no spike is lost (pyqtgraph's
        "peak" downsampling; done here because a PlotDataItem's general path costs a live plot
        about four times a PlotCurveItem's). The newest samples are always drawn as they are."""
        t, v = self.view()
        first = max(0, int(np.searchsorted(t, x0)) - 1)
        end = min(len(t), int(np.searchsorted(t, x1, side="right")) + 1)
        t, v = _break_gaps(t[first:end], v[first:end])
        run = len(t) // max(1, columns)
        if run < 2:
            return t, v
        runs = (len(t) - 1) // run  # the newest sample stays out of the runs, drawn where it is
        cut = runs * run
        peaks = v[:cut].reshape(runs, run)
        dt = np.empty((runs, 2))
        dt[:] = t[:cut:run, np.newaxis]
        dv = np.empty((runs, 2))
        dv[:, 0] = peaks.max(axis=1)  # a NaN (a gap) in a run keeps the gap
        dv[:, 1] = peaks.min(axis=1)
        return np.concatenate([dt.ravel(), t[cut:]]), np.concatenate([dv.ravel(), v[cut:]])

    def last(self) -> tuple[float, float] | None:
        return (self._t[self._end - 1], self._v[self._end - 1]) if len(self) else None

    def clear(self) -> None:
        self._start = self._end = 0


def _break_gaps(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A NaN (a break in the line) after each gap in the samples: the app was closed, the rate was
    Off, the machine slept. Missing is not a ramp from the last value to the next. A gap is an
    interval over three times the ones on both sides and over MIN_GAP_S: a slower rate, a skipped
    tick or a brief stall at a fast rate is none."""
    if len(t) < 3:
        return t, v
    dt = np.diff(t)
    around = np.empty_like(dt)
    around[1:-1] = np.maximum(dt[:-2], dt[2:])
    around[0], around[-1] = dt[1], dt[-2]
    gaps = np.flatnonzero((dt > 3 * around) & (dt > MIN_GAP_S)) + 1
    if not len(gaps):
        return t, v
    return np.insert(t, gaps, t[gaps - 1]), np.insert(v, gaps, np.nan)
