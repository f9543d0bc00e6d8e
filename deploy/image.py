"""Build the Bento's container image with podman: ``python deploy/image.py cpu|gpu --tag NAME``
(``make image``, ``make image-gpu``).

Steps: the CPU base image when it is missing (``deploy/base-image.sh``); ``bentoml build`` with
``PREMARKET_IMAGE`` naming the variant (``serving/image.py``) from the models in the current
``BENTOML_HOME``; ``bentoml export`` of that Bento, unpacked (building from the store's Bento
folder leaves the models out of the image); ``podman build`` of its generated Dockerfile. The
GPU image is only built where its CUDA base image is present or can be pulled; its Dockerfile is
generated either way.

The builder's own package settings reach the build, and only the build: where the host's pip
finds wheels and indexes (``find-links``, ``index-url``, ``extra-index-url``) becomes a uv
configuration mounted at ``/etc/uv/uv.toml``, local folders among them are mounted read-only,
and the CA bundle pip trusts (``cert``, e.g. a proxy's CA) is mounted over the image's own
bundle for the package steps. None of them is copied into a layer.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "image"
CONTAINERS_CONF = ROOT / "deploy" / "containers.conf"
UV_SPEC = "uv==0.13.9"
SITE_PACKAGES = "/app/.venv/lib/python3.11/site-packages"
TRIMMED = ("torch/test", "torch/include", "torch/bin/test_*", "torch/bin/*Test")
"""torch's C++ test programs and headers (180 MB): nothing the services run uses them."""
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""Debian's and Ubuntu's bundle, which uv reads with ``system-certs``."""
PIP_SCOPES = (":env:", "site", "user", "global")
"""pip's configuration scopes, the one that wins first."""


def podman_env() -> dict[str, str]:
    """The environment for podman: the project's ``containers.conf`` unless one is set."""
    return {"CONTAINERS_CONF": str(CONTAINERS_CONF), **os.environ}


def run(*command: str | Path, env: dict[str, str] | None = None) -> str:
    print("+", " ".join(map(str, command)), file=sys.stderr, flush=True)
    done = subprocess.run(
        [str(part) for part in command], env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return done.stdout


def pip_settings() -> dict[str, str]:
    """The host pip's effective settings (``pip config list``: files and ``PIP_*``)."""
    listing = run(sys.executable, "-m", "pip", "config", "list")
    found: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        name, _, value = line.partition("=")
        scope, _, key = name.rpartition(".")
        rank = PIP_SCOPES.index(scope) if scope in PIP_SCOPES else len(PIP_SCOPES)
        if key not in found or rank < found[key][0]:
            found[key] = (rank, ast.literal_eval(value))
    return {key: value for key, (_, value) in found.items()}


def local_folder(key: str, location: str) -> Path | None:
    """The folder to mount for a ``find-links`` or index location on this host: an index's
    parent too, where its pages link to files (``simple/`` next to ``files/``)."""
    path = urlparse(location).path if location.startswith("file:") else location
    if not path.startswith("/") or not Path(path).exists():
        return None
    return Path(path).parent if key.endswith("index-url") else Path(path)


def package_settings(build: Path) -> list[str]:
    """``podman build`` options giving the package steps the host's package settings."""
    settings = pip_settings()
    # no-cache: uv's cache would stay in the install layer, hard-linked to the virtualenv.
    lines = ['index-strategy = "unsafe-best-match"', "system-certs = true", "no-cache = true"]
    mounts: list[Path] = []
    for key in ("index-url", "extra-index-url", "find-links"):
        locations = settings.get(key, "").split()
        if not locations:
            continue
        quoted = ", ".join(f'"{location}"' for location in locations)
        lines.append(f"{key} = {quoted}" if key == "index-url" else f"{key} = [{quoted}]")
        mounts += [path for location in locations if (path := local_folder(key, location))]
    uv_toml = build / "uv.toml"
    uv_toml.write_text("\n".join(lines) + "\n")
    volumes = [f"{uv_toml}:/etc/uv/uv.toml:ro"] + [f"{path}:{path}:ro" for path in mounts]
    if cert := settings.get("cert"):
        volumes.append(f"{cert}:{IMAGE_CA_BUNDLE}:ro")
    return [option for volume in volumes for option in ("--volume", volume)]


def bento_context(variant: str, build: Path) -> Path:
    """``bentoml build`` for ``variant``, exported and unpacked: the image's build context."""
    env = {**os.environ, "PREMARKET_IMAGE": variant, "BENTOML_DO_NOT_TRACK": "True"}
    bentoml = [sys.executable, "-m", "bentoml"]
    out = run(*bentoml, "build", ROOT, "--output", "tag", env=env)
    tag = out.strip().splitlines()[-1].removeprefix("__tag__:")
    archive = build / "bento.tar"
    run(*bentoml, "export", tag, archive, env=env)
    context = build / "context"
    shutil.rmtree(context, ignore_errors=True)
    with tarfile.open(archive) as bento:
        bento.extractall(context, filter="data")
    archive.unlink()
    return context


def slim(dockerfile: str) -> str:
    """BentoML's generated Dockerfile, two lines changed for a smaller image: no bytecode
    compiled at install (384 MB of ``.pyc``; Python writes what it imports at run time), and
    the install step deletes ``TRIMMED`` in its own layer (a later step could not shrink it)."""
    compile_line = "ENV UV_COMPILE_BYTECODE=1\n"
    install_end = "pip install -r $BENTO_PATH/env/python/requirements.txt\n"
    for line in (compile_line, install_end):
        if dockerfile.count(line) != 1:
            raise SystemExit(f"the generated Dockerfile changed: no single {line.strip()!r}")
    trim = " ".join(f"{SITE_PACKAGES}/{path}" for path in TRIMMED)
    return dockerfile.replace(compile_line, "ENV UV_COMPILE_BYTECODE=0\n").replace(
        install_end, f"{install_end.strip()} && rm -rf {trim}\n"
    )


def have_image(name: str, env: dict[str, str], pull: bool) -> bool:
    exists = subprocess.run(["podman", "image", "exists", name], env=env).returncode == 0
    if exists or not pull:
        return exists
    return subprocess.run(["podman", "pull", "-q", name], env=env).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", choices=("cpu", "gpu"))
    parser.add_argument("--tag", help="the image's name (default premarket:VARIANT)")
    args = parser.parse_args(argv)
    tag = args.tag or f"premarket:{args.variant}"
    sys.path.insert(0, str(ROOT))
    from serving.image import CPU_BASE_IMAGE, CUDA_BASE_IMAGE

    env = podman_env()
    build = BUILD / args.variant
    build.mkdir(parents=True, exist_ok=True)
    if args.variant == "cpu" and not have_image(CPU_BASE_IMAGE, env, pull=False):
        run(ROOT / "deploy" / "base-image.sh", CPU_BASE_IMAGE, sys.executable, UV_SPEC, env=env)
    context = bento_context(args.variant, build)
    dockerfile = build / "Dockerfile"
    dockerfile.write_text(slim((context / "env" / "docker" / "Dockerfile").read_text()))
    if args.variant == "gpu" and not have_image(CUDA_BASE_IMAGE, env, pull=True):
        print(f"{CUDA_BASE_IMAGE} cannot be had here: {dockerfile} generated, not built")
        return 0
    options = package_settings(build)
    run("podman", "build", "--network", "host", *options, "-f", dockerfile, "-t", tag, context,
        env=env)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
