"""The services' own variables (issue 27.10): ``PREMARKET_SERVICE_*``, the old names kept with
a deprecation line, a misspelled one refused by a real service at start."""

from __future__ import annotations

import logging
import os

import pytest

from premarket import service_env
from premarket.settings import unknown_variables
from serving.launch import ServiceFailed, ServiceProcess, free_port


def test_the_new_name_wins_and_the_old_one_still_works_once_deprecated(caplog) -> None:
    service_env._warned.clear()
    both = {"PREMARKET_SERVICE_TFT_TAG": "tft:new", "PREMARKET_TFT_TAG": "tft:old"}
    assert service_env.read("TFT_TAG", environ=both) == "tft:new"
    old = {"PREMARKET_TFT_TAG": "tft:old"}
    with caplog.at_level(logging.WARNING, logger="premarket.service_env"):
        assert service_env.read("TFT_TAG", environ=old) == "tft:old"
        assert service_env.read("TFT_TAG", environ=old) == "tft:old"
    deprecations = [r.getMessage() for r in caplog.records]
    assert deprecations == [
        "PREMARKET_TFT_TAG is deprecated: set PREMARKET_SERVICE_TFT_TAG instead"
    ]
    assert service_env.read("TFT_TAG", "tft", environ={}) == "tft"


def test_a_misspelled_service_variable_is_named_with_the_likely_one() -> None:
    service_env.check({"PREMARKET_SERVICE_TORCH_THREADS": "2", "PREMARKET_TFT_TAG": "x"})
    with pytest.raises(service_env.UnknownServiceVariable) as refused:
        service_env.check({"PREMARKET_SERVICE_TORCH_THREDS": "2"})
    assert "PREMARKET_SERVICE_TORCH_THREDS (did you mean PREMARKET_SERVICE_TORCH_THREADS?)" in str(
        refused.value
    )
    with pytest.raises(KeyError):
        service_env.name("TORCH_THREDS")


def test_the_orchestrator_knows_the_services_variables_old_and_new() -> None:
    env = {"PREMARKET_SERVICE_SENTIMENT_INT8": "auto", "PREMARKET_SENTIMENT_INT8": "auto"}
    assert unknown_variables(env) == []
    assert unknown_variables({"PREMARKET_SENTIMENT_INT9": "auto"}) == ["PREMARKET_SENTIMENT_INT9"]


def test_a_real_service_refuses_to_start_on_a_misspelled_variable(tiny_models, tmp_path) -> None:
    env = {**os.environ, "PREMARKET_SERVICE_TORCH_THREDS": "1"}
    proc = ServiceProcess("nhits", free_port(), env=env, log_dir=tmp_path)
    proc.start()
    try:
        with pytest.raises(ServiceFailed) as failed:
            proc.wait_ready(timeout=180)
    finally:
        proc.stop()
    assert "exited with status" in str(failed.value)
    assert "did you mean PREMARKET_SERVICE_TORCH_THREADS?" in str(failed.value)
