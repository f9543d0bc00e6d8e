"""Inputs of a run: daily bars (Yahoo or the price file), headlines, the NYSE trading calendar."""
