"""A page of another host's series, read from a Prometheus server (File > Connect to Prometheus).

The same metric widgets as the local pages; their refresh button re-queries and their rate
slider sets how often. Queries run on a small thread pool, never on the GUI thread; errors
(server down, no data) show in the widget and never freeze the window.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import shiboken6
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.measurement import SeriesKey
from desktop_app.prometheus.client import PrometheusClient, PrometheusError
from desktop_app.storage.history import Bucket
from desktop_app.ui.metric_widget import ALL, MetricWidget, WidgetSpec
from desktop_app.ui.pages import LIST_METRICS, overview
from desktop_app.ui.series_buffer import SeriesBuffer

DEFAULT_POLL_MS = 5000
HOSTS_RETRY_MS = 2000
ALL_S = 86_400  # "All" for a remote host: the last day (Prometheus keeps what its retention says)


def remote_specs(keys: list[SeriesKey]) -> list[WidgetSpec]:
    """The Overview's widgets for what a host exports, keeping only the curves it has."""
    present = set(keys)
    component_of = {"cpus": "cpu", "cpucores": "cpucore", "gpus": "gpu", "partitions": "partition",
                    "networks": "network", "activenetworks": "network", "disks": "disk"}
    lists = {m: sorted({k.args for k in keys if k.component == component_of.get(m)}) for m in LIST_METRICS}
    specs = []
    for spec in overview(lists):
        curves = tuple(c for c in spec.curves if c[0] in present)
        if curves:
            specs.append(WidgetSpec(f"remote.{spec.id}", spec.title, curves))
    return specs


class RemotePage(QWidget):
    _answered = Signal(object, object, object)  # widget, key, list of points or an error message
    _listed = Signal(object, object)  # what was asked ("hosts" or a host), the answer or an error

    def __init__(self, client: PrometheusClient, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page:Remote")
        self.client = client
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opserv-remote")
        self._closed = False
        self.widgets: dict[str, MetricWidget] = {}
        self._buffers: dict[str, dict[SeriesKey, SeriesBuffer]] = {}  # per widget: what it was last sent
        self._timers: dict[str, QTimer] = {}
        self._answered.connect(self._on_answered)
        self._listed.connect(self._on_listed)

        self.hosts = QComboBox(objectName="remote-hosts")
        self.hosts.setToolTip("Hosts (Prometheus instance labels) that export OpServ series")
        self.hosts.currentTextChanged.connect(self._on_hosts_changed)
        reload_button = QPushButton("Reload hosts", objectName="remote-reload")
        reload_button.clicked.connect(self.load_hosts)
        self.status = QLabel(objectName="remote-status")
        self.status.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(QLabel(f"Prometheus <b>{client.url}</b>, host:"))
        header.addWidget(self.hosts, 1)
        header.addWidget(reload_button)
        body = QWidget()
        self.grid = QGridLayout(body)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        self.load_hosts()

    # -- hosts and their series ------------------------------------------------------------
    def load_hosts(self) -> None:
        self.status.setText("Asking the server for hosts…")
        self._submit(self._list, "hosts")

    def _list(self, what: str) -> None:
        try:
            answer = self.client.instances() if what == "hosts" else self.client.series(what)
        except PrometheusError as exc:
            answer = str(exc)
        self._listed.emit(what, answer)

    def _on_listed(self, what: str, answer) -> None:
        if isinstance(answer, str):
            self.status.setText(answer)
        elif what == "hosts":
            if not answer:  # a new agent is seen after its first scrape: look again shortly
                self.status.setText("This server has no host that exports OpServ series yet; asking again…")
                QTimer.singleShot(HOSTS_RETRY_MS, self, self.load_hosts)
                return
            self.status.setText("")
            self.hosts.clear()
            self.hosts.addItems(answer)
        elif what == self.hosts.currentText():
            self._build(what, answer)

    def _on_hosts_changed(self, host: str) -> None:
        self._clear()
        if host:
            self._submit(self._list, host)

    def _build(self, host: str, keys: list[SeriesKey]) -> None:
        self._clear()
        for n, spec in enumerate(remote_specs(keys)):
            buffers = self._buffers[spec.id] = {key: SeriesBuffer() for key in spec.keys}
            widget = MetricWidget(spec, buffers, DEFAULT_POLL_MS, 300)
            widget.refresh_requested.connect(lambda w=widget: self.poll(w))
            widget.rate_changed.connect(lambda ms, w=widget: self._set_rate(w, ms))
            widget.window_changed.connect(lambda _s, w=widget: self.poll(w))
            timer = self._timers[spec.id] = QTimer(self, interval=DEFAULT_POLL_MS)
            timer.timeout.connect(lambda w=widget: self.poll(w))
            timer.start()
            self.widgets[spec.id] = widget
            self.grid.addWidget(widget, n // 2, n % 2)
            self.poll(widget)
        if not self.widgets:
            self.status.setText(f"{host} exports no series this window can plot.")

    def _clear(self) -> None:
        for timer in self._timers.values():
            timer.stop()
        for widget in self.widgets.values():
            widget.deleteLater()
        self._timers.clear()
        self.widgets.clear()
        self._buffers.clear()

    # -- polling -------------------------------------------------------------------------
    def _set_rate(self, widget: MetricWidget, delay_ms: int) -> None:
        timer = self._timers[widget.spec.id]
        timer.stop()
        if delay_ms:
            timer.setInterval(delay_ms)
            timer.start()

    def poll(self, widget: MetricWidget) -> None:
        host = self.hosts.currentText()
        end = time.time()
        span = widget.window_s if widget.window_s != ALL else ALL_S
        step = max(1.0, span / max(50, widget.plot.width()))  # about a point per pixel
        for key in widget.spec.keys:
            self._submit(self._fetch, widget, key, host, end - span, end, step)

    def _fetch(self, widget, key: SeriesKey, host: str, start: float, end: float, step: float) -> None:
        try:
            avg = self.client.range(key, host, start, end, step)
            low = self.client.range(key, host, start, end, step, over="min")
            high = self.client.range(key, host, start, end, step, over="max")
        except PrometheusError as exc:
            self._answered.emit(widget, key, str(exc))
            return
        self._answered.emit(widget, key, (avg, low, high, step))

    def _on_answered(self, widget, key: SeriesKey, answer) -> None:
        if not shiboken6.isValid(widget) or widget not in self.widgets.values():
            return  # the host changed while the query ran
        if isinstance(answer, str):
            widget.set_problem(key, answer)
            return
        avg, low, high, step = answer
        if not avg:
            widget.set_problem(key, "no data from Prometheus in this window")
            return
        widget.set_problem(key, "")
        buffer = self._buffers[widget.spec.id][key]
        buffer.clear()
        buffer.extend([t for t, _ in avg], [v for _, v in avg])
        if step > 1.0 and low and high:  # coarse steps hide peaks: draw the min-max band too
            ends = dict(low), dict(high)
            widget.show_history(key, [Bucket(int(t * 1000), ends[0].get(t, v), v, ends[1].get(t, v), 1)
                                      for t, v in avg])
        widget.redraw()

    def _submit(self, fn, *args) -> None:
        if not self._closed:
            self._pool.submit(fn, *args)

    def close_page(self) -> None:
        """Stop polling and wait for queries under way (each is bounded by the client's timeout)."""
        self._closed = True
        self._clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
