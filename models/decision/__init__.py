"""The decision layer: a calibrated P(session up) from the price forecast and the news."""
