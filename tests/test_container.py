"""The containerized deployment, built and run for real (``make test-container``).

``make image`` builds the CPU image from this session's tiny models; the README's ``podman run``
lines start its three services on free loopback ports; their answers must equal those of the same
services outside the container, and ``premarket analyze`` runs against them. Each container is
stopped by its id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from launching import wait_for
from readme_lines import README_IMAGE, README_PORT, podman_runs

from orchestrator.jobs.kubernetes import kubernetes_cronjobs
from premarket.settings import Settings
from serving.client import post
from serving.image import CUDA_BASE_IMAGE
from serving.launch import ROOT, free_port
from serving.samples import forecast_body, headlines

pytestmark = pytest.mark.container

IMAGE = "localhost/premarket-test:cpu"
VARYING = {"timestamp", "inference_time_ms", "latency_ms"}
READY_S = 600.0
"""Three services starting at once on two cores, compiling their imports (no ``.pyc`` shipped)."""


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy" / "containers.conf")}


def podman(*args: str) -> str:
    done = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def image(tiny_models) -> str:
    """The README's ``make image`` (``-o models``: the tiny models are in the store already)."""
    command = ["make", "--no-print-directory", "-o", "models", f"VENV={sys.prefix}"]
    done = subprocess.run(
        [*command, "image", f"IMAGE={IMAGE}"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return IMAGE


@pytest.fixture(scope="module")
def containers(image) -> Iterator[dict[str, str]]:
    """The README's three ``podman run`` lines on free loopback ports; maps each service to its
    base URL. Every container is stopped and removed by id afterwards."""
    urls: dict[str, str] = {}
    ids: list[str] = []
    try:
        for name, words in podman_runs().items():
            publish = next(w for w in words if README_PORT.fullmatch(w))
            port = free_port()
            words = [f"127.0.0.1:{port}:3000" if w == publish else w for w in words]
            words = [image if w == README_IMAGE else w for w in words]
            ids.append(podman(*words[1:]).strip())
            urls[name] = f"http://127.0.0.1:{port}"

        def all_ready() -> bool:
            for container in ids:  # a container that died fails now, with its log
                state = podman("inspect", "--format", "{{.State.Running}}", container).strip()
                assert state == "true", podman("logs", container)[-3000:]
            try:
                return all(httpx.get(u + "/readyz").status_code == 200 for u in urls.values())
            except httpx.TransportError:
                return False

        wait_for(all_ready, READY_S, "all three services ready in their containers")
        yield urls
    finally:
        for container in ids:
            podman("rm", "--force", "--time", "10", container)


def without_varying(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key not in VARYING}


def test_the_image_is_slim_cpu_and_holds_no_build_settings(image):
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image))
    assert size < 1.5e9, f"{size / 1e9:.2f} GB"
    script = (
        "for c in gcc cc g++ make git; do command -v $c && exit 1; done;"
        " cat /etc/uv/uv.toml; ls -A /opt/wheels 2>/dev/null;"
        " python -c 'import torch; print(torch.__version__, torch.version.cuda)'"
    )
    out = podman("run", "--rm", "--entrypoint", "sh", image, "-c", script)
    assert out.strip() == "2.13.0+cpu None", out


@pytest.mark.parametrize("name", ["tft", "nhits"])
def test_forecasts_equal_the_services_outside_the_container(containers, services, name):
    body = forecast_body()
    inside = post(None, containers[name] + "/predict", json=body, timeout=60).json()
    outside = post(None, services.urls[name] + "/predict", json=body, timeout=60).json()
    assert inside["success"] is True, inside
    assert without_varying(inside) == without_varying(outside)


def test_sentiment_equals_the_service_outside_the_container(containers, services):
    body = {"texts": headlines()[:3]}
    inside = post(None, containers["sentiment"] + "/predict", json=body, timeout=60).json()
    outside = post(None, services.urls["sentiment"] + "/predict", json=body, timeout=60).json()
    assert isinstance(inside, list) and len(inside) == 3, inside
    assert list(map(without_varying, inside)) == list(map(without_varying, outside))


def test_premarket_analyze_against_the_container(containers, tmp_path: Path):
    env = {
        **os.environ,
        "PREMARKET_DATABASE_URL": f"sqlite:///{tmp_path / 'premarket.db'}",
        "PREMARKET_STATE_DIR": str(tmp_path / "state"),
        **{f"PREMARKET_{name.upper()}__URL": url for name, url in containers.items()},
    }
    out = tmp_path / "run.json"
    args = ["analyze", "--offline", "--as-of", "2022-09-20", "--symbols", "MSFT", "AAPL"]
    run = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "premarket"), *args, "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["performance_metrics"]["tier_counts"]["tft"] == 2, doc["errors"]
    news = doc["trading_signals"]["MSFT"]["components"]["sentiment_analysis"]
    assert news["source"] == "model", news


def test_make_image_gpu_generates_the_cuda_dockerfile(tiny_models):
    """``make image-gpu``: its Dockerfile always, the image only where the CUDA base image can
    be had (never here: no registry, no GPU)."""
    command = ["make", "--no-print-directory", "-o", "models", f"VENV={sys.prefix}"]
    done = subprocess.run(
        [*command, "image-gpu", "GPU_IMAGE=localhost/premarket-test:gpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    build = ROOT / "build" / "image" / "gpu"
    dockerfile = (build / "Dockerfile").read_text()
    assert f"FROM {CUDA_BASE_IMAGE} AS base-container" in dockerfile
    assert "build-essential" not in dockerfile and "ENV UV_COMPILE_BYTECODE=0" in dockerfile
    requirements = (build / "context/env/python/requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cu128" in requirements
    assert "torch==2.13.0" in requirements


def test_the_cronjob_command_runs_in_the_image(containers, image):
    """``premarket crontab --kubernetes``'s container (working dir, command, environment) run
    in the image, its ``schedule --once`` swapped for one offline ``analyze`` (the slots depend
    on the clock), reaching the three containers over the host's loopback."""
    manifest = yaml.safe_load_all(kubernetes_cronjobs(Settings(), image=image))
    container = next(manifest)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    assert container["command"][-2:] == ["schedule", "--once"]
    env = {item["name"]: item["value"] for item in container["env"]}
    env.update({"PREMARKET_DATABASE_URL": "sqlite:////tmp/p.db", "PREMARKET_STATE_DIR": "/tmp/s"})
    env.update({f"PREMARKET_{name.upper()}__URL": url for name, url in containers.items()})
    options = [f"--env={name}={value}" for name, value in env.items()]
    command = [*container["command"][:-2], "analyze", "--offline", "--as-of", "2022-09-20"]
    out = podman(
        "run", "--rm", "--network", "host", "--workdir", container["workingDir"], *options,
        image, *command, "--symbols", "MSFT",
    )  # fmt: skip
    assert "MSFT" in out and "TFT" in out, out
