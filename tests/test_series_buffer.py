"""The plot's ring buffer (Qt-free): what a plot of a given width draws from it."""
from __future__ import annotations

import numpy as np

from desktop_app.ui.series_buffer import SeriesBuffer


def filled(n: int, values=None) -> SeriesBuffer:
    buffer = SeriesBuffer(capacity=10 * n)
    buffer.extend(np.arange(n, dtype=float), np.arange(n, dtype=float) if values is None else values)
    return buffer


def filled_at(times: np.ndarray) -> SeriesBuffer:
    buffer = SeriesBuffer(capacity=10 * len(times))
    buffer.extend(times, np.ones(len(times)))
    return buffer


def test_visible_is_the_span_plus_one_sample_beyond_each_edge():
    """A scrolled plot draws its line to both edges, and nothing far outside them."""
    t, v = filled(100).visible(40.5, 60.5, columns=500)
    assert t[0] == 40 and t[-1] == 61
    assert list(v) == list(range(40, 62))


def test_a_long_span_is_drawn_with_about_two_points_a_column_and_no_spike_lost():
    """An hour at 5 Hz in a 400-pixel plot: 18 000 samples become ~800 points, the min and max of each
    column, so a one-sample spike or dip still shows, and the newest sample is drawn as it is."""
    rng = np.random.default_rng(3)
    values = 50 + rng.normal(0, 1, 18_000)
    values[7_777], values[12_345] = 100.0, 0.0
    values[-1] = 42.0
    t, v = filled(18_000, values).visible(0, 18_000, columns=400)
    assert 400 <= len(t) <= 2 * 400 + 45
    assert v.max() == 100.0 and v.min() == 0.0
    assert (t[-1], v[-1]) == (17_999, 42.0)
    assert np.all(np.diff(t) >= 0), "time never runs backwards in the drawn line"


def test_a_gap_stays_a_gap_when_condensed():
    """A missing sample (NaN) breaks the line; condensing must not draw across it."""
    values = np.ones(10_000)
    values[5_000] = np.nan
    _, v = filled(10_000, values).visible(0, 10_000, columns=100)
    assert np.isnan(v).any()


def test_a_pause_in_gathering_breaks_the_line_but_a_slower_rate_or_a_skipped_tick_does_not():
    """Closed for 70 s between 1 s samples: the plot shows nothing there, not a ramp. A rate moved
    from 60 s to 1 s, one tick missed under load, or a 0.3 s stall at 50 ms still draws one line."""
    t = np.concatenate([np.arange(0, 30.0), np.arange(100, 130.0)])
    drawn_t, drawn_v = filled_at(t).visible(0, 130, columns=1000)
    assert np.isnan(drawn_v).sum() == 1
    assert drawn_t[np.flatnonzero(np.isnan(drawn_v))[0]] == 29.0, "the break right after the last sample"
    assert np.all(np.diff(drawn_t) >= 0)

    slower_then_faster = np.concatenate([np.arange(0, 600.0, 60), np.arange(600, 630.0)])
    skipped_tick = np.delete(np.arange(0, 30.0), 12)
    stall_at_50_ms = np.concatenate([np.arange(0, 3, 0.05), np.arange(3.3, 6, 0.05)])
    for times in (slower_then_faster, skipped_tick, stall_at_50_ms):
        assert not np.isnan(filled_at(times).visible(0, 1000, columns=1000)[1]).any()


def test_extend_keeps_only_newer_samples_and_the_newest_capacity():
    buffer = SeriesBuffer(capacity=5)
    buffer.extend([1.0, 2.0, 3.0], [10.0, 20.0, 30.0])
    buffer.extend([2.0, 3.0, 4.0], [0.0, 0.0, 40.0])  # 2 and 3 again: duplicates, dropped
    for k in range(5, 40):
        buffer.extend([float(k)], [k * 10.0])
    t, v = buffer.view()
    assert list(t) == [35.0, 36.0, 37.0, 38.0, 39.0] and v[-1] == 390.0


def test_history_merged_in_front_of_live_samples():
    buffer = SeriesBuffer(capacity=10)
    buffer.extend([5.0, 6.0], [50.0, 60.0])
    buffer.merge_older(np.array([1.0, 2.0, 5.0]), np.array([10.0, 20.0, 99.0]))  # 5 is held already
    t, v = buffer.view()
    assert list(t) == [1.0, 2.0, 5.0, 6.0] and list(v) == [10.0, 20.0, 50.0, 60.0]
