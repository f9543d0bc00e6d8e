"""Fast checks of the serving helpers that need no server: field naming, error shapes, ports."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from premarket.protocol import ForecastInput, ModelScopeResponse, ProtocolError
from serving.dialects import (
    ServiceError,
    dialect_of,
    failure,
    field_name,
    from_protocol,
    from_validation,
    parse_json,
    success,
)
from serving.launch import ports_from_env
from serving.samples import forecast_body, price_rows


def test_dialect_follows_the_route():
    assert dialect_of("/predict") == "flat"
    assert dialect_of("/call") == "modelscope"
    assert dialect_of("/api/v1/models/acme/tft") == "modelscope"


def test_field_names_read_like_the_json_path():
    assert field_name(("sequence_data", 3, 2)) == "sequence_data[3][2]"
    assert field_name(("sequence_data", 3), "input") == "input.sequence_data[3]"
    assert field_name((), "input") == "input"


def test_validation_errors_name_the_first_bad_field():
    body = forecast_body()
    body["sequence_data"][4][1] = "abc"
    with pytest.raises(ValidationError) as caught:
        ForecastInput.model_validate(body)
    err = from_validation(caught.value, "input")
    assert (err.status, err.field) == (400, "input.sequence_data[4][1]")
    assert err.error.startswith("input.sequence_data[4][1]: ")


def test_protocol_errors_are_renamed_for_the_flat_dialect():
    exc = ProtocolError("input.text", "is missing")
    assert from_protocol(exc).field == "text"
    assert from_protocol(exc, "input").field == "input.text"
    assert from_protocol(ProtocolError("input", "bad"), "").field == "body"


def test_unreadable_json_is_a_400_on_the_body():
    for raw in (b"", b"  ", b"{oops", b"\xff\xfe"):
        with pytest.raises(ServiceError) as caught:
            parse_json(raw)
        assert (caught.value.status, caught.value.field) == (400, "body")


def test_failure_shapes_per_dialect():
    err = ServiceError(400, "sequence_data", "2 rows", error="Insufficient sequence data",
                       required_minimum=25)  # fmt: skip
    flat = json.loads(failure("flat", err, request_id="r1").body)
    assert flat == {
        "success": False,
        "error": "Insufficient sequence data",
        "model_used": "None",
        "field": "sequence_data",
        "required_minimum": 25,
        "request_id": "r1",
    }
    envelope = ModelScopeResponse.model_validate_json(failure("modelscope", err).body)
    assert (envelope.Code, envelope.Success) == (400, False)
    assert envelope.Data == {"field": "sequence_data", "required_minimum": 25}


def test_answers_never_carry_nan():
    response = success("flat", {"x": float("nan"), "y": [1.0, float("inf")]}, request_id=None,
                       inference_ms=1.5)  # fmt: skip
    assert json.loads(response.body) == {"x": None, "y": [1.0, None]}
    assert response.headers["X-Inference-Time-Ms"] == "1.500"


def test_samples_are_real_rows_oldest_first():
    rows, dates = price_rows("AAPL", 30)
    assert len(rows) == 30 and dates == sorted(dates) and dates[-1] <= "2022-09-20"
    ForecastInput.model_validate(forecast_body("AAPL", 30))


def test_ports_come_from_the_environment():
    assert ports_from_env({}) == {"tft": 3001, "nhits": 3002, "sentiment": 3003}
    assert ports_from_env({"NHITS_PORT": "4002"})["nhits"] == 4002
    with pytest.raises(ValueError, match="TFT_PORT='abc'"):
        ports_from_env({"TFT_PORT": "abc"})


def test_the_api_inference_path_speaks_the_envelope():
    assert dialect_of("/api-inference/v1/models/acme/tft") == "modelscope"
    assert dialect_of("/") == "flat"


def test_the_queue_refuses_beyond_capacity_with_retry_after():
    from serving.runtime import Admission

    queue = Admission(capacity=2)
    with queue.admit(), queue.admit():
        with pytest.raises(ServiceError) as refused, queue.admit():
            pass
        assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "1"
    with queue.admit(2):  # everything was released
        assert queue.in_flight == 2


def test_big_requests_cannot_take_the_room_kept_for_small_ones():
    from serving.runtime import Admission

    queue = Admission(capacity=512, reserve=64)
    with queue.admit(256), queue.admit(192):  # 448: all that big requests may use
        with pytest.raises(ServiceError), queue.admit(65):
            pass
        with queue.admit(1), queue.admit(63):  # a headline probe still gets in
            assert queue.in_flight == 512
        with pytest.raises(ServiceError), queue.admit(65):
            pass


def test_public_errors_carry_no_filesystem_path():
    from serving.runtime import public_error

    exc = FileNotFoundError("no store at /home/ops/bentoml/models/nhits (see C:\\store\\x)")
    assert public_error(exc) == "FileNotFoundError: no store at <path> (see <path>)"


def test_a_non_finite_output_is_a_model_fault():
    from serving.runtime import ModelFault, check_finite

    check_finite([1.0, 2.0], "scores")
    with pytest.raises(ModelFault, match="scores is not finite: the model is faulty"):
        check_finite([1.0, float("nan")], "scores")


def test_answers_echoing_a_lone_surrogate_still_encode():
    response = success("flat", {"id": "x\ud800"}, request_id=None, inference_ms=1.0)
    assert json.loads(response.body) == {"id": "x\ud800"}
