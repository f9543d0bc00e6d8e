"""Typed documents that cross layers (pydantic): the run result the job builds, the store keeps,
and paper trading, the API and the CLI read."""
