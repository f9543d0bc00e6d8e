"""The ModelScope envelope and the sentiment task's input and answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from premarket.protocol.common import MAX_TEXT_CHARS, MAX_TEXTS, ProtocolError


class ModelScopeRequest(BaseModel):
    """The ModelScope request envelope; ``input`` is required ("No input data!")."""

    model_config = ConfigDict(extra="ignore")

    input: Any = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class ModelScopeResponse(BaseModel):
    """The ModelScope response envelope."""

    Code: int = 200
    Success: bool = True
    Message: str = "success"
    RequestId: str
    Data: Any = None
    InferenceTimeMs: float | None = Field(
        default=None,
        description="Model time measured inside the service (ours; absent on ModelScope).",
    )


class SentimentInput(BaseModel):
    """Sentiment ``input``: ``{"text": "..."}``, ``{"texts": [...]}`` normalised to a list."""

    model_config = ConfigDict(extra="ignore")

    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS)
    single: bool = Field(default=True, description="Answer one object, not a list.")

    @field_validator("texts")
    @classmethod
    def _texts_valid(cls, texts: list[str]) -> list[str]:
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError(f"text {i} is empty")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # JSON's "\ud800": no tokenizer or answer can carry it
                raise ValueError(f"text {i} is not valid Unicode (a lone surrogate)") from None
            if len(text) > MAX_TEXT_CHARS:
                raise ValueError(f"text {i} has {len(text)} characters; at most {MAX_TEXT_CHARS}")
        return texts

    @classmethod
    def parse(cls, raw: Any) -> SentimentInput:
        """Accept a bare string, a list of strings, ``{"text": s}`` or ``{"text"/"texts": [..]}``."""
        if isinstance(raw, str):
            return cls(texts=[raw], single=True)
        if isinstance(raw, list):
            return cls(texts=raw, single=False)
        if isinstance(raw, dict):
            value = raw.get("text", raw.get("texts"))
            if value is None:
                raise ProtocolError("input.text", "is missing")
            return cls.parse(value)
        raise ProtocolError("input", "must be a string, a list of strings or {'text': ...}")


class SentimentScores(BaseModel):
    """One text's answer: every label with its probability, highest first (ModelScope style)."""

    labels: list[Literal["positive", "negative", "neutral"]]
    scores: list[float]
    source: str = Field(default="model", description="'model' or 'lexicon' (the fallback).")
    model: str | None = Field(
        default=None,
        description="The build's recipe identity (``sentiment-recipe:<hash>``); None when the "
        "answering service does not say (a hosted model, the lexicon).",
    )

    def score_of(self, label: str) -> float:
        return dict(zip(self.labels, self.scores, strict=True)).get(label, 0.0)
