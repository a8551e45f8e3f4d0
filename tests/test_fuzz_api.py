"""Hypothesis over the public API: every call works or raises a clear ValueError/TypeError, and
state stays consistent (a rejected call changes nothing)."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_app import catalog, data_manager, queue_manager

COMPONENTS = list(catalog.COMPONENTS)
METRICS = sorted({m for _, m in catalog.METRICS})

names = st.one_of(st.sampled_from(COMPONENTS + METRICS), st.text(max_size=12), st.none(), st.integers(), st.floats())
args_values = st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 5), st.floats(allow_nan=True), st.booleans(),
                        st.lists(st.integers(), max_size=2))
values = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                   st.lists(st.text(max_size=3), max_size=3), st.none(), st.booleans(),
                   st.dictionaries(st.text(), st.integers()))
timestamps = st.one_of(st.integers(-10, 2**63), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                       st.none(), st.booleans())
measurements = st.one_of(
    st.fixed_dictionaries({"timestamp": timestamps, "value": values}),
    st.dictionaries(st.sampled_from(["timestamp", "value", "other"]), values, max_size=3),
    values,
)
delays = st.one_of(st.integers(-10, 10**7), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                   st.none(), st.booleans())

fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def clear_error(exc: Exception) -> None:
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__} escaped: {exc}"
    assert len(str(exc)) > 15, f"unhelpful message: {exc!r}"


@fuzz
@given(component=names, metric=names, args=args_values, measurement=measurements)
def test_put_then_read_round_trips_or_rejects_cleanly(component, metric, args, measurement):
    queue_manager.hub.clear()
    try:
        queue_manager.putMeasurementIntoQueue(component, metric, measurement, args)
    except Exception as exc:
        clear_error(exc)
        try:
            assert queue_manager.readMeasurementFromQueue(component, metric, args) is None  # nothing half-put
        except Exception as exc2:
            clear_error(exc2)
        return
    got = queue_manager.readMeasurementFromQueue(component, metric, args)
    assert got["timestamp"] == int(measurement["timestamp"]) and isinstance(got["timestamp"], int)
    assert got["value"] == measurement["value"] or (isinstance(got["value"], float) and math.isnan(got["value"]))
    assert queue_manager.readMeasurementFromQueue(component, metric, args) is None


@fuzz
@given(component=names, metric=names, args=args_values, measurement=measurements)
def test_set_then_get_or_reject_keeps_the_last_good_value(component, metric, args, measurement):
    data_manager.store.clear()
    good = {"timestamp": 1, "value": 1.0}
    data_manager.setMeasurement("memory", "usage", good)
    try:
        data_manager.setMeasurement(component, metric, measurement, args)
    except Exception as exc:
        clear_error(exc)
        assert data_manager.getMeasurement("memory", "usage") == good
        return
    assert data_manager.getMeasurement(component, metric, args)["timestamp"] == int(measurement["timestamp"])


@fuzz
@given(component=names, metric=names, args=args_values, delay=delays)
def test_rates_and_requests_work_or_reject_without_queueing_anything(component, metric, args, delay):
    queue_manager.hub.clear()
    for call in (lambda: queue_manager.setGatheringRate(component, metric, delay, args),
                 lambda: queue_manager.requestData(component, metric, args)):
        try:
            call()
        except Exception as exc:
            clear_error(exc)
    # Only validated messages reach the gatherer: each has a real series and a sane delay.
    while not queue_manager.hub.control.empty():
        message = queue_manager.hub.control.get_nowait()
        assert (message.key.component, message.key.metric) in catalog.METRICS
        delay_ms = getattr(message, "delay_ms", 0)
        assert delay_ms == 0 or delay_ms >= queue_manager.MIN_RATE_MS
