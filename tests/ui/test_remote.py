"""Another host's plots from a real Prometheus server, in the same metric widgets."""
from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_app.prometheus.client import PrometheusClient
from desktop_app.ui.remote_page import RemotePage
from tests.conftest import free_port
from tests.ui.conftest import points


def test_a_remote_host_is_offered_and_its_series_plotted(qtbot, prometheus, agent):
    page = RemotePage(prometheus)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    try:
        qtbot.waitUntil(lambda: page.hosts.findText(agent.address) >= 0, timeout=30_000)
        page.hosts.setCurrentText(agent.address)
        qtbot.waitUntil(lambda: "remote.overview.memory" in page.widgets, timeout=30_000)
        memory = page.widgets["remote.overview.memory"]
        qtbot.waitUntil(lambda: points(memory) > 0, timeout=30_000)
        assert "%" in memory.value.text()
        before = points(memory)
        qtbot.mouseClick(memory.refresh_button, Qt.MouseButton.LeftButton)  # re-queries at once
        qtbot.waitUntil(lambda: points(memory) > before, timeout=30_000)
    finally:
        page.close_page()


def test_a_server_that_is_down_says_so_in_the_page(qtbot):
    page = RemotePage(PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout=2))
    qtbot.addWidget(page)
    page.show()
    try:
        qtbot.waitUntil(lambda: "cannot reach Prometheus" in page.status.text(), timeout=10_000)
        assert page.hosts.count() == 0
    finally:
        page.close_page()
