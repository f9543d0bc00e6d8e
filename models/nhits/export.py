"""Turn a fitted neuralforecast ``NHITS`` into the plain directory the numpy forward pass reads.

The directory holds ``weights.npz`` (every linear layer, float32) and ``config.json`` (every
number the forward pass needs: input size, horizon, scaler, pooling size and knot count per
block, layer order, interpolation mode, version, plus whatever the trainer adds: data range,
validation metrics, calibration). No pickle, so loading it runs no code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from models.nhits.inference import CONFIG_FILE, FORMAT, WEIGHTS_FILE


def export_nhits(nf: Any, directory: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write the first model of a fitted ``NeuralForecast`` (an ``NHITS``) to ``directory``.

    Refuses, with the reason, any setting the numpy forward pass does not reproduce rather than
    exporting something that would silently predict differently.
    """
    import torch

    model = nf.models[0]
    _check_supported(model)
    weights: dict[str, np.ndarray] = {}
    blocks = []
    for i, block in enumerate(model.blocks):
        layers = []
        for j, layer in enumerate(block.layers):
            if isinstance(layer, torch.nn.Linear):
                layers.append("linear")
                weights[f"block{i}.layer{j}.weight"] = layer.weight.detach().cpu().numpy()
                weights[f"block{i}.layer{j}.bias"] = layer.bias.detach().cpu().numpy()
            elif isinstance(layer, torch.nn.ReLU):
                layers.append("relu")
            elif isinstance(layer, torch.nn.Dropout):  # dropout_prob_theta > 0
                layers.append("dropout")
            else:  # another activation
                raise ValueError(f"block {i} layer {j}: {type(layer).__name__} is not supported")
        n_theta = block.layers[-1].out_features
        blocks.append(
            {
                "pool_size": int(block.pooling_layer.kernel_size),
                "n_knots": n_theta - model.input_size,
                "layers": layers,
            }
        )
    config = {
        "format": FORMAT,
        "input_size": int(model.input_size),
        "horizon": int(model.h),
        "scaler": {"type": model.scaler.scaler_type, "eps": float(model.scaler.eps)},
        "interpolation_mode": model.blocks[0].basis.interpolation_mode,
        "blocks": blocks,
    }
    config["version"] = _version(config, weights)
    config.update(extra or {})
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / WEIGHTS_FILE, **weights)
    write_config(directory, config)
    return directory


def write_config(directory: Path, config: dict[str, Any]) -> None:
    """(Re)write ``config.json``; the trainer adds calibration and metrics after evaluating."""
    (Path(directory) / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def read_config(directory: Path) -> dict[str, Any]:
    return json.loads((Path(directory) / CONFIG_FILE).read_text())


def _check_supported(model: Any) -> None:
    problems = []
    if type(model).__name__ != "NHITS":
        problems.append(f"model is {type(model).__name__}, not NHITS")
    if model.loss.outputsize_multiplier != 1:
        problems.append("only point losses (one output per step) are supported")
    if model.futr_exog_size or model.hist_exog_size or model.stat_exog_size:
        problems.append("exogenous inputs are not supported")
    if model.scaler.scaler_type not in ("robust", "standard", "identity"):
        problems.append(f"scaler_type {model.scaler.scaler_type!r} is not supported")
    for i, block in enumerate(model.blocks):
        if type(block.pooling_layer).__name__ != "MaxPool1d":
            problems.append(f"block {i}: only MaxPool1d pooling is supported")
        if block.basis.interpolation_mode not in ("linear", "nearest"):
            problems.append(f"block {i}: interpolation {block.basis.interpolation_mode!r}")
    if problems:
        raise ValueError("cannot export this NHITS: " + "; ".join(problems))


def _version(config: dict[str, Any], weights: dict[str, np.ndarray]) -> str:
    """A content hash: the same weights and architecture always give the same version."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for name in sorted(weights):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(weights[name]).tobytes())
    return f"nhits-{config['input_size']}x{config['horizon']}-{digest.hexdigest()[:12]}"
