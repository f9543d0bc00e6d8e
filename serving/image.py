"""The container image of the Bento (``bentoml containerize``): CUDA 12.8 runtime with cuDNN.

BentoML 1.4 "v2" builds ignore ``docker.cuda_version`` in ``bentofile.yaml``; a CUDA base image
is set here instead and every service uses it. The base image has no Python: BentoML's generated
Dockerfile installs ``uv`` with pip and then lets uv fetch Python 3.11 into ``/app/.venv``. The
Python packages come from ``bentofile.yaml``, with torch from the PyTorch cu128 index (the same
CUDA build the Makefile's ``TORCH_SPEC`` installs on a GPU host). torch bundles its CUDA
libraries, so only an NVIDIA driver >= 570 is needed on the host (``docker run --gpus all``).
TFT and sentiment pick ``cuda`` when ``torch.cuda.is_available()``; N-HITS is numpy-only.
"""

from __future__ import annotations

import bentoml

CUDA_BASE_IMAGE = "nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04"

GPU_IMAGE = bentoml.images.Image(base_image=CUDA_BASE_IMAGE, python_version="3.11").run(
    "apt-get install -q -y --no-install-recommends python3-pip"
    " && pip3 install --no-cache-dir --break-system-packages uv"
)
