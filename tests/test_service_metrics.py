"""Each service keeps its own metrics (issue 16, finding 10).

With one shared BentoML home, the three servers shared one Prometheus folder: every
``/metrics`` summed all three services, and a server starting up emptied the folder, deleting
the counters of the two that kept running. Each server now has a home of its own.
"""

from __future__ import annotations

import re

import httpx

from serving.process import SERVICES


def service_names(url: str) -> set[str]:
    return set(re.findall(r'service_name="([^"]+)"', httpx.get(url + "/metrics").text))


def describe_count(url: str) -> float:
    """How many ``GET /describe`` answered 200, from the service's ``/metrics``."""
    pattern = r'bentoml_service_request_total\{[^}]*endpoint="/describe"[^}]*"200"[^}]*\} (\S+)'
    text = httpx.get(url + "/metrics").text
    return sum(float(value) for value in re.findall(pattern, text))


def test_each_service_reports_only_its_own_metrics(services):
    for name, url in services.urls.items():
        assert httpx.get(url + "/describe").status_code == 200
        assert service_names(url) == {f"premarket_{name}"}, name
    assert set(services.urls) == set(SERVICES)


def test_restarting_one_service_keeps_the_counters_of_the_others(services):
    tft = services.urls["tft"]
    for _ in range(3):
        assert httpx.get(tft + "/describe").status_code == 200
    before = describe_count(tft)
    assert before >= 3
    with services.stopped("nhits"):
        pass  # back up and ready: its server started afresh beside the running TFT
    assert describe_count(tft) >= before
    assert service_names(services.urls["nhits"]) == {"premarket_nhits"}
