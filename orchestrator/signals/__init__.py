"""From forecasts and headlines to a signal: news sentiment scoring and the combination rule."""
