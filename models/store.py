"""The BentoML model store, seen as folders: every model here is a plain directory of files.

Each model package saves a directory (weights as safetensors or .npz, config as JSON) and hands
it to :func:`save`, which copies it into a ``bentoml.models.create`` entry. Services and tools
read it back with :func:`path_of`. The store lives under ``BENTOML_HOME`` (``~/bentoml`` by
default); tests point that at a temporary folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def save(
    name: str, src: Path, *, metadata: dict[str, Any], labels: dict[str, str] | None = None
) -> str:
    """Copy the files of ``src`` into a new store entry ``name:<generated version>``; return the tag."""
    import bentoml

    with bentoml.models.create(name, metadata=metadata, labels=labels or {}) as model:
        for item in src.iterdir():
            target = Path(model.path) / item.name
            if item.is_dir():
                shutil.copytree(item, target)
            else:
                shutil.copy2(item, target)
    return str(model.tag)


def path_of(tag: str) -> Path:
    """The directory of a stored model (``name`` or ``name:version``; ``name`` means latest)."""
    import bentoml

    return Path(bentoml.models.get(tag).path)


def metadata_of(tag: str) -> dict[str, Any]:
    """The metadata a stored model was saved with (training range, validation metrics...)."""
    import bentoml

    return dict(bentoml.models.get(tag).info.metadata)


def exists(name: str) -> bool:
    """Whether the store holds any version of ``name``."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        bentoml.models.get(name)
    except NotFound:
        return False
    return True


def export(tag: str, dest: Path) -> Path:
    """Copy a stored model's files to a plain directory (for use outside BentoML)."""
    dest.mkdir(parents=True, exist_ok=True)
    src = path_of(tag)
    for item in src.iterdir():
        if item.name in {"model.yaml"}:
            continue
        target = dest / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
    return dest
