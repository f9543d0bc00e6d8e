"""A pydantic model kept as a JSON file: the numpy models the orchestrator evaluates (the
decision model, the risk model) are saved and loaded the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

from pydantic import BaseModel


class JsonFile(BaseModel):
    """``load(path)`` and ``save(path)`` as indented JSON."""

    @classmethod
    def load(cls, path: Path) -> Self:
        return cls.model_validate_json(Path(path).read_text())

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.model_dump(), indent=2) + "\n")
        return path
