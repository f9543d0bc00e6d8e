"""The pre-market orchestrator: a thin HTTP client of the model services, in layers.

Each subpackage is one layer; a layer imports only the layers listed below it (checked by the
import-linter contract in ``pyproject.toml``). It never imports torch, transformers, bentoml or
``models``: the models are reached over HTTP.

    cli        one module per ``premarket`` command
    api        the results API (FastAPI) and its httpx client
    jobs       the analysis run, the schedule, the after-close upkeep
    backtest   the walk-forward backtest
    notify     outbound alert channels
    tracking   accuracy, paper trading, and the one metrics module both use
    signals    news sentiment scoring and the combined signal
    forecast   model clients, the fallback chain, breakers, the statistical tier
    storage    the database: engine, tables, run repository
    data       market data, news, the price file, the trading calendar
    documents  the typed documents that cross layers (the run result)
    common     clock, retries, secret redaction, headless charts
"""
