"""The container images of the Bento: a CUDA image (the default) and a CPU image
(``PREMARKET_IMAGE=cpu bentoml build``; ``make image`` and ``make image-gpu`` build both).

BentoML 1.4 "v2" builds ignore ``docker.cuda_version`` in ``bentofile.yaml``, so the images are
set here and every service uses the one chosen at build time. ``distro`` names no distribution
BentoML knows, so its generated Dockerfile skips its default step that installs build-essential
and git (639 MB of compilers the services never use). The Python packages are
``bentofile.yaml``'s plus the torch build of each image:

- gpu: ``nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04``, which has no Python: pip installs uv,
  uv fetches Python 3.11 into ``/app/python``, torch comes from the PyTorch cu128 index (the CUDA
  build the Makefile's ``TORCH_SPEC`` installs on a GPU host). torch bundles its CUDA libraries,
  so the host needs only an NVIDIA driver >= 570.
- cpu: ``localhost/premarket-base:bookworm`` (``deploy/base-image.sh``: Debian 12 with its
  Python 3.11 and uv) and the CPU build of torch, where the builder's package settings find it.

TFT and sentiment pick ``cuda`` when ``torch.cuda.is_available()``; N-HITS is numpy-only.
"""

from __future__ import annotations

import os

import bentoml

CUDA_BASE_IMAGE = "docker.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04"
CPU_BASE_IMAGE = "localhost/premarket-base:bookworm"
TORCH = "torch==2.13.0"
NO_DEFAULT_PACKAGES = "none"
"""A ``distro`` outside BentoML's list: no build-essential step (see the module docstring)."""


def gpu_image() -> bentoml.images.Image:
    return (
        bentoml.images.Image(
            base_image=CUDA_BASE_IMAGE, distro=NO_DEFAULT_PACKAGES, python_version="3.11"
        )
        .run(
            "apt-get update -q && apt-get install -q -y --no-install-recommends python3-pip"
            " && pip3 install --no-cache-dir --break-system-packages uv"
            " && rm -rf /var/lib/apt/lists/*"
        )
        .python_packages("--extra-index-url https://download.pytorch.org/whl/cu128", TORCH)
    )


def cpu_image() -> bentoml.images.Image:
    # +cpu: a build that cannot find the CPU wheel fails instead of taking PyPI's CUDA one.
    return bentoml.images.Image(
        base_image=CPU_BASE_IMAGE, distro=NO_DEFAULT_PACKAGES, python_version="3.11"
    ).python_packages(f"{TORCH}+cpu")


IMAGES = {"gpu": gpu_image, "cpu": cpu_image}


def service_image() -> bentoml.images.Image:
    """The image named by ``PREMARKET_IMAGE`` (``gpu`` when unset) at ``bentoml build``."""
    variant = os.environ.get("PREMARKET_IMAGE", "gpu")
    if variant not in IMAGES:
        raise ValueError(f"PREMARKET_IMAGE={variant!r}: expected one of {', '.join(IMAGES)}")
    return IMAGES[variant]()


SERVICE_IMAGE = service_image()
