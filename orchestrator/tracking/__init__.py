"""What happened after the signal: accuracy of stored forecasts, the paper-trading book, and the
one metrics module (returns, Sharpe, drawdown, hit rate) they and the backtest share."""
