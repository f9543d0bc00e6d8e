"""News sentiment: a DistilBERT classifier for financial headlines that works offline.

- ``classifier.SentimentClassifier.load(dir_or_hub_id, quantized=..., device=...)``: any local
  sequence-classification checkpoint, labels normalised to positive/negative/neutral;
- ``lexicon.LexiconClassifier``: the word-list fallback, labelled ``source="lexicon"``;
- ``default.load_default()``: the stored ``sentiment`` model, else the lexicon;
- ``python -m models.sentiment.train``: builds the stored model (``convert.py`` turns the
  pretrained all-MiniLM-L6-v2 BERT into a DistilBERT first).
"""
