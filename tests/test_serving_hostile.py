"""Requests meant to break the three real services (the session ``services``): poison items in a
batch, lone surrogates, bursts of 300 clients, absurd magnitudes, wrong methods, the original
callers' other paths, batch-route limits. Nothing here may get a 500 or drop a connection.

Services with a broken model, a token or short read timeouts run as their own ``bentoml serve``
processes in ``test_serving_guarded.py``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import httpx
import pytest

from premarket.protocol import MAX_TEXTS
from serving.client import post
from serving.samples import forecast_body, headlines

pytestmark = pytest.mark.slow

ALL = ("tft", "nhits", "sentiment")
FORECASTERS = ("tft", "nhits")
JSON = {"Content-Type": "application/json"}


def body_of(name: str) -> dict:
    """A valid flat body of the service ``name``."""
    return {"text": headlines()[0]} if name == "sentiment" else forecast_body("AAPL", 30)


async def _burst(url: str, requests: list[tuple[str, bytes]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        calls = (client.post(path, content=body, headers=JSON) for path, body in requests)
        return await asyncio.gather(*calls)


def burst(url: str, requests: list[tuple[str, bytes]]) -> list[httpx.Response]:
    """All ``(path, body)`` requests at once, each on its own connection."""
    return asyncio.run(_burst(url, requests))


# -- 1. one bad item never fails its batch-mates ---------------------------------------------


def test_a_poison_item_fails_alone_while_its_batch_mates_succeed(services):
    poison = forecast_body("AAPL", 30)
    poison["dates"] = [f"99{70 + i:02d}-12-31" for i in range(30)]  # up to 9999-12-31
    valid = [json.dumps(forecast_body(s, 30)).encode() for s in ("AAPL", "MSFT", "JPM", "XOM")]
    requests = [("/predict", valid[i % 4]) for i in range(60)]
    requests[30:30] = [("/predict", json.dumps(poison).encode())] * 4
    answers = burst(services.urls["tft"], requests)
    refused = [r for r in answers if r.status_code != 200]
    assert len(refused) == 4, [r.text for r in refused]
    for response in refused:
        assert response.status_code == 400
        assert response.json()["field"] == "dates"
        assert "outside 1900-01-01..2200-12-31" in response.json()["error"]


def test_an_item_the_model_cannot_take_fails_alone_in_the_forward_pass(tiny_models):
    """Past validation, an item that still breaks the TFT's forward pass is forecast alone
    and answered 500 (a model fault the client's breaker counts, not a 4xx blaming the
    caller); its batch-mates get their forecasts."""
    from models import store
    from models.tft.predictor import TFTPredictor
    from serving.tft_service import BatchItem, _forecast_group

    model = TFTPredictor.load(store.path_of(tiny_models["tft"]))
    good = [BatchItem.model_validate(forecast_body(s, 30)) for s in ("AAPL", "MSFT")]
    poison = BatchItem.model_validate(forecast_body("JPM", 30))
    poison.dates = _dates_up_to(date(9999, 12, 31), 30)  # unvalidated: no date after it
    items = [good[0], poison, good[1]]
    outcomes = _forecast_group(model, items, [0, 1, 2], importance=False)
    assert [o.status for o in outcomes] == [200, 500, 200]
    assert outcomes[1].field == "model" and outcomes[1].forecast is None
    alone = _forecast_group(model, good, [0, 1], importance=False)
    for mate, single in zip((outcomes[0], outcomes[2]), alone, strict=True):
        assert mate.forecast.forecast_path == pytest.approx(single.forecast.forecast_path)


def _dates_up_to(last: date, count: int) -> list[date]:
    return [last - timedelta(days=count - 1 - i) for i in range(count)]


# -- 2. lone surrogates: 400, and the connection keeps working -------------------------------


SURROGATE = "\ud800"
SURROGATE_CASES = {
    "tft": [("/predict", {**forecast_body(), "request_id": SURROGATE}, "request_id")],
    "nhits": [("/call", {"input": {**forecast_body(), "timestamp": "x" + SURROGATE}},
               "input.timestamp")],
    "sentiment": [
        ("/call", {"input": {"text": "x" + SURROGATE}}, "input.texts"),
        ("/predict", {"texts": ["fine", SURROGATE + "x"]}, "texts"),
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", ALL)
def test_lone_surrogates_are_a_400_and_the_connection_survives(services, name):
    with httpx.Client(base_url=services.urls[name], timeout=60) as client:
        for path, body, field in SURROGATE_CASES[name]:
            raw = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as \ud800
            assert b"\\ud800" in raw
            response = client.post(path, content=raw, headers=JSON)
            assert response.status_code == 400, response.text
            answer = response.json()
            named = answer["field"] if path == "/predict" else answer["Data"]["field"]
            assert named == field
            assert "unicode" in (answer.get("error") or answer["Message"]).lower()
            # The same keep-alive connection answers the next request.
            assert client.post("/predict", json=body_of(name)).status_code == 200


def test_a_surrogate_on_the_batch_route_is_a_400(services):
    url = services.urls["sentiment"]
    response = post(None, url + "/classify_batch", content=b'{"texts": ["a\\ud800"]}', headers=JSON)
    assert response.status_code == 400, response.text


# -- 3. 300 concurrent clients: 503 with Retry-After, never 500 ------------------------------


@pytest.mark.parametrize("name", ALL)
def test_a_burst_of_300_clients_gets_answers_or_503s_never_500(services, name):
    body = json.dumps(body_of(name)).encode()
    answers = burst(services.urls[name], [("/predict", body)] * 300)
    statuses = {r.status_code for r in answers}
    assert statuses <= {200, 503}, [r.text for r in answers if r.status_code not in (200, 503)]
    for response in answers:
        if response.status_code == 503:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["field"] == "model"
    assert (
        post(None, services.urls[name] + "/predict", content=body, headers=JSON).status_code == 200
    )


# -- 6. absurd magnitudes: a 400 naming the row ----------------------------------------------


def _with_row(row: int, values: list[float]) -> dict:
    body = forecast_body("AAPL", 30)
    body["sequence_data"][row] = values
    return body


ABSURD = {
    "a close of 1e300": (_with_row(12, [156.0, 158.0, 155.0, 1e300, 1e6]), "row 12"),
    "prices of 1e-300": (_with_row(3, [1e-300, 1e-300, 1e-300, 1e-300, 1e6]), "row 3"),
    "a 50-fold jump": (_with_row(20, [7000.0, 7100.0, 6900.0, 7000.0, 1e6]), "row 20"),
    "a volume of 1e300": (_with_row(5, [156.0, 158.0, 155.0, 157.0, 1e300]), "row 5"),
}


@pytest.mark.parametrize("case", ABSURD)
@pytest.mark.parametrize("name", FORECASTERS)
def test_absurd_magnitudes_are_refused_naming_the_row(services, name, case):
    body, row = ABSURD[case]
    flat = post(None, services.urls[name] + "/predict", json=body)
    assert flat.status_code == 400, flat.text
    assert flat.json()["field"] == "sequence_data"
    assert flat.json()["error"].startswith(f"sequence_data: {row}: ")
    envelope = post(None, services.urls[name] + "/call", json={"input": body}).json()
    assert envelope["Data"]["field"] == "input.sequence_data"
    assert f"{row}:" in envelope["Message"]


# -- 8. the batch routes keep the request limits ---------------------------------------------


def test_the_batch_routes_refuse_empty_and_oversize_batches(services):
    url = services.urls["sentiment"]
    for texts in ([], ["headline"] * (MAX_TEXTS + 1)):
        response = post(None, url + "/classify_batch", json={"texts": texts}, timeout=60)
        assert response.status_code == 400, (len(texts), response.text)
    assert post(None, url + "/classify_batch", json={"texts": ["Shares rise"]}).status_code == 200
    item = forecast_body("AAPL", 30)
    for items in ([], [item] * 65):
        response = post(None, services.urls["tft"] + "/forecast_batch", json={"items": items})
        assert response.status_code == 400, (len(items), response.text)


# -- 9. wrong methods and paths in the caller's dialect; fields named as sent ---------------


@pytest.mark.parametrize("name", ALL)
def test_a_wrong_method_is_a_json_405_in_the_callers_dialect(services, name):
    url = services.urls[name]
    flat = httpx.get(url + "/predict")
    assert flat.status_code == 405
    assert flat.json()["success"] is False and flat.json()["field"] == "method"
    assert "POST" in flat.headers["Allow"]
    for path in ("/call", "/api/v1/models/acme/x", "/api-inference/v1/models/acme/x"):
        envelope = httpx.put(url + path, content=b"{}", headers=JSON)
        assert envelope.status_code == 405
        assert envelope.json()["Code"] == 405 and envelope.json()["Data"]["field"] == "method"


@pytest.mark.parametrize("name", FORECASTERS)
def test_envelope_errors_name_fields_inside_input(services, name):
    body = {**forecast_body("AAPL", 30), "sequence_data": forecast_body()["sequence_data"][:1]}
    answer = post(None, services.urls[name] + "/call", json={"input": body}).json()
    assert answer["Message"] == "Insufficient sequence data"
    assert answer["Data"]["field"] == "input.sequence_data"


# -- 13. the original callers' other paths ---------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_the_original_paths_are_served(services, name):
    url = services.urls[name]
    at_root = post(None, url + "/", json=body_of(name))  # the model URL itself, flat
    assert at_root.status_code == 200, at_root.text
    predicted = post(None, url + "/predict", json=body_of(name)).json()
    assert set(at_root.json()) == set(predicted)
    if name != "sentiment":
        assert at_root.json()["forecast_path"] == predicted["forecast_path"]
    envelope = post(
        None, url + "/api-inference/v1/models/premarket/x", json={"input": body_of(name)}
    )
    assert envelope.status_code == 200 and envelope.json()["Success"] is True
    health = httpx.get(url + "/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["model"]["state"] == "ready"
