"""News sentiment: a DistilBERT classifier for financial headlines that works offline.

- ``classifier.SentimentClassifier.load(dir_or_hub_id, quantized=..., device=...)``: any local
  sequence-classification checkpoint, labels normalised to positive/negative/neutral; a text's
  scores never depend on the rest of the batch (``quantize.py`` for the int8 variant);
- ``lexicon.LexiconClassifier``: the word-list fallback, labelled ``source="lexicon"``;
- ``default.load_default()``: the stored ``sentiment`` model, else the lexicon;
- ``python -m models.sentiment.train``: builds the stored model (``convert.py`` turns the
  pretrained all-MiniLM-L6-v2 BERT into a DistilBERT first; ``adapt.py`` adapts it to news by
  masked-language-model training on unlabelled headlines; ``news_check/`` holds the labelled
  news check set).
"""
