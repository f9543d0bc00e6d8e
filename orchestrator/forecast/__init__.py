"""Price forecasts: the model-service clients, the TFT -> N-HITS -> statistical chain, breakers."""
