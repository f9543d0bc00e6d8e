"""From forecasts and headlines to a signal: news sentiment scoring, the combination rule, and
today's risk (the expected move) from the risk model."""
