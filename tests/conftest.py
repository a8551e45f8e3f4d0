"""Shared fixtures: offscreen Qt, a clean public API state per test, a temporary history."""
from __future__ import annotations

import os
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from desktop_app import data_manager, queue_manager  # noqa: E402


@pytest.fixture(autouse=True)
def clean_api_state():
    """Each test starts with empty data_manager and queue_manager state."""
    data_manager.store.clear()
    queue_manager.hub.clear()
    yield
    data_manager.store.clear()
    queue_manager.hub.clear()


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Fail a test that leaves a gatherer or history thread running."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()
                and t.name.startswith("opserv-")]
    for t in leftover:
        t.join(2)
    still = [t.name for t in leftover if t.is_alive()]
    assert not still, f"test left threads running: {still}"


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "history.sqlite3"
