"""Today's risk: the expected size of the business date's session, before its open.

:mod:`~premarket.risk.estimators` measures a day's variance from its bar,
:mod:`~premarket.risk.features` and :mod:`~premarket.risk.har` turn a symbol's past bars into
the model's inputs, :mod:`~premarket.risk.model` fits and evaluates the QLIKE panel model.
Plain numpy: the backtest, the models layer and the orchestrator (no torch) share it.
"""
