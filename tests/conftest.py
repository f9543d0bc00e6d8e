"""Shared test set-up: offline, and a private BentoML store so tests never touch a user's one."""

from __future__ import annotations

import os
import tempfile

# Set before anything imports bentoml or transformers.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="premarket-bentoml-")
os.environ["BENTOML_DO_NOT_TRACK"] = "True"
os.environ.setdefault("PREMARKET_CONFIG", os.path.join(tempfile.mkdtemp(), "absent.toml"))
