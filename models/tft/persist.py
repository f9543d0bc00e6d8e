"""Writing a trained TFT: plain files (safetensors weights, JSON config; never a pickle) and a
BentoML store entry ``tft:<version>`` whose metadata says what the model was trained on."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.tft.dataset import HORIZON, QUANTILES, build_network, dataset_spec, network_hparams
from models.tft.predictor import CONFIG_FILE, WEIGHTS_FILE

if TYPE_CHECKING:
    from models.tft.train import Fitted

STORE_NAME = "tft"


def config_json(fitted: Fitted, version: str) -> dict[str, Any]:
    return {
        "version": version,
        "quantiles": list(QUANTILES),
        "hparams": network_hparams(fitted.model),
        "dataset": dataset_spec(fitted.dataset),
    }


def save_model(fitted: Fitted, directory: Path) -> Path:
    """Write ``weights.safetensors`` and ``config.json`` (no pickle) into ``directory``."""
    from safetensors.torch import load_file, save_file
    from safetensors.torch import save_model as save_weights

    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_FILE
    save_weights(fitted.model, str(weights))
    # save_model names each dropped shared tensor in a header map that it writes in a random
    # order, so equal weights gave different bytes (and version digests). Written again
    # without that map: the loader finds the shared names from the network itself.
    save_file(load_file(weights), weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:10]
    version = f"tft-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}-{digest}"
    config = config_json(fitted, version)
    config["training"] = training_metadata(fitted)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=1, default=str))
    # check the files load back before anyone relies on them
    build_network(config["hparams"], config["quantiles"], config["dataset"]["target_normalizer"])
    return directory


def training_metadata(fitted: Fitted) -> dict[str, Any]:
    """What the store records about a model: data range, split, metrics, effort."""
    prices = fitted.prices
    config = fitted.config
    return {
        "data_file": Path(config.prices_csv).name,
        "symbols": sorted(prices["symbol"].unique().tolist()),
        "data_start": str(prices["date"].min()),
        "data_end": str(prices["date"].max()),
        "train_end": str(config.train_end),
        "valid_end": str(config.valid_end),
        "horizon_days": HORIZON,
        "quantiles": list(QUANTILES),
        "epochs": fitted.epochs,
        "train_seconds": round(fitted.seconds, 1),
        "seed": config.seed,
        "validation": fitted.metrics.get("validation", {}),
        "test": fitted.metrics.get("test", {}),
    }


def persist(fitted: Fitted) -> Path:
    """Save a fitted model: into the store as ``tft:<version>`` (returning the entry's folder)
    and/or into ``config.out`` (returned when not stored)."""
    from models import store

    config = fitted.config
    if not config.store and config.out is None:
        raise ValueError("out: needed when the model is not stored")
    with tempfile.TemporaryDirectory() as tmp:
        directory = save_model(fitted, Path(config.out) if config.out else Path(tmp) / "tft")
        if not config.store:
            return directory
        metadata = training_metadata(fitted)
        metadata["version"] = json.loads((directory / CONFIG_FILE).read_text())["version"]
        tag = store.save(STORE_NAME, directory, metadata=_flat_metadata(metadata))
    print(f"saved {tag}")
    return store.path_of(tag)


def _flat_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """BentoML metadata values must be simple; nested dicts of numbers and lists are."""
    return json.loads(json.dumps(metadata, default=str))
