"""The three model services by name: their ``bentoml serve`` targets.

One table for everything that starts them: the local launcher (``serving.process``) and the
Kubernetes manifests the orchestrator prints (``orchestrator.jobs.kubernetes``), which may not
import ``serving``.
"""

from __future__ import annotations

TARGETS: dict[str, str] = {
    "tft": "serving.tft_service:TFTService",
    "nhits": "serving.nhits_service:NHitsService",
    "sentiment": "serving.sentiment_service:SentimentService",
}
ENTRY = "tft"
"""The Bento's entry service (``bentofile.yaml``): its image serves it without arguments."""
