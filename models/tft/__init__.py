"""The primary forecaster: a Temporal Fusion Transformer (pytorch-forecasting) over daily OHLCV.

- :mod:`models.tft.features`: OHLCV rows and dates -> model inputs (shared by training and
  serving);
- :mod:`models.tft.dataset`: the ``TimeSeriesDataSet``/network definitions and their JSON form;
- :mod:`models.tft.train`: ``python -m models.tft.train`` -> BentoML store entry ``tft:<version>``;
- :mod:`models.tft.predictor`: :class:`~models.tft.predictor.TFTPredictor`, batched inference;
- :mod:`models.tft.evaluate`: next-close metrics of a predictor over a period.
"""
