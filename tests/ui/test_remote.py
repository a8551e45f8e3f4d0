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


def test_file_connect_shows_a_remote_page_beside_the_local_ones(qtbot, open_window, prometheus_of_process,
                                                                agent_process):
    window = open_window()
    page = window.connect_prometheus(prometheus_of_process.url)
    assert window.sidebar.currentItem().text() == "Remote" and window.stack.currentWidget() is page
    qtbot.waitUntil(lambda: page.hosts.findText(agent_process) >= 0, timeout=30_000)
    page.hosts.setCurrentText(agent_process)
    qtbot.waitUntil(lambda: "remote.overview.memory" in page.widgets, timeout=30_000)
    qtbot.waitUntil(lambda: points(page.widgets["remote.overview.memory"]) > 0, timeout=30_000)
    window.sidebar.setCurrentRow(0)  # the local host keeps working as before
    assert window.stack.currentWidget() is window.pages["Overview"]


def test_preferences_serve_metrics_from_the_window(qtbot, open_window):
    import urllib.request

    window = open_window()
    dialog = window.open_preferences()
    dialog.serve_metrics.setChecked(True)
    dialog.metrics_listen.setText(f"127.0.0.1:{free_port()}")
    dialog.accept()
    assert window.metrics_server is not None
    url = f"http://{window.metrics_server.address}/metrics"
    qtbot.waitUntil(lambda: b"opserv_memory_usage_percent" in urllib.request.urlopen(url, timeout=2).read(),
                    timeout=10_000)
