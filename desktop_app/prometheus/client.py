"""The viewer side: other hosts' series from a Prometheus server's HTTP API (stdlib urllib).

Hosts are Prometheus `instance` labels; a host's series are the opserv_* metrics it exports,
mapped back to our SeriesKeys through the catalog.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from desktop_app.measurement import SeriesKey
from desktop_app.prometheus import PROM_METRICS, PromMetric

_BY_NAME = {pm.name: pm for pm in PROM_METRICS.values()}
OURS = '{__name__=~"opserv_.+"}'


class PrometheusError(Exception):
    """The server could not be asked, or said no; the message is for the user."""


def quote_label(value: str) -> str:
    """A PromQL string literal: label values are data, never query text."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class PrometheusClient:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        parsed = urllib.parse.urlsplit(url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"{url!r} is not a Prometheus server URL; expected e.g. http://localhost:9090")
        self.url = url.strip().rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                detail = json.load(exc).get("error", exc.reason)
            except ValueError:
                detail = exc.reason
            raise PrometheusError(f"Prometheus at {self.url} refused the query: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        except ValueError:
            raise PrometheusError(f"{self.url} did not answer like a Prometheus server") from None
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus at {self.url}: {body.get('error', 'query failed')}")
        return body["data"]

    def instances(self) -> list[str]:
        """The hosts that export OpServ series to this server."""
        return sorted(self._get("/api/v1/label/instance/values", **{"match[]": OURS}))

    def series(self, instance: str) -> list[SeriesKey]:
        """The series one host exports, as our keys."""
        match = f'{{__name__=~"opserv_.+",instance={quote_label(instance)}}}'
        found = self._get("/api/v1/series", **{"match[]": match})
        keys = {pm.series_key(labels) for labels in found if (pm := _BY_NAME.get(labels["__name__"]))}
        return sorted(keys, key=str)

    def _selector(self, key: SeriesKey, instance: str) -> tuple[PromMetric, str]:
        pm = PROM_METRICS.get((key.component, key.metric))
        if pm is None:
            raise ValueError(f"{key} is not a numeric series Prometheus can hold")
        labels = [f"instance={quote_label(instance)}"]
        if pm.label:
            labels.append(f"{pm.label}={quote_label(key.args or '')}")
        return pm, f"{pm.name}{{{','.join(labels)}}}"

    def range(self, key: SeriesKey, instance: str, start: float, end: float, step: float,
              over: str | None = None) -> list[tuple[float, float]]:
        """(epoch seconds, value in our units) every `step` s; `over` "min"/"max" gives the band."""
        pm, selector = self._selector(key, instance)
        query = f"{over}_over_time({selector}[{max(1, round(step))}s])" if over else selector
        result = self._get("/api/v1/query_range", query=query, start=start, end=end, step=max(step, 0.001))
        if not result["result"]:
            return []
        return [(float(t), float(v) / pm.scale) for t, v in result["result"][0]["values"]]
